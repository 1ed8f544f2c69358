"""Transitional: the names ``_estimator.py`` imported before it called :func:`skbert._runner.run_fit`.

The loop's separate hook system is gone: checkpoints are the
:class:`skbert.callbacks.Checkpoint` callback and everything else uses
:func:`skbert.callbacks.notify`. This module only lets an estimator that still
builds ``FitHooks`` train through the new loop; delete it once no module
imports it.
"""

from __future__ import annotations

from .callbacks import Checkpoint


class Checkpointer(Checkpoint):
    """The old name of :class:`skbert.callbacks.Checkpoint`."""


class FitHooks(list):
    """The callback list of one fit (the checkpoint first), with the estimator they get."""

    def __init__(self, estimator, callbacks, checkpointer=None):
        super().__init__(([checkpointer] if checkpointer is not None else [])
                         + list(callbacks or ()))
        self.estimator = estimator
