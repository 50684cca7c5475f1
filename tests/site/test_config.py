"""_config.yml and _toc.yml hold what the site depends on (no build needed)."""

import fnmatch
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def config():
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def test_root_build_publishes_only_the_toc():
    cfg = config()
    assert cfg["only_build_toc_files"] is True
    patterns = cfg["exclude_patterns"]
    for path in ["solutions/ch01_rnn/rnn_exercises.ipynb", ".venv/lib/x.md", "_build/html/a.md",
                 "release/ch01_rnn/a.ipynb", "submitted/s/ch01_rnn/a.ipynb",
                 "autograded/s/ch01_rnn/a.ipynb", "feedback/s/ch01_rnn/a.html",
                 ".pytest_cache/README.md"]:
        assert any(fnmatch.fnmatch(path, p) for p in patterns), f"{path} is not excluded"


def test_toc_is_in_book_and_not_in_solutions(toc):
    assert len(toc) == len(set(toc)), "a page is listed twice in _toc.yml"
    for f in toc:
        assert f.startswith("book/"), f"{f}: pages live under book/"


def test_execution_is_cached_with_a_timeout():
    execute = config()["execute"]
    assert execute["execute_notebooks"] == "cache"
    assert 0 < execute["timeout"] <= 600
    assert execute.get("allow_errors") is False


def test_offline_and_theme_settings():
    sphinx = config()["sphinx"]
    assert "sphinx-mathjax-offline" in sphinx["extra_extensions"]
    assert "lstm_ref.site.offline" in sphinx["extra_extensions"]
    for ext in ("sphinx_proof", "sphinx_exercise", "sphinx_togglebutton"):
        assert ext in sphinx["extra_extensions"]
    assert sphinx["config"]["html_context"]["default_mode"] == "light"
    assert sphinx["config"]["nb_ipywidgets_js"] == {}
    assert config()["launch_buttons"]["thebe"] is False


def test_buttons():
    cfg = config()
    assert cfg["html"]["use_download_button"] is True
    assert cfg["html"]["use_repository_button"] is True
    assert cfg["repository"]["url"].startswith("https://")
    launch = cfg["launch_buttons"]
    assert "binderhub_url" in launch and "jupyterhub_url" in launch


def test_offline_extension_drops_thebe():
    from lstm_ref.site.offline import _drop_thebe

    class JS:
        def __init__(self, filename, **attributes):
            self.filename, self.attributes = filename, attributes

    keep = [JS("doctools.js"), JS(None, body="var togglebuttonSelector = 'x';")]
    scripts = keep + [
        JS(None, body='const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js"'),
        JS("sphinx-thebe.js", **{"async": "async"}),
    ]
    context = {"script_files": scripts}
    _drop_thebe(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts and scripts == keep
