"""Moving a fitted network and tokenizer to and from pickles and model folders.

Two formats:

* the pickle state (:func:`dump_model` / :func:`restore_model`): CPU tensors,
  the model config and the tokenizer's files, so a model trained on a GPU
  loads on a machine without one;
* a Hugging Face model folder (:func:`save_folder` / :func:`load_folder`):
  ``config.json`` with ``id2label``, ``model.safetensors``, the tokenizer, and
  ``skbert.json`` with skbert's settings. Loading it runs no pickle.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile

import numpy as np
import torch

from ._modeling import (
    MultiLabelModel,
    check_model_source,
    explain_load_errors,
    load_tokenizer,
    model_from_config,
    quiet_transformers,
)

logger = logging.getLogger(__name__)

SETTINGS_FILE = "skbert.json"
HEAD_FILE = "skbert_head.safetensors"
FORMAT_VERSION = 1


def _tokenizer_files(tokenizer) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        files = {}
        for name in os.listdir(tmp):
            with open(os.path.join(tmp, name), "rb") as fh:
                files[name] = fh.read()
    return files


def _tokenizer_from_files(files: dict[str, bytes]):
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            with open(os.path.join(tmp, os.path.basename(name)), "wb") as fh:
                fh.write(data)
        return load_tokenizer(tmp)


def dump_model(model: MultiLabelModel, tokenizer) -> dict:
    """A picklable, device-free description of a fitted network and its tokenizer."""
    return {
        "format": FORMAT_VERSION,
        "config": model.backbone.config.to_dict(),
        "attn_implementation": getattr(model.backbone.config, "_attn_implementation", None),
        "pooling": model.pooling,
        "n_labels": _n_labels(model),
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        "tokenizer_files": _tokenizer_files(tokenizer),
    }


def restore_model(state: dict, device: torch.device):
    """Rebuild ``(model, tokenizer)`` from :func:`dump_model`'s output on ``device``."""
    model = model_from_config(state["config"], state["pooling"], state["n_labels"],
                              state.get("attn_implementation"))
    model.load_state_dict(state["state_dict"])
    model.to(device).eval()
    return model, _tokenizer_from_files(state["tokenizer_files"])


def _n_labels(model: MultiLabelModel) -> int:
    if model.pooling == "mean":
        return model.head.out_features
    return model.backbone.config.num_labels


def save_folder(folder: str, model: MultiLabelModel, tokenizer, settings: dict) -> None:
    """Write a Hugging Face model folder plus ``skbert.json``.

    ``transformers.AutoModel.from_pretrained(folder)`` then loads the
    fine-tuned encoder and, with ``pooling="cls"``,
    ``AutoModelForSequenceClassification.from_pretrained(folder)`` the whole
    classifier.
    """
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    classes = settings["classes"]
    cfg = model.backbone.config
    cfg.id2label = {i: str(c) for i, c in enumerate(classes)}
    cfg.label2id = {str(c): i for i, c in enumerate(classes)}
    cfg.problem_type = "multi_label_classification"
    with quiet_transformers():
        model.backbone.save_pretrained(folder)
    if model.pooling == "mean":
        head = {k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()}
        save_file(head, os.path.join(folder, HEAD_FILE))
    tokenizer.save_pretrained(folder)
    text = json.dumps({"format": FORMAT_VERSION, "pooling": model.pooling, **settings},
                      indent=2, default=_json_default)  # serialise fully before writing
    with open(os.path.join(folder, SETTINGS_FILE), "w", encoding="utf-8") as fh:
        fh.write(text)


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def read_settings(folder: str) -> dict:
    """Read ``skbert.json``; a clear error if the folder is not an skbert model."""
    path = os.path.join(folder, SETTINGS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{folder!r} holds no {SETTINGS_FILE}, so it is not a folder written by "
            "TransformerMultiLabelClassifier.save_pretrained. To fine-tune a plain Hugging "
            "Face checkpoint, pass it as TransformerMultiLabelClassifier(model_name_or_path=...).")
    try:
        with open(path, encoding="utf-8") as fh:
            settings = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path} is damaged: it is not valid JSON ({exc}). Save the model again with "
            "save_pretrained, or restore the file from a copy.") from None
    return check_settings(settings, path)


#: dtypes ``predict`` may return (the dtype of the Y given to fit).
_Y_DTYPES = {np.dtype(t).str for t in ("bool", "int8", "int16", "int32", "int64", "uint8",
                                        "uint16", "uint32", "uint64", "float32", "float64")}


def _bad(path: str, key: str, value, expected: str) -> ValueError:
    return ValueError(
        f"{path} is damaged or was not written by skbert: {key!r} is {value!r:.80}, expected "
        f"{expected}. Save the model again with save_pretrained, or restore the file from a copy.")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_settings(settings, path: str) -> dict:
    """Validate what ``skbert.json`` holds, field by field, before anything uses it.

    Every value is data from a file that may come from a stranger: types,
    ranges and lengths are checked here; the estimator's parameters are then
    checked against its own constraints by the estimator.

    Raises
    ------
    ValueError
        Naming the file, the field, the value and the fix.
    """
    if not isinstance(settings, dict):
        raise _bad(path, "(top level)", settings, "a JSON object")
    fmt = settings.get("format", 0)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 0:
        raise _bad(path, "format", fmt, "a non-negative int")
    if fmt > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format {fmt}, newer than this skbert understands "
            f"({FORMAT_VERSION}); upgrade skbert (pip install -U skbert).")
    for key in ("pooling", "classes", "params", "history_", "best_epoch_", "y_dtype"):
        if key not in settings:
            raise _bad(path, key, None, "a value (the key is missing)")
    if settings["pooling"] not in ("cls", "mean"):
        raise _bad(path, "pooling", settings["pooling"], "'cls' or 'mean'")
    classes = settings["classes"]
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in classes)
            or len(set(classes)) != len(classes)):
        raise _bad(path, "classes", classes, "a non-empty list of unique str or int label names")
    if settings["y_dtype"] not in _Y_DTYPES:
        raise _bad(path, "y_dtype", settings["y_dtype"], f"one of {sorted(_Y_DTYPES)}")
    thresholds = settings.get("thresholds_")
    if thresholds is not None and (
            not isinstance(thresholds, list) or len(thresholds) != len(classes)
            or not all(_is_number(t) and 0.0 <= t <= 1.0 for t in thresholds)):
        raise _bad(path, "thresholds_", thresholds,
                   f"null or a list of {len(classes)} numbers in [0, 1]")
    history = settings["history_"]
    if not isinstance(history, list) or not all(
            isinstance(r, dict) and all(isinstance(k, str) and (v is None or isinstance(
                v, (int, float, str))) for k, v in r.items()) for r in history):
        raise _bad(path, "history_", history, "a list of per-epoch records of numbers")
    best = settings["best_epoch_"]
    if not isinstance(best, int) or isinstance(best, bool) or not 0 <= best <= len(history):
        raise _bad(path, "best_epoch_", best, f"an int in [0, {len(history)}]")
    params = settings["params"]
    if not isinstance(params, dict):
        raise _bad(path, "params", params, "a JSON object of estimator parameters")
    return settings


def load_folder(folder: str, settings: dict, device: torch.device):
    """Load ``(model, tokenizer)`` from a folder written by :func:`save_folder`."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    pooling = settings["pooling"]
    n_labels = len(settings["classes"])
    check_model_source(folder)
    with quiet_transformers(), explain_load_errors(folder):
        if pooling == "cls":
            backbone, info = AutoModelForSequenceClassification.from_pretrained(
                folder, trust_remote_code=False, output_loading_info=True)
        else:
            backbone, info = AutoModel.from_pretrained(folder, trust_remote_code=False,
                                                       output_loading_info=True)
    _check_loaded(folder, info)
    model_labels = getattr(backbone.config, "num_labels", n_labels)
    if pooling == "cls" and model_labels != n_labels:
        raise ValueError(
            f"{folder}/config.json describes {model_labels} labels but {SETTINGS_FILE} lists "
            f"{n_labels} classes; the folder is damaged or mixed. Save the model again.")
    model = MultiLabelModel(backbone, pooling, n_labels)
    if pooling == "mean":
        model.head.load_state_dict(_read_head(folder, model.head))
    model.to(device).eval()
    return model, load_tokenizer(folder)


def _check_loaded(folder: str, info: dict) -> None:
    """Refuse weights that transformers would silently start at random."""
    missing = list(info.get("missing_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    if missing or mismatched:
        names = ", ".join(str(k) for k in (missing + mismatched)[:5])
        raise ValueError(
            f"The weights in {folder} lack or mis-shape {len(missing) + len(mismatched)} "
            f"tensor(s) the model needs ({names}); loading would start them at random and give "
            "different probabilities on every load. The folder is incomplete: save the model "
            "again with save_pretrained.")


def _read_head(folder: str, head: torch.nn.Linear) -> dict[str, torch.Tensor]:
    """The mean-pooling head's weights from ``skbert_head.safetensors``, checked."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = os.path.join(folder, HEAD_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is missing: it holds the classification head of this mean-pooling model, "
            "without which the labels would be scored at random. Copy the whole folder, or save "
            "the model again with save_pretrained.")
    try:
        weights = load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is damaged ({exc}); save the model again with "
                         "save_pretrained.") from None
    expected = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    if found != expected:
        raise ValueError(
            f"{path} holds tensors {found}, but the head needs {expected} (one row per label "
            f"in {SETTINGS_FILE}); the folder is damaged or mixed. Save the model again.")
    if not all(torch.isfinite(v).all() for v in weights.values()):
        raise ValueError(f"{path} holds NaN or infinite weights; save a finite model again.")
    return weights
