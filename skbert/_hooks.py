"""What the estimator plugs into the training loop: user callbacks and checkpoints.

:class:`FitHooks` is the loop's :class:`~skbert._training.Hooks`: it calls the
user's callbacks with the estimator, and has a :class:`Checkpointer` save the
training state after each epoch and restore it before the first one.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ._training import Hooks, LoopState
from .callbacks import run_callbacks

logger = logging.getLogger(__name__)

class FitHooks(Hooks):
    """The loop's hooks during one ``fit``.

    Parameters
    ----------
    estimator : TransformerMultiLabelClassifier
        Handed to the callbacks.
    callbacks : list or None
        Only on the process that prints (rank 0).
    checkpointer : Checkpointer or None
    """

    def __init__(self, estimator, callbacks, checkpointer: Checkpointer | None):
        self.estimator = estimator
        self.callbacks = list(callbacks or ())
        self.checkpointer = checkpointer
        self.wants_batches = any(callable(getattr(cb, "on_batch_end", None))
                                 for cb in self.callbacks)

    def on_train_begin(self, state: LoopState) -> None:
        if self.checkpointer is not None:
            self.checkpointer.restore(state)
        run_callbacks(self.callbacks, "on_fit_begin", self.estimator)

    def on_batch_end(self, state: LoopState, batch: dict) -> None:
        run_callbacks(self.callbacks, "on_batch_end", self.estimator, batch)

    def on_epoch_end(self, state: LoopState, record: dict) -> None:
        if self.checkpointer is not None and state.config.group.is_main:
            self.checkpointer.save(state)
        run_callbacks(self.callbacks, "on_epoch_end", self.estimator, dict(record))


class Checkpointer:
    """Save the full training state after each epoch in ``folder``; resume from it.

    The state (weights, optimizer, scheduler, random generators, history,
    the kept epoch's weights and validation logits, the early-stopping
    counters) is written by :mod:`skbert._checkpoint`, whose fingerprint of
    the parameters and data decides whether a saved state may be resumed.
    """

    def __init__(self, folder: str, data_key: str):
        from . import _checkpoint

        self.folder = folder
        self.fingerprint = _checkpoint.fingerprint({}, data_key)

    def save(self, state: LoopState) -> None:
        from . import _checkpoint

        sel = state.selection
        keep_best = sel.best_state is not None and sel.best_epoch != state.epoch
        extra = {"best_value": float(sel.best_value) if np.isfinite(sel.best_value) else None,
                 "best_epoch": int(sel.best_epoch), "no_improve": int(sel.no_improve),
                 "best_is_current": sel.best_state is not None and not keep_best,
                 "micro_batch_size": state.micro_batch_size,
                 "n_forwarded": int(state.n_forwarded)}
        tensors = None
        if sel.best_logits is not None:
            tensors = {"valid_logits": torch.from_numpy(np.ascontiguousarray(sel.best_logits))}
        _checkpoint.save_state(self.folder, self.fingerprint, epoch=state.epoch,
                               model=state.model, optimizer=state.optimizer,
                               scheduler=state.scheduler, scaler=state.scaler,
                               np_rng=state.rng, history=state.history, extra=extra,
                               best_state=sel.best_state if keep_best else None,
                               extra_tensors=tensors)

    def restore(self, state: LoopState) -> None:
        from . import _checkpoint

        saved = _checkpoint.load_state(self.folder, self.fingerprint, check_extra=_check_extra)
        if saved is None:
            return
        rng = _checkpoint.restore(saved, model=state.model, optimizer=state.optimizer,
                                  scheduler=state.scheduler, scaler=state.scaler)
        if rng is None:  # restore() warned and changed nothing
            return
        extra = saved.extra
        state.rng = rng
        state.epoch = saved.epoch
        state.history[:] = [dict(r) for r in saved.history]
        sel = state.selection
        sel.best_epoch = extra["best_epoch"]
        sel.best_value = -np.inf if extra["best_value"] is None else extra["best_value"]
        sel.no_improve = extra["no_improve"]
        if saved.best_state:
            sel.best_state = {k: v.detach().clone() for k, v in saved.best_state.items()}
        elif extra["best_is_current"]:
            sel.best_state = {k: v.detach().to("cpu", copy=True)
                              for k, v in state.model.state_dict().items()}
        logits = (saved.extra_tensors or {}).get("valid_logits")
        sel.best_logits = None if logits is None else logits.numpy().copy()
        if extra.get("micro_batch_size"):
            state.micro_batch_size = extra["micro_batch_size"]
        state.n_forwarded = extra["n_forwarded"]
        logger.info("resuming after epoch %d from %s", state.epoch, self.folder)
        if state.config.verbose >= 1 and state.config.group.is_main:
            print(f"resuming after epoch {state.epoch} from {self.folder}", flush=True)


def _check_extra(extra) -> None:
    """Validate the loop's own fields of a saved state (raise ValueError if damaged)."""
    ints = ("best_epoch", "no_improve", "n_forwarded")
    if not isinstance(extra, dict) or any(
            not isinstance(extra.get(k), int) or isinstance(extra.get(k), bool) or extra[k] < 0
            for k in ints):
        raise ValueError(f"extra fields {ints} must be non-negative ints")
    if extra.get("best_value") is not None and not isinstance(extra["best_value"], float):
        raise ValueError("best_value must be a float or null")
    if not isinstance(extra.get("best_is_current"), bool):
        raise ValueError("best_is_current must be a bool")
    micro = extra.get("micro_batch_size")
    if micro is not None and (not isinstance(micro, int) or micro < 1):
        raise ValueError("micro_batch_size must be a positive int or null")
