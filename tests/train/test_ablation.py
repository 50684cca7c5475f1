"""The ablation study's training loop, metrics and statistics (chapter 4)."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lstm_ref.train.ablation import (  # noqa: E402
    StudyConfig,
    StudyResult,
    evaluate_reber,
    permutation_p,
    run_study,
    summarise,
    train_variant,
)

TINY = StudyConfig(hidden_size=3, updates=3, batch_size=4, chunk=10, eval_steps=250,
                   eval_streams=2, n_train=3, n_test=5)


@pytest.mark.parametrize("task", ["reber", "counting"])
def test_a_run_returns_its_numbers(task):
    r = train_variant(TINY, task=task, variant="CIFG", seed=1)
    assert isinstance(r, StudyResult) and r.config.task == task
    assert len(r.losses) == TINY.updates and all(np.isfinite(r.losses))
    assert 0.0 <= r.score <= 1.0
    if task == "reber":
        assert set(r.metrics) == {"critical_accuracy", "critical_choice", "step_accuracy",
                                  "max_abs_cell"}
        assert r.score == r.metrics["step_accuracy"]
        assert len(r.curves["step_error"]) == len(r.curves["window_steps"]) == 10
        assert r.curves["window_steps"][-1] == TINY.eval_steps
    else:
        assert len(r.curves["accepted_by_n"]) == TINY.n_test
        assert r.score == r.metrics["train_accepted"]


def test_runs_are_reproducible_and_leave_torch_alone():
    threads = torch.get_num_threads()
    state = torch.get_rng_state()
    a = train_variant(TINY, variant="NP", seed=3)
    b = train_variant(TINY, variant="NP", seed=3)
    c = train_variant(TINY, variant="NP", seed=4)
    assert a.losses == b.losses and a.metrics == b.metrics
    assert a.losses != c.losses
    assert torch.get_num_threads() == threads
    assert torch.equal(state, torch.get_rng_state())


def test_cifg_cell_stays_bounded_and_nfg_grows():
    """CIFG's cell is a convex combination of c_{t-1} and g in (-1, 1): |c| < 1 on any
    stream. The 1997 cell (NFG) only accumulates, so on a long stream its cell leaves it."""
    cifg = train_variant(TINY, variant="CIFG", seed=0, eval_steps=2000)
    nfg = train_variant(TINY, variant="NFG", seed=0, eval_steps=2000)
    assert cifg.metrics["max_abs_cell"] < 1.0
    assert nfg.metrics["max_abs_cell"] > 5.0
    assert nfg.curves["cell_abs"][-1] > 2 * nfg.curves["cell_abs"][0]


def test_training_learns_the_grammar_and_nfg_does_not():
    """At the chapter's budget a coupled-gate cell learns the local grammar of the continual
    stream; the 1997 cell does not."""
    config = StudyConfig(hidden_size=8, updates=160, batch_size=32, chunk=25, lr=3e-2,
                         eval_steps=1000, eval_streams=4)
    good = train_variant(config, variant="CIFG", seed=0)
    bad = train_variant(config, variant="NFG", seed=0)
    assert good.score > 0.85
    assert bad.score < 0.5
    assert np.mean(good.losses[-10:]) < np.mean(good.losses[:10])


def test_evaluate_reber_on_a_perfect_predictor():
    """A model that outputs the true target set as logits scores 1 everywhere."""
    from lstm_ref.data.reber import continual_embedded_reber

    config = dataclasses.replace(TINY, eval_steps=300, eval_streams=2)
    _, allowed, _ = continual_embedded_reber(300, 2, np.random.default_rng(config.eval_seed))
    target = torch.from_numpy(allowed) * 20 - 10  # logits of the right sets

    class Oracle(torch.nn.Module):
        def forward(self, x, state=None):
            t0 = 0 if state is None else state[0]
            T = x.shape[0]
            return target[t0:t0 + T], (t0 + T, torch.zeros(1))

    metrics, curves = evaluate_reber(Oracle(), config)
    assert metrics["step_accuracy"] == 1.0 and metrics["critical_accuracy"] == 1.0
    assert metrics["critical_choice"] == 1.0
    assert max(curves["step_error"]) == 0.0


def test_permutation_p():
    assert permutation_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    assert permutation_p([1, 2, 3], [1, 2, 3]) == 1.0
    assert permutation_p([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(2 / 70)
    # brute force by hand for a mixed case: |mean diff| of [1,5,3] vs [4,2,6] is 1
    assert permutation_p([1, 5, 3], [4, 2, 6]) == pytest.approx(14 / 20)
    with pytest.raises(ValueError):
        permutation_p([], [1.0])


def test_summarise_and_run_study():
    study = run_study(["vanilla", "NFG"], [0, 1], TINY)
    assert list(study) == ["vanilla", "NFG"] and all(len(v) == 2 for v in study.values())
    assert [r.config.seed for r in study["NFG"]] == [0, 1]
    s = summarise(study)
    assert s["vanilla"]["delta"] == 0.0 and s["vanilla"]["p"] == 1.0
    vals = [r.score for r in study["NFG"]]
    assert s["NFG"]["values"] == vals
    assert s["NFG"]["mean"] == pytest.approx(np.mean(vals))
    assert s["NFG"]["std"] == pytest.approx(np.std(vals, ddof=1))
    assert s["NFG"]["delta"] == pytest.approx(np.mean(vals) - s["vanilla"]["mean"])
    assert 0 < s["NFG"]["p"] <= 1
    cells = summarise(study, "max_abs_cell")
    assert cells["NFG"]["values"] == [r.metrics["max_abs_cell"] for r in study["NFG"]]


@pytest.mark.parametrize("bad,match", [
    (dict(task="adding"), "task"),
    (dict(hidden_size=0), "hidden_size"),
    (dict(updates=2.5), "updates"),
    (dict(n_train=9, n_test=4), "n_test"),
])
def test_bad_config(bad, match):
    with pytest.raises(ValueError, match=match):
        StudyConfig(**bad)


def test_bad_variant_and_empty_study():
    with pytest.raises(ValueError, match="variant"):
        train_variant(TINY, variant="LSTM97")
    with pytest.raises(ValueError, match="at least one"):
        run_study([], [0], TINY)


# ------------------------------------------------------- many models at once, statistics

import itertools  # noqa: E402
import math  # noqa: E402

from lstm_ref.numpy.variants import VARIANTS, variant_spec  # noqa: E402
from lstm_ref.train.ablation import (  # noqa: E402
    ContinualReberConfig,
    evaluate_batch,
    holm,
    mann_whitney_p,
    reber_streams,
    scored_steps,
    steps_to_first_error,
    train_reber_batch,
)
from lstm_ref.train.batched_variants import (  # noqa: E402
    BatchedAdam,
    BatchedCells,
    Cell,
    variant_cell,
)


def _single_variant_params(model, m, variant):
    """Model m's parameters in VariantLSTM's numpy layout."""
    P = {k: v.detach()[m].numpy() for k, v in model.params.items()}
    H = model.H
    spec = variant_spec(variant)
    cols = {k: slice(j * H, (j + 1) * H) for j, k in enumerate("ifgo")}
    out = {"Wx": np.concatenate([P["Wx"][:, cols[k]] for k in spec.blocks], axis=1),
           "Wh": np.concatenate([P["Wh"][:, cols[k]] for k in spec.blocks], axis=1),
           "b": np.concatenate([P["b"][0, cols[k]] for k in spec.blocks])}
    if spec.peep:
        out["p"] = P["p"][["ifo".index(k) for k in spec.sig]]
    if spec.fgr:
        out["Wg"] = P["Wg"]
    return out


def test_batched_cells_compute_each_variant_as_variant_lstm_does():
    """Model m of a batch of all nine variants gives VariantLSTM's output (float64), and
    its gradient with respect to its own parameters does not depend on the others."""
    from lstm_ref.torch import VariantLSTM

    cells = [variant_cell(v) for v in VARIANTS]
    model = BatchedCells(cells, 5, 4, 3, torch.Generator().manual_seed(0))
    with torch.no_grad():  # nonzero peepholes and gate recurrence, so they matter
        model.params["p"].mul_(3.0)
        model.params["Wg"].mul_(3.0)
    x = torch.randn(7, 2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    logits, (h, c), cabs = model.forward(x)
    assert logits.shape == (9, 7, 2, 3) and h.shape == c.shape == (9, 2, 4)
    assert cabs.shape == (9, 7)
    for m, v in enumerate(VARIANTS):
        ref = VariantLSTM.from_numpy_params(_single_variant_params(model, m, v), variant=v)
        out, (h_ref, c_ref) = ref(x)
        want = out @ model.params["Wy"][m] + model.params["by"][m]
        torch.testing.assert_close(logits[m], want, rtol=1e-12, atol=1e-12, msg=v)
        torch.testing.assert_close(c[m], c_ref, rtol=1e-12, atol=1e-12, msg=v)
    # model 0's loss moves only model 0's parameters
    logits[0].sum().backward()
    for name, p in model.params.items():
        if p.grad is not None:
            assert p.grad[1:].abs().max() == 0, name


def test_switched_off_parts_get_no_gradient_and_adam_leaves_them():
    cells = [Cell(peepholes=False), Cell(forget="none"), Cell(gate_recurrence=True)]
    model = BatchedCells(cells, 7, 3, 7, torch.Generator().manual_seed(0))
    before = {k: v.detach().clone() for k, v in model.params.items()}
    opt = BatchedAdam(model.params, [0.1, 0.1, 0.1])
    x, allowed, _, _ = (torch.from_numpy(a) for a in reber_streams(12, [[0, 0], [0, 1]]))
    for _ in range(3):
        logits, _, _ = model.forward(x)
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits, allowed.expand_as(logits)).backward()
        opt.step()
    P = model.params
    assert torch.equal(P["p"][0], before["p"][0])  # NP: peepholes never move
    H = 3
    assert torch.equal(P["Wx"][1][:, H:2 * H], before["Wx"][1][:, H:2 * H])  # NFG: no f weights
    assert torch.equal(P["Wg"][:2], before["Wg"][:2])  # only FGR has gate recurrence
    assert not torch.equal(P["Wg"][2], before["Wg"][2])
    assert not torch.equal(P["p"][1], before["p"][1])


def test_batched_adam_clips_each_model_on_its_own():
    """One model with a huge gradient does not shrink another's step."""
    params = {"w": torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)}
    opt = BatchedAdam(params, [0.5, 0.5], clip=1.0)
    params["w"].grad = torch.tensor([[1e6, 0, 0], [1e-3, 0, 0]], dtype=torch.float64)
    opt.step()
    # Adam's first step moves every parameter with a nonzero gradient by about lr
    assert params["w"][0, 0].item() == pytest.approx(-0.5, rel=1e-6)
    assert params["w"][1, 0].item() == pytest.approx(-0.5, rel=1e-3)
    with pytest.raises(ValueError, match="one value per model"):
        BatchedAdam(params, [0.1, 0.1, 0.1])


def test_reber_streams_are_prefixes_and_mark_string_starts():
    x5, a5, c5, s5 = reber_streams(50, [[3, 0], [3, 1]])
    x9, a9, c9, s9 = reber_streams(90, [[3, 0], [3, 1]])
    assert np.array_equal(x9[:50], x5) and np.array_equal(a9[:50], a5)
    assert np.array_equal(s9[:50], s5)
    from lstm_ref.data.reber import decode, is_embedded_reber

    stream = decode(x9[:, 0])
    starts = np.flatnonzero(s9[:, 0])
    assert starts[0] == 0 and len(starts) >= 3
    for lo, hi in zip(starts[:-1], starts[1:]):
        assert is_embedded_reber(stream[lo:hi])


def test_first_error_and_solved_on_hand_made_errors():
    errors = np.zeros((2, 6, 3), dtype=bool)  # (M, L, N)
    errors[0, 4, 1] = True
    errors[0, 2, 1] = True
    errors[1, 0, 2] = True
    first = steps_to_first_error(errors)
    assert first.tolist() == [[6, 2, 6], [6, 6, 0]]


def test_evaluation_of_a_perfect_and_of_a_blind_predictor():
    """The success criterion on models whose outputs are set by hand: a model whose logits
    are +-20 from the true next sets is solved; one that never answers T or P at the
    critical step is not, and its errors are exactly the critical steps."""
    config = ContinualReberConfig(eval_steps=300, eval_streams=2, windows=3)
    data = reber_streams(300, [[7, 0], [7, 1]])
    target = torch.from_numpy(data[1]) * 40 - 20  # (L, N, 7)
    crit = torch.from_numpy(data[2])

    class Fixed:
        def forward(self, x, state=None, reset=None):
            t0 = 0 if state is None else state
            T = x.shape[0]
            good = target[t0:t0 + T]
            blind = good.clone()
            blind[crit[t0:t0 + T]] = -20.0  # says "neither T nor P" at the critical steps
            logits = torch.stack([good, blind])
            return logits, t0 + T, torch.zeros(2, T)

    out = evaluate_batch(Fixed(), data, config, piece=128)
    assert out["solved"].tolist() == [1.0, 0.0]
    assert out["step_accuracy"][0] == 1.0 and out["critical_accuracy"].tolist() == [1.0, 0.0]
    scored = scored_steps(data[3])
    assert out["errors"][1] == (data[2] & scored).sum()  # the warm-up string is not scored
    assert out["step_error"].shape == (2, 3)
    assert out["first_error"][0] == np.mean(300 - scored.argmax(axis=0))


def test_scored_steps_skip_the_first_string():
    starts = np.array([[1, 1], [0, 0], [0, 1], [1, 0], [0, 0], [1, 1]], dtype=bool)
    assert scored_steps(starts)[:, 0].tolist() == [False, False, False, True, True, True]
    assert scored_steps(starts)[:, 1].tolist() == [False, False, True, True, True, True]


def test_train_reber_batch_is_deterministic_and_a_prefix_of_a_longer_run():
    cfg = ContinualReberConfig(hidden_size=3, updates=6, batch_size=2, chunk=5, eval_steps=60,
                               eval_streams=2, head=4, block=2)
    cells = [variant_cell("vanilla"), variant_cell("NFG"), Cell(forget="none")]
    a = train_reber_batch(cells, [1e-2, 1e-2, 1e-2], cfg, seed=1, resets=[0, 0, 1],
                          eval_seeds=(5,))
    b = train_reber_batch(cells, [1e-2, 1e-2, 1e-2], cfg, seed=1, resets=[0, 0, 1],
                          eval_seeds=(5,))
    longer = train_reber_batch(cells, [1e-2, 1e-2, 1e-2],
                               dataclasses.replace(cfg, updates=10, head=8), seed=1,
                               resets=[0, 0, 1])
    assert a["loss_head"].shape == (4, 3) and a["loss_blocks"].shape == (3, 3)
    assert np.array_equal(a["loss_head"], b["loss_head"])
    assert np.array_equal(a["e0_step_accuracy"], b["e0_step_accuracy"])
    assert np.array_equal(longer["loss_head"][:4], a["loss_head"])
    assert not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(ValueError, match="same length"):
        train_reber_batch(cells, [1e-2], cfg, seed=0)


def _brute_force_rank_p(a, b):
    pooled = np.concatenate([a, b]).astype(float)
    order = np.argsort(pooled)
    ranks = np.empty(len(pooled))
    ranks[order] = np.arange(1, len(pooled) + 1)
    for v in np.unique(pooled):  # mid-ranks for ties
        ranks[pooled == v] = ranks[pooled == v].mean()
    centre = len(a) * (len(pooled) + 1) / 2
    obs = abs(ranks[: len(a)].sum() - centre)
    sums = [abs(ranks[list(idx)].sum() - centre)
            for idx in itertools.combinations(range(len(pooled)), len(a))]
    return np.mean(np.array(sums) >= obs - 1e-9)


def test_mann_whitney_smallest_p_and_brute_force():
    assert mann_whitney_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    smallest = mann_whitney_p(np.arange(10), np.arange(10, 20))
    assert smallest == pytest.approx(2 / math.comb(20, 10))
    assert smallest < 0.05 / 8  # significant even after a Bonferroni factor of 8
    assert mann_whitney_p([1, 2, 3], [1, 2, 3]) == 1.0
    rng = np.random.default_rng(0)
    for _ in range(4):
        a, b = rng.integers(0, 4, 6), rng.integers(0, 4, 5)  # many ties
        assert mann_whitney_p(a, b) == pytest.approx(_brute_force_rank_p(a, b))
    with pytest.raises(ValueError):
        mann_whitney_p([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        mann_whitney_p([np.nan, 1.0], [1.0])


def test_holm():
    assert holm([0.01, 0.04, 0.03, 0.2]).tolist() == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])
    assert holm([0.001]).tolist() == [0.001]
    with pytest.raises(ValueError):
        holm([1.5])


def test_ablation_summary_picks_each_variants_rate_on_validation_and_corrects():
    """Hand-made per-seed numbers: variant B is best at its second rate on validation, and
    its test numbers at that rate are all above the control's, so it differs (10 vs 10)."""
    from lstm_ref.experiments.ablation import PER_MODEL, AblationConfig, summarise

    config = AblationConfig(variants=("vanilla", "B", "C"), lrs=(0.1, 0.2))
    per_seed = {}
    for s in range(10):
        val = np.array([[0.9, 0.8], [0.5, 0.95], [0.7, 0.7]])
        test = np.array([[0.90 + s * 1e-3, 0.0], [0.0, 0.99 - s * 1e-4], [0.90 + s * 1e-3, 0.0]])
        entry = {f"val_{k}": np.zeros((3, 2)) for k in PER_MODEL}
        entry.update({f"test_{k}": np.zeros((3, 2)) for k in PER_MODEL})
        entry["val_step_accuracy"] = val
        entry["test_step_accuracy"] = test
        entry["test_cell_abs"] = np.ones((3, 2, 4))
        per_seed[s] = entry
    out = summarise(config, per_seed)
    assert out["lr_index"] == [0, 1, 0]  # C ties: the smaller rate
    assert out["lr"] == [0.1, 0.2, 0.1]
    b, c = out["variants"]["B"], out["variants"]["C"]
    assert b["step_accuracy"]["values"] == pytest.approx([0.99 - s * 1e-4 for s in range(10)])
    assert b["p"] == pytest.approx(2 / math.comb(20, 10))
    assert b["p_holm"] == pytest.approx(2 * b["p"]) and b["differs"]
    assert c["p"] == 1.0 and c["p_holm"] == 1.0 and not c["differs"]  # same as the control
    assert "p" not in out["variants"]["vanilla"]


def test_reber_forget_summary_counts_solved_runs():
    from lstm_ref.experiments.reber_forget import KEYS, ReberForgetConfig, summarise

    config = ReberForgetConfig(cells=("forget gate", "no forget gate"), lrs=(0.01,))
    per_seed = {}
    for s in range(4):
        entry = {k: np.zeros((2, 1)) for k in KEYS}
        entry["solved"] = np.array([[1.0 if s < 3 else 0.0], [0.0]])
        entry["errors"] = np.array([[0.0 if s < 3 else 2.0], [100.0 + s]])
        entry["cell_abs"] = np.ones((2, 1, 3))
        per_seed[s] = entry
    out = summarise(config, per_seed)
    assert out["forget gate"]["0.01"]["n_solved"] == 3
    assert out["no forget gate"]["0.01"]["n_solved"] == 0
    assert out["no forget gate"]["0.01"]["errors"]["values"] == [100.0, 101.0, 102.0, 103.0]
