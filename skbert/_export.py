"""Models that travel: model cards, the Hugging Face Hub, and ONNX for serving.

* :func:`save_model_folder` writes what :func:`skbert._persistence.save_folder`
  writes (a folder that sentence-transformers or transformers load without
  skbert) plus a model card, ``README.md``, following the Hub's conventions.
* :func:`push_to_hub` uploads that folder to a Hub repository.
* :func:`resolve_pretrained_source` turns a Hub repository id into a local
  folder (downloading only the files skbert reads).
* ONNX (:func:`export_onnx`, :class:`OnnxModel`, ...) lives in
  :mod:`skbert._export_onnx` and is re-exported here.

Optional packages (huggingface_hub, onnx, onnxruntime, onnxscript) are
imported inside the functions that need them; a missing one is an
ImportError naming the extra to install.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import warnings

from ._export_onnx import (  # noqa: F401  (re-exported: the estimator and pickles use them)
    BACKENDS,
    INT8_FILE,
    ONNX_DIR,
    ONNX_FILE,
    ONNX_META,
    ONNX_TOLERANCE,
    OnnxModel,
    check_backend,
    export_onnx,
    load_onnx_folder,
    onnx_providers,
    weights_hash,
)
from ._params import CARD_PARAMS
from ._persistence import (
    HEAD_FILE,
    SENTENCE_FILES,
    SETTINGS_FILE,
    label_thresholds,
    read_settings,
    save_folder,
)
from ._safe_io import (
    DamagedFile,
    read_regular_file,
    write_text,
)
from ._thresholds import describe_rule, min_labels_in_force
from ._utils import SkbertWarning
from ._validation import unsafe_char

logger = logging.getLogger(__name__)

#: The line that marks a README.md as skbert's model card (replaced on the next save).
CARD_MARKER = "<!-- skbert:model-card -->"



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
    settings = {**settings, "base_model": base_model_of(settings["params"]["model_name_or_path"])}
    save_folder(folder, model, tokenizer, shareable_settings(settings))  # with peft's adapter/
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
    """Whether the file at ``path`` is a model card skbert wrote: a line of it is the
    marker, alone (a folder or label name quoting the marker inside a line does not
    count, so deleting the marker line keeps a card)."""
    try:
        data, _ = read_regular_file(os.fspath(path))  # a link is not skbert's card
        return CARD_MARKER in (line.strip() for line in data.decode("utf-8").splitlines())
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
    lines = [f"# {_md(name)}", "",
             f"A multi-label text classifier over {len(classes)} labels, fine-tuned with "
             f"[skbert](https://pypi.org/project/skbert/) {settings.get('skbert_version', '')} "
             f"from {_code(base)} ({pooling} pooling, texts read up to {max_length} tokens). Each "
             "label gets its own probability (a sigmoid, not a softmax): a text can have "
             "several labels or none.", ""]

    in_force = label_thresholds(settings) or [None] * len(classes)
    rule = settings.get("threshold_metric_") or params.get("threshold_metric")  # older: its own
    tuned = in_force == settings.get("thresholds_")  # predict applies the tuned thresholds_
    lines += ["## Labels and thresholds", "",
              "A label is predicted when its probability is at least its threshold"
              + (f" ({describe_rule(rule)})." if tuned else "."),
              "",
              "| column | label | threshold |", "|---:|---|---:|"]
    for i, (c, t) in enumerate(zip(classes, in_force)):
        lines.append(f"| {i} | {_md(str(c))} | {_fmt(t)} |")
    min_labels = params.get("min_labels", 0)
    if min_labels == "auto" or isinstance(min_labels, int):  # as predict applies it
        min_labels = min(min_labels_in_force(min_labels, settings.get("min_labels_")),
                         len(classes))
    if isinstance(min_labels, int) and min_labels > 0:  # after a blank line: not a table row
        lines.append("")
        lines.append(f"`predict` gives every text at least {min_labels} label"
                     f"{'s' if min_labels > 1 else ''}: the most probable, when fewer pass "
                     "their thresholds (`min_labels`).")
    lines.append("")

    history = settings.get("history_") or []
    lines += ["## Training", "", "| parameter | value |", "|---|---|"]
    for key in CARD_PARAMS:  # the parameter table's "shown on the card" rows
        if key in params:
            shown = _card_value(params[key], settings.get(key + '_'))
            if key == "threshold_metric" and settings.get("thresholds_") is None:
                shown = f"{_fmt(params[key])} (not used: no thresholds were tuned)"[:80]
            lines.append(f"| `{key}` | {_md(shown)} |")
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

    A value given as ``"auto"`` shows what the fit resolved it to (recorded
    as ``<name>_``), e.g. ``0.0002 (auto)``; any other value is in force as given.
    """
    shown = _fmt(value)
    if value == "auto" and fitted is not None and not isinstance(fitted, (list, dict, bool)):
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


#: Characters of user-given text (label names, parameter values) that HTML reads as markup:
#: written as entities, so no tag or comment (no forged :data:`CARD_MARKER`) reaches the card.
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
#: Characters that markdown reads as syntax in a table cell or heading (links, images,
#: emphasis, code spans, strike-through, the cell's end): backslash-escaped.
_MD_SYNTAX = frozenset("\\`*[]|~")


def _md(text: str) -> str:
    r"""``text`` for a table cell or a heading of the card: shown as written, never as markup.

    HTML characters become entities, markdown's syntax characters are
    backslash-escaped (``_`` only where it could start or end emphasis, not
    inside a word such as ``f1_micro``), the characters ``fit`` refuses in
    label names (control characters, bidi overrides:
    :func:`skbert._validation.unsafe_char`) show as their code point, a line
    break as a space.

    Examples
    --------
    >>> print(_md("<!-- x --> [a](javascript:b) a|b f1_micro _c_"))
    &lt;!-- x --&gt; \[a\](javascript:b) a\|b f1_micro \_c\_
    >>> print(_md("c\u202e d\x1b"))
    cU+202E dU+001B
    """
    out = []
    for i, ch in enumerate(text):
        inside_word = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        if ch in _MD_ENTITIES:
            out.append(_MD_ENTITIES[ch])
        elif ch in _MD_SYNTAX or (ch == "_" and not inside_word):
            out.append("\\" + ch)
        elif ch in "\r\n\t":
            out.append(" ")
        elif unsafe_char(ch):
            out.append(f"U+{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _code(text: str) -> str:
    """``text`` as a markdown code span: fenced by more backticks than any run it holds.

    Examples
    --------
    >>> _code("bert"), _code("a`b"), _code("a\x1b[31mb")
    ('`bert`', '`` a`b ``', '`aU+001B[31mb`')
    """
    text = "".join(f"U+{ord(ch):04X}" if unsafe_char(ch) and not ch.isspace() else ch
                   for ch in text)
    text = " ".join(text.split())  # one line
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence}{text}{fence}" if not longest else f"{fence} {text} {fence}"


def _usage(name: str, hub: bool, pooling: str, max_length, long_text) -> list[str]:
    where = json.dumps(name)
    lines = ["## How to use", "", "With skbert (thresholds included; `predict` returns 0/1 "
             "indicators, `predict_proba` the probabilities):", "", "```python"]
    if hub:
        lines += ["from skbert import TransformerMultiLabelClassifier", "",
                  f"folder = {where}   # a Hub id: only the files skbert reads are fetched"]
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
    export in ``onnx/``, which is not trusted as it is: it was not made on this
    machine, so the first load exports the weights again, see
    :func:`~skbert._export_onnx.export_onnx`).
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
