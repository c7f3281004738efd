"""The book's layer: tables read from the results store, views and figures, benchmarks, and the
notebook runner, and :mod:`~dissim.report.evaluation` (``dissim evaluate``: the ensemble beside
its controls, the verdict, the kept report). Reads results and never trains, except that
evaluation, which fits classifiers on a user's folds; imports the pipeline and the science
modules.
"""
