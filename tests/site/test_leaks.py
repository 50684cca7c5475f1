"""The built site holds no solution and no hidden test.

Secret text, from every nbgrader source notebook ``solutions/*/*.ipynb``:
- the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (code and Markdown cells),
- the lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``,
- the lines between ``=== BEGIN MARK SCHEME ===`` and ``=== END MARK SCHEME ===``,
- every line of a solution cell (nbgrader ``solution: true``) that has no such markers: the
  student version replaces the whole cell (a model answer to a written question, say).

None of it may appear anywhere in the built site (``_build/html``): rendered pages, the
notebooks and sources offered for download (``_sources``), the search index, any text file.
``_static/`` is not scanned: it holds the theme's and extensions' own assets, copied from
installed packages, never from the book's pages.

How a line is compared (the rule for trivial lines):
- All whitespace is removed, from the secret line and from the site's text, so reformatted
  or re-wrapped code still matches; HTML is reduced to its text (tags dropped, entities
  decoded), notebooks to the strings they hold. A trailing ``# comment`` is dropped from a
  code line (a comment-only line is kept as it is).
- A line is *trivial*, and not searched, when what is left has fewer than ``MIN_CHARS``
  characters (``else:``, ``return h, cache``, ``T, N, _ = x.shape``...), or when the same
  line also occurs outside every secret region of any source notebook (text the student
  version shows anyway, such as a docstring or a public check call; "any" and not "the
  same" because later notebooks restate what earlier ones asked for), or when it is listed
  in ``ALLOWED`` with the reason.
- Why ``MIN_CHARS = 18``: below it are one-line formulas such as ``dx = da @ Wx.T`` or
  ``db = da.sum(axis=0)``, which the notebooks' own instructions and the reading pages'
  equations legitimately spell out (searched from 10 characters on, the site matched
  only such lines). Every line of 18 characters or more that the chapters' solutions and
  hidden tests held matched nothing legitimate. Short lines are left to review.
``test_scanner_*`` below prove that the scanner finds a leak, escaped and highlighted or
inside a notebook, and ignores trivial lines.
"""

import html
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIN_CHARS = 18
REGIONS = [
    ("### BEGIN SOLUTION", "### END SOLUTION"),
    ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
    ("=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ==="),
]
# Secret lines that may appear in the site anyway: {key(line): "the reason"}. None so far.
ALLOWED = {}
TEXT_SUFFIXES = {".html", ".ipynb", ".js", ".json", ".txt", ".md", ".py", ".tex", ".xml"}

_WS = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")
_COMMENT = re.compile(r"""^(?P<code>[^#'"]*?)\s+#.*$""")  # a comment after code without quotes


def key(line, code=True):
    """The comparable form of a line: no trailing comment (code), no whitespace at all."""
    line = line.strip()
    if code and not line.startswith("#"):
        m = _COMMENT.match(line)
        if m:
            line = m.group("code")
    return _WS.sub("", line)


def cell_source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def split_secret(text):
    """(secret lines, public lines) of one cell's source."""
    secret, public, end = [], [], None
    for line in text.splitlines():
        stripped = line.strip()
        if end is None:
            for begin, stop in REGIONS:
                if stripped.startswith(begin):
                    end = stop
                    break
            else:
                public.append(line)
        elif stripped.startswith(end):
            end = None
        else:
            secret.append(line)
    return secret, public


def is_solution(cell):
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def secret_keys(notebooks):
    """{key: (notebook, line)} of the non-trivial secret lines of the source notebooks."""
    found, public = {}, set()
    for path in notebooks:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            code = cell.get("cell_type") == "code"
            text = cell_source(cell)
            if is_solution(cell) and REGIONS[0][0] not in text:
                # nbgrader replaces a solution cell without markers with the stub as a whole
                secret, shown = text.splitlines(), []
            else:
                secret, shown = split_secret(text)
            public.update(key(line, c) for line in shown for c in (True, False))
            for line in secret:
                found.setdefault(key(line, code), (Path(path).name, line.strip()))
    return {
        k: v for k, v in found.items()
        if len(k) >= MIN_CHARS and k not in public and k not in ALLOWED
    }


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)


def file_texts(path):
    """The texts of one built file in which a leak is searched, whitespace removed."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    texts = [raw]
    if path.suffix == ".html":
        texts.append(html.unescape(_TAG.sub("", raw)))
        texts.append(html.unescape(raw))
    elif path.suffix in {".ipynb", ".json"}:
        try:
            texts.append("\n".join(_strings(json.loads(raw))))
        except ValueError:
            pass
    return [_WS.sub("", t) for t in texts]


def scan_site(site, keys):
    """[(file relative to the site, notebook, secret line)] for every leak found."""
    leaks = []
    site = Path(site)
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site)
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES or rel.parts[0] == "_static":
            continue
        texts = file_texts(path)
        for k, (nb, line) in keys.items():
            if any(k in t for t in texts):
                leaks.append((rel.as_posix(), nb, line))
    return leaks


def source_notebooks():
    return sorted((ROOT / "solutions").glob("*/*.ipynb"))


# --- the scanner can fail ---------------------------------------------------------------

FAKE_NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {}, "source": [
            "def f(x, W):\n",
            "    out = None\n",
            "    ### BEGIN SOLUTION\n",
            "    hidden_state = np.tanh(x @ W)  # (N, H)\n",
            "    return out\n",
            "    ### END SOLUTION\n",
            "    return out\n",
        ]},
        {"cell_type": "markdown", "metadata": {"nbgrader": {"solution": True}}, "source": [
            "The model answer of a written question.\n",
        ]},
        {"cell_type": "code", "metadata": {}, "source": [
            "check(f)\n",
            "### BEGIN HIDDEN TESTS\n",
            "check(f, seed=987654, N=3)\n",
            "### END HIDDEN TESTS\n",
        ]},
    ],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
}


@pytest.fixture
def fake_keys(tmp_path):
    path = tmp_path / "fake.ipynb"
    path.write_text(json.dumps(FAKE_NOTEBOOK), encoding="utf-8")
    return secret_keys([path])


def test_scanner_keeps_only_distinctive_lines(fake_keys):
    # `return out` is short and public anyway; the two distinctive lines are kept.
    assert sorted(line for _, line in fake_keys.values()) == [
        "The model answer of a written question.",
        "check(f, seed=987654, N=3)",
        "hidden_state = np.tanh(x @ W)  # (N, H)",
    ]


def test_scanner_finds_leaks(tmp_path, fake_keys):
    site = tmp_path / "html"
    (site / "_sources").mkdir(parents=True)
    (site / "_static").mkdir()
    # Highlighted and escaped, without its comment: still found.
    (site / "page.html").write_text(
        '<pre><span class="n">hidden_state</span> <span class="o">=</span> '
        '<span class="n">np</span>.<span class="n">tanh</span>(x <span class="o">@</span> W)'
        "</pre>", encoding="utf-8")
    # Inside a notebook's JSON, re-indented.
    (site / "_sources" / "nb.ipynb").write_text(json.dumps(
        {"cells": [{"source": ["  check(f,  seed=987654, N=3)\n"]}]}), encoding="utf-8")
    (site / "clean.html").write_text("<p>return out</p><pre>check(f)</pre>", encoding="utf-8")
    (site / "_static" / "theme.js").write_text("hidden_state=np.tanh(x@W)", encoding="utf-8")
    leaks = scan_site(site, fake_keys)
    assert sorted((f, line) for f, _, line in leaks) == [
        ("_sources/nb.ipynb", "check(f, seed=987654, N=3)"),
        ("page.html", "hidden_state = np.tanh(x @ W)  # (N, H)"),
    ]


# --- the real site -------------------------------------------------------------------------

def test_solutions_exist():
    assert source_notebooks(), "no notebook under solutions/*/: nothing to check for leaks"
    assert secret_keys(source_notebooks()), "no secret line found in solutions/: markers changed?"


def test_site_leaks_no_solution_or_hidden_test(site):
    leaks = scan_site(site, secret_keys(source_notebooks()))
    listing = "\n".join(f"  {f}: {line!r} (from {nb})" for f, nb, line in leaks[:20])
    assert not leaks, f"{len(leaks)} secret lines appear in the built site:\n{listing}"


def test_site_has_no_nbgrader_markers(site):
    markers = [b for pair in REGIONS for b in pair]
    found = []
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES and "_static" not in path.parts:
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{path.relative_to(site)}: {m}" for m in markers if m in text]
    assert not found, "nbgrader markers in the built site:\n" + "\n".join(found[:20])


@pytest.mark.parametrize("source", source_notebooks(), ids=lambda p: p.parent.name)
def test_site_notebook_is_the_student_version(site, toc, source):
    """The notebook the site offers for download is the stub version of ``source``."""
    chapter, name = source.parent.name, source.name
    copies = [p for p in site.rglob(name) if chapter in p.parts]
    in_toc = f"book/chapters/{chapter}/{source.stem}" in toc
    if not copies:
        assert not in_toc, f"{chapter}/{name} is in _toc.yml but not in the built site"
        pytest.skip(f"{chapter}/{name} is not in _toc.yml: not published")
    nb = json.loads(source.read_text(encoding="utf-8"))
    n_code_solutions = sum(
        1 for c in nb["cells"]
        if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")
    )
    for copy in copies:
        student = json.loads(copy.read_text(encoding="utf-8"))
        stubs = sum(
            "raise NotImplementedError" in cell_source(c)
            for c in student["cells"] if c["cell_type"] == "code"
        )
        assert stubs >= n_code_solutions, (
            f"{copy.relative_to(site)}: {stubs} stubs raising NotImplementedError, "
            f"expected one in each of the {n_code_solutions} solution cells"
        )
