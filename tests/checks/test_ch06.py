"""The chapter 6 checks: the notebook's solutions pass them; each typical mistake fails the
right check with the hint that names it (a catalogue), messages hold no expected numbers,
and nothing goes to stderr."""

import re
from pathlib import Path

import numpy as np
import pytest
from checks_helpers import notebook_solutions, outcomes, run_test_cells

torch = pytest.importorskip("torch")

from lstm_ref.checks import ch06 as checks  # noqa: E402
from lstm_ref.checks._common import CheckFailed  # noqa: E402
from lstm_ref.train.tbptt import init_lm_params, lm_loss  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "solutions" / "ch06_gpu" / "gpu_exercises.ipynb"


SOL = notebook_solutions(NOTEBOOK, {"np": np, "torch": torch, "lm_loss": lm_loss,
                                    "init_lm_params": init_lm_params})


def _checks_of(fns):
    f = fns
    return {
        "streams_shape": lambda: checks.streams_shape(f["make_streams"]),
        "streams_values": lambda: checks.streams_values(f["make_streams"]),
        "segments_shapes": lambda: checks.segments_shapes(f["segments"]),
        "segments_values": lambda: checks.segments_values(f["segments"]),
        "tbptt_first_loss": lambda: checks.tbptt_losses(f["train_tbptt"], n_segments=1),
        "tbptt_losses": lambda: checks.tbptt_losses(f["train_tbptt"]),
        "tbptt_w_hh": lambda: checks.tbptt_params(f["train_tbptt"], "w_hh"),
        "tbptt_w_hh_4": lambda: checks.tbptt_params(f["train_tbptt"], "w_hh", n_segments=4),
        "tbptt_w_out": lambda: checks.tbptt_params(f["train_tbptt"], "w_out"),
        "tbptt_inputs": lambda: checks.tbptt_inputs_unchanged(f["train_tbptt"]),
        "clip_norm": lambda: checks.clip_norm(f["clip_global_norm"]),
        "clip_values": lambda: checks.clip_values(f["clip_global_norm"]),
        "clip_below": lambda: checks.clip_below_threshold(f["clip_global_norm"]),
    }


def _failures(fns):
    return outcomes(_checks_of(fns))


def test_solutions_pass_every_check_and_print_only_ok_lines(capfd):
    assert all(v is None for v in _failures(SOL).values()), _failures(SOL)
    out, err = capfd.readouterr()
    assert err == ""
    assert all(line.startswith("OK: ") for line in out.strip().splitlines())


def test_hidden_variants_in_the_notebook_pass():
    assert run_test_cells(NOTEBOOK, dict(SOL, checks=checks)) > 0


def _with(**replacements):
    fns = dict(SOL)
    fns.update(replacements)
    return fns


# --- typical mistakes -> the hint they must get ----------------------------------------


def streams_dealt(data, batch):
    S = data.shape[0] // batch
    return data[: S * batch].reshape(S, batch)


def streams_batch_major(data, batch):
    S = data.shape[0] // batch
    return data[: S * batch].reshape(batch, S)


def segments_unshifted(streams, bptt):
    return [(x, x) for x, _ in SOL["segments"](streams, bptt)]


def segments_full_only(streams, bptt):
    return [(x, y) for x, y in SOL["segments"](streams, bptt) if x.shape[0] == bptt]


def _tbptt(detach=True, reset=False, zero_grad=True, retain=False, in_place_params=False):
    def train_tbptt(params, streams, bptt, lr, n_segments):
        p = params if in_place_params else {k: v.detach().clone() for k, v in params.items()}
        for v in p.values():
            v.requires_grad_(True)
        N, H = streams.shape[1], p["w_hh"].shape[1]
        zeros = p["w_hh"].new_zeros(N, H)
        state, losses = (zeros, zeros), []
        for x, y in SOL["segments"](streams, bptt)[:n_segments]:
            if reset:
                state = (zeros, zeros)
            loss, state = lm_loss(p, x, y, state)
            if zero_grad:
                for v in p.values():
                    v.grad = None
            loss.backward(retain_graph=retain)
            for v in p.values():
                if retain:
                    v.data -= lr * v.grad  # hides the update from autograd's version check
                else:
                    with torch.no_grad():
                        v -= lr * v.grad
            if detach:
                state = tuple(s.detach() for s in state)
            losses.append(loss.item())
        return losses, {k: v.detach().clone() for k, v in p.items()}

    return train_tbptt


def clip_per_tensor(grads, max_norm):
    out = [g * min(1.0, max_norm / float(g.norm())) for g in grads]
    return out, float(torch.sqrt(sum((g ** 2).sum() for g in grads)))


def clip_no_sqrt(grads, max_norm):
    clipped, total = SOL["clip_global_norm"](grads, max_norm)
    return clipped, total ** 2


def clip_always(grads, max_norm):
    total = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))
    return [g * (max_norm / total) for g in grads], total


def clip_in_place(grads, max_norm):
    clipped, total = SOL["clip_global_norm"](grads, max_norm)
    for g, c in zip(grads, clipped):
        g.copy_(c)
    return grads, total


def returns_none(params, streams, bptt, lr, n_segments):
    return None


def returns_its_inputs(params, streams, bptt, lr, n_segments):
    return [0.0] * n_segments, {k: v.clone() for k, v in params.items()}


def clip_identity(grads, max_norm):
    return [g.clone() for g in grads], float(sum(float((g ** 2).sum()) for g in grads)) ** 0.5


def stub(*args, **kwargs):
    raise NotImplementedError


CATALOGUE = [
    ("make_streams", streams_dealt, "streams_values", "dealt out"),
    ("make_streams", streams_batch_major, "streams_shape", "time-major"),
    ("segments", segments_unshifted, "segments_values", "shifted one step later"),
    ("segments", segments_full_only, "segments_shapes", "may be shorter"),
    ("train_tbptt", _tbptt(detach=False), "tbptt_losses", "detach the state"),
    ("train_tbptt", _tbptt(detach=False), "tbptt_w_hh_4", "detach the state"),
    ("train_tbptt", _tbptt(reset=True), "tbptt_losses", "zero state"),
    ("train_tbptt", _tbptt(reset=True), "tbptt_w_hh_4", "zero state"),
    ("train_tbptt", _tbptt(zero_grad=False), "tbptt_losses", "add up across segments"),
    ("train_tbptt", _tbptt(detach=False, retain=True), "tbptt_losses", "are right"),
    ("train_tbptt", _tbptt(in_place_params=True), "tbptt_inputs", "changed the parameter"),
    ("clip_global_norm", clip_per_tensor, "clip_values", "on its own"),
    ("clip_global_norm", clip_no_sqrt, "clip_norm", "square root"),
    ("clip_global_norm", clip_always, "clip_below", "only ever shrinks"),
    ("clip_global_norm", clip_in_place, "clip_values", "in place"),
    ("train_tbptt", stub, "tbptt_losses", "not implemented"),
    ("train_tbptt", returns_none, "tbptt_inputs", "returned None"),
    ("train_tbptt", returns_its_inputs, "tbptt_inputs", "equal the ones given"),
    ("clip_global_norm", clip_identity, "clip_below", "unclipped"),
]


@pytest.mark.parametrize("name,wrong,label,hint", CATALOGUE,
                         ids=[f"{w.__name__}-{lbl}" for _, w, lbl, _ in CATALOGUE])
def test_typical_mistake_gets_its_hint(name, wrong, label, hint):
    fns = _with(**{name: wrong})
    with pytest.raises(CheckFailed) as exc:
        _checks_of(fns)[label]()
    assert hint in str(exc.value), str(exc.value)


def test_a_wrong_function_fails_only_its_own_checks():
    fails = _failures(_with(train_tbptt=_tbptt(reset=True)))
    assert {k for k, v in fails.items() if v} == {"tbptt_losses", "tbptt_w_hh_4"}
    # a missing detach costs the losses of the later segments, nothing else: the first loss,
    # the parameters after one update and "inputs left unchanged" keep their points
    fails = _failures(_with(train_tbptt=_tbptt(detach=False)))
    assert {k for k, v in fails.items() if v} == {"tbptt_losses", "tbptt_w_hh_4"}
    fails = _failures(_with(clip_global_norm=clip_per_tensor))
    assert {k for k, v in fails.items() if v} == {"clip_values"}


def test_messages_hold_no_expected_numbers():
    for name, wrong, label, _ in CATALOGUE:
        try:
            _checks_of(_with(**{name: wrong}))[label]()
        except CheckFailed as exc:
            numbers = re.findall(r"\d+\.\d{3,}", str(exc))
            assert not numbers, (label, str(exc))


def test_calling_the_reference_earns_nothing():
    from lstm_ref.train import tbptt

    with pytest.raises(CheckFailed, match="reference implementation"):
        checks.clip_norm(lambda g, m: tbptt.clip_global_norm(g, m))
    with pytest.raises(CheckFailed, match="reference implementation"):
        checks.streams_values(lambda d, b: tbptt.make_streams(d, b))
    assert checks.REFERENCE_EXERCISED == tuple(
        f"lstm_ref.train.tbptt:{f.__name__}" for f in checks.LOCKED)


def test_hidden_seeds_change_the_inputs():
    hard_coded = {}

    def remember(params, streams, bptt, lr, n_segments):
        key = "first"
        if key not in hard_coded:
            hard_coded[key] = SOL["train_tbptt"](params, streams, bptt, lr, n_segments)
        return hard_coded[key]

    checks.tbptt_losses(remember)
    with pytest.raises(CheckFailed):
        checks.tbptt_losses(remember, seed=641, V=6, H=3, N=2, bptt=3, lr=0.8, n_segments=5)
