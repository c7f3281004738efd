"""Members of the paper's grid, their store keys, their data, and one unit's computation.

One module per idea, re-exported here (the names this module always had):

- :mod:`~dissim.pipeline.spec`: a grid member's specification (:class:`Member`) and the units
  of members that share one network (:class:`Unit`, :func:`group_units`);
- :mod:`~dissim.pipeline.keys`: the results store's keys (:func:`member_key`, :func:`key_of`,
  :func:`network_lock_name`);
- :mod:`~dissim.pipeline.data_cache`: a member's data set, fingerprint, folds and network
  inputs, cached per process;
- :mod:`~dissim.pipeline.compute`: the compute step (:func:`compute_unit` -> :class:`Entry`).

A member's output is the SVM score matrix on the test fold (test images x classes), stored in
the :class:`~dissim.pipeline.store.ResultsStore` with its metadata (Section 4).
"""

from __future__ import annotations

from dissim.pipeline.compute import Entry, compute_unit, environment
from dissim.pipeline.data_cache import (
    dataset_fingerprint,
    dataset_folds,
    dataset_of,
    fingerprint_of,
    fold_of,
    folds_of,
    load_dataset,
    network_inputs,
)
from dissim.pipeline.keys import key_of, member_key, network_lock_name
from dissim.pipeline.member import DEFAULT_OPTIONS, INPUTS, METHODS, Options, input_size
from dissim.pipeline.spec import ENCODERS, Member, Unit, group_units
from dissim.spaces import SPACE_NAMES

__all__ = [
    "DEFAULT_OPTIONS", "ENCODERS", "INPUTS", "METHODS", "SPACE_NAMES", "Entry", "Member",
    "Options", "Unit",
    "compute_unit", "dataset_fingerprint", "dataset_folds", "dataset_of", "environment",
    "fingerprint_of", "fold_of", "folds_of", "group_units", "input_size", "key_of",
    "load_dataset", "member_key", "network_inputs", "network_lock_name",
]
