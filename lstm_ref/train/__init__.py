"""Training loops and the experiments the book runs at build time, one module each:

- ``lstm_ref.train.sine``: a tiny tanh RNN learns to predict a sine wave (chapter 1);
  numpy only.
- ``lstm_ref.train.clipping``: a tanh RNN on the adding problem, with and without gradient
  clipping (chapter 2); numpy only.
- ``lstm_ref.train.adding``: an LSTM or a tanh RNN on the adding problem, and the LSTM's gate
  activations step by step (chapter 3); needs torch.
- ``lstm_ref.train.ablation``: the LSTM variants of Greff et al. trained on the continual
  embedded Reber grammar or on a^n b^n c^n, seeds and statistics (chapter 4); needs torch.
- ``lstm_ref.train.batched_variants``: many small variant cells trained at once, one tensor
  operation for all of them (the recorded runs of chapter 4); needs torch.

Import from the modules themselves (``from lstm_ref.train.adding import train_adding``);
importing ``lstm_ref.train`` alone imports none of them, and so not torch.
"""
#
# Chapter 5: ``lstm_ref.train.charrnn`` trains Karpathy's char-rnn built from
# ``lstm_ref.graph`` (numpy only), and ``lstm_ref.train.ngram`` holds the n-gram baselines.
# ``lstm_ref.train.charrnn_torch`` is the same model in torch, which the recorded experiment
# trains (``lstm_ref.train.charrnn_weights`` copies a graph's weights into it, for the test
# that the two compute the same function).

# Chapter 6 (both need torch): ``lstm_ref.train.tbptt``, truncated BPTT over contiguous
# streams and the page's experiments; ``lstm_ref.train.charlm``, the character-level
# language-model trainer (``python -m lstm_ref.train.charlm``).
