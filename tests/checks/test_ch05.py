"""The chapter-5 checks: correct modules and graphs pass, typical mistakes get their hint,
a backward check does not depend on the learner's forward, the reference is locked."""

import numpy as np
import pytest

import lstm_ref.graph as nn
from lstm_ref.checks import ch05 as checks
from lstm_ref.checks._common import CheckFailed

# --- correct learner code (written here, independently of the reference modules) ---------


class GoodCMul(nn.Module):
    def updateOutput(self, input):
        out = np.ones_like(input[0], dtype=np.float64)
        for x in input:
            out = out * x
        self.output = out
        return out

    def updateGradInput(self, input, gradOutput):
        grads = []
        for j in range(len(input)):
            g = gradOutput.copy()
            for i, x in enumerate(input):
                if i != j:
                    g = g * x
            grads.append(g)
        self.gradInput = grads
        return grads


class GoodLinear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        rng = np.random.default_rng(0)
        bound = 1 / np.sqrt(n_in)
        self.weight = rng.uniform(-bound, bound, (n_out, n_in))
        self.bias = rng.uniform(-bound, bound, n_out)
        self.gradWeight = np.zeros((n_out, n_in))
        self.gradBias = np.zeros(n_out)

    def updateOutput(self, input):
        self.output = input @ self.weight.T + self.bias
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput @ self.weight
        return self.gradInput

    def _dW(self, input, gradOutput):
        return np.outer(gradOutput, input) if input.ndim == 1 else gradOutput.T @ input

    def _db(self, gradOutput):
        return gradOutput if gradOutput.ndim == 1 else gradOutput.sum(0)

    def accGradParameters(self, input, gradOutput, scale=1.0):
        self.gradWeight += scale * self._dW(input, gradOutput)
        self.gradBias += scale * self._db(gradOutput)

    def parameters(self):
        return [self.weight, self.bias], [self.gradWeight, self.gradBias]


class CMulTable(GoodCMul):
    """Named as in the notebook: the graph checks rebuild a learner's graph from reference
    modules, reading each module's kind from its class name."""


class Linear(GoodLinear):
    """Named as in the notebook (see CMulTable)."""


def good_z(n_in, n_out, CMul=CMulTable, Lin=Linear):
    x1, x2, x3 = nn.Identity()(), nn.Identity()(), nn.Identity()()
    z = nn.CAddTable()([x1, CMul()([x2, Lin(n_in, n_out)(x3)])])
    return nn.gModule([x1, x2, x3], [z])


def good_cell(D, H, order="ifgo"):
    x, prev_c, prev_h = nn.Identity()(), nn.Identity()(), nn.Identity()()
    a = nn.CAddTable()([Linear(D, 4 * H)(x), Linear(H, 4 * H)(prev_h)])
    blocks = {name: nn.Narrow(-1, k * H + 1, H)(a) for k, name in enumerate(order)}
    i, f, o = (nn.Sigmoid()(blocks[n]) for n in "ifo")
    g = nn.Tanh()(blocks["g"])
    next_c = nn.CAddTable()([CMulTable()([f, prev_c]), CMulTable()([i, g])])
    next_h = CMulTable()([o, nn.Tanh()(next_c)])
    return nn.gModule([x, prev_c, prev_h], [next_c, next_h])


def good_fanout(D):
    x = nn.Identity()()
    return nn.gModule([x], [nn.CAddTable()([CMulTable()([x, x]), Linear(D, D)(x)])])


def good_fanout_gradient(x, W, dz):
    return 2 * x * dz + dz @ W


# --- every check passes on correct code, with one OK line on stdout ----------------------


ALL_PASSING = [
    lambda: checks.cmul_forward(GoodCMul),
    lambda: checks.cmul_forward(GoodCMul, k=4, seed=3, shape=(5,)),
    lambda: checks.cmul_backward(GoodCMul),
    lambda: checks.cmul_backward(GoodCMul, k=3, seed=4, shape=(2, 2)),
    lambda: checks.linear_init(GoodLinear),
    lambda: checks.linear_forward(GoodLinear),
    lambda: checks.linear_forward(GoodLinear, N=None),
    lambda: checks.linear_grad_input(GoodLinear, n_in=3, n_out=3),
    lambda: checks.linear_acc_grad(GoodLinear, "gradWeight", scale=0.5),
    lambda: checks.linear_acc_grad(GoodLinear, "gradBias", N=None),
    lambda: checks.z_forward(good_z),
    lambda: checks.z_backward(good_z, "x3"),
    lambda: checks.z_backward(good_z, "weight", N=None, seed=2),
    lambda: checks.z_backward(good_z, "bias"),
    lambda: checks.lstm_cell_forward(good_cell, "h"),
    lambda: checks.lstm_cell_forward(good_cell, "c", N=None),
    lambda: checks.lstm_cell_backward(good_cell, "prev_h"),
    lambda: checks.lstm_cell_backward(good_cell, "x", H=1, N=3),
    lambda: checks.fanout_backward(good_fanout),
    lambda: checks.fanout_by_hand(good_fanout_gradient),
]


@pytest.mark.parametrize("run", ALL_PASSING)
def test_correct_code_passes_with_one_ok_line(run, capsys):
    run()
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("OK: ") and out.count("\n") == 1


# --- a catalogue of typical wrong implementations and the hint each must get -------------


class CMulFirstTwo(GoodCMul):
    def updateOutput(self, input):
        self.output = input[0] * input[1]
        return self.output


class CMulAdds(GoodCMul):
    def updateOutput(self, input):
        self.output = sum(input)
        return self.output


class CMulOwnInput(GoodCMul):
    def updateGradInput(self, input, gradOutput):
        self.gradInput = [gradOutput * x for x in input]
        return self.gradInput


class CMulNoGradOutput(GoodCMul):
    def updateGradInput(self, input, gradOutput):
        return super().updateGradInput(input, np.ones_like(gradOutput))


class CMulOneOther(GoodCMul):
    def updateGradInput(self, input, gradOutput):
        k = len(input)
        self.gradInput = [gradOutput * input[(j + 1) % k] for j in range(k)]
        return self.gradInput


class LinearNoBias(GoodLinear):
    def updateOutput(self, input):
        self.output = input @ self.weight.T
        return self.output


class LinearTransposedForward(GoodLinear):
    def updateOutput(self, input):
        self.output = input @ self.weight + self.bias
        return self.output


class LinearTransposedBackward(GoodLinear):
    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput @ self.weight.T
        return self.gradInput


class LinearOverwrites(GoodLinear):
    def accGradParameters(self, input, gradOutput, scale=1.0):
        self.gradWeight = scale * self._dW(input, gradOutput)
        self.gradBias = scale * self._db(gradOutput)


class LinearNoScale(GoodLinear):
    def accGradParameters(self, input, gradOutput, scale=1.0):
        super().accGradParameters(input, gradOutput, 1.0)


class LinearTransposedGrad(GoodLinear):
    def accGradParameters(self, input, gradOutput, scale=1.0):
        self.gradWeight += scale * self._dW(input, gradOutput).T
        self.gradBias += scale * self._db(gradOutput)


class LinearMean(GoodLinear):
    def accGradParameters(self, input, gradOutput, scale=1.0):
        super().accGradParameters(input, gradOutput, scale / len(input))


class LinearTransposedShape(GoodLinear):
    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out)
        self.weight = self.weight.T.copy()


class LinearConstant(GoodLinear):
    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out)
        self.weight[...] = 0.1


def z_without_x1(n_in, n_out):
    x1, x2, x3 = nn.Identity()(), nn.Identity()(), nn.Identity()()
    z = CMulTable()([x2, Linear(n_in, n_out)(x3)])
    # nngraph refuses an input that does not reach an output: x1 * (x1 - x1) keeps it connected
    zero = CMulTable()([x1, nn.CSubTable()([x1, x1])])
    return nn.gModule([x1, x2, x3], [nn.CAddTable()([z, zero])])


def z_added(n_in, n_out):
    x1, x2, x3 = nn.Identity()(), nn.Identity()(), nn.Identity()()
    z = nn.CAddTable()([x1, x2, Linear(n_in, n_out)(x3)])
    return nn.gModule([x1, x2, x3], [z])


def cell_ifog(D, H):
    return good_cell(D, H, order="ifog")


def fanout_by_hand_once(x, W, dz):
    return x * dz + dz @ W


def fanout_by_hand_no_linear(x, W, dz):
    return 2 * x * dz


def fanout_by_hand_transposed(x, W, dz):
    return 2 * x * dz + dz @ W.T


CATALOGUE = [
    ("cmul product of the first two only", lambda: checks.cmul_forward(CMulFirstTwo, k=3),
     "only the first two inputs"),
    ("cmul adds", lambda: checks.cmul_forward(CMulAdds), "added, not multiplied"),
    ("cmul gradient times own input", lambda: checks.cmul_backward(CMulOwnInput),
     "multiplied by input j itself"),
    ("cmul gradOutput forgotten", lambda: checks.cmul_backward(CMulNoGradOutput),
     "gradOutput is missing"),
    ("cmul one other input", lambda: checks.cmul_backward(CMulOneOther, k=3),
     "all k - 1 others"),
    ("linear no bias", lambda: checks.linear_forward(LinearNoBias), "bias is missing"),
    ("linear transposed forward", lambda: checks.linear_forward(LinearTransposedForward, n_in=4, n_out=4),
     "transpose"),
    ("linear transposed backward", lambda: checks.linear_grad_input(LinearTransposedBackward, n_in=4, n_out=4),
     "weight is transposed"),
    ("gradWeight overwritten", lambda: checks.linear_acc_grad(LinearOverwrites, "gradWeight"),
     "overwritten"),
    ("gradBias overwritten", lambda: checks.linear_acc_grad(LinearOverwrites, "gradBias"),
     "overwritten"),
    ("scale ignored", lambda: checks.linear_acc_grad(LinearNoScale, "gradWeight", scale=0.5),
     "scale argument was ignored"),
    ("gradWeight transposed", lambda: checks.linear_acc_grad(LinearTransposedGrad, "gradWeight", n_in=4, n_out=4),
     "gradWeight is transposed"),
    ("gradient averaged", lambda: checks.linear_acc_grad(LinearMean, "gradBias", N=5),
     "averaged over the batch"),
    ("weight (in, out)", lambda: checks.linear_init(LinearTransposedShape), "the transpose"),
    ("constant weights", lambda: checks.linear_init(LinearConstant), "draw them at random"),
    ("z without x1", lambda: checks.z_forward(z_without_x1), "x1 was not added"),
    ("z all added", lambda: checks.z_forward(z_added), "added instead of multiplied"),
    ("cell gates i, f, o, g", lambda: checks.lstm_cell_forward(cell_ifog, "h"), "i, f, o, g"),
    ("fan-out counted once", lambda: checks.fanout_by_hand(fanout_by_hand_once),
     "both gradients must be added"),
    ("fan-out linear branch lost", lambda: checks.fanout_by_hand(fanout_by_hand_no_linear),
     "Linear branch is missing"),
    ("fan-out transposed", lambda: checks.fanout_by_hand(fanout_by_hand_transposed),
     "transposed weight"),
]


@pytest.mark.parametrize("label,run,hint", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_typical_mistake_gets_its_hint(label, run, hint, capsys):
    with pytest.raises(CheckFailed) as info:
        run()
    assert hint in str(info.value), str(info.value)
    assert "Hint" in str(info.value) or "transpose" in str(info.value) or "random" in str(info.value)
    assert capsys.readouterr().err == ""


def test_failure_messages_never_show_expected_numbers():
    with pytest.raises(CheckFailed) as info:
        checks.linear_forward(LinearNoBias)
    message = str(info.value)
    ref = nn.Linear(5, 3)
    assert "[" not in message.replace("[0:H]", "")
    assert str(round(float(ref.weight[0, 0]), 3)) not in message


# --- a backward check never depends on the learner's forward -----------------------------


class CMulBrokenForward(GoodCMul):
    def updateOutput(self, input):
        self.output = np.zeros_like(input[0])
        return self.output


class CMulBackwardFromOutput(GoodCMul):
    """A backward that divides the output by each input (as some Lua versions did): it
    works only if ``output`` holds the right product, which the check provides."""

    def updateOutput(self, input):
        self.output = sum(input)  # wrong
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = [gradOutput * self.output / x for x in input]
        return self.gradInput


class LinearBrokenForward(GoodLinear):
    def updateOutput(self, input):
        raise ValueError("forward broken")


def test_backward_checks_pass_with_a_broken_forward(capsys):
    with pytest.raises(CheckFailed):
        checks.cmul_forward(CMulBrokenForward)
    checks.cmul_backward(CMulBrokenForward)
    checks.cmul_backward(CMulBackwardFromOutput, k=3)
    with pytest.raises(CheckFailed, match="forward broken"):
        checks.linear_forward(LinearBrokenForward)
    checks.linear_grad_input(LinearBrokenForward)
    checks.linear_acc_grad(LinearBrokenForward, "gradWeight")
    checks.linear_acc_grad(LinearBrokenForward, "gradBias")
    assert capsys.readouterr().out.count("OK: ") == 5


# --- the reference is locked while learner code runs --------------------------------------


class CMulCallsReference(nn.CMulTable):
    pass


class LinearCallsReference(nn.Linear):
    pass


def test_calling_the_reference_earns_nothing():
    with pytest.raises(CheckFailed, match="reference implementation"):
        checks.cmul_forward(CMulCallsReference)
    with pytest.raises(CheckFailed, match="reference implementation"):
        checks.cmul_backward(CMulCallsReference)
    with pytest.raises(CheckFailed, match="reference implementation"):
        checks.linear_grad_input(LinearCallsReference)
    with pytest.raises(CheckFailed, match="reference implementation"):
        checks.linear_acc_grad(LinearCallsReference, "gradWeight")
    # after the checks, the reference works again
    out = nn.CMulTable().updateOutput([np.ones(2), 2 * np.ones(2)])
    np.testing.assert_array_equal(out, [2.0, 2.0])


def test_reference_exercised_names_resolve():
    import importlib

    assert len(checks.REFERENCE_EXERCISED) == 5
    for entry in checks.REFERENCE_EXERCISED:
        module, qualname = entry.split(":")
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        assert callable(obj)
        assert obj in checks.LOCKED


def test_stub_raises_give_a_clear_message():
    class Stub(nn.Module):
        def updateOutput(self, input):
            raise NotImplementedError

    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks.cmul_forward(Stub)

    def stub_builder(*args):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks.z_forward(stub_builder)


def test_inputs_modified_in_place_are_reported():
    class CMulInPlace(GoodCMul):
        def updateOutput(self, input):
            input[0] *= 2
            return super().updateOutput(input)

    with pytest.raises(CheckFailed, match="modified"):
        checks.cmul_forward(CMulInPlace)


def test_bad_arguments_to_checks_are_clear():
    with pytest.raises(ValueError, match="gradWeight"):
        checks.linear_acc_grad(GoodLinear, "weight")
    with pytest.raises(ValueError, match="which"):
        checks.z_backward(good_z, "x4")
