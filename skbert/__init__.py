"""skbert: fine-tune transformer encoders for multi-label text classification
behind the scikit-learn estimator API.

The public names are imported on first use (PEP 562), so ``import skbert`` and
the ``skbert`` command start without importing torch; a Ctrl-C while the
command starts then ends it with one line instead of a traceback.
"""

from __future__ import annotations

import importlib

from ._version import __version__

#: Public name -> the private module that defines it.
_PUBLIC = {
    "TransformerMultiLabelClassifier": "._estimator",
    "ZeroShotMultiLabelClassifier": "._zeroshot",
    "TransformerEmbedder": "._embedder",
    "tune_thresholds": "._thresholds",
    "apply_thresholds": "._thresholds",
    "clear_fit_cache": "._cache",
    "set_fit_cache_limit": "._cache",
    "SkbertWarning": "._utils",
    "DeviceWarning": "._utils",
    "TrainingDivergedError": "._utils",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'skbert' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
