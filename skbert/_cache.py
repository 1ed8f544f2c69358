"""Reuse of fine-tuned weights across fits that differ only at predict time.

A grid search over ``threshold`` clones the estimator for every candidate and
fits each clone on the same folds. Every parameter that shapes the weights is
the same, so the fine-tuning result is too: this cache keys a fit on those
parameters, the training texts and labels, the model files and the skbert
version, and hands back a copy of the weights instead of training again.

Entries are device-free (CPU tensors and tokenizer files), so each hit builds
its own model and no two estimators share tensors. The in-process cache is
bounded in bytes and evicts least recently used entries.

A folder (the ``fit_cache`` parameter given as a str) is shared by processes,
e.g. the workers of ``GridSearchCV(n_jobs=2)``, and may be a shared place such
as a temporary folder, so its files are data from others: an entry
``<key>.skbert-fit.safetensors`` is one safetensors file holding the weights,
whose metadata carries one JSON document (the model config, the tokenizer's
files in base64 and the fit's history and settings). Reading one runs no
pickle. Every field is checked before use, and a damaged entry (empty,
truncated, foreign, or not matching the network its config builds) is a cache
miss: the fit retrains, and its entry replaces the damaged one. Entries are
written to a temporary file in the same folder and moved into place with
:func:`os.replace`, so readers never see half an entry. Files of the former
pickle format (``*.skbert-fit``) are never read; :func:`clear_fit_cache`
deletes them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import os
import re
import secrets
import threading
import time
from collections import OrderedDict

import joblib

from ._modeling import model_from_config
from ._persistence import _tokenizer_from_files, dump_model, restore_model
from ._safe_io import (
    DamagedFile,
    is_int,
    is_number,
    load_tensors,
    metadata_document,
    need,
    read_regular_file,
)
from ._version import __version__

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_memory: OrderedDict[str, dict] = OrderedDict()
_limit = {"bytes": 2 * 1024**3}
stats = {"hits": 0, "misses": 0}

#: Suffix of a folder entry: weights and JSON metadata in one safetensors file.
SUFFIX = ".skbert-fit.safetensors"
#: Suffix of the former pickle entries: never read, deleted by clear_fit_cache.
OLD_SUFFIX = ".skbert-fit"
#: Suffix of an entry being written (moved into place when complete).
TMP_SUFFIX = ".skbert-tmp"
_PROBE_PREFIX = ".skbert-probe-"
ENTRY_FORMAT = 1
_META_KEY = "skbert_fit"
_KEY = re.compile(r"[0-9a-f]{8,128}")
_TOKENIZER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TOKENIZER_EXTENSIONS = (".json", ".txt", ".model", ".jinja")
_POOLINGS = ("cls", "mean")
_PRECISIONS = ("bf16", "fp16", "fp32")
_MODEL_FIELDS = ("model", "tokenizer", "device")
_reported: set[str] = set()


_Damaged = DamagedFile  # a folder entry that cannot be used; the message says why


# --------------------------------------------------------------- public API
def set_fit_cache_limit(n_bytes: int) -> None:
    """Set how many bytes of weights the in-process fit cache may hold.

    Parameters
    ----------
    n_bytes : int
        The limit (default 2 GiB). ``0`` disables in-process caching; entries
        beyond the limit are evicted, least recently used first. A folder
        cache (``fit_cache="path"``) is not bounded.
    """
    if n_bytes < 0:
        raise ValueError(f"n_bytes={n_bytes} must be >= 0; pass 0 to disable the cache.")
    with _lock:
        _limit["bytes"] = int(n_bytes)
        _evict()


def clear_fit_cache(folder: str | None = None) -> None:
    """Drop every reusable fit: the in-process ones, and those in ``folder`` if given.

    Parameters
    ----------
    folder : str or None, default=None
        A folder given as ``fit_cache``. Its entries (current and former
        formats) and leftover temporary files are deleted; other files are
        left alone.
    """
    with _lock:
        _memory.clear()
    if folder is None or not os.path.isdir(folder):
        return
    for item in os.scandir(folder):
        if not (item.name.endswith((SUFFIX, OLD_SUFFIX, TMP_SUFFIX, LOCK_SUFFIX))
                or item.name.startswith(_PROBE_PREFIX)):
            continue
        if item.is_dir(follow_symlinks=False):
            continue
        try:
            os.remove(item.path)
        except FileNotFoundError:  # another process removed or replaced it
            pass


def check_writable(folder: str, name: str = "fit_cache") -> None:
    """Make sure that files can be written to ``folder`` before any training runs.

    Creates the folder if it is missing, then writes and removes a probe file.

    Parameters
    ----------
    folder : str
        The ``fit_cache`` parameter given as a str, or another output folder.
    name : str, default="fit_cache"
        The parameter the folder came from, for the message.

    Raises
    ------
    ValueError
        If the folder cannot be created or written (a path under a regular
        file, under ``/proc``, read-only, ...). The message names the path
        and the fix; the ``OSError`` behind it is chained as ``__cause__``.
    """
    if not isinstance(folder, str):
        raise TypeError(f"folder must be a str; got {type(folder).__name__} {folder!r}.")
    probe = os.path.join(folder, _PROBE_PREFIX + secrets.token_hex(8))
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o600)
        try:
            os.write(fd, b"skbert")
        finally:
            os.close(fd)
        os.remove(probe)
    except OSError as exc:
        fix = ("fit_cache=True to reuse fits within this process only, or fit_cache=False"
               if name == "fit_cache" else f"{name}=None")
        raise ValueError(
            f"{name}={folder!r} cannot be written ({type(exc).__name__}: "
            f"{exc.strerror or exc}); pass a writable folder, or {fix}.") from exc


def _model_files_stamp(path: str):
    if not os.path.isdir(path):
        return path
    return sorted((name, os.path.getsize(os.path.join(path, name)),
                   os.path.getmtime(os.path.join(path, name)))
                  for name in os.listdir(path) if os.path.isfile(os.path.join(path, name)))


def make_key(params: dict, resolved_path: str, texts, Y, classes) -> str:
    """A hex hash of everything that shapes the fine-tuned weights.

    Parameters
    ----------
    params : dict
        The estimator's training parameters.
    resolved_path : str
        The local folder (or hub name) of the pretrained model; the names,
        sizes and times of its files enter the key.
    texts : list of str
        The training texts.
    Y : ndarray of shape (n_samples, n_labels)
        The training labels.
    classes : array-like of shape (n_labels,)
        The label names.

    Returns
    -------
    str
        A lowercase hex digest, usable as a file name.
    """
    return joblib.hash((__version__, sorted(params.items(), key=lambda kv: kv[0]),
                        _model_files_stamp(resolved_path), texts, Y, list(classes)))


def put(key: str, where, fitted: dict) -> None:
    """Store a fit; its model is copied to the CPU and the original is not touched.

    Parameters
    ----------
    key : str
        A hex digest from :func:`make_key`.
    where : True or str
        ``True`` for the in-process cache, or a folder shared by processes.
    fitted : dict
        ``model``, ``tokenizer`` and ``device`` plus the fit's other fields
        (``history``, ``best_epoch``, ``interrupted``, ``still_improving``,
        ``pooling``, ``precision``, ``thresholds``, ...). In a folder every
        field but the first three must be JSON-serialisable (ndarrays and
        numpy scalars are converted).

    Notes
    -----
    A folder entry that cannot be written (disk full, folder removed) is
    logged as a warning and skipped: the fit itself has succeeded.
    """
    _check_key(key)
    entry = {k: v for k, v in fitted.items() if k not in _MODEL_FIELDS}
    entry["state"] = dump_model(fitted["model"], fitted["tokenizer"])
    if isinstance(where, str):
        _write_entry(key, where, entry)
        return
    with _lock:
        if _entry_bytes(entry) > _limit["bytes"]:
            return
        _memory[key] = entry
        _memory.move_to_end(key)
        _evict()


def get(key: str, where, device) -> dict | None:
    """A fresh fitted dict for ``key`` on ``device``, or None on a miss.

    Parameters
    ----------
    key : str
        A hex digest from :func:`make_key`.
    where : True or str
        ``True`` for the in-process cache, or a folder shared by processes.
    device : torch.device
        Where the rebuilt model is placed.

    Returns
    -------
    dict or None
        The fields given to :func:`put` with a new ``model``, ``tokenizer`` and
        ``device``. A missing or damaged folder entry is a miss (a damaged one
        is logged once and removed).
    """
    _check_key(key)
    if isinstance(where, str):
        fitted = _read_entry(os.path.join(where, key + SUFFIX), device)
        stats["misses" if fitted is None else "hits"] += 1
        return fitted
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


# ------------------------------------------------------------- in-process
#: A training lock not refreshed for this long belongs to a process that died.
LOCK_STALE_SECONDS = 120.0
LOCK_SUFFIX = ".skbert-lock"


@contextlib.contextmanager
def training_lock(key: str, folder: str, *, poll: float = 0.5):
    """Let one process at a time fine-tune ``key`` for a shared cache folder.

    Parallel workers of a grid search over a predict-time parameter often
    start the same fold together; without this they would all fine-tune it.
    The first takes ``<key>.skbert-lock`` (created exclusively, and touched
    every few seconds by a thread while held); the others wait until the
    entry appears or the lock goes away, then read the entry. A lock not
    touched for :data:`LOCK_STALE_SECONDS` belongs to a dead process and is
    taken over.

    Yields
    ------
    bool
        True when this process holds the lock and should train (and
        :func:`put`), False when another process finished the entry meanwhile
        (read it with :func:`get`).
    """
    _check_key(key)
    path = os.path.join(folder, key + LOCK_SUFFIX)
    entry = os.path.join(folder, key + SUFFIX)
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if os.path.isfile(entry):
                yield False
                return
            try:
                age = time.time() - os.path.getmtime(path)
            except OSError:  # released just now
                continue
            if age > LOCK_STALE_SECONDS:
                logger.info("taking over the stale training lock %s", path)
                with contextlib.suppress(OSError):
                    os.remove(path)
                continue
            time.sleep(poll)
            continue
        except OSError:  # a folder we cannot lock in: train without coordination
            yield True
            return
        os.close(fd)
        if os.path.isfile(entry):  # finished while we waited for the lock
            with contextlib.suppress(OSError):
                os.remove(path)
            yield False
            return
        break
    stop = threading.Event()

    def heartbeat():
        while not stop.wait(min(10.0, LOCK_STALE_SECONDS / 4)):
            with contextlib.suppress(OSError):
                os.utime(path)

    beat = threading.Thread(target=heartbeat, name="skbert-cache-lock", daemon=True)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join()
        with contextlib.suppress(OSError):
            os.remove(path)


def _check_key(key) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"key={key!r} is not a lowercase hex digest; build keys with "
                         "skbert._cache.make_key.")


def _entry_bytes(entry: dict) -> int:
    return sum(t.numel() * t.element_size() for t in entry["state"]["state_dict"].values())


def _evict() -> None:
    total = sum(_entry_bytes(e) for e in _memory.values())
    while _memory and total > _limit["bytes"]:
        _, old = _memory.popitem(last=False)
        total -= _entry_bytes(old)


# ---------------------------------------------------------- folder: write
def _json_default(obj):
    if hasattr(obj, "tolist"):  # ndarray, numpy scalar, tensor
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _write_entry(key: str, folder: str, entry: dict) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import save

    state = entry["state"]
    doc = {
        "format": ENTRY_FORMAT,
        "skbert_version": __version__,
        "model": {
            "config": state["config"],
            "attn_implementation": state["attn_implementation"],
            "pooling": state["pooling"],
            "n_labels": state["n_labels"],
            "tokenizer_files": {name: base64.b64encode(data).decode("ascii")
                                for name, data in state["tokenizer_files"].items()},
        },
        "fitted": {k: v for k, v in entry.items() if k != "state"},
    }
    # dump_model copied every tensor, so none shares storage; safetensors also
    # needs them contiguous (a no-op for those that already are).
    tensors = {name: t.contiguous() for name, t in state["state_dict"].items()}
    try:
        text = json.dumps(doc, default=_json_default)
        _check_doc(json.loads(text))  # what get will check, so no entry is born damaged
        data = save(tensors, metadata={_META_KEY: text})
    except _Damaged as exc:
        _warn_once(f"fit cache: not writing this fit to {folder!r}: its entry {exc}, which "
                   "the reader would reject; it will not be reused from the folder.")
        return
    except (TypeError, ValueError, RuntimeError, SafetensorError) as exc:  # not JSON-able...
        _warn_once(f"fit cache: not writing this fit to {folder!r} ({exc}); it will not be "
                   "reused from the folder.")
        return
    final = os.path.join(folder, key + SUFFIX)
    tmp = os.path.join(folder, f".{key}.{os.getpid()}.{secrets.token_hex(6)}{TMP_SUFFIX}")
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except OSError as exc:
        _warn_once(f"fit cache: could not write to {folder!r} ({exc.strerror or exc}); fits "
                   "will not be reused from it. Pass a writable fit_cache folder.")
        try:
            os.remove(tmp)
        except OSError:
            pass
        return
    _reported.discard(final)
    logger.debug("fit cache: wrote %s (%d bytes)", final, len(data))


# ----------------------------------------------------------- folder: read
def _read_entry(path: str, device) -> dict | None:
    try:
        data, identity = read_regular_file(path)
    except FileNotFoundError:
        return None
    except _Damaged as exc:
        _report(path, str(exc))
        return None
    try:
        return _rebuild(data, device)
    except _Damaged as exc:
        _report(path, str(exc))
        _remove_if_unchanged(path, identity)
        return None


def _rebuild(data: bytes, device) -> dict:
    """Check an entry's bytes and build its fitted dict; :class:`_Damaged` if anything is off."""
    doc = metadata_document(data, _META_KEY, "an skbert fit")
    spec, fitted = _check_doc(doc)
    tensors = load_tensors(data)

    try:  # the checked config builds a network; any failure means the entry is unusable
        model = model_from_config(spec["config"], spec["pooling"], spec["n_labels"],
                                  spec["attn_implementation"])
    except Exception as exc:
        raise _Damaged(f"has a model config that builds no network "
                       f"({type(exc).__name__}: {exc})") from exc
    _check_tensors(tensors, model.state_dict())
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise _Damaged(f"has weights the network does not accept ({exc})") from exc
    try:
        tokenizer = _tokenizer_from_files(spec["tokenizer_files"])
    except Exception as exc:
        raise _Damaged(f"has tokenizer files that do not load "
                       f"({type(exc).__name__}: {exc})") from exc
    model.to(device).eval()
    fitted.update(model=model, tokenizer=tokenizer, device=device)
    return fitted


def _check_tensors(tensors: dict, expected: dict) -> None:
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise _Damaged(f"has tensors that do not match the network: missing {missing[:3]}, "
                       f"unexpected {extra[:3]}")
    for name, want in expected.items():
        got = tensors[name]
        if tuple(got.shape) != tuple(want.shape):
            raise _Damaged(f"has {name} of shape {tuple(got.shape)}; the network needs "
                           f"{tuple(want.shape)}")
        if got.dtype != want.dtype and not (got.dtype.is_floating_point
                                            and want.dtype.is_floating_point):
            raise _Damaged(f"has {name} of dtype {got.dtype}; the network needs {want.dtype}")


def _warn_once(message: str) -> None:
    """Log a problem as a warning the first time, then at DEBUG (a grid search repeats it)."""
    if message in _reported:
        logger.debug(message)
    else:
        _reported.add(message)
        logger.warning(message)


def _report(path: str, reason: str) -> None:
    """Log a damaged entry: a warning the first time, then at DEBUG."""
    message = "fit cache: ignoring %s, which %s; the fit retrains and replaces it."
    if path in _reported:
        logger.debug(message, path, reason)
    else:
        _reported.add(path)
        logger.warning(message, path, reason)


def _remove_if_unchanged(path: str, identity: tuple) -> None:
    """Remove a damaged entry unless another process has replaced it meanwhile."""
    try:
        info = os.lstat(path)
        if (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns) == identity:
            os.remove(path)
    except OSError:
        pass


# ------------------------------------------------------- folder: checking


def _check_doc(doc) -> tuple[dict, dict]:
    """Check an entry's JSON document; return the model spec and the fitted fields.

    Every value is type- and range-checked here, before anything uses it.
    """
    need(isinstance(doc, dict), f"metadata of type {type(doc).__name__}, not an object")
    need(doc.get("format") == ENTRY_FORMAT,
         f"format {doc.get('format')!r}; this skbert reads format {ENTRY_FORMAT}")
    model, fitted = doc.get("model"), doc.get("fitted")
    need(isinstance(model, dict), "no 'model' object")
    need(isinstance(fitted, dict), "no 'fitted' object")

    config = model.get("config")
    need(isinstance(config, dict) and isinstance(config.get("model_type"), str)
         and config["model_type"] != "", "a model config without a 'model_type' str")
    config = {k: v for k, v in config.items() if k != "auto_map"}  # never remote code
    attn = model.get("attn_implementation")
    need(attn is None or (isinstance(attn, str) and re.fullmatch(r"[A-Za-z0-9_]{1,64}", attn)),
         f"attn_implementation={attn!r}, not None or a name")
    pooling = model.get("pooling")
    need(pooling in _POOLINGS, f"pooling={pooling!r}, not one of {_POOLINGS}")
    n_labels = model.get("n_labels")
    need(is_int(n_labels) and 1 <= n_labels <= 1_000_000,
         f"n_labels={n_labels!r}, not a positive int")
    spec = {"config": config, "attn_implementation": attn, "pooling": pooling,
            "n_labels": n_labels, "tokenizer_files": _check_tokenizer_files(
                model.get("tokenizer_files"))}

    history = fitted.get("history")
    need(isinstance(history, list) and all(
        isinstance(r, dict) and all(isinstance(k, str) and (v is None or is_number(v))
                                    for k, v in r.items()) for r in history),
         "a history that is not a list of {str: number or null} records")
    best = fitted.get("best_epoch")
    need(is_int(best) and 0 <= best <= len(history),
         f"best_epoch={best!r}, not an int in [0, {len(history)}]")
    for name in ("interrupted", "still_improving"):
        need(isinstance(fitted.get(name), bool), f"{name}={fitted.get(name)!r}, not a bool")
    need(fitted.get("pooling") == pooling,
         f"fitted pooling={fitted.get('pooling')!r}, not the model's {pooling!r}")
    precision = fitted.get("precision")
    need(precision in _PRECISIONS, f"precision={precision!r}, not one of {_PRECISIONS}")
    thresholds = fitted.get("thresholds")
    need(thresholds is None or (
        isinstance(thresholds, list) and len(thresholds) == n_labels
        and all(is_number(t) and math.isfinite(t) and 0 <= t <= 1 for t in thresholds)),
         f"thresholds that are not null or {n_labels} numbers in [0, 1]")
    lr = fitted.get("learning_rate")  # absent in entries written before learning_rate_
    need(lr is None or (is_number(lr) and math.isfinite(lr) and lr > 0),
         f"learning_rate={lr!r}, not null or a positive finite number")
    out = dict(fitted)  # other fields: plain JSON data, passed on as they are
    out["history"] = [dict(r) for r in history]
    out["thresholds"] = None if thresholds is None else [float(t) for t in thresholds]
    return spec, out


def _check_tokenizer_files(files) -> dict[str, bytes]:
    need(isinstance(files, dict) and files, "no tokenizer files")
    need("tokenizer.json" in files, "no tokenizer.json among the tokenizer files")
    out = {}
    for name, text in files.items():
        # Plain names with data-file extensions only: no paths, no code (.py), no pickles.
        need(isinstance(name, str) and _TOKENIZER_NAME.fullmatch(name) is not None
             and name.endswith(_TOKENIZER_EXTENSIONS),
             f"a tokenizer file named {name!r}; allowed are plain names ending in "
             f"{_TOKENIZER_EXTENSIONS}")
        need(isinstance(text, str), f"tokenizer file {name!r} that is not a base64 str")
        try:
            out[name] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _Damaged(f"tokenizer file {name!r} that is not base64 ({exc})") from exc
    config = out.get("tokenizer_config.json")
    if config is not None:
        try:
            parsed = json.loads(config.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise _Damaged(f"a tokenizer_config.json that is not JSON ({exc})") from exc
        need(isinstance(parsed, dict) and "auto_map" not in parsed,
             "a tokenizer_config.json that is not an object or names remote code (auto_map)")
    return out
