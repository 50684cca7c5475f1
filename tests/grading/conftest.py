"""Fixtures of the pipeline tests."""

import pytest
from grading_helpers import REPO, all_notebooks


@pytest.fixture(scope="session")
def released(tmp_path_factory):
    """``{(chapter, name): released student notebook}``, generated once by nbgrader."""
    from lstm_ref.grading.release_to_book import generate_release

    out = {}
    for chapter in sorted({c for c, _ in all_notebooks()}):
        nbs = generate_release(REPO, chapter, tmp_path_factory.mktemp(f"release-{chapter}"))
        for name, nb in nbs.items():
            out[(chapter, name)] = nb
    return out


@pytest.fixture(scope="session", autouse=True)
def no_sandbox_outlives_the_tests():
    """Fork servers and spare sandboxes a test left in this process end with the session."""
    yield
    from lstm_ref.grading import remote

    remote.close_fork_servers()
