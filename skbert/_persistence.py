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

import torch

from ._modeling import MultiLabelModel, load_tokenizer, model_from_config, quiet_transformers

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
    with open(path, encoding="utf-8") as fh:
        settings = json.load(fh)
    if settings.get("format", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format {settings['format']}, newer than this skbert understands "
            f"({FORMAT_VERSION}); upgrade skbert (pip install -U skbert).")
    return settings


def load_folder(folder: str, settings: dict, device: torch.device):
    """Load ``(model, tokenizer)`` from a folder written by :func:`save_folder`."""
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoModelForSequenceClassification

    pooling = settings["pooling"]
    with quiet_transformers():
        if pooling == "cls":
            backbone = AutoModelForSequenceClassification.from_pretrained(folder)
            model = MultiLabelModel(backbone, "cls", backbone.config.num_labels)
        else:
            backbone = AutoModel.from_pretrained(folder)
            head = load_file(os.path.join(folder, HEAD_FILE))
            model = MultiLabelModel(backbone, "mean", head["weight"].shape[0])
            model.head.load_state_dict(head)
    model.to(device).eval()
    return model, load_tokenizer(folder)
