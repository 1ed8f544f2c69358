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
truncated, foreign, of another format, not matching the network its config
builds, with tensor data that does not match its recorded sha256, or with a
NaN or infinite weight) is a cache miss: the fit retrains, and its entry
replaces the damaged one. The metadata records the sha256 of the tensors
(:func:`~skbert._safe_io.tensors_sha256`: names, dtypes, shapes and bytes) and that of the
whole entry (:func:`entry_sha256`: the canonical JSON of every other field,
the tensors' digest included, so an edited threshold or ``n_train`` is a miss
too), both checked on every read: they catch accidents (a flipped bit, a
partial copy, an edit), not tampering, since anyone who can write the folder
can recompute them. An entry's
config is checked as a model folder's is, and its sizes against its tensors on
the meta device (:func:`skbert._modeling.model_from_config`) before any memory
is allocated, so a small entry cannot ask for gigabytes. Entries are
written through :mod:`skbert._safe_io` (a temporary sibling renamed into
place, never through a link), so readers never see half an entry and a link
planted at an entry's name is replaced, not written through. Files of the
former pickle format (``*.skbert-fit``) are never read; :func:`clear_fit_cache`
deletes them. A folder given as ``"~/fits"`` is the home folder's ``fits``
(:func:`skbert._params.expand_folder`).
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
import shutil
import socket
import stat
import sys
import threading
import time
import warnings
from collections import OrderedDict

import joblib
import numpy as np

from ._docs import fill_doc
from ._modeling import model_from_config
from ._param_key import by_code
from ._params import expand_folder, folder_problem
from ._persistence import (
    PROBE_PREFIX,
    _tokenizer_from_files,
    dump_model,
    is_history_record,
    is_tuned_scores,
    probe_writable,
    restore_model,
)
from ._safe_io import (
    TMP_TAG,
    DamagedFile,
    document_sha256,
    is_int,
    is_number,
    is_sha256,
    load_tensors,
    metadata_document,
    need,
    read_regular_file,
    shown,
    tensors_sha256,
    terminal_safe,
    write_bytes,
)
from ._thresholds import THRESHOLD_METRICS
from ._utils import SkbertWarning, read_parsed
from ._version import __version__

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_memory: OrderedDict[str, dict] = OrderedDict()
_limit = {"bytes": 2 * 1024**3}

#: Suffix of a folder entry: weights and JSON metadata in one safetensors file.
SUFFIX = ".skbert-fit.safetensors"
#: Suffix of the former pickle entries: never read, deleted by clear_fit_cache.
OLD_SUFFIX = ".skbert-fit"
#: Suffix of a file being written (by skbert._safe_io; moved into place when complete).
TMP_SUFFIX = TMP_TAG
#: 2: the metadata records ``tensors_sha256``; 3: and ``entry_sha256``, the digest of the
#: whole entry (entries of formats 1 and 2 are misses).
ENTRY_FORMAT = 3
_META_KEY = "skbert_fit"
_KEY = re.compile(r"[0-9a-f]{8,128}")
_TOKENIZER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TOKENIZER_EXTENSIONS = (".json", ".txt", ".model", ".jinja")
_POOLINGS = ("cls", "mean")
_PRECISIONS = ("bf16", "fp16", "fp32")
_MODEL_FIELDS = ("model", "tokenizer", "device")
_reported: set[str] = set()


_Damaged = DamagedFile  # a folder entry that cannot be used; the message says why

#: The ``key`` and ``where`` of :func:`put` and :func:`get`, written once.
_entry_doc = fill_doc({"key, where": """\
key : str
    A hex digest from :func:`make_key`.
where : True or str
    ``True`` for the in-process cache, or a folder shared by processes
    (``~`` is expanded)."""})


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
    folder : str, path-like or None, default=None
        A folder given as ``fit_cache`` (``~`` is expanded). Its entries
        (current and former formats) and leftover temporary files are
        deleted; other files are left alone.

    Raises
    ------
    ValueError
        If ``folder`` is a value that ``fit`` refuses as ``fit_cache``
        (:func:`skbert._params.folder_problem`: ``""``, ``"True"``,
        ``"$HOME/fits"``, ``"~unknown-user/x"``, ...), before anything is
        cleared: such a value names no folder that a fit wrote to.
    """
    if folder is not None:
        problem = folder_problem("fit_cache", folder)
        if problem is not None:
            raise ValueError(f"clear_fit_cache(folder={folder!r}) is refused as fit refuses "
                             f"it: {problem}.")
    with _lock:
        _memory.clear()
    if folder is None:
        return
    folder = expand_folder(folder)
    if not os.path.isdir(folder):
        return
    for item in os.scandir(folder):
        if not (item.name.endswith((SUFFIX, OLD_SUFFIX, TMP_SUFFIX, LOCK_SUFFIX))
                or item.name.startswith(PROBE_PREFIX)):
            continue
        if item.is_dir(follow_symlinks=False):
            if item.name.startswith(PROBE_PREFIX):  # left by a probe_writable cut short
                shutil.rmtree(item.path, ignore_errors=True)
            continue
        try:
            os.remove(item.path)
        except FileNotFoundError:  # another process removed or replaced it
            pass


def check_writable(folder: str, name: str = "fit_cache") -> None:
    """Make sure that files can be written to ``folder`` before any training runs.

    Creates the folder if it is missing, then tests it with
    :func:`skbert._persistence.probe_writable`.

    Parameters
    ----------
    folder : str
        The ``fit_cache`` parameter given as a str, or another output folder
        (``~`` is expanded).
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
    try:
        probe_writable(expand_folder(folder), create=True)
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
    # a numpy scalar keys as the Python value it equals (np.False_ as False, np.int64(3) as 3)
    plain = {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
    hashed = []
    for name, value in sorted(plain.items(), key=lambda kv: kv[0]):
        try:  # one by one: a failure names the parameter, never the data
            hashed.append((name, joblib.hash(by_code(value))))
        except Exception as exc:  # pickle's errors vary by the object: PicklingError, ...
            raise UnkeyableParameter(name, value) from exc
    return joblib.hash((__version__, hashed, _model_files_stamp(resolved_path), texts, Y,
                        list(classes)))


class UnkeyableParameter(TypeError):
    """A training parameter the fit-cache key cannot hold: it cannot be pickled.

    Functions key by their code (:func:`by_code`); what is left is an object
    pickle refuses (a generator, a lock, an open file), held by the parameter
    or by a function's closure: such a fit cannot be recognised later.
    """

    def __init__(self, name: str, value):
        self.name, self.value = name, value
        super().__init__(f"{name}={_short_repr(value)} cannot be pickled")


def _short_repr(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@_entry_doc
def put(key: str, where, fitted: dict) -> None:
    """Store a fit; its model is copied to the CPU and the original is not touched.

    Parameters
    ----------
    %(key, where)s
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
        _write_entry(key, expand_folder(where), entry)
        return
    with _lock:
        if _entry_bytes(entry) > _limit["bytes"]:
            return
        _memory[key] = entry
        _memory.move_to_end(key)
        _evict()


@_entry_doc
def get(key: str, where, device) -> dict | None:
    """A fresh fitted dict for ``key`` on ``device``, or None on a miss.

    Parameters
    ----------
    %(key, where)s
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
        return _read_entry(os.path.join(expand_folder(where), key + SUFFIX), device)
    with _lock:
        entry = _memory.get(key)
        if entry is not None:
            _memory.move_to_end(key)
    if entry is None:
        return None
    model, tokenizer = restore_model(entry["state"], device)
    fitted = {k: v for k, v in entry.items() if k != "state"}
    fitted.update(model=model, tokenizer=tokenizer, device=device)
    return fitted


# ------------------------------------------------------------ training lock
#: A lock whose file has not changed (no heartbeat) for this long is stale. The holder
#: touches it every :data:`LOCK_HEARTBEAT_SECONDS`, so six beats in a row must be missed.
LOCK_STALE_SECONDS = 30.0
#: How often the holder touches its lock (at most a sixth of :data:`LOCK_STALE_SECONDS`).
LOCK_HEARTBEAT_SECONDS = 5.0
#: A wait for another's lock longer than this is told with a warning.
LOCK_NOTICE_SECONDS = 5.0
#: How often a waiting process looks at the lock again.
LOCK_POLL_SECONDS = 0.5
#: The longest a process waits for another's lock before training without it.
LOCK_MAX_WAIT_SECONDS = 3600.0
LOCK_SUFFIX = ".skbert-lock"
_LOCK_FORMAT = 1
_LOCK_MAX_BYTES = 4096


@contextlib.contextmanager
def training_lock(key: str, folder: str, *, poll: float | None = None):
    """Let one process at a time fine-tune ``key`` for a shared cache folder.

    Parallel workers of a grid search over a predict-time parameter often
    start the same fold together; without this they would all fine-tune it.
    The first takes ``<key>.skbert-lock``: a small JSON file (its pid, host
    and a random token) written through :mod:`skbert._safe_io` and linked
    into place, so it appears whole or not at all, and touched every
    :data:`LOCK_HEARTBEAT_SECONDS` by a thread while held. The others wait
    until the entry appears or the lock goes away, then read the entry; a
    wait longer than :data:`LOCK_NOTICE_SECONDS` is told with a
    :class:`~skbert._utils.SkbertWarning` naming the lock file (which may be
    deleted if no other fit runs).

    The folder may be shared, so the lock file is data from others. A lock
    that is not a regular file with skbert's content (a link, a folder, a
    FIFO, garbage), whose holder on this host has exited, or that has not
    changed for :data:`LOCK_STALE_SECONDS` (a holder alive but frozen, or a
    planted file) is removed and taken over; one that cannot be removed, or
    that keeps a process waiting for :data:`LOCK_MAX_WAIT_SECONDS`, is
    ignored and the fit trains without it. Each takeover or ignored lock is
    told with a :class:`~skbert._utils.SkbertWarning`. A wait never spins and
    never lasts unboundedly.

    Parameters
    ----------
    key : str
        A hex digest from :func:`make_key`.
    folder : str
        The ``fit_cache`` folder.
    poll : float or None, default=None
        Seconds between looks at a held lock (:data:`LOCK_POLL_SECONDS`).

    Yields
    ------
    bool
        True when this process should train (and :func:`put`): it holds the
        lock, or trains without one. False when the entry appeared meanwhile
        (read it with :func:`get`).
    """
    _check_key(key)
    folder = expand_folder(folder)
    path = os.path.join(folder, key + LOCK_SUFFIX)
    token = _acquire(path, os.path.join(folder, key + SUFFIX),
                     LOCK_POLL_SECONDS if poll is None else poll)
    if token is False or token is None:
        yield token is None
        return
    stop = threading.Event()

    def heartbeat():
        while not stop.wait(min(LOCK_HEARTBEAT_SECONDS, LOCK_STALE_SECONDS / 6)):
            with contextlib.suppress(OSError, NotImplementedError):
                os.utime(path, follow_symlinks=False)

    beat = threading.Thread(target=heartbeat, name="skbert-cache-lock", daemon=True)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join()
        if _lock_state(path)[2] == token:  # not a lock another process took over
            with contextlib.suppress(OSError):
                os.remove(path)


def _acquire(path: str, entry: str, poll: float):
    """Take the lock at ``path``: its token; False if ``entry`` appeared; None to train unlocked."""
    start = time.monotonic()
    deadline = start + LOCK_MAX_WAIT_SECONDS
    seen, since, told = None, start, False
    while True:
        if _is_file(entry):
            return False
        token = secrets.token_hex(16)
        try:
            _create_lock(path, token)
        except FileExistsError:
            pass
        except OSError as exc:  # a folder we cannot lock in: train without coordination
            _lock_warning(f"fit cache: cannot take the training lock {path} "
                          f"({exc.strerror or exc}); training without it, so identical "
                          "parallel fits may each train.")
            return None
        else:
            if _is_file(entry):  # finished while we waited for the lock
                with contextlib.suppress(OSError):
                    os.remove(path)
                return False
            return token
        now = time.monotonic()
        if now > deadline:
            _lock_warning(f"fit cache: waited {LOCK_MAX_WAIT_SECONDS:.0f} s for the training "
                          f"lock {path}, which is still held; training without it.")
            return None
        verdict, identity, _, holder = _lock_state(path)
        if verdict is None:  # released just now
            continue
        if verdict == "live":
            if identity != seen:
                seen, since = identity, now
            elif now - since > LOCK_STALE_SECONDS:
                verdict = f"has not changed for {now - since:.0f} s (no heartbeat)"
        if verdict != "live":
            if not _remove_lock(path, identity):
                _lock_warning(f"fit cache: ignoring the training lock {path}, which {verdict} "
                              "and cannot be removed; training without it.")
                return None
            _lock_warning(f"fit cache: took over the training lock {path}, which {verdict}; "
                          "this fit trains and writes the entry.")
            continue
        if not told and now - start > LOCK_NOTICE_SECONDS:
            told = True
            _lock_warning(
                f"fit cache: waiting for the training lock {path}, held by {holder}: another "
                "fit of the same parameters and data is training, and this one will read its "
                f"result. If no other fit runs, delete that file. A lock whose file does not "
                f"change for {LOCK_STALE_SECONDS:.0f} s is taken over; the wait ends after "
                f"{LOCK_MAX_WAIT_SECONDS:.0f} s at most.")
        time.sleep(poll)


def _lock_warning(message: str) -> None:
    """Tell the user about a lock (a wait, a takeover, a lock ignored): a SkbertWarning."""
    logger.debug(message)
    warnings.warn(message, SkbertWarning, stacklevel=_outside_stacklevel())


#: Modules between a fit's caller and the lock: skbert, the context manager, and
#: scikit-learn's wrapper of ``fit``.
_PASSED_MODULES = ("skbert", "contextlib", "sklearn.base")


def _outside_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the code that called ``fit``."""
    frame, level = sys._getframe(2), 2  # the caller of _lock_warning's caller
    while frame is not None:
        name = frame.f_globals.get("__name__") or ""
        if not any(name == m or name.startswith(m + ".") for m in _PASSED_MODULES):
            return level
        frame, level = frame.f_back, level + 1
    return 1


def _create_lock(path: str, token: str) -> None:
    """Write a lock file whole, then link it to ``path``; FileExistsError if ``path`` exists."""
    folder, name = os.path.split(path)
    doc = {"skbert_lock": _LOCK_FORMAT, "pid": os.getpid(), "host": socket.gethostname(),
           "token": token}
    tmp = os.path.join(folder, f".{name}.{token}{TMP_SUFFIX}")
    write_bytes(tmp, json.dumps(doc).encode("utf-8"), root=folder)
    try:  # link() fails on any existing name (a dangling link included) and follows none
        os.link(tmp, path, follow_symlinks=False)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def _lock_state(path: str):
    """``(verdict, identity, token, holder)``: verdict None (no lock), ``"live"`` or why it is
    not; holder says who holds it, for messages."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, None, None, None
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or exc})", None, None, None
    identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file (a link, folder, FIFO or device)", identity, None, None
    if info.st_size > _LOCK_MAX_BYTES:
        return "is not a lock skbert wrote (too large)", identity, None, None
    try:
        doc = json.loads(read_regular_file(path, _LOCK_MAX_BYTES)[0].decode("utf-8"))
    except FileNotFoundError:
        return None, None, None, None
    except _Damaged:  # another user's lock we may not read: judged by its heartbeat alone
        return "live", identity, None, "a process of another user"
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    if not (isinstance(doc, dict) and doc.get("skbert_lock") == _LOCK_FORMAT
            and is_int(doc.get("pid")) and doc["pid"] > 0 and isinstance(doc.get("host"), str)
            and isinstance(doc.get("token"), str)):
        return "is not a lock skbert wrote", identity, None, None
    holder = f"process {doc['pid']} on host {doc['host']!r:.80}"
    if doc["host"] == socket.gethostname() and not _pid_alive(doc["pid"]):
        return (f"belongs to process {doc['pid']}, which has exited", identity, doc["token"],
                holder)
    age = time.time() - info.st_mtime
    if abs(age) > LOCK_STALE_SECONDS:
        return f"has had no heartbeat for {abs(age):.0f} s", identity, doc["token"], holder
    return "live", identity, doc["token"], holder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or a pid we cannot ask about
    return True


def _remove_lock(path: str, identity) -> bool:
    """Remove what is at ``path`` (never what a link points to) if it is still ``identity``."""
    try:
        info = os.lstat(path)
        if identity is not None and identity != (info.st_dev, info.st_ino, info.st_size,
                                                 info.st_mtime_ns, info.st_mode):
            return True  # replaced meanwhile: look again
        if stat.S_ISDIR(info.st_mode):
            os.rmdir(path)  # only an empty folder; another one's contents are not ours
        else:
            os.remove(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _is_folder(path: str) -> bool:
    """A folder at ``path`` (not a link to one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_file(path: str) -> bool:
    """A regular file at ``path`` (not a link to one)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


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
    # dump_model copied every tensor, so none shares storage; safetensors also
    # needs them contiguous (a no-op for those that already are).
    tensors = {name: t.contiguous() for name, t in state["state_dict"].items()}
    doc = {
        "format": ENTRY_FORMAT,
        "skbert_version": __version__,
        "tensors_sha256": tensors_sha256(tensors),
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
    try:
        # Serialised once; the digest is of the JSON as the reader parses it (numpy values
        # plain, keys text), and its field is appended last, as json.dumps would write it.
        body = json.dumps(doc, default=_json_default)
        parsed = json.loads(body)
        parsed["entry_sha256"] = entry_sha256(parsed)
        text = f"{body[:-1]}, \"entry_sha256\": {json.dumps(parsed['entry_sha256'])}}}"
        _check_doc(parsed)  # what get will check, so no entry is born damaged
        _check_finite(tensors)
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
    try:  # a link planted at the entry's name is replaced, never written through
        write_bytes(final, data, root=folder)
    except IsADirectoryError:  # the folder is writable; one name in it is taken
        _warn_once(f"fit cache: could not write this fit's entry: {final!r} is a folder, not "
                   "an entry skbert wrote, so this fit will not be reused from the folder. "
                   "Remove that folder (skbert never deletes a folder it did not create).")
        return
    except OSError as exc:
        _warn_once(f"fit cache: could not write to {folder!r} ({exc.strerror or exc}); fits "
                   "will not be reused from it. Pass a writable fit_cache folder.")
        return
    _reported.discard(final)
    logger.debug("fit cache: wrote %s (%d bytes)", final, len(data))


# ----------------------------------------------------------- folder: read
def _read_entry(path: str, device) -> dict | None:
    def damaged(exc, identity):
        if identity is None and _is_folder(path):  # not ours to remove: nothing replaces it
            _report(path, str(exc), "; the fit retrains, but its entry cannot be written "
                    "there until that folder is removed.")
            return
        _report(path, str(exc))
        if identity is not None:  # read but refused: removed unless replaced meanwhile
            _remove_if_unchanged(path, identity)

    return read_parsed(path, lambda data: _rebuild(data, device), damaged)


def _rebuild(data: bytes, device) -> dict:
    """Check an entry's bytes and build its fitted dict; :class:`_Damaged` if anything is off."""
    doc = metadata_document(data, _META_KEY, "an skbert fit")
    spec, fitted = _check_doc(doc)
    tensors = load_tensors(data)
    if tensors_sha256(tensors) != spec["tensors_sha256"]:
        raise _Damaged("has tensors whose sha256 differs from the one its metadata records "
                       "(changed bytes: a flipped bit, a partial copy or an edit)")
    _check_finite(tensors)
    if entry_sha256(doc) != spec["entry_sha256"]:
        raise _Damaged("has metadata whose sha256 differs from the one it records (an edited "
                       "or damaged field: a flipped bit, a partial copy or an edit)")

    # checked as a folder's config.json is, and its sizes against the tensors on
    # the meta device, before anything is allocated: a small entry whose config
    # asks for a 4096-wide or 10M-token network is refused, not built
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    try:
        model = model_from_config(spec["config"], spec["pooling"], spec["n_labels"],
                                  spec["attn_implementation"], shapes=shapes,
                                  source="the fit-cache entry")
    except Exception as exc:
        raise _Damaged(f"has a model config that builds no network of its tensors "
                       f"({type(exc).__name__}: {shown(exc)})") from exc
    _check_tensors(tensors, model.state_dict())  # names and dtypes
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise _Damaged(f"has weights the network does not accept ({exc})") from exc
    try:
        tokenizer = _tokenizer_from_files(spec["tokenizer_files"],
                                          rows=spec["config"].get("vocab_size"))
    except Exception as exc:
        raise _Damaged(f"has tokenizer files that do not load "
                       f"({type(exc).__name__}: {exc})") from exc
    model.to(device).eval()
    fitted.update(model=model, tokenizer=tokenizer, device=device)
    return fitted


def entry_sha256(doc: dict) -> str:
    """The SHA-256 of a folder entry's whole metadata document, less ``entry_sha256`` itself.

    The document records :func:`tensors_sha256`, so this digest covers the
    whole entry: the tensors and every field of the JSON (the model config,
    the tokenizer files, the fit's thresholds, ``n_train``, ...). It is taken
    over the canonical JSON of the parsed document (sorted keys, no spaces),
    so it depends on the values, not on how the text spells them. Like
    :func:`tensors_sha256`, it guards against accidents, not tampering.

    Parameters
    ----------
    doc : dict
        The parsed metadata document.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    return document_sha256(doc, "skbert-fit-entry", "entry_sha256")


def _check_finite(tensors: dict) -> None:
    """Every floating tensor finite: a NaN weight would make every prediction NaN."""
    import torch

    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype.is_floating_point and t.numel() and not bool(torch.isfinite(t).all()):
            raise _Damaged(f"has the tensor {name!r} with non-finite values")


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
    message = terminal_safe(message)  # may quote a planted file's text
    if message in _reported:
        logger.debug(message)
    else:
        _reported.add(message)
        logger.warning(message)


def _report(path: str, reason: str,
            then: str = "; the fit retrains and replaces it.") -> None:
    """Log a damaged entry: a warning the first time, then at DEBUG."""
    message = "fit cache: ignoring %s, which %s%s"
    reason = terminal_safe(reason)  # quotes the planted file's values
    if path in _reported:
        logger.debug(message, path, reason, then)
    else:
        _reported.add(path)
        logger.warning(message, path, reason, then)


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
    digest = doc.get("tensors_sha256")
    need(is_sha256(digest),
         f"tensors_sha256={digest!r:.80}, not the sha256 of its tensors (64 hex digits)")
    whole = doc.get("entry_sha256")
    need(is_sha256(whole),
         f"entry_sha256={whole!r:.80}, not the sha256 of the entry (64 hex digits)")
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
            "tensors_sha256": digest, "entry_sha256": whole,
            "n_labels": n_labels, "tokenizer_files": _check_tokenizer_files(
                model.get("tokenizer_files"))}

    history = fitted.get("history")
    need(isinstance(history, list) and all(
        is_history_record(r) and all(v is None or is_number(v) for v in r.values())
        for r in history),
         "a history that is not a list of {str: number or null} records, each with an "
         "epoch from 1 and a train_loss (what a saved folder holds)")
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
    need(thresholds is None or _unit_numbers(thresholds, n_labels),
         f"thresholds that are not null or {n_labels} numbers in [0, 1]")
    by_rule = fitted.get("tuned_by_rule")  # every threshold_metric rule's thresholds
    need(by_rule is None or (
        isinstance(by_rule, dict) and set(by_rule) <= set(THRESHOLD_METRICS) and all(
            isinstance(v, dict) and set(v) == {"thresholds", "scores"}
            and _unit_numbers(v["thresholds"], n_labels)
            and is_tuned_scores(v["scores"]) for v in by_rule.values())),
         f"tuned_by_rule that is not null or {{rule: {{'thresholds': {n_labels} numbers in "
         "[0, 1], 'scores': {name of at most 40 characters: number in [0, 1]}}}")
    lr = fitted.get("learning_rate")  # absent in entries written before learning_rate_
    need(lr is None or (is_number(lr) and math.isfinite(lr) and lr > 0),
         f"learning_rate={lr!r}, not null or a positive finite number")
    out = dict(fitted)  # other fields: plain JSON data, passed on as they are
    out["history"] = [dict(r) for r in history]
    out["thresholds"] = None if thresholds is None else [float(t) for t in thresholds]
    return spec, out


def _unit_numbers(values, n: int) -> bool:
    """Whether ``values`` is a list of ``n`` finite numbers in [0, 1]."""
    return (isinstance(values, list) and len(values) == n
            and all(is_number(t) and math.isfinite(t) and 0 <= t <= 1 for t in values))


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
