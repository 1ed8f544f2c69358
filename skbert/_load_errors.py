"""One message for a checkpoint transformers could not load: what went wrong, where, and the fix.

:func:`explain_load_errors` wraps every ``from_pretrained`` call skbert makes.
:class:`SavedFileError` is the error of a damaged file of a folder skbert saved;
:func:`saved_file_errors` gives that class to the errors that name the folder's
``skbert.json``.
"""

from __future__ import annotations

import contextlib
import os
import re

from ._sources import _no_safetensors
from ._utils import SkbertWarning

#: scikit-learn's name for a parameter in its constraint errors.
_SKLEARN_PARAM = re.compile(r"The '(\w+)' parameter of \w+")


class SavedFileError(ValueError):
    """A file of a saved model folder is damaged, or holds a value skbert rejects.

    Its message names the file, the key (``params.min_labels``), the value and
    the fix. The keys are the file's, not options the user gave: the command
    line prints the message as it is, without turning parameter names into
    flags (:func:`skbert._cli_args.speak_flags` is for the user's own options).
    """


class SavedFileWarning(SkbertWarning):
    """A value of a saved folder's ``skbert.json`` that loading leaves out (see
    :class:`SavedFileError`: its keys are the file's, so the command line prints it as it is)."""


class NewerFileError(ValueError):
    """A saved folder written by a newer skbert: the fix is to upgrade skbert, not to save again."""


def file_key(name: str) -> str:
    """How a message names parameter ``name`` as a saved folder's ``skbert.json`` holds it.

    For checks that take how to name their keys (e.g. ``key=file_key``).

    Examples
    --------
    >>> file_key("stride")
    'params.stride'
    """
    return f"params.{name}"


def file_keys(message: str) -> str:
    """``message`` with scikit-learn's ``The 'min_labels' parameter of <Estimator>``
    spelled as the file's key, ``params.min_labels``.

    Examples
    --------
    >>> file_keys("The 'min_labels' parameter of T must be an int. Got -3 instead.")
    'params.min_labels must be an int. Got -3 instead.'
    """
    return _SKLEARN_PARAM.sub(lambda m: file_key(m[1]), message)


@contextlib.contextmanager
def saved_file_errors(fix: str = ""):
    """Raise a ``ValueError`` whose message names a folder's ``skbert.json`` as a
    :class:`SavedFileError`, its parameters spelled as the file's keys.

    scikit-learn's ``The 'min_labels' parameter of TransformerMultiLabelClassifier``
    becomes ``params.min_labels`` (where the file holds it); ``fix`` is added
    to the message (e.g. the command line's way to save the model again).
    """
    try:
        yield
    except NewerFileError:  # its own fix: upgrade skbert
        raise
    except ValueError as exc:
        from ._persistence import SETTINGS_FILE

        text = str(exc)
        if not isinstance(exc, SavedFileError) and SETTINGS_FILE not in text:
            raise
        raise SavedFileError(f"{file_keys(text)} {fix}".rstrip()) from exc


@contextlib.contextmanager
def explain_load_errors(path: str, what: str = "model"):
    """Turn transformers' loading errors into one message that names ``path`` and the fix."""
    try:
        yield
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        if getattr(exc, "skbert_explained", False):  # already says what to do
            raise
        if isinstance(exc, RuntimeError) and not _is_size_mismatch(exc):
            raise  # e.g. out of memory: not a loading problem to explain
        err = _explain(exc, path, what)
        err.skbert_explained = True
        raise err from exc
    except Exception as exc:
        if type(exc).__name__ != "SafetensorError":
            raise
        err = ValueError(
            f"The weights of {path!r} are damaged or truncated ({' '.join(str(exc).split())[:160]})"
            ". Copy or download model.safetensors again, or save the model again with "
            "save_pretrained.")
        err.skbert_explained = True
        raise err from exc


def _is_size_mismatch(exc: Exception) -> bool:
    text = str(exc)
    return "ignore_mismatched_sizes" in text or "size mismatch" in text


def _explain(exc: Exception, path: str, what: str) -> Exception:
    """The one-message error for a loading failure (see :func:`explain_load_errors`)."""
    text = str(exc)
    if "safetensors" in text and ("use_safetensors" in text or "pytorch_model.bin" in text):
        return _no_safetensors(path, "pytorch_model.bin (or no model.safetensors)")
    if _is_size_mismatch(exc):
        return ValueError(
            f"The weights of {path!r} do not fit the {what} transformers builds for it: a tensor "
            "has another shape (often a classification head with another number of labels, or "
            "a folder skbert saved with mean pooling, whose checkpoint marks the sequence-"
            "classification head as absent on purpose). Pass pooling='mean' for such a "
            "folder, or a checkpoint whose head matches.")
    if isinstance(exc, TypeError) and "keyword argument" in text:
        return ValueError(
            f"model_kwargs (or tokenizer_kwargs) holds a key the {what} of {path!r} does not "
            f"take: {' '.join(text.split())[:200]} Remove that key, or use one of the "
            "checkpoint's configuration attributes (e.g. hidden_dropout_prob).")
    if "trust_remote_code" in text or "custom code" in text:
        return ValueError(
            f"{path!r} needs its own Python code to build its {what} (an auto_map or a "
            "model_type transformers does not know); skbert never runs code shipped with a "
            "model. Use a checkpoint of an architecture transformers ships (BERT, RoBERTa, "
            "DeBERTa, DistilBERT, ...).")
    if not os.path.exists(path) and ("Repo id must" in text or "repo id" in text.lower()
                                     or "Incorrect path_or_model_id" in text):
        return FileNotFoundError(
            f"model_name_or_path={path!r} is neither an existing folder nor a valid hub "
            "name. Pass a local checkpoint folder, or a hub name such as "
            "'bert-base-uncased'.")
    first = " ".join(text.split())[:300]
    kind = OSError if isinstance(exc, OSError) else ValueError
    return kind(
        f"Could not load the {what} of {path!r}: {first} Check that it is a Hugging Face "
        "checkpoint folder (config.json, weights, tokenizer files) or a hub name you can "
        "reach.")
