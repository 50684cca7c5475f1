"""Character n-gram baselines: proper distributions, counts, and bits per character."""

import numpy as np
import pytest

from lstm_ref.train.ngram import NGramModel, bits_per_char, tune_alpha


def _full_distributions(model, context, V):
    """P(c | context) for every c, scored one candidate at a time."""
    return np.array([2.0 ** model.log2_probs(np.array([c]), context=context)[0] for c in range(V)])


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_order_is_a_distribution(order):
    rng = np.random.default_rng(order)
    V = 5
    train = rng.integers(0, V, size=300)
    model = NGramModel(order, V, alpha=0.7).fit(train)
    for context in (train[:3], np.array([4, 4, 4]), np.array([], dtype=np.int64)):
        p = _full_distributions(model, context, V)
        assert np.all(p > 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_unigram_is_add_one():
    train = np.array([0, 0, 0, 1])
    model = NGramModel(1, 3).fit(train)
    p = _full_distributions(model, None, 3)
    np.testing.assert_allclose(p, [4 / 7, 2 / 7, 1 / 7])


def test_bigram_formula_by_hand():
    train = np.array([0, 1, 0, 1, 0, 2])  # bigrams 01 10 01 10 02
    V, alpha = 3, 2.0
    model = NGramModel(2, V, alpha).fit(train)
    uni = np.array([3 + 1, 2 + 1, 1 + 1]) / (6 + 3)
    # context 0 seen 3 times: followed by 1 twice and 2 once
    expected = (np.array([0, 2, 1]) + alpha * uni) / (3 + alpha)
    np.testing.assert_allclose(_full_distributions(model, np.array([0]), V), expected)
    # context 2 never seen as a context: the unigram exactly
    np.testing.assert_allclose(_full_distributions(model, np.array([2]), V), uni)


def test_higher_orders_win_on_a_periodic_text():
    text = np.tile(np.array([0, 1, 2, 3, 2, 1]), 200)
    train, held = text[:900], text[900:]
    bpc = [bits_per_char(n, train, held, 4, alpha=0.1) for n in (1, 2, 3)]
    assert bpc[0] > 1.8  # frequencies 1/6, 1/3, 1/3, 1/6: about 1.92 bits
    assert bpc[1] < bpc[0] and bpc[2] < 0.05  # two characters of context determine the next


def test_tune_alpha_picks_the_validation_minimum():
    rng = np.random.default_rng(0)
    train, val = rng.integers(0, 4, size=500), rng.integers(0, 4, size=200)
    grid = (0.1, 1.0, 10.0)
    alpha, bpc = tune_alpha(3, train, val, 4, grid=grid)
    scores = [NGramModel(3, 4, a).fit(train).bits_per_char(val, context=train) for a in grid]
    assert bpc == pytest.approx(min(scores)) and alpha == grid[int(np.argmin(scores))]


def test_errors_are_clear():
    with pytest.raises(ValueError, match="order"):
        NGramModel(0, 4)
    with pytest.raises(ValueError, match="alpha"):
        NGramModel(2, 4, alpha=0)
    with pytest.raises(ValueError, match="outside"):
        NGramModel(2, 4).fit(np.array([0, 5]))
    with pytest.raises(RuntimeError, match="fit"):
        NGramModel(2, 4).log2_probs(np.array([0]))


def _brute_force_log2(train, data, context, order, V, alpha):
    """The module docstring's formula, with Python dicts of tuples: a slow reference."""
    from collections import Counter

    grams = [Counter(tuple(train[s : s + k]) for s in range(len(train) - k + 1))
             for k in range(1, order + 1)]
    ctxs = [Counter(tuple(train[s : s + k - 1]) for s in range(len(train) - k + 1))
            for k in range(1, order + 1)]
    full = list(context) + list(data)
    out = []
    for q in range(len(context), len(full)):
        c = full[q]
        p = (grams[0][(c,)] + 1) / (len(train) + V)
        for k in range(2, order + 1):
            if q < k - 1:
                break
            h = tuple(full[q - k + 1 : q])
            p = (grams[k - 1][h + (c,)] + alpha * p) / (ctxs[k - 1][h] + alpha)
        out.append(np.log2(p))
    return np.array(out)


@pytest.mark.parametrize("order", [2, 5, 12])
def test_any_order_matches_the_formula_by_brute_force(order):
    """Keys stay exact however high the order (75**12 would overflow int64 keys): the
    vectorised model equals a dictionary implementation of the same formula."""
    rng = np.random.default_rng(order)
    V = 75
    base = rng.integers(0, V, size=40)
    train = np.concatenate([base, base[:25], rng.integers(0, V, size=30), base])  # repeats
    data = np.concatenate([base[5:30], rng.integers(0, V, size=10)])
    context = train[-7:]
    model = NGramModel(order, V, alpha=0.6).fit(train)
    want = _brute_force_log2(list(train), list(data), list(context), order, V, 0.6)
    np.testing.assert_allclose(model.log2_probs(data, context=context), want, rtol=1e-12)
    want = _brute_force_log2(list(train), list(data), [], order, V, 0.6)
    np.testing.assert_allclose(model.log2_probs(data), want, rtol=1e-12)
