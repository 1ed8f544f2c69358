"""skbert: fine-tune transformer encoders for multi-label text classification
behind the scikit-learn estimator API."""

from ._cache import clear_fit_cache, set_fit_cache_limit
from ._embedder import TransformerEmbedder
from ._estimator import TransformerMultiLabelClassifier
from ._thresholds import apply_thresholds, tune_thresholds
from ._utils import DeviceWarning, SkbertWarning, TrainingDivergedError
from ._version import __version__

__all__ = [
    "TransformerMultiLabelClassifier",
    "TransformerEmbedder",
    "tune_thresholds",
    "apply_thresholds",
    "clear_fit_cache",
    "set_fit_cache_limit",
    "SkbertWarning",
    "DeviceWarning",
    "TrainingDivergedError",
    "__version__",
]
