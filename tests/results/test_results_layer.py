"""The results layer on a toy experiment: writing, reading, resuming, staleness, tampering."""

import json
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from lstm_ref.results import RecordError, StaleRecordError, load, run
from lstm_ref.results.record import code_hashes

TOY = textwrap.dedent('''
    """A toy experiment for the tests of the results layer."""
    from dataclasses import dataclass

    import numpy as np

    from lstm_ref.gradcheck import rel_error
    from lstm_ref.results import Experiment

    CALLS = []


    @dataclass(frozen=True)
    class Config:
        steps: int = 5
        rate: float = 0.5


    def run_seed(config, seed):
        CALLS.append(seed)
        if seed in FAIL_ON:
            raise KeyboardInterrupt
        rng = np.random.default_rng(seed)
        curve = np.cumsum(rng.normal(size=config.steps)) * config.rate  # a comment
        return {"final": float(curve[-1]), "curve": curve, "err": rel_error(curve, curve)}


    def summarise(config, per_seed):
        return {"mean_final": float(np.mean([r["final"] for r in per_seed.values()]))}


    FAIL_ON = set()
    EXPERIMENT = Experiment(name="toy", module=__name__, config=Config(), seeds=(0, 1, 2),
                            run_seed=run_seed, summarise=summarise,
                            slice_config=lambda c: replace(c, steps=2), slice_keys=("curve",))
''').replace("from dataclasses import dataclass", "from dataclasses import dataclass, replace")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "toy_experiment.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(src))
    import importlib
    import sys

    sys.modules.pop("toy_experiment", None)
    module = importlib.import_module("toy_experiment")
    yield module, tmp_path / "results", src / "toy_experiment.py"
    sys.modules.pop("toy_experiment", None)


def test_a_record_holds_every_seed_and_reads_back(toy):
    module, out, _ = toy
    record = run(module.EXPERIMENT, directory=out, progress=False)
    again = load("toy", directory=out, experiment=module.EXPERIMENT)
    assert again.seeds == [0, 1, 2]
    for seed in (0, 1, 2):
        expected = np.cumsum(np.random.default_rng(seed).normal(size=5)) * 0.5
        np.testing.assert_array_equal(again.seed(seed)["curve"], expected)
        assert again.seed(seed)["final"] == expected[-1]
    assert again.summary["mean_final"] == pytest.approx(np.mean([record.seed(s)["final"] for s in (0, 1, 2)]))
    meta = again.meta
    assert meta["config"] == {"steps": 5, "rate": 0.5}
    assert "lstm_ref.gradcheck" in meta["code"]["modules"] and "toy_experiment" in meta["code"]["modules"]
    assert meta["versions"]["numpy"] == np.__version__
    assert meta["wall_time_s"] >= 0 and set(meta["seed_wall_time_s"]) == {"0", "1", "2"}
    assert "make experiments NAME=toy" in again.provenance()
    assert not (out / "toy" / ".partial").exists()


def test_an_interrupted_run_resumes_at_the_seed_it_stopped(toy):
    module, out, _ = toy
    module.FAIL_ON.add(2)
    with pytest.raises(KeyboardInterrupt):
        run(module.EXPERIMENT, directory=out, progress=False)
    assert module.CALLS == [0, 1, 2]
    module.FAIL_ON.clear()
    run(module.EXPERIMENT, directory=out, progress=False)
    assert module.CALLS == [0, 1, 2, 2]  # seeds 0 and 1 were not run again
    assert load("toy", directory=out, experiment=module.EXPERIMENT).seeds == [0, 1, 2]


def test_a_one_character_code_change_makes_the_record_stale(toy):
    module, out, path = toy
    run(module.EXPERIMENT, directory=out, progress=False)
    # comments and docstrings are not code: the record stays current
    path.write_text(path.read_text().replace("# a comment", "# another comment")
                    .replace('"""A toy', '"""The toy'))
    load("toy", directory=out, experiment=module.EXPERIMENT)
    path.write_text(path.read_text().replace("* config.rate", "/ config.rate"))
    with pytest.raises(StaleRecordError, match=r"code changed in toy_experiment.*make experiments NAME=toy"):
        load("toy", directory=out, experiment=module.EXPERIMENT)


def test_a_change_in_an_imported_lstm_ref_module_is_seen():
    hashes = code_hashes("lstm_ref.results.registry")
    assert hashes == {}  # the recording machinery itself is never hashed
    hashes = code_hashes("lstm_ref.train.clipping")
    assert {"lstm_ref.numpy.rnn", "lstm_ref.data.adding", "lstm_ref.numpy.vanishing"} <= set(hashes)


def test_a_configuration_change_makes_the_record_stale(toy):
    module, out, _ = toy
    run(module.EXPERIMENT, directory=out, progress=False)
    changed = replace(module.EXPERIMENT, config=replace(module.EXPERIMENT.config, steps=6))
    with pytest.raises(StaleRecordError, match="configuration changed"):
        load("toy", directory=out, experiment=changed)


def test_a_number_typed_into_a_record_is_refused(toy):
    module, out, _ = toy
    run(module.EXPERIMENT, directory=out, progress=False)
    path = out / "toy" / "record.json"
    meta = json.loads(path.read_text())
    meta["per_seed"]["1"]["final"] += 0.001
    path.write_text(json.dumps(meta))
    with pytest.raises(RecordError, match="changed after it was written"):
        load("toy", directory=out, experiment=module.EXPERIMENT)


@pytest.mark.parametrize("damage, message", [
    (lambda m: m.pop("config"), "no field 'config'"),
    (lambda m: m.update(seeds="0"), "field 'seeds' should be list"),
    (lambda m: m["per_seed"].pop("2"), "per_seed does not hold exactly the seeds"),
])
def test_a_malformed_record_gets_a_clear_error(toy, damage, message):
    module, out, _ = toy
    run(module.EXPERIMENT, directory=out, progress=False)
    path = out / "toy" / "record.json"
    meta = json.loads(path.read_text())
    damage(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(RecordError, match=message):
        load("toy", directory=out, experiment=module.EXPERIMENT)


def test_a_missing_record_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(RecordError, match="make experiments NAME=nothing"):
        load("nothing", directory=tmp_path, check=False)


def test_the_command_line_refuses_an_unknown_name(capsys):
    from lstm_ref.results.__main__ import main

    assert main(["run", "no_such_experiment"]) == 2
    assert "there is no experiment 'no_such_experiment'" in capsys.readouterr().err
