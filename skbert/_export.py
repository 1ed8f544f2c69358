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
import stat
import tempfile
import warnings

import numpy as np
import torch
from torch import nn

from ._modeling import load_tokenizer
from ._params import CARD_PARAMS
from ._persistence import (
    HEAD_FILE,
    SENTENCE_FILES,
    SETTINGS_FILE,
    load_folder,
    read_settings,
    save_folder,
)
from ._safe_io import (
    DamagedFile,
    make_folders,
    read_json,
    read_regular_file,
    write_bytes,
    write_json,
    write_text,
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
    names it even when ``model_name_or_path`` is a local folder. The folder
    may be shared (``push_to_hub``), so ``skbert.json`` records no local path:
    a Hub id stays, a local folder becomes its base name, and any other
    parameter value that is a local path (a fit cache, a checkpoint folder)
    becomes null (see :func:`shareable_settings`).

    Parameters
    ----------
    folder : str
    model : MultiLabelModel
    tokenizer : transformers tokenizer
    settings : dict
        What the estimator saves in ``skbert.json`` (see
        :func:`~skbert._persistence.check_settings`).
    """
    from ._modeling import is_peft

    settings = {**settings, "base_model": base_model_of(settings["params"]["model_name_or_path"])}
    save_folder(folder, model, tokenizer, shareable_settings(settings))
    if is_peft(model):  # the adapter alone too, for peft users
        from ._persistence import publish_folder

        with tempfile.TemporaryDirectory(prefix="skbert-adapter-") as stage:
            model.backbone.save_pretrained(stage)
            publish_folder(stage, os.fspath(folder), under="adapter")
    write_model_card(folder)


def shareable_name(name) -> str | None:
    """A model name fit to publish: a Hub id as it is, a local path as ``./`` and its base name.

    The ``./`` keeps a local folder's name from reading as a Hub id (the card
    then says "a local folder"); no absolute path is kept.
    """
    if name is None:
        return None
    name = os.fspath(name) if isinstance(name, os.PathLike) else str(name)
    if _is_hub_id(name):
        return name
    base = os.path.basename(name.rstrip("/" + os.sep))
    return f"./{base}" if base and base not in (".", "..") else None


def _is_local_path(value: str) -> bool:
    return (os.path.isabs(value) or value.startswith("~")
            or ((os.sep in value or "/" in value) and os.path.exists(value)))


def _no_paths(value):
    """``value`` with every str that is a local path replaced by None (dicts and lists walked)."""
    if isinstance(value, dict):
        return {k: _no_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_paths(v) for v in value]
    if isinstance(value, os.PathLike) or (isinstance(value, str) and _is_local_path(value)):
        return None
    return value


def shareable_settings(settings: dict) -> dict:
    """``settings`` with no local path: what ``skbert.json`` may hold in a shared folder.

    ``model_name_or_path`` and ``base_model`` keep a Hub id and otherwise
    become the folder's base name (:func:`shareable_name`); every other
    parameter value that is a local path becomes None. Nothing read back from
    a folder depends on them: ``from_pretrained`` sets ``model_name_or_path``
    to the folder it loads, and paths are never taken from a folder.
    """
    params = _no_paths({k: v for k, v in settings["params"].items()
                        if k != "model_name_or_path"})
    params["model_name_or_path"] = shareable_name(settings["params"].get("model_name_or_path"))
    out = {**settings, "params": params}
    if settings.get("base_model") is not None:
        out["base_model"] = shareable_name(settings["base_model"])
    return out


def base_model_of(name_or_path: str) -> str:
    """The checkpoint a model was first fine-tuned from.

    For a folder skbert saved, its recorded ``base_model`` (or, in folders of
    older versions, the ``model_name_or_path`` it was fitted with); for any
    other checkpoint, the name itself.
    """
    name = os.fspath(name_or_path) if isinstance(name_or_path, os.PathLike) else str(name_or_path)
    if os.path.isfile(os.path.join(name, SETTINGS_FILE)):
        try:
            saved = read_settings(name)
        except ValueError:
            return name
        base = saved.get("base_model") or saved["params"].get("model_name_or_path")
        if isinstance(base, str) and base:
            return base
    return name


_HUB_ID = r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?"


def _is_hub_id(name: str) -> bool:
    """Whether ``name`` can be a Hub repository id (not a local path)."""
    return bool(re.fullmatch(_HUB_ID, name)) and not os.path.exists(name) and ".." not in name


def is_skbert_card(path: str) -> bool:
    """Whether the file at ``path`` is a model card skbert wrote (it carries the marker)."""
    try:
        data, _ = read_regular_file(os.fspath(path))  # a link is not skbert's card
        return CARD_MARKER in data.decode("utf-8")
    except (OSError, DamagedFile, UnicodeDecodeError):
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
    if os.path.lexists(path) and not is_skbert_card(path):
        warnings.warn(
            f"{path} was not written by skbert, so it was kept and no model card was written. "
            "To get skbert's card (labels, thresholds, metrics, how to load the model), rename "
            "or delete your README.md and save again.", SkbertWarning, stacklevel=4)
        return False
    settings = read_settings(folder)
    text = model_card(settings, name or os.path.basename(os.path.abspath(folder)), hub=hub)
    write_text(path, text, root=folder)
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
              + (" (tuned on the validation split by the rule in the Training table)."
                 if params.get("threshold") == "auto" else "."), "",
              "| column | label | threshold |", "|---:|---|---:|"]
    for i, (c, t) in enumerate(zip(classes, _label_thresholds(settings))):
        lines.append(f"| {i} | {_md(str(c))} | {_fmt(t)} |")
    lines.append("")

    history = settings.get("history_") or []
    lines += ["## Training", "", "| parameter | value |", "|---|---|"]
    for key in CARD_PARAMS:  # the parameter table's "shown on the card" rows
        if key in params:
            lines.append(f"| `{key}` | {_md(_card_value(params[key], settings.get(key + '_')))} |")
    n_train, n_valid = _count(settings.get("n_train_")), _count(settings.get("n_valid_"))
    if n_train is not None:
        lines.append(f"| texts trained on | {n_train} |")
    if n_valid is not None:
        lines.append(f"| texts held out for validation | {n_valid} |")
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
        lines.append("No validation split was held out during training, so there are no "
                     "validation metrics.")
    lines.append("")
    lines += _tuned_scores(settings.get("tuned_scores_"))

    lines += _usage(name, hub, pooling, max_length, params.get("long_text"))
    return "\n".join(header + lines) + "\n"


def _card_value(value, fitted) -> str:
    """A parameter's value on the card; with the value a fit resolved it to, where it has one.

    A rate given as ``"auto"`` shows the rate the fit used (recorded as
    ``<name>_``), e.g. ``0.0002 (auto)``.
    """
    shown = _fmt(value)
    if fitted is not None and not isinstance(fitted, (list, dict, bool)) and fitted != value:
        shown = f"{_fmt(fitted)} ({shown})"
    return shown[:80]


def _count(value) -> int | None:
    """A non-negative int from a file, or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _tuned_scores(scores) -> list[str]:
    """The validation scores at the thresholds ``predict`` applies (``tuned_scores_``).

    A dict of metric name to score in [0, 1] (the fit writes e.g.
    ``{"f1_micro": ..., "f1_macro": ...}``); anything else is left out.
    """
    if not isinstance(scores, dict):
        return []
    rows = [(k, v) for k, v in scores.items() if isinstance(k, str) and len(k) <= 40
            and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1]
    if not rows:
        return []
    lines = ["On the same validation split at the tuned thresholds of the table above:", "",
             "| metric | score |", "|---|---:|"]
    lines += [f"| {_md(k)} | {v:.4f} |" for k, v in rows]
    return lines + [""]


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
    if not isinstance(repo_id, str) or not re.fullmatch(_HUB_ID, repo_id):
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


#: What :func:`resolve_pretrained_source` downloads: the files skbert reads (JSON,
#: safetensors, tokenizer vocabularies). Never pickles (``*.bin``, ``*.pt``), code
#: (``*.py``) or ONNX files unless the ONNX backend asks for them.
HUB_FILES = ("*.json", "*.safetensors", "vocab.txt", "merges.txt", "spiece.model",
             "sentencepiece.bpe.model", "tokenizer.model")
HUB_ONNX_FILES = (f"{ONNX_DIR}/{ONNX_FILE}", f"{ONNX_DIR}/{INT8_FILE}", f"{ONNX_DIR}/{ONNX_META}")
#: Sub-folders of a saved model that loading never reads (the peft adapter; ONNX unless asked).
_HUB_SKIPPED = ("adapter/*", f"{ONNX_DIR}/*")


def resolve_pretrained_source(name_or_folder, revision: str | None = None, *,
                              onnx: bool = False) -> str:
    """The local folder to load: ``name_or_folder`` itself, or a Hub repository downloaded.

    A local folder is returned as it is. Anything else must be a Hub
    repository id (``"user/name"``); its files are fetched with
    ``huggingface_hub.snapshot_download`` (cached, so a second call reads the
    cache), limited to what skbert reads (:data:`HUB_FILES`: JSON,
    safetensors, tokenizer vocabularies; with ``onnx=True`` also the ONNX
    export in ``onnx/``, which is checked against the weights before use).
    The folder it returns is then validated like any local folder.

    Parameters
    ----------
    name_or_folder : str or path-like
        A folder written by ``save_pretrained``, or a Hub repository id.
    revision : str or None, default=None
        A branch, tag or commit of the Hub repository; None is its default
        branch. Only for Hub ids.
    onnx : bool, default=False
        Also download ``onnx/`` (for ``backend="onnx"``).

    Returns
    -------
    str
        A local folder.

    Raises
    ------
    FileNotFoundError
        If ``name_or_folder`` is neither a folder nor a Hub id, or the
        repository or revision does not exist.
    ValueError
        If ``revision`` is given for a local folder.
    OSError
        If the Hub cannot be reached (offline) and the files are not cached.
    ImportError
        If huggingface_hub is not installed.
    """
    name = os.fspath(name_or_folder) if isinstance(name_or_folder, os.PathLike) else name_or_folder
    if not isinstance(name, str):
        raise TypeError(f"Expected a folder or a Hub repository id, got {name!r:.80}.")
    if revision is not None and not (isinstance(revision, str) and 0 < len(revision) <= 200):
        raise ValueError(f"revision={revision!r:.80} must be a branch, tag or commit of the Hub "
                         "repository (a non-empty str), or None.")
    if os.path.isdir(name):
        if revision is not None:
            raise ValueError(f"revision={revision!r} applies to Hub repositories, but {name!r} is "
                             "a local folder. Leave revision=None.")
        return name
    if not _is_hub_id(name):
        raise FileNotFoundError(
            f"{name!r} is neither a folder nor a Hub repository id ('user/name'). Pass the "
            "folder written by save_pretrained, or the id of a repository made by push_to_hub.")
    try:
        from huggingface_hub import errors as hub_errors
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on it
        raise ImportError('Loading from the Hub needs huggingface_hub: pip install '
                          '"skbert[hub]"') from None
    allow = list(HUB_FILES) + (list(HUB_ONNX_FILES) if onnx else [])
    ignore = [p for p in _HUB_SKIPPED if not (onnx and p.startswith(ONNX_DIR))]
    where = name + (f" (revision {revision!r})" if revision else "")
    try:
        return snapshot_download(name, revision=revision, repo_type="model",
                                 allow_patterns=allow, ignore_patterns=ignore,
                                 library_name="skbert")
    except hub_errors.RevisionNotFoundError:
        raise FileNotFoundError(f"The Hub repository {name} has no revision {revision!r}; "
                                "pass an existing branch, tag or commit.") from None
    except (hub_errors.RepositoryNotFoundError, hub_errors.GatedRepoError):
        raise FileNotFoundError(
            f"{where} is not a local folder, and no Hub repository of that name can be read "
            "(it does not exist, or is private or gated: log in with `hf auth login` or set "
            "HF_TOKEN).") from None
    except (hub_errors.LocalEntryNotFoundError, ConnectionError, TimeoutError, OSError) as exc:
        raise OSError(
            f"Cannot download {where} from the Hugging Face Hub, and no copy is cached "
            f"({type(exc).__name__}). Connect to the internet (or unset HF_HUB_OFFLINE) to "
            "download it once, or pass the local folder of a copy.") from None


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


def _sha256(path: str) -> str:
    """The sha256 of a regular file, read in blocks (links followed, FIFOs refused)."""
    fd = os.open(os.path.realpath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                 | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DamagedFile("is not a regular file")
        digest = hashlib.sha256()
        for block in iter(lambda: os.read(fd, 1 << 20), b""):
            digest.update(block)
    finally:
        os.close(fd)
    return digest.hexdigest()


def weights_hash(folder: str) -> str:
    """A hash of what the exported network is made of: ``config.json`` and the weights."""
    digest = hashlib.sha256()
    names = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors")
                   or n == "model.safetensors.index.json")
    for name in ["config.json", *names]:
        try:
            file_hash = _sha256(os.path.join(folder, name))
        except (OSError, DamagedFile) as exc:
            raise ValueError(f"{os.path.join(folder, name)} cannot be read as a regular file "
                             f"({exc}); the folder is damaged. Save the model again with "
                             "save_pretrained.") from None
        digest.update(name.encode() + b"\0" + file_hash.encode())
    return digest.hexdigest()


_HEX64 = r"[0-9a-f]{64}"


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
                and all(isinstance(record.get(k), str) and re.fullmatch(_HEX64, record[k])
                        for k in ("sha256", "source"))):
            files[name] = record
    return {"files": files}


def _file_state(path: str, record: dict | None, source: str) -> str:
    """``"missing"``, ``"current"`` (recorded as skbert's export of these weights: checked
    against them before use), ``"stale"`` (skbert's export of other weights: replaced) or
    ``"foreign"`` (not skbert's)."""
    if not os.path.lexists(path):
        return "missing"
    try:
        digest = _sha256(path)
    except (OSError, DamagedFile):
        return "foreign"
    if record is None or digest != record["sha256"]:
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

    A file the record calls current is still run against the folder's torch
    model on the same texts before it is used, because anyone can write the
    record (the hashes of a file and of the weights are public): an export
    of other weights is refused (:class:`ValueError`), or replaced with
    ``overwrite=True``. The int8 copy is checked against a fresh quantisation
    of the checked fp32 file.

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
        Replace existing ONNX files whatever they hold.

    Returns
    -------
    str
        The path of the ONNX model to run.

    Raises
    ------
    FileExistsError
        If a file skbert did not write is in the way and ``overwrite`` is False.
    ValueError
        If a file recorded as skbert's export does not compute these weights'
        probabilities and ``overwrite`` is False.
    PermissionError
        If ``folder`` cannot be written (export it once where it can).
    skbert._safe_io.UnsafePath
        If ``folder/onnx`` is a link.
    """
    return _checked_onnx(folder, quantize=quantize, overwrite=overwrite)[0]


def _checked_onnx(folder, *, quantize: bool, overwrite: bool) -> tuple[str, bytes]:
    """:func:`export_onnx`, returning the path and the checked bytes to run."""
    folder = os.fspath(folder)
    _import_onnxruntime()
    settings = read_settings(folder)
    onnx_dir = os.path.join(folder, ONNX_DIR)
    source = weights_hash(folder)
    files = _read_meta(onnx_dir).get("files", {})
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
    n_labels = len(settings["classes"])
    model, tokenizer = load_folder(folder, settings, torch.device("cpu"))
    model = model.float().eval()
    example = _probe_inputs(tokenizer, settings)
    with torch.inference_mode():
        want = torch.sigmoid(model(*example).float())
    with tempfile.TemporaryDirectory(prefix="skbert-onnx-") as tmp:
        data = None
        if states[ONNX_FILE] == "current":
            data = _read_file(fp32)
            diff = _max_diff(want, data, example, n_labels, fp32)
            if not diff <= ONNX_TOLERANCE:
                if not overwrite:
                    raise _not_these_weights(fp32, diff, ONNX_TOLERANCE)
                warnings.warn(f"{fp32} did not compute these weights' probabilities (up to "
                              f"{diff:.2g} apart); it was exported again.", SkbertWarning,
                              stacklevel=4)
                data = None
        if data is None:
            _writable(folder, onnx_dir)
            staged = os.path.join(tmp, ONNX_FILE)
            diff = _export_checked(model, example, want, staged, settings)
            data = _read_file(staged)
            write_bytes(fp32, data, root=folder)
            files[ONNX_FILE] = {"sha256": hashlib.sha256(data).hexdigest(), "source": source,
                                "max_abs_proba_diff": diff}
            if states[INT8_FILE] in ("current", "stale"):  # skbert's, made from the old file
                _remove_file(int8)
                states[INT8_FILE] = "missing"
            files.pop(INT8_FILE, None)
            write_json(os.path.join(onnx_dir, ONNX_META), {"files": files}, root=folder)
        if not quantize:
            return fp32, data
        src = os.path.join(tmp, "fp32-" + ONNX_FILE)
        write_bytes(src, data, root=tmp)
        staged = os.path.join(tmp, INT8_FILE)
        _quantize(src, staged)
        fresh = _read_file(staged)
        if states[INT8_FILE] == "current":
            held = _read_file(int8)
            if held == fresh:
                return int8, held
            fresh_probs = _onnx_probs(fresh, example, n_labels, int8)
            diff = _max_diff(fresh_probs, held, example, n_labels, int8)
            if diff <= ONNX_TOLERANCE:  # an other onnxruntime's quantisation of the same file
                return int8, held
            if not overwrite:
                raise _not_these_weights(int8, diff, ONNX_TOLERANCE, quantized=True)
        _writable(folder, onnx_dir)
        write_bytes(int8, fresh, root=folder)
        files[INT8_FILE] = {"sha256": hashlib.sha256(fresh).hexdigest(), "source": source}
        write_json(os.path.join(onnx_dir, ONNX_META), {"files": files}, root=folder)
        return int8, fresh


def _not_these_weights(path: str, diff: float, limit: float, quantized: bool = False):
    against = ("a fresh int8 quantisation of the checked model.onnx" if quantized
               else "the folder's torch weights")
    return ValueError(
        f"{path} is recorded in {ONNX_META} as skbert's export of this folder's weights, but its "
        f"probabilities differ from {against} by up to {diff:.2g} on the check texts "
        f"(tolerance {limit:g}): it is an export of another model, or was edited. It was not "
        "used. Pass overwrite_onnx=True to export these weights again, or load the folder "
        "with backend='torch'.")


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


def _remove_file(path: str) -> None:
    """Remove ``path`` if it is a regular file or a link (never what a link points to)."""
    with contextlib.suppress(FileNotFoundError):
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
            os.unlink(path)


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


def _export_checked(model, example, want, path: str, settings: dict) -> float:
    """Export ``model`` to ``path`` (in a private folder) and check it against torch's
    probabilities ``want``; the largest difference on the probe texts."""
    name = shareable_name(settings["params"].get("model_name_or_path"))
    try:
        _torch_export(model, example, path)
    except ImportError:
        raise
    except Exception as exc:  # both exporters failed: name the model and the way out
        raise RuntimeError(
            f"torch could not export {name!r} to ONNX ({type(exc).__name__}: "
            f"{str(exc)[:300]}). Use backend='torch' for this model.") from exc
    diff = _max_diff(want, _read_file(path), example, len(settings["classes"]), path)
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
                     overwrite: bool = False):
    """``(OnnxModel, tokenizer)`` for a saved folder, exporting it first where needed.

    The ONNX model runs from the bytes :func:`export_onnx` checked against
    the folder's weights.

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
    path, data = _checked_onnx(folder, quantize=quantize, overwrite=overwrite)
    model = OnnxModel(path, providers=providers, n_labels=len(settings["classes"]), data=data)
    return model, load_tokenizer(os.fspath(folder))
