"""Device and precision resolution, seeding helpers, warning classes, reading a
file from others into a parsed value and what a pickle of an estimator needs
when loaded.

This module is the bottom of skbert's import graph: it imports torch, and from
skbert only the file layer :mod:`skbert._safe_io` and ``_version`` (which import
nothing of skbert), and nothing from scikit-learn.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import warnings

import numpy as np
import torch

from ._safe_io import DamagedFile, TooLarge, check_safetensors_extent, read_regular_file
from ._version import __version__

logger = logging.getLogger(__name__)


class SkbertWarning(UserWarning):
    """Base class for warnings emitted by skbert."""


#: The fit warnings said so far by the fit running in this context, or None (none runs).
_FIT_WARNINGS: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "skbert_fit_warnings", default=None)

#: The most fit warnings a fit records (and a fit-cache entry repeats), and their length.
MAX_FIT_WARNINGS, MAX_FIT_WARNING_CHARS = 50, 4000


#: Where the frames between a user's line and skbert's code live: skbert itself, and
#: scikit-learn and joblib (a fit called by ``GridSearchCV.fit``); a warning points past them.
_SKBERT_ROOT = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_PARTS = (f"{os.sep}sklearn{os.sep}", f"{os.sep}joblib{os.sep}")


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes the caller's warning point at the user's code.

    Counted as :func:`warnings.warn` counts from the function that calls this one
    (1 is that function): the first frame outside skbert, scikit-learn and joblib
    (a fit inside ``GridSearchCV`` points at the search's ``fit`` line), or the
    outermost frame where every frame is theirs.
    """
    import sys

    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and _is_library(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


def _is_library(filename: str) -> bool:
    return filename.startswith(_SKBERT_ROOT) or any(p in filename for p in _LIBRARY_PARTS)


def fit_warning(message: str, stacklevel: int = 1) -> None:
    """Warn (a :class:`SkbertWarning`) of what this fit's data or parameters make of it.

    Such a warning depends only on what the fit-cache key holds, so the fit records it
    (:func:`recording_fit_warnings`) and a fit-cache hit says it again: the same fit
    warns the same, trained or reused. ``stacklevel`` counts from the caller, as for
    :func:`warnings.warn`.
    """
    said = _FIT_WARNINGS.get()
    if said is not None and len(said) < MAX_FIT_WARNINGS:
        said.append(message[:MAX_FIT_WARNING_CHARS])
    warnings.warn(message, SkbertWarning, stacklevel=stacklevel + 1)


@contextlib.contextmanager
def recording_fit_warnings():
    """Collect the :func:`fit_warning` messages said inside, in a list it yields."""
    said: list[str] = []
    token = _FIT_WARNINGS.set(said)
    try:
        yield said
    finally:
        _FIT_WARNINGS.reset(token)


class DeviceWarning(SkbertWarning):
    """A model could not be placed on the requested device and fell back to another."""


class TrainingDivergedError(ValueError):
    """The training loss or the model's outputs became NaN or infinite."""


#: The device types skbert runs on, and how to say what ``device`` may be.
DEVICE_TYPES = ("cpu", "cuda", "mps")
DEVICE_CHOICES = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a ``device`` parameter into a :class:`torch.device`.

    Parameters
    ----------
    device : str or torch.device, default="auto"
        ``"auto"`` picks CUDA, then Apple MPS, then the CPU. Any other value is
        passed to :class:`torch.device` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Returns
    -------
    torch.device
        The resolved device.

    Raises
    ------
    ValueError
        If a named accelerator is not available on this machine.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"device={device!r} is not a device torch understands. "
                f"Use {DEVICE_CHOICES}."
            ) from exc
    if dev.type not in DEVICE_TYPES:
        raise ValueError(
            f"device={device!r} is a {dev.type!r} device, which skbert does not support. "
            f"Use {DEVICE_CHOICES}.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but torch sees no CUDA GPU on this machine. "
            "Use device='auto' to fall back to the CPU."
        )
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"device={device!r} was requested but Apple MPS is not available. "
                "Use device='auto' to fall back to the CPU."
            )
    return dev


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AVX-512 bf16 or AMX).

    On CPUs without them, bf16 autocast is emulated and slower than float32.
    """
    cpu = getattr(torch._C, "_cpu", None)
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        fn = getattr(cpu, name, None)
        if fn is not None:
            try:
                if fn():
                    return True
            except Exception:  # pragma: no cover - defensive, private torch API
                pass
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def load_device(device_param, saved_device, who: str = "estimator",
                part: str = "model") -> torch.device:
    """The device to load a pickled ``who`` on: ``device_param`` resolved, or
    the CPU with a :class:`DeviceWarning` where this machine lacks it.

    Called from ``__setstate__``: the warning names the line that unpickled.
    """
    try:
        return resolve_device(device_param)
    except ValueError:
        warnings.warn(
            f"The {who} was saved with device={device_param!r} ({part} on "
            f"{saved_device}), which this machine lacks; loading it on the CPU. Use "
            "set_params(device='cpu') to silence this.", DeviceWarning, stacklevel=3)
        return torch.device("cpu")


def warn_if_other_version(state: dict, who: str, advice: str) -> None:
    """Pop the skbert version a pickle's ``state`` was written with (by
    ``__getstate__``, under ``"_skbert_version"``) and warn if it is not this one.

    Called from ``__setstate__``: the warning names the line that unpickled.
    """
    version = state.pop("_skbert_version", None)
    if version != __version__:
        warnings.warn(
            f"This {who} was pickled with skbert {version} and is loaded with skbert "
            f"{__version__}; it may not work. {advice}", SkbertWarning, stacklevel=3)


def resolve_precision(precision: str, device: torch.device, *, predict: bool = False) -> str:
    """Resolve the ``precision`` parameter to ``"bf16"``, ``"fp16"`` or ``"fp32"``.

    Parameters
    ----------
    precision : {"auto", "bf16", "fp16", "fp32"}
        ``"auto"`` picks bf16 autocast where the hardware runs it natively
        (CUDA compute capability 8.0 or newer; CPUs with AVX-512 bf16 or AMX),
        fp16 with a gradient scaler on older CUDA GPUs, and fp32 otherwise. On
        the CPU the environment variable ``SKBERT_CPU_PRECISION`` (``bf16`` or
        ``fp32``) overrides the detection.
    device : torch.device
        The device training and prediction run on.
    predict : bool, default=False
        Resolve for prediction: on the CPU ``"auto"`` and ``"fp16"`` are fp32,
        so that a model gives the same probabilities on every CPU and through
        sentence-transformers or transformers, which load in fp32 (bf16 moved
        them by about 1e-3 in issue 20's trial; fp32 by 6e-8); ``"bf16"``
        predicts in bf16 on request. Training (``False``) keeps bf16 on CPUs
        that run it natively, and refuses fp16 on the CPU.

    Returns
    -------
    str
        One of ``"bf16"``, ``"fp16"``, ``"fp32"``.

    Examples
    --------
    >>> import torch
    >>> resolve_precision("fp32", torch.device("cpu"))
    'fp32'
    >>> resolve_precision("auto", torch.device("cpu"), predict=True)
    'fp32'
    >>> resolve_precision("bf16", torch.device("cpu"), predict=True)
    'bf16'
    """
    if predict and precision in ("auto", "fp16") and device.type == "cpu":
        return "fp32"
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise ValueError(
                "precision='fp16' is only supported on GPUs; on the CPU use "
                "precision='bf16' (fast on CPUs with AMX or AVX-512 bf16) or 'fp32'."
            )
        return precision
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return "bf16" if major >= 8 else "fp16"
    if device.type == "cpu":
        forced = cpu_precision_override()
        if forced is not None:
            return forced
        return "bf16" if cpu_supports_bf16() else "fp32"
    return "fp32"


#: Environment variable that forces what ``precision="auto"`` means on the CPU.
CPU_PRECISION_ENV = "SKBERT_CPU_PRECISION"


def cpu_precision_override() -> str | None:
    """``"bf16"`` or ``"fp32"`` when :data:`CPU_PRECISION_ENV` forces the CPU default, else None.

    The variable makes a machine behave like one with (``bf16``) or without
    (``fp32``) native bf16 instructions, so a test suite can be run under both
    defaults on any CPU.

    Examples
    --------
    >>> import os
    >>> os.environ.pop("SKBERT_CPU_PRECISION", None) and None
    >>> cpu_precision_override() is None
    True
    """
    value = os.environ.get(CPU_PRECISION_ENV, "").strip().lower()
    if not value:
        return None
    if value not in ("bf16", "fp32"):
        raise ValueError(
            f"{CPU_PRECISION_ENV}={value!r} is not understood; set it to 'bf16' or 'fp32', or "
            "unset it to let the CPU's instructions decide.")
    return value


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype for a resolved precision, or None for fp32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def seed_from_random_state(random_state) -> int:
    """Draw an int seed for torch from a numpy ``RandomState``."""
    return int(random_state.randint(0, 2**31 - 1))



def sigmoid(logits) -> np.ndarray:
    """Probabilities from logits, float64, clipped into [1e-12, 1 - 1e-12].

    Examples
    --------
    >>> sigmoid([0.0, 1000.0, -1000.0]).tolist()
    [0.5, 0.999999999999, 1e-12]
    """
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -709: p = 0
        p = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
    return np.clip(p, 1e-12, 1 - 1e-12)


def file_count(value) -> int:
    """A count read from a file: a non-negative int (not a bool), else 0.

    Examples
    --------
    >>> file_count(3), file_count(-1), file_count(True), file_count("3")
    (3, 0, 0, 0)
    """
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def read_parsed(path: str, parse, damaged):
    """``parse(data)`` of the regular file at ``path``, a file from others, or None.

    The one shape of the fit cache's and the checkpoint's readers: no file is a
    plain miss (None); a file that cannot be read, or whose bytes ``parse``
    refuses with :class:`~skbert._safe_io.DamagedFile`, is handed to
    ``damaged(exc, identity)`` and gives None. The file is a safetensors file:
    its header is checked first (:func:`~skbert._safe_io.check_safetensors_extent`),
    so a file larger than its header describes (a sparse file planted to exhaust
    memory) is damaged without being read, and one whose tensors would not fit in
    the memory free now is skipped (``identity`` None: it is not removed).

    Parameters
    ----------
    path : str
        The file; a link, folder, FIFO or device is damaged, never followed.
    parse : callable
        ``parse(data: bytes)`` -> the value; raises ``DamagedFile`` saying what
        is wrong.
    damaged : callable
        ``damaged(exc, identity)``: ``identity`` is the file's (device, inode,
        size, mtime) when its bytes were read and ``parse`` refused them, None
        when it could not be read.

    Returns
    -------
    object or None
    """
    try:  # from the header first: a planted sparse file never reaches memory
        checked = check_safetensors_extent(path)
        # at most the size checked: a file swapped in meanwhile is not read past it
        data, identity = read_regular_file(path, max_bytes=checked[2])
    except FileNotFoundError:
        return None
    except TooLarge as exc:  # perhaps someone's real file, at a bad time: kept
        damaged(exc, None)
        return None
    except DamagedFile as exc:
        damaged(exc, getattr(exc, "identity", None))
        return None
    except MemoryError:
        damaged(DamagedFile("could not be read into the memory free now"), None)
        return None
    try:
        return parse(data)
    except DamagedFile as exc:
        damaged(exc, identity)
        return None
    except MemoryError:
        damaged(DamagedFile("could not be parsed in the memory free now"), None)
        return None
