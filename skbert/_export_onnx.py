"""ONNX for serving: export a saved model folder once, check it against its weights, run it.

:func:`export_onnx` exports the network to ``folder/onnx/model.onnx`` (and
optionally an int8 copy) through a private temporary folder and publishes the
files atomically (:mod:`skbert._safe_io`). ``onnx/skbert_onnx.json`` carries
an HMAC-SHA256, under a secret key private to this user (made once in the
user's cache folder), of the exported files, the folder's weights and the
skbert version: a later load reuses an export only where it verifies, and
exports any other (copied from elsewhere, forged, or of older weights) again
from the folder's safetensors weights. :class:`OnnxModel` runs it with
onnxruntime behind the ``forward(input_ids, attention_mask)`` of the torch
model, so the prediction loop works unchanged. :mod:`skbert._export`
re-exports these names.

onnx, onnxruntime and onnxscript are imported inside the functions that need
them; a missing one is an ImportError naming the extra to install.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import sys
import tempfile
import warnings

import numpy as np
import torch
from torch import nn

from ._modeling import load_tokenizer
from ._persistence import load_folder, read_settings
from ._safe_io import (
    DamagedFile,
    file_sha256,
    is_sha256,
    make_folders,
    read_json,
    read_regular_file,
    remove_file,
    write_bytes,
    write_json,
)
from ._user_key import key_path, keyed_signature, user_key  # noqa: F401 (key_path)
from ._utils import SkbertWarning
from ._version import __version__

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
#: What skbert exported into ``onnx/``: a hash of each file and of the weights it came from.
ONNX_META = "skbert_onnx.json"
ONNX_OPSET = 18
#: Largest probability difference tolerated between the fp32 ONNX model and torch.
ONNX_TOLERANCE = 1e-4
_PROBE_TEXTS = ("The quick brown fox jumps over the lazy dog near the river bank.",
                "ok", "Prices rose sharply after the announcement, analysts said on Monday.")

BACKENDS = ("torch", "onnx")

def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            'backend="onnx" needs onnx and onnxruntime: pip install "skbert[onnx]"') from None
    return onnxruntime


def _import_exporter():
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (torch's exporter builds the graph with it)
    except ImportError:
        raise ImportError(
            'Exporting to ONNX needs onnx and onnxscript: pip install "skbert[onnx]"') from None


def check_backend(backend, *, quantize=False, precision=None, overwrite_onnx=False) -> None:
    """Check ``from_pretrained``'s backend options together; errors name the fix.

    Raises
    ------
    ValueError
        On an unknown backend, ONNX options without ``backend="onnx"``, or a
        precision other than fp32 with ONNX.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {list(BACKENDS)}; use "
                         "backend='torch' (the default) or backend='onnx'.")
    for flag, value in (("quantize", quantize), ("overwrite_onnx", overwrite_onnx)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag}={value!r} must be True or False.")
        if value and backend != "onnx":
            raise ValueError(f"{flag}=True applies to ONNX models; pass backend='onnx' too.")
    if backend == "onnx" and precision not in (None, "auto", "fp32"):
        raise ValueError(
            f"precision={precision!r} does not apply to backend='onnx', which computes in fp32 "
            "(int8 weights with quantize=True). Leave precision=None.")


def onnx_providers(device) -> list[str]:
    """The onnxruntime execution providers for a ``device`` parameter.

    ``"auto"`` uses CUDA where this onnxruntime build has it and torch sees a
    GPU, else the CPU; ``"cpu"`` the CPU; ``"cuda"`` requires CUDA.
    """
    ort = _import_onnxruntime()
    available = ort.get_available_providers()
    kind = str(device).split(":")[0]
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    if kind in ("auto", "cuda"):
        if "CUDAExecutionProvider" in available and torch.cuda.is_available():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if kind == "auto":
            return ["CPUExecutionProvider"]
        raise ValueError(
            f"device={device!r} with backend='onnx' needs onnxruntime's CUDA provider, which "
            f"this installation lacks (it has {available}). Install onnxruntime-gpu, or pass "
            "device='cpu'.")
    raise ValueError(f"device={device!r} is not supported with backend='onnx'; use 'auto', "
                     "'cpu' or 'cuda'.")


class OnnxModel(nn.Module):
    """An exported network run by onnxruntime, called like the torch model.

    ``forward(input_ids, attention_mask)`` returns the logits as a float32
    torch tensor on the inputs' device, so :func:`skbert._training.predict_logits`
    (batching, chunk pooling) works unchanged. It holds no parameters. It
    pickles as the ONNX file's bytes, so a pickled estimator carries its model.

    Parameters
    ----------
    path : str
        An ``.onnx`` file with inputs ``input_ids``, ``attention_mask`` and
        output ``logits``.
    providers : list of str, default=("CPUExecutionProvider",)
    threads : int or None, default=None
        onnxruntime's intra-op threads; None uses ``torch.get_num_threads()``,
        so that both backends run on the same number of cores.
    n_labels : int or None, default=None
        Checked against the model's output width.
    data : bytes or None, default=None
        The file's bytes, already read (and checked) by the caller; None reads
        ``path`` (a regular file, never a FIFO or device). Pickling reads the
        file again and refuses it if it changed since.
    """

    def __init__(self, path: str, *, providers=("CPUExecutionProvider",),
                 threads: int | None = None, n_labels: int | None = None,
                 data: bytes | None = None):
        super().__init__()
        self.path = path
        self.providers = list(providers)
        self.threads = threads
        self.n_labels = n_labels
        self._bytes = None
        if data is None:
            data = _read_file(path)
        self._sha256 = hashlib.sha256(data).hexdigest()
        self._start(data)

    def _start(self, model: bytes) -> None:
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or torch.get_num_threads()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(model, sess_options=options,
                                                providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            where = self.path or "the pickled ONNX model"
            raise ValueError(
                f"onnxruntime cannot load {where} ({type(exc).__name__}: "
                f"{str(exc)[:200]}). Export it again with overwrite_onnx=True.") from None
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = self.session.get_outputs()
        width = outputs[0].shape[-1] if outputs else None
        name = outputs[0].name if outputs else None
        if inputs != {"input_ids", "attention_mask"} or name != "logits" or (
                self.n_labels is not None and width != self.n_labels):
            raise ValueError(
                f"{self.path} takes {sorted(inputs)} and gives {name} of width "
                f"{width}; skbert expects input_ids and attention_mask in and {self.n_labels} "
                "logits out. It is not an export of this model: pass overwrite_onnx=True to "
                "export it again.")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits of shape (n_windows, n_labels), float32."""
        feeds = {"input_ids": input_ids.detach().cpu().numpy().astype(np.int64, copy=False),
                 "attention_mask": attention_mask.detach().cpu().numpy().astype(np.int64,
                                                                                copy=False)}
        logits = self.session.run(["logits"], feeds)[0]
        return torch.from_numpy(logits).to(input_ids.device)

    def __getstate__(self):
        data = self._bytes
        if data is None:
            try:
                data = _read_file(self.path)
            except (OSError, DamagedFile) as exc:
                raise ValueError(
                    f"Cannot pickle this ONNX-backed estimator: {self.path} cannot be read "
                    f"({exc}). Load the model folder again with "
                    "from_pretrained(..., backend='onnx').") from None
            if hashlib.sha256(data).hexdigest() != self._sha256:
                raise ValueError(
                    f"Cannot pickle this ONNX-backed estimator: {self.path} changed since it "
                    "was loaded. Load the model folder again with "
                    "from_pretrained(..., backend='onnx').")
        return {"path": self.path, "providers": self.providers, "threads": self.threads,
                "n_labels": self.n_labels, "onnx_bytes": data, "training": False}

    def __setstate__(self, state):
        nn.Module.__init__(self)
        self.path = state["path"]
        self.providers = ["CPUExecutionProvider"]  # the loading machine may lack a GPU build
        self.threads = state["threads"]
        self.n_labels = state["n_labels"]
        self._bytes = state["onnx_bytes"]
        self._sha256 = hashlib.sha256(self._bytes).hexdigest()
        self._start(self._bytes)

    def extra_repr(self) -> str:
        return f"path={self.path!r}, providers={self.providers}"


def _read_file(path: str) -> bytes:
    """The bytes of a regular file (links followed: a Hub snapshot is made of them)."""
    data, _ = read_regular_file(os.path.realpath(path))
    return data


def weights_hash(folder: str) -> str:
    """A hash of what the exported network is made of: ``config.json`` and the weights."""
    digest = hashlib.sha256()
    names = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors")
                   or n == "model.safetensors.index.json")
    for name in ["config.json", *names]:
        try:
            file_hash = file_sha256(os.path.realpath(os.path.join(folder, name)))
        except (OSError, DamagedFile) as exc:
            raise ValueError(f"{os.path.join(folder, name)} cannot be read as a regular file "
                             f"({exc}); the folder is damaged. Save the model again with "
                             "save_pretrained.") from None
        digest.update(name.encode() + b"\0" + file_hash.encode())
    return digest.hexdigest()


def _mac(key: bytes, fp32_sha: str, int8_sha: str, source: str, version: str) -> str:
    """HMAC-SHA256 binding the exported files to the weights and skbert version they came from."""
    return keyed_signature(key, "skbert-onnx-1", fp32_sha, int8_sha, source, version)


def _sign(key: bytes | None, files: dict) -> dict:
    """The ``skbert_onnx.json`` document for ``files``, with its MAC where there is a key."""
    doc = {"files": files, "skbert_version": __version__}
    if key is not None and ONNX_FILE in files:
        doc["mac"] = _mac(key, files[ONNX_FILE]["sha256"],
                          files.get(INT8_FILE, {}).get("sha256", ""),
                          files[ONNX_FILE]["source"], __version__)
    return doc


def _read_meta(onnx_dir: str) -> dict:
    """``onnx/skbert_onnx.json``, validated; {} when absent or damaged (nothing is trusted)."""
    try:
        meta = read_json(os.path.realpath(os.path.join(onnx_dir, ONNX_META)), what=ONNX_META,
                         max_bytes=1_000_000)
    except (OSError, DamagedFile):
        return {}
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        return {}
    files = {}
    for name, record in meta["files"].items():
        if (name in (ONNX_FILE, INT8_FILE) and isinstance(record, dict)
                and all(is_sha256(record.get(k))
                        for k in ("sha256", "source"))):
            files[name] = record
    out = {"files": files}
    mac, version = meta.get("mac"), meta.get("skbert_version")
    if (is_sha256(mac) and isinstance(version, str)
            and 0 < len(version) <= 100):
        out["mac"], out["skbert_version"] = mac, version
    return out


def _provenance(meta: dict, key: bytes | None, source: str) -> str:
    """Whose export the record describes.

    ``"trusted"``: made on this machine, by this user and skbert version, from
    these weights (its MAC verifies under this user's key); ``"older"``: made
    here from other weights or by another skbert version; ``"unsigned"``:
    anything else (made elsewhere, forged, no MAC, or no usable key).
    """
    files = meta.get("files", {})
    if key is None or "mac" not in meta or ONNX_FILE not in files:
        return "unsigned"
    recorded = files[ONNX_FILE]["source"]
    want = _mac(key, files[ONNX_FILE]["sha256"], files.get(INT8_FILE, {}).get("sha256", ""),
                recorded, meta["skbert_version"])
    if not hmac.compare_digest(want, meta["mac"]):
        return "unsigned"
    if recorded == source and meta["skbert_version"] == __version__:
        return "trusted"
    return "older"


def _file_state(path: str, record: dict | None) -> str:
    """``"missing"``, ``"recorded"`` (its bytes are those ``skbert_onnx.json`` records:
    skbert's artifact, which may be replaced) or ``"foreign"`` (not recorded, or changed
    since: never replaced unless asked)."""
    if not os.path.lexists(path):
        return "missing"
    try:
        digest = file_sha256(os.path.realpath(path))  # links followed: a Hub snapshot
    except (OSError, DamagedFile):
        return "foreign"
    return "recorded" if record is not None and digest == record["sha256"] else "foreign"


def export_onnx(folder, *, quantize: bool = False, overwrite: bool = False) -> str:
    """Export a saved model to ``folder/onnx/model.onnx`` once; reuse it afterwards.

    The export has dynamic batch and sequence axes and is checked against
    torch on a few fixed texts (probabilities within 1e-4) before it is kept.

    ``folder/onnx/skbert_onnx.json`` records the sha256 of every exported
    file and of the weights it came from, and an HMAC-SHA256 of these hashes
    and the skbert version under a secret key private to this user
    (:func:`key_path`, ``$XDG_CACHE_HOME/skbert/onnx-key``, made once with
    mode ``0o600``). An export whose MAC verifies is reused as it is (the
    files' hashes are checked, the torch model is not loaded). Any other
    export recorded in ``skbert_onnx.json``, i.e. one made on another machine
    or by another user (a copied or downloaded folder), a forged one (the
    hashes alone are public, anyone can write them), one of weights that were
    since saved again, or any export while the key cannot be read, is not
    trusted: it is exported again from the folder's safetensors weights (with
    a :class:`~skbert.SkbertWarning` where it was not made here). A file
    skbert did not record (or that was changed since) is never replaced
    unless ``overwrite=True``.

    Every file is written in a private temporary folder and published into
    ``folder/onnx`` atomically through :mod:`skbert._safe_io`: a link planted
    in ``folder/onnx`` (or ``onnx`` itself being a link) is never written
    through.

    Parameters
    ----------
    folder : str or path-like
        Written by ``save_pretrained``.
    quantize : bool, default=False
        Also make ``model_int8.onnx`` with onnxruntime's dynamic int8
        quantisation (``quantize_dynamic``, int8 weights) and return its path.
    overwrite : bool, default=False
        Replace ONNX files skbert did not record, too.

    Returns
    -------
    str
        The path of the ONNX model to run.

    Raises
    ------
    FileExistsError
        If a file skbert did not write is in the way and ``overwrite`` is False.
    PermissionError
        If there is no trusted export and ``folder`` cannot be written (copy
        the folder somewhere writable, and load it from there).
    skbert._safe_io.UnsafePath
        If ``folder/onnx`` is a link.
    """
    return _checked_onnx(folder, quantize=quantize, overwrite=overwrite)[0]


def _checked_onnx(folder, *, quantize: bool, overwrite: bool) -> tuple[str, bytes]:
    """:func:`export_onnx`, returning the path and the bytes to run (those hashed)."""
    folder = os.fspath(folder)
    _import_onnxruntime()
    settings = read_settings(folder)
    onnx_dir = os.path.join(folder, ONNX_DIR)
    source = weights_hash(folder)
    meta = _read_meta(onnx_dir)
    files = meta.get("files", {})
    key, key_problem = user_key()
    fp32 = os.path.join(onnx_dir, ONNX_FILE)
    int8 = os.path.join(onnx_dir, INT8_FILE)
    todo = [(fp32, ONNX_FILE)] + ([(int8, INT8_FILE)] if quantize else [])
    states = {name: _file_state(path, files.get(name))
              for path, name in ((fp32, ONNX_FILE), (int8, INT8_FILE))}
    for path, name in todo:
        if states[name] == "foreign" and not overwrite:
            raise FileExistsError(
                f"{path} exists but skbert did not export it from these weights (it is not "
                f"recorded in {ONNX_META}, or was changed since). Pass overwrite_onnx=True to "
                "replace it, or move it away.")
    origin = _provenance(meta, key, source)
    n_labels = len(settings["classes"])
    data = None
    if origin == "trusted" and states[ONNX_FILE] == "recorded":
        data = _recorded_bytes(fp32, files[ONNX_FILE])
        if quantize and states[INT8_FILE] == "recorded":
            held = _recorded_bytes(int8, files[INT8_FILE])
            if held is not None and data is not None:
                return int8, held
    with tempfile.TemporaryDirectory(prefix="skbert-onnx-") as tmp:
        if data is None:
            why = _untrusted(onnx_dir, origin, states[ONNX_FILE], key_problem)
            try:
                _writable(folder, onnx_dir)
            except PermissionError as exc:
                raise PermissionError(f"{why}{exc}" if why else str(exc)) from None
            if why and origin != "older":
                warnings.warn(f"{why}It was exported again from the folder's weights.",
                              SkbertWarning, stacklevel=4)
            elif why:
                logger.info("%sIt was exported again from the folder's weights.", why)
            model, tokenizer = load_folder(folder, settings, torch.device("cpu"))
            model = model.float().eval()
            example = _probe_inputs(tokenizer, settings)
            with torch.inference_mode():
                want = torch.sigmoid(model(*example).float())
            staged = os.path.join(tmp, ONNX_FILE)
            diff = _export_checked(model, example, want, staged, n_labels, folder)
            data = _read_file(staged)
            if states[INT8_FILE] == "recorded":  # skbert's, made from the old file
                remove_file(int8, root=folder, links=True)  # never what a link points to
                states[INT8_FILE] = "missing"
            files = {ONNX_FILE: {"sha256": hashlib.sha256(data).hexdigest(), "source": source,
                                 "max_abs_proba_diff": diff}}
            write_bytes(fp32, data, root=folder)
            write_json(os.path.join(onnx_dir, ONNX_META), _sign(key, files), root=folder)
        if not quantize:
            return fp32, data
        src = os.path.join(tmp, "fp32-" + ONNX_FILE)
        write_bytes(src, data, root=tmp)
        staged = os.path.join(tmp, INT8_FILE)
        _quantize(src, staged)
        fresh = _read_file(staged)
        _writable(folder, onnx_dir)
        write_bytes(int8, fresh, root=folder)
        files = {**files, INT8_FILE: {"sha256": hashlib.sha256(fresh).hexdigest(),
                                      "source": source}}
        write_json(os.path.join(onnx_dir, ONNX_META), _sign(key, files), root=folder)
        return int8, fresh


def _recorded_bytes(path: str, record: dict) -> bytes | None:
    """The bytes of ``path`` where they still hash to ``record`` (else None: export again)."""
    try:
        data = _read_file(path)
    except (OSError, DamagedFile):
        return None
    return data if hashlib.sha256(data).hexdigest() == record["sha256"] else None


def _untrusted(onnx_dir: str, origin: str, state: str, key_problem: str) -> str:
    """Why the export in ``onnx_dir`` is made again ("" for a first export, or for a file
    skbert did not record, replaced because ``overwrite=True`` asked for it)."""
    if state in ("missing", "foreign"):
        return ""
    if origin == "older":
        return (f"The ONNX export in {onnx_dir} was made on this machine from other weights or "
                "by another skbert version. ")
    if key_problem:
        return (f"The ONNX export in {onnx_dir} cannot be checked against this user's key, so "
                f"it is not trusted: {key_problem}. ")
    return (f"The ONNX export in {onnx_dir} was not made on this machine for these weights "
            f"(its {ONNX_META} carries no valid signature of this user's key: the folder was "
            "copied or downloaded, the export was edited, or an earlier skbert that did not "
            "sign its exports made it), so it is not trusted. ")


def _writable(folder: str, onnx_dir: str) -> None:
    """Create ``folder/onnx`` (never through a link) and fail early if it cannot be written."""
    try:
        make_folders(onnx_dir, root=folder)
        if not os.access(onnx_dir, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except PermissionError as exc:
        raise PermissionError(
            f"Cannot write the ONNX export into {onnx_dir} ({exc.strerror or exc}). Copy the "
            "model folder somewhere writable and load it from there.") from None


@contextlib.contextmanager
def _quiet_export():
    """Silence the exporter's warnings and log lines (deprecations, missing torchvision),
    and send what it prints to standard error: standard output may carry results (the
    command line's JSON)."""
    names = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")
    levels = {n: logging.getLogger(n).level for n in names}
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            for n in names:
                logging.getLogger(n).setLevel(logging.ERROR)
            yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def _probe_inputs(tokenizer, settings: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed texts every export is checked on, tokenised (padded: the mask is traced)."""
    limit = settings["params"].get("max_length") or 128
    enc = tokenizer(list(_PROBE_TEXTS), padding=True, truncation=True,
                    max_length=int(limit), return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def _onnx_probs(data: bytes, example, n_labels: int, path: str) -> torch.Tensor:
    session = OnnxModel(path, n_labels=n_labels, data=data, threads=1)
    return torch.sigmoid(session(*example))


def _max_diff(want: torch.Tensor, data: bytes, example, n_labels: int, path: str) -> float:
    """The largest probability difference between ``want`` and the ONNX model ``data``."""
    return float((want - _onnx_probs(data, example, n_labels, path)).abs().max())


def _export_checked(model, example, want, path: str, n_labels: int, folder: str) -> float:
    """Export ``model`` (of ``folder``) to ``path`` (in a private folder) and check it against
    torch's probabilities ``want``; the largest difference on the probe texts."""
    name = f"the model in {folder}"
    try:
        _torch_export(model, example, path)
    except ImportError:
        raise
    except Exception as exc:  # both exporters failed: name the model and the way out
        raise RuntimeError(
            f"torch could not export {name} to ONNX ({type(exc).__name__}: "
            f"{str(exc)[:300]}). Use backend='torch' for this model.") from exc
    diff = _max_diff(want, _read_file(path), example, n_labels, path)
    if not diff <= ONNX_TOLERANCE:
        raise RuntimeError(
            f"The ONNX export of {name} gives probabilities up to {diff:.2g} away from torch's "
            f"(tolerance {ONNX_TOLERANCE:g}), so it was not kept. Use backend='torch' for this "
            "model.")
    return diff


def _torch_export(model: nn.Module, example: tuple, path: str) -> None:
    """``torch.onnx.export`` with dynamic batch and sequence axes.

    torch's current exporter (``dynamo=True``, via ``torch.export``) captures
    the graph symbolically. Where it fails, the TorchScript exporter (which
    torch deprecates) traces the padded example instead; either result is
    checked against torch before it is kept. The weights are stored inside
    the one ``.onnx`` file, which limits exports to 2 GB (about 500M
    parameters in fp32). ``path`` is in a private temporary folder.
    """
    _import_exporter()
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["logits"],
             "opset_version": ONNX_OPSET}
    with _quiet_export(), torch.inference_mode(False), torch.no_grad():
        try:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
            torch.onnx.export(model, example, path, dynamo=True,
                              dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}),
                              external_data=False, **names)
            return
        except Exception as exc:  # the exporter raises many types; the fallback is checked
            logger.info("torch.export could not capture the model (%s: %s); tracing it instead",
                        type(exc).__name__, str(exc)[:200])
        axes = {"input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}}
        torch.onnx.export(model, example, path, dynamo=False, dynamic_axes=axes, **names)


def _quantize(src: str, dst: str) -> None:
    """int8 weights with onnxruntime's dynamic quantisation (both paths in a private folder)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    root.addFilter(_no_preprocess_advice)
    try:
        with _quiet_export():
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(_no_preprocess_advice)


def _no_preprocess_advice(record: logging.LogRecord) -> bool:
    """Drop onnxruntime's root-logger advice to pre-process first.

    Its pre-processing (symbolic shape inference) fails on graphs of torch's
    current exporter, and quantisation works without it.
    """
    return not str(record.msg).startswith("Please consider to run pre-processing")


def load_onnx_folder(folder, settings: dict, device="auto", *, quantize: bool = False,
                     overwrite: bool = False, tokenizer=None):
    """``(OnnxModel, tokenizer)`` for a saved folder, exporting it first where needed.

    The ONNX model runs from the very bytes :func:`export_onnx` hashed: a
    signed export of this user's, or one it has just made from the weights.

    Parameters
    ----------
    folder : str or path-like
    settings : dict
        The folder's validated ``skbert.json``.
    device : str, default="auto"
        See :func:`onnx_providers`.
    quantize : bool, default=False
        Run the int8 model.
    overwrite : bool, default=False
        See :func:`export_onnx`.
    tokenizer : tokenizer or None, default=None
        The folder's tokenizer when the caller has loaded it already.
    """
    providers = onnx_providers(device)
    path, data = _checked_onnx(folder, quantize=quantize, overwrite=overwrite)
    model = OnnxModel(path, providers=providers, n_labels=len(settings["classes"]), data=data)
    return model, tokenizer if tokenizer is not None else load_tokenizer(os.fspath(folder))
