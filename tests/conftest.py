"""Shared pytest fixtures (subfolders add their own in their own conftest.py)."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded generator, so every test draws the same inputs on every run."""
    return np.random.default_rng(0)
