"""dissim: the reproducible companion of Nanni et al., Sensors 2021, 21(17), 5809.

"Closing the Performance Gap between Siamese Networks for Dissimilarity Image Classification and
Convolutional Neural Networks".

Layers, each importing only itself and the layers before it: the science modules (top level,
``dissim.data``, ``dissim.baselines``), ``dissim.pipeline``, ``dissim.report``, ``dissim.cli``
(the README's "Layout").
"""

from dissim.errors import ConfigError, DataError, DissimError, ResourceError

__version__ = "0.1.0"



def __getattr__(name: str):
    """Import the heavy classifier (torch, scikit-learn) only when it is asked for."""
    if name == "DissimilarityClassifier":
        from dissim.pipeline.classifier import DissimilarityClassifier

        return DissimilarityClassifier
    raise AttributeError(f"module 'dissim' has no attribute {name!r}")

__all__ = [
    "ConfigError", "DataError", "DissimError", "DissimilarityClassifier", "ResourceError",
    "__version__",
]
