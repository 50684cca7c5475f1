"""Bugs planted in a learner's solution cell, shared by the credit tests of the notebooks
(``tests/checks/test_notebook_credit.py``, in the learner's kernel) and of the grading
design (``tests/grading/test_credit_remote.py``, over the sandbox's proxies): each is one
mistake in one piece of work, which must cost only that piece's points."""

# ch01 and ch03: the step forward forgets "+ b"
RNN_STEP_NO_BIAS = """
_right_step = rnn_step_forward
def rnn_step_forward(x, h_prev, Wx, Wh, b):
    return _right_step(x, h_prev, Wx, Wh, 0 * b)  # the learner forgot + b
"""
LSTM_STEP_NO_BIAS = """
_right_step = lstm_step_forward
def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    return _right_step(x, h_prev, c_prev, Wx, Wh, 0 * b)  # the learner forgot + b
"""
# ch02: the bound forgets gamma
NORM_BOUND_NO_GAMMA = """
def norm_bound(W, gamma, steps):
    return np.linalg.norm(W, 2) ** np.asarray(steps, dtype=np.float64)  # gamma forgotten
"""
# ch04: the GRU step forgets "+ bh"
GRU_STEP_NO_BIAS = """
_right_step = gru_step_forward
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    return _right_step(x, h_prev, Wx, Wh, bx, 0 * bh)  # the learner forgot + bh
"""
# ch05: CMulTable's backward gives each input its own value instead of the others'
CMUL_OWN_VALUE = """
class CMulTable(CMulTable):
    def updateGradInput(self, input, gradOutput):  # each input's own value, not the others'
        self.gradInput = [gradOutput * x for x in input]
        return self.gradInput
"""
# ch06: the recurrent state is never detached between segments
TBPTT_NO_DETACH = """
def train_tbptt(params, streams, bptt, lr, n_segments):  # the state is never detached
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    N, H = streams.shape[1], p["w_hh"].shape[1]
    state = (p["w_hh"].new_zeros(N, H), p["w_hh"].new_zeros(N, H))
    losses = []
    for x, y in segments(streams, bptt)[:n_segments]:
        loss, state = lm_loss(p, x, y, state)
        for v in p.values():
            v.grad = None
        loss.backward()
        with torch.no_grad():
            for v in p.values():
                v -= lr * v.grad
        losses.append(loss.item())
    return losses, {k: v.detach() for k, v in p.items()}
"""
