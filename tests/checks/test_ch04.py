"""The chapter 4 checks: the notebook's solutions pass them; a catalogue of typical wrong
implementations fails the right checks with the hint that names the mistake (and no expected
number); a correct backward earns its points whatever the forward does; nothing goes to
stderr."""

from pathlib import Path

import numpy as np
import pytest
from checks_helpers import failing, notebook_solutions, outcomes, run_test_cells

from lstm_ref.checks import ch04 as checks
from lstm_ref.numpy import gru as ref_gru
from lstm_ref.numpy import variants as ref_variants

NOTEBOOK = (Path(__file__).resolve().parents[2] / "solutions" / "ch04_variants"
            / "variants_exercises.ipynb")
FUNCTIONS = ("gru_step_forward", "gru_step_backward", "gru_step_forward_reset_before",
             "peephole_lstm_step_forward")


_NS = notebook_solutions(NOTEBOOK, {"np": np})
SOL = {k: _NS[k] for k in FUNCTIONS}


def _all_checks(f, **kw):
    calls = {
        "fwd_shape": lambda: checks.gru_step_forward_shape(f["gru_step_forward"], **kw),
        "fwd_values": lambda: checks.gru_step_forward_values(f["gru_step_forward"], **kw),
        "fwd_cache": lambda: checks.gru_step_forward_cache(f["gru_step_forward"], **kw),
        "before": lambda: checks.gru_reset_before_values(f["gru_step_forward_reset_before"], **kw),
        "peep_h": lambda: checks.peephole_step_values(f["peephole_lstm_step_forward"], "h", **kw),
        "peep_c": lambda: checks.peephole_step_values(f["peephole_lstm_step_forward"], "c", **kw),
    }
    for g in checks.GRU_GRADS:
        calls[g] = lambda g=g: checks.gru_step_backward_grad(f["gru_step_backward"], g, **kw)
    return outcomes(calls)


def _with(**replaced):
    fns = dict(SOL)
    fns.update(replaced)
    return fns


def test_solutions_pass_every_check(capfd):
    results = _all_checks(SOL)
    assert failing(results) == set(), results
    out, err = capfd.readouterr()
    assert err == ""
    assert out.count("OK:") == len(results)


@pytest.mark.parametrize("shape", [dict(seed=91, N=1, D=3, H=1), dict(seed=92, N=4, D=2, H=6),
                                   dict(seed=93, N=2, D=5, H=3)])
def test_hidden_shapes_pass(shape):
    assert failing(_all_checks(SOL, **shape)) == set()


def test_hidden_calls_in_the_notebook_pass():
    """Every check call of the notebook's test cells (hidden ones included) passes."""
    assert run_test_cells(NOTEBOOK, {"np": np, "checks": checks, **SOL}) == 12


def test_stubs_fail_everything():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    results = _all_checks({k: stub for k in FUNCTIONS})
    assert failing(results) == set(results)
    assert all("not implemented" in m for m in results.values())


def test_calling_the_reference_earns_nothing():
    fns = _with(
        gru_step_forward=lambda *a: ref_gru.gru_step_forward(*a),
        gru_step_forward_reset_before=lambda *a: ref_gru.gru_forward(
            a[0][None], *a[1:], reset_after=False)[0][0],
    )
    fns["peephole_lstm_step_forward"] = lambda x, h, c, Wx, Wh, b, p: \
        ref_variants.variant_lstm_step_forward(x, h, c, {"Wx": Wx, "Wh": Wh, "b": b, "p": p})
    fns["gru_step_backward"] = lambda dh, cache: ref_gru.gru_step_backward(dh, (*cache, True))
    results = _all_checks(fns)
    for label in ("fwd_shape", "fwd_values", "before", "peep_h", "peep_c", "dx", "dWh"):
        assert results[label] and "reference implementation" in results[label]
    x = np.zeros((1, 2))
    assert ref_gru.gru_step_forward(x, np.zeros((1, 1)), np.zeros((2, 3)), np.zeros((1, 3)),
                                    np.zeros(3), np.zeros(3))[0].shape == (1, 1)


def test_reference_exercised_names_resolve():
    import importlib

    for entry in checks.REFERENCE_EXERCISED:
        module, qualname = entry.split(":")
        assert callable(getattr(importlib.import_module(module), qualname))


# --- the catalogue: a wrong forward -> the hint it must get ---------------------------------


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def _gru_fwd(x, h_prev, Wx, Wh, bx, bh, *, swap_rz=False, z_flip=False, before=False,
             bhn_out=False, no_tanh=False):
    """A GRU step with one typical mistake switched on (written for the tests)."""
    H = h_prev.shape[1]
    ax, ah = x @ Wx + bx, h_prev @ Wh + bh
    r, z = _sig(ax[:, :H] + ah[:, :H]), _sig(ax[:, H:2 * H] + ah[:, H:2 * H])
    if swap_rz:
        r, z = z, r
    hn = ah[:, 2 * H:]
    if before:
        rec = (r * h_prev) @ Wh[:, 2 * H:] + bh[2 * H:]
    elif bhn_out:
        rec = r * (h_prev @ Wh[:, 2 * H:]) + bh[2 * H:]
    else:
        rec = r * hn
    pre = ax[:, 2 * H:] + rec
    n = pre if no_tanh else np.tanh(pre)
    h = z * n + (1 - z) * h_prev if z_flip else (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, bx, bh, r, z, n, hn)


FORWARD_CATALOGUE = {
    "swap_rz": "r and z blocks are exchanged",
    "z_flip": "z keeps the old state",
    "before": "before the recurrent product",
    "bhn_out": "outside the reset gate",
    "no_tanh": "without its tanh",
}


@pytest.mark.parametrize("mistake", sorted(FORWARD_CATALOGUE))
def test_forward_catalogue(mistake):
    wrong = lambda *a: _gru_fwd(*a, **{mistake: True})  # noqa: E731
    results = _all_checks(_with(gru_step_forward=wrong))
    assert results["fwd_shape"] is None
    assert results["fwd_values"] and FORWARD_CATALOGUE[mistake] in results["fwd_values"]
    # the backward's checks use the reference cache: a wrong forward costs no backward point
    assert not failing(results) & set(checks.GRU_GRADS)
    inputs, _ = checks._gru_inputs(0, 3, 5, 4)
    _assert_no_numbers_leak(results["fwd_values"], ref_gru.gru_step_forward(*inputs)[0])


def test_correct_backward_with_broken_forward_earns_backward_points():
    def broken_forward(*args):
        raise ValueError("my forward is broken")

    results = _all_checks(_with(gru_step_forward=broken_forward))
    assert {"fwd_shape", "fwd_values", "fwd_cache"} <= failing(results)
    assert not failing(results) & set(checks.GRU_GRADS)


def test_cache_in_another_order_fails_only_the_cache_check():
    def reordered(*args):
        h, cache = SOL["gru_step_forward"](*args)
        x, h_prev, Wx, Wh, bx, bh, r, z, n, hn = cache
        return h, (x, h_prev, Wx, Wh, bx, bh, z, r, n, hn)

    results = _all_checks(_with(gru_step_forward=reordered))
    assert failing(results) == {"fwd_cache"}
    assert "item 6" in results["fwd_cache"] and "r" in results["fwd_cache"]


# --- the catalogue: a wrong backward -> the hint it must get --------------------------------


def _gru_bwd(dh, cache, *, no_tanh_prime=False, no_sig_prime=False, z_flip=False,
             no_r_in_dhn=False, dbh_is_dbx=False, no_sum=False, transposed=False):
    """A GRU step backward with one typical mistake switched on (written for the tests)."""
    x, h_prev, Wx, Wh, bx, bh, r, z, n, hn = cache
    keep, through = (1 - z, z) if z_flip else (z, 1 - z)
    dn = dh * through * (1.0 if no_tanh_prime else 1 - n ** 2)
    dz = dh * (h_prev - n) * (-1.0 if z_flip else 1.0) * (1.0 if no_sig_prime else z * (1 - z))
    dr = dn * hn * (1.0 if no_sig_prime else r * (1 - r))
    dax = np.concatenate([dr, dz, dn], axis=1)
    dah = np.concatenate([dr, dz, dn * (1.0 if no_r_in_dhn else r)], axis=1)
    dWx = x.T @ dax
    dWh = h_prev.T @ dah
    if transposed:
        dWx, dWh = dWx.T, dWh.T
    dbx = dax if no_sum else dax.sum(axis=0)
    dbh = dah if no_sum else dah.sum(axis=0)
    if dbh_is_dbx:
        dbh = dbx
    return dax @ Wx.T, dh * keep + dah @ Wh.T, dWx, dWh, dbx, dbh


BACKWARD_CATALOGUE = {
    # mistake: (checks that must fail, words the hint of each must hold)
    "no_tanh_prime": ({"dx", "dh_prev", "dWx", "dWh", "dbx", "dbh"}, "derivative of tanh"),
    "no_sig_prime": ({"dx", "dh_prev", "dWx", "dWh", "dbx", "dbh"}, "derivative of the sigmoid"),
    "z_flip": ({"dx", "dh_prev", "dWx", "dWh", "dbx", "dbh"}, "z and 1 - z are exchanged"),
    "no_r_in_dhn": ({"dh_prev", "dWh", "dbh"}, "carries the factor r"),
    "dbh_is_dbx": ({"dbh"}, "differ in the n block"),
    "no_sum": ({"dbx", "dbh"}, "sum over the batch"),
    "transposed": ({"dWx", "dWh"}, "transposed"),
}


@pytest.mark.parametrize("mistake", sorted(BACKWARD_CATALOGUE))
def test_backward_catalogue(mistake):
    must_fail, words = BACKWARD_CATALOGUE[mistake]
    wrong = lambda dh, cache: _gru_bwd(dh, cache, **{mistake: True})  # noqa: E731
    results = _all_checks(_with(gru_step_backward=wrong))
    failed = failing(results) & set(checks.GRU_GRADS)
    assert failed == must_fail, results
    for g in must_fail:
        assert words in results[g], (g, results[g])


def test_backward_hints_leak_no_number():
    wrong = lambda dh, cache: _gru_bwd(dh, cache, no_tanh_prime=True)  # noqa: E731
    results = _all_checks(_with(gru_step_backward=wrong))
    inputs, dh = checks._gru_inputs(0, 4, 5, 3)
    _, cache = ref_gru.gru_step_forward(*inputs)
    for g, expected in zip(checks.GRU_GRADS, ref_gru.gru_step_backward(dh, cache)):
        _assert_no_numbers_leak(results[g], expected)


def test_the_checks_own_backward_equals_the_reference():
    inputs, dh = checks._gru_inputs(3, 2, 3, 4)
    ref_cache = ref_gru.gru_step_forward(*inputs)[1]
    mine = checks._gru_step_grads(checks._reference_cache(inputs), dh)
    for g, expected in zip(checks.GRU_GRADS, ref_gru.gru_step_backward(dh, ref_cache)):
        np.testing.assert_allclose(mine[g], expected, rtol=1e-12, atol=1e-14)


# --- the other reset convention and the peephole step ---------------------------------------


def test_reset_after_submitted_as_reset_before_is_named():
    wrong = lambda *a: SOL["gru_step_forward"](*a)[0]  # noqa: E731
    results = _all_checks(_with(gru_step_forward_reset_before=wrong))
    assert results["before"] and "PyTorch's convention" in results["before"]
    tup = lambda *a: (SOL["gru_step_forward_reset_before"](*a), None)  # noqa: E731
    results = _all_checks(_with(gru_step_forward_reset_before=tup))
    assert results["before"] and "h_next alone" in results["before"]


def _peep(x, h_prev, c_prev, Wx, Wh, b, p, *, o_prev=False, swap_if=False, none=False):
    H = h_prev.shape[1]
    if none:
        p = np.zeros_like(p)
    pi, pf = (p[1], p[0]) if swap_if else (p[0], p[1])
    a = x @ Wx + h_prev @ Wh + b
    i = _sig(a[:, :H] + pi * c_prev)
    f = _sig(a[:, H:2 * H] + pf * c_prev)
    c = f * c_prev + i * np.tanh(a[:, 2 * H:3 * H])
    o = _sig(a[:, 3 * H:] + p[2] * (c_prev if o_prev else c))
    return o * np.tanh(c), c


@pytest.mark.parametrize("mistake,fails,words", [
    ("o_prev", {"peep_h"}, "c_next, not c_prev"),
    ("swap_if", {"peep_h", "peep_c"}, "order i, f, o"),
    ("none", {"peep_h", "peep_c"}, "without peepholes"),
])
def test_peephole_catalogue(mistake, fails, words):
    wrong = lambda *a: _peep(*a, **{mistake: True})  # noqa: E731
    results = _all_checks(_with(peephole_lstm_step_forward=wrong))
    assert {k for k in failing(results) if k.startswith("peep")} == fails
    for k in fails:
        assert words in results[k]


def test_modifying_an_input_fails():
    def in_place(x, h_prev, Wx, Wh, bx, bh):
        out = SOL["gru_step_forward"](x.copy(), h_prev.copy(), Wx, Wh, bx, bh)
        bx += 1.0
        return out

    results = _all_checks(_with(gru_step_forward=in_place))
    assert results["fwd_values"] and "modified its input bx" in results["fwd_values"]


def test_messages_never_go_to_stderr(capfd):
    wrong = lambda *a: _gru_fwd(*a, z_flip=True)  # noqa: E731
    _all_checks(_with(gru_step_forward=wrong))
    assert capfd.readouterr().err == ""


def test_bad_check_arguments():
    with pytest.raises(ValueError):
        checks.gru_step_backward_grad(SOL["gru_step_backward"], "dq")
    with pytest.raises(ValueError):
        checks.peephole_step_values(SOL["peephole_lstm_step_forward"], "o")


def _assert_no_numbers_leak(message, expected):
    for v in np.ravel(expected)[:20]:
        for fmt in ("{:.4f}", "{:.6f}", "{:.3e}"):
            assert fmt.format(v) not in message
