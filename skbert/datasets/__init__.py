"""Data sets and file loaders for skbert.

``load_goemotions`` returns the GoEmotions sample that ships with the package;
``load_texts_and_labels`` reads your own JSON Lines, CSV or Parquet file into
texts and a label indicator matrix.
"""

from __future__ import annotations

from ._files import load_texts_and_labels
from ._goemotions import load_goemotions

__all__ = ["load_goemotions", "load_texts_and_labels"]
