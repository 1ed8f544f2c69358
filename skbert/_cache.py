"""Reuse of fine-tuned weights across fits that differ only at predict time.

A grid search over ``threshold`` clones the estimator for every candidate and
fits each clone on the same folds. Every parameter that shapes the weights is
the same, so the fine-tuning result is too: this cache keys a fit on those
parameters, the training texts and labels, the model files and the skbert
version, and hands back a copy of the weights instead of training again.

Entries are device-free (CPU tensors and tokenizer files), so each hit builds
its own model and no two estimators share tensors. The in-process cache is
bounded in bytes and evicts least recently used entries; a folder (the
``fit_cache`` parameter given as a str) is shared by processes, e.g. the
workers of ``GridSearchCV(n_jobs=2)``, and written atomically.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict

import joblib

from ._persistence import dump_model, restore_model
from ._version import __version__

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_memory: OrderedDict[str, dict] = OrderedDict()
_limit = {"bytes": 2 * 1024**3}
stats = {"hits": 0, "misses": 0}


def set_fit_cache_limit(n_bytes: int) -> None:
    """Set how many bytes of weights the in-process fit cache may hold (default 2 GiB).

    ``0`` disables in-process caching; entries beyond the limit are evicted,
    least recently used first.
    """
    if n_bytes < 0:
        raise ValueError(f"n_bytes={n_bytes} must be >= 0.")
    with _lock:
        _limit["bytes"] = int(n_bytes)
        _evict()


def clear_fit_cache(folder: str | None = None) -> None:
    """Drop every reusable fit: the in-process ones, and those in ``folder`` if given."""
    with _lock:
        _memory.clear()
    if folder is not None and os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.endswith(".skbert-fit"):
                os.remove(os.path.join(folder, name))


def _model_files_stamp(path: str):
    if not os.path.isdir(path):
        return path
    return sorted((name, os.path.getsize(os.path.join(path, name)),
                   os.path.getmtime(os.path.join(path, name)))
                  for name in os.listdir(path) if os.path.isfile(os.path.join(path, name)))


def make_key(params: dict, resolved_path: str, texts, Y, classes) -> str:
    """A hash of everything that shapes the fine-tuned weights."""
    return joblib.hash((__version__, sorted(params.items(), key=lambda kv: kv[0]),
                        _model_files_stamp(resolved_path), texts, Y, list(classes)))


def _entry_bytes(entry: dict) -> int:
    return sum(t.numel() * t.element_size() for t in entry["state"]["state_dict"].values())


def _evict() -> None:
    total = sum(_entry_bytes(e) for e in _memory.values())
    while _memory and total > _limit["bytes"]:
        _, old = _memory.popitem(last=False)
        total -= _entry_bytes(old)


def put(key: str, where, fitted: dict) -> None:
    """Store a fit (its model is copied to the CPU; the original is not touched)."""
    entry = {k: v for k, v in fitted.items() if k not in ("model", "tokenizer", "device")}
    entry["state"] = dump_model(fitted["model"], fitted["tokenizer"])
    if isinstance(where, str):
        os.makedirs(where, exist_ok=True)
        final = os.path.join(where, key + ".skbert-fit")
        tmp = f"{final}.{os.getpid()}.{threading.get_ident()}.tmp"
        joblib.dump(entry, tmp)
        os.replace(tmp, final)
        return
    with _lock:
        if _entry_bytes(entry) > _limit["bytes"]:
            return
        _memory[key] = entry
        _memory.move_to_end(key)
        _evict()


def get(key: str, where, device) -> dict | None:
    """A fresh fitted dict for ``key`` on ``device``, or None."""
    entry = None
    if isinstance(where, str):
        path = os.path.join(where, key + ".skbert-fit")
        if os.path.isfile(path):
            entry = joblib.load(path)
    else:
        with _lock:
            entry = _memory.get(key)
            if entry is not None:
                _memory.move_to_end(key)
    if entry is None:
        stats["misses"] += 1
        return None
    stats["hits"] += 1
    model, tokenizer = restore_model(entry["state"], device)
    fitted = {k: v for k, v in entry.items() if k != "state"}
    fitted.update(model=model, tokenizer=tokenizer, device=device)
    return fitted
