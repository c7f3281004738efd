"""dissim: the reproducible companion of Nanni et al., Sensors 2021, 21(17), 5809.

"Closing the Performance Gap between Siamese Networks for Dissimilarity Image Classification and
Convolutional Neural Networks". One module per paper concept; see the book for the narrative.
"""

from dissim.errors import ConfigError, DataError, DissimError, ResourceError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "DissimError", "ResourceError", "__version__"]
