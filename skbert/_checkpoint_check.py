"""Checks of a training state read back from disk (used by :mod:`skbert._checkpoint`).

A ``checkpoint_dir`` may be a shared place, so its state file is data from
others. :func:`check_doc` and :func:`assemble` check the file on its own
(types, names, ranges, finiteness, the generators' states), and :func:`plan`
checks it against the live model, optimizer, scheduler and scaler before
anything is changed. Each raises :class:`~skbert._safe_io.DamagedFile` saying
what is wrong; the caller ignores the file with one warning.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from ._safe_io import DamagedFile, is_int, is_number, is_sha256, need

logger = logging.getLogger("skbert._checkpoint")

#: 2: the document records ``tensors_sha256`` and ``state_sha256`` (format 1 had none).
STATE_FORMAT = 2

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



class Mismatch(_Damaged):
    """A sound state file written by a fit with other parameters or data."""


def cuda_devices(model: torch.nn.Module) -> list[int]:
    found = {t.device.index or 0 for t in list(model.parameters()) + list(model.buffers())
             if t.device.type == "cuda"}
    return sorted(found)


def check_doc(doc, fp: str, max_epochs: int | None = None) -> dict:
    """Check the JSON document on its own; raise :class:`_Damaged` or :class:`Mismatch`.

    ``max_epochs`` (the fit's) bounds the epoch: a state of a later epoch
    would hand the fit a made-up history.
    """
    need(isinstance(doc, dict), f"metadata of type {type(doc).__name__}, not an object")
    need(doc.get("format") == STATE_FORMAT,
         f"format {doc.get('format')!r}; this skbert reads format {STATE_FORMAT}")
    got = doc.get("fingerprint")
    need(is_sha256(got),
         f"fingerprint {got!r}, not 64 hex digits")
    if got != fp:
        raise Mismatch(f"has fingerprint {got[:12]}..., this fit {fp[:12]}...")
    epoch = doc.get("epoch")
    need(is_int(epoch) and 1 <= epoch <= 10_000_000, f"epoch={epoch!r}, not an int >= 1")
    need(max_epochs is None or epoch <= max_epochs,
         f"epoch={epoch}, more than this fit's max_epochs={max_epochs}")
    history = doc.get("history")
    need(isinstance(history, list) and len(history) == epoch,
         f"a history that is not a list of {epoch} records")
    for i, record in enumerate(history):
        _check_record(record, i)
    need(doc.get("extra") is None or isinstance(doc["extra"], dict),
         "an 'extra' that is not an object or null")
    if doc.get("extra") is not None:
        _check_extra(doc["extra"], epoch)

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
        _check_group(group, g)
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
        if "step" in entry["values"]:  # a plain number in some torch releases
            _check_step(entry["values"]["step"], f"optimizer state {index!r} step")
    for key in ("scheduler", "scaler"):
        need(doc.get(key) is None or isinstance(doc[key], dict),
             f"a {key!r} that is not an object or null")
    scaler = doc.get("scaler")
    if scaler is not None:
        need(all(is_number(v) and math.isfinite(v) for v in scaler.values()),
             "a scaler state with values that are not finite numbers")
        _check_scaler(scaler)
    if doc.get("scheduler") is not None:
        _check_scheduler(doc["scheduler"])
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


#: Counters of epochs the loop keeps in ``extra``: none can exceed the epochs completed.
_EPOCH_COUNTERS = ("best_epoch", "no_improve")


def _check_extra(extra: dict, epoch: int) -> None:
    """The loop's ``extra`` numbers: finite (skbert stores a missing value as null), and
    its epoch counters at most ``epoch`` (an early-stopping counter of 1e9 would stop every
    resumed fit at once)."""
    for key, v in extra.items():
        need(not is_number(v) or math.isfinite(v),
             f"extra[{key!r}]={v!r}, not a finite number or null (skbert writes null for "
             "a value it does not have)")
    for key in _EPOCH_COUNTERS:
        v = extra.get(key)
        need(v is None or not is_int(v) or 0 <= v <= epoch,
             f"extra[{key!r}]={v!r:.30}, not a count of epochs in [0, {epoch}] (the epochs "
             "completed)")


#: History fields the loop writes, with the range each must be in.
_RECORD_RANGES = {"train_loss": (0.0, math.inf), "valid_loss": (0.0, math.inf),
                  "valid_f1": (0.0, 1.0), "lr": (0.0, math.inf), "dur": (0.0, math.inf)}


def _check_record(record, i: int) -> None:
    need(isinstance(record, dict) and all(isinstance(k, str) for k in record)
         and all(v is None or (is_number(v) and not math.isnan(v)) for v in record.values()),
         f"history[{i}] that is not an object of numbers and nulls")
    if "epoch" in record:
        need(record["epoch"] == i + 1 and is_int(record["epoch"]),
             f"history[{i}]['epoch']={record['epoch']!r}, not {i + 1}")
    for key, (low, high) in _RECORD_RANGES.items():
        v = record.get(key)
        need(v is None or (math.isfinite(v) and low <= v <= high),
             f"history[{i}][{key!r}]={v!r}, not a finite number in [{low}, {high}]")


def _nonneg(v) -> bool:
    return is_number(v) and math.isfinite(v) and v >= 0


def _check_group(group: dict, g: int) -> None:
    """Ranges of the optimizer hyper-parameters a group holds (the live layout is checked later)."""
    for key in ("lr", "initial_lr", "weight_decay", "eps"):
        if key in group:
            need(_nonneg(group[key]),
                 f"param_groups[{g}][{key!r}]={group[key]!r}, not a finite number >= 0")
    if "betas" in group:
        betas = group["betas"]
        need(isinstance(betas, list) and len(betas) == 2
             and all(is_number(b) and 0 <= b < 1 for b in betas),
             f"param_groups[{g}]['betas']={betas!r:.60}, not two numbers in [0, 1)")
    for key in ("momentum", "dampening"):
        if key in group:
            need(is_number(group[key]) and 0 <= group[key] <= 1,
                 f"param_groups[{g}][{key!r}]={group[key]!r}, not a number in [0, 1]")
    if "lr" in group and "initial_lr" in group:  # skbert's schedules never exceed the peak
        need(group["lr"] <= group["initial_lr"] * (1 + 1e-6),
             f"param_groups[{g}]['lr']={group['lr']!r}, above its initial_lr "
             f"{group['initial_lr']!r}")


def _check_step(v, where: str) -> None:
    need(is_number(v) and math.isfinite(v) and v >= 0 and float(v).is_integer()
         and v <= 2**53, f"{where}={v!r}, not a whole number of steps >= 0")


def _check_scheduler(sched: dict) -> None:
    for key in ("last_epoch", "_step_count"):
        if key in sched:
            need(is_int(sched[key]) and sched[key] >= (-1 if key == "last_epoch" else 0),
                 f"scheduler {key}={sched[key]!r:.60}, not a step count")
    for key in ("base_lrs", "_last_lr"):
        if key in sched:
            need(isinstance(sched[key], list) and all(_nonneg(v) for v in sched[key]),
                 f"scheduler {key}={sched[key]!r:.60}, not a list of finite rates >= 0")


def _check_scaler(scaler: dict) -> None:
    checks = {"scale": lambda v: v > 0, "growth_factor": lambda v: v > 1,
              "backoff_factor": lambda v: 0 < v < 1,
              "growth_interval": lambda v: is_int(v) and v >= 1,
              "_growth_tracker": lambda v: is_int(v) and v >= 0}
    for key, ok in checks.items():
        if key in scaler:
            need(ok(scaler[key]), f"a gradient scaler {key}={scaler[key]!r} out of range")


def _check_tensor_values(what: str, t: torch.Tensor, *, nonneg: bool = False) -> None:
    """Floating tensors finite (and >= 0 if asked): a NaN weight would diverge every fit."""
    if t.dtype.is_floating_point and t.numel():
        need(bool(torch.isfinite(t).all()), f"{what} with non-finite values")
        if nonneg:
            need(bool((t >= 0).all()), f"{what} with negative values")


def check_torch_rng(t: torch.Tensor, device: str = "cpu") -> None:
    """A generator state torch accepts, tried on a throwaway generator of ``device``."""
    try:
        torch.Generator(device=device).set_state(t.clone())
    except (RuntimeError, ValueError, TypeError) as exc:
        raise _Damaged(f"has a {device} generator state torch rejects ({exc})") from exc


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


def assemble(path: str, doc: dict, tensors: dict[str, torch.Tensor]) -> TrainingState:
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
    n = torch.get_rng_state().numel()
    need(cpu_rng.numel() == n,
         f"a torch CPU generator state of {cpu_rng.numel()} bytes, not {n}")
    check_torch_rng(cpu_rng)
    for name, t in [*model.items(), *best.items(), *extra.items()]:
        _check_tensor_values(f"the tensor {name!r}", t)
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
        for key, t in got.items():
            _check_tensor_values(f"optimizer state {key!r} of parameter {index}", t,
                                 nonneg=key.endswith("exp_avg_sq"))
            if key == "step":
                need(t.numel() == 1, f"optimizer step of parameter {index} with {t.numel()} "
                     "values")
                _check_step(float(t), f"optimizer step of parameter {index}")
                last = (doc["scheduler"] or {}).get("last_epoch")
                need(not is_int(last) or float(t) <= last,
                     f"optimizer step {float(t):g} of parameter {index}, more than the "
                     f"scheduler's {last} steps")
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


def plan(state: TrainingState, model, optimizer, scheduler, scaler,
         total_steps: int | None = None) -> dict:
    """Check ``state`` against the objects; return what to load. Changes nothing.

    The live optimizer is built as for a fresh fit, so its parameter groups
    hold every value skbert writes: each saved field but the learning rate
    must equal the live one (``amsgrad``, ``maximize``, ``eps``, ``betas``,
    ``weight_decay``, ``initial_lr``, the implementation flags), and the rate
    lies in ``[0, initial_lr]``. The scheduler is stepped once per optimizer
    step: its ``last_epoch`` is at most ``total_steps`` (when given), equals
    ``_step_count - 1``, equals the optimizer's step count (at least it,
    with a gradient scaler, which skips steps), and its ``_last_lr`` are the
    groups' rates.
    """
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
        want = _to_json_live(group)
        got = _like(saved, want, f"param_groups[{g}]", finite=True)
        for key, value in want.items():  # what this fit's optimizer was built with
            if key in ("params", "param_names", "lr"):
                continue
            need(got[key] == value,
                 f"param_groups[{g}][{key!r}]={saved[key]!r:.60}; this fit's optimizer has "
                 f"{value!r:.60}, the only value skbert writes")
        bound = want.get("initial_lr", math.inf)
        need(0 <= got["lr"] <= bound * (1 + 1e-6),
             f"param_groups[{g}]['lr']={got['lr']!r}, not in [0, {bound!r}] (its initial_lr)")
        groups.append(got)
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
        live_sched = _drop_callables(scheduler.state_dict())
        sched = _like(state.scheduler_state, live_sched, "scheduler state", finite=True)
        need(sched.get("base_lrs") == live_sched.get("base_lrs"),
             f"scheduler base_lrs={sched.get('base_lrs')!r:.60}; this fit's are "
             f"{live_sched.get('base_lrs')!r:.60}")
        _check_steps(sched, state, groups, scaler, total_steps)
    else:
        need(state.scheduler_state is None, "a scheduler state; this fit uses no scheduler")
    live_scaler = {} if scaler is None else scaler.state_dict()
    saved_scaler = state.scaler_state or {}
    need(set(saved_scaler) == set(live_scaler),
         f"gradient scaler state {sorted(saved_scaler)}; this fit's scaler has "
         f"{sorted(live_scaler)} (precision='fp16' uses one, other precisions none)")
    scaler_state = _like(saved_scaler, live_scaler, "scaler state", finite=True)
    for key in ("growth_factor", "backoff_factor", "growth_interval"):
        need(saved_scaler.get(key) == live_scaler.get(key),
             f"a gradient scaler {key}={saved_scaler.get(key)!r}; this fit's is "
             f"{live_scaler.get(key)!r}")
    n = torch.get_rng_state().numel()
    need(state.torch_rng_state.numel() == n,
         f"a torch CPU generator state of {state.torch_rng_state.numel()} bytes, not {n}")
    on = set(cuda_devices(model))
    cuda = []
    for i, t in state.cuda_rng_states.items():
        if i in on and torch.cuda.is_available() and i < torch.cuda.device_count():
            n = torch.cuda.get_rng_state(i).numel()
            need(t.numel() == n, f"a CUDA generator state of {t.numel()} bytes, not {n}")
            check_torch_rng(t, f"cuda:{i}")
            cuda.append(i)
        else:
            logger.debug("checkpoint: not restoring the generator of cuda:%d (model not on it)",
                         i)
    return {"optimizer": {"state": opt_state, "param_groups": groups}, "scheduler": sched,
            "scaler": scaler_state, "cuda": cuda}


def _check_steps(sched: dict, state: TrainingState, groups: list, scaler,
                 total_steps: int | None) -> None:
    """The scheduler's counters against the fit's length and the optimizer's steps."""
    last = sched.get("last_epoch")
    if not is_int(last):
        return
    if total_steps is not None:
        need(last <= total_steps, f"scheduler last_epoch={last!r:.30}, more than this fit's "
             f"{total_steps} steps")
    if is_int(sched.get("_step_count")):
        need(sched["_step_count"] == last + 1,
             f"scheduler _step_count={sched['_step_count']!r:.30}; its last_epoch={last} "
             f"gives {last + 1}")
    steps = [float(v["step"]) for v in state.optimizer_state["state"].values() if "step" in v]
    if steps:  # a gradient scaler skips the optimizer's step on an overflow, not the scheduler's
        need(max(steps) == last or (scaler is not None and max(steps) <= last),
             f"scheduler last_epoch={last!r:.30}; the optimizer has taken {max(steps):g} steps")
    rates = sched.get("_last_lr")
    if isinstance(rates, list):
        need(rates == [g["lr"] for g in groups],
             f"scheduler _last_lr={rates!r:.60}; the optimizer's rates are "
             f"{[g['lr'] for g in groups]!r:.60}")


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
