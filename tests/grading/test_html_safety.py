"""No active content in a page built from a student's notebook (issue 18, item 1).

A student's Markdown carries ``<script>``, ``onerror``, SVG-script, iframe and
``javascript:`` payloads; its code prints HTML. After a real ``grade`` run, the feedback
page (opened from disk) and formgrader's view of the submission (served by ``jupyter
server`` on 127.0.0.1, logged in with a token, as an instructor uses it) are opened in
headless Chromium: no payload runs, no file is written through the server's API, and the
feedback page typesets its maths with MathJax from its own folder, with every network
request refused.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from grading_helpers import REPO, all_solution_ids, fill, make_course, source_nb, submit

from lstm_ref.grading.pipeline import grade

pytestmark = pytest.mark.pipeline

CHAPTER, NAME = "ch01_rnn", "rnn_exercises"
MARK = "document.title='PWNED';document.documentElement.setAttribute('data-pwned','1');"
WRITE = ("fetch('/api/contents/pwned.txt',{method:'PUT',headers:{'X-XSRFToken':"
         "(document.cookie.match(/_xsrf=([^;]*)/)||[])[1],'Content-Type':'application/json'},"
         "body:JSON.stringify({type:'file',format:'text',content:'x'})});")
PAYLOADS = "\n\n".join([
    f"<script>{MARK}{WRITE}</script>",
    f'<img src="x" onerror="{MARK}{WRITE}">',
    f"<svg><script>{MARK}</script></svg>",
    f'<svg onload="{MARK}"><circle r="5"/></svg>',
    f'<iframe srcdoc="<script>parent.{MARK}</script>"></iframe>',
    f'<a id="js1" href="javascript:{MARK}">link one</a>',
    f"[link two](javascript:{MARK})",
    f"[link three](&#106;avascript:{MARK})",
    f'<details open ontoggle="{MARK}"><summary>s</summary></details>',
    f'<math><mtext><table><mglyph><style><img src=x onerror="{MARK}">',
])
MATHS = r"Maths that must render offline: $\alpha_t = \sigma(W x_t)$ and $$h_t = \tanh(c_t)$$"
PRINTS = f"print('<script>{MARK}</script><img src=x onerror=\"{MARK}\">')"


@pytest.fixture(scope="module")
def course(tmp_path_factory, released):
    root = make_course(tmp_path_factory.mktemp("course-html"))
    src, rel = source_nb(CHAPTER, NAME), released[(CHAPTER, NAME)]
    nb = fill(rel, src, set(all_solution_ids(src)))
    for i, cell in enumerate(nb["cells"]):  # the written answer carries the payloads too
        if cell["metadata"].get("nbgrader", {}).get("solution") and cell["cell_type"] == "markdown":
            cell["source"] = PAYLOADS
    nb["cells"].insert(2, {"cell_type": "markdown", "metadata": {}, "source": PAYLOADS})
    nb["cells"].insert(2, {"cell_type": "markdown", "metadata": {}, "source": MATHS})
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": PRINTS})
    submit(root, "mallory", CHAPTER, NAME, nb)
    run = grade(CHAPTER, root=root, echo=lambda *a: None, workers=1)
    g = {x.student: x for x in run.grades}["mallory"]
    assert g.status == "graded", g.reason
    return root


def _assert_clean(page):
    assert page.title() != "PWNED"
    assert page.evaluate("document.documentElement.getAttribute('data-pwned')") is None
    for frame in page.frames:
        assert frame.evaluate("document.documentElement.getAttribute('data-pwned')") is None


def test_intake_removed_the_active_content(course):
    nb = json.loads((course / "autograded" / "mallory" / CHAPTER / f"{NAME}.ipynb").read_text())
    from html.parser import HTMLParser

    from nbconvert.filters.markdown import markdown2html

    texts = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert MATHS in texts  # ordinary Markdown and maths are kept as written

    class Active(HTMLParser):
        found = []

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "iframe", "svg", "object", "embed", "style", "math"):
                self.found.append(tag)
            for k, v in attrs:
                if k.startswith("on") or "script:" in (v or "").replace(" ", "").lower():
                    self.found.append(f"{tag} {k}={v}")

    for text in texts:  # rendered as nbconvert renders it (code cells show as text)
        parser = Active()
        parser.feed(markdown2html(text))
        assert not parser.found, parser.found


def test_feedback_page_runs_no_payload_and_renders_maths_offline(course, browser):
    _check_feedback_page(course / "feedback" / "mallory" / CHAPTER / f"{NAME}.html", browser)


def _check_feedback_page(page_path, browser):
    html = page_path.read_text()
    assert "Content-Security-Policy" in html and "cdnjs" not in html
    assert "Test cell</a>" not in html and "rnn_step_forward: " in html  # named checks
    assert page_path.stat().st_size < 2_000_000
    ctx = browser.new_context()
    refused = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_path.as_uri())
    page.wait_for_selector("mjx-container", timeout=60_000)  # MathJax typeset offline
    assert page.locator("mjx-container").count() >= 2
    for link in page.locator("a[href^='javascript'], a#js1").all():
        link.click(timeout=2000)
    page.wait_for_timeout(500)
    _assert_clean(page)
    assert not refused, refused  # nothing was fetched from the network
    ctx.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def formgrader(course):
    from lstm_ref.grading.record import _gradebook

    with _gradebook(course) as gb:
        sub_id = gb.find_submission_notebook(NAME, CHAPTER, "mallory").id
    port, token = _free_port(), "t0k3n-for-the-test"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
               PYTHONPATH=f"{REPO}:{os.environ.get('PYTHONPATH', '')}",
               JUPYTER_CONFIG_DIR=str(course / ".jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(course / ".jupyter-runtime"))
    log = open(course / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
         "--ServerApp.jpserver_extensions={'nbgrader.server_extensions.formgrader': True}"]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            pytest.fail("jupyter server did not start: " + (course / "server.log").read_text()[-2000:])
        assert proc.poll() is None, (course / "server.log").read_text()[-2000:]
        yield base, token, sub_id
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_formgrader_view_runs_no_payload(course, formgrader, browser):
    base, token, sub_id = formgrader
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{base}/login?next=%2Fformgrader")
    page.fill("input[name=password]", token)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(f"{base}/formgrader/submissions/{sub_id}/?index=0")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)
    body = page.content()
    assert "mallory" in body or "rnn_exercises" in body or "Maths that must render" in body, body[:500]
    for frame in page.frames:
        assert "Maths that must render" in frame.content() or frame != page.main_frame \
            or "Maths that must render" in body
    for link in page.locator("a[href^='javascript']").all():
        link.click(timeout=2000)
    page.wait_for_timeout(500)
    _assert_clean(page)
    assert not (course / "pwned.txt").exists()
    # the session was really logged in: the same cookies may write through the API
    cookies = {c["name"]: c["value"] for c in ctx.cookies()}
    assert "_xsrf" in cookies
    ctx.close()


def test_plain_nbgrader_generate_feedback_writes_the_same_hardened_page(course, browser):
    """The course's nbgrader_config.py hardens what ``nbgrader generate_feedback`` writes
    (its post-convert hook), so the plain command is as safe as ``make grade``."""
    folder = course / "feedback" / "mallory" / CHAPTER
    shutil.rmtree(folder)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
               PYTHONPATH=f"{REPO}:{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", CHAPTER,
                           "--force"], cwd=course, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page_path = folder / f"{NAME}.html"
    assert (folder / "mathjax" / "tex-svg.js").is_file()
    assert page_path.read_text().count("Content-Security-Policy") == 1  # hardened once
    _check_feedback_page(page_path, browser)
