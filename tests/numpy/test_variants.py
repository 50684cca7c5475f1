"""The LSTM family of Greff et al. (2017) in numpy: each variant against a plain torch
transcription of its equations (forward and autograd), finite differences for every
variant, bit-for-bit equality with lstm_forward, parameter bookkeeping and argument checks."""

import re

import numpy as np
import pytest
import torch
from numpy_helpers import _t, assert_grads_match

from lstm_ref.gradcheck import numeric_gradient, rel_error
from lstm_ref.numpy import (
    VARIANTS,
    count_variant_params,
    init_variant_params,
    lstm_backward,
    lstm_forward,
    variant_lstm_backward,
    variant_lstm_forward,
    variant_lstm_step_forward,
    variant_param_shapes,
)


def _inputs(rng, T, N, D, H, variant, dtype=np.float64, scale=0.5):
    params = init_variant_params(D, H, variant, rng=rng, dtype=dtype)
    for k in params:  # larger than the default init so every term matters
        params[k] = (scale * rng.standard_normal(params[k].shape)).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    c0 = rng.standard_normal((N, H)).astype(dtype)
    return x, h0, c0, params


def _torch_variant(x, h0, c0, P, variant):
    """The equations of the module docstring, written out step by step in torch."""
    H = h0.shape[1]
    removed = {"NIG": "i", "NFG": "f", "NOG": "o", "CIFG": "f"}.get(variant, "")
    blocks = [k for k in "ifgo" if k != removed]
    sig = [k for k in "ifo" if k != removed]
    W = {k: (P["Wx"][:, j * H : (j + 1) * H], P["Wh"][:, j * H : (j + 1) * H],
             P["b"][j * H : (j + 1) * H]) for j, k in enumerate(blocks)}
    peep = {k: P["p"][j] for j, k in enumerate(sig)} if "p" in P else {}
    h, c = h0, c0
    prev = torch.zeros(h0.shape[0], 3 * H, dtype=h0.dtype)  # FGR: [i, f, o] at t-1
    hs, cs = [], []
    for t in range(x.shape[0]):
        def pre(k, cell):
            a = x[t] @ W[k][0] + h @ W[k][1] + W[k][2]
            if k in peep:
                a = a + peep[k] * cell
            if variant == "FGR":
                j = "ifo".index(k)
                a = a + prev @ P["Wg"][:, j * H : (j + 1) * H]
            return a

        one = torch.ones_like(c)
        i = torch.sigmoid(pre("i", c)) if "i" in blocks else one
        if variant == "CIFG":
            f = 1 - i
        else:
            f = torch.sigmoid(pre("f", c)) if "f" in blocks else one
        a_g = x[t] @ W["g"][0] + h @ W["g"][1] + W["g"][2]
        g = a_g if variant == "NIAF" else torch.tanh(a_g)
        c_new = f * c + i * g
        o = torch.sigmoid(pre("o", c_new)) if "o" in blocks else one
        h = o * (c_new if variant == "NOAF" else torch.tanh(c_new))
        c = c_new
        prev = torch.cat([i, f, o], dim=1)
        hs.append(h)
        cs.append(c)
    return torch.stack(hs), torch.stack(cs)


SHAPES = [(1, 1, 2, 3), (4, 3, 3, 2), (3, 2, 5, 4)]  # (T, N, D, H): T=1, N=1, D≠H


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("T,N,D,H", SHAPES)
def test_forward_matches_the_equations(rng, variant, T, N, D, H):
    x, h0, c0, params = _inputs(rng, T, N, D, H, variant)
    h, cache = variant_lstm_forward(x, h0, c0, params, variant)
    assert h.shape == (T, N, H) and h.dtype == np.float64
    with torch.no_grad():
        h_ref, c_ref = _torch_variant(_t(x), _t(h0), _t(c0),
                                      {k: _t(v) for k, v in params.items()}, variant)
    assert np.max(np.abs(h - h_ref.numpy())) <= 1e-12
    assert np.max(np.abs(cache[6] - c_ref.numpy())) <= 1e-12  # cache[6]: every c_t


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_matches_autograd(rng, variant, dtype):
    T, N, D, H = 4, 3, 3, 5
    x, h0, c0, params = _inputs(rng, T, N, D, H, variant, dtype)
    dh = rng.standard_normal((T, N, H)).astype(dtype)
    dc_last = rng.standard_normal((N, H)).astype(dtype)
    h, cache = variant_lstm_forward(x, h0, c0, params, variant)
    dx, dh0, dc0, grads = variant_lstm_backward(dh, cache, dc_last)
    ts = {k: _t(v, True) for k, v in dict(x=x, h0=h0, c0=c0, **params).items()}
    P = {k: ts[k] for k in params}
    h_ref, c_ref = _torch_variant(ts["x"], ts["h0"], ts["c0"], P, variant)
    ((h_ref * _t(dh)).sum() + (c_ref[-1] * _t(dc_last)).sum()).backward()
    names = ["x", "h0", "c0"] + list(params)
    ours = [dx, dh0, dc0] + [grads[k] for k in params]
    assert list(grads) == list(params)
    assert_grads_match(names, ours, [ts[k].grad for k in names], dtype)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("T,N,D,H", [(1, 1, 2, 3), (3, 2, 3, 2)])
def test_backward_matches_finite_differences(rng, variant, T, N, D, H):
    x, h0, c0, params = _inputs(rng, T, N, D, H, variant)
    dh = rng.standard_normal((T, N, H))
    dc_last = rng.standard_normal((N, H))
    _, cache = variant_lstm_forward(x, h0, c0, params, variant)
    dx, dh0, dc0, grads = variant_lstm_backward(dh, cache, dc_last=dc_last)

    def f(_):
        h, cache = variant_lstm_forward(x, h0, c0, params, variant)
        return np.concatenate([h.ravel(), cache[6][-1].ravel()])

    df = np.concatenate([dh.ravel(), dc_last.ravel()])
    for name, arr, grad in [("x", x, dx), ("h0", h0, dh0), ("c0", c0, dc0)] + [
        (k, params[k], grads[k]) for k in params
    ]:
        num = numeric_gradient(f, arr, df)
        assert grad.shape == arr.shape, name
        assert rel_error(grad, num) <= 1e-7, f"{variant}: {name}"


# --- the family's relations ----------------------------------------------------------------


@pytest.mark.parametrize("T,N,D,H", [(1, 1, 2, 3), (7, 4, 3, 5), (5, 3, 6, 6)])
def test_vanilla_with_zero_peepholes_is_lstm_forward_bit_for_bit(rng, T, N, D, H):
    x, h0, c0, params = _inputs(rng, T, N, D, H, "vanilla")
    params["p"][:] = 0.0
    h, cache = variant_lstm_forward(x, h0, c0, params, "vanilla")
    h_ref, c_ref, ref_cache = lstm_forward(x, h0, c0, params["Wx"], params["Wh"], params["b"])
    assert np.array_equal(h, h_ref) and np.array_equal(cache[6], c_ref)
    np_params = {k: params[k] for k in ("Wx", "Wh", "b")}
    h_np, cache_np = variant_lstm_forward(x, h0, c0, np_params, "NP")  # the chapter 3 cell
    assert np.array_equal(h_np, h_ref) and np.array_equal(cache_np[6], c_ref)
    dh = rng.standard_normal((T, N, H))
    ref_grads = lstm_backward(dh, ref_cache)
    for grads in (variant_lstm_backward(dh, cache), variant_lstm_backward(dh, cache_np)):
        ours = grads[:3] + (grads[3]["Wx"], grads[3]["Wh"], grads[3]["b"])
        for a, b in zip(ours, ref_grads):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


@pytest.mark.parametrize("variant,gate", [("NIG", "i"), ("NFG", "f"), ("NOG", "o")])
def test_removed_gate_is_a_gate_saturated_at_one(rng, variant, gate):
    """NIG/NFG/NOG equal the vanilla LSTM whose gate has no weights and an infinite bias."""
    T, N, D, H = 4, 2, 3, 3
    x, h0, c0, params = _inputs(rng, T, N, D, H, variant)
    h, _ = variant_lstm_forward(x, h0, c0, params, variant)
    full = {"Wx": np.zeros((D, 4 * H)), "Wh": np.zeros((H, 4 * H)), "b": np.zeros(4 * H),
            "p": np.zeros((3, H))}
    kept = [k for k in "ifgo" if k != gate]
    for j, k in enumerate(kept):
        dst = slice("ifgo".index(k) * H, ("ifgo".index(k) + 1) * H)
        src = slice(j * H, (j + 1) * H)
        full["Wx"][:, dst] = params["Wx"][:, src]
        full["Wh"][:, dst] = params["Wh"][:, src]
        full["b"][dst] = params["b"][src]
    for j, k in enumerate(k for k in "ifo" if k != gate):
        full["p"]["ifo".index(k)] = params["p"][j]
    full["b"]["ifgo".index(gate) * H : ("ifgo".index(gate) + 1) * H] = np.inf
    h_full, _ = variant_lstm_forward(x, h0, c0, full, "vanilla")
    np.testing.assert_allclose(h, h_full, rtol=0, atol=1e-15)


def test_fgr_with_zero_gate_weights_is_vanilla(rng):
    x, h0, c0, params = _inputs(rng, 5, 2, 3, 4, "FGR")
    params["Wg"][:] = 0.0
    h, _ = variant_lstm_forward(x, h0, c0, params, "FGR")
    vanilla = {k: v for k, v in params.items() if k != "Wg"}
    h_ref, _ = variant_lstm_forward(x, h0, c0, vanilla, "vanilla")
    np.testing.assert_allclose(h, h_ref, rtol=0, atol=1e-15)


def test_nfg_carousel_keeps_the_cell_gradient():
    """Without forget gate, peepholes and recurrent weights (so the cell feeds nothing back),
    the cell path is the identity: dc0 = dc_last (the 1997 constant error carousel), where
    the vanilla cell multiplies it by the forget gates."""
    rng = np.random.default_rng(3)
    x, h0, c0, params = _inputs(rng, 6, 2, 3, 4, "NFG")
    params["p"][:] = 0.0
    params["Wh"][:] = 0.0
    h, cache = variant_lstm_forward(x, h0, c0, params, "NFG")
    dc_last = rng.standard_normal((2, 4))
    _, _, dc0, _ = variant_lstm_backward(np.zeros_like(h), cache, dc_last)
    np.testing.assert_array_equal(dc0, dc_last)
    _, _, _, vanilla = _inputs(rng, 6, 2, 3, 4, "vanilla")
    vanilla["p"][:] = 0.0
    vanilla["Wh"][:] = 0.0
    h, cache = variant_lstm_forward(x, h0, c0, vanilla, "vanilla")
    _, _, dc0, _ = variant_lstm_backward(np.zeros_like(h), cache, dc_last)
    f = cache[5][:, :, 4:8]  # the forget gates of every step
    np.testing.assert_allclose(dc0, dc_last * np.prod(f, axis=0), rtol=1e-13)


# --- parameters ----------------------------------------------------------------------------


EXPECTED_KEYS = {
    "vanilla": ["Wx", "Wh", "b", "p"], "NP": ["Wx", "Wh", "b"], "FGR": ["Wx", "Wh", "b", "p", "Wg"],
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_init_and_count(variant):
    D, H = 3, 5
    params = init_variant_params(D, H, variant, rng=0)
    assert list(params) == EXPECTED_KEYS.get(variant, ["Wx", "Wh", "b", "p"])
    K = 3 if variant in ("NIG", "NFG", "NOG", "CIFG") else 4
    assert params["Wx"].shape == (D, K * H) and params["Wh"].shape == (H, K * H)
    if "p" in params:
        assert params["p"].shape == (2 if K == 3 else 3, H)
    if variant == "FGR":
        assert params["Wg"].shape == (3 * H, 3 * H)
    assert count_variant_params(D, H, variant) == sum(v.size for v in params.values())
    assert {k: v.shape for k, v in params.items()} == variant_param_shapes(D, H, variant)
    k = 1 / np.sqrt(H)
    assert all(np.all(np.abs(v) <= k) for n, v in params.items() if n != "b")


def test_parameter_counts_by_formula():
    D, H = 10, 20
    lstm = 4 * H * (D + H + 1)
    assert count_variant_params(D, H, "NP") == lstm
    assert count_variant_params(D, H, "vanilla") == lstm + 3 * H
    assert count_variant_params(D, H, "NIAF") == count_variant_params(D, H, "NOAF") == lstm + 3 * H
    for v in ("NIG", "NFG", "NOG", "CIFG"):
        assert count_variant_params(D, H, v) == 3 * H * (D + H + 1) + 2 * H
    assert count_variant_params(D, H, "FGR") == lstm + 3 * H + 9 * H * H


def test_forget_bias():
    H = 4
    assert np.all(init_variant_params(2, H, "vanilla", rng=1)["b"][H : 2 * H] == 1.0)
    assert np.all(init_variant_params(2, H, "NIG", rng=1, forget_bias=2.0)["b"][:H] == 2.0)
    cifg = init_variant_params(2, H, "CIFG", rng=1)["b"]
    assert np.all(cifg[:H] == -1.0)  # f = 1 - sigmoid(-1) = sigmoid(1)
    b = init_variant_params(2, H, "NFG", rng=1)["b"]
    assert not np.any(b == 1.0)
    same = init_variant_params(2, H, "FGR", rng=np.random.default_rng(5))
    again = init_variant_params(2, H, "FGR", rng=np.random.default_rng(5))
    assert all(np.array_equal(same[k], again[k]) for k in same)
    assert init_variant_params(2, H, "NP", rng=1, dtype=np.float32)["Wx"].dtype == np.float32


# --- argument checks -----------------------------------------------------------------------


def _args(variant="vanilla", T=3, N=2, D=4, H=5, **change):
    params = init_variant_params(D, H, variant, rng=0)
    args = dict(x=np.zeros((T, N, D)), h0=np.zeros((N, H)), c0=np.zeros((N, H)), params=params,
                variant=variant)
    args.update(change)
    return args


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match=re.escape("variant must be one of ('vanilla'") + ".*got 'LSTM'"):
        variant_lstm_forward(**_args(variant="LSTM"))
    with pytest.raises(ValueError, match="variant 'NP' must have exactly the keys.*has \\['p'\\]"):
        variant_lstm_forward(**_args(params=init_variant_params(4, 5, "vanilla"), variant="NP"))
    with pytest.raises(ValueError, match="variant 'FGR'.*missing \\['Wg'\\]"):
        variant_lstm_forward(**_args(params=init_variant_params(4, 5, "vanilla"), variant="FGR"))
    with pytest.raises(ValueError, match=re.escape("params['Wx'] must have shape (4, 15), got (4, 20)")):
        variant_lstm_forward(**_args(params=init_variant_params(4, 5, "vanilla"), variant="CIFG"))
    bad = init_variant_params(4, 5, "vanilla")
    bad["p"] = np.zeros((2, 5))
    with pytest.raises(ValueError, match=re.escape("params['p'] must have shape (3, 5), got (2, 5)")):
        variant_lstm_forward(**_args(params=bad))
    with pytest.raises(ValueError, match=re.escape("h0 must have shape (2, 5), got (3, 5)")):
        variant_lstm_forward(**_args(h0=np.zeros((3, 5))))
    with pytest.raises(ValueError, match=re.escape("x must have shape (T, N, D), got (2, 4)")):
        variant_lstm_forward(**_args(x=np.zeros((2, 4))))
    with pytest.raises(ValueError, match=re.escape("params['Wx'] must have shape (3, 20), got (4, 20)")):
        variant_lstm_forward(**_args(x=np.zeros((3, 2, 3))))
    with pytest.raises(ValueError, match="same dtype.*params\\['b'\\]: float32"):
        bad = init_variant_params(4, 5, "vanilla")
        bad["b"] = bad["b"].astype(np.float32)
        variant_lstm_forward(**_args(params=bad))
    with pytest.raises(TypeError, match="params must be a dict of numpy arrays, got list"):
        variant_lstm_forward(**_args(params=[1, 2]))
    h, cache = variant_lstm_forward(**_args())
    with pytest.raises(ValueError, match=re.escape("dh must have shape (3, 2, 5), got (2, 5)")):
        variant_lstm_backward(h[0], cache)
    with pytest.raises(ValueError, match=re.escape("dc_last must have shape (2, 5), got (3, 2, 5)")):
        variant_lstm_backward(h, cache, dc_last=h)
    with pytest.raises(ValueError, match="H must be a positive int, got 0"):
        count_variant_params(3, 0, "NP")
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        init_variant_params(3, 2, "NP", rng="seed")


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "FGR"])
def test_step_forward_is_one_step_of_the_sequence(rng, variant):
    x, h0, c0, params = _inputs(rng, 3, 2, 3, 4, variant)
    h, cache = variant_lstm_forward(x, h0, c0, params, variant)
    h1, c1 = variant_lstm_step_forward(x[0], h0, c0, params, variant)
    np.testing.assert_array_equal(h1, h[0])
    np.testing.assert_array_equal(c1, cache[6][0])
    h2, c2 = variant_lstm_step_forward(x[1], h1, c1, params, variant)
    np.testing.assert_array_equal(h2, h[1])
    with torch.no_grad():
        h_ref, c_ref = _torch_variant(_t(x[:1]), _t(h0), _t(c0),
                                      {k: _t(v) for k, v in params.items()}, variant)
    assert np.max(np.abs(h1 - h_ref[0].numpy())) <= 1e-12


def test_step_forward_errors(rng):
    x, h0, c0, params = _inputs(rng, 1, 2, 3, 4, "FGR")
    with pytest.raises(ValueError, match="variant 'FGR' needs the previous step's gates"):
        variant_lstm_step_forward(x[0], h0, c0, params, "FGR")
    with pytest.raises(ValueError, match=re.escape("x must have shape (N, D), got (1, 2, 3)")):
        variant_lstm_step_forward(x, h0, c0, params, "vanilla")
