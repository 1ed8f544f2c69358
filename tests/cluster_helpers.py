"""Importable helpers for tests that run fits in other processes (dask workers)."""

from __future__ import annotations

import os


class CountFits:
    """A callback that appends a line to ``path`` each time a fine-tuning run begins.

    Works across processes: every worker appends to the same file. A fit served
    from the fit cache also calls ``on_fit_begin`` (then ``on_fit_reused``), so
    the line is written at the first epoch's end, which only fine-tuning reaches.
    """

    def __init__(self, path: str):
        self.path = path

    def on_epoch_end(self, estimator, record) -> None:
        if record["epoch"] == 1:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()}\n")
