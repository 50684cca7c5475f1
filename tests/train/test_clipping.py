"""lstm_ref.train.clipping: the chapter 2 experiment, on short runs."""

import numpy as np
import pytest

from lstm_ref.data.adding import make_adding_batch
from lstm_ref.gradcheck import numeric_gradient, rel_error
from lstm_ref.train.clipping import (
    PARAM_NAMES,
    ClippingConfig,
    compare,
    init_params,
    loss_and_grads,
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


def test_large_recurrent_scale_explodes_without_clipping_and_not_with_it():
    # The setting of the book's figure, shortened: the unclipped loss leaves any sensible
    # range while the clipped run stays near the loss of predicting the mean.
    cfg = ClippingConfig(steps=300)
    runs = compare(cfg, modes=(None, "norm"))
    clipped = runs["norm"]["loss"]
    assert runs[None]["diverged"]
    assert not runs["norm"]["diverged"]
    assert np.all(np.isfinite(clipped))
    assert np.max(clipped[-20:]) < 1.0


def test_value_clipping_uses_char_rnn_threshold_by_default():
    runs = compare(ClippingConfig(T=12, hidden=4, batch_size=2, steps=3), modes=("value",))
    assert set(runs) == {"value"}
    assert runs["value"]["loss"].shape == (3,)


@pytest.mark.parametrize(
    "kwargs",
    [{"clip": "max"}, {"steps": 0}, {"lr": -1.0}, {"hidden": 2.5}, {"threshold": 0.0}],
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
