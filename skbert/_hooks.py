"""What the estimator plugs into the training loop: user callbacks and checkpoints.

:class:`FitHooks` is the loop's :class:`~skbert._training.Hooks`: it calls the
user's callbacks with the estimator, and has a :class:`Checkpointer` save the
training state after each epoch and restore it before the first one.
"""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import torch

from ._training import Hooks, LoopState
from ._utils import SkbertWarning

logger = logging.getLogger(__name__)

CALLBACK_METHODS = ("on_fit_begin", "on_epoch_end", "on_batch_end", "on_fit_end")


def check_callbacks(callbacks) -> None:
    """Raise TypeError naming the first object that has none of the callback methods."""
    for i, cb in enumerate(callbacks or ()):
        if not any(callable(getattr(cb, m, None)) for m in CALLBACK_METHODS):
            raise TypeError(
                f"callbacks[{i}] is {cb!r:.60}, which has none of the methods "
                f"{', '.join(CALLBACK_METHODS)}. Pass objects with at least one of them, e.g. "
                "subclasses of skbert.callbacks.Callback.")


def run_callbacks(callbacks, method: str, *args) -> None:
    """Call ``method`` on every callback that has it."""
    for cb in callbacks or ():
        fn = getattr(cb, method, None)
        if callable(fn):
            fn(*args)


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


#: Name of the file that holds the kept (best) epoch's weights beside the checkpoint.
BEST_FILE = "best.safetensors"


class Checkpointer:
    """Save the full training state after each epoch in ``folder``; resume from it.

    The state itself (weights, optimizer, scheduler, random generators,
    history) is :mod:`skbert._checkpoint`'s; the kept epoch's weights and
    validation logits (when a validation set selects an earlier epoch) are
    stored beside it, so that a resumed fit keeps exactly what an
    uninterrupted one would.
    """

    def __init__(self, folder: str, data_key: str):
        from . import _checkpoint

        self.folder = folder
        self.fingerprint = _checkpoint.fingerprint({}, data_key)

    def save(self, state: LoopState) -> None:
        from safetensors.torch import save_file

        from . import _checkpoint

        sel = state.selection
        extra = {"best_value": None if not np.isfinite(sel.best_value) else sel.best_value,
                 "best_epoch": sel.best_epoch, "no_improve": sel.no_improve,
                 "micro_batch_size": state.micro_batch_size,
                 "n_forwarded": state.n_forwarded}
        if sel.best_state is not None and sel.best_epoch != state.epoch:
            tensors = {f"w.{k}": v.contiguous() for k, v in sel.best_state.items()}
            if sel.best_logits is not None:
                tensors["logits"] = torch.from_numpy(np.ascontiguousarray(sel.best_logits))
            tmp = os.path.join(self.folder, f".{BEST_FILE}.{os.getpid()}.tmp")
            save_file(tensors, tmp, metadata={"fingerprint": self.fingerprint,
                                              "epoch": str(sel.best_epoch)})
            os.replace(tmp, os.path.join(self.folder, BEST_FILE))
            extra["best_file"] = True
        else:
            extra["best_file"] = False
            extra["best_is_current"] = sel.best_state is not None
            extra["best_logits"] = None
            if sel.best_logits is not None:
                extra["best_logits"] = sel.best_logits.tolist()
        _checkpoint.save_state(self.folder, self.fingerprint, epoch=state.epoch,
                               model=state.model, optimizer=state.optimizer,
                               scheduler=state.scheduler, scaler=state.scaler,
                               np_rng=state.rng, history=state.history, extra=extra)

    def restore(self, state: LoopState) -> None:
        from . import _checkpoint

        saved = _checkpoint.load_state(self.folder, self.fingerprint)
        if saved is None:
            return
        try:
            best = self._best(saved, state)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"The checkpoint in {self.folder} is incomplete ({exc}); training "
                          "starts from the first epoch.", SkbertWarning, stacklevel=2)
            return
        state.rng = _checkpoint.restore(saved, model=state.model, optimizer=state.optimizer,
                                        scheduler=state.scheduler, scaler=state.scaler)
        state.epoch = saved.epoch
        state.history[:] = [dict(r) for r in saved.history]
        extra = saved.extra
        sel = state.selection
        sel.best_epoch = int(extra.get("best_epoch") or 0)
        value = extra.get("best_value")
        sel.best_value = -np.inf if value is None else float(value)
        sel.no_improve = int(extra.get("no_improve") or 0)
        sel.best_state, sel.best_logits = best
        if sel.best_state is None and extra.get("best_is_current"):
            sel.best_state = {k: v.detach().to("cpu", copy=True)
                              for k, v in state.model.state_dict().items()}
        if extra.get("micro_batch_size"):
            state.micro_batch_size = int(extra["micro_batch_size"])
        state.n_forwarded = int(extra.get("n_forwarded") or 0)
        logger.info("resuming from the checkpoint of epoch %d in %s", state.epoch, self.folder)
        if state.config.verbose >= 1 and state.config.group.is_main:
            print(f"resuming after epoch {state.epoch} from {self.folder}", flush=True)

    def _best(self, saved, state: LoopState):
        """The kept epoch's (weights, validation logits) saved beside the state."""
        from safetensors import safe_open

        extra = saved.extra
        if extra.get("best_file"):
            path = os.path.join(self.folder, BEST_FILE)
            with safe_open(path, framework="pt") as fh:
                meta = fh.metadata() or {}
                if meta.get("fingerprint") != self.fingerprint:
                    raise ValueError(f"{BEST_FILE} belongs to another fit")
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
            weights = {k[2:]: v for k, v in tensors.items() if k.startswith("w.")}
            expected = state.model.state_dict()
            if set(weights) != set(expected) or any(
                    weights[k].shape != expected[k].shape for k in weights):
                raise ValueError(f"{BEST_FILE} does not match the model")
            logits = tensors.get("logits")
            return weights, None if logits is None else logits.numpy()
        logits = extra.get("best_logits")  # the kept epoch is the saved one (or none)
        return None, None if logits is None else np.asarray(logits, dtype=np.float32)
