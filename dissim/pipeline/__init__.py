"""The composing layer: the member pipeline and everything that runs and stores it.

:mod:`~dissim.pipeline.member` (train -> encode -> prototypes -> space -> SVM, once),
:mod:`~dissim.pipeline.spec` (a grid member and the units sharing a network),
:mod:`~dissim.pipeline.keys` (store keys), :mod:`~dissim.pipeline.data_cache` (a member's data,
cached), :mod:`~dissim.pipeline.compute` (one unit's computation), all re-exported by
:mod:`~dissim.pipeline.experiment`; :mod:`~dissim.pipeline.runner` (the one orchestrator),
:mod:`~dissim.pipeline.executors` (this process or Dask),
:mod:`~dissim.pipeline.store` (the results store), :mod:`~dissim.pipeline.cnn` (eCNN members),
:mod:`~dissim.pipeline.classifier` and :mod:`~dissim.pipeline.persist` (any images),
:mod:`~dissim.pipeline.defaults` (the classifier's defaults, in one place),
:mod:`~dissim.pipeline.controls` (the plain-SVM and frozen-CNN controls of an evaluation),
:mod:`~dissim.pipeline.validate` (arguments, paths and devices, checked before work). Imports
only the science modules (the README's "Layout").
"""
