r"""Why gradients vanish: the Jacobians of a recurrent network, their bound, and clipping.

Chapter 2 writes the RNN as Pascanu, Mikolov & Bengio (2013) do, with the nonlinearity
applied to the previous state and the weight matrix on the left of a column vector:

.. math::
    h_t = W \varphi(h_{t-1}) + U x_t + b, \qquad
    \frac{\partial h_t}{\partial h_{t-1}} = W \operatorname{diag}(\varphi'(h_{t-1})),

with the Jacobian in numerator layout, ``J[i, j] = d h_t[i] / d h_{t-1}[j]``. A batch of
``N`` examples is stored in rows as in the rest of the course (``h_t (N, H)``), so in numpy
the step reads ``h_t = phi(h_{t-1}) @ W.T + x_t @ U.T + b``: chapter 1's right-multiplied
``Wh`` and ``Wx`` are ``W.T`` and ``U.T`` here, and chapter 1's pre-activation
``a_t = x_t Wx + h_{t-1} Wh + b`` is exactly this chapter's ``h_t`` with ``phi = tanh``.

The spectral norm bound that makes the products of these Jacobians vanish is
``||dh_t/dh_k||_2 <= (sigma_max(W) * gamma) ** (t - k)`` with ``gamma`` the bound on
``|phi'|``: 1 for tanh, 1/4 for the logistic sigmoid (:data:`GAMMA`).
"""

import numbers

import numpy as np

from .._validate import as_float_array, check_same_dtype, check_shape
from .activations import sigmoid

GAMMA = {"tanh": 1.0, "sigmoid": 0.25}
r"""``max |phi'|`` for each activation: :math:`\tanh' = 1 - \tanh^2 \le 1` and
:math:`\sigma' = \sigma(1 - \sigma) \le 1/4`, both attained at 0."""


def _check_activation(activation):
    if not isinstance(activation, str) or activation not in GAMMA:
        raise ValueError(
            f"activation must be one of {sorted(GAMMA)}, got {activation!r}"
        )


def activation_and_derivative(activation):
    r"""The pair ``(phi, phi')`` for ``activation`` in ``{"tanh", "sigmoid"}``.

    .. math::
        \tanh'(z) = 1 - \tanh^2 z, \qquad \sigma'(z) = \sigma(z)\,(1 - \sigma(z))

    Raises:
        ValueError: for any other name.
    """
    _check_activation(activation)
    if activation == "tanh":
        return np.tanh, lambda z: 1.0 - np.tanh(z) ** 2
    return sigmoid, _sigmoid_derivative


def _sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def _check_positive(name, value):
    """``value`` must be a real number (not a bool), finite and ``> 0``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def random_recurrent_matrix(H, sigma_max, rng, dtype=np.float64, kind="gaussian"):
    r"""A random ``(H, H)`` matrix rescaled so that its largest singular value is ``sigma_max``.

    ``kind="gaussian"`` rescales a matrix of independent standard normal entries: its
    singular values spread out and its spectral radius is about half of ``sigma_max`` for
    large ``H``. ``kind="orthogonal"`` rescales a random orthogonal matrix (the ``Q`` of a QR
    decomposition): every singular value, and every eigenvalue's modulus, is ``sigma_max``.

    Args:
        H: the hidden size, a positive int.
        sigma_max: the spectral norm :math:`\sigma_{\max}(W) = \|W\|_2` to give it, ``>= 0``.
        rng: a ``numpy.random.Generator``.
        dtype: float64 (the default) or float32.
        kind: ``"gaussian"`` (the default) or ``"orthogonal"``.

    Returns:
        ``W (H, H)``.
    """
    if not isinstance(H, numbers.Integral) or H < 1:
        raise ValueError(f"H must be a positive int, got {H!r}")
    if not isinstance(sigma_max, numbers.Real) or not np.isfinite(sigma_max) or sigma_max < 0:
        raise ValueError(f"sigma_max must be a finite number >= 0, got {sigma_max!r}")
    if kind not in ("gaussian", "orthogonal"):
        raise ValueError(f"kind must be 'gaussian' or 'orthogonal', got {kind!r}")
    W = rng.standard_normal((H, H))
    if kind == "orthogonal":
        Q, R = np.linalg.qr(W)
        W = Q * np.sign(np.diag(R))  # sign fix: Haar-distributed, sigma_max(Q) = 1
    W *= sigma_max / np.linalg.norm(W, ord=2)
    return W.astype(dtype)


def pascanu_rnn_states(x, h0, W, U, b, activation="tanh"):
    r"""Run the RNN of Pascanu et al. (2013) over a sequence and return every state.

    .. math::
        h_t = W \varphi(h_{t-1}) + U x_t + b, \quad t = 1, \dots, T

    In numpy (examples in rows): ``h[t] = phi(h[t-1]) @ W.T + x[t-1] @ U.T + b``.

    Args:
        x: inputs ``x_1 .. x_T``, ``(T, N, D)``.
        h0: initial state, ``(N, H)``.
        W: recurrent weights, ``(H, H)``, acting on the left of a column ``phi(h)``.
        U: input weights, ``(H, D)``.
        b: bias, ``(H,)``.
        activation: ``"tanh"`` or ``"sigmoid"``.

    Returns:
        ``h_seq (T + 1, N, H)``: the states ``h_0, h_1, .., h_T`` (``h_seq[0]`` is ``h0``),
        the layout :func:`jacobian_norms` and :func:`input_sensitivity` take.
    """
    phi, _ = activation_and_derivative(activation)
    check_shape("x", x, ("T", "N", "D"))
    T, N, D = x.shape
    check_shape("h0", h0, (N, "H"))
    H = h0.shape[1]
    check_shape("W", W, (H, H))
    check_shape("U", U, (H, D))
    check_shape("b", b, (H,))
    check_same_dtype(x=x, h0=h0, W=W, U=U, b=b)
    h = np.empty((T + 1, N, H), dtype=x.dtype)
    h[0] = h0
    a_in = (x.reshape(T * N, D) @ U.T).reshape(T, N, H) + b  # (T, N, H)
    for t in range(1, T + 1):
        h[t] = phi(h[t - 1]) @ W.T + a_in[t - 1]
    return h


def rnn_jacobian(h_prev, W, activation):
    r"""The one-step Jacobians :math:`\partial h_t / \partial h_{t-1}` of every example.

    For :math:`h_t = W \varphi(h_{t-1}) + U x_t + b` (numerator layout):

    .. math::
        J = \frac{\partial h_t}{\partial h_{t-1}} = W \operatorname{diag}(\varphi'(h_{t-1})),
        \qquad J_{n,i,j} = \frac{\partial h_{t}[n, i]}{\partial h_{t-1}[n, j]}
        = W_{ij}\, \varphi'(h_{t-1}[n, j])

    Args:
        h_prev: the previous states :math:`h_{t-1}`, ``(N, H)``.
        W: recurrent weights, ``(H, H)``.
        activation: ``"tanh"`` or ``"sigmoid"``.

    Returns:
        ``J (N, H, H)``, in the dtype of ``h_prev``.

    Raises:
        ValueError: for a wrong shape, mixed dtypes or an unknown activation.
    """
    _, dphi = activation_and_derivative(activation)
    check_shape("h_prev", h_prev, ("N", "H"))
    H = h_prev.shape[1]
    check_shape("W", W, (H, H))
    check_same_dtype(h_prev=h_prev, W=W)
    return _jacobian(h_prev, W, dphi)


def _jacobian(h_prev, W, dphi):
    """:func:`rnn_jacobian` without the checks: ``W diag(dphi(h_prev))`` per example."""
    return W[None, :, :] * dphi(h_prev)[:, None, :]  # (N, H, H): column j scaled


def _check_states(h_seq, W):
    check_shape("h_seq", h_seq, ("T+1", "N", "H"))
    if h_seq.shape[0] < 2:
        raise ValueError(
            "h_seq must hold the states h_0 .. h_T with T >= 1, i.e. shape (T+1, N, H) "
            f"with T+1 >= 2, got {tuple(h_seq.shape)}"
        )
    H = h_seq.shape[2]
    check_shape("W", W, (H, H))
    check_same_dtype(h_seq=h_seq, W=W)


def _backward_products(h_seq, W, activation):
    r"""Yield ``(k, P_k)`` with :math:`P_k = \partial h_T / \partial h_k`, ``(N, H, H)``,
    for ``k = T-1, T-2, .., 0``, built right to left as
    :math:`P_k = P_{k+1} J_{k+1}`, :math:`J_{k+1} = W \operatorname{diag}(\varphi'(h_k))`."""
    T = h_seq.shape[0] - 1
    N, H = h_seq.shape[1:]
    _, dphi = activation_and_derivative(activation)
    P = np.broadcast_to(np.eye(H, dtype=h_seq.dtype), (N, H, H))
    for k in range(T - 1, -1, -1):
        P = P @ _jacobian(h_seq[k], W, dphi)
        yield k, P


def jacobian_norms(h_seq, W, activation):
    r"""Spectral norms :math:`\|\partial h_T / \partial h_k\|_2` for ``k = 0 .. T-1``.

    .. math::
        \frac{\partial h_T}{\partial h_k}
        = \prod_{i=k+1}^{T} W \operatorname{diag}(\varphi'(h_{i-1}))
        = J_T J_{T-1} \cdots J_{k+1}

    Column ``k`` of the result is ``T - k`` steps back: column ``T-1`` is the one-step
    Jacobian :math:`J_T`, column 0 the product of all ``T`` of them. The last state
    ``h_seq[T]`` enters only through ``T``: each :math:`J_i` depends on :math:`h_{i-1}`.

    Args:
        h_seq: the states ``h_0 .. h_T``, ``(T + 1, N, H)`` (as :func:`pascanu_rnn_states`
            returns them), ``T >= 1``.
        W: recurrent weights, ``(H, H)``.
        activation: ``"tanh"`` or ``"sigmoid"``.

    Returns:
        ``norms (N, T)`` with ``norms[n, k]`` the largest singular value of
        :math:`\partial h_T / \partial h_k` for example ``n``.
    """
    _check_activation(activation)
    _check_states(h_seq, W)
    T, N = h_seq.shape[0] - 1, h_seq.shape[1]
    norms = np.empty((N, T), dtype=h_seq.dtype)
    for k, P in _backward_products(h_seq, W, activation):
        norms[:, k] = np.linalg.norm(P, ord=2, axis=(1, 2))
    return norms


def input_sensitivity(h_seq, W, U, activation):
    r"""How strongly the last state responds to each input: :math:`\|\partial h_T/\partial x_k\|_2`.

    Since :math:`\partial h_k / \partial x_k = U`,

    .. math::
        \frac{\partial h_T}{\partial x_k} = \frac{\partial h_T}{\partial h_k}\, U,
        \quad k = 1, \dots, T.

    Args:
        h_seq: the states ``h_0 .. h_T``, ``(T + 1, N, H)``.
        W: recurrent weights, ``(H, H)``.
        U: input weights, ``(H, D)``.
        activation: ``"tanh"`` or ``"sigmoid"``.

    Returns:
        ``s (N, T)`` with ``s[n, k-1]`` the spectral norm of :math:`\partial h_T/\partial x_k`
        (column ``T-1`` is :math:`\|U\|_2`, the input at the last step).
    """
    _check_activation(activation)
    _check_states(h_seq, W)
    T, N, H = h_seq.shape
    T -= 1
    check_shape("U", U, (H, "D"))
    check_same_dtype(h_seq=h_seq, U=U)
    s = np.empty((N, T), dtype=h_seq.dtype)
    s[:, T - 1] = np.linalg.norm(U, ord=2)
    for k, P in _backward_products(h_seq, W, activation):
        if k >= 1:
            s[:, k - 1] = np.linalg.norm(P @ U, ord=2, axis=(1, 2))
    return s


def norm_bound(W, gamma, steps):
    r"""The vanishing-gradient theorem's bound :math:`(\sigma_{\max}(W)\,\gamma)^{\text{steps}}`.

    If :math:`\|\operatorname{diag}\varphi'(\cdot)\|_2 \le \gamma`, then
    :math:`\|\partial h_t / \partial h_k\|_2 \le (\sigma_{\max}(W)\,\gamma)^{t-k}`.

    Args:
        W: recurrent weights, ``(H, H)``.
        gamma: the bound on :math:`|\varphi'|`, a number ``> 0`` (:data:`GAMMA`).
        steps: ``t - k``, a non-negative int or an integer array of them.

    Returns:
        A float64 number for an int ``steps``, else a float64 array of the shape of ``steps``.
    """
    W = check_shape("W", W, ("H", "H"))
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be square, shape (H, H), got {tuple(W.shape)}")
    _check_positive("gamma", gamma)
    s = np.asarray(steps)
    if s.dtype.kind not in "iu":
        raise ValueError(
            "steps must be a non-negative int or an array of them, got "
            f"{type(steps).__name__} of dtype {s.dtype}"
        )
    if np.any(s < 0):
        raise ValueError("steps must be >= 0 (it counts the steps t - k)")
    rate = np.linalg.norm(W.astype(np.float64), ord=2) * float(gamma)
    bound = rate ** s.astype(np.float64)
    return np.float64(bound) if s.ndim == 0 else bound


def _check_grads(grads):
    if not isinstance(grads, (list, tuple)):
        raise ValueError(f"grads must be a list of numpy arrays, got {type(grads).__name__}")
    for i, g in enumerate(grads):
        as_float_array(f"grads[{i}]", g)


def _global_norm(grads):
    r"""The global norm :math:`(\sum_i \|g_i\|_F^2)^{1/2}` of a list of arrays, summed in
    float64, as a Python float (NaN or infinity when an entry is)."""
    return float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in grads)))


def clip_grad_norm(grads, max_norm):
    r"""Rescale gradients so that their global norm is at most ``max_norm`` (Pascanu et al., 2013).

    .. math::
        \|g\| = \Big(\sum_i \|g_i\|_F^2\Big)^{1/2}, \qquad
        g_i \leftarrow \frac{\text{max\_norm}}{\|g\|}\, g_i \quad\text{if } \|g\| > \text{max\_norm}

    The direction of the whole gradient is kept; only its length is capped. The inputs are
    never modified: new arrays come back (copies when nothing is clipped).

    Args:
        grads: a list (or tuple) of float arrays of any shapes.
        max_norm: the threshold, a finite number ``> 0`` (Pascanu et al. use 1.0).

    Returns:
        ``(clipped, norm)``: a list of new arrays with the shapes and dtypes of ``grads``, and
        the global norm *before* clipping as a Python float.

    Raises:
        ValueError: for a non-positive ``max_norm``, ``grads`` that is not a list or tuple, a
            gradient that is not float32/float64, or a gradient whose norm is not finite
            (rescaling cannot repair NaN or infinity).
        TypeError: for an item of ``grads`` that is not a numpy array.
    """
    _check_grads(grads)
    _check_positive("max_norm", max_norm)
    norm = _global_norm(grads)
    if not np.isfinite(norm):
        raise ValueError("the gradient norm is not finite (NaN or infinity in grads)")
    if norm <= max_norm:
        return [g.copy() for g in grads], norm
    scale = max_norm / norm
    return [(g * scale).astype(g.dtype, copy=False) for g in grads], norm


def clip_grad_value(grads, clip_value):
    r"""Clamp every gradient entry to ``[-clip_value, clip_value]`` (char-rnn's ``grad_clip``, 5).

    .. math::
        g_{i} \leftarrow \min(\max(g_{i}, -c), c) \quad \text{element-wise}

    Unlike :func:`clip_grad_norm` this changes the direction of the gradient. The inputs are
    never modified.

    Args:
        grads: a list (or tuple) of float arrays.
        clip_value: ``c``, a finite number ``> 0``.

    Returns:
        A list of new arrays with the shapes and dtypes of ``grads``.
    """
    _check_grads(grads)
    _check_positive("clip_value", clip_value)
    return [np.clip(g, -clip_value, clip_value) for g in grads]
