"""lstm_ref.train.sine: the gradients of chapter 1's experiment, and that it learns."""

import numpy as np

from lstm_ref.data.sine import make_sine_batch
from lstm_ref.gradcheck import numeric_gradient, rel_error
from lstm_ref.train.sine import SineRNN, loss_and_grads, train_sine


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    model = SineRNN.init(4, rng)
    x, y = make_sine_batch(3, 5, rng)
    _, grads = loss_and_grads(model, x, y)
    for name in model.names():
        param = getattr(model, name)

        def loss(_):
            return np.array(loss_and_grads(model, x, y)[0])

        num = numeric_gradient(loss, param, np.array(1.0))
        assert rel_error(grads[name], num) < 1e-6, name


def test_recurrence_learns_what_the_feed_forward_control_cannot():
    rnn = train_sine(H=8, steps=150, T=20, seed=1)
    ff = train_sine(H=8, steps=150, T=20, seed=1, recurrent=False)
    assert rnn.test_loss[-1] < rnn.test_loss[0] / 5
    assert rnn.test_loss[-1] < ff.test_loss[-1] / 3
    assert not np.any(ff.model.Wh)
