"""Functional numpy implementations: a forward returns ``(out, cache)``, a backward takes
``(dout, cache)`` and returns gradients in the order of the forward's inputs.

Importing this module never imports torch or matplotlib.
"""

from .activations import sigmoid
from .lstm import (
    init_forget_bias,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
)
from .rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward

__all__ = [
    "sigmoid",
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
    "init_forget_bias",
]

# Chapter 2: Jacobians, the vanishing-gradient bound, clipping.
from .vanishing import (  # noqa: E402
    GAMMA,
    activation_and_derivative,
    clip_grad_norm,
    clip_grad_value,
    input_sensitivity,
    jacobian_norms,
    norm_bound,
    pascanu_rnn_states,
    random_recurrent_matrix,
    rnn_jacobian,
)

__all__ += [
    "GAMMA",
    "activation_and_derivative",
    "random_recurrent_matrix",
    "pascanu_rnn_states",
    "rnn_jacobian",
    "jacobian_norms",
    "input_sensitivity",
    "norm_bound",
    "clip_grad_norm",
    "clip_grad_value",
]

# Chapter 4: the GRU (both reset conventions).
from .gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward  # noqa: E402

__all__ += ["gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward"]

# Chapter 4: the LSTM family of Greff et al. (2017), one cell with switches.
from .variants import (  # noqa: E402
    VARIANTS,
    count_variant_params,
    init_variant_params,
    variant_lstm_backward,
    variant_lstm_forward,
    variant_lstm_step_forward,
    variant_param_shapes,
    variant_spec,
)

__all__ += [
    "VARIANTS",
    "variant_spec",
    "variant_param_shapes",
    "count_variant_params",
    "init_variant_params",
    "variant_lstm_forward",
    "variant_lstm_backward",
    "variant_lstm_step_forward",
]

# Chapter 4: stacked and bidirectional networks over any cell, torch's layouts.
from .stacked import final_states_from_output, stacked_backward, stacked_forward  # noqa: E402

__all__ += ["stacked_forward", "stacked_backward", "final_states_from_output"]
