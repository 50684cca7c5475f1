"""lstm_ref.train.clipping: the chapter 2 experiment, on short runs."""

import numpy as np
import pytest

from lstm_ref.data.adding import make_adding_batch
from lstm_ref.gradcheck import numeric_gradient, rel_error
from lstm_ref.numpy import rnn_forward
from lstm_ref.train.clipping import (
    PARAM_NAMES,
    ClippingConfig,
    compare,
    first_jump,
    init_params,
    loss_and_grads,
    state_jacobian_norm,
    train,
)


def test_initial_recurrent_matrix_has_the_requested_spectral_norm():
    params = init_params(ClippingConfig(hidden=8, recurrent_scale=4.0))
    assert params["Wh"].shape == (8, 8)
    assert np.linalg.norm(params["Wh"], 2) == pytest.approx(4.0)


def test_gradients_match_finite_differences():
    cfg = ClippingConfig(T=12, hidden=5, batch_size=3, recurrent_scale=1.5)
    params = init_params(cfg)
    x, y = make_adding_batch(3, 12, np.random.default_rng(0), dtype=np.float64)
    _, grads = loss_and_grads(params, x, y)
    for name in PARAM_NAMES:
        def f(v, name=name):
            return np.array(loss_and_grads({**params, name: v}, x, y)[0])

        num = numeric_gradient(f, params[name].copy(), np.array(1.0))
        assert rel_error(grads[name], num) < 1e-6, name


def test_runs_share_weights_and_batches_and_norm_clipping_caps_the_update():
    cfg = ClippingConfig(T=15, hidden=8, batch_size=4, steps=5, lr=0.1, recurrent_scale=4.0)
    # (a large recurrent scale: the very first gradient is above the threshold 1)
    runs = compare(cfg, modes=(None, "norm"))
    # Same initial weights and first batch: the first loss and gradient norm agree.
    assert runs[None]["loss"][0] == runs["norm"]["loss"][0]
    assert runs[None]["grad_norm"][0] == runs["norm"]["grad_norm"][0]
    assert runs[None]["clipped"] == 0.0
    assert runs["norm"]["clipped_steps"][0]
    assert runs["norm"]["sigma_max"][0] == pytest.approx(4.0)


def test_large_recurrent_matrix_jumps_through_the_recurrence_and_clipping_prevents_it():
    # The book's setting, shortened to 12 steps: with sigma_max(Wh) = 3 the first update's
    # gradient lies mostly in Wh, the state Jacobian is large, and the update multiplies
    # sigma_max(Wh); with sigma_max(Wh) = 0.5 at the same learning rate nothing of the kind.
    base = ClippingConfig(lr=0.1, kind="orthogonal", steps=12)
    big = train(ClippingConfig(**{**base.__dict__, "recurrent_scale": 3.0}))
    assert first_jump(big) == 0
    assert big["wh_share"][0] > 0.5 and big["readout_share"][0] < 0.5
    assert big["jacobian"][0] > 1e3
    control = train(ClippingConfig(**{**base.__dict__, "recurrent_scale": 0.5}))
    assert first_jump(control) is None
    assert np.nanmax(control["jacobian"]) < 1e-3
    assert np.nanmax(control["grad_norm"]) < 5.0
    clipped = train(ClippingConfig(**{**base.__dict__, "recurrent_scale": 3.0, "clip": "norm"}))
    assert first_jump(clipped) is None
    assert clipped["clipped"] == 1.0
    # Same weights and first batch as the unclipped run: same first gradient norm.
    assert clipped["grad_norm"][0] == big["grad_norm"][0]


def test_state_jacobian_norm_matches_finite_differences():
    rng = np.random.default_rng(3)
    T, N, D, H = 7, 2, 3, 4
    x = rng.standard_normal((T, N, D))
    Wx, Wh, b = rng.standard_normal((D, H)), 0.8 * rng.standard_normal((H, H)), np.zeros(H)
    h0 = 0.3 * rng.standard_normal((N, H))
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    eps = 1e-6
    for k in (0, 3):
        # h_k is h0 for k = 0, else h[k - 1]; perturb it and run the remaining steps
        start = h0 if k == 0 else h[k - 1]
        J = np.zeros((N, H, H))
        for j in range(H):
            e = np.zeros(H)
            e[j] = eps
            up, _ = rnn_forward(x[k:], start + e, Wx, Wh, b)
            down, _ = rnn_forward(x[k:], start - e, Wx, Wh, b)
            J[:, :, j] = (up[-1] - down[-1]) / (2 * eps)
        expected = np.linalg.norm(J, ord=2, axis=(1, 2))
        np.testing.assert_allclose(state_jacobian_norm(h, Wh, k=k), expected, rtol=1e-6)
    with pytest.raises(ValueError):
        state_jacobian_norm(h, Wh, k=T)
    with pytest.raises(ValueError):
        state_jacobian_norm(h[0], Wh)


def test_first_jump():
    result = {"sigma_max": np.array([1.0, 1.5, 1.9, 2.5, 30.0])}
    assert first_jump(result) == 2  # the update of step 2 gave 2.5 > 2 * 1.0
    assert first_jump(result, factor=10.0) == 3
    assert first_jump({"sigma_max": np.ones(4)}) is None
    with pytest.raises(ValueError):
        first_jump(result, factor=1.0)


def test_value_clipping_uses_char_rnn_threshold_by_default():
    runs = compare(ClippingConfig(T=12, hidden=4, batch_size=2, steps=3), modes=("value",))
    assert set(runs) == {"value"}
    assert runs["value"]["loss"].shape == (3,)


@pytest.mark.parametrize(
    "kwargs",
    [{"clip": "max"}, {"steps": 0}, {"lr": -1.0}, {"hidden": 2.5}, {"threshold": 0.0},
     {"kind": "uniform"}, {"jacobian_examples": 0}],
)
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        ClippingConfig(**kwargs)


def test_train_records_nan_after_divergence():
    # A huge learning rate overflows quickly; what follows the break stays NaN.
    result = train(ClippingConfig(T=12, hidden=8, batch_size=4, steps=60, lr=1e6))
    assert result["diverged"]
    first_nan = int(np.argmax(np.isnan(result["loss"])))
    assert first_nan > 0
    assert np.all(np.isnan(result["loss"][first_nan:]))
