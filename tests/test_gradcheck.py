"""lstm_ref.gradcheck: centred differences and rel_error on functions with known gradients."""

import numpy as np
import pytest

from lstm_ref.gradcheck import numeric_gradient, rel_error


def test_numeric_gradient_of_a_matrix_product(rng):
    A = rng.standard_normal((3, 4))
    x = rng.standard_normal((4, 2))
    df = rng.standard_normal((3, 2))
    x0 = x.copy()
    grad = numeric_gradient(lambda v: A @ v, x, df)
    np.testing.assert_allclose(grad, A.T @ df, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(x, x0)  # restored after perturbing


def test_numeric_gradient_through_a_closure_and_centred(rng):
    x = rng.standard_normal(5)
    df = np.ones(5)
    # f ignores its argument and reads x through the closure
    grad = numeric_gradient(lambda _: x**3, x, df, h=1e-3)
    # centred differences of x^3 are exact up to h^2 (error h^2 per entry), one-sided are not
    np.testing.assert_allclose(grad, 3 * x**2 + 1e-6, rtol=0, atol=1e-9)


def test_numeric_gradient_keeps_dtype():
    x = np.array([1.0, 2.0], dtype=np.float32)
    g = numeric_gradient(lambda v: 2 * v, x, np.ones(2, np.float32), h=1e-2)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [2.0, 2.0], rtol=1e-3)


def test_rel_error():
    assert rel_error(np.ones(3), np.ones(3)) == 0.0
    assert rel_error([1.0, 2.0], [1.0, 3.0]) == pytest.approx(1 / 5)
    assert rel_error(np.zeros(2), np.full(2, 1e-12)) == pytest.approx(1e-4)  # floor 1e-8
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0
    with pytest.raises(ValueError, match=r"one shape, got \(2,\) and \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))
