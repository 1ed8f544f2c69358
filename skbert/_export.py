"""Models that travel: model cards, the Hugging Face Hub, and ONNX for serving.

* :func:`save_model_folder` writes what :func:`skbert._persistence.save_folder`
  writes (a folder that sentence-transformers or transformers load without
  skbert) plus a model card, ``README.md``, following the Hub's conventions.
* :func:`push_to_hub` uploads that folder to a Hub repository.
* :func:`export_onnx` exports the network once to ``folder/onnx/model.onnx``
  (and optionally an int8 copy), and :class:`OnnxModel` runs it with
  onnxruntime behind the ``forward(input_ids, attention_mask)`` of the torch
  model, so the prediction loop works unchanged.

Optional packages (huggingface_hub, onnx, onnxruntime, onnxscript) are
imported inside the functions that need them; a missing one is an
ImportError naming the extra to install.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import warnings

import numpy as np
import torch
from torch import nn

from ._modeling import load_tokenizer
from ._persistence import (
    HEAD_FILE,
    SENTENCE_FILES,
    SETTINGS_FILE,
    load_folder,
    read_settings,
    save_folder,
)
from ._utils import SkbertWarning

logger = logging.getLogger(__name__)

#: The line that marks a README.md as skbert's model card (replaced on the next save).
CARD_MARKER = "<!-- skbert:model-card -->"

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


# --------------------------------------------------------------------- folders and model cards
def save_model_folder(folder: str, model, tokenizer, settings: dict) -> None:
    """Write the model folder (:func:`~skbert._persistence.save_folder`) and its model card.

    ``settings`` gains ``base_model``: the checkpoint the model was first
    fine-tuned from, kept across refits from saved folders so that the card
    names it even when ``model_name_or_path`` is a local folder.

    Parameters
    ----------
    folder : str
    model : MultiLabelModel
    tokenizer : transformers tokenizer
    settings : dict
        What the estimator saves in ``skbert.json`` (see
        :func:`~skbert._persistence.check_settings`).
    """
    settings = {**settings, "base_model": base_model_of(settings["params"]["model_name_or_path"])}
    save_folder(folder, model, tokenizer, settings)
    write_model_card(folder)


def base_model_of(name_or_path: str) -> str:
    """The checkpoint a model was first fine-tuned from.

    For a folder skbert saved, its recorded ``base_model`` (or, in folders of
    older versions, the ``model_name_or_path`` it was fitted with); for any
    other checkpoint, the name itself.
    """
    name = str(name_or_path)
    if os.path.isfile(os.path.join(name, SETTINGS_FILE)):
        try:
            saved = read_settings(name)
        except ValueError:
            return name
        base = saved.get("base_model") or saved["params"].get("model_name_or_path")
        if isinstance(base, str) and base:
            return base
    return name


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")


def _is_hub_id(name: str) -> bool:
    """Whether ``name`` can be a Hub repository id (not a local path)."""
    return bool(_HUB_ID.match(name)) and not os.path.exists(name) and ".." not in name


def is_skbert_card(path: str) -> bool:
    """Whether the file at ``path`` is a model card skbert wrote (it carries the marker)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return CARD_MARKER in fh.read()
    except (OSError, UnicodeDecodeError):
        return False


def write_model_card(folder: str, name: str | None = None, *, hub: bool = False) -> bool:
    """Write ``folder/README.md`` from the folder's ``skbert.json``.

    A ``README.md`` that skbert did not write (it lacks :data:`CARD_MARKER`)
    is never overwritten: the card is not written and a
    :class:`~skbert.SkbertWarning` says so.

    Parameters
    ----------
    folder : str
        A folder written by :func:`~skbert._persistence.save_folder`.
    name : str or None, default=None
        The model's name in the card's title and loading examples (a Hub
        repository id, or a folder); None uses the folder's name.
    hub : bool, default=False
        Whether ``name`` is a Hub repository id (the skbert example then
        downloads it first).

    Returns
    -------
    bool
        Whether the card was written.
    """
    path = os.path.join(folder, "README.md")
    if os.path.exists(path) and not is_skbert_card(path):
        warnings.warn(
            f"{path} was not written by skbert, so it was kept and no model card was written. "
            "To get skbert's card (labels, thresholds, metrics, how to load the model), rename "
            "or delete your README.md and save again.", SkbertWarning, stacklevel=4)
        return False
    settings = read_settings(folder)
    text = model_card(settings, name or os.path.basename(os.path.abspath(folder)), hub=hub)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


def _yaml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def _label_thresholds(settings: dict) -> list:
    """The threshold each label is predicted with, as ``predict`` applies it."""
    threshold = settings["params"].get("threshold", 0.5)
    n = len(settings["classes"])
    if threshold == "auto":
        tuned = settings.get("thresholds_")
        return list(tuned) if tuned is not None else [None] * n
    if isinstance(threshold, list) and len(threshold) == n:
        return threshold
    return [threshold] * n


_CARD_PARAMS = ("max_length", "long_text", "max_epochs", "batch_size", "learning_rate",
                "head_learning_rate", "weight_decay", "warmup_ratio", "early_stopping",
                "validation_fraction", "pos_weight", "threshold", "threshold_metric",
                "random_state")


def model_card(settings: dict, name: str, *, hub: bool = False) -> str:
    """The text of the model card (``README.md``) of a saved folder.

    Parameters
    ----------
    settings : dict
        The folder's validated ``skbert.json``.
    name : str
        The title, and the name the loading examples use.
    hub : bool, default=False
        Whether ``name`` is a Hub repository id.

    Returns
    -------
    str
        Markdown with a YAML header (``library_name``, ``pipeline_tag``,
        ``tags``, ``base_model``), the labels and their thresholds, the
        training parameters, the validation metrics from ``history_``, and
        how to load the model with skbert and without it.
    """
    params = settings["params"]
    pooling = settings["pooling"]
    classes = settings["classes"]
    base = settings.get("base_model") or params.get("model_name_or_path", "")
    library = "sentence-transformers" if pooling == "mean" else "transformers"
    tags = ["skbert", "text-classification", "multi-label-classification", library]
    header = ["---", f"library_name: {library}", "pipeline_tag: text-classification", "tags:"]
    header += [f"- {t}" for t in tags]
    if isinstance(base, str) and _is_hub_id(base):
        header.append(f"base_model: {_yaml_str(base)}")
    header += ["---", "", CARD_MARKER,
               "<!-- Written by skbert's save_pretrained, which replaces this file when the model "
               "is saved again. Delete the line above to keep your edits. -->", ""]

    max_length = params.get("max_length")
    if not (isinstance(base, str) and _is_hub_id(base)):  # no local path in a shared card
        base = f"{os.path.basename(str(base).rstrip('/' + os.sep)) or base} (a local folder)"
    lines = [f"# {name}", "",
             f"A multi-label text classifier over {len(classes)} labels, fine-tuned with "
             f"[skbert](https://pypi.org/project/skbert/) {settings.get('skbert_version', '')} "
             f"from `{base}` ({pooling} pooling, texts read up to {max_length} tokens). Each "
             "label gets its own probability (a sigmoid, not a softmax): a text can have "
             "several labels or none.", ""]

    lines += ["## Labels and thresholds", "",
              "A label is predicted when its probability is at least its threshold"
              + (" (tuned on the validation split for "
                 f"`{params.get('threshold_metric')}`)." if params.get("threshold") == "auto"
                 else "."), "",
              "| column | label | threshold |", "|---:|---|---:|"]
    for i, (c, t) in enumerate(zip(classes, _label_thresholds(settings))):
        lines.append(f"| {i} | {_md(str(c))} | {_fmt(t)} |")
    lines.append("")

    history = settings.get("history_") or []
    lines += ["## Training", "", "| parameter | value |", "|---|---|"]
    for key in _CARD_PARAMS:
        if key in params:
            lines.append(f"| `{key}` | {_md(_fmt(params[key]))[:80]} |")
    lines += [f"| epochs run | {len(history)} |",
              f"| epoch kept | {settings.get('best_epoch_')} |", ""]

    lines += ["## Validation", ""]
    metrics = [k for k in ("train_loss", "valid_loss", "valid_f1")
               if any(k in r for r in history)]
    if any(r.get("valid_loss") is not None for r in history):
        best = settings.get("best_epoch_")
        lines += ["Per epoch on the held-out validation split (`valid_f1`: micro F1 at "
                  "threshold 0.5); the weights of the marked epoch were kept.", "",
                  "| epoch | " + " | ".join(metrics) + " |",
                  "|---:|" + "---:|" * len(metrics)]
        for i, record in enumerate(history, start=1):
            mark = " (kept)" if i == best else ""
            lines.append(f"| {i}{mark} | "
                         + " | ".join(_fmt(record.get(k)) for k in metrics) + " |")
    else:
        lines.append("No validation split was held out during training "
                     "(`validation_fraction`, `early_stopping`), so there are no validation "
                     "metrics.")
    lines.append("")

    lines += _usage(name, hub, pooling, max_length, params.get("long_text"))
    return "\n".join(header + lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _usage(name: str, hub: bool, pooling: str, max_length, long_text) -> list[str]:
    where = json.dumps(name)
    lines = ["## How to use", "", "With skbert (thresholds included; `predict` returns 0/1 "
             "indicators, `predict_proba` the probabilities):", "", "```python"]
    if hub:
        lines += ["from huggingface_hub import snapshot_download",
                  "from skbert import TransformerMultiLabelClassifier", "",
                  f"folder = snapshot_download({where})"]
    else:
        lines += ["from skbert import TransformerMultiLabelClassifier", "",
                  f"folder = {where}"]
    lines += ["clf = TransformerMultiLabelClassifier.from_pretrained(folder)",
              'clf.predict(["some text"])   # or from_pretrained(folder, backend="onnx")',
              "```", ""]
    if pooling == "mean":
        lines += ["Without skbert, with [sentence-transformers](https://www.sbert.net) "
                  "(3.0 or later): `encode` returns the probabilities, one column per label in "
                  "the order of the table above.", "", "```python",
                  "from sentence_transformers import SentenceTransformer", "",
                  f"model = SentenceTransformer({where})",
                  'proba = model.encode(["some text"])   # shape (n_texts, n_labels)',
                  "```", "",
                  "`AutoModelForSequenceClassification` and `pipeline(\"text-classification\")` "
                  "refuse this folder on purpose: they would put a new, random head on the "
                  "encoder. Its `model.safetensors` holds an empty tensor named after that "
                  "head's first parameter, which they cannot load (and which `AutoModel` and "
                  "sentence-transformers list as an unused `UNEXPECTED` key).", ""]
    else:
        lines += ["Without skbert, with transformers (probabilities by label name):", "",
                  "```python", "from transformers import pipeline", "",
                  f'clf = pipeline("text-classification", model={where}, top_k=None)',
                  f'clf(["some text"], truncation=True, max_length={max_length})',
                  "```", ""]
    if long_text == "chunk":
        lines += [f"skbert reads texts longer than {max_length} tokens in overlapping windows "
                  f"and pools their scores; the libraries above read the first {max_length} "
                  "tokens, so they agree with skbert on texts up to that length.", ""]
    return lines


# ------------------------------------------------------------------------------ the Hub
def push_to_hub(estimator, repo_id: str, *, private: bool = False, token: str | None = None,
                commit_message: str = "Upload skbert model"):
    """Upload a fitted estimator's ``save_pretrained`` folder to the Hugging Face Hub.

    The folder is written to a temporary directory, the repository is created
    if needed, and the folder is uploaded in one commit. A ``README.md`` in
    the repository that skbert did not write is kept (the card is not
    uploaded, with a warning). Files of the other pooling's layout left in the
    repository by an earlier skbert upload are deleted in the same commit, so
    that no loader combines two models.

    Parameters
    ----------
    estimator : TransformerMultiLabelClassifier
        Fitted.
    repo_id : str
        ``"user/name"`` or ``"org/name"``.
    private : bool, default=False
        Create the repository as private (an existing one keeps its visibility).
    token : str or None, default=None
        A Hub token with write access; None uses the login of
        ``hf auth login`` / ``HF_TOKEN``.
    commit_message : str, default="Upload skbert model"

    Returns
    -------
    huggingface_hub.CommitInfo
        The commit, with its ``commit_url``.
    """
    if not isinstance(repo_id, str) or not _HUB_ID.match(repo_id):
        raise ValueError(
            f"repo_id={repo_id!r} is not a Hub repository id; pass 'name' or 'user/name' "
            "(letters, digits, '-', '_', '.').")
    try:
        from huggingface_hub import HfApi
    except ImportError:  # pragma: no cover - transformers depends on it
        raise ImportError('push_to_hub needs huggingface_hub: pip install "skbert[hub]"') from None

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="skbert-hub-") as tmp:
        estimator.save_pretrained(tmp)
        write_model_card(tmp, name=repo_id, hub=True)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        ignore = []
        if api.file_exists(repo_id, "README.md", repo_type="model"):
            remote = api.hf_hub_download(repo_id, "README.md", repo_type="model")
            if not is_skbert_card(remote):
                ignore.append("README.md")
                warnings.warn(
                    f"The Hub repository {repo_id} has a README.md that skbert did not write; "
                    "it was kept and skbert's model card was not uploaded. Delete it on the "
                    "Hub and push again to get the card.", SkbertWarning, stacklevel=2)
        stale = [] if os.path.isfile(os.path.join(tmp, "modules.json")) else [
            *SENTENCE_FILES, HEAD_FILE]
        return api.upload_folder(
            repo_id=repo_id, folder_path=tmp, commit_message=commit_message,
            repo_type="model", ignore_patterns=ignore or None,
            delete_patterns=[p.replace(os.sep, "/") for p in stale] or None)


# ------------------------------------------------------------------------------------ ONNX
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
    """

    def __init__(self, path: str, *, providers=("CPUExecutionProvider",),
                 threads: int | None = None, n_labels: int | None = None):
        super().__init__()
        self.path = path
        self.providers = list(providers)
        self.threads = threads
        self.n_labels = n_labels
        self._bytes = None
        self._start(path)

    def _start(self, model) -> None:
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
        if inputs != {"input_ids", "attention_mask"} or outputs[0].name != "logits" or (
                self.n_labels is not None and width != self.n_labels):
            raise ValueError(
                f"{self.path} takes {sorted(inputs)} and gives {outputs[0].name} of width "
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
                with open(self.path, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise ValueError(
                    f"Cannot pickle this ONNX-backed estimator: {self.path} is gone ({exc}). "
                    "Load the model folder again with from_pretrained(..., backend='onnx')."
                ) from None
        return {"path": self.path, "providers": self.providers, "threads": self.threads,
                "n_labels": self.n_labels, "onnx_bytes": data, "training": False}

    def __setstate__(self, state):
        nn.Module.__init__(self)
        self.path = state["path"]
        self.providers = ["CPUExecutionProvider"]  # the loading machine may lack a GPU build
        self.threads = state["threads"]
        self.n_labels = state["n_labels"]
        self._bytes = state["onnx_bytes"]
        self._start(self._bytes)

    def extra_repr(self) -> str:
        return f"path={self.path!r}, providers={self.providers}"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_hash(folder: str) -> str:
    """A hash of what the exported network is made of: ``config.json`` and the weights."""
    digest = hashlib.sha256()
    names = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors")
                   or n == "model.safetensors.index.json")
    for name in ["config.json", *names]:
        digest.update(name.encode() + b"\0" + _sha256(os.path.join(folder, name)).encode())
    return digest.hexdigest()


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _read_meta(onnx_dir: str) -> dict:
    """``onnx/skbert_onnx.json``, validated; {} when absent or damaged (nothing is trusted)."""
    path = os.path.join(onnx_dir, ONNX_META)
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        return {}
    files = {}
    for name, record in meta["files"].items():
        if (name in (ONNX_FILE, INT8_FILE) and isinstance(record, dict)
                and all(isinstance(record.get(k), str) and _HEX64.match(record[k])
                        for k in ("sha256", "source"))):
            files[name] = record
    return {"files": files}


def _write_meta(onnx_dir: str, meta: dict) -> None:
    path = os.path.join(onnx_dir, ONNX_META)
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(json.dumps(meta, indent=2) + "\n")
    os.replace(path + ".tmp", path)


def _file_state(path: str, record: dict | None, source: str) -> str:
    """``"missing"``, ``"current"`` (skbert's export of these weights), ``"stale"``
    (skbert's export of other weights: replaced) or ``"foreign"`` (not skbert's)."""
    if not os.path.exists(path):
        return "missing"
    if record is None or _sha256(path) != record["sha256"]:
        return "foreign"
    return "current" if record["source"] == source else "stale"


def export_onnx(folder, *, quantize: bool = False, overwrite: bool = False) -> str:
    """Export a saved model to ``folder/onnx/model.onnx`` once; reuse it afterwards.

    The export has dynamic batch and sequence axes and is checked against
    torch on a few texts (probabilities within 1e-4) before it is kept.
    ``folder/onnx/skbert_onnx.json`` records a hash of every exported file
    and of the weights it came from, so a later call reuses a file that
    matches, replaces skbert's own export of weights that were since saved
    again, and never touches a file skbert did not write (or that was changed
    since) unless ``overwrite=True``.

    Parameters
    ----------
    folder : str or path-like
        Written by ``save_pretrained``.
    quantize : bool, default=False
        Also make ``model_int8.onnx`` with onnxruntime's dynamic int8
        quantisation (``quantize_dynamic``, int8 weights) and return its path.
    overwrite : bool, default=False
        Replace existing ONNX files whatever they hold.

    Returns
    -------
    str
        The path of the ONNX model to run.

    Raises
    ------
    FileExistsError
        If a file skbert did not write is in the way and ``overwrite`` is False.
    PermissionError
        If ``folder`` cannot be written (export it once where it can).
    """
    folder = os.fspath(folder)
    _import_onnxruntime()
    settings = read_settings(folder)
    onnx_dir = os.path.join(folder, ONNX_DIR)
    source = weights_hash(folder)
    meta = _read_meta(onnx_dir)
    files = meta.get("files", {})
    fp32 = os.path.join(onnx_dir, ONNX_FILE)
    int8 = os.path.join(onnx_dir, INT8_FILE)
    todo = [(fp32, ONNX_FILE)] + ([(int8, INT8_FILE)] if quantize else [])
    states = {name: _file_state(path, files.get(name), source)
              for path, name in ((fp32, ONNX_FILE), (int8, INT8_FILE))}
    for path, name in todo:
        if states[name] == "foreign" and not overwrite:
            raise FileExistsError(
                f"{path} exists but skbert did not export it from these weights (it is not "
                f"recorded in {ONNX_META}, or was changed since). Pass overwrite_onnx=True to "
                "replace it, or move it away.")
    if all(states[name] == "current" for _, name in todo):
        return int8 if quantize else fp32
    try:
        os.makedirs(onnx_dir, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=onnx_dir, delete=True)
        probe.close()
    except OSError as exc:
        raise PermissionError(
            f"Cannot write the ONNX export into {onnx_dir} ({exc.strerror or exc}). Copy the "
            "model folder somewhere writable and load it from there.") from None
    if states[ONNX_FILE] != "current":
        model, tokenizer = load_folder(folder, settings, torch.device("cpu"))
        diff = _export_checked(model, tokenizer, fp32, settings)
        files[ONNX_FILE] = {"sha256": _sha256(fp32), "source": source,
                            "max_abs_proba_diff": diff}
        if states[INT8_FILE] in ("current", "stale"):  # skbert's, made from the replaced file
            os.remove(int8)
            states[INT8_FILE] = "missing"
        files.pop(INT8_FILE, None)
        _write_meta(onnx_dir, {"files": files})
    if quantize and states[INT8_FILE] != "current":
        _quantize(fp32, int8)
        files[INT8_FILE] = {"sha256": _sha256(int8), "source": source}
        _write_meta(onnx_dir, {"files": files})
    return int8 if quantize else fp32


@contextlib.contextmanager
def _quiet_export():
    """Silence the exporter's warnings and log lines (deprecations, missing torchvision)."""
    names = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")
    levels = {n: logging.getLogger(n).level for n in names}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for n in names:
                logging.getLogger(n).setLevel(logging.ERROR)
            yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def _export_checked(model, tokenizer, path: str, settings: dict) -> float:
    """Export ``model`` to ``path`` (atomically) and check it against torch; the largest
    probability difference on the probe texts."""
    model = model.float().eval()
    max_length = settings["params"].get("max_length") or 128
    enc = tokenizer(list(_PROBE_TEXTS), padding=True, truncation=True,
                    max_length=int(max_length), return_tensors="pt")
    example = (enc["input_ids"], enc["attention_mask"])  # padded rows: the mask is traced
    tmp = path + ".tmp"
    try:
        try:
            _torch_export(model, example, tmp)
        except ImportError:
            raise
        except Exception as exc:  # both exporters failed: name the model and the way out
            raise RuntimeError(
                f"torch could not export {settings['params'].get('model_name_or_path')!r} to "
                f"ONNX ({type(exc).__name__}: {str(exc)[:300]}). Use backend='torch' for this "
                "model.") from exc
        session = OnnxModel(tmp, n_labels=len(settings["classes"]))
        with torch.inference_mode():
            want = torch.sigmoid(model(*example).float())
        got = torch.sigmoid(session(*example))
        diff = float((want - got).abs().max())
        if not diff <= ONNX_TOLERANCE:
            raise RuntimeError(
                f"The ONNX export of {settings['params'].get('model_name_or_path')} gives "
                f"probabilities up to {diff:.2g} away from torch's (tolerance "
                f"{ONNX_TOLERANCE:g}), so it was not kept. Use backend='torch' for this model.")
        del session
        os.replace(tmp, path)
        return diff
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _torch_export(model: nn.Module, example: tuple, path: str) -> None:
    """``torch.onnx.export`` with dynamic batch and sequence axes.

    torch's current exporter (``dynamo=True``, via ``torch.export``) captures
    the graph symbolically. Where it fails, the TorchScript exporter (which
    torch deprecates) traces the padded example instead; either result is
    checked against torch before it is kept. The weights are stored inside
    the one ``.onnx`` file, which limits exports to 2 GB (about 500M
    parameters in fp32).
    """
    _import_exporter()
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["logits"],
             "opset_version": ONNX_OPSET}
    with _quiet_export(), torch.inference_mode(False), torch.no_grad():
        try:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
            torch.onnx.export(model, example, path, dynamo=True, verbose=False,
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
    """int8 weights with onnxruntime's dynamic quantisation, written atomically."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = dst + ".tmp"
    root = logging.getLogger()
    root.addFilter(_no_preprocess_advice)
    try:
        with _quiet_export():
            quantize_dynamic(src, tmp, weight_type=QuantType.QInt8)
        os.replace(tmp, dst)
    finally:
        root.removeFilter(_no_preprocess_advice)
        if os.path.exists(tmp):
            os.remove(tmp)


def _no_preprocess_advice(record: logging.LogRecord) -> bool:
    """Drop onnxruntime's root-logger advice to pre-process first.

    Its pre-processing (symbolic shape inference) fails on graphs of torch's
    current exporter, and quantisation works without it.
    """
    return not str(record.msg).startswith("Please consider to run pre-processing")


def load_onnx_folder(folder, settings: dict, device="auto", *, quantize: bool = False,
                     overwrite: bool = False):
    """``(OnnxModel, tokenizer)`` for a saved folder, exporting it first where needed.

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
    """
    providers = onnx_providers(device)
    path = export_onnx(folder, quantize=quantize, overwrite=overwrite)
    model = OnnxModel(path, providers=providers, n_labels=len(settings["classes"]))
    return model, load_tokenizer(os.fspath(folder))
