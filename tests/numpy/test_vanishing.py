"""lstm_ref.numpy.vanishing: Jacobians against finite differences and torch autograd, the
norm bound, clipping against torch.nn.utils, and the argument checks."""

import numpy as np
import pytest
import torch

from lstm_ref.gradcheck import numeric_gradient, rel_error
from lstm_ref.numpy import (
    GAMMA,
    clip_grad_norm,
    clip_grad_value,
    input_sensitivity,
    jacobian_norms,
    norm_bound,
    pascanu_rnn_states,
    random_recurrent_matrix,
    rnn_forward,
    rnn_jacobian,
)

ACTIVATIONS = sorted(GAMMA)
TORCH_PHI = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _network(seed, N=3, H=4, D=2, T=6, rate=0.9, activation="tanh", h0_scale=1.0):
    """Random weights with sigma_max(W) * gamma = rate, inputs and the states h_0 .. h_T."""
    rng = np.random.default_rng(seed)
    W = random_recurrent_matrix(H, rate / GAMMA[activation], rng)
    U = rng.standard_normal((H, D))
    b = 0.1 * rng.standard_normal(H)
    x = rng.standard_normal((T, N, D))
    h0 = h0_scale * rng.standard_normal((N, H))
    return x, h0, W, U, b, pascanu_rnn_states(x, h0, W, U, b, activation)


def _torch_states(x, h_k, W, U, b, activation, k):
    """h_T from h_k in torch (one example, column vectors as in the chapter)."""
    phi = TORCH_PHI[activation]
    h = h_k
    for t in range(k + 1, x.shape[0] + 1):
        h = W @ phi(h) + U @ x[t - 1] + b
    return h


# ---------------------------------------------------------------- rnn_jacobian


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_rnn_jacobian_matches_finite_differences(activation):
    rng = np.random.default_rng(0)
    N, H = 3, 4
    h_prev = rng.standard_normal((N, H))
    W = rng.standard_normal((H, H))
    J = rnn_jacobian(h_prev, W, activation)
    assert J.shape == (N, H, H) and J.dtype == np.float64
    phi = np.tanh if activation == "tanh" else (lambda z: 1 / (1 + np.exp(-z)))

    def step(h):
        return phi(h) @ W.T  # the input and bias terms do not depend on h_prev

    for n in range(N):
        for i in range(H):
            df = np.zeros((N, H))
            df[n, i] = 1.0
            row = numeric_gradient(step, h_prev.copy(), df)  # d h_t[n, i] / d h_prev
            assert rel_error(row[n], J[n, i]) < 1e-8
            assert np.all(np.delete(row, n, axis=0) == 0)  # examples do not mix


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_rnn_jacobian_matches_torch_autograd(activation):
    rng = np.random.default_rng(1)
    N, H = 2, 5
    h_prev = 2 * rng.standard_normal((N, H))
    W = rng.standard_normal((H, H))
    J = rnn_jacobian(h_prev, W, activation)
    Wt = torch.from_numpy(W)
    for n in range(N):
        Jt = torch.autograd.functional.jacobian(
            lambda h: Wt @ TORCH_PHI[activation](h), torch.from_numpy(h_prev[n])
        )
        assert rel_error(J[n], Jt.numpy()) < 1e-12


def test_rnn_jacobian_keeps_float32():
    rng = np.random.default_rng(2)
    J = rnn_jacobian(rng.standard_normal((2, 3)).astype(np.float32),
                     rng.standard_normal((3, 3)).astype(np.float32), "sigmoid")
    assert J.dtype == np.float32


# -------------------------------------------------------------- jacobian_norms


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_jacobian_norms_match_explicit_products(activation):
    x, h0, W, U, b, h_seq = _network(3, activation=activation, rate=1.1)
    T, N = x.shape[0], x.shape[1]
    norms = jacobian_norms(h_seq, W, activation)
    assert norms.shape == (N, T)
    for n in range(N):
        for k in range(T):
            P = np.eye(W.shape[0])
            for i in range(T, k, -1):  # J_T J_{T-1} ... J_{k+1}
                P = P @ rnn_jacobian(h_seq[i - 1, n : n + 1], W, activation)[0]
            assert rel_error(norms[n, k], np.linalg.svd(P, compute_uv=False)[0]) < 1e-10


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_jacobian_norms_match_torch_autograd_through_the_recurrence(activation):
    x, h0, W, U, b, h_seq = _network(4, N=2, T=5, activation=activation, rate=0.9)
    norms = jacobian_norms(h_seq, W, activation)
    xt, Wt, Ut, bt = (torch.from_numpy(a) for a in (x, W, U, b))
    for n in range(2):
        for k in (0, 2, 4):
            Jt = torch.autograd.functional.jacobian(
                lambda h: _torch_states(xt[:, n], h, Wt, Ut, bt, activation, k),
                torch.from_numpy(h_seq[k, n]),
            )
            assert rel_error(norms[n, k], torch.linalg.matrix_norm(Jt, ord=2).item()) < 1e-10


def test_last_column_is_the_one_step_jacobian():
    x, h0, W, U, b, h_seq = _network(5, T=4)
    J = rnn_jacobian(h_seq[-2], W, "tanh")
    np.testing.assert_allclose(
        jacobian_norms(h_seq, W, "tanh")[:, -1], np.linalg.norm(J, ord=2, axis=(1, 2))
    )


def test_hidden_size_one_is_a_product_of_scalars():
    x, h0, W, U, b, h_seq = _network(6, N=2, H=1, T=7)
    dphi = 1 - np.tanh(h_seq[:-1, :, 0]) ** 2  # (T, N)
    expected = np.abs(W[0, 0]) ** np.arange(7, 0, -1) * np.cumprod(dphi[::-1], axis=0)[::-1].T
    np.testing.assert_allclose(jacobian_norms(h_seq, W, "tanh"), expected, rtol=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("rate", [0.3, 0.9, 0.99, 1.0, 1.01, 1.5, 3.0])
@pytest.mark.parametrize("H", [1, 8])
def test_the_bound_holds(activation, rate, H):
    for seed in range(3):
        x, h0, W, U, b, h_seq = _network(
            10 + seed, N=4, H=H, T=30, rate=rate, activation=activation, h0_scale=0.01
        )
        norms = jacobian_norms(h_seq, W, activation)
        bound = norm_bound(W, GAMMA[activation], 30 - np.arange(30))
        assert np.all(norms <= bound * (1 + 1e-10))


def test_the_bound_is_attained_by_a_scaled_identity_at_zero():
    # h_0 = 0 and no input: tanh'(0) = 1 at every step, so J = W = 0.8 I exactly.
    H, T = 3, 5
    W = 0.8 * np.eye(H)
    h_seq = pascanu_rnn_states(np.zeros((T, 1, 1)), np.zeros((1, H)), W, np.zeros((H, 1)),
                               np.zeros(H), "tanh")
    np.testing.assert_allclose(jacobian_norms(h_seq, W, "tanh")[0],
                               norm_bound(W, 1.0, T - np.arange(T)), rtol=1e-12)


# ---------------------------------------------------------- input_sensitivity


def test_input_sensitivity_matches_torch_autograd():
    x, h0, W, U, b, h_seq = _network(7, N=2, T=5, D=3, activation="sigmoid", rate=0.8)
    s = input_sensitivity(h_seq, W, U, "sigmoid")
    assert s.shape == (2, 5)
    Wt, Ut, bt, h0t = (torch.from_numpy(a) for a in (W, U, b, h0))
    for n in range(2):
        J = torch.autograd.functional.jacobian(
            lambda xs: _torch_states(xs, h0t[n], Wt, Ut, bt, "sigmoid", 0),
            torch.from_numpy(x[:, n]),
        )  # (H, T, D)
        for k in range(1, 6):
            expected = torch.linalg.matrix_norm(J[:, k - 1], ord=2).item()
            assert rel_error(s[n, k - 1], expected) < 1e-10


# ------------------------------------------------- relation to the chapter-1 RNN


def test_pascanu_states_are_chapter_one_pre_activations():
    """a_t = x_t Wx + h_{t-1} Wh + b of chapter 1 is h_t of the Pascanu form with
    W = Wh.T, U = Wx.T, phi = tanh (and h_0 = arctanh of chapter 1's initial state)."""
    rng = np.random.default_rng(8)
    T, N, D, H = 6, 3, 2, 4
    x = rng.standard_normal((T, N, D))
    Wx, Wh, b = rng.standard_normal((D, H)), rng.standard_normal((H, H)), rng.standard_normal(H)
    h0_ch1 = np.tanh(rng.standard_normal((N, H)))
    h_ch1, _ = rnn_forward(x, h0_ch1, Wx, Wh, b)
    h_prev = np.concatenate([h0_ch1[None], h_ch1[:-1]])
    a = x @ Wx + h_prev @ Wh + b  # (T, N, H)
    h_seq = pascanu_rnn_states(x, np.arctanh(h0_ch1), Wh.T, Wx.T, b, "tanh")
    np.testing.assert_allclose(h_seq[1:], a, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------- norm_bound


def test_norm_bound_values_and_types():
    W = np.diag([2.0, -3.0, 0.5])
    assert norm_bound(W, 0.25, 2) == pytest.approx(0.75**2)
    assert isinstance(norm_bound(W, 0.25, 2), float)
    out = norm_bound(W, 1.0, np.arange(4))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, 3.0 ** np.arange(4))
    assert norm_bound(W, 1.0, 0) == 1.0


# ------------------------------------------------------------------ clipping


def _grads(seed, scale):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(s) for s in [(4, 3), (3,), (2, 2, 2)]]


def _torch_params(grads):
    """float64 torch parameters of zeros whose ``.grad`` holds a copy of each of ``grads``."""
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g.copy())
    return params


@pytest.mark.parametrize("scale, max_norm", [(10.0, 1.0), (0.01, 1.0), (3.0, 0.5)])
def test_clip_grad_norm_matches_torch(scale, max_norm):
    grads = _grads(9, scale)
    before = [g.copy() for g in grads]
    clipped, norm = clip_grad_norm(grads, max_norm)
    params = _torch_params(grads)
    torch_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    assert isinstance(norm, float)
    assert norm == pytest.approx(torch_norm.item(), rel=1e-12)
    for c, p in zip(clipped, params):
        # torch divides by norm + 1e-6; Pascanu et al.'s rule (ours) divides by the norm.
        np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-5)
    for g, b in zip(grads, before):
        np.testing.assert_array_equal(g, b)  # inputs unmodified


def test_clip_grad_norm_caps_the_norm_and_keeps_the_direction():
    grads = _grads(10, 5.0)
    clipped, norm = clip_grad_norm(grads, 1.0)
    assert norm > 1.0
    new_norm = np.sqrt(sum(np.sum(c**2) for c in clipped))
    assert new_norm == pytest.approx(1.0, rel=1e-12)
    for c, g in zip(clipped, grads):
        np.testing.assert_allclose(c, g / norm, rtol=1e-12)


def test_clip_grad_norm_below_threshold_returns_equal_copies():
    grads = _grads(11, 0.01)
    clipped, norm = clip_grad_norm(grads, 1.0)
    assert norm < 1.0
    for c, g in zip(clipped, grads):
        np.testing.assert_array_equal(c, g)
        assert c is not g and not np.shares_memory(c, g)


def test_clip_grad_norm_keeps_dtypes():
    grads = [np.ones(3, dtype=np.float32) * 10, np.ones(2)]
    clipped, _ = clip_grad_norm(grads, 1.0)
    assert [c.dtype for c in clipped] == [np.float32, np.float64]


def test_clip_grad_value_matches_torch():
    grads = _grads(12, 8.0)
    before = [g.copy() for g in grads]
    clipped = clip_grad_value(grads, 5.0)
    params = _torch_params(grads)
    torch.nn.utils.clip_grad_value_(params, 5.0)
    for c, p, g, b in zip(clipped, params, grads, before):
        np.testing.assert_array_equal(c, p.grad.numpy())
        np.testing.assert_array_equal(g, b)


# ------------------------------------------------------------- argument checks


def test_random_recurrent_matrix_has_the_asked_spectral_norm():
    W = random_recurrent_matrix(7, 1.3, np.random.default_rng(0))
    assert W.shape == (7, 7)
    assert np.linalg.norm(W, ord=2) == pytest.approx(1.3, rel=1e-12)


def test_orthogonal_recurrent_matrix_has_equal_singular_values_and_eigenvalue_moduli():
    W = random_recurrent_matrix(6, 1.5, np.random.default_rng(1), kind="orthogonal")
    np.testing.assert_allclose(np.linalg.svd(W, compute_uv=False), 1.5, rtol=1e-12)
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(W)), 1.5, rtol=1e-10)
    np.testing.assert_allclose(W @ W.T, 2.25 * np.eye(6), atol=1e-12)


def test_gaussian_recurrent_matrix_has_a_smaller_spectral_radius():
    W = random_recurrent_matrix(64, 1.0, np.random.default_rng(2))
    assert np.max(np.abs(np.linalg.eigvals(W))) < 0.75


def test_clip_grad_norm_refuses_a_non_array_item():
    with pytest.raises(TypeError, match=r"grads\[1\]"):
        clip_grad_norm([np.ones(2), [1.0, 2.0]], 1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: rnn_jacobian(np.zeros((2, 3)), np.zeros((3, 3)), "relu"), "activation"),
        (lambda: rnn_jacobian(np.zeros((2, 3)), np.zeros((3, 4)), "tanh"), "W must have shape"),
        (lambda: rnn_jacobian(np.zeros(3), np.zeros((3, 3)), "tanh"), "h_prev must have shape"),
        (lambda: rnn_jacobian(np.zeros((2, 3)), np.zeros((3, 3), np.float32), "tanh"), "dtype"),
        (lambda: jacobian_norms(np.zeros((1, 2, 3)), np.zeros((3, 3)), "tanh"), "T >= 1"),
        (lambda: jacobian_norms(np.zeros((4, 2, 3)), np.zeros((2, 2)), "tanh"), "W must"),
        (lambda: jacobian_norms(np.zeros((4, 2, 3)), np.zeros((3, 3)), "tan"), "activation"),
        (lambda: input_sensitivity(np.zeros((4, 2, 3)), np.zeros((3, 3)), np.zeros((2, 1)),
                                   "tanh"), "U must"),
        (lambda: norm_bound(np.zeros((3, 3)), 0.0, 2), "gamma"),
        (lambda: norm_bound(np.zeros((3, 3)), 1.0, -1), "steps"),
        (lambda: norm_bound(np.zeros((3, 3)), 1.0, 1.5), "steps"),
        (lambda: norm_bound(np.zeros((3, 2)), 1.0, 1), "W must be square"),
        (lambda: clip_grad_norm([np.ones(2)], 0.0), "max_norm"),
        (lambda: clip_grad_norm([np.ones(2)], float("nan")), "max_norm"),
        (lambda: clip_grad_norm(np.ones(2), 1.0), "grads must be a list"),
        (lambda: clip_grad_norm([np.array([1.0, np.inf])], 1.0), "not finite"),
        (lambda: clip_grad_norm([np.array([1, 2])], 1.0), r"grads\[0\]"),
        (lambda: clip_grad_value([np.ones(2)], -5), "clip_value"),
        (lambda: random_recurrent_matrix(0, 1.0, np.random.default_rng(0)), "H must"),
        (lambda: random_recurrent_matrix(3, 1.0, np.random.default_rng(0), kind="eye"), "kind"),
    ],
)
def test_value_errors_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
