"""Every registered experiment's record: present, well formed, current, and reproducible.

A failure here names the experiment and the command that rerecords it
(``make experiments NAME=<name>``).
"""

import numpy as np
import pytest

from lstm_ref.results import load
from lstm_ref.results.record import plain
from lstm_ref.results.registry import get, names


@pytest.mark.parametrize("name", names())
def test_the_record_is_current(name):
    load(name)  # raises, naming the rerun command, when missing, edited or stale


@pytest.mark.parametrize("name", names())
def test_the_summary_is_what_the_seeds_give(name):
    experiment, record = get(name), load(name)
    if experiment.summarise is None:
        assert record.summary == {}
        return
    per_seed = {seed: record.seed(seed) for seed in experiment.seeds}
    assert plain(experiment.summarise(experiment.config, per_seed)) == record.summary


@pytest.mark.slow
@pytest.mark.parametrize("name", names())
def test_a_slice_of_the_run_reproduces_the_record(name):
    """One seed, the first steps: the curves must be a prefix of the recorded ones."""
    experiment, record = get(name), load(name)
    assert experiment.slice_config is not None and experiment.slice_keys, \
        f"experiment {name!r} defines no slice to rerun"
    seed = experiment.seeds[0]
    fresh = experiment.run_seed(experiment.slice_config(experiment.config), seed)
    stored = record.seed(seed)
    for key in experiment.slice_keys:
        got, want = np.asarray(fresh[key]), np.asarray(stored[key])
        assert got.ndim >= 1 and 0 < got.shape[0] <= want.shape[0], \
            f"{name}: the slice's {key!r} is not a prefix of the recorded one ({got.shape} vs {want.shape})"
        want = want[: got.shape[0]]
        if experiment.slice_rtol == 0:
            np.testing.assert_array_equal(got, want, err_msg=f"{name}: {key!r} differs from the record")
        else:
            np.testing.assert_allclose(got, want, rtol=experiment.slice_rtol,
                                       err_msg=f"{name}: {key!r} differs from the record")
