"""The README's table of recorded experiments is the one the records give."""

from lstm_ref.results.__main__ import README, TABLE_END, TABLE_START, table
from lstm_ref.results.registry import names


def test_the_readme_lists_every_experiment_with_its_recorded_time():
    text = README.read_text(encoding="utf-8")
    assert TABLE_START in text and TABLE_END in text, "README.md has lost its experiments table"
    current = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert current == table().strip(), (
        "README.md's experiments table is out of date; rewrite it with: "
        "python -m lstm_ref.results table --readme")
    for name in names():
        assert f"| `{name}` |" in current
