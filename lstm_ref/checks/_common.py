"""Building blocks shared by the chapters' check functions."""

import contextlib
import functools
import sys

import numpy as np


class CheckFailed(AssertionError):
    """A check found the learner's function wrong; the message says how."""


def rng_for(seed):
    """The one random generator every check draws its inputs from (its seed goes through
    the course secret, :func:`lstm_ref.checks._seeds.derive`)."""
    from ._seeds import derive

    return np.random.default_rng(derive(seed))


def draw_weights(rng, D, H, gates=1):
    """``Wx (D, gates*H)``, ``Wh (H, gates*H)``, ``b (gates*H,)`` of size ~1 from ``rng``."""
    Wx = rng.standard_normal((D, gates * H)) / np.sqrt(D)
    Wh = rng.standard_normal((H, gates * H)) / np.sqrt(H)
    b = rng.standard_normal(gates * H) * 0.5
    return Wx, Wh, b


# While a learner's function runs under a check, the reference functions the exercise asks
# for raise instead of computing, so a "solution" that just calls lstm_ref gets no credit.
# Swapping ``__code__`` (not the module attribute) also catches aliases imported earlier.


_REFUSAL = (
    "your function called the reference implementation in lstm_ref; the exercise asks you "
    "to write it yourself"
)

# In grading, the sandbox's copy of lstm_ref (lstm_ref.grading.refcopy) has no reference
# implementation at all: whatever computes an exercise raises a PermissionError whose
# message starts with these words.
GRADING_REFUSAL = "the reference implementation in lstm_ref is not available during grading"


def _refuse(*args, **kwargs):
    # Runs with the reference module's globals (its __code__ is swapped in), so it may only
    # use builtins: call_learner turns this PermissionError into a CheckFailed.
    raise PermissionError(
        "your function called the reference implementation in lstm_ref; the exercise asks you "
        "to write it yourself"
    )


@contextlib.contextmanager
def reference_locked(functions):
    """Make each function in ``functions`` raise the refusal (a ``PermissionError``) inside
    the block; :func:`call_learner` turns it into a ``CheckFailed``."""
    saved = []
    try:
        for fn in functions:
            saved.append((fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__))
            fn.__code__ = _refuse.__code__
            fn.__defaults__ = None
            fn.__kwdefaults__ = None
        yield
    finally:
        for fn, code, defaults, kwdefaults in saved:
            fn.__code__ = code
            fn.__defaults__ = defaults
            fn.__kwdefaults__ = kwdefaults


def call_learner(fn, *args, name=None, locked=(), context="", **kwargs):
    """Call the learner's ``fn`` and turn its failures into clear check messages.

    ``context`` is appended to the message when ``fn`` raises (for example the cache layout
    a backward pass receives from the check)."""
    name = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        raise CheckFailed(f"{name} should be a function, got {type(fn).__name__}")
    try:
        with reference_locked(locked):
            return fn(*args, **kwargs)
    except CheckFailed:
        raise
    except PermissionError as exc:
        if str(exc) == _REFUSAL:
            raise CheckFailed(f"{name}: {_REFUSAL}") from None
        if str(exc).startswith(GRADING_REFUSAL):
            raise CheckFailed(f"{name}: {exc}") from None
        raise CheckFailed(f"{name} raised PermissionError: {exc}") from None
    except NotImplementedError:
        raise CheckFailed(f"{name} is not implemented yet (it raises NotImplementedError)") from None
    except Exception as exc:  # report what the learner's code raised, without a deep traceback
        message = f"{name} raised {type(exc).__name__}: {exc}"
        if context:
            message += f" ({context})"
        raise CheckFailed(message) from None


def expect_tuple(name, result, length, what):
    """``result`` must be a tuple (or list) of ``length`` items, described by ``what``."""
    if not isinstance(result, (tuple, list)) or len(result) != length:
        got = f"a {type(result).__name__}"
        if isinstance(result, (tuple, list)):
            got += f" of length {len(result)}"
        raise CheckFailed(f"{name} should return a tuple {what}, got {got}")
    return result


def expect_array(name, got, shape, dtype=None):
    """Check type, shape and (optionally) dtype of an output before its values."""
    if not isinstance(got, np.ndarray):
        raise CheckFailed(f"{name} should be a numpy array, got {type(got).__name__}")
    if got.shape != tuple(shape):
        raise CheckFailed(f"{name} has shape {got.shape}, expected {tuple(shape)}")
    if dtype is not None and got.dtype != dtype:
        raise CheckFailed(f"{name} has dtype {got.dtype}, expected {np.dtype(dtype)}")
    if not np.all(np.isfinite(got)):
        raise CheckFailed(f"{name} contains NaN or infinite values")
    return got


def expect_not_constant(name, got):
    """A shape check's points need a function that computes: an output holding one number
    everywhere (zeros, a constant of the right shape) earns nothing."""
    arr = np.asarray(got)
    if arr.size > 1 and np.all(arr == arr.flat[0]):
        raise CheckFailed(f"{name} holds the same number everywhere: the shape is right, but "
                          "the points need an output computed from the inputs")


def expect_close(name, got, expected, rtol=1e-7, atol=1e-10, hint=""):
    """Values must match the reference; the message never shows the expected numbers."""
    expect_array(name, got, expected.shape, dtype=None)
    got64 = np.asarray(got, dtype=np.float64)
    exp64 = np.asarray(expected, dtype=np.float64)
    if np.allclose(got64, exp64, rtol=rtol, atol=atol):
        return
    err = np.abs(got64 - exp64)
    scale = np.maximum(np.abs(exp64), atol)
    message = f"{name} has wrong values (largest relative error {np.max(err / scale):.1e}"
    message += f", tolerance {rtol:.0e})"
    if np.allclose(got64, -exp64, rtol=rtol, atol=atol):
        message += "; it has the wrong sign"
    elif np.any(exp64) and np.allclose(got64, 0, atol=atol):
        message += "; it is all zeros"
    if hint:
        message += f". Hint: {hint}"
    raise CheckFailed(message)


def expect_unchanged(name, before, after):
    """An input must not be modified by the learner's function."""
    if not np.array_equal(before, after):
        raise CheckFailed(f"your function modified its input {name}; it must work on a copy")


def call_on_copies(fn, name, names, inputs, *rest, locked=(), returns=None):
    """Call the learner's ``fn`` on copies of ``inputs`` (then ``rest``); with
    ``returns=(length, what)`` the result must be such a tuple. The inputs must stay."""
    args = tuple(a.copy() for a in inputs)
    out = call_learner(fn, *args, *rest, name=name, locked=locked)
    if returns is not None:
        out = expect_tuple(name, out, *returns)
    for arg_name, before, after in zip(names, inputs, args):
        expect_unchanged(arg_name, before, after)
    return out


def shape_hint(got_shape, expected_shape, summed_axes=()):
    """A hint for an output of the wrong shape: a transposed matrix, or a gradient of a
    shared parameter that was not summed over the batch (or time) axes ``summed_axes``
    (names of the leading axes of the per-example gradient, such as ``("batch",)``)."""
    got_shape, expected_shape = tuple(got_shape), tuple(expected_shape)
    if len(expected_shape) == 2 and got_shape == expected_shape[::-1] and got_shape != expected_shape:
        return "it looks transposed: check which side each factor of the product goes"
    extra = len(got_shape) - len(expected_shape)
    if summed_axes and 0 < extra <= len(summed_axes) and got_shape[extra:] == expected_shape:
        return (f"it has an extra leading axis: a parameter shared by every "
                f"{' and every '.join(summed_axes)} gets one gradient, the sum of all their "
                "contributions")
    return ""


def expect_shape(name, got, shape, dtype=None, summed_axes=()):
    """:func:`expect_array` whose shape message adds :func:`shape_hint`."""
    if isinstance(got, np.ndarray) and got.shape != tuple(shape):
        hint = shape_hint(got.shape, shape, summed_axes)
        if hint:
            raise CheckFailed(f"{name} has shape {got.shape}, expected {tuple(shape)}: {hint}")
    return expect_array(name, got, shape, dtype=dtype)


def diagnose(got, expected, variants, rtol, atol):
    """The hint of the first typical wrong variant that ``got`` matches, or ``""``.

    ``variants`` is a sequence of ``(hint, value)`` pairs computed in the trusted process
    (the reference with one typical mistake built in); ``value`` may be ``None`` where the
    mistake is not defined for these shapes. A variant equal to ``expected`` tells nothing
    and is skipped, so a hint is given only when it tells the mistake apart."""
    for hint, value in variants:
        if value is None or np.shape(value) != np.shape(got):
            continue
        value = np.asarray(value, dtype=np.float64)
        if np.allclose(value, expected, rtol=rtol, atol=atol):
            continue
        if np.allclose(got, value, rtol=rtol, atol=atol):
            return hint
    return ""


def expect_values(name, got, expected, rtol, atol, hint="", variants=(), summed_axes=()):
    """Shape, then values of ``got``; when the values are off, the hint names the typical
    mistake of ``variants`` that ``got`` matches, else ``hint`` (which says where to look,
    never the formula)."""
    expect_shape(name, got, expected.shape, summed_axes=summed_axes)
    got64 = np.asarray(got, dtype=np.float64)
    if not np.allclose(got64, expected, rtol=rtol, atol=atol):
        hint = diagnose(got64, expected, variants, rtol, atol) or hint
    expect_close(name, got, expected, rtol, atol, hint=hint)


def expect_grad(fn_name, out, names, grad, expected, rtol, atol, hint, variants=(),
                summed_axes=()):
    """Item ``grad`` of the learner's tuple ``out`` (items ``names``): float64, and the
    shape and values of ``expected``; ``variants`` as for :func:`expect_values`."""
    grads = expect_tuple(fn_name, out, len(names), f"({', '.join(names)})")
    got = grads[names.index(grad)]
    expect_shape(grad, got, expected.shape, dtype=np.float64, summed_axes=summed_axes)
    expect_values(grad, got, expected, rtol, atol, hint=hint, variants=variants)


def passed(message):
    """Print the one line a passing visible check shows (stdout, never stderr)."""
    print(f"OK: {message}")


def check(fn):
    """Decorator for check functions: a passing check prints one ``OK`` line."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        result = fn(*args, **kwargs)
        passed(result if isinstance(result, str) else fn.__name__.replace("_", " "))
        return None

    return wrapper


# --- short failures in a notebook ---------------------------------------------------------


def _short_traceback(shell, etype, value, tb, tb_offset=None):
    """IPython custom-exception handler: a failing check shows its one-line message as the
    cell's error output (the cell still fails, so nbgrader still gives it no points).

    ``_showtraceback`` is the method IPython's own ``showtraceback`` ends with; ipykernel
    overrides it to send the ``error`` output that Jupyter shows and nbgrader scores."""
    stb = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def install_short_failures():
    """In an IPython kernel, show a :class:`CheckFailed` as one line instead of a traceback
    into ``lstm_ref.checks``. Does nothing outside IPython (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    shell.set_custom_exc((CheckFailed,), _short_traceback)
    return True


install_short_failures()
