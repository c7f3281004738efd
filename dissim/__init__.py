"""dissim: the reproducible companion of Nanni et al., Sensors 2021, 21(17), 5809.

"Closing the Performance Gap between Siamese Networks for Dissimilarity Image Classification and
Convolutional Neural Networks". One module per paper concept; see the book for the narrative.
"""

from dissim.errors import ConfigError, DataError, DissimError, ResourceError

__version__ = "0.1.0"



def __getattr__(name: str):
    """Import the heavy classifier (torch, scikit-learn) only when it is asked for."""
    if name == "DissimilarityClassifier":
        from dissim.classifier import DissimilarityClassifier

        return DissimilarityClassifier
    raise AttributeError(f"module 'dissim' has no attribute {name!r}")

__all__ = [
    "ConfigError", "DataError", "DissimError", "DissimilarityClassifier", "ResourceError",
    "__version__",
]
