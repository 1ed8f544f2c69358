"""Training state on disk, so that an interrupted fit resumes where it stopped.

With ``checkpoint_dir`` set, the training loop calls :func:`save_state` after
every completed epoch. A later fit with the same parameters and data (the same
:func:`fingerprint`) calls :func:`load_state` and :func:`restore` before its
first epoch and continues after the last completed one; on the CPU it ends
with bitwise the weights of a fit that was never interrupted.

On disk
-------
One file per folder, ``<checkpoint_dir>/training_state.safetensors``: each
save replaces it (only the latest epoch is kept, so a folder costs one copy
of the weights, the optimizer's moments and, with a validation split, the
best weights so far). It is written to a temporary file in the same folder
and moved into place with :func:`os.replace`, so the file is always a
complete epoch: a fit killed while writing leaves the previous epoch's file.

The file is a plain safetensors file (no pickle anywhere). Its tensors:

* ``model/<name>``: the model's ``state_dict``;
* ``best/<name>``: the best weights kept by the loop (optional);
* ``optim/<index>/<key>``: the optimizer's per-parameter state (AdamW's
  ``step``, ``exp_avg``, ``exp_avg_sq``), ``index`` as in
  ``optimizer.state_dict()``;
* ``rng/torch_cpu``: ``torch.get_rng_state()``; ``rng/cuda/<i>``: the CUDA
  generator of device ``i`` for each CUDA device the model is on;
* ``extra/<name>``: any further tensors the loop hands in (optional).

Its metadata key ``skbert_training_state`` holds one JSON document: the
format version, the skbert and torch versions, the fingerprint, the epoch,
the history records, the optimizer's ``param_groups`` (tuples as lists) and
non-tensor per-parameter values, the scheduler's ``state_dict`` without
callables, the gradient scaler's ``state_dict`` (numbers), the numpy
Generator's ``bit_generator.state`` (integers as decimal strings, since
PCG64's 128-bit integers exceed what many JSON readers hold), the CUDA
devices and tensor names present, and the loop's ``extra`` object.

Reading never runs pickle or ``torch.load``. Every field is checked before
use: :func:`load_state` checks the file on its own (types, names, the
fingerprint, the numpy state), and :func:`restore` checks it against the
model, optimizer, scheduler and scaler (names, shapes, dtypes, the layout of
the parameter groups) before it changes any of them. A file that is missing
means a fresh start; one written for other parameters or data, or damaged in
any way, is ignored with a :class:`~skbert._utils.SkbertWarning` and replaced
after the next completed epoch.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import re
import secrets
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ._safe_io import (
    DamagedFile,
    is_int,
    is_number,
    load_tensors,
    metadata_document,
    need,
    read_regular_file,
)
from ._utils import SkbertWarning
from ._version import __version__

logger = logging.getLogger(__name__)

#: Name of the state file inside ``checkpoint_dir``.
FILE_NAME = "training_state.safetensors"
#: Suffix of a state file being written (moved into place when complete).
TMP_SUFFIX = ".skbert-tmp"
STATE_FORMAT = 1
_META_KEY = "skbert_training_state"
_HEX = re.compile(r"[0-9a-f]{64}")
_INT_STR = re.compile(r"-?[0-9]{1,200}")
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")  # canonical: "1", never "01"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,199}")
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


_Damaged = DamagedFile  # a state file that cannot be used; the message says why


@dataclass
class TrainingState:
    """A training state read by :func:`load_state`, checked on its own.

    Apply it with :func:`restore`, which also checks it against the objects.
    Tensors are on the CPU.
    """

    path: str
    fingerprint: str
    #: The last completed epoch (1-based).
    epoch: int
    #: One record per completed epoch, ``len(history) == epoch``.
    history: list[dict]
    #: The loop's own JSON object (early-stopping counters and the like), or None.
    extra: dict | None
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict
    scheduler_state: dict | None
    scaler_state: dict | None
    numpy_rng_state: dict
    torch_rng_state: torch.Tensor
    cuda_rng_states: dict[int, torch.Tensor] = field(default_factory=dict)
    #: The loop's best weights, or None.
    best_state: dict[str, torch.Tensor] | None = None
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


# ------------------------------------------------------------ fingerprint
def _canonical(value, where: str):
    """``value`` as plain JSON data with a stable text form; TypeError if it has none."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{where} has the non-str key {bad[0]!r}; fingerprints need str "
                            "keys. Convert the keys with str().")
        return {k: _canonical(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(
        f"{where} is a {type(value).__name__} ({value!r:.80}), which has no stable "
        "fingerprint; pass its resolved value instead (a str, number, bool or None, or a "
        "list or dict of those), e.g. the int seed rather than a RandomState.")


def fingerprint(params: dict, data_key: str) -> str:
    """A hex digest of everything a resumed fit must share with the one it resumes.

    Parameters
    ----------
    params : dict
        The parameters that shape training (not ``verbose``, callbacks or
        ``checkpoint_dir`` itself). Values must be str, numbers, bools, None,
        or lists, tuples, dicts and arrays of those; tuples hash as lists.
    data_key : str
        A digest of the training data (texts, labels, label names and the
        pretrained model's files), computed by the caller.

    Returns
    -------
    str
        64 lowercase hex digits (SHA-256 of the sorted JSON of ``params``,
        ``data_key``, the state format and the skbert version).

    Raises
    ------
    TypeError
        If a value has no stable text form (an object, a RandomState); the
        message names the parameter.

    Examples
    --------
    >>> a = fingerprint({"lr": 1e-3, "max_epochs": 3}, "data")
    >>> a == fingerprint({"max_epochs": 3, "lr": 1e-3}, "data")
    True
    >>> a == fingerprint({"lr": 2e-3, "max_epochs": 3}, "data")
    False
    """
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict; got {type(params).__name__}.")
    if not isinstance(data_key, str) or not data_key:
        raise TypeError(f"data_key must be a non-empty str; got {data_key!r}.")
    doc = {"format": STATE_FORMAT, "skbert_version": __version__, "data": data_key,
           "params": _canonical(params, "params")}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------- save
def _dtype_names() -> dict:
    names = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
             torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}
    for attr, name in (("float8_e4m3fn", "F8_E4M3"), ("float8_e5m2", "F8_E5M2")):
        if hasattr(torch, attr):
            names[getattr(torch, attr)] = name
    return names


#: torch dtype -> safetensors dtype name, for the dtypes a training state holds.
_DTYPE_NAMES = _dtype_names()


def _to_json(value, where: str, *, drop_callables: bool = False):
    """Plain JSON data for a state dict: tuples become lists; callables are dropped if asked."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return [None if drop_callables and callable(v)
                else _to_json(v, f"{where}[{i}]", drop_callables=drop_callables)
                for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if drop_callables and callable(v):
                continue
            if not isinstance(k, str):
                raise TypeError(f"{where} has the non-str key {k!r}; the training state "
                                "stores JSON objects.")
            out[k] = _to_json(v, f"{where}[{k!r}]", drop_callables=drop_callables)
        return out
    raise TypeError(f"{where} is a {type(value).__name__}, which the training state cannot "
                    "store as JSON; keep such values out of the state dict (plain numbers, "
                    "strings, bools, None, lists and dicts are stored).")


def _rng_to_json(value):
    """A bit generator's state as JSON: every integer becomes a decimal string."""
    if isinstance(value, dict):
        return {str(k): _rng_to_json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_rng_to_json(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_rng_to_json(v) for v in value]
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, str):
        return value
    raise TypeError(f"the numpy bit generator's state holds a {type(value).__name__}, "
                    "which the training state does not store.")


def _cuda_devices(model: torch.nn.Module) -> list[int]:
    found = {t.device.index or 0 for t in list(model.parameters()) + list(model.buffers())
             if t.device.type == "cuda"}
    return sorted(found)


def save_state(folder, fp: str, *, epoch: int, model: torch.nn.Module,
               optimizer: torch.optim.Optimizer, scheduler, scaler=None,
               np_rng: np.random.Generator, history: list[dict], extra: dict | None = None,
               best_state: dict[str, torch.Tensor] | None = None,
               extra_tensors: dict[str, torch.Tensor] | None = None) -> str | None:
    """Write the full training state after ``epoch`` to ``folder``, atomically.

    Parameters
    ----------
    folder : str or path-like
        The ``checkpoint_dir``; created if missing. Its state file is replaced.
    fp : str
        The fit's :func:`fingerprint`.
    epoch : int
        The epoch just completed (1-based).
    model : torch.nn.Module
        The model being trained (any device).
    optimizer : torch.optim.Optimizer
        Its optimizer.
    scheduler : torch.optim.lr_scheduler.LRScheduler or None
        Its learning-rate scheduler; callables in its state (LambdaLR's
        functions) are not stored and must be rebuilt by the caller.
    scaler : torch.amp.GradScaler or None, default=None
        The gradient scaler of fp16 training.
    np_rng : numpy.random.Generator
        The Generator that shuffles the batches.
    history : list of dict
        One record per completed epoch (``len(history) == epoch``), each
        mapping str to a number or None.
    extra : dict or None, default=None
        Further JSON data the loop needs back (early-stopping counters, ...).
    best_state : dict of str to Tensor or None, default=None
        The best weights kept so far; same names, shapes and dtypes as the
        model's ``state_dict``.
    extra_tensors : dict of str to Tensor or None, default=None
        Further tensors the loop needs back (e.g. the best epoch's
        validation logits); names match ``[A-Za-z_][A-Za-z0-9_.-]*``.

    Returns
    -------
    str or None
        The path written, or None when the folder could not be written (a
        :class:`~skbert._utils.SkbertWarning` says why; training goes on).

    Raises
    ------
    TypeError, ValueError
        If an argument is malformed (a programming error, not a disk problem):
        a state value that is not JSON data, a history of the wrong length.
    """
    _check_save_args(fp, epoch, history, extra, np_rng)
    tensors: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"model.state_dict()[{name!r}] is a {type(t).__name__}, not a "
                            "tensor; the training state stores tensors only.")
        tensors["model/" + name] = t.detach()
    if best_state is not None:
        for name, t in best_state.items():
            tensors["best/" + name] = t.detach()
        _check_best(best_state, tensors)
    extra_names = []
    for name, t in (extra_tensors or {}).items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"extra_tensors has the name {name!r}; use names matching "
                             f"{_NAME.pattern}.")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"extra_tensors[{name!r}] is a {type(t).__name__}, not a tensor; "
                            "convert arrays with torch.from_numpy.")
        tensors["extra/" + name] = t.detach()
        extra_names.append(name)

    opt = optimizer.state_dict()
    opt_state = {}
    for index, values in opt["state"].items():
        entry = {"tensors": [], "values": {}}
        for key, value in values.items():
            if not isinstance(key, str) or not _NAME.fullmatch(key):
                raise ValueError(f"optimizer state key {key!r} is not a plain name.")
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{int(index)}/{key}"] = value.detach()
                entry["tensors"].append(key)
            else:
                entry["values"][key] = _to_json(value, f"optimizer state[{index}][{key!r}]")
        opt_state[str(int(index))] = entry

    tensors["rng/torch_cpu"] = torch.get_rng_state()
    devices = _cuda_devices(model)
    for i in devices:
        tensors[f"rng/cuda/{i}"] = torch.cuda.get_rng_state(i)

    doc = {
        "format": STATE_FORMAT,
        "skbert_version": __version__,
        "torch_version": torch.__version__,
        "fingerprint": fp,
        "epoch": epoch,
        "history": _to_json(history, "history"),
        "extra": None if extra is None else _to_json(extra, "extra"),
        "optimizer": {"param_groups": _to_json(opt["param_groups"], "param_groups"),
                      "state": opt_state},
        "scheduler": (None if scheduler is None else
                      _to_json(scheduler.state_dict(), "scheduler.state_dict()",
                               drop_callables=True)),
        "scaler": None if scaler is None else _to_json(scaler.state_dict(), "scaler"),
        "numpy_rng": _rng_to_json(np_rng.bit_generator.state),
        "cuda_rng_devices": devices,
        "has_best": best_state is not None,
        "extra_tensors": extra_names,
    }
    text = json.dumps(doc, allow_nan=True)
    try:  # what load_state checks, so that no state file is born damaged
        _check_doc(json.loads(text), fp)
    except _Damaged as exc:
        raise ValueError(f"the training state to save is malformed: it {exc}.") from exc
    return _write(os.fspath(folder), tensors, text)


def _check_best(best_state: dict, tensors: dict) -> None:
    """The best weights must match the model, as :func:`load_state` will require."""
    model = {k[6:]: t for k, t in tensors.items() if k.startswith("model/")}
    if sorted(best_state) != sorted(model):
        raise ValueError("best_state must have the names of model.state_dict(); it differs in "
                         f"{sorted(set(best_state) ^ set(model))[:3]}.")
    for name, t in best_state.items():
        if t.shape != model[name].shape or t.dtype != model[name].dtype:
            raise ValueError(f"best_state[{name!r}] is {tuple(t.shape)} {t.dtype}; the model "
                             f"has {tuple(model[name].shape)} {model[name].dtype}.")


def _check_save_args(fp, epoch, history, extra, np_rng) -> None:
    if not isinstance(fp, str) or not _HEX.fullmatch(fp):
        raise ValueError(f"fp={fp!r} is not a fingerprint; build it with "
                         "skbert._checkpoint.fingerprint.")
    if not is_int(epoch) or epoch < 1:
        raise ValueError(f"epoch={epoch!r} must be an int >= 1 (the epoch just completed).")
    if not isinstance(history, list) or len(history) != epoch:
        n = len(history) if isinstance(history, list) else type(history).__name__
        raise ValueError(f"history must be a list of one record per completed epoch; got "
                         f"{n} records for epoch={epoch}.")
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"extra must be a dict or None; got {type(extra).__name__}.")
    if not isinstance(np_rng, np.random.Generator):
        raise TypeError(f"np_rng must be a numpy.random.Generator; got "
                        f"{type(np_rng).__name__}.")
    name = type(np_rng.bit_generator).__name__
    if name not in _BIT_GENERATORS:
        raise TypeError(f"np_rng uses the bit generator {name}; the training state stores "
                        f"{_BIT_GENERATORS}.")


def _write(folder: str, tensors: dict, text: str) -> str | None:
    final = os.path.join(folder, FILE_NAME)
    tmp = os.path.join(folder, f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(6)}{TMP_SUFFIX}")
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o644)
        try:
            _write_safetensors(fd, tensors, {_META_KEY: text})
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except OSError as exc:
        _remove_quietly(tmp)
        warnings.warn(
            f"checkpoint_dir={folder!r}: could not write the training state "
            f"({exc.strerror or exc}); training goes on, but cannot resume from this epoch. "
            "Pass a writable folder with free space, or checkpoint_dir=None.",
            SkbertWarning, stacklevel=3)
        return None
    except BaseException:  # Ctrl-C, or a programming error: no temporary file left behind
        _remove_quietly(tmp)
        raise
    _fsync_folder(folder)
    logger.debug("checkpoint: wrote %s", final)
    return final


def _write_safetensors(fd: int, tensors: dict[str, torch.Tensor], metadata: dict) -> None:
    """Write ``tensors`` to ``fd`` in the safetensors format, one tensor at a time.

    ``safetensors.torch.save`` would first copy every tensor into one bytes
    object (and ``save_file`` renames its own temporary file into place);
    streaming keeps the extra memory to one tensor, copied to the CPU if it
    lives elsewhere. The file is read back with safetensors' own loader.
    """
    if sys.byteorder != "little":  # pragma: no cover - safetensors is little-endian
        from safetensors.torch import save

        _write_all(fd, save({k: v.cpu().contiguous() for k, v in tensors.items()},
                            metadata=metadata))
        return
    header: dict = {"__metadata__": metadata}
    offset = 0
    names = sorted(tensors)
    for name in names:
        t = tensors[name]
        if t.dtype not in _DTYPE_NAMES:
            raise TypeError(f"tensor {name!r} has dtype {t.dtype}, which the training state "
                            f"does not store; supported: {sorted(map(str, _DTYPE_NAMES))}.")
        size = t.numel() * t.element_size()
        header[name] = {"dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned
    _write_all(fd, len(raw).to_bytes(8, "little") + raw)
    for name in names:
        t = tensors[name]
        if t.numel():
            flat = t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
            _write_all(fd, memoryview(flat.numpy()))


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _fsync_folder(folder: str) -> None:
    """Make the rename durable where the platform allows it (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def clear_state(folder) -> None:
    """Delete the state file in ``folder`` and any temporary files a killed fit left.

    Parameters
    ----------
    folder : str or path-like
        A ``checkpoint_dir``. Other files in it are left alone; a missing
        folder is fine.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return
    for item in os.scandir(folder):
        ours = item.name == FILE_NAME or (item.name.startswith(f".{FILE_NAME}.")
                                          and item.name.endswith(TMP_SUFFIX))
        if ours and not item.is_dir(follow_symlinks=False):
            _remove_quietly(item.path)


# ------------------------------------------------------------------- load
def load_state(folder, fp: str, *, check_extra=None) -> TrainingState | None:
    """Read and check the training state in ``folder``.

    Parameters
    ----------
    folder : str or path-like
        The ``checkpoint_dir``.
    fp : str
        The :func:`fingerprint` of the fit that wants to resume.
    check_extra : callable or None, default=None
        Called with the ``extra`` object read back (a dict or None); raising
        ``ValueError`` or ``TypeError`` marks the file as damaged. The loop
        passes its own check of the fields it stored there.

    Returns
    -------
    TrainingState or None
        None when there is no state file (a fresh start), or, with a
        :class:`~skbert._utils.SkbertWarning`, when the file was written by a
        fit with other parameters or data or is damaged in any way (empty,
        truncated, not safetensors, bad JSON, missing or ill-typed fields).
    """
    path = os.path.join(os.fspath(folder), FILE_NAME)
    try:
        data, _ = read_regular_file(path)
    except FileNotFoundError:
        return None
    except _Damaged as exc:
        _ignore(path, str(exc))
        return None
    try:
        return _parse(path, data, fp, check_extra)
    except _Mismatch as exc:
        _ignore(path, str(exc), other_fit=True)
    except _Damaged as exc:
        _ignore(path, str(exc))
    return None


class _Mismatch(_Damaged):
    """A sound state file written by a fit with other parameters or data."""


def _ignore(path: str, reason: str, other_fit: bool = False) -> None:
    what = "the training state of a fit with other parameters or data" if other_fit else (
        "a damaged training state")
    warnings.warn(
        f"checkpoint_dir: ignoring {path}, {what} (it {reason}); training starts from epoch "
        "1 and replaces the file after the first epoch. Use another checkpoint_dir to keep "
        "it.", SkbertWarning, stacklevel=3)


def _parse(path: str, data: bytes, fp: str, check_extra) -> TrainingState:
    doc = metadata_document(data, _META_KEY, "an skbert training state")
    doc = _check_doc(doc, fp)
    tensors = load_tensors(data)
    state = _assemble(path, doc, tensors)
    if check_extra is not None:
        try:
            check_extra(state.extra)
        except (ValueError, TypeError) as exc:
            raise _Damaged(f"has an 'extra' object the loop rejects ({exc})") from exc
    return state


def _check_doc(doc, fp: str) -> dict:
    """Check the JSON document on its own; raise :class:`_Damaged` or :class:`_Mismatch`."""
    need(isinstance(doc, dict), f"metadata of type {type(doc).__name__}, not an object")
    need(doc.get("format") == STATE_FORMAT,
         f"format {doc.get('format')!r}; this skbert reads format {STATE_FORMAT}")
    got = doc.get("fingerprint")
    need(isinstance(got, str) and _HEX.fullmatch(got) is not None,
         f"fingerprint {got!r}, not 64 hex digits")
    if got != fp:
        raise _Mismatch(f"has fingerprint {got[:12]}..., this fit {fp[:12]}...")
    epoch = doc.get("epoch")
    need(is_int(epoch) and 1 <= epoch <= 10_000_000, f"epoch={epoch!r}, not an int >= 1")
    history = doc.get("history")
    need(isinstance(history, list) and len(history) == epoch,
         f"a history that is not a list of {epoch} records")
    for i, record in enumerate(history):
        need(isinstance(record, dict) and all(v is None or is_number(v)
                                               for v in record.values()),
             f"history[{i}] that is not an object of numbers and nulls")
    need(doc.get("extra") is None or isinstance(doc["extra"], dict),
         "an 'extra' that is not an object or null")

    opt = doc.get("optimizer")
    need(isinstance(opt, dict), "no 'optimizer' object")
    groups, opt_state = opt.get("param_groups"), opt.get("state")
    need(isinstance(groups, list) and len(groups) >= 1
         and all(isinstance(g, dict) for g in groups),
         "optimizer param_groups that are not a non-empty list of objects")
    indices = []
    for g, group in enumerate(groups):
        params = group.get("params")
        need(isinstance(params, list) and all(is_int(p) and p >= 0 for p in params),
             f"param_groups[{g}]['params'] that is not a list of parameter indices")
        indices += params
    need(sorted(indices) == list(range(len(indices))),
         "param_groups whose parameter indices are not 0..n-1, each once")
    need(isinstance(opt_state, dict), "an optimizer 'state' that is not an object")
    for index, entry in opt_state.items():
        need(_INDEX.fullmatch(index) is not None and int(index) < len(indices),
             f"optimizer state for parameter {index!r}, which no group holds")
        need(isinstance(entry, dict) and isinstance(entry.get("tensors"), list)
             and isinstance(entry.get("values"), dict),
             f"optimizer state {index!r} without 'tensors' and 'values'")
        names = entry["tensors"] + list(entry["values"])
        need(all(isinstance(k, str) and _NAME.fullmatch(k) for k in names)
             and len(set(names)) == len(names),
             f"optimizer state {index!r} with bad or repeated names")
        need(all(v is None or isinstance(v, (bool, int, float, str))
                  for v in entry["values"].values()),
             f"optimizer state {index!r} with values that are not numbers, bools or strings")
    for key in ("scheduler", "scaler"):
        need(doc.get(key) is None or isinstance(doc[key], dict),
             f"a {key!r} that is not an object or null")
    scaler = doc.get("scaler")
    if scaler is not None:
        need(all(is_number(v) and math.isfinite(v) for v in scaler.values()),
             "a scaler state with values that are not finite numbers")
    devices = doc.get("cuda_rng_devices")
    need(isinstance(devices, list) and all(is_int(i) and 0 <= i < 1024 for i in devices)
         and len(set(devices)) == len(devices), "'cuda_rng_devices' that are not device ids")
    need(isinstance(doc.get("has_best"), bool), "no 'has_best' bool")
    names = doc.get("extra_tensors")
    need(isinstance(names, list) and all(isinstance(k, str) and _NAME.fullmatch(k)
                                          for k in names) and len(set(names)) == len(names),
         "'extra_tensors' that are not a list of names")
    doc["numpy_rng"] = _rng_from_json(doc.get("numpy_rng"))
    return doc


def _decode_ints(value, where: str):
    if isinstance(value, dict):
        return {k: _decode_ints(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_ints(v, where) for v in value]
    if isinstance(value, str):
        if _INT_STR.fullmatch(value) and value.startswith("-"):
            # every field of numpy's bit-generator states is unsigned; older numpy (< 2)
            # accepts a negative one with a DeprecationWarning instead of rejecting it
            raise _Damaged(f"a numpy generator state that numpy rejects (the negative "
                           f"integer {value} at {where})")
        return int(value) if _INT_STR.fullmatch(value) else value
    raise _Damaged(f"a numpy generator state with a {type(value).__name__} at {where}")


def _rng_from_json(value) -> dict:
    """The bit generator state, checked by building a generator from it."""
    need(isinstance(value, dict), "no 'numpy_rng' object")
    name = value.get("bit_generator")
    need(name in _BIT_GENERATORS, f"a numpy bit generator {name!r}, not one of "
         f"{_BIT_GENERATORS}")
    state = _decode_ints(value, "numpy_rng")
    try:
        bit_generator = getattr(np.random, name)()
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise _Damaged(f"a numpy {name} state that numpy rejects ({exc})") from exc
    return state


def _assemble(path: str, doc: dict, tensors: dict[str, torch.Tensor]) -> TrainingState:
    """Sort the file's tensors by their names, checking them against the document."""
    model, best, extra, optim, cuda = {}, {}, {}, {}, {}
    cpu_rng = None
    for name, t in tensors.items():
        kind, _, rest = name.partition("/")
        if kind == "model" and rest:
            model[rest] = t
        elif kind == "best" and rest:
            best[rest] = t
        elif kind == "extra" and rest:
            extra[rest] = t
        elif kind == "optim":
            index, _, key = rest.partition("/")
            need(_INDEX.fullmatch(index) is not None and key != "",
                 f"the optimizer tensor {name!r}, not optim/<index>/<key>")
            optim.setdefault(index, {})[key] = t
        elif name == "rng/torch_cpu":
            cpu_rng = t
        elif kind == "rng" and rest.startswith("cuda/") and _INDEX.fullmatch(rest[5:]):
            cuda[int(rest[5:])] = t
        else:
            raise _Damaged(f"has the unexpected tensor {name!r}")
    need(bool(model), "no model tensors")
    need(cpu_rng is not None and _is_rng_tensor(cpu_rng),
         "no torch CPU generator state (a 1-D uint8 tensor 'rng/torch_cpu')")
    need(sorted(cuda) == sorted(doc["cuda_rng_devices"])
         and all(_is_rng_tensor(t) for t in cuda.values()),
         "CUDA generator states that do not match 'cuda_rng_devices'")
    if doc["has_best"]:
        need(sorted(best) == sorted(model), "best weights whose names are not the model's")
        for name, t in best.items():
            need(t.shape == model[name].shape and t.dtype == model[name].dtype,
                 f"best weights {name!r} of shape {tuple(t.shape)} and {t.dtype}, the model "
                 f"tensor {tuple(model[name].shape)} and {model[name].dtype}")
    else:
        need(not best, "best weights that the document does not declare")
    need(sorted(extra) == sorted(doc["extra_tensors"]),
         "extra tensors that do not match 'extra_tensors'")

    declared = doc["optimizer"]["state"]
    need(sorted(optim) == sorted(k for k, e in declared.items() if e["tensors"]),
         "optimizer tensors for other parameters than the document declares")
    state = {}
    for index, entry in declared.items():
        got = optim.get(index, {})
        need(sorted(got) == sorted(entry["tensors"]),
             f"optimizer tensors {sorted(got)} for parameter {index}, declared "
             f"{sorted(entry['tensors'])}")
        need(all(t.dtype.is_floating_point for t in got.values()),
             f"optimizer state for parameter {index} that is not floating point")
        state[int(index)] = {**got, **entry["values"]}
    return TrainingState(
        path=path, fingerprint=doc["fingerprint"], epoch=doc["epoch"],
        history=[dict(r) for r in doc["history"]], extra=doc["extra"], model_state=model,
        optimizer_state={"state": state, "param_groups": doc["optimizer"]["param_groups"]},
        scheduler_state=doc["scheduler"], scaler_state=doc["scaler"],
        numpy_rng_state=doc["numpy_rng"], torch_rng_state=cpu_rng, cuda_rng_states=cuda,
        best_state=best if doc["has_best"] else None, extra_tensors=extra)


def _is_rng_tensor(t: torch.Tensor) -> bool:
    return t.dtype == torch.uint8 and t.ndim == 1 and t.numel() > 0


# ---------------------------------------------------------------- restore
def restore(state: TrainingState, *, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, scheduler, scaler=None
            ) -> np.random.Generator | None:
    """Put a training state into fresh training objects and the global torch generators.

    Everything is checked against the objects first; only then are the
    model's weights, the optimizer's state and parameter groups, the
    scheduler, the scaler, torch's CPU generator and the CUDA generator of
    each device the model is on set. Call it where the loop would otherwise
    start its first epoch: after ``torch.manual_seed`` (inside
    ``torch.random.fork_rng``), which it overrides.

    Parameters
    ----------
    state : TrainingState
        From :func:`load_state`.
    model : torch.nn.Module
        The model, built as for a fresh fit and already on its device.
    optimizer : torch.optim.Optimizer
        Its optimizer, built as for a fresh fit (same parameter groups).
    scheduler : torch.optim.lr_scheduler.LRScheduler or None
        Its scheduler, built as for a fresh fit (its callables come from
        there).
    scaler : torch.amp.GradScaler or None, default=None
        The gradient scaler, if the fit uses one.

    Returns
    -------
    numpy.random.Generator or None
        A new Generator in the saved state, to shuffle the next epochs. None,
        with a :class:`~skbert._utils.SkbertWarning` and nothing changed, when
        the state does not fit the objects (other names, shapes or dtypes,
        another layout of parameter groups, a scaler on one side only).
    """
    if not isinstance(state, TrainingState):
        raise TypeError(f"state must be a TrainingState from load_state; got "
                        f"{type(state).__name__}.")
    try:
        plan = _plan(state, model, optimizer, scheduler, scaler)
    except _Damaged as exc:
        warnings.warn(
            f"checkpoint_dir: ignoring {state.path}, whose training state does not fit this "
            f"model and optimizer (it {exc}); training starts from epoch 1 and replaces the "
            "file after the first epoch.", SkbertWarning, stacklevel=2)
        return None
    model.load_state_dict(state.model_state)
    optimizer.load_state_dict(plan["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(plan["scheduler"])
    if scaler is not None and plan["scaler"]:
        scaler.load_state_dict(plan["scaler"])
    torch.set_rng_state(state.torch_rng_state.clone())
    for i in plan["cuda"]:
        torch.cuda.set_rng_state(state.cuda_rng_states[i].clone(), device=i)
    name = state.numpy_rng_state["bit_generator"]
    bit_generator = getattr(np.random, name)()
    bit_generator.state = copy.deepcopy(state.numpy_rng_state)
    return np.random.Generator(bit_generator)


def _check_tensors(what: str, got: dict, live: dict) -> None:
    missing, unexpected = sorted(set(live) - set(got)), sorted(set(got) - set(live))
    need(not missing and not unexpected,
         f"{what} that do not match the model: missing {missing[:3]}, unexpected "
         f"{unexpected[:3]}")
    for name, want in live.items():
        t = got[name]
        need(t.shape == want.shape, f"{what} {name!r} of shape {tuple(t.shape)}; the model "
             f"has {tuple(want.shape)}")
        need(t.dtype == want.dtype, f"{what} {name!r} of dtype {t.dtype}; the model has "
             f"{want.dtype}")


def _like(saved, live, where: str, finite: bool = False):
    """``saved`` checked to have the kind and layout of ``live``, tuples restored."""
    if isinstance(live, dict):
        need(isinstance(saved, dict) and set(saved) == set(live),
             f"{where} with keys {sorted(saved) if isinstance(saved, dict) else saved!r}; "
             f"expected {sorted(live)}")
        return {k: _like(saved[k], v, f"{where}[{k!r}]", finite) for k, v in live.items()}
    if isinstance(live, (list, tuple)):
        need(isinstance(saved, list) and len(saved) == len(live),
             f"{where}={saved!r:.60}; expected a list of {len(live)}")
        out = [_like(s, v, f"{where}[{i}]", finite) for i, (s, v) in enumerate(zip(saved, live))]
        return tuple(out) if isinstance(live, tuple) else out
    if live is None:
        need(saved is None, f"{where}={saved!r:.60}; expected null")
        return None
    if isinstance(live, bool):
        need(isinstance(saved, bool), f"{where}={saved!r:.60}; expected a bool")
        return saved
    if isinstance(live, int):
        need(is_int(saved), f"{where}={saved!r:.60}; expected an int")
        return saved
    if isinstance(live, float):
        need(isinstance(saved, float) and (math.isfinite(saved) or not finite),
             f"{where}={saved!r:.60}; expected a {'finite ' if finite else ''}float")
        return saved
    if isinstance(live, str):
        need(isinstance(saved, str), f"{where}={saved!r:.60}; expected a str")
        return saved
    raise _Damaged(f"{where} that the live object holds as a {type(live).__name__}, which "
                   "the training state does not store")


def _plan(state: TrainingState, model, optimizer, scheduler, scaler) -> dict:
    """Check ``state`` against the objects; return what to load. Changes nothing."""
    live = model.state_dict()
    _check_tensors("weights", state.model_state, live)
    if state.best_state is not None:
        _check_tensors("best weights", state.best_state, live)

    live_opt = optimizer.state_dict()
    saved_groups = state.optimizer_state["param_groups"]
    need(len(saved_groups) == len(live_opt["param_groups"]),
         f"{len(saved_groups)} optimizer parameter groups; the optimizer has "
         f"{len(live_opt['param_groups'])}")
    groups = []
    for g, (saved, group) in enumerate(zip(saved_groups, live_opt["param_groups"])):
        for key in ("params", "param_names"):
            need(saved.get(key) == group.get(key),
                 f"param_groups[{g}][{key!r}]={saved.get(key)!r:.60}; the optimizer has "
                 f"{group.get(key)!r:.60}")
        groups.append(_like(saved, _to_json_live(group), f"param_groups[{g}]", finite=True))
    params = [p for group in optimizer.param_groups for p in group["params"]]
    opt_state = {}
    for index, values in state.optimizer_state["state"].items():
        p = params[index]
        out = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                need(value.ndim == 0 or value.shape == p.shape,
                     f"optimizer state {key!r} of parameter {index} with shape "
                     f"{tuple(value.shape)}; the parameter has {tuple(p.shape)}")
                value = value.clone()  # the optimizer may keep it and update it in place
            out[key] = value
        opt_state[index] = out

    sched = None
    if scheduler is not None:
        need(state.scheduler_state is not None, "no scheduler state; this fit uses a scheduler")
        sched = _like(state.scheduler_state, _drop_callables(scheduler.state_dict()),
                      "scheduler state")
    else:
        need(state.scheduler_state is None, "a scheduler state; this fit uses no scheduler")
    live_scaler = {} if scaler is None else scaler.state_dict()
    saved_scaler = state.scaler_state or {}
    need(set(saved_scaler) == set(live_scaler),
         f"gradient scaler state {sorted(saved_scaler)}; this fit's scaler has "
         f"{sorted(live_scaler)} (precision='fp16' uses one, other precisions none)")
    scaler_state = _like(saved_scaler, live_scaler, "scaler state", finite=True)
    n = torch.get_rng_state().numel()
    need(state.torch_rng_state.numel() == n,
         f"a torch CPU generator state of {state.torch_rng_state.numel()} bytes, not {n}")
    on = set(_cuda_devices(model))
    cuda = []
    for i, t in state.cuda_rng_states.items():
        if i in on and torch.cuda.is_available() and i < torch.cuda.device_count():
            n = torch.cuda.get_rng_state(i).numel()
            need(t.numel() == n, f"a CUDA generator state of {t.numel()} bytes, not {n}")
            cuda.append(i)
        else:
            logger.debug("checkpoint: not restoring the generator of cuda:%d (model not on it)",
                         i)
    return {"optimizer": {"state": opt_state, "param_groups": groups}, "scheduler": sched,
            "scaler": scaler_state, "cuda": cuda}


def _drop_callables(value):
    """A live state dict without callables (as :func:`save_state` stores it), types kept."""
    if isinstance(value, dict):
        return {k: _drop_callables(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, (list, tuple)):
        out = [None if callable(v) else _drop_callables(v) for v in value]
        return tuple(out) if isinstance(value, tuple) else out
    return value


def _to_json_live(group: dict) -> dict:
    """A live parameter group as the kinds of values the state file holds (tuples kept)."""
    out = {}
    for key, value in group.items():
        if isinstance(value, (np.floating, np.integer)):
            value = value.item()
        out[key] = value
    return out
