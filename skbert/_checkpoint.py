"""Training state on disk, so that an interrupted fit resumes where it stopped.

With ``checkpoint_dir`` set, the training loop calls :func:`save_state` after
every completed epoch. A later fit with the same parameters and data (the same
:func:`fingerprint`) calls :func:`load_state` and :func:`restore` before its
first epoch and continues after the last completed one; on the CPU it ends
with bitwise the weights of a fit that was never interrupted.

On disk
-------
One file per folder, ``<checkpoint_dir>/training_state.safetensors`` (``~``
expanded, see :func:`skbert._params.expand_folder`): each
save replaces it (only the latest epoch is kept, so a folder costs one copy
of the weights, the optimizer's moments and, with a validation split, the
best weights so far). It is written through :mod:`skbert._safe_io` (a
temporary sibling renamed into place, never through a link, skbert's one
file mode), so the file is always a complete epoch: a fit killed while
writing, Ctrl-C included, leaves the previous epoch's file. The tensors are
streamed into the writer one at a time.

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
devices and tensor names present, the loop's ``extra`` object, and two
digests (:func:`seal`): ``tensors_sha256`` (every tensor's name, dtype, shape
and bytes, :func:`skbert._safe_io.tensors_sha256`) and ``state_sha256`` (the
canonical JSON of the rest of the document), so a file changed after it was
written (a flipped bit, an edited weight or value) is ignored, not resumed.

Reading never runs pickle or ``torch.load``. Every field is checked before
use (:mod:`skbert._checkpoint_check`): :func:`load_state` checks the file on
its own (types, names, ranges, finite tensors, non-negative second moments,
step counts, the epoch against ``max_epochs``, the history records, the
torch and numpy generator states tried on throwaway generators), and
:func:`restore` checks it against the model, optimizer, scheduler and scaler
(names, shapes, dtypes, the layout of the parameter groups, every group
value but the rate equal to what this fit's optimizer was built with, the
rate within its initial rate, the scheduler's steps against the optimizer's
and the fit's length) before it changes any of them. Values skbert never
writes (``amsgrad`` or ``maximize`` switched on, another ``eps``, a
``no_improve`` beyond the epochs completed, a NaN in the loop's counters)
are refused, not trained with. A file that is missing
means a fresh start; one written for other parameters or data, or damaged in
any way, is ignored with a :class:`~skbert._utils.SkbertWarning` and replaced
after the next completed epoch.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import sys
import warnings

import numpy as np
import torch

from ._checkpoint_check import (
    _BIT_GENERATORS,
    _NAME,
    STATE_FORMAT,
    Mismatch,
    TrainingState,
    assemble,
    check_doc,
    cuda_devices,
    plan,
)
from ._params import expand_folder
from ._safe_io import (
    TMP_TAG,
    DamagedFile,
    atomic_writer,
    document_sha256,
    is_int,
    is_sha256,
    load_tensors,
    metadata_document,
    tensors_sha256,
    terminal_safe,
    update_tensors_sha256,
)
from ._utils import SkbertWarning, read_parsed, user_stacklevel
from ._version import __version__

__all__ = ["FILE_NAME", "TrainingState", "fingerprint", "load_state", "restore", "save_state"]

logger = logging.getLogger(__name__)

#: Name of the state file inside ``checkpoint_dir``.
FILE_NAME = "training_state.safetensors"
#: ``tensors_sha256`` in the header :func:`_write_safetensors` writes first, and
#: replaces (at the same length) once the tensors are written and their digest known.
_DIGEST_PLACEHOLDER = "0" * 64
#: Suffix of a file being written (by skbert._safe_io; moved into place when complete).
TMP_SUFFIX = TMP_TAG
_META_KEY = "skbert_training_state"
_DIGEST_TAG = "skbert-training-state"
_Damaged = DamagedFile  # a state file that cannot be used; the message says why


# ------------------------------------------------------------ fingerprint
def fingerprint(data_key: str) -> str:
    """A hex digest of everything a resumed fit must share with the one it resumes.

    Parameters
    ----------
    data_key : str
        A digest of the training parameters and data (texts, labels, label
        names and the pretrained model's files), computed by the caller
        (``_runner.data_key``).

    Returns
    -------
    str
        64 lowercase hex digits (SHA-256 of ``data_key``, the state format and
        the skbert version).

    Examples
    --------
    >>> a = fingerprint("data")
    >>> len(a), a == fingerprint("data"), a == fingerprint("other data")
    (64, True, False)
    """
    if not isinstance(data_key, str) or not data_key:
        raise TypeError(f"data_key must be a non-empty str; got {data_key!r}.")
    doc = {"format": STATE_FORMAT, "skbert_version": __version__, "data": data_key}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
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



def save_state(folder, fp: str, *, epoch: int, model: torch.nn.Module,
               optimizer: torch.optim.Optimizer, scheduler, scaler=None,
               np_rng: np.random.Generator, history: list[dict], extra: dict | None = None,
               best_state: dict[str, torch.Tensor] | None = None,
               extra_tensors: dict[str, torch.Tensor] | None = None) -> str | None:
    """Write the full training state after ``epoch`` to ``folder``, atomically.

    Parameters
    ----------
    folder : str or path-like
        The ``checkpoint_dir`` (``~`` is expanded); created if missing. Its
        state file is replaced.
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
    devices = cuda_devices(model)
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

    def metadata(digest: str) -> dict:  # of the tensors, computed as they are written
        return {_META_KEY: json.dumps(seal(doc, digest=digest), allow_nan=True)}

    try:  # what load_state checks, so that no state file is born damaged
        check_doc(json.loads(metadata(_DIGEST_PLACEHOLDER)[_META_KEY]), fp)
    except _Damaged as exc:
        raise ValueError(f"the training state to save is malformed: it {exc}.") from exc
    return _write(expand_folder(folder), tensors, metadata)


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
    if not is_sha256(fp):
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


def _write(folder: str, tensors: dict, metadata) -> str | None:
    final = os.path.join(folder, FILE_NAME)
    try:  # a link planted at the file's name is replaced, never written through
        with atomic_writer(final, root=folder) as fh:
            _write_safetensors(fh, tensors, metadata)
    except OSError as exc:
        warnings.warn(
            f"checkpoint_dir={folder!r}: could not write the training state "
            f"({exc.strerror or exc}); training goes on, but cannot resume from this epoch. "
            "Pass a writable folder with free space, or checkpoint_dir=None.",
            SkbertWarning, stacklevel=3)
        return None
    logger.debug("checkpoint: wrote %s", final)
    return final


def _write_safetensors(fh, tensors: dict[str, torch.Tensor], metadata) -> None:
    """Write ``tensors`` to the binary file ``fh`` in the safetensors format, one at a time.

    ``safetensors.torch.save`` would first copy every tensor into one bytes
    object (and ``save_file`` renames its own temporary file into place);
    streaming keeps the extra memory to one tensor, copied to the CPU once if
    it lives elsewhere: the same copy gives its bytes to the file and to the
    :func:`~skbert._safe_io.tensors_sha256` the header records. So the header
    (``metadata(digest)``, the ``__metadata__`` for that digest) is written
    first for a placeholder digest, and again over it, at the same length,
    once the tensors are written. The file is read back with safetensors'
    own loader.
    """
    if sys.byteorder != "little":  # pragma: no cover - safetensors is little-endian
        from safetensors.torch import save

        _write_all(fh, save({k: v.cpu().contiguous() for k, v in tensors.items()},
                            metadata=metadata(tensors_sha256(tensors))))
        return
    names = sorted(tensors)
    for name in names:
        if tensors[name].dtype not in _DTYPE_NAMES:
            raise TypeError(f"tensor {name!r} has dtype {tensors[name].dtype}, which the "
                            "training state does not store; supported: "
                            f"{sorted(map(str, _DTYPE_NAMES))}.")

    def header(digest: str) -> bytes:
        out: dict = {"__metadata__": metadata(digest)}
        offset = 0
        for name in names:
            t = tensors[name]
            size = t.numel() * t.element_size()
            out[name] = {"dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                         "data_offsets": [offset, offset + size]}
            offset += size
        raw = json.dumps(out, separators=(",", ":")).encode("utf-8")
        raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned
        return len(raw).to_bytes(8, "little") + raw

    start = fh.tell()
    first = header(_DIGEST_PLACEHOLDER)
    _write_all(fh, first)
    digest = hashlib.sha256()
    for name in names:
        raw = update_tensors_sha256(digest, name, tensors[name])
        if raw.size:
            _write_all(fh, memoryview(raw))
    end = fh.tell()
    final = header(digest.hexdigest())
    if len(final) != len(first):  # never: a digest is 64 hex digits, as the placeholder
        raise RuntimeError("the training state's header changed length with its digest")
    fh.seek(start)
    _write_all(fh, final)
    fh.seek(end)


def _write_all(fh, data) -> None:
    fh.write(memoryview(data).cast("B"))


# ------------------------------------------------------------------- load
def load_state(folder, fp: str, *, check_extra=None,
               max_epochs: int | None = None) -> TrainingState | None:
    """Read and check the training state in ``folder``.

    Parameters
    ----------
    folder : str or path-like
        The ``checkpoint_dir`` (``~`` is expanded).
    fp : str
        The :func:`fingerprint` of the fit that wants to resume.
    check_extra : callable or None, default=None
        Called with the ``extra`` object read back (a dict or None); raising
        ``ValueError`` or ``TypeError`` marks the file as damaged. The loop
        passes its own check of the fields it stored there.
    max_epochs : int or None, default=None
        The fit's ``max_epochs``: a state of a later epoch is damaged (its
        history would be made up). The loop passes it; None skips the check.

    Returns
    -------
    TrainingState or None
        None when there is no state file (a fresh start), or, with a
        :class:`~skbert._utils.SkbertWarning`, when the file was written by a
        fit with other parameters or data or is damaged in any way (empty,
        truncated, not safetensors, bad JSON, missing or ill-typed fields,
        values out of range, non-finite tensors, generator states that torch
        or numpy reject). The warning names the file and the reason.
    """
    if max_epochs is not None and (not is_int(max_epochs) or max_epochs < 1):
        raise ValueError(f"max_epochs={max_epochs!r} must be a positive int or None.")
    path = os.path.join(expand_folder(folder), FILE_NAME)
    return read_parsed(path, lambda data: _parse(path, data, fp, check_extra, max_epochs),
                       lambda exc, _: _ignore(path, str(exc), isinstance(exc, Mismatch)))


def _ignore(path: str, reason: str, other_fit: bool = False) -> None:
    what = "the training state of a fit with other parameters or data" if other_fit else (
        "a damaged training state")
    warnings.warn(
        f"checkpoint_dir: ignoring {path}, {what} (it {terminal_safe(reason)}); training "
        "starts from epoch 1 and replaces the file after the first epoch. Use another "
        "checkpoint_dir to keep it.", SkbertWarning, stacklevel=user_stacklevel())


def _parse(path: str, data: bytes, fp: str, check_extra, max_epochs) -> TrainingState:
    doc = metadata_document(data, _META_KEY, "an skbert training state")
    # of the document as read: check_doc normalises some fields in place
    as_read = document_sha256(doc, _DIGEST_TAG, "state_sha256") if isinstance(doc, dict) else ""
    doc = check_doc(doc, fp, max_epochs)
    tensors = load_tensors(data)
    _check_digests(doc, as_read, tensors)
    state = assemble(path, doc, tensors)
    if check_extra is not None:
        try:
            check_extra(state.extra)
        except (ValueError, TypeError) as exc:
            raise _Damaged(f"has an 'extra' object the loop rejects ({exc})") from exc
    return state


def seal(doc: dict, tensors: dict | None = None, *, digest: str | None = None) -> dict:
    """``doc`` with the digests :func:`load_state` checks: ``tensors_sha256`` of
    ``tensors`` (or ``digest``, that digest computed already) and ``state_sha256``
    of the document as its JSON reads back."""
    doc = {k: v for k, v in doc.items() if k not in ("tensors_sha256", "state_sha256")}
    doc["tensors_sha256"] = tensors_sha256(tensors) if digest is None else digest
    doc["state_sha256"] = document_sha256(json.loads(json.dumps(doc, allow_nan=True)),
                                          _DIGEST_TAG, "state_sha256")
    return doc


def _check_digests(doc: dict, as_read: str, tensors: dict) -> None:
    """The recorded SHA-256 of the tensors and of the document match what was read.

    A flipped bit or an edited weight or value passes every range check but
    would be trained on; the digests make such a file damaged (ignored). Not
    an authenticity check: anyone who can write the folder can recompute them.
    """
    for key in ("tensors_sha256", "state_sha256"):
        value = doc.get(key)
        if not is_sha256(value):
            raise _Damaged(f"has {key}={value!r:.80}, not 64 lowercase hex digits")
    if tensors_sha256(tensors) != doc["tensors_sha256"]:
        raise _Damaged("has tensors whose sha256 differs from the one it records (a flipped "
                       "bit, an edit or a partly overwritten copy)")
    if as_read != doc["state_sha256"]:
        raise _Damaged("has metadata whose sha256 differs from the one it records (an edited "
                       "value)")


# ---------------------------------------------------------------- restore
def restore(state: TrainingState, *, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, scheduler, scaler=None,
            total_steps: int | None = None) -> np.random.Generator | None:
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
    total_steps : int or None, default=None
        The optimizer steps of the whole fit (steps per epoch times
        ``max_epochs``): a scheduler that has taken more is refused. None
        skips this bound (the others still hold: the scheduler's step count
        equals the optimizer's).

    Returns
    -------
    numpy.random.Generator or None
        A new Generator in the saved state, to shuffle the next epochs. None,
        with a :class:`~skbert._utils.SkbertWarning` and nothing changed, when
        the state does not fit the objects (other names, shapes or dtypes,
        another layout of parameter groups, a group value other than the one
        this fit's optimizer was built with, such as ``amsgrad``,
        ``maximize``, ``eps``, ``betas`` or ``weight_decay``, a rate above
        its initial rate, scheduler steps that do not match the optimizer's
        or exceed ``total_steps``, a scaler on one side only, a generator
        state this torch rejects).
    """
    if not isinstance(state, TrainingState):
        raise TypeError(f"state must be a TrainingState from load_state; got "
                        f"{type(state).__name__}.")
    if total_steps is not None and (not is_int(total_steps) or total_steps < 0):
        raise ValueError(f"total_steps={total_steps!r} must be an int >= 0 or None.")
    try:
        todo = plan(state, model, optimizer, scheduler, scaler, total_steps)
    except _Damaged as exc:
        warnings.warn(
            f"checkpoint_dir: ignoring {state.path}, whose training state does not fit this "
            f"model and optimizer (it {exc}); training starts from epoch 1 and replaces the "
            "file after the first epoch.", SkbertWarning, stacklevel=2)
        return None
    model.load_state_dict(state.model_state)
    optimizer.load_state_dict(todo["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(todo["scheduler"])
    if scaler is not None and todo["scaler"]:
        scaler.load_state_dict(todo["scaler"])
    torch.set_rng_state(state.torch_rng_state.clone())  # tried on a throwaway generator
    for i in todo["cuda"]:
        torch.cuda.set_rng_state(state.cuda_rng_states[i].clone(), device=i)
    name = state.numpy_rng_state["bit_generator"]
    bit_generator = getattr(np.random, name)()
    bit_generator.state = copy.deepcopy(state.numpy_rng_state)
    return np.random.Generator(bit_generator)


