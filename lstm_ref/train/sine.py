r"""Chapter 1's experiment: a tiny tanh RNN learns to predict a sine wave, in numpy.

The model is :func:`lstm_ref.numpy.rnn_forward` followed by a linear read-out at every step,

.. math::
    h_t = \tanh(x_t W_x + h_{t-1} W_h + b), \qquad \hat y_t = h_t W_y + b_y,

trained on the mean squared error of :func:`lstm_ref.data.sine.make_sine_batch` with
backpropagation through time (:func:`lstm_ref.numpy.rnn_backward`) and Adam. With
``recurrent=False`` the recurrent matrix stays zero: the same network without memory.
"""

from dataclasses import dataclass, field

import numpy as np

from ..data.sine import make_sine_batch
from ..numpy.rnn import rnn_backward, rnn_forward


@dataclass
class SineRNN:
    """Parameters of the sine predictor: ``Wx (1, H)``, ``Wh (H, H)``, ``b (H,)``,
    ``Wy (H, 1)``, ``by (1,)``."""

    Wx: np.ndarray
    Wh: np.ndarray
    b: np.ndarray
    Wy: np.ndarray
    by: np.ndarray

    @classmethod
    def init(cls, H, rng, recurrent=True):
        Wh = rng.standard_normal((H, H)) / np.sqrt(H) * 0.5 if recurrent else np.zeros((H, H))
        return cls(Wx=rng.standard_normal((1, H)), Wh=Wh, b=np.zeros(H),
                   Wy=rng.standard_normal((H, 1)) / np.sqrt(H), by=np.zeros(1))

    def names(self):
        return ("Wx", "Wh", "b", "Wy", "by")

    def predict(self, x):
        """Predictions ``(T, N, 1)`` for inputs ``x (T, N, 1)``, starting from ``h0 = 0``."""
        h0 = np.zeros((x.shape[1], self.Wh.shape[0]), dtype=x.dtype)
        h, _ = rnn_forward(x, h0, self.Wx, self.Wh, self.b)
        return h @ self.Wy + self.by


def loss_and_grads(model, x, y):
    """Mean squared error over every step and sequence, and its gradients (a dict)."""
    T, N, _ = x.shape
    h0 = np.zeros((N, model.Wh.shape[0]), dtype=x.dtype)
    h, cache = rnn_forward(x, h0, model.Wx, model.Wh, model.b)  # (T, N, H)
    pred = h @ model.Wy + model.by  # (T, N, 1)
    diff = pred - y
    loss = float(np.mean(diff ** 2))
    dpred = 2.0 * diff / diff.size  # (T, N, 1)
    grads = {"Wy": np.einsum("tnh,tno->ho", h, dpred), "by": dpred.sum(axis=(0, 1))}
    dh = dpred @ model.Wy.T  # (T, N, H): the read-out's gradient on every h_t
    _, _, grads["Wx"], grads["Wh"], grads["b"] = rnn_backward(dh, cache)
    return loss, grads


@dataclass
class SineRun:
    """A trained model and its history."""

    model: SineRNN
    steps: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)


def train_sine(H=16, steps=400, T=40, batch_size=32, lr=0.01, seed=0, recurrent=True,
               eval_every=10, n_test=256):
    """Train the sine predictor with Adam; returns a :class:`SineRun`.

    The test loss is measured every ``eval_every`` steps on ``n_test`` fixed sequences drawn
    from another seed. With ``recurrent=False``, ``Wh`` stays zero (its gradient is dropped).
    """
    rng = np.random.default_rng(seed)
    x_test, y_test = make_sine_batch(n_test, T, np.random.default_rng(seed + 10_000))
    model = SineRNN.init(H, rng, recurrent=recurrent)
    m = {k: np.zeros_like(getattr(model, k)) for k in model.names()}
    v = {k: np.zeros_like(getattr(model, k)) for k in model.names()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    run = SineRun(model=model)
    for step in range(1, steps + 1):
        x, y = make_sine_batch(batch_size, T, rng)
        loss, grads = loss_and_grads(model, x, y)
        if not recurrent:
            grads["Wh"] = np.zeros_like(grads["Wh"])
        for k in model.names():
            m[k] = beta1 * m[k] + (1 - beta1) * grads[k]
            v[k] = beta2 * v[k] + (1 - beta2) * grads[k] ** 2
            m_hat = m[k] / (1 - beta1 ** step)
            v_hat = v[k] / (1 - beta2 ** step)
            setattr(model, k, getattr(model, k) - lr * m_hat / (np.sqrt(v_hat) + eps))
        if step % eval_every == 0 or step == 1:
            run.steps.append(step)
            run.train_loss.append(loss)
            run.test_loss.append(float(np.mean((model.predict(x_test) - y_test) ** 2)))
    return run
