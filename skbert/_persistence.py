"""Moving a fitted network and tokenizer to and from pickles and model folders.

Two formats:

* the pickle state (:func:`dump_model` / :func:`restore_model`): CPU tensors,
  the model config and the tokenizer's files, so a model trained on a GPU
  loads on a machine without one;
* a Hugging Face model folder (:func:`save_folder` / :func:`load_folder`):
  ``config.json`` with ``id2label``, ``model.safetensors``, the tokenizer, and
  ``skbert.json`` with skbert's settings. Loading it runs no pickle.

The folder is laid out so that standard libraries reproduce skbert's
probabilities without skbert, or refuse to load it:

* cls pooling: a ``*ForSequenceClassification`` checkpoint, so
  ``AutoModelForSequenceClassification`` and ``pipeline("text-classification")``
  load the whole classifier;
* mean pooling: a sentence-transformers model (``modules.json``: Transformer,
  mean Pooling, a Dense layer with a sigmoid holding the head), so
  ``SentenceTransformer(folder).encode(texts)`` returns the probabilities. Its
  ``model.safetensors`` also holds an empty tensor named after the first
  parameter of the sequence-classification head
  (:func:`~skbert._modeling.sequence_classification_guard`) and its
  ``config.json`` names no architecture, so that
  ``AutoModelForSequenceClassification`` and ``pipeline`` raise instead of
  scoring labels with a new random head.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ._cli_paths import MAX_SETTINGS_BYTES, SAVE_MARKER, is_model_folder, relation, shown_path
from ._hf import transformers_names
from ._load_errors import NewerFileError, SavedFileError, explain_load_errors
from ._modeling import (
    MultiLabelModel,
    SavedHead,
    check_model_source,
    head_dropout,
    is_peft,
    load_tokenizer,
    merged,
    model_from_config,
    pretrained_kwargs,
    quiet_transformers,
    resolve_model_path,
    sequence_classification_guard,
)
from ._params import expand_folder, folder_problem
from ._safe_io import (
    TMP_TAG,
    DamagedFile,
    UnsafePath,
    atomic_writer,
    file_sha256,
    is_int,
    is_sha256,
    load_tensors,
    make_folders,
    read_json,
    read_regular_file,
    remove_file,
    staging_folder,
    write_bytes,
)
from ._sources import _extra_layers_error, _regular, weight_files
from ._thresholds import THRESHOLD_RULES
from ._utils import SkbertWarning, user_stacklevel
from ._validation import _check_printable, check_distinct_names, unsafe_char

logger = logging.getLogger(__name__)

SETTINGS_FILE = "skbert.json"
#: The ``skbert.json`` field of the threshold of each label in force when the model
#: was saved (null when it could not predict); folders of older versions lack it.
LABEL_THRESHOLDS = "label_thresholds"
#: The name of :func:`probe_writable`'s folder starts so.
PROBE_PREFIX = ".skbert-probe-"
HEAD_FILE = "skbert_head.safetensors"
#: What :data:`~skbert._cli_paths.SAVE_MARKER` holds (``"skbert_save"``), and its largest size.
SAVE_MARKER_VERSION = 1
MAX_SAVE_MARKER_BYTES = 1_000_000
#: What ``skbert.json`` (and a pickled model's state) may hold. 2 (skbert 0.2.0):
#: ``min_labels="auto"`` and ``threshold_metric="auto"`` with ``min_labels_`` and
#: ``threshold_metric_``, which a reader of format 1 would take for a damaged file; it
#: now says to upgrade skbert instead. Format 1 folders load as before.
FORMAT_VERSION = 2

#: The sentence-transformers modules of a mean-pooling folder (``modules.json``).
SENTENCE_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
]
DENSE_WEIGHTS = os.path.join("2_Dense", "model.safetensors")
#: Files :func:`save_folder` writes for sentence-transformers (mean pooling only).
SENTENCE_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
                  os.path.join("1_Pooling", "config.json"), os.path.join("2_Dense", "config.json"),
                  DENSE_WEIGHTS)


def _tokenizer_files(tokenizer) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        files = {}
        for name in os.listdir(tmp):
            with open(os.path.join(tmp, name), "rb") as fh:
                files[name] = fh.read()
    return files


def _tokenizer_from_files(files: dict[str, bytes], rows: int | None = None):
    """The tokenizer of ``files`` (name -> bytes), checked as a folder's is; ``rows``: the
    model's embedding rows, which no token id may reach."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            write_bytes(os.path.join(tmp, os.path.basename(name)), data, root=tmp)
        return load_tokenizer(tmp, rows=rows)


def dump_model(model: MultiLabelModel, tokenizer) -> dict:
    """A picklable, device-free description of a fitted network and its tokenizer.

    A model that is not a :class:`MultiLabelModel` (the ONNX runner of
    :mod:`skbert._export`) pickles itself and is stored as it is.
    """
    if not isinstance(model, MultiLabelModel):
        return {"format": FORMAT_VERSION, "runner": model,
                "tokenizer_files": _tokenizer_files(tokenizer)}
    model = merged(model)  # adapters (peft) are stored merged into plain weights
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
    if "runner" in state:
        model = state["runner"].to(device).eval()
        return model, _tokenizer_from_files(state["tokenizer_files"])
    model = model_from_config(state["config"], state["pooling"], state["n_labels"],
                              state.get("attn_implementation"))
    model.load_state_dict(state["state_dict"])
    model.to(device).eval()
    return model, _tokenizer_from_files(state["tokenizer_files"])


def _n_labels(model: MultiLabelModel) -> int:
    if model.pooling == "mean":
        return model.head.out_features
    return model.backbone.config.num_labels


def fitted_settings(est) -> dict:
    """What ``save_pretrained`` writes to ``skbert.json`` for the fitted estimator ``est``.

    Its parameters (as JSON values), the fitted attributes a loaded model gets
    back, and ``label_thresholds``: the per-label thresholds in force when
    saved (None for ``threshold="auto"`` fitted without a validation split),
    which the model card shows. A ``device`` that ``from_pretrained`` would
    refuse to read back (``"gpu9"``, set after fit) is a ``ValueError``, and so
    is a ``label_descriptions`` a refit would refuse (set after fit);
    ``label_descriptions`` keyed by numpy integers (``dict(zip(mlb.classes_,
    texts))``) is recorded with Python's (the parameter is left as it is).
    """
    import math

    from ._label_init import check_label_descriptions, saved_descriptions
    from ._params import record_params, saved_device_problem
    from ._thresholds import by_label, check_threshold, is_series
    from ._version import __version__

    expected = saved_device_problem(str(est.device))
    if expected is not None:  # from_pretrained would refuse the folder
        raise ValueError(
            f"device={est.device!r} is not a device skbert runs on ({expected}), and a folder "
            "saved with it would not load. Use set_params(device='auto') before saving.")
    check_label_descriptions(est.label_descriptions, est.classes_)  # as fit checked them
    info = getattr(est, "_fit_info", {})
    tuned = getattr(est, "thresholds_", None)
    in_force = tuned if isinstance(est.threshold, str) else check_threshold(
        est.threshold, len(est.classes_), est.classes_)
    return {
        "skbert_version": __version__,
        "classes": [c.item() if hasattr(c, "item") else c for c in est.classes_],
        "y_dtype": np.dtype(est._y_dtype).str,
        "thresholds_": tuned,
        "history_": est.history_,
        "best_epoch_": est.best_epoch_,
        "learning_rate_": est.learning_rate_ if math.isfinite(est.learning_rate_) else None,
        "interrupted_": est.interrupted_,
        "min_labels_": getattr(est, "min_labels_", 0),
        "threshold_metric_": getattr(est, "threshold_metric_", None),
        "n_train_": info.get("n_train"),
        "n_valid_": info.get("n_valid"),
        "tuned_scores_": info.get("tuned_scores"),
        "params": record_params({  # a Series threshold or pos_weight as in force: by label
            **est.get_params(deep=False),
            **({"threshold": in_force} if is_series(est.threshold) else {}),
            **({"pos_weight": by_label(est.pos_weight, len(est.classes_), est.classes_,
                                       "pos_weight")} if is_series(est.pos_weight) else {}),
            "label_descriptions": saved_descriptions(est.label_descriptions)}),
        "label_thresholds": in_force,
        # A Series threshold/pos_weight is saved as its values in classes_ order; the names
        # listed here are made Series indexed by classes again on loading, so a refit on
        # reordered columns still matches them by label (older skberts read the list).
        "label_indexed": [name for name in ("threshold", "pos_weight")
                          if is_series(getattr(est, name))] or None,
    }


def folder_argument(folder, method: str) -> str:
    """``folder`` as given to ``save_pretrained`` or ``from_pretrained``: a str path.

    Parameters
    ----------
    folder : str or path-like
        The caller's value.
    method : {"save_pretrained", "from_pretrained"}
        The method it was given to, named in the error.

    Returns
    -------
    str
        With a leading ``~`` expanded, as a shell would (and as ``fit_cache``
        and ``checkpoint_dir`` are).

    Raises
    ------
    TypeError
        If ``folder`` is not a str or a path-like of one (None, bytes, a number),
        naming the value and the fix.
    ValueError
        If ``save_pretrained`` is given an empty str (which would write into the
        current folder), a shell variable (``"$HOME/m"``) or the home folder of
        an unknown user (``"~no_such_user/m"``): :func:`skbert._params.folder_problem`.

    Examples
    --------
    >>> import pathlib
    >>> folder_argument(pathlib.Path("my-model"), "save_pretrained")
    'my-model'
    """
    path = os.fspath(folder) if isinstance(folder, os.PathLike) else folder
    if isinstance(path, str):
        if method == "save_pretrained":
            check_folder_name(path)
        problem = folder_problem("folder", path) if method == "save_pretrained" else None
        if problem is not None:  # "$HOME/x", "~no_such_user/x": a folder of that literal name
            raise ValueError(f"save_pretrained: {problem}.")
        return expand_folder(path) if path.startswith("~") else path
    what = ("the folder to write the model to" if method == "save_pretrained" else
            "the folder written by save_pretrained, or the id of a Hub repository made by "
            "push_to_hub ('user/name')")
    raise TypeError(
        f"{method}(folder={folder!r:.80}): folder is {type(folder).__name__}, not a path. "
        f"Pass {what} as a str or pathlib.Path, e.g. {method}('my-model').")


def check_not_base_folder(folder: str, fitted_from) -> None:
    """Refuse to save a model into the checkpoint folder it was fine-tuned from.

    Saving there would replace the checkpoint's ``config.json``, weights and
    tokenizer files with the fine-tuned model's, so every later fit from that
    folder would start from this fine-tuned model, not from the checkpoint.
    The folders are compared as the command line compares ``--out`` with
    ``--model`` (:func:`skbert._cli_paths.relation`: links, relative paths
    and trailing slashes resolved). A folder skbert saved
    (:func:`skbert._cli_paths.is_model_folder`) may be saved into again: a
    model loaded with ``from_pretrained(folder)``, refitted or not, replaces
    the model (and the card) of that folder.

    Parameters
    ----------
    folder : str
        Where ``save_pretrained`` is asked to write.
    fitted_from : str, path-like or None
        What the model was fitted from (its ``model_name_or_path`` at fit time:
        a local folder, or a Hub name, the default one resolved to the copy
        installed with skbert); None when unknown.

    Raises
    ------
    ValueError
        Naming both folders and the fix.
    """
    if fitted_from is None:
        return
    base = resolve_model_path(fitted_from)
    if not os.path.isdir(base) or relation(folder, base) != "is" or is_model_folder(base):
        return
    real = os.path.realpath(base)
    instead = os.path.join(os.path.dirname(real), f"{os.path.basename(real)}-finetuned")
    raise ValueError(
        f"save_pretrained({folder!r}) would write into {base!r}, the checkpoint folder this "
        "model was fine-tuned from: its config.json, weights and tokenizer files would be "
        "replaced by the fine-tuned model's, and every later fit from that folder would start "
        "from this fine-tuned model instead of the checkpoint. Save to another folder, e.g. "
        f"save_pretrained({shown_path(instead)!r}).")


def check_folder_name(folder) -> str:
    """``folder`` as a str, refused when UTF-8 cannot encode it (a lone surrogate).

    The tokenizer library writes through UTF-8 paths only; such a name (a file
    name read in another encoding gives one) would fail halfway through a save.
    """
    folder = os.fspath(folder)
    try:  # the whole path: a relative name inside a folder of another encoding fails too
        os.path.abspath(folder).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"The folder {ascii(os.path.abspath(folder))} holds a character UTF-8 cannot encode "
            "(a lone surrogate, as a file name read in another encoding gives); the tokenizer "
            "cannot be saved there. Choose a folder name in plain UTF-8.") from None
    return folder


def save_folder(folder: str, model: MultiLabelModel, tokenizer, settings: dict) -> None:
    """Write a Hugging Face model folder plus ``skbert.json``.

    With ``pooling="cls"``, ``AutoModelForSequenceClassification.from_pretrained(folder)``
    loads the whole classifier; with ``pooling="mean"``,
    ``SentenceTransformer(folder).encode(texts)`` returns the probabilities and
    ``AutoModelForSequenceClassification`` refuses the folder (see the module
    docstring). ``AutoModel.from_pretrained(folder)`` loads the fine-tuned
    encoder in both cases.

    The folder is built in a private folder next to it (transformers and the
    tokenizer write there; see :func:`built_into`): a new ``folder`` is that
    folder renamed into place whole, atomically; into an existing one each
    file is published through :func:`skbert._safe_io.atomic_writer`:
    atomically, never through a link planted in ``folder`` (a linked
    sub-folder is :class:`~skbert._safe_io.UnsafePath`), and other files there
    are left alone, ``skbert.json`` last. Either way with skbert's one mode policy.

    While it publishes into an existing folder, the folder holds
    :data:`~skbert._cli_paths.SAVE_MARKER` (:func:`write_save_marker`),
    written before the first file is replaced and removed after
    ``skbert.json``: where a save is interrupted (Ctrl-C, a crash, a full
    disk), it says so to :func:`read_settings`, and lets the next save replace
    the files it lists, as skbert's own.

    A model with peft adapters is saved merged into plain weights, and its
    adapter alone goes to ``folder/adapter/`` in the same build: a folder
    skbert did not save is refused (:func:`_refuse_foreign_files`) before any
    file of it, the adapter's included, is replaced.
    """
    from safetensors.torch import save as safetensors_bytes

    if not isinstance(model, MultiLabelModel):
        raise TypeError(
            f"This estimator predicts with {type(model).__name__} (loaded with backend='onnx'), "
            "which holds no torch weights to save. Load the folder with backend='torch' to save "
            "it again, or copy the folder it was loaded from.")
    folder = check_folder_name(folder)
    adapter = model.backbone if is_peft(model) else None  # also saved alone, for peft users
    model = merged(model)  # adapters (peft) are saved merged into plain weights
    if os.path.lexists(folder):
        if not os.path.isdir(folder):  # fails now, before any work
            what = ("a link that leads to no folder" if os.path.islink(folder)
                    else "an existing file, not a folder")
            raise FileExistsError(
                f"{folder!r} is {what}: a model is saved as a folder of files (config.json, "
                "weights, tokenizer, skbert.json). Pass the path of a folder (it is created if "
                "missing), or move that file away first.")
        make_folders(folder)
    classes = settings["classes"]
    cfg = model.backbone.config
    cfg.id2label = {i: str(c) for i, c in enumerate(classes)}
    cfg.label2id = {str(c): i for i, c in enumerate(classes)}
    cfg.problem_type = "multi_label_classification"
    if LABEL_THRESHOLDS in settings:  # a float in force is one per label in the file
        settings = {**settings, LABEL_THRESHOLDS: thresholds_in_force(
            settings[LABEL_THRESHOLDS], len(classes))}
    text = json.dumps({"format": FORMAT_VERSION, "pooling": model.pooling, **settings},
                      indent=2, default=_json_default)  # serialise fully before writing

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()

    def publish(built: str) -> None:  # into an existing folder, one file at a time
        # what is replaced or removed below must be skbert's own: any file of a model folder
        # it saved (None), else only the files an interrupted save of this user's recorded
        ours = is_model_folder(folder)
        left = {} if ours else written_by_marker(folder)
        owned = None if ours else set(left)
        _check_sub_folders(built, folder)  # before any change: a file or link in the way
        if owned is not None:
            _refuse_foreign_files(built, folder, owned)
        # a folder skbert saved keeps its skbert.json, so its files stay skbert's whatever
        # happens: only a save into another folder records what it writes in each file
        files = {} if owned is None else {rel: [sha] for rel, sha in left.items()}
        for rel in _relative_files(built) if owned is not None else ():
            sha = file_sha256(os.path.join(built, *rel.split("/")))
            files[rel] = sorted({*files.get(rel, []), sha})  # until replaced: the earlier
        write_save_marker(folder, files, digest)  # before any change
        if model.pooling != "mean":
            _remove_sentence_files(folder, owned)
        if adapter is None:  # a peft save's adapter/ would stand beside other weights
            _remove_adapter_files(folder, owned)
        published = publish_folder(built, folder, skip=(SETTINGS_FILE,))
        _remove_stale_shards(folder, published, owned)
        publish_folder(built, folder, only=(SETTINGS_FILE,))  # last: the folder is complete
        remove_file(os.path.join(folder, SAVE_MARKER), root=folder)

    with built_into(folder, publish) as stage:
        if model.pooling == "mean":
            state = {**model.backbone.state_dict(), **sequence_classification_guard(cfg)}
            with quiet_transformers():
                model.backbone.save_pretrained(stage, state_dict=state)
            _forget_architecture(stage)
            head = {k: v.detach().cpu().float().contiguous()
                    for k, v in model.head.state_dict().items()}
            extra = {HEAD_FILE: safetensors_bytes(head), **_sentence_files(head, settings)}
            for name, data in extra.items():
                write_bytes(os.path.join(stage, name), data, root=stage)
        else:
            with quiet_transformers():
                model.backbone.save_pretrained(stage)
        tokenizer.save_pretrained(stage)
        if adapter is not None:
            adapter.save_pretrained(os.path.join(stage, "adapter"))
        write_bytes(os.path.join(stage, SETTINGS_FILE), text.encode("utf-8"), root=stage)


def _refuse_foreign_files(built: str, folder: str, owned=frozenset()) -> None:
    """Refuse to publish ``built`` into ``folder`` where that would replace files skbert
    did not write: ``folder`` is not a model folder skbert saved and holds a file of a
    name the save writes (a Hugging Face checkpoint's ``config.json`` and weights, say)
    that is not in ``owned``, the files (relative, ``/``-separated) an interrupted save
    of skbert's recorded (:func:`read_save_marker`). A link of such a name does not
    count: it is replaced, and what it leads to kept. The model card is written after
    this (and keeps a ``README.md`` skbert did not write)."""
    taken = []
    for rel in _relative_files(built):
        there = os.path.join(folder, *rel.split("/"))
        # a link is replaced, never written through: what it leads to is kept
        if rel not in owned and os.path.lexists(there) and not os.path.islink(there):
            taken.append(rel)
    if taken:
        shown = ", ".join(sorted(taken)[:5]) + (", ..." if len(taken) > 5 else "")
        raise FileExistsError(
            f"{folder!r} holds {len(taken)} file(s) that skbert did not write ({shown}), "
            "which saving the model would replace; save_pretrained never replaces files it "
            "did not write (only its own: those of a model folder it saved, and those an "
            f"interrupted save of its own listed in {SAVE_MARKER}). Choose another folder, or "
            "move those files away first.")


def _relative_files(built: str) -> set[str]:
    """The files under the folder ``built`` as relative, ``/``-separated paths."""
    return {os.path.relpath(os.path.join(root, name), built).replace(os.sep, "/")
            for root, _, files in os.walk(built) for name in files}


#: What a save marker's signature signs (:func:`skbert._user_key.signature`).
_MARKER_PURPOSE = "skbert-save-1"
#: Peft's files in ``adapter/`` (what ``save_pretrained`` writes there with ``peft_config``).
ADAPTER_FILES = ("adapter/adapter_config.json", "adapter/adapter_model.safetensors",
                 "adapter/README.md")


def _marker_message(folder: str, files: dict, settings_sha256: str) -> tuple[str, ...]:
    """What a save marker's signature covers: the folder (its real path), the files with
    the sha256 of what the save writes in each, the digest of the ``skbert.json`` it
    writes."""
    return (os.path.realpath(folder), json.dumps(sorted(files.items())), settings_sha256)


def write_save_marker(folder: str, files, settings_sha256: str) -> None:
    """Write :data:`~skbert._cli_paths.SAVE_MARKER` into ``folder``: a save is under way.

    Written (atomically, never through a link) before the save replaces the
    first file of an existing folder, and removed once ``skbert.json`` is
    written. Where it remains, the save was interrupted: ``from_pretrained``
    says to save again (:func:`check_save_finished`), and the next save of
    this user may replace the files it lists (:func:`written_by_marker`): the
    marker is signed with this user's key (:mod:`skbert._user_key`), so one
    planted by someone else grants nothing.

    Parameters
    ----------
    folder : str
    files : dict of str to list of str
        The files (relative, ``/``-separated) the save may write, each with the
        sha256 (hex) of what it writes there (and of what an earlier
        interrupted save wrote there, which it holds until replaced): a later
        save counts as skbert's only a file that still holds one of those
        (:func:`written_by_marker`), never one a user made since under the
        same name. Empty in a folder skbert saved, whose ``skbert.json``
        marks every file skbert's.
    settings_sha256 : str
        The SHA-256 (hex) of the ``skbert.json`` the save writes last: a
        folder holding that very file was saved whole.
    """
    from ._user_key import signature, user_key

    files = dict(sorted(files.items()))
    mac = signature(_MARKER_PURPOSE, *_marker_message(folder, files, settings_sha256))
    if mac is None:
        warnings.warn(
            f"{user_key()[1]}: this save into {folder!r} is marked unsigned, so if it is "
            "interrupted, a later save cannot replace its files (skbert cannot tell them from "
            "another's); the save itself goes on.", SkbertWarning, stacklevel=user_stacklevel())
    doc = {"skbert_save": SAVE_MARKER_VERSION, "files": files,
           "settings_sha256": settings_sha256, "mac": mac or ""}
    write_bytes(os.path.join(folder, SAVE_MARKER),
                json.dumps(doc, separators=(",", ":")).encode("utf-8"), root=folder)


def _safe_relative(name) -> bool:
    """Whether ``name`` is a relative, ``/``-separated path inside a folder."""
    return (isinstance(name, str) and 0 < len(name) <= 1000 and "\\" not in name
            and "\0" not in name and not name.startswith("/")
            and all(part not in ("", ".", "..") for part in name.split("/")))


def read_save_marker(folder: str) -> dict | None:
    """The :data:`~skbert._cli_paths.SAVE_MARKER` of ``folder`` (:func:`write_save_marker`).

    Returns
    -------
    dict or None
        Its document, with ``files`` (relative path: its sha256s),
        ``settings_sha256`` and ``mac``; None when there is none, or it is not
        a regular file (a link does not count), is larger than
        :data:`MAX_SAVE_MARKER_BYTES` or is not what skbert writes there. Its
        signature is not checked here (:func:`marker_signed` does).
    """
    try:
        doc = read_json(os.path.join(folder, SAVE_MARKER), what=SAVE_MARKER,
                        max_bytes=MAX_SAVE_MARKER_BYTES)
    except (OSError, DamagedFile):
        return None
    if not (isinstance(doc, dict)
            and set(doc) == {"skbert_save", "files", "settings_sha256", "mac"}
            and type(doc["skbert_save"]) is int and doc["skbert_save"] == SAVE_MARKER_VERSION
            and is_sha256(doc["settings_sha256"])
            and (doc["mac"] == "" or is_sha256(doc["mac"]))
            and isinstance(doc["files"], dict) and all(map(_safe_relative, doc["files"]))
            and all(isinstance(v, list) and 0 < len(v) <= 2 and all(map(is_sha256, v))
                    for v in doc["files"].values())):
        return None
    return doc


def marker_signed(folder: str, marker: dict | None = None) -> bool:
    """Whether ``folder``'s :data:`~skbert._cli_paths.SAVE_MARKER` (``marker``, read when
    None) was written by a save of this user's into this folder: its signature verifies
    under this user's key (:func:`write_save_marker`)."""
    from ._user_key import verifies

    marker = read_save_marker(folder) if marker is None else marker
    return marker is not None and verifies(marker["mac"], _MARKER_PURPOSE, *_marker_message(
        folder, marker["files"], marker["settings_sha256"]))


def written_by_marker(folder: str) -> dict[str, str]:
    """The files of ``folder`` an interrupted save of this user's wrote: skbert's own.

    Those a :data:`~skbert._cli_paths.SAVE_MARKER` signed for this folder
    (:func:`marker_signed`) lists that are regular files still holding what
    the save wrote there (their sha256): not one the save had not reached, nor
    one a user made since under the same name. Empty where there is no such
    marker (planted, copied from another folder, another user's or key).

    Returns
    -------
    dict of str to str
        Relative path -> sha256.
    """
    marker = read_save_marker(folder)
    if not marker_signed(folder, marker):
        return {}
    out = {}
    for rel, shas in marker["files"].items():
        path = os.path.join(folder, *rel.split("/"))
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        try:
            sha = file_sha256(path)
        except (OSError, DamagedFile):
            continue
        if sha in shas:
            out[rel] = sha
    return out


def _check_sub_folders(built: str, folder: str) -> None:
    """Refuse, before anything is written, a save whose sub-folders (``1_Pooling``,
    ``adapter``, ...) are taken in ``folder`` by a file or a link."""
    for here, dirs, _ in os.walk(built):
        for name in dirs:
            rel = os.path.relpath(os.path.join(here, name), built)
            there = os.path.join(folder, rel)
            if os.path.islink(there):
                raise UnsafePath(
                    f"{there!r} is a link where the model's sub-folder {rel!r} goes; skbert does "
                    "not write or delete through links. Remove the link, or choose another "
                    "folder.")
            if os.path.lexists(there) and not os.path.isdir(there):
                raise FileExistsError(
                    f"{there!r} is a file where the model's sub-folder {rel!r} goes, so the "
                    "model cannot be saved there (nothing was written). Move that file away, "
                    "or choose another folder.")


def _remove_adapter_files(folder: str, owned=None) -> None:
    """Remove the peft adapter an earlier save wrote to ``folder/adapter/``: a model saved
    without ``peft_config`` over it would leave another model's adapter beside its weights.
    Only :data:`ADAPTER_FILES`, only regular files, never through a link; with ``owned``
    (those an interrupted save recorded) only those; None: all are skbert's."""
    sub = os.path.join(folder, "adapter")
    links = [sub] if os.path.islink(sub) else [
        os.path.join(folder, *rel.split("/")) for rel in ADAPTER_FILES
        if os.path.islink(os.path.join(folder, *rel.split("/")))]
    if links:  # never removed through, nor as skbert's: say that it stays
        warnings.warn(
            f"{links[0]!r} is a link, which skbert neither follows nor removes: it stays beside "
            "this model, saved without peft_config, as an adapter of another model. Remove it "
            "if it is not yours to keep.", SkbertWarning, stacklevel=user_stacklevel())
    if not os.path.isdir(sub) or os.path.islink(sub):
        return
    for rel in ADAPTER_FILES:
        if owned is None or rel in owned:
            remove_file(os.path.join(folder, *rel.split("/")), root=folder)
    with contextlib.suppress(OSError):
        if not os.listdir(sub):
            os.rmdir(sub)


def check_save_finished(folder: str) -> None:
    """Refuse ``folder`` where a ``save_pretrained`` into it was interrupted.

    That is where :data:`~skbert._cli_paths.SAVE_MARKER` remains
    (:func:`read_save_marker`) and ``skbert.json`` is missing or is not the
    one that save wrote (it is then the earlier model's, beside files of the
    new one). A folder whose save was interrupted only after ``skbert.json``
    was written is whole, and passes.

    Raises
    ------
    FileNotFoundError
        If ``skbert.json`` is missing: the save was interrupted before it.
    SavedFileError
        If ``skbert.json`` is an earlier save's.
    """
    from ._user_key import key_path

    marker = read_save_marker(folder)
    if marker is None:
        return
    path = os.path.join(folder, SETTINGS_FILE)
    again = (f"Save the model again with save_pretrained({folder!r}) (skbert train: --out "
             "with --overwrite), which replaces the files of the interrupted save, or load "
             "another folder.")
    if not marker_signed(folder, marker):  # not this user's save here: not skbert's files
        again = (f"That {SAVE_MARKER} is not signed by your skbert key ({key_path()}) for this "
                 "folder: it was moved or copied from another folder, made by another user or "
                 "key, or planted, so a save into the folder would not replace its files. If "
                 f"the folder is your own and whole, delete {SAVE_MARKER}; else save the model "
                 "into a new folder.")
    if not os.path.lexists(path):
        raise FileNotFoundError(
            f"{folder!r} holds no {SETTINGS_FILE}: a save_pretrained into it was interrupted "
            f"(Ctrl-C, a crash, a full disk) before it wrote {SETTINGS_FILE}, its last file "
            f"({SAVE_MARKER}, which marks a save under way, is still there), so the model in it "
            f"is incomplete. {again}")
    try:
        data, _ = read_regular_file(os.path.realpath(path), MAX_SETTINGS_BYTES)
    except (OSError, DamagedFile):
        return  # read_settings says what is wrong with it
    if hashlib.sha256(data).hexdigest() != marker["settings_sha256"]:
        raise SavedFileError(
            f"{folder!r} mixes the files of two models: a save_pretrained into it was "
            f"interrupted (Ctrl-C, a crash, a full disk) after it had replaced some of the files "
            f"of the model saved there before, but not {SETTINGS_FILE}, which is still the "
            f"earlier model's ({SAVE_MARKER}, which marks a save under way, is still there). "
            f"{again}")


@contextlib.contextmanager
def built_into(target: str, publish: Callable[[str], object]) -> Iterator[str]:
    """Build ``target`` in a private folder next to it (:func:`skbert._safe_io.staging_folder`).

    Yields the folder to write in. When the block succeeds, a ``target`` that
    did not exist is that folder renamed into place, whole and atomically; an
    existing ``target`` (which may hold other files, or be a link the caller
    chose) gets the built files through ``publish(built)``, e.g.
    :func:`publish_folder`. The built folder never outlives the call, Ctrl-C
    included; a failure leaves ``target`` as it was, or (while publishing)
    with whole files only.

    Parameters
    ----------
    target : str
    publish : callable
        ``publish(built)``: put the files of the folder ``built`` into the
        existing ``target``.
    """
    target = os.path.abspath(os.fspath(target))
    if not os.path.lexists(target):
        with staging_folder(target) as stage:
            yield stage
        return
    parent, name = os.path.split(target)
    built = os.path.join(parent, f".{name[:100]}.{secrets.token_hex(6)}.skbert-build{TMP_TAG}")
    try:
        with staging_folder(built) as stage:
            yield stage
        publish(built)
    finally:
        shutil.rmtree(built, ignore_errors=True)


def probe_writable(folder: str, *, create: bool = False) -> None:
    """Create, then remove, a private folder holding one file in ``folder``: skbert's one
    writability test of an output folder (the fit cache, ``checkpoint_dir``, the CLI's outputs).

    Creating both a folder and a file is what the outputs need (a model is built
    in a sibling folder, cache entries are files), and it catches what
    ``os.access`` does not: read-only file systems and pseudo file systems such
    as ``/proc``.

    Parameters
    ----------
    folder : str
        An existing folder, or with ``create`` one to create (with those above it).
    create : bool, default=False
        Create ``folder`` first, through :func:`skbert._safe_io.make_folders`
        (no link followed).

    Raises
    ------
    OSError
        If ``folder`` cannot be created or written.
    """
    if create:
        make_folders(folder)
    probe = tempfile.mkdtemp(prefix=PROBE_PREFIX, dir=folder)
    try:
        write_bytes(os.path.join(probe, "probe"), b"skbert", root=probe)
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def publish_folder(stage: str, folder: str, *, skip=(), only=None) -> set[str]:
    """Copy every file under the private folder ``stage`` into ``folder``, atomically.

    Each file goes through :func:`skbert._safe_io.atomic_writer` with
    ``root=folder``: a link planted in ``folder`` (at a file's name or as a
    sub-folder) is never written through. Files already in ``folder`` under
    other names are left alone. Relative paths (``/``-separated) in ``skip``
    are left out; with ``only``, only those are copied.

    Returns
    -------
    set of str
        The relative paths (``/``-separated) that were written.
    """
    written = set()
    for here, dirs, files in os.walk(stage):
        dirs.sort()
        for name in sorted(files):
            src = os.path.join(here, name)
            if os.path.islink(src):  # nothing skbert or transformers writes
                continue
            rel = os.path.relpath(src, stage)
            key = rel.replace(os.sep, "/")
            if key in skip or (only is not None and key not in only):
                continue
            with open(src, "rb") as fh, atomic_writer(os.path.join(folder, rel),
                                                      root=folder) as out:
                shutil.copyfileobj(fh, out, 1 << 20)
            written.add(key)
    return written


#: Weight files transformers writes (one file, or shards and their index).
_WEIGHT_FILE = re.compile(r"^model(-\d{5}-of-\d{5})?\.safetensors$"
                          r"|^model\.safetensors\.index\.json$")


def _remove_stale_shards(folder: str, written: set[str], owned=None) -> None:
    """Remove weight shards of an earlier save that this save did not write.

    transformers does the same when it saves into a folder; without it, a
    model saved as one file over a sharded one would leave the old index
    (which transformers prefers) pointing at the old weights. With ``owned``
    (a set of relative paths), only those files are skbert's, and only they
    may be removed; None: all are (a model folder skbert saved).
    """
    for name in os.listdir(folder):
        if (_WEIGHT_FILE.match(name) and name not in written
                and (owned is None or name in owned)):
            remove_file(os.path.join(folder, name), root=folder)


def _forget_architecture(folder: str) -> None:
    """Drop ``architectures`` from ``config.json``.

    ``pipeline("text-classification")`` tries the classes named there after
    ``AutoModelForSequenceClassification``; with ``["BertModel"]`` it would
    load the bare encoder instead of refusing the folder.
    """
    path = os.path.join(folder, "config.json")
    config = read_json(path, what="config.json")
    config.pop("architectures", None)
    write_bytes(path, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8"),
                root=folder)


def _sentence_configs(hidden: int, n_labels: int, max_length) -> dict[str, object]:
    """The JSON files of the sentence-transformers layout, by relative path."""
    return {
        "modules.json": SENTENCE_MODULES,
        "sentence_bert_config.json": {"max_seq_length": max_length, "do_lower_case": False},
        os.path.join("1_Pooling", "config.json"): {
            "word_embedding_dimension": hidden, "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False,
            "include_prompt": True},
        os.path.join("2_Dense", "config.json"): {
            "in_features": hidden, "out_features": n_labels, "bias": True,
            "activation_function": "torch.nn.modules.activation.Sigmoid"},
    }


def _sentence_files(head: dict[str, torch.Tensor], settings: dict) -> dict[str, bytes]:
    """The sentence-transformers files that make the folder a SentenceTransformer.

    Transformer (the encoder in the folder itself), mean Pooling, and a Dense
    layer with a sigmoid holding the head, so ``encode`` returns the
    ``(n_texts, n_labels)`` probabilities; ``max_seq_length`` is the
    estimator's ``max_length``. Returned as bytes by relative path.
    """
    import transformers
    from safetensors.torch import save as safetensors_bytes

    from ._version import __version__

    n_labels, hidden = head["weight"].shape
    files = _sentence_configs(hidden, n_labels, settings["params"].get("max_length"))
    files["config_sentence_transformers.json"] = {
        "model_type": "SentenceTransformer",
        "__version__": {"skbert": __version__, "transformers": transformers.__version__,
                        "pytorch": torch.__version__},
        "prompts": {}, "default_prompt_name": None, "similarity_fn_name": None,
    }
    out = {name: (json.dumps(content, indent=2) + "\n").encode("utf-8")
           for name, content in files.items()}
    out[DENSE_WEIGHTS] = safetensors_bytes(
        {"linear.weight": head["weight"], "linear.bias": head["bias"]}, metadata={"format": "pt"})
    return out


def _read_json(path: str):
    """A JSON file's document, or None when it is missing, not a regular file, or not JSON.

    Reading follows links (a folder ``snapshot_download`` returns is made of
    links into the Hub cache); what they point to must be a regular file.
    """
    try:
        return read_json(os.path.realpath(path))
    except (OSError, DamagedFile):
        return None


def _remove_sentence_files(folder: str, owned=None) -> None:
    """Remove the mean-pooling files a previous save wrote into ``folder``.

    A cls model saved over a mean one would otherwise leave a
    ``modules.json`` behind, and ``SentenceTransformer(folder)`` would put the
    old head on the new encoder. Only a layout skbert wrote (its exact
    ``modules.json``) is removed, only regular files are removed, and nothing
    is removed through a linked sub-folder (:class:`~skbert._safe_io.UnsafePath`).
    With ``owned`` (a set of relative, ``/``-separated paths: those an
    interrupted save recorded), only those files are skbert's and may be
    removed; None: all are (a model folder skbert saved).
    """
    if (owned is not None and "modules.json" not in owned
            or _read_json(os.path.join(folder, "modules.json")) != SENTENCE_MODULES):
        return
    for sub in ("1_Pooling", "2_Dense"):
        if os.path.islink(os.path.join(folder, sub)):
            raise UnsafePath(f"{os.path.join(folder, sub)!r} is a link; skbert does not write "
                             "or delete through links. Remove it or choose another folder.")
    for name in SENTENCE_FILES + (HEAD_FILE,):
        if owned is None or name.replace(os.sep, "/") in owned:
            remove_file(os.path.join(folder, name), root=folder)  # never through a link
    for sub in ("1_Pooling", "2_Dense"):
        path = os.path.join(folder, sub)
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)
    logger.info("removed the sentence-transformers files of the mean-pooling model that %s "
                "held before", folder)


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _folder_file(folder: str, name: str, missing: str) -> str:
    """The path of the file ``name`` that ``folder`` must hold, as a regular file.

    Links are followed (a folder ``snapshot_download`` returns is made of
    them); what they point to must be a regular file.

    Raises
    ------
    FileNotFoundError
        If there is no such entry: ``missing`` (formatted with ``folder`` and
        ``path``) says why the file is needed.
    ValueError
        If the entry is a folder, FIFO, device, a link to one, or a broken link.
    """
    path = os.path.join(folder, name)
    if not os.path.lexists(path):
        raise FileNotFoundError(missing.format(folder=folder, path=path))
    return _regular(path)


def read_settings(folder: str) -> dict:
    """Read ``skbert.json``; a clear error if the folder is not an skbert model, or
    holds the files of an interrupted save (:func:`check_save_finished`)."""
    check_save_finished(folder)
    path = os.path.join(folder, SETTINGS_FILE)
    real = _folder_file(
        folder, SETTINGS_FILE,
        "{folder!r} holds no " + SETTINGS_FILE + ", so it is not a folder written by "
        "TransformerMultiLabelClassifier.save_pretrained. To fine-tune a plain Hugging "
        "Face checkpoint, pass it as TransformerMultiLabelClassifier(model_name_or_path=...).")
    try:
        settings = read_json(real, what=SETTINGS_FILE)
    except DamagedFile as exc:
        raise SavedFileError(
            f"{path} is damaged: it {exc}. Save the model again with "
            "save_pretrained, or restore the file from a copy.") from None
    settings = check_settings(settings, path)
    _check_config_labels(folder, settings["classes"], settings["pooling"])
    return settings


def config_labels(config: dict) -> list | None:
    """The label names of a ``config.json`` document, by index, as transformers reads them.

    ``id2label`` (``{"0": "food", ...}``), or transformers' default
    (``LABEL_0``, ``LABEL_1``: the file leaves ``id2label`` out when it equals
    that default); None when ``id2label`` is not an object of the indices
    ``0 .. n-1``.

    Examples
    --------
    >>> config_labels({"id2label": {"1": "tech", "0": "food"}})
    ['food', 'tech']
    >>> config_labels({})
    ['LABEL_0', 'LABEL_1']
    """
    id2label = config.get("id2label")
    if id2label is None:
        n = config.get("num_labels", 2)  # bounded: a list of that many names is built
        return [f"LABEL_{i}" for i in range(n)] if is_int(n) and 0 < n <= 100_000 else None
    if not isinstance(id2label, dict) or set(id2label) != {str(i) for i in range(len(id2label))}:
        return None
    return [id2label[str(i)] for i in range(len(id2label))]


def _check_config_labels(folder: str, classes: list, pooling: str = "mean") -> None:
    """``config.json``'s ``id2label`` must name the labels of ``skbert.json``'s ``classes``,
    in the same order, as :func:`save_folder` writes them.

    The probabilities' columns follow the weights (and ``id2label``, which
    transformers' pipelines show); ``classes`` names them for skbert. Editing
    one of the two (a permuted ``classes``) would give every prediction under
    another label's name, so it is refused. Left to the loading, which names
    the file and the tensor: a ``config.json`` that is missing or not JSON,
    and, with ``pooling="cls"``, an ``id2label`` of another number of labels
    (the classification head in the weights is checked against it). With mean
    pooling the head is skbert's own file, which ``id2label`` does not size, so
    any other labels there are refused here.

    Raises
    ------
    SavedFileError
        Naming both files, both lists and the fix.
    """
    config_path = os.path.join(folder, "config.json")
    config = _read_json(config_path)
    if not isinstance(config, dict):
        return
    expected = [str(c) for c in classes]
    labels = config_labels(config)
    if labels == expected or (pooling == "cls" and labels is not None
                              and len(labels) != len(expected)):
        return
    shown = labels if labels is not None else config.get("id2label")
    raise SavedFileError(
        f"{os.path.join(folder, SETTINGS_FILE)} and {config_path} disagree on the labels: "
        f"'classes' in {SETTINGS_FILE} is {classes!r:.200}, but id2label in config.json gives "
        f"{shown!r:.200} (by index). save_pretrained writes the same labels in the same "
        "order to both, so one of the files was edited, and predictions could be given under "
        "other labels' names. Restore the folder from a copy, or save the model again with "
        "save_pretrained.")


#: dtypes ``predict`` may return (the dtype of the Y given to fit).
_Y_DTYPES = {np.dtype(t).str for t in ("bool", "int8", "int16", "int32", "int64", "uint8",
                                        "uint16", "uint32", "uint64", "float32", "float64")}


def _bad(path: str, key: str, value, expected: str) -> SavedFileError:
    return SavedFileError(
        f"{path} is damaged or was not written by skbert: {key!r} is {value!r:.80}, expected "
        f"{expected}. Save the model again with save_pretrained, or restore the file from a copy.")


def _one_of(value, options) -> bool:
    """Whether ``value`` is one of the str ``options``.

    A JSON list or object is never one (and ``[1] in a_set`` would raise
    ``TypeError: unhashable type`` instead of saying the file is damaged).

    Examples
    --------
    >>> _one_of("mean", {"cls", "mean"}), _one_of(["mean"], {"cls", "mean"})
    (True, False)
    """
    return isinstance(value, str) and value in options


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: The values of a ``history_`` record that skbert writes, all numbers (null where an
#: epoch had no validation split). A callback may add others: str, numbers or null.
_HISTORY_NUMBERS = ("train_loss", "valid_loss", "valid_f1", "valid_score", "lr", "dur")


def is_history_record(record) -> bool:
    """Whether ``record`` is a ``history_`` entry as skbert writes one: a positive int
    ``epoch``, a number ``train_loss``, numbers or null for the other values skbert
    records, and short str, numbers or null for what a callback added. The fit cache
    holds its entries to the same rule."""
    if not (isinstance(record, dict) and all(isinstance(k, str) for k in record)):
        return False
    epoch = record.get("epoch")
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1):
        return False
    if not _is_number(record.get("train_loss")):
        return False
    return all(_is_number(v) or v is None if k in _HISTORY_NUMBERS
               else v is None or _is_number(v) or (isinstance(v, str) and len(v) <= 1000)
               for k, v in record.items() if k != "epoch")


def is_tuned_scores(scores) -> bool:
    """Whether ``scores`` is a ``tuned_scores_`` value as skbert writes one: at most 20
    metric names of at most 40 characters, each to a number in [0, 1]. The fit cache
    holds its entries to the same rule, so a reused fit always saves a loadable folder."""
    return isinstance(scores, dict) and len(scores) <= 20 and all(
        isinstance(k, str) and len(k) <= 40 and _is_number(v) and 0 <= v <= 1
        for k, v in scores.items())


def _is_thresholds(value, n_labels: int) -> bool:
    """Whether ``value`` is a list of ``n_labels`` numbers in [0, 1] (NaN and inf are not)."""
    return (isinstance(value, list) and len(value) == n_labels
            and all(_is_number(t) and 0.0 <= t <= 1.0 for t in value))


def thresholds_in_force(value, n_labels: int) -> list[float] | None:
    """``value`` (a threshold, one per label, or None) as the list :data:`LABEL_THRESHOLDS` holds.

    Parameters
    ----------
    value : float, array-like of shape (n_labels,) or None
        What ``predict`` compares each label's probability with; None when
        the model cannot predict (``threshold="auto"`` fitted without a
        validation split).
    n_labels : int

    Returns
    -------
    list of float or None

    Raises
    ------
    ValueError
        If a value is not a number in [0, 1], or the list is not one per label.
    """
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=float)
        values = [float(array)] * n_labels if array.ndim == 0 else array.tolist()
    except (TypeError, ValueError):
        values = None
    if not _is_thresholds(values, n_labels):
        raise ValueError(f"The thresholds in force {value!r:.80} are not {n_labels} numbers "
                         "in [0, 1], one per label; they cannot be saved.")
    return values


def label_thresholds(settings: dict) -> list | None:
    """The threshold each label was predicted with when the folder was saved.

    Read from :data:`LABEL_THRESHOLDS`. Folders written before skbert recorded
    it hold only the parameters: their tuned ``thresholds_`` when the
    recorded ``threshold`` is ``"auto"``, else the recorded ``threshold``
    (one number, or one per label); None where neither tells (a label's
    threshold is then unknown).

    Parameters
    ----------
    settings : dict
        A folder's ``skbert.json``, checked by :func:`check_settings`.

    Returns
    -------
    list or None
        One threshold (float or None) per label, or None.
    """
    if LABEL_THRESHOLDS in settings:
        return settings[LABEL_THRESHOLDS]
    n = len(settings["classes"])
    recorded = settings["params"].get("threshold", 0.5)  # older folders: the parameters
    if recorded == "auto":
        return settings.get("thresholds_")
    try:
        return thresholds_in_force(recorded, n)
    except (TypeError, ValueError):
        return None


def _check_label_texts(classes: list, path: str) -> None:
    """Refuse the label names of ``skbert.json`` that ``fit`` refuses as column names.

    An empty name, one that shows nothing, or one holding a control character
    (an ESC sequence that clears a terminal, a CR or LF, NUL) would be written
    as it is into the model card, the CLI's CSV headers and JSON keys. The
    rule is ``fit``'s own (:func:`skbert._validation._check_printable`).
    ``config.json``'s ``id2label`` must then name the same labels
    (:func:`_check_config_labels`).

    Raises
    ------
    SavedFileError
        Naming the file, the label (as its ``repr``), why and the fix.
    """
    fix = ("fit refuses such label names: the file is damaged, or was saved by an older skbert "
           "that did not. Restore the folder from a copy, or rename that label in 'classes' and "
           "in config.json's id2label and label2id.")
    for label in classes:
        if isinstance(label, str):
            try:
                _check_printable(label, f"{path}: its 'classes' has the label", fix)
            except ValueError as exc:  # the file's damage, not the caller's labels
                raise SavedFileError(str(exc)) from None


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
        raise NewerFileError(
            f"{path} has format {fmt}, newer than this skbert understands "
            f"({FORMAT_VERSION}); upgrade skbert (pip install -U skbert).")
    for key in ("pooling", "classes", "params", "history_", "best_epoch_", "y_dtype"):
        if key not in settings:
            raise _bad(path, key, None, "a value (the key is missing)")
    if not _one_of(settings["pooling"], ("cls", "mean")):
        raise _bad(path, "pooling", settings["pooling"], "'cls' or 'mean'")
    classes = settings["classes"]
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in classes)
            or len(set(classes)) != len(classes)
            or any(isinstance(c, int) and not -2**63 <= c < 2**63 for c in classes)):
        raise _bad(path, "classes", classes,
                   "a non-empty list of unique str or int label names (ints within int64)")
    # fit refuses 1 and "1" (one label would be lost in id2label and the CLI's outputs); a
    # folder is refused the same way. Look-alike names (NFC, spaces) still load: folders
    # saved before fit refused them keep working, and no label is lost with them.
    try:
        check_distinct_names(
            classes, f"{path} is damaged or was not written by skbert: its 'classes'",
            look_alike=False, fix="Save the model again with save_pretrained, or restore the "
                                  "file from a copy.")
    except ValueError as exc:  # the file's damage, not the caller's labels
        raise SavedFileError(str(exc)) from None
    _check_label_texts(classes, path)
    if not _one_of(settings["y_dtype"], _Y_DTYPES):
        raise _bad(path, "y_dtype", settings["y_dtype"], f"one of {sorted(_Y_DTYPES)}")
    for key in ("thresholds_", LABEL_THRESHOLDS):
        thresholds = settings.get(key)
        if thresholds is not None and not _is_thresholds(thresholds, len(classes)):
            raise _bad(path, key, thresholds, f"null or a list of {len(classes)} numbers in [0, 1]")
    history = settings["history_"]
    if not isinstance(history, list) or not all(is_history_record(r) for r in history):
        raise _bad(path, "history_", history,
                   "a list of per-epoch records: an int 'epoch', a number 'train_loss', "
                   "numbers or null for the other values skbert records")
    best = settings["best_epoch_"]
    if not isinstance(best, int) or isinstance(best, bool) or not 0 <= best <= len(history):
        raise _bad(path, "best_epoch_", best, f"an int in [0, {len(history)}]")
    params = settings["params"]
    if not isinstance(params, dict):
        raise _bad(path, "params", params, "a JSON object of estimator parameters")
    base = settings.get("base_model")
    if base is not None and (not isinstance(base, str) or not 0 < len(base) <= 1000
                             or any(unsafe_char(ch) for ch in base)):
        raise _bad(path, "base_model", base, "null or the name of the checkpoint fine-tuned "
                   "(printable: no control characters or bidi overrides)")
    metric = settings.get("threshold_metric_")  # older folders lack it
    if metric is not None and not _one_of(metric, THRESHOLD_RULES):
        raise _bad(path, "threshold_metric_", metric, f"null or one of {list(THRESHOLD_RULES)}")
    auto_min = settings.get("min_labels_", 0)  # older folders lack it
    if not is_int(auto_min) or auto_min not in (0, 1):
        raise _bad(path, "min_labels_", auto_min, "0 or 1 (what min_labels='auto' means)")
    # fitted values recorded for the card (optional: older folders lack them)
    rate = settings.get("learning_rate_")
    if rate is not None and not (_is_number(rate) and 0 < rate < float("inf")):
        raise _bad(path, "learning_rate_", rate, "null or a positive number (the rate used)")
    for key in ("n_train_", "n_valid_"):
        count = settings.get(key)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)
                                  or count < 0):
            raise _bad(path, key, count, "null or a non-negative int")
    interrupted = settings.get("interrupted_")
    if interrupted is not None and not isinstance(interrupted, bool):
        raise _bad(path, "interrupted_", interrupted, "null, true or false")
    scores = settings.get("tuned_scores_")
    if scores is not None and not is_tuned_scores(scores):
        raise _bad(path, "tuned_scores_", scores,
                   "null or an object of metric names to scores in [0, 1]")
    return settings


def load_folder(folder: str, settings: dict, device: torch.device):
    """Load ``(model, tokenizer)`` from a folder written by :func:`save_folder`.

    Folders of every skbert version load: a mean-pooling folder without the
    sentence-transformers files (written before they existed) reads its head
    from ``skbert_head.safetensors`` alone; one with them must hold the same
    head in ``2_Dense``, so that skbert and sentence-transformers give the same
    probabilities. Weights the config lacks a place for, missing or mis-shaped
    ones, and weights that are not finite are refused, naming the file.
    """
    AutoModel, AutoModelForSequenceClassification = transformers_names(
        "AutoModel", "AutoModelForSequenceClassification")

    pooling = settings["pooling"]
    n_labels = len(settings["classes"])
    check_model_source(folder)
    with quiet_transformers(), explain_load_errors(folder):
        auto = AutoModelForSequenceClassification if pooling == "cls" else AutoModel
        # safetensors only, skbert's own attention, the folder's config checked first
        backbone, info = auto.from_pretrained(folder, output_loading_info=True,
                                              **pretrained_kwargs(folder, auto))
    _check_loaded(folder, info, backbone.config, pooling)
    model_labels = getattr(backbone.config, "num_labels", n_labels)
    if pooling == "cls" and model_labels != n_labels:
        raise ValueError(
            f"{folder}/config.json describes {model_labels} labels but {SETTINGS_FILE} lists "
            f"{n_labels} classes; the folder is damaged or mixed. Save the model again.")
    model = MultiLabelModel(backbone, pooling, n_labels, dropout=head_dropout(backbone.config))
    tokenizer = load_tokenizer(folder)
    if pooling == "mean":
        head = read_head(folder, _head_shapes(model.head))
        _check_sentence_files(folder, head, settings,
                              token_limit(backbone.config, tokenizer))
        model.head.load_state_dict(head)
    _check_finite(folder, model)
    model.to(device).eval()
    return model, tokenizer


def saved_head(path: str) -> SavedHead | None:
    """What a folder written by ``save_pretrained`` offers a new fit; None for other checkpoints.

    Everything is read from JSON and safetensors and validated as
    :func:`load_folder` does: the pooling and labels from ``skbert.json`` and,
    with mean pooling, the trained head.

    Raises
    ------
    ValueError
        If the folder holds a damaged ``skbert.json`` or head file.
    """
    if not os.path.lexists(os.path.join(path, SETTINGS_FILE)):
        return None
    settings = read_settings(path)  # a link to a device or a folder is refused there
    head = None
    if settings["pooling"] == "mean":
        AutoConfig = transformers_names("AutoConfig")

        with quiet_transformers(), explain_load_errors(path, "configuration"):
            config = AutoConfig.from_pretrained(path, trust_remote_code=False)
        n = len(settings["classes"])
        head = read_head(path, {"weight": (n, config.hidden_size), "bias": (n,)})
        _check_sentence_files(path, head, settings, token_limit(config))
    return SavedHead(pooling=settings["pooling"], classes=tuple(settings["classes"]), head=head,
                     recorded=_recorded_head_params(settings["params"]))


def _recorded_head_params(params: dict) -> dict:
    """``head_init`` and ``label_descriptions`` of a folder's ``params``, where each is of
    the type a fit reads (a str; a dict of str to str): what
    :attr:`~skbert._modeling.SavedHead.recorded` compares a refit's values with. The values
    only silence a warning, so no other check applies.

    Examples
    --------
    >>> _recorded_head_params({"head_init": "names", "label_descriptions": {"a": " b "}})
    {'head_init': 'names', 'label_descriptions': {'a': 'b'}}
    >>> _recorded_head_params({"head_init": 3, "label_descriptions": {"a": 1}})
    {}
    """
    from ._label_init import normalised_descriptions

    out = {}
    if isinstance(params.get("head_init"), str):
        out["head_init"] = params["head_init"]
    described = params.get("label_descriptions")
    if isinstance(described, dict) and all(isinstance(k, str) and isinstance(v, str)
                                           for k, v in described.items()):
        out["label_descriptions"] = normalised_descriptions(described)
    return out


def _weights_name(folder: str) -> str:
    """The weight file of ``folder`` to name in errors (the index when sharded)."""
    files = weight_files(folder)
    return files[0] if len(files) == 1 else os.path.join(folder, "model.safetensors.index.json")


def _check_loaded(folder: str, info: dict, config, pooling: str) -> None:
    """Refuse weights that transformers would silently start at random, or drop.

    Missing or mis-shaped tensors would start at random; tensors the config
    has no place for (weights of 2 layers under ``num_hidden_layers=1``, or any
    extra tensor) would be dropped. Either way the model would not be the one
    saved. The empty guard tensors of a mean-pooling folder
    (:func:`~skbert._modeling.sequence_classification_guard`) are expected.
    """
    missing = list(info.get("missing_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    if missing or mismatched:
        names = ", ".join(str(k) for k in (missing + mismatched)[:5])
        raise ValueError(
            f"The weights in {folder} lack or mis-shape {len(missing) + len(mismatched)} "
            f"tensor(s) the model needs ({names}); loading would start them at random and give "
            "different probabilities on every load. The folder is incomplete: save the model "
            "again with save_pretrained.")
    unexpected = set(info.get("unexpected_keys") or ())
    if pooling == "mean" and unexpected:
        unexpected -= set(sequence_classification_guard(config))
    if unexpected:
        raise _extra_layers_error(_weights_name(folder), os.path.join(folder, "config.json"),
                                  sorted(map(str, unexpected)), config.to_dict())


def _check_finite(folder: str, model: MultiLabelModel) -> None:
    """Every floating-point weight of a loaded folder must be finite.

    A folder with NaN or infinite weights gives NaN probabilities for every
    text; it is refused at load, naming the file, instead of at predict time.
    """
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            where = (os.path.join(folder, HEAD_FILE) if name.startswith("head.")
                     else _weights_name(folder))
            raise ValueError(
                f"{where} holds weights that are not finite (NaN or infinite, e.g. in tensor "
                f"{name.split('.', 1)[1][:120]!r}): every probability of this model would be "
                "NaN. The folder is damaged, or was saved from a training that diverged; "
                "restore it from a copy, or fit the model again and save that.")


def _head_shapes(head: torch.nn.Linear) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in head.state_dict().items()}


def read_head(folder: str, expected: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """The mean-pooling head's weights from ``skbert_head.safetensors``, checked.

    Parameters
    ----------
    folder : str
    expected : dict of str to tuple
        The shape of every tensor the head needs (``weight`` and ``bias``).

    Returns
    -------
    dict of str to torch.Tensor
        Finite tensors of exactly the expected names and shapes.
    """
    path = os.path.join(folder, HEAD_FILE)
    _folder_file(
        folder, HEAD_FILE,
        "{path} is missing: it holds the classification head of this mean-pooling model, "
        "without which the labels would be scored at random. Copy the whole folder, or save "
        "the model again with save_pretrained.")
    weights = _load_safetensors(path)
    found = {k: tuple(v.shape) for k, v in weights.items()}
    if found != expected:
        raise ValueError(
            f"{path} holds tensors {found}, but the head needs {expected} (one row per label "
            f"in {SETTINGS_FILE}); the folder is damaged or mixed. Save the model again.")
    if not all(torch.isfinite(v).all() for v in weights.values()):
        raise ValueError(f"{path} holds NaN or infinite weights; save a finite model again.")
    return weights


def _load_safetensors(path: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (a regular file, read as data only)."""
    try:
        data, _ = read_regular_file(os.path.realpath(path))
        return load_tensors(data)
    except (DamagedFile, OSError) as exc:
        raise ValueError(f"{path} is damaged (the file {exc}); save the model again with "
                         "save_pretrained.") from None


def token_limit(config, tokenizer=None) -> int | None:
    """The most tokens per text the model takes: its ``max_position_embeddings`` and the
    tokenizer's ``model_max_length`` (when it sets one), whichever is lower; None if neither."""
    limits = [getattr(config, "max_position_embeddings", None),
              getattr(tokenizer, "model_max_length", None)]
    limits = [n for n in limits if is_int(n) and 0 < n < 1_000_000]
    return min(limits, default=None)


def _check_sentence_files(folder: str, head: dict[str, torch.Tensor], settings: dict,
                          limit: int | None = None) -> None:
    """A mean folder's sentence-transformers files must describe skbert's own model.

    Absent files are fine (folders saved before they were written); present
    ones must be exactly what :func:`save_folder` writes, with the same head,
    or sentence-transformers would give other probabilities than skbert.
    ``limit`` (:func:`token_limit`) decides which file a ``max_length`` that
    differs from ``max_seq_length`` blames (:func:`_check_max_seq_length`).
    """
    if not os.path.isfile(os.path.join(folder, "modules.json")):
        return
    n_labels, hidden = head["weight"].shape
    saved_length = settings["params"].get("max_length")
    expected = _sentence_configs(hidden, n_labels, saved_length)
    for name, content in expected.items():
        found = _read_json(os.path.join(folder, name))
        if found != content:
            if name == "sentence_bert_config.json":
                _check_max_seq_length(folder, found, content, limit)
            raise _inconsistent(folder, name)
    dense = os.path.join(folder, DENSE_WEIGHTS)
    if not os.path.isfile(dense):
        raise _inconsistent(folder, DENSE_WEIGHTS)
    weights = _load_safetensors(dense)
    pairs = {"linear.weight": head["weight"], "linear.bias": head["bias"]}
    if set(weights) != set(pairs) or not all(
            torch.equal(weights[k], v.to(weights[k].dtype)) for k, v in pairs.items()):
        raise _inconsistent(folder, DENSE_WEIGHTS)


def _check_max_seq_length(folder: str, found, expected: dict, limit: int | None) -> None:
    """Blame the right file when ``sentence_bert_config.json``'s ``max_seq_length`` is all
    that differs from what ``skbert.json``'s ``params.max_length`` makes of it.

    ``skbert.json`` is read first, but is not always the one to trust: a
    ``params.max_length`` that is missing, or more tokens than the model takes
    (``limit``), is its damage; a ``max_seq_length`` that is not such a number
    is ``sentence_bert_config.json``'s (the caller's message). Two plausible
    numbers that differ name both files. Returns when the files differ in
    something else.

    Raises
    ------
    SavedFileError
        Naming ``skbert.json``'s ``params.max_length`` and the value of each file.
    """
    if not isinstance(found, dict) or {**found, "max_seq_length": expected["max_seq_length"]} \
            != expected:
        return
    saved, recorded = expected["max_seq_length"], found.get("max_seq_length")
    settings_file = os.path.join(folder, SETTINGS_FILE)
    sentence_file = os.path.join(folder, "sentence_bert_config.json")
    fix = "Save the model again with save_pretrained, or restore the folder from a copy."

    def plausible(n) -> bool:
        return is_int(n) and n > 0 and (limit is None or n <= limit)

    if not plausible(saved):
        if saved is None:
            what = "missing"
        elif is_int(saved) and saved > 0:
            what = f"{saved}, more than the {limit} tokens this model takes"
        else:
            what = f"{saved!r:.80}, not a number of tokens"
        raise SavedFileError(
            f"{settings_file} is damaged: 'params.max_length' is {what} ({sentence_file} "
            f"records max_seq_length {recorded!r:.80}, the max_length the model was saved "
            f"with). {fix}")
    if plausible(recorded):
        raise SavedFileError(
            f"{settings_file} and {sentence_file} disagree on the tokens read per text: "
            f"'params.max_length' is {saved!r} in {SETTINGS_FILE} but max_seq_length is "
            f"{recorded!r} in sentence_bert_config.json, so skbert and sentence-transformers "
            f"would compute other probabilities; one of the files was edited. {fix}")


def _inconsistent(folder: str, name: str) -> ValueError:
    return ValueError(
        f"{os.path.join(folder, name)} does not match the model skbert saved in {folder} "
        f"({HEAD_FILE}, {SETTINGS_FILE}): sentence-transformers would compute other "
        "probabilities than skbert. The folder was edited or mixed with another model; save "
        "the model again with save_pretrained, or restore the folder from a copy.")
