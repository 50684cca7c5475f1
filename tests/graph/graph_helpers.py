"""What the graph tests share (imported as ``from graph_helpers import ...``): a gradient
check of any module against centred finite differences (nngraph's ``checkGradients``)."""

import numpy as np

from lstm_ref.gradcheck import numeric_gradient, rel_error

TOL = 1e-7  # relative error allowed between analytic and numeric gradients (float64)


def leaves(value):
    """The arrays of a nested list, in order."""
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in leaves(v)]
    return [value]


def flat(value):
    """All arrays of a nested value, raveled and concatenated (a copy)."""
    return np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in leaves(value)])


def random_like(value, rng):
    """Standard normal arrays with the structure of ``value``."""
    if isinstance(value, (list, tuple)):
        return [random_like(v, rng) for v in value]
    return rng.standard_normal(np.shape(value))


def check_gradients(module, input, seed=0, tol=TOL):
    """Compare ``module.backward`` with finite differences, on every float input array and
    every parameter; return the largest relative error (and assert it is below ``tol``).

    The upstream gradient is random, so every output is weighted; the check differentiates
    ``sum(output * gradOutput)``.
    """
    rng = np.random.default_rng(seed)
    output = module.forward(input)
    grad_output = random_like(output, rng)
    module.zeroGradParameters()
    grad_input = module.backward(input, grad_output)
    df = flat(grad_output)

    def f(_):
        return flat(module.forward(input))

    worst = 0.0
    in_leaves, gin_leaves = leaves(input), leaves(grad_input)
    assert len(in_leaves) == len(gin_leaves), "gradInput must have the structure of the input"
    for k, (x, gx) in enumerate(zip(in_leaves, gin_leaves)):
        assert np.shape(gx) == np.shape(x), f"gradInput leaf {k}: shape {np.shape(gx)} != {np.shape(x)}"
        if not np.issubdtype(np.asarray(x).dtype, np.floating):
            continue  # indices: no gradient to check
        err = rel_error(gx, numeric_gradient(f, x, df))
        assert err < tol, f"gradInput leaf {k}: relative error {err:.2e}"
        worst = max(worst, err)
    params, grads = module.parameters()
    for k, (p, g) in enumerate(zip(params, grads)):
        err = rel_error(g, numeric_gradient(f, p, df))
        assert err < tol, f"parameter {k} {p.shape}: relative error {err:.2e}"
        worst = max(worst, err)
    return worst
