"""lstm_ref.checks._common: the building blocks of every chapter's checks."""

import numpy as np
import pytest

from lstm_ref.checks._common import (
    CheckFailed,
    call_learner,
    check,
    expect_array,
    expect_close,
    expect_tuple,
    expect_unchanged,
    reference_locked,
)


def reference(a, b=2):
    return a + b


def test_reference_is_locked_inside_and_restored_after():
    alias = reference
    with reference_locked([reference]):
        with pytest.raises(PermissionError):
            alias(1)
    assert reference(1) == 3 and reference(1, b=5) == 6


def test_reference_is_restored_even_when_the_block_raises():
    with pytest.raises(RuntimeError):
        with reference_locked([reference]):
            raise RuntimeError
    assert reference(1) == 3


def test_call_learner_turns_errors_into_check_messages():
    with pytest.raises(CheckFailed, match="calls_ref: your function called the reference"):
        call_learner(lambda: reference(1), name="calls_ref", locked=[reference])
    with pytest.raises(CheckFailed, match="f raised ZeroDivisionError"):
        call_learner(lambda: 1 / 0, name="f")
    with pytest.raises(CheckFailed, match="should be a function"):
        call_learner(3, name="g")
    assert call_learner(lambda v: v * 2, 4) == 8


def test_expectations():
    with pytest.raises(CheckFailed, match="tuple .*got a list of length 1"):
        expect_tuple("f", [1], 2, "(a, b)")
    with pytest.raises(CheckFailed, match="shape \\(2,\\), expected \\(3,\\)"):
        expect_array("h", np.zeros(2), (3,))
    with pytest.raises(CheckFailed, match="NaN"):
        expect_array("h", np.array([np.nan]), (1,))
    with pytest.raises(CheckFailed, match="all zeros"):
        expect_close("h", np.zeros(3), np.ones(3))
    with pytest.raises(CheckFailed) as info:
        expect_close("h", np.full(3, 1.5), np.full(3, 1.25))
    assert "1.25" not in str(info.value) and "1.5" not in str(info.value)
    with pytest.raises(CheckFailed, match="modified its input x"):
        expect_unchanged("x", np.zeros(2), np.ones(2))
    expect_close("h", np.ones(3) * (1 + 1e-12), np.ones(3))


def test_check_decorator_prints_one_ok_line(capsys):
    @check
    def shape_is_right():
        return "the shape is right"

    @check
    def silent():
        return None

    shape_is_right()
    silent()
    out = capsys.readouterr()
    assert out.out == "OK: the shape is right\nOK: silent\n" and out.err == ""


@pytest.mark.parametrize("chapter", ["ch01", "ch02", "ch03"])
def test_reference_exercised_names_the_locked_functions(chapter):
    """Each ``module:qualname`` of REFERENCE_EXERCISED resolves to a reference function that
    the chapter's checks also lock in-process (visible mode)."""
    import functools
    import importlib

    checks = importlib.import_module(f"lstm_ref.checks.{chapter}")
    assert checks.REFERENCE_EXERCISED
    for name in checks.REFERENCE_EXERCISED:
        module, qualname = name.split(":")
        obj = functools.reduce(getattr, qualname.split("."), importlib.import_module(module))
        assert callable(obj) and obj in checks.LOCKED, name
