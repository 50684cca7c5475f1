"""The experiments the book reads, by name.

Each entry names the module that defines the experiment as ``EXPERIMENT`` (an
:class:`lstm_ref.results.Experiment`). Modules are imported only when an experiment is
asked for, so listing names imports nothing heavy.
"""

import importlib

EXPERIMENTS = {
    "sine": "lstm_ref.experiments.sine",
    "clipping": "lstm_ref.experiments.clipping",
    "adding": "lstm_ref.experiments.adding",
    "reber_forget": "lstm_ref.experiments.reber_forget",
    "ablation": "lstm_ref.experiments.ablation",
    "charrnn": "lstm_ref.experiments.charrnn",
    "charrnn_ngram": "lstm_ref.experiments.charrnn_ngram",
    "tbptt": "lstm_ref.experiments.tbptt",
}
"""name -> module defining ``EXPERIMENT``."""


def names():
    return list(EXPERIMENTS)


def get(name):
    """The registered :class:`~lstm_ref.results.Experiment` called ``name``."""
    from .record import RecordError

    if name not in EXPERIMENTS:
        raise RecordError(f"there is no experiment {name!r}; the experiments are: "
                          + ", ".join(EXPERIMENTS))
    experiment = importlib.import_module(EXPERIMENTS[name]).EXPERIMENT
    if experiment.name != name:
        raise RecordError(f"{EXPERIMENTS[name]}.EXPERIMENT is named {experiment.name!r}, not {name!r}")
    return experiment
