"""Building blocks shared by the chapters' check functions."""

import contextlib
import functools

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


def call_learner(fn, *args, name=None, locked=(), **kwargs):
    """Call the learner's ``fn`` and turn its failures into clear check messages."""
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
        raise CheckFailed(f"{name} raised PermissionError: {exc}") from None
    except NotImplementedError:
        raise CheckFailed(f"{name} is not implemented yet (it raises NotImplementedError)") from None
    except Exception as exc:  # report what the learner's code raised, without a deep traceback
        raise CheckFailed(f"{name} raised {type(exc).__name__}: {exc}") from None


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


def expect_grad(fn_name, out, names, grad, expected, rtol, atol, hint):
    """Item ``grad`` of the learner's tuple ``out`` (items ``names``): float64, and the
    shape and values of ``expected``."""
    grads = expect_tuple(fn_name, out, len(names), f"({', '.join(names)})")
    got = grads[names.index(grad)]
    expect_array(grad, got, expected.shape, dtype=np.float64)
    expect_close(grad, got, expected, rtol, atol, hint=hint)


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
