"""The character language model of :mod:`lstm_ref.train.charlm`: an embedding, a stack of
LSTM layers (one of four implementations of the same function) and a linear readout."""

import torch
from torch import nn

MODELS = ("cudnn", "ours", "ours-compiled", "fused")


def make_lstm(model, input_size, hidden_size, layers):
    """The LSTM stack: ``"cudnn"`` is ``torch.nn.LSTM`` (cuDNN on a GPU), ``"ours"``
    :class:`lstm_ref.torch.LSTM`, ``"ours-compiled"`` the same compiled with
    ``torch.compile`` (in place, so the state dict keeps its keys), ``"fused"``
    :class:`lstm_ref.torch.fused.FusedLSTM` (on CUDA its step loops are recorded as CUDA
    graphs once per segment length and replayed). All four have torch's parameter names."""
    if model == "cudnn":
        return nn.LSTM(input_size, hidden_size, layers)
    if model in ("ours", "ours-compiled"):
        from ...torch import LSTM

        lstm = LSTM(input_size, hidden_size, layers)
        if model == "ours-compiled":
            lstm.compile()
        return lstm
    if model == "fused":
        from ...torch.fused import FusedLSTM

        return FusedLSTM(input_size, hidden_size, layers, cuda_graphs=True)
    raise ValueError(f"model must be one of {MODELS}, got {model!r}")


class CharLM(nn.Module):
    r"""A character-level LSTM language model.

    .. math::
        e_t = E[x_t], \quad h_t = \text{LSTM}(e_t, h_{t-1}), \quad
        p(x_{t+1} \mid x_{\le t}) = \operatorname{softmax}(W h_t + b)

    Args:
        vocab_size: ``V``; hidden_size: ``H`` (also the embedding size); layers: stacked
            LSTM layers; model: one of :data:`MODELS`.

    Shapes:
        - input ``x (T, N)`` integer ids, time-major; state ``(h, c)`` each
          ``(layers, N, H)`` or None for zeros.
        - output ``(logits (T, N, V), (h, c))``.
    """

    def __init__(self, vocab_size, hidden_size, layers=1, model="cudnn"):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden_size)
        self.lstm = make_lstm(model, hidden_size, hidden_size, layers)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)  # (T, N, H)
        return self.head(out), state

    @torch.no_grad()
    def sample(self, prime_ids, length, temperature=1.0, generator=None):
        """``length`` ids drawn one at a time after feeding ``prime_ids`` (a list of ids)."""
        device = self.head.weight.device
        x = torch.as_tensor(prime_ids, dtype=torch.long, device=device).reshape(-1, 1)
        logits, state = self(x)
        out = []
        for _ in range(length):
            probs = torch.softmax(logits[-1, 0].float() / temperature, dim=-1)
            nxt = torch.multinomial(probs.cpu(), 1, generator=generator)
            out.append(int(nxt))
            logits, state = self(nxt.to(device).reshape(1, 1), state)
        return out
