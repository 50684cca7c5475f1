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
