"""Recorded experiments: the one writer and the one reader of ``book/results/<name>/``.

The book never trains. Every experiment that takes more than a few seconds is a named,
parameterised run (an :class:`Experiment`, registered in :mod:`lstm_ref.results.registry`);
``make experiments NAME=<name>`` runs it seed by seed and :func:`run` writes its record:

- ``record.json``: the experiment's name, its full configuration, the seeds, every seed's
  scalars and short lists, the summary over seeds, and the provenance: a hash of the code
  that ran (the experiment's module and every ``lstm_ref`` module it imports, comments and
  docstrings left out), library versions, the machine, the wall time and the date. A
  ``content_hash`` over all of that data is written last.
- ``arrays.npz``: the seeds' arrays (curves), compressed, under ``"<seed>/<key>"``.

A page reads a record with :func:`load`, which refuses a record whose code hash no longer
matches the code (:class:`StaleRecordError` names the command that reruns it), so a page
built from a stale record fails the build. Importing this package trains, downloads and
prints nothing.
"""

from .record import (
    Record,
    RecordError,
    StaleRecordError,
    code_hash,
    load,
    results_dir,
)
from .experiment import Experiment, run

__all__ = ["Experiment", "Record", "RecordError", "StaleRecordError", "code_hash", "load",
           "results_dir", "run"]
