"""lstm_ref.checks.ch02: correct implementations pass every check, and each deliberately
wrong one fails the check it should, with a message that shows no expected number."""

import re

import numpy as np
import pytest

from lstm_ref.checks import ch02 as checks
from lstm_ref.checks._common import CheckFailed
from lstm_ref.numpy import vanishing as ref

# ---------------------------------------------------------------------------------------
# Learner-style implementations, written without lstm_ref (the reference is locked while
# a learner's function runs, so these must not call it).


def _dphi(z, activation):
    if activation == "tanh":
        return 1.0 - np.tanh(z) ** 2
    s = 1.0 / (1.0 + np.exp(-z))
    return s * (1.0 - s)


def good_jacobian(h_prev, W, activation):
    return W[None, :, :] * _dphi(h_prev, activation)[:, None, :]


def good_norms(h_seq, W, activation, jacobian=good_jacobian):
    T = h_seq.shape[0] - 1
    N, H = h_seq.shape[1:]
    out = np.zeros((N, T))
    P = np.stack([np.eye(H)] * N)
    for k in range(T - 1, -1, -1):
        P = P @ jacobian(h_seq[k], W, activation)
        out[:, k] = np.linalg.norm(P, 2, axis=(1, 2))
    return out


def good_bound(W, gamma, steps):
    return (np.linalg.norm(W, 2) * gamma) ** np.asarray(steps, dtype=np.float64)


def good_clip(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    scale = min(1.0, max_norm / norm) if norm > 0 else 1.0
    return [g * scale for g in grads], norm


def transposed_jacobian(h_prev, W, activation):
    return np.swapaxes(good_jacobian(h_prev, W, activation), 1, 2)


def sigmoid_not_derivative_jacobian(h_prev, W, activation):
    if activation == "tanh":
        return good_jacobian(h_prev, W, activation)
    return W[None] * (1.0 / (1.0 + np.exp(-h_prev)))[:, None, :]


def reversed_norms(h_seq, W, activation):
    return good_norms(h_seq, W, activation)[:, ::-1].copy()


def frobenius_norms(h_seq, W, activation):
    T = h_seq.shape[0] - 1
    N, H = h_seq.shape[1:]
    out = np.zeros((N, T))
    P = np.stack([np.eye(H)] * N)
    for k in range(T - 1, -1, -1):
        P = P @ good_jacobian(h_seq[k], W, activation)
        out[:, k] = np.linalg.norm(P, "fro", axis=(1, 2))
    return out


def bound_without_gamma(W, gamma, steps):
    return np.linalg.norm(W, 2) ** np.asarray(steps, dtype=np.float64)


def bound_frobenius(W, gamma, steps):
    return (np.linalg.norm(W) * gamma) ** np.asarray(steps, dtype=np.float64)


def clip_mutating(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / norm
    return list(grads), norm


def clip_per_array(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    out = []
    for g in grads:
        n = np.linalg.norm(g)
        out.append(g * (max_norm / n) if n > max_norm else g.copy())
    return out, norm


def clip_norm_after(grads, max_norm):
    new, norm = good_clip(grads, max_norm)
    return new, min(norm, max_norm)


def clip_same_arrays(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    if norm <= max_norm:
        return list(grads), norm
    return good_clip(grads, max_norm)


def clip_always(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
    return [g * (max_norm / norm) for g in grads], norm


def calls_reference(h_prev, W, activation):
    return ref.rnn_jacobian(h_prev, W, activation)


# ---------------------------------------------------------------------------------------

GOOD_CALLS = [
    ("jacobian_shape", lambda: checks.jacobian_shape(good_jacobian)),
    ("jacobian_values tanh", lambda: checks.jacobian_values(good_jacobian)),
    ("jacobian_values sigmoid",
     lambda: checks.jacobian_values(good_jacobian, seed=5, activation="sigmoid")),
    ("jacobian_values H=1",
     lambda: checks.jacobian_values(good_jacobian, seed=6, N=1, H=1, rate=1.0)),
    ("norms_shape", lambda: checks.norms_shape(good_norms)),
    ("norms_values", lambda: checks.norms_values(good_norms)),
    ("norms_values near 1",
     lambda: checks.norms_values(good_norms, seed=7, T=20, N=3, H=5, rate=1.01)),
    ("norms_values H=1", lambda: checks.norms_values(good_norms, seed=8, T=5, N=2, H=1)),
    ("norms_values sigmoid",
     lambda: checks.norms_values(good_norms, seed=9, activation="sigmoid", rate=1.5)),
    ("bound_values", lambda: checks.bound_values(good_bound)),
    ("bound_values tanh", lambda: checks.bound_values(good_bound, seed=3, gamma=1.0, H=1)),
    ("clip_values", lambda: checks.clip_values(good_clip)),
    ("clip_norm_before", lambda: checks.clip_norm_before(good_clip)),
    ("clip_below_threshold", lambda: checks.clip_below_threshold(good_clip)),
    ("clip_inputs_unchanged", lambda: checks.clip_inputs_unchanged(good_clip)),
]


@pytest.mark.parametrize("name,call", GOOD_CALLS, ids=[n for n, _ in GOOD_CALLS])
def test_correct_implementation_passes(name, call, capsys):
    call()
    out = capsys.readouterr()
    assert out.out.startswith("OK: ")
    assert out.err == ""


REFERENCE_CALLS = [
    lambda: checks.jacobian_values(ref.rnn_jacobian, activation="sigmoid"),
    lambda: checks.norms_values(ref.jacobian_norms),
    lambda: checks.bound_values(ref.norm_bound),
    lambda: checks.clip_values(ref.clip_grad_norm),
    lambda: checks.clip_norm_before(ref.clip_grad_norm),
    lambda: checks.clip_below_threshold(ref.clip_grad_norm),
    lambda: checks.clip_inputs_unchanged(ref.clip_grad_norm),
]


@pytest.mark.parametrize("call", REFERENCE_CALLS)
def test_reference_is_refused_while_locked(call):
    """Handing in the reference itself earns nothing (it is locked during the call)."""
    with pytest.raises(CheckFailed, match="reference implementation"):
        call()


def test_reference_is_unlocked_after_a_check():
    h_prev = np.ones((2, 3))
    W = np.eye(3)
    with pytest.raises(CheckFailed):
        checks.jacobian_values(calls_reference)
    assert ref.rnn_jacobian(h_prev, W, "tanh").shape == (2, 3, 3)


def _fails(call, *fragments):
    with pytest.raises(CheckFailed) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    # No expected value leaks: the only numbers are shapes, indices, tolerances, settings.
    assert not re.search(r"\d\.\d{3,}", message), message
    return message


def test_transposed_jacobian_fails_values_only():
    checks.jacobian_shape(transposed_jacobian)  # the shape is right
    _fails(lambda: checks.jacobian_values(transposed_jacobian), "transposed")


def test_sigmoid_instead_of_its_derivative_fails():
    checks.jacobian_values(sigmoid_not_derivative_jacobian)  # tanh is right
    _fails(
        lambda: checks.jacobian_values(sigmoid_not_derivative_jacobian, activation="sigmoid"),
        "uses sigmoid(h_prev) itself where its derivative belongs",
    )


def test_reversed_norms_fail_with_order_hint():
    checks.norms_shape(reversed_norms)
    _fails(lambda: checks.norms_values(reversed_norms), "reverse order")


def test_frobenius_norms_fail():
    _fails(lambda: checks.norms_values(frobenius_norms), "Frobenius norms")


def test_norms_with_transposed_jacobian_fail():
    def norms(h_seq, W, activation):
        return good_norms(h_seq, W, activation, jacobian=transposed_jacobian)

    _fails(lambda: checks.norms_values(norms), "or each one is transposed")


def test_bound_without_gamma_fails():
    _fails(lambda: checks.bound_values(bound_without_gamma), "gamma is missing")


def test_bound_with_frobenius_norm_fails():
    _fails(lambda: checks.bound_values(bound_frobenius), "the Frobenius norm")


def test_bound_must_accept_int_steps():
    def array_only(W, gamma, steps):
        return np.atleast_1d(good_bound(W, gamma, steps))

    _fails(lambda: checks.bound_values(array_only), "should return a float")


def test_mutating_clip_fails_inputs_check_only():
    _fails(lambda: checks.clip_inputs_unchanged(clip_mutating), "modified its input grads[0]")
    checks.clip_values(clip_mutating)  # its values are right


def test_clip_per_array_fails_values_with_hint():
    _fails(lambda: checks.clip_values(clip_per_array), "clipped on its own")
    checks.clip_norm_before(clip_per_array)


def test_clip_returning_norm_after_fails():
    _fails(lambda: checks.clip_norm_before(clip_norm_after), "before clipping, not after")


def test_clip_returning_the_same_arrays_fails_inputs_check():
    checks.clip_values(clip_same_arrays)
    _fails(
        lambda: checks.clip_inputs_unchanged(clip_same_arrays, max_norm=100.0),
        "shares memory",
    )


def test_clip_that_always_rescales_fails_below_threshold():
    checks.clip_values(clip_always)
    _fails(lambda: checks.clip_below_threshold(clip_always), "must not be changed")


def test_stub_fails_with_not_implemented():
    def stub(*args):
        raise NotImplementedError()

    _fails(lambda: checks.jacobian_shape(stub), "not implemented")
    _fails(lambda: checks.clip_values(stub), "not implemented")


def test_wrong_return_types_are_reported():
    _fails(lambda: checks.jacobian_shape(lambda h, W, a: h.tolist()), "numpy array")
    _fails(lambda: checks.clip_values(lambda g, m: g), "tuple")
    _fails(lambda: checks.clip_values(lambda g, m: (g[:1], 1.0)), "list of 3 arrays")


def test_unknown_activation_is_a_caller_error():
    with pytest.raises(ValueError):
        checks.jacobian_values(good_jacobian, activation="relu")


# --- more of the catalogue: each typical mistake gets the hint that names it ---------------


def _no_derivative(h_prev, W, activation):
    return np.broadcast_to(W[None], (h_prev.shape[0],) + W.shape).copy()


def _rows_scaled(h_prev, W, activation):
    return _dphi(h_prev, activation)[:, :, None] * W[None]


def _norms_left(h_seq, W, activation):
    T = h_seq.shape[0] - 1
    N, H = h_seq.shape[1:]
    out, P = np.zeros((N, T)), np.stack([np.eye(H)] * N)
    for k in range(T - 1, -1, -1):
        P = good_jacobian(h_seq[k], W, activation) @ P
        out[:, k] = np.linalg.norm(P, 2, axis=(1, 2))
    return out


def _bound_max_entry(W, gamma, steps):
    return (np.abs(W).max() * gamma) ** np.asarray(steps, dtype=np.float64)


@pytest.mark.parametrize("call, hint", [
    (lambda: checks.jacobian_values(_no_derivative), "the derivative of phi is missing"),
    (lambda: checks.jacobian_values(_rows_scaled), "scales the rows of W"),
    (lambda: checks.norms_values(_norms_left), "multiplied in the reverse order"),
    (lambda: checks.bound_values(_bound_max_entry), "its largest entry"),
], ids=["no derivative", "rows", "product order", "max entry"])
def test_catalogue_more_mistakes(call, hint):
    _fails(call, hint)
