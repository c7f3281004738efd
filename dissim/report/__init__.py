"""The book's layer: tables read from the results store, views and figures, benchmarks, and the
notebook runner. Reads results, never trains; imports the pipeline and the science modules.
"""
