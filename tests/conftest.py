"""Shared pytest fixtures (subfolders add their own in their own conftest.py).

``browser`` is a headless Chromium from the system (``chromium`` on ``PATH``), for the site's
pages and the grading's feedback and formgrader pages. Without it the browser tests are
skipped, loudly (a banner at the end of the run), unless ``COURSE_REQUIRE_BROWSER=1`` (set by
``.ci/run``), in which case they fail.
"""

import os
import shutil

import numpy as np
import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

_BROWSER_SKIPPED = []  # reasons, reported by pytest_terminal_summary


@pytest.fixture
def rng():
    """A seeded generator, so every test draws the same inputs on every run."""
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Playwright (skipped or failed when there is none)."""
    executable = shutil.which("chromium")
    if executable is None:
        reason = "chromium is not on PATH: the browser tests did NOT run"
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (COURSE_REQUIRE_BROWSER=1)", pytrace=False)
        _BROWSER_SKIPPED.append(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def pytest_terminal_summary(terminalreporter):
    if _BROWSER_SKIPPED:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_BROWSER_SKIPPED[0], red=True, bold=True)
        terminalreporter.write_line(
            "Install Chromium (Debian/Ubuntu: apt-get install chromium) to check the site "
            "in a real browser; CI sets COURSE_REQUIRE_BROWSER=1 so it never skips them.",
            red=True,
        )
