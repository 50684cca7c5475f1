"""Checks for chapter 5 (``ch05_nngraph``): modules written by the learner, and graphs
composed from them.

The learner writes two modules as subclasses of :class:`lstm_ref.graph.Module`,
``CMulTable`` (a table of ``k`` inputs) and ``Linear`` (with ``accGradParameters``), and four
functions: ``build_z_network(n_in, n_out)`` (the seed's ``z = x1 + x2 * linear(x3)``),
``build_lstm_cell(D, H)``, ``build_fanout_network(D)`` and ``fanout_gradient(x, W, dz)``.

Each check tests one thing (a shape, one output's values, one gradient). It reaches the
learner's objects only through :func:`~lstm_ref.checks._common.call_learner`: it makes an
instance by calling the class, sets arrays by attribute assignment, calls ``updateOutput``,
``updateGradInput``, ``accGradParameters``, ``forward``, ``backward`` and ``parameters``,
and reads ``weight``, ``bias``, ``gradWeight``, ``gradBias``, ``output`` as plain arrays.
Every expected value is computed here from :mod:`lstm_ref.graph` (and
:mod:`lstm_ref.numpy.lstm` for the cell). A module's backward check never runs the
learner's ``updateOutput``: it sets ``output`` to the reference forward's output first, so
a forward bug does not cost the backward's points.

Hints name a mistake a check can recognise (a product over only two inputs, a gradient
multiplied by its own input, gradWeight overwritten instead of accumulated, a transposed
weight, the ``scale`` ignored, a gradient not summed over fan-out, gates in char-rnn's
order); they never print expected numbers.
"""

import numpy as np

from .. import convert as _convert
from .. import graph as _graph
from ..numpy import lstm as _lstm
from ._common import (
    CheckFailed,
    call_learner,
    check,
    diagnose,
    expect_array,
    expect_close,
    rng_for,
)

__all__ = [
    "CheckFailed",
    "REFERENCE_EXERCISED",
    "cmul_forward",
    "cmul_backward",
    "linear_init",
    "linear_forward",
    "linear_grad_input",
    "linear_acc_grad",
    "z_forward",
    "z_backward",
    "lstm_cell_forward",
    "lstm_cell_backward",
    "fanout_backward",
    "fanout_by_hand",
]

_EXERCISED_METHODS = (
    (_graph.CMulTable, ("updateOutput", "updateGradInput")),
    (_graph.Linear, ("updateOutput", "updateGradInput", "accGradParameters")),
)

LIBRARIES = "numpy"
"""In grading, a test cell whose function is computed with an autograd library or a
library's recurrent cell earns nothing (:mod:`lstm_ref.grading.forbidden`)."""

REFERENCE_EXERCISED = tuple(
    f"{cls.__module__}:{cls.__qualname__}.{method}"
    for cls, methods in _EXERCISED_METHODS
    for method in methods
)
"""``module:qualname`` of every reference method the notebook asks the learner to write."""

LOCKED = tuple(getattr(cls, method) for cls, methods in _EXERCISED_METHODS for method in methods)

RTOL = 1e-7
ATOL = 1e-10


# --- talking to the learner's objects ---------------------------------------------------


def _new(cls, name, *args):
    """An instance of the learner's class ``cls``, made by calling it."""
    shown = f"{name}({', '.join(map(repr, args))})"
    return call_learner(cls, *args, name=shown, locked=LOCKED)


def _method(obj, cls_name, method):
    try:
        return getattr(obj, method)
    except Exception:  # noqa: BLE001 - a missing method, said plainly
        raise CheckFailed(f"your {cls_name} has no method {method}") from None


def _call(obj, cls_name, method, *args):
    """``obj.method(*args)`` on copies of the array arguments, which must stay unchanged."""
    fn = _method(obj, cls_name, method)
    copies = [_copy(a) for a in args]
    out = call_learner(fn, *copies, name=f"{cls_name}.{method}", locked=LOCKED)
    for k, (before, after) in enumerate(zip(args, copies)):
        if not _same(before, after):
            raise CheckFailed(f"{cls_name}.{method} modified its argument {k + 1}; it must not")
    return out


def _set(obj, cls_name, attr, value):
    try:
        setattr(obj, attr, np.array(value, copy=True))
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed(f"could not set {cls_name}.{attr}: {type(exc).__name__}: {exc}") from None


def _get(obj, cls_name, attr):
    try:
        return getattr(obj, attr)
    except Exception:  # noqa: BLE001
        raise CheckFailed(f"your {cls_name} has no attribute {attr}") from None


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return True


def _expect_list(name, got, k):
    if not isinstance(got, (list, tuple)) or len(got) != k:
        what = f"a {type(got).__name__}" + (f" of length {len(got)}" if isinstance(got, (list, tuple)) else "")
        raise CheckFailed(f"{name} should be a list of {k} arrays (one per input), got {what}")
    return list(got)


def _compare(name, got, expected, wrong=()):
    """Shape, dtype float64 and values; a hint when ``got`` equals a known wrong result
    (``wrong``: ``(value, hint)`` pairs, see :func:`diagnose`)."""
    expect_array(name, got, expected.shape, dtype=np.float64)
    if not np.allclose(got, expected, rtol=RTOL, atol=ATOL):
        hint = diagnose(got, expected, [(h, v) for v, h in wrong], RTOL, ATOL)
        expect_close(name, got, expected, RTOL, ATOL, hint=hint)


def _shape(N, D):
    return (D,) if N is None else (N, D)


# --- CMulTable ------------------------------------------------------------------------


def _cmul_data(seed, k, shape):
    rng = rng_for(seed)
    inputs = [rng.standard_normal(shape) for _ in range(k)]
    grad = rng.standard_normal(shape)
    return inputs, grad


def _product(arrays):
    out = np.ones_like(arrays[0])
    for a in arrays:
        out = out * a
    return out


@check
def cmul_forward(CMulTable, k=2, seed=0, shape=(3, 4)):
    """``updateOutput`` of a table of ``k`` arrays is their element-wise product."""
    inputs, _ = _cmul_data(seed, k, tuple(shape))
    mod = _new(CMulTable, "CMulTable")
    got = _call(mod, "CMulTable", "updateOutput", inputs)
    ref = _graph.CMulTable()
    expected = ref.updateOutput(_copy(inputs))
    wrong = [
        (_product(inputs[:2]) if k > 2 else None,
         "only the first two inputs were multiplied; CMulTable takes a table of any number "
         "of inputs"),
        (sum(inputs), "the inputs were added, not multiplied"),
    ]
    _compare("CMulTable output", got, expected, wrong)
    return f"CMulTable forward, {k} inputs of shape {tuple(shape)}"


@check
def cmul_backward(CMulTable, k=2, seed=10, shape=(3, 4)):
    """``updateGradInput``: input ``j`` gets gradOutput times the product of the others.
    The reference output is set as ``output`` first; the learner's forward is not run."""
    inputs, grad = _cmul_data(seed, k, tuple(shape))
    ref = _graph.CMulTable()
    out = ref.updateOutput(_copy(inputs))
    expected = ref.updateGradInput(_copy(inputs), grad.copy())
    mod = _new(CMulTable, "CMulTable")
    _set(mod, "CMulTable", "output", out)
    got = _expect_list("CMulTable.updateGradInput's result", _call(mod, "CMulTable", "updateGradInput", inputs, grad), k)
    for j in range(k):
        others = [a for i, a in enumerate(inputs) if i != j]
        wrong = [
            (grad * inputs[j], "input j's gradient was multiplied by input j itself; it needs "
             "the product of the OTHER inputs"),
            (_product(others), "gradOutput is missing: the chain rule multiplies the local "
             "derivative by the gradient arriving from above"),
            (grad * others[0] if k > 2 else None, "only one other input was used; with k "
             "inputs, input j's gradient needs the product of all k - 1 others"),
        ]
        _compare(f"gradInput[{j}]", got[j], expected[j], wrong)
    return f"CMulTable backward, {k} inputs of shape {tuple(shape)}"


# --- Linear ---------------------------------------------------------------------------


def _linear_data(seed, n_in, n_out, N):
    rng = rng_for(seed)
    W = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
    b = rng.standard_normal(n_out) * 0.5
    x = rng.standard_normal(_shape(N, n_in))
    grad = rng.standard_normal(_shape(N, n_out))
    gW0 = rng.standard_normal((n_out, n_in))
    gb0 = rng.standard_normal(n_out)
    return W, b, x, grad, gW0, gb0


def _ref_linear(W, b):
    ref = _graph.Linear(W.shape[1], W.shape[0])
    ref.weight[...] = W
    ref.bias[...] = b
    ref.gradWeight[...] = 0.0
    ref.gradBias[...] = 0.0
    return ref


def _new_linear(Linear, W, b):
    mod = _new(Linear, "Linear", W.shape[1], W.shape[0])
    _set(mod, "Linear", "weight", W)
    _set(mod, "Linear", "bias", b)
    return mod


@check
def linear_init(Linear, n_in=5, n_out=3):
    """``Linear(n_in, n_out)`` has ``weight (out, in)`` and ``bias (out,)`` drawn at random,
    and zero ``gradWeight``, ``gradBias`` of the same shapes."""
    mod = _new(Linear, "Linear", n_in, n_out)
    for attr, shape in (("weight", (n_out, n_in)), ("bias", (n_out,)),
                        ("gradWeight", (n_out, n_in)), ("gradBias", (n_out,))):
        got = _get(mod, "Linear", attr)
        if isinstance(got, np.ndarray) and len(shape) == 2 and got.shape == shape[::-1] and n_in != n_out:
            raise CheckFailed(f"Linear.{attr} has shape {got.shape}: as in Lua torch it is "
                              f"(out, in) = {shape}, the transpose")
        expect_array(f"Linear.{attr}", got, shape, dtype=np.float64)
        if attr.startswith("grad") and np.any(got):
            raise CheckFailed(f"Linear.{attr} should start at zero")
    W = _get(mod, "Linear", "weight")
    if W.size > 1 and np.all(W == W.flat[0]):
        raise CheckFailed("every entry of Linear.weight is the same number; draw them at "
                          "random (Lua: uniform in [-1/sqrt(in), 1/sqrt(in)]) so that units differ")
    return f"Linear({n_in}, {n_out}) attributes"


@check
def linear_forward(Linear, n_in=5, n_out=3, N=4, seed=20):
    """``updateOutput(x)`` for ``x (N, in)``, or ``(in,)`` when ``N`` is ``None``."""
    W, b, x, _, _, _ = _linear_data(seed, n_in, n_out, N)
    mod = _new_linear(Linear, W, b)
    got = _call(mod, "Linear", "updateOutput", x)
    expected = _ref_linear(W, b).updateOutput(x.copy())
    wrong = [
        (x @ W.T, "the bias is missing"),
        (x @ W + b if n_in == n_out else None, "weight is (out, in): the input multiplies its "
         "transpose"),
    ]
    _compare("Linear output", got, expected, wrong)
    return f"Linear forward, input shape {x.shape}"


@check
def linear_grad_input(Linear, n_in=5, n_out=3, N=4, seed=30):
    """``updateGradInput(x, gradOutput)``; ``output`` is set to the reference output first."""
    W, b, x, grad, _, _ = _linear_data(seed, n_in, n_out, N)
    ref = _ref_linear(W, b)
    out = ref.updateOutput(x.copy())
    expected = ref.updateGradInput(x.copy(), grad.copy())
    mod = _new_linear(Linear, W, b)
    _set(mod, "Linear", "output", out)
    got = _call(mod, "Linear", "updateGradInput", x, grad)
    wrong = [(grad @ W.T if n_in == n_out else None, "the weight is transposed: with weight "
              "(out, in), gradOutput (N, out) reaches the input through weight, not its transpose")]
    _compare("Linear gradInput", got, expected, wrong)
    return f"Linear gradInput, input shape {x.shape}"


@check
def linear_acc_grad(Linear, which, n_in=5, n_out=3, N=4, scale=1.0, seed=40):
    """``accGradParameters(x, gradOutput, scale)`` ADDS ``scale`` times the gradient to the
    ``gradWeight``/``gradBias`` already there (set to random values first)."""
    if which not in ("gradWeight", "gradBias"):
        raise ValueError(f"which must be 'gradWeight' or 'gradBias', got {which!r}")
    W, b, x, grad, gW0, gb0 = _linear_data(seed, n_in, n_out, N)
    ref = _ref_linear(W, b)
    out = ref.updateOutput(x.copy())
    ref.accGradParameters(x.copy(), grad.copy(), scale)
    fresh = ref.gradWeight.copy() if which == "gradWeight" else ref.gradBias.copy()
    start = gW0 if which == "gradWeight" else gb0
    expected = start + fresh
    mod = _new_linear(Linear, W, b)
    _set(mod, "Linear", "output", out)
    _set(mod, "Linear", "gradWeight", gW0)
    _set(mod, "Linear", "gradBias", gb0)
    _call(mod, "Linear", "accGradParameters", x, grad, scale)
    got = _get(mod, "Linear", which)
    batch = 1 if N is None else N
    wrong = [
        (fresh, f"{which} was overwritten; accGradParameters must ADD to the gradient already "
         "there (it is zeroed only by zeroGradParameters), so that uses of a shared module "
         "accumulate"),
        (start + fresh / scale if scale != 1 else None, "the scale argument was ignored"),
        (start + fresh.T if which == "gradWeight" and n_in == n_out else None,
         "gradWeight is transposed: it has the shape of weight, (out, in)"),
        (start + fresh / batch if N not in (None, 1) else None,
         "the gradient was averaged over the batch; it is summed"),
    ]
    _compare(f"Linear.{which}", got, expected, wrong)
    return f"Linear {which} accumulated, input shape {x.shape}, scale {scale}"


# --- graphs built by the learner --------------------------------------------------------
#
# Sections 3 to 5 grade the learner's graph, not the learner's modules again: the check
# reads the graph's structure (its nodes, each node's module kind and settings, its
# parents), rebuilds the same graph HERE from reference modules (lstm_ref.graph's
# CMulTable and Linear included) with parameters the check draws itself, and runs that.
# A bug in the learner's CMulTable or Linear costs only sections 1 and 2; parameters the
# learner's objects report are never read; and nothing of the learner's runs but the
# builder function.

MAX_NODES = 200
_PLAIN_MODULES = ("Identity", "Sigmoid", "Tanh", "ReLU", "CAddTable", "CSubTable",
                  "CMulTable", "LogSoftMax")


def _kind(obj):
    """The class name of the learner's object (a proxy reports the sandboxed object's)."""
    if type(obj).__name__ == "Remote":
        return str(object.__getattribute__(obj, "_type"))
    return type(obj).__name__


def _key(obj):
    """A key telling the learner's objects apart (the same object, the same key)."""
    if type(obj).__name__ == "Remote":
        return ("remote", object.__getattribute__(obj, "_id"))
    return ("local", id(obj))


def _read(obj, attr, what):
    try:
        return getattr(obj, attr)
    except Exception:  # noqa: BLE001 - a missing attribute, said plainly
        raise CheckFailed(f"{what} has no attribute {attr}: build it with nn.gModule") from None


def _nodes(value, what):
    try:
        items = list(value)
    except Exception:  # noqa: BLE001
        raise CheckFailed(f"{what} should be a list of graph nodes") from None
    if len(items) > MAX_NODES:
        raise CheckFailed(f"{what} has {len(items)} nodes; this exercise needs far fewer")
    return items


def _int_setting(module, attr, kind, optional=False):
    value = _read(module, attr, f"the {kind} module")
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise CheckFailed(f"the {kind} module's {attr} should be an int, got "
                          f"{type(value).__name__}")
    return int(value)


def _trusted_module(module, kind):
    """A reference module of the learner's module's kind, with its settings."""
    nn = _graph
    if kind in _PLAIN_MODULES:
        return getattr(nn, kind)()
    if kind == "Linear":
        # Its size is set by the section's check (_sized): a Linear of section 2 whose
        # weight has the wrong shape, or none, costs section 2's points, not these.
        return nn.Linear(1, 1)
    if kind == "Narrow":
        return nn.Narrow(_int_setting(module, "dim", kind), _int_setting(module, "offset", kind),
                         _int_setting(module, "length", kind))
    if kind in ("SplitTable", "JoinTable"):
        return getattr(nn, kind)(_int_setting(module, "dim", kind),
                                 _int_setting(module, "nInputDims", kind, optional=True))
    if kind == "SelectTable":
        return nn.SelectTable(_int_setting(module, "index", kind))
    raise CheckFailed(f"the graph uses a {kind} module, which this exercise does not need "
                      f"(use {', '.join(_PLAIN_MODULES)}, Linear, Narrow, SplitTable, "
                      "JoinTable or SelectTable)")


class _Rebuilt:
    """The learner's graph rebuilt from reference modules: ``graph`` (a gModule),
    ``linears`` (each reference Linear with the input positions of the learner's graph
    that feed it directly, as a tuple)."""

    def __init__(self, graph, linears):
        self.graph, self.linears = graph, linears


def _rebuild(g, name):
    """Read the structure of the learner's gModule ``g`` and rebuild it here."""
    nn = _graph
    what = f"the result of {name}"
    order = _nodes(_read(g, "forwardnodes", what), f"{what}.forwardnodes")
    inputs = _nodes(_read(g, "input_nodes", what), f"{what}.input_nodes")
    outputs = _nodes(_read(g, "output_nodes", what), f"{what}.output_nodes")
    input_pos = {_key(n): k for k, n in enumerate(inputs)}
    made, splits, linears = {}, {}, []
    for node in order:
        key = _key(node)
        parents = _nodes(_read(node, "parents", "a graph node"), "a node's parents")
        pkeys = [_key(p) for p in parents]
        if any(p not in made and p not in splits for p in pkeys):
            raise CheckFailed(f"{what} lists a node before the nodes that feed it")
        module = _read(node, "module", "a graph node")
        if module is None:  # a split hub, or one of its select nodes
            n_out = _read(node, "split_outputs", "a graph node")
            if n_out is not None:
                if len(pkeys) != 1 or not isinstance(n_out, int) or not 0 < n_out <= MAX_NODES:
                    raise CheckFailed(f"{what} has a malformed split node")
                splits[key] = made[pkeys[0]].split(n_out)
                continue
            index = _read(node, "select_index", "a graph node")
            if len(pkeys) != 1 or pkeys[0] not in splits or not isinstance(index, int) \
                    or not 0 <= index < len(splits[pkeys[0]]):
                raise CheckFailed(f"{what} has a malformed node without a module")
            made[key] = splits[pkeys[0]][index]
            continue
        kind = _kind(module)
        mod = _trusted_module(module, kind)
        if not pkeys:
            made[key] = mod()
        else:
            fed = [made[p] for p in pkeys]
            made[key] = mod(fed if len(fed) > 1 else fed[0])
        if kind == "Linear":
            linears.append((mod, tuple(input_pos[p] for p in pkeys if p in input_pos)))
    try:
        graph = nn.gModule([made[_key(n)] for n in inputs], [made[_key(n)] for n in outputs])
    except KeyError:
        raise CheckFailed(f"{what} has an input or output node that is not in its graph") \
            from None
    except (TypeError, ValueError) as exc:
        raise CheckFailed(f"{what} is not a valid graph: {exc}") from None
    return _Rebuilt(graph, linears)


def _learner_graph(builder, name, *args):
    """Call the learner's builder and rebuild its graph from reference modules."""
    g = call_learner(builder, *args, name=name)
    if g is None:
        raise CheckFailed(f"{name} returned None; it should return the nn.gModule it builds")
    return _rebuild(g, name)


def _set_linear(mod, W, b):
    """Give a reference Linear of the rebuilt graph the check's own parameters (and their
    size, (out, in) from ``W``)."""
    mod.weight, mod.bias = np.array(W, dtype=np.float64), np.array(b, dtype=np.float64)
    mod.gradWeight, mod.gradBias = np.zeros_like(mod.weight), np.zeros_like(mod.bias)
    mod.outputSize, mod.inputSize = mod.weight.shape


def _run_graph(rebuilt, inputs, what):
    """Forward through the rebuilt graph; a shape mismatch of the learner's wiring is the
    learner's mistake, reported as such."""
    try:
        return rebuilt.graph.forward(_copy(inputs))
    except (TypeError, ValueError, IndexError) as exc:
        raise CheckFailed(f"{what}: running your graph failed: {exc}") from None


def _backward_graph(rebuilt, inputs, grad, what):
    try:
        rebuilt.graph.zeroGradParameters()
        rebuilt.graph.forward(_copy(inputs))
        return rebuilt.graph.backward(_copy(inputs), _copy(grad))
    except (TypeError, ValueError, IndexError) as exc:
        raise CheckFailed(f"{what}: running your graph backward failed: {exc}") from None


def _one_linear(rebuilt, name, n_in, n_out, feeds=None):
    if len(rebuilt.linears) != 1:
        raise CheckFailed(f"{name}(...) should hold exactly one Linear, found "
                          f"{len(rebuilt.linears)}")
    mod, fed_by = rebuilt.linears[0]
    if feeds is not None and fed_by != (feeds,):
        raise CheckFailed(f"the Linear of {name} should be fed by input {feeds + 1} alone")
    return mod


def _z_data(n_in, n_out, N, seed):
    if seed is None:  # the seed's own inputs
        if N is not None:
            raise ValueError("the seed's inputs are 1-D: pass N=None with seed=None")
        h1 = np.arange(1.0, n_out + 1.0)
        return [h1, np.ones(n_out), 2.0 * np.ones(n_in)], np.ones(n_out)
    rng = rng_for(seed)
    inputs = [rng.standard_normal(_shape(N, n)) for n in (n_out, n_out, n_in)]
    return inputs, rng.standard_normal(_shape(N, n_out))


def _draw_linear(seed, n_in, n_out):
    """Parameters drawn by the check (never read from the learner's objects)."""
    rng = rng_for(seed + 1000003)
    return rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), rng.standard_normal(n_out) * 0.5


def _ref_z(W, b):
    nn = _graph
    x1, x2, x3 = nn.Identity()(), nn.Identity()(), nn.Identity()()
    lin = nn.Linear(W.shape[1], W.shape[0])
    _set_linear(lin, W, b)
    z = nn.CAddTable()([x1, nn.CMulTable()([x2, lin(x3)])])
    g = nn.gModule([x1, x2, x3], [z])
    g.zeroGradParameters()
    return g


def _z_graph(build_z_network, n_in, n_out, seed):
    name = "build_z_network"
    rebuilt = _learner_graph(build_z_network, name, n_in, n_out)
    W, b = _draw_linear(0 if seed is None else seed, n_in, n_out)
    _set_linear(_one_linear(rebuilt, name, n_in, n_out), W, b)
    return rebuilt, W, b


@check
def z_forward(build_z_network, n_in=20, n_out=10, N=None, seed=None):
    """The output of the graph ``build_z_network(n_in, n_out)`` builds is
    ``x1 + x2 * (x3 W^T + b)``; the graph is rebuilt from reference modules with the
    check's own ``W, b``; ``seed=None`` uses the seed's inputs (1..10, ones, twos)."""
    rebuilt, W, b = _z_graph(build_z_network, n_in, n_out, seed)
    inputs, _ = _z_data(n_in, n_out, N, seed)
    got = _run_graph(rebuilt, inputs, "the z network")
    expected = _ref_z(W, b).forward(_copy(inputs))
    lin = inputs[2] @ W.T + b
    wrong = [
        (inputs[1] * lin, "x1 was not added"),
        (inputs[0] + inputs[1] + lin, "x2 and linear(x3) were added instead of multiplied"),
        (inputs[0] * inputs[1] + lin, "the wrong pair was multiplied: z = x1 + x2 * linear(x3)"),
    ]
    _compare("the network's output", got, expected, wrong)
    return "z = x1 + x2 * linear(x3), forward"


@check
def z_backward(build_z_network, which, n_in=20, n_out=10, N=3, seed=50):
    """One gradient of the z network (rebuilt from reference modules, the check's own
    parameters) after ``forward`` then ``backward``: ``which`` is ``"x1"``, ``"x2"``,
    ``"x3"`` (gradInput) or ``"weight"``, ``"bias"`` (the Linear's)."""
    names = ("x1", "x2", "x3", "weight", "bias")
    if which not in names:
        raise ValueError(f"which must be one of {names}, got {which!r}")
    rebuilt, W, b = _z_graph(build_z_network, n_in, n_out, seed)
    inputs, grad = _z_data(n_in, n_out, N, seed)
    gin = _backward_graph(rebuilt, inputs, grad, "the z network")
    ref = _ref_z(W, b)
    ref.forward(_copy(inputs))
    ref_gin = ref.backward(_copy(inputs), grad.copy())
    if which in ("weight", "bias"):
        expected = ref.parameters()[1][0 if which == "weight" else 1]
        lin = rebuilt.linears[0][0]
        got = lin.gradWeight if which == "weight" else lin.gradBias
    else:
        k = names.index(which)
        got = _expect_list("the network's gradInput", gin, 3)[k]
        expected = ref_gin[k]
    _compare(f"the gradient on {which}", got, expected)
    return f"z network, gradient on {which}"


def _cell_data(D, H, N, seed):
    rng = rng_for(seed)
    return (rng.standard_normal(_shape(N, D)), rng.standard_normal(_shape(N, H)),
            rng.standard_normal(_shape(N, H))), (rng.standard_normal(_shape(N, H)),
                                                 rng.standard_normal(_shape(N, H)))


def _cell_graph(builder, D, H, seed):
    """The learner's cell rebuilt from reference modules, its two Linears set to weights
    the check draws; returns ``(rebuilt, Wx (D, 4H), Wh (H, 4H), b (4H,))``."""
    name = "build_lstm_cell"
    rebuilt = _learner_graph(builder, name, D, H)
    by_input = {fed: mod for mod, fed in rebuilt.linears}
    if len(rebuilt.linears) != 2 or set(by_input) != {(0,), (2,)}:
        raise CheckFailed("build_lstm_cell should hold two Linears, one fed by x (input 1) "
                          "and one fed by prev_h (input 3), as char-rnn's cell does")
    i2h, h2h = by_input[(0,)], by_input[(2,)]
    Wi, bi = _draw_linear(seed, D, 4 * H)
    Wh, bh = _draw_linear(seed + 1, H, 4 * H)
    _set_linear(i2h, Wi, bi)
    _set_linear(h2h, Wh, bh)
    return rebuilt, Wi.T, Wh.T, bi + bh


def _as2d(a):
    return a[None, :] if a.ndim == 1 else a


@check
def lstm_cell_forward(build_lstm_cell, which, D=3, H=4, N=2, seed=60):
    """``next_c`` (``which="c"``) or ``next_h`` (``"h"``) of the cell ``build_lstm_cell(D, H)``
    builds (rebuilt from reference modules, the check's own weights) on
    ``[x, prev_c, prev_h]`` equals :func:`lstm_ref.numpy.lstm.lstm_step_forward` with
    ``Wx = W_i2h^T``, ``Wh = W_h2h^T``, ``b = b_i2h + b_h2h`` (gates i, f, g, o)."""
    if which not in ("c", "h"):
        raise ValueError(f"which must be 'c' or 'h', got {which!r}")
    rebuilt, Wx, Wh, b = _cell_graph(build_lstm_cell, D, H, seed)
    (x, c, h), _ = _cell_data(D, H, N, seed)
    out = _expect_list("the cell's output", _run_graph(rebuilt, [x, c, h], "the LSTM cell"), 2)
    got = out[0 if which == "c" else 1]

    def step(Wx, Wh, b):
        hn, cn, _ = _lstm.lstm_step_forward(_as2d(x), _as2d(h), _as2d(c), Wx, Wh, b)
        r = cn if which == "c" else hn
        return r[0] if x.ndim == 1 else r

    expected = step(Wx, Wh, b)
    ifog = [_convert.reorder_gates(w, "ifgo", "ifog") for w in (Wx, Wh, b)]
    wrong = [(step(*ifog), "the gate blocks are read in char-rnn's order i, f, o, g; this "
              "exercise stacks them i, f, g, o (columns [0:H] input, [H:2H] forget, [2H:3H] "
              "candidate, [3H:4H] output)")]
    _compare(f"next_{which}", got, expected, wrong)
    return f"LSTM cell from nodes, next_{which}"


@check
def lstm_cell_backward(build_lstm_cell, which, D=3, H=4, N=2, seed=70):
    """The gradient on ``x``, ``prev_c`` or ``prev_h`` of the cell (rebuilt from reference
    modules, the check's own weights) with upstream gradients ``[dnext_c, dnext_h]``,
    against :func:`lstm_ref.numpy.lstm.lstm_step_backward`."""
    names = ("x", "prev_c", "prev_h")
    if which not in names:
        raise ValueError(f"which must be one of {names}, got {which!r}")
    rebuilt, Wx, Wh, b = _cell_graph(build_lstm_cell, D, H, seed)
    (x, c, h), (dc, dh) = _cell_data(D, H, N, seed)
    gin = _backward_graph(rebuilt, [x, c, h], [dc, dh], "the LSTM cell")
    got = _expect_list("the cell's gradInput", gin, 3)[names.index(which)]
    _, _, cache = _lstm.lstm_step_forward(_as2d(x), _as2d(h), _as2d(c), Wx, Wh, b)
    dx, dh_prev, dc_prev, _, _, _ = _lstm.lstm_step_backward(_as2d(dh), _as2d(dc), cache)
    expected = {"x": dx, "prev_c": dc_prev, "prev_h": dh_prev}[which]
    if x.ndim == 1:
        expected = expected[0]
    _compare(f"the gradient on {which}", got, expected)
    return f"LSTM cell from nodes, gradient on {which}"


def _fanout_data(D, N, seed):
    rng = rng_for(seed)
    return rng.standard_normal(_shape(N, D)), rng.standard_normal(_shape(N, D))


def _fanout_wrong(x, W, dz):
    return [
        (x * dz + dz @ W, "only one of the two CMulTable inputs' gradients reached x: x feeds "
         "that node twice, and both gradients must be added"),
        (2 * x * dz, "the gradient through the Linear branch is missing: x feeds three places, "
         "and the gradients from all of them add up"),
        (dz @ W, "only the Linear branch's gradient is there: x also feeds the product twice"),
        (2 * x * dz + dz @ W.T if W.shape[0] == W.shape[1] else None,
         "the Linear branch uses the transposed weight"),
    ]


def _fanout_reference_grad(x, W, b, dz):
    """The gradient on ``x`` of the reference graph ``z = x * x + x W^T + b``."""
    nn = _graph
    xin = nn.Identity()()
    lin = nn.Linear(W.shape[1], W.shape[0])
    lin.weight[...], lin.bias[...] = W, b
    ref = nn.gModule([xin], [nn.CAddTable()([nn.CMulTable()([xin, xin]), lin(xin)])])
    ref.forward(x.copy())
    expected = ref.backward(x.copy(), dz.copy())
    return expected[0] if isinstance(expected, list) else expected


@check
def fanout_backward(build_fanout_network, D=4, N=3, seed=80):
    """The graph ``build_fanout_network(D)`` builds, ``z = x * x + linear(x)`` (rebuilt from
    reference modules, the check's own weights): its gradient on ``x`` sums what the three
    uses of ``x`` send back."""
    name = "build_fanout_network"
    rebuilt = _learner_graph(build_fanout_network, name, D)
    W, b = _draw_linear(seed, D, D)
    _set_linear(_one_linear(rebuilt, name, D, D), W, b)
    x, dz = _fanout_data(D, N, seed)
    got = _backward_graph(rebuilt, x, dz, "the fan-out network")
    if isinstance(got, (list, tuple)) and len(got) == 1:
        got = got[0]
    expected = _fanout_reference_grad(x, W, b, dz)
    _compare("the gradient on x", got, expected, _fanout_wrong(x, W, dz))
    return "fan-out network, gradient on x"


@check
def fanout_by_hand(fanout_gradient, D=4, N=3, seed=90):
    """``fanout_gradient(x, W, dz)``, written by hand, equals the reference graph's
    gradient on ``x`` of ``z = x * x + x W^T + b``."""
    x, dz = _fanout_data(D, N, seed)
    rng = rng_for(seed + 1)
    W = rng.standard_normal((D, D)) / np.sqrt(D)
    got = call_learner(fanout_gradient, x.copy(), W.copy(), dz.copy(), name="fanout_gradient")
    expected = _fanout_reference_grad(x, W, 0.0, dz)
    _compare("fanout_gradient's result", got, expected, _fanout_wrong(x, W, dz))
    return "fan-out gradient by hand"
