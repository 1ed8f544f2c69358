"""Importable helpers for tests that run fits in other processes (dask workers)."""

from __future__ import annotations

import os


class CountFits:
    """A callback that appends a line to ``path`` each time a fine-tuning run begins.

    Works across processes: every worker appends to the same file.
    """

    def __init__(self, path: str):
        self.path = path

    def on_fit_begin(self, estimator) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
