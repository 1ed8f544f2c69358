"""The estimator's parameters, each described once.

``PARAMS`` is the one table of :class:`~skbert.TransformerMultiLabelClassifier`'s
parameters, in the order of its signature. Everything else that lists
parameters is generated from it; a new parameter touches this table, the
signature and docstring (kept in step by ``tests/test_params_table.py``), and
the code that uses it.

API
---
``PARAMS`` : tuple of :class:`Param`
    One row per parameter: ``name``, ``default``, ``constraint`` (a list for
    scikit-learn's ``_param_validation``, or ``"no_validation"``), ``help``
    (one line), ``flag`` (the ``skbert train`` option, or None), ``when``
    (``"fit"``: shapes the trained weights; ``"predict"``: read at predict
    time, changing it needs no refit; ``"observer"``: changes neither weights
    nor predictions), ``cache_key`` (part of the fit-cache key: the ``"fit"``
    rows but ``threshold_metric``, whose rules the cache keeps all), ``card``
    (shown on the model card), ``from_folder`` (read back from a saved
    folder's ``skbert.json``), ``folder_most`` (the largest value a folder
    may set, for a parameter that sizes memory and changes no prediction;
    above it the default loads, with a warning), plus CLI details (``metavar``, ``cli_default``).
``PARAM`` : dict, name -> :class:`Param`.
``DEFAULTS`` : dict, name -> default.
``PARAMETER_CONSTRAINTS`` : dict, the estimator's ``_parameter_constraints``.
``FOLDER_UNSAFE_PARAMS``, ``PREDICT_TIME_PARAMS``, ``OBSERVER_PARAMS``,
``CACHE_KEY_PARAMS``, ``CARD_PARAMS`` : the sets (tuple for the card, in
table order) that each column defines.
``training_params(params, resolved_device_type)`` -> dict
    The parameters that shape the trained weights: the fit-cache key's part.
``folder_params(settings, path)`` -> dict (also named ``check_folder_settings``)
    The parameters of a folder's ``skbert.json`` that may be read back, each
    value checked against the table's constraint (``ValueError`` naming the
    file, the parameter, the value and the fix).
``record_params(params)`` -> dict
    The parameters as JSON values for ``skbert.json`` (a record; what is read
    back is decided by ``folder_params``).
``cli_params()`` -> iterator of :class:`CliOption`
    ``(name, flag, help, default, parse, metavar, choices, boolean)`` for every
    parameter with a flag; ``parse(text)`` turns the command line's string into
    the value, or raises ``argparse.ArgumentTypeError`` naming the flag.
``cli_values(args)``
    Collect the given options as estimator parameters (the CLI adds the options
    to its parsers in ``skbert._cli_args._add_table_options``, the one place).
``flag_for(name)`` -> str
    The CLI flag of a parameter (``"--max-epochs"``), for errors that speak in
    flags; the parameter's own name when it has none.
``FolderPath``, ``folder_problem(name, value)``, ``expand_folder(value)``
    The constraint of the folder parameters (``fit_cache`` given as a str,
    ``checkpoint_dir``), what is wrong with a value it refuses, and the path
    skbert uses for one it accepts (``~`` expanded).
``check_parameters(constraints, params, caller_name)``, ``validate_params(estimator)``
    scikit-learn's parameter check, whose error for a refused folder says
    what is wrong with it and for a bool given as a number says so (the
    estimators' ``_validate_params``).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    make_constraint,
    validate_parameter_constraints,
)

from ._label_init import label_descriptions_problem
from ._load_errors import SavedFileError, SavedFileWarning, file_key, file_keys
from ._modeling import DEFAULT_MODEL
from ._safe_io import is_int
from ._thresholds import THRESHOLD_METRICS
from ._utils import DEVICE_CHOICES, DEVICE_TYPES
from ._validation import NumberInterval

_WHEN = ("fit", "predict", "observer")
_UNSET = object()


@dataclass(frozen=True)
class Param:
    """One parameter of the estimator (see the module docstring for the fields)."""

    name: str
    default: Any
    constraint: list | str
    help: str
    flag: str | None = None
    when: str = "fit"
    card: bool = False
    from_folder: bool = True
    metavar: str | None = None
    cli_default: Any = _UNSET
    #: The most a saved folder may set (None: no bound); see the module docstring.
    folder_most: int | None = None
    #: False for a fit-time parameter that acts after training only (``threshold_metric``:
    #: the fit cache keeps the thresholds of every rule, so the weights are reused).
    in_cache_key: bool = True

    def __post_init__(self):
        if self.when not in _WHEN:
            raise ValueError(f"{self.name}: when={self.when!r} is not one of {_WHEN}")

    @property
    def cache_key(self) -> bool:
        """Part of the fit-cache key: only parameters that shape the weights are."""
        return self.when == "fit" and self.in_cache_key


def _pos(kind) -> NumberInterval:
    return NumberInterval(kind, 1, None, closed="left")


def _nonneg(kind) -> NumberInterval:
    return NumberInterval(kind, 0, None, closed="left")


def _options(*names: str) -> StrOptions:
    return StrOptions(set(names))


# ----------------------------------------------------------- folder parameters
#: How to do without a folder, per folder parameter (for the messages).
_FOLDER_FIX = {
    "fit_cache": "pass False to switch the fit cache off, True to keep fits in this process's "
                 "memory, or a folder path",
    "checkpoint_dir": "pass checkpoint_dir=None for no training-state checkpoints, or a folder "
                      "path",
}
#: A shell variable: ``${...}`` anywhere, or ``$NAME`` (or a lone ``$``) at the start of the
#: path or of one of its parts. ``a/b$c`` is a plain name.
_SHELL_VARIABLE = re.compile(r"\$\{[^}]*\}?|(?:^|(?<=[/\\]))\$(?:[A-Za-z_][A-Za-z0-9_]*)?")
#: The text of a bool or None: almost always a value meant as the bool (a config file's "True").
_BOOL_TEXTS = ("true", "false", "none")


def folder_problem(name: str, value, *, flag: str | None = None) -> str | None:
    """What is wrong with ``value`` as the folder parameter ``name``, or None if nothing.

    Python takes a path literally, so values that a shell would have turned
    into another path, or that name no folder at all, are refused instead of
    creating a folder named ``"~"``, ``"$HOME"`` or ``"True"`` in the current
    folder (or writing into the current folder itself):

    * an empty or blank path (``""`` is the current folder to ``os.path``);
    * for ``fit_cache``, the text of a bool or None (``"True"``, ``"false"``,
      ``"None"``): the bool was meant;
    * a shell variable (``"$HOME/x"``, ``"${TMPDIR}/x"``, ``"runs/$USER"``):
      shells expand variables, Python does not; pass the expanded path
      (``os.path.expandvars``);
    * ``"~user/x"`` for a user this system does not know (``"~/x"`` and a known
      user's ``"~user/x"`` are expanded, see :func:`expand_folder`);
    * a bytes path (``os.fspath`` of the value must be a str).

    Parameters
    ----------
    name : {"fit_cache", "checkpoint_dir"}
        The parameter.
    value : str or path-like
        Its value (a bool ``fit_cache`` and a None ``checkpoint_dir`` are not
        paths and are not checked here).
    flag : str or None, default=None
        The command line's option (``"--checkpoint-dir"``): the message then
        speaks of it instead of the parameter.

    Returns
    -------
    str or None
        One sentence naming the value and the fix.

    Examples
    --------
    >>> folder_problem("fit_cache", "fits") is None
    True
    >>> folder_problem("checkpoint_dir", "$HOME/ckpt")  # doctest: +ELLIPSIS
    "checkpoint_dir='$HOME/ckpt' names the shell variable $HOME, which Python does not expand..."
    """
    shown = f"{value!r}" if flag else f"{name}={value!r}"  # argparse names the flag
    fix = (f"leave {flag} out for none, or give a folder path" if flag
           else _FOLDER_FIX.get(name, "pass a folder path"))
    try:
        path = os.fspath(value)
    except TypeError:
        return f"{shown} is not a path; {fix}"
    if not isinstance(path, str):
        return f"{shown} is a bytes path; pass it as a str (os.fsdecode)"
    if not path.strip():
        return (f"{shown} names no folder (an empty path would mean the current folder); "
                f"{fix}")
    if name == "fit_cache" and not flag and path.strip().lower() in _BOOL_TEXTS:
        word = path.strip().lower()
        meant = ("fit_cache=False to switch the fit cache off" if word != "true"
                 else "fit_cache=True to keep fits in this process's memory")
        return (f"{shown} is text, not the bool: pass {meant} (a str is a folder path); "
                "a config file's value must be read as a bool, not a str")
    var = _SHELL_VARIABLE.search(path)
    if var is not None:
        expanded = os.path.expandvars(path)
        here = f" ({expanded!r} here)" if expanded != path else ""
        if flag:  # a variable in single quotes, or from a file the shell never read
            return (f"{shown} names the shell variable {var.group()}, which skbert does not "
                    "expand (a folder of that literal name would be created); write the path "
                    f"itself{here}, or the variable outside single quotes")
        return (f"{shown} names the shell variable {var.group()}, which Python does not "
                "expand (a folder of that literal name would be created); pass the path "
                f"itself, e.g. os.path.expandvars({path!r}){here}")
    return unknown_home(path, shown)


def unknown_home(path: str, shown: str, fix: str = "pass the path itself") -> str | None:
    """What is wrong with ``path`` (``shown``, as a message names it) when it starts with
    the home folder of a user this system does not know (``~no_such_user/x``), else None."""
    if not os.path.expanduser(path).startswith("~"):
        return None
    user = re.split(r"[/\\]", path, maxsplit=1)[0]
    return (f"{shown} starts with {user!r}, the home folder of a user this system does not "
            f"know; {fix}")


def expand_folder(value) -> str:
    """The path skbert uses for a folder parameter: ``os.fspath`` with ``~`` expanded.

    ``"~/fits"`` is ``$HOME/fits``, as a shell would give it;
    :func:`folder_problem` refuses what else a shell would have changed. The
    parameter itself keeps the value given (``get_params`` returns it).

    Examples
    --------
    >>> expand_folder("fits")
    'fits'
    >>> expand_folder("~/fits") == os.path.join(os.path.expanduser("~"), "fits")
    True
    """
    return os.path.expanduser(os.fspath(value))


class FolderPath(Options):
    """A folder given as a str or path-like that :func:`folder_problem` accepts.

    An ``Options`` of no listed values to scikit-learn (its parameter
    validation takes only its own constraint classes), with its own test.

    The constraint keeps no state between checks: scikit-learn's error names
    the constraint, not the value, so :func:`check_parameters` checks a
    refused value again with ``refusing(value)``, the constraint whose
    description also says what is wrong with that value (``fit_cache=''``:
    "names no folder ... pass False to switch the fit cache off ..."), and
    the error says the fix.

    Parameters
    ----------
    name : str
        The parameter (``"fit_cache"``, ``"checkpoint_dir"``).
    problem : str or None, default=None
        What is wrong with the value this constraint refuses, as
        :func:`folder_problem` says it; set by :meth:`refusing` only.

    Examples
    --------
    >>> c = FolderPath("fit_cache")
    >>> c.is_satisfied_by("fits"), c.is_satisfied_by(""), c.is_satisfied_by(3)
    (True, False, False)
    >>> str(c.refusing(""))  # doctest: +ELLIPSIS
    "a folder path (a str or path-like); fit_cache='' names no folder ..."
    """

    def __init__(self, name: str, problem: str | None = None):
        super().__init__(str, set())
        self.name = name
        self.problem = problem

    def is_satisfied_by(self, val):
        return isinstance(val, (str, os.PathLike)) and folder_problem(self.name, val) is None

    def refusing(self, val) -> FolderPath:
        """This constraint, described with what is wrong with ``val`` (if it is a path)."""
        problem = (folder_problem(self.name, val) if isinstance(val, (str, os.PathLike))
                   else None)
        return FolderPath(self.name, problem)

    def describe(self) -> str:
        """The constraint in words, without a value's problem."""
        return "a folder path (a str or path-like)"

    def __str__(self):
        return self.describe() + (f"; {self.problem}" if self.problem else "")


def check_parameters(constraints: dict, params: dict, caller_name: str) -> None:
    """scikit-learn's ``validate_parameter_constraints``, whose error for a refused folder
    path also says what is wrong with it, and for a bool given as a number says so.

    On a refusal the same values are checked again with each
    :class:`FolderPath` and ``NumberInterval`` replaced by ``refusing(value)``
    (the same verdicts), so scikit-learn's own message ("The 'fit_cache'
    parameter of ... must be ... Got '' instead.", "... must be an int (not a
    bool) in the range [0, inf). Got True instead.") names the problem and
    its fix. No constraint keeps state between checks.

    Parameters
    ----------
    constraints : dict
        Parameter name -> list of constraints, or ``"no_validation"``
        (an estimator's ``_parameter_constraints``).
    params : dict
        Parameter name -> value (``get_params(deep=False)``).
    caller_name : str
        The estimator (or method) the message names.

    Raises
    ------
    InvalidParameterError
        For the first parameter whose value no constraint accepts.
    """
    try:
        validate_parameter_constraints(constraints, params, caller_name=caller_name)
    except InvalidParameterError as exc:
        refused = exc
    else:
        return
    told = {name: _told(given, params.get(name)) for name, given in constraints.items()}
    validate_parameter_constraints(told, params, caller_name=caller_name)
    raise refused  # not reached: the told constraints refuse the same value


def validate_params(estimator) -> None:
    """An estimator's ``_validate_params``: :func:`check_parameters` of its
    ``_parameter_constraints`` and ``get_params(deep=False)``, so a refused folder path or a
    bool given as a number is named as such (``_validate_params = validate_params``)."""
    check_parameters(estimator._parameter_constraints, estimator.get_params(deep=False),
                     caller_name=type(estimator).__name__)


def _told(constraints, value):
    """``constraints`` with each that can say more of a value it refuses (a
    :class:`FolderPath`, a ``NumberInterval``) told the value it checks."""
    if isinstance(constraints, str):  # "no_validation"
        return constraints
    return [c.refusing(value) if hasattr(c, "refusing") else c for c in constraints]


PARAMS: tuple[Param, ...] = (
    Param("model_name_or_path", DEFAULT_MODEL, [str, os.PathLike],
          "Hugging Face checkpoint folder or hub name (default: the bundled all-MiniLM-L6-v2)",
          flag="--model", metavar="M"),
    Param("max_length", 128, [NumberInterval(Integral, 8, None, closed="left")],
          "tokens per text, or per window with long_text='chunk'",
          flag="--max-length", card=True, metavar="N"),
    Param("batch_size", 16, [_pos(Integral)], "texts per training step",
          flag="--batch-size", card=True, metavar="N"),
    Param("learning_rate", "auto",
          [NumberInterval(Real, 0, None, closed="neither"), _options("auto")],
          "peak AdamW learning rate; auto: 2e-4 for models of up to 50M parameters, else 5e-5",
          flag="--learning-rate", card=True, metavar="LR|auto"),
    Param("head_learning_rate", None, [NumberInterval(Real, 0, None, closed="neither"), None],
          "learning rate of the new classification head (none: 10x the learning rate)",
          flag="--head-learning-rate", card=True, metavar="LR"),
    Param("max_epochs", 3, [_pos(Integral), _options("auto")],
          "passes over the training data; auto: 3, or more (up to 100) for small data sets so "
          "that training takes at least 300 optimiser steps",
          flag="--max-epochs", card=True, metavar="N|auto"),
    Param("weight_decay", 0.01, [_nonneg(Real)],
          "AdamW weight decay (none on biases and normalisation weights)",
          flag="--weight-decay", card=True, metavar="WD"),
    Param("warmup_ratio", 0.1, [NumberInterval(Real, 0, 1, closed="both")],
          "share of the steps spent warming the learning rate up",
          flag="--warmup-ratio", card=True, metavar="F"),
    Param("max_grad_norm", 1.0, [NumberInterval(Real, 0, None, closed="neither")],
          "gradients are clipped to this global norm before each step (a large value such "
          "as 1e9: practically no clipping)",
          flag="--max-grad-norm", card=True, metavar="F"),
    Param("pooling", "auto", [_options("auto", "cls", "mean")],
          "text vector: the [CLS] head or the mean of the tokens; auto follows the checkpoint",
          flag="--pooling"),
    Param("head_init", "auto",
          [_options("auto", "labels", "names", "centroids", "logistic", "random")],
          "how a new head starts: from the label names and the centroids of their training "
          "texts (labels), either one alone, a logistic regression on the text vectors "
          "(logistic), or random; auto: logistic after a contrastive warm-up, else labels "
          "with mean pooling and random with cls pooling",
          flag="--head-init", card=True),
    Param("label_descriptions", None, [dict, None],
          "label -> text describing it, for head_init and the contrastive warm-up (default: "
          "the label names made readable); read by head_init='labels' and "
          "head_init='names', by the warm-up's batches (contrastive_label_texts), and by the "
          "logistic head (after a warm-up) only for a label on all or none of the training "
          "texts; on the command line a JSON object or @file.json",
          flag="--label-descriptions", metavar="JSON|@FILE"),
    Param("contrastive_steps", "auto", [_nonneg(Integral), _options("auto")],
          "steps of a contrastive warm-up of the encoder before the head is trained (pairs "
          "of texts sharing a label pulled together); auto: 100 with mean pooling on up to "
          "1,000 training texts, else 0",
          flag="--contrastive-steps", card=True, metavar="N|auto"),
    Param("contrastive_label_texts", True, ["boolean"],
          "each contrastive warm-up batch also holds the texts of its labels "
          "(label_descriptions, else the names made readable), so texts are pulled toward "
          "their labels' names",
          flag="--contrastive-label-texts", card=True),
    Param("threshold", 0.5,
          [_options("auto"), NumberInterval(Real, 0, 1, closed="both"), "array-like"],
          "decision threshold of predict; auto tunes thresholds_ on the validation split",
          flag="--threshold", when="predict", card=True, metavar="FLOAT|auto"),
    Param("threshold_metric", "auto",
          [_options("auto", *THRESHOLD_METRICS)],
          "how threshold='auto' tunes: one shared threshold maximising micro-F1, one per label "
          "maximising its F1, one per label maximising micro-F1, or each label's own pulled "
          "toward the shared one by how few validation positives it has; auto: f1_shrunk on "
          "up to 1,000 training texts, else f1_micro_global",
          in_cache_key=False,
          flag="--threshold-metric", card=True),
    Param("min_labels", "auto", [_nonneg(Integral), _options("auto")],
          "predict at least this many labels per text: the most probable ones when fewer "
          "pass their threshold; auto: 1 when every training text has a label, else 0",
          flag="--min-labels", when="predict", card=True, metavar="N|auto"),
    Param("early_stopping", False, ["boolean"],
          "stop when the validation score stops improving and keep the best epoch",
          flag="--early-stopping", card=True),
    Param("validation_fraction", 0.1, [NumberInterval(Real, 0, 1, closed="left")],
          "share of the texts held out for early stopping and threshold='auto'",
          flag="--validation-fraction", card=True, metavar="F"),
    Param("n_iter_no_change", 2, [_pos(Integral)], "epochs without improvement before stopping",
          flag="--n-iter-no-change", metavar="N"),
    Param("tol", 1e-4, [_nonneg(Real)], "least improvement of the validation objective that counts",
          flag="--tol", metavar="TOL"),
    Param("scoring", "f1_micro", [None, str, callable],
          "what selects the kept epoch: loss, or a scorer name such as f1_micro, f1_macro, "
          "r_precision", flag="--scoring", metavar="SCORER"),
    Param("pos_weight", None, [None, _options("balanced"), "array-like"],
          "weight of each label's positives in the loss: balanced (negatives/positives, "
          "capped at 100) or one number per label", flag="--pos-weight", card=True,
          metavar="balanced|W1,W2,..."),
    Param("long_text", "truncate", [_options("truncate", "chunk")],
          "texts longer than max_length: keep the start, or read them in windows",
          flag="--long-text", card=True),
    Param("stride", 32, [_nonneg(Integral)], "tokens shared by consecutive windows",
          flag="--stride", metavar="N"),
    Param("max_chunks", 8, [_pos(Integral), None], "most windows read per text",
          flag="--max-chunks", metavar="N"),
    Param("chunk_pooling", "max", [_options("max", "mean")],
          "how window logits make a text's", flag="--chunk-pooling"),
    Param("predict_batch_size", 64, [_pos(Integral)],
          "texts per forward pass in prediction and validation",
          flag="--predict-batch-size", when="predict", metavar="N", folder_most=4096),
    Param("fit_cache", True, ["boolean", FolderPath("fit_cache")],
          "reuse fine-tuned weights of an identical earlier fit (a str: a shared folder)",
          when="observer", from_folder=False),
    Param("device", "auto", [str, torch.device], "auto, cpu, cuda, cuda:1, mps",
          flag="--device", metavar="DEV"),
    Param("precision", "auto", [_options("auto", "bf16", "fp16", "fp32")],
          "autocast precision; auto is bf16 where the hardware runs it natively, else fp32",
          flag="--precision"),
    Param("compile", False, ["boolean", dict],
          "run the model through torch.compile (minutes to compile: measure first)",
          flag="--compile", from_folder=False),
    Param("callbacks", None, [None, list], "objects told of the fit's progress",
          when="observer", from_folder=False),
    Param("warm_start", False, ["boolean"],
          "continue training the fitted weights for the same labels"),
    Param("micro_batch_size", None, [_pos(Integral), None],
          "texts per forward/backward pass; a batch's gradients add up over them",
          flag="--micro-batch-size", metavar="N"),
    Param("gradient_checkpointing", False, ["boolean"],
          "recompute activations in the backward pass (less memory, slower)",
          flag="--gradient-checkpointing"),
    Param("checkpoint_dir", None, [None, FolderPath("checkpoint_dir")],
          "save the training state after each epoch there; a rerun resumes",
          flag="--checkpoint-dir", when="observer", from_folder=False, metavar="FOLDER"),
    Param("peft_config", None, "no_validation",
          "a peft config: fine-tune adapters only (checked in fit)", from_folder=False),
    Param("model_kwargs", None, [dict, None], "extra keyword arguments of the model loader",
          from_folder=False),
    Param("tokenizer_kwargs", None, [dict, None],
          "extra keyword arguments of the tokenizer loader", from_folder=False),
    Param("random_state", None,
          [NumberInterval(Integral, 0, 2**32 - 1, closed="both"), np.random.RandomState, None],
          "seeds the head, dropout, shuffling and the validation split",
          flag="--random-state", card=True, metavar="SEED", cli_default=0),
    Param("verbose", 0, ["verbose"], "0 silent, 1 one line per epoch, 2 progress bars",
          flag="--verbose", when="observer", metavar="N", cli_default=1),
)

PARAM: dict[str, Param] = {p.name: p for p in PARAMS}
DEFAULTS: dict[str, Any] = {p.name: p.default for p in PARAMS}
PARAMETER_CONSTRAINTS: dict = {p.name: p.constraint for p in PARAMS}
#: Never read from a model folder: each reaches a code path by name (torch.compile's
#: options, a cache folder, keyword arguments of the loaders) or names a local path.
FOLDER_UNSAFE_PARAMS = frozenset(p.name for p in PARAMS if not p.from_folder)
#: Read only at predict time: changing them needs no refit.
PREDICT_TIME_PARAMS = frozenset(p.name for p in PARAMS if p.when == "predict")
#: Change neither the trained weights nor the predictions.
OBSERVER_PARAMS = frozenset(p.name for p in PARAMS if p.when == "observer")
#: Shape the trained weights: the fit-cache key's parameters.
CACHE_KEY_PARAMS = frozenset(p.name for p in PARAMS if p.cache_key)
#: Shown on the model card, in table order.
CARD_PARAMS: tuple[str, ...] = tuple(p.name for p in PARAMS if p.card)


def training_params(params: dict, device_type: str) -> dict:
    """The parameters that shape the trained weights, for the fit-cache key.

    Parameters
    ----------
    params : dict
        ``estimator.get_params(deep=False)``.
    device_type : str
        The resolved device's type (``"cpu"``, ``"cuda"``): the same parameters
        give other weights on another device.

    Returns
    -------
    dict
        The ``CACHE_KEY_PARAMS`` values, ``threshold_auto`` (whether fit holds
        out a validation split for ``threshold="auto"``) and ``device_type``.
    """
    out = {k: v for k, v in params.items() if k in CACHE_KEY_PARAMS}
    out["threshold_auto"] = isinstance(params.get("threshold"), str)
    out["device_type"] = device_type
    return out


def folder_params(settings: dict, path: str) -> dict:
    """The parameters of a folder's ``skbert.json`` that may be read back, checked.

    Parameters in ``FOLDER_UNSAFE_PARAMS`` and names the estimator does not
    have are left out (they keep their defaults); every other value must pass
    its constraint in the table, as a value a user passes would, and what
    only the file can get wrong: a per-label ``threshold`` must hold one
    number in [0, 1] per label of the file's ``classes``, a per-label
    ``pos_weight`` one finite number > 0 per label, and ``device`` must
    be a device skbert takes (the caller's device replaces it, so a folder
    saved with ``"cuda:1"`` loads on a machine without a GPU; ``"gpu9"`` is
    damage).

    Parameters
    ----------
    settings : dict
        The folder's settings, already checked for shape by
        ``_persistence.check_settings`` (``settings["params"]`` is a dict).
    path : str
        The settings file, named in errors.

    Returns
    -------
    dict
        Parameter name -> value.

    Raises
    ------
    SavedFileError
        A ``ValueError`` naming the file, the key (``params.threshold``), the
        value and the fix.
    """
    raw = settings.get("params")
    if not isinstance(raw, dict):
        raise SavedFileError(f"{path}: 'params' holds {raw!r:.80}, not a JSON object of estimator "
                         "parameters; the file is damaged or was not written by skbert. Save "
                         "the model again with save_pretrained.")
    classes = settings.get("classes")
    out = {}
    for name, value in raw.items():
        param = PARAM.get(name)
        if param is None or not param.from_folder:
            continue
        if param.constraint != "no_validation":
            try:
                check_parameters({name: param.constraint}, {name: value},
                                 caller_name="TransformerMultiLabelClassifier")
            except InvalidParameterError as exc:
                raise SavedFileError(
                    f"{path} holds a parameter value this estimator rejects: "
                    f"{file_keys(str(exc))} {_FILE_FIX}") from None
            if isinstance(value, float) and not math.isfinite(value):
                raise _saved_value_error(path, name, value, "a finite number")
        expected = _FILE_CHECKS.get(name, lambda v, c: None)(value, classes)
        if expected is not None and name in _FILE_DROPPABLE:
            warnings.warn(
                f"{path}: {file_key(name)} is {value!r:.80}, expected {expected}; it is left "
                f"out (only a refit reads it), so the model loads with {name}=None; give "
                f"{name} again for a refit that should read it.", SavedFileWarning,
                stacklevel=3)
            continue
        if expected is not None:
            raise _saved_value_error(path, name, value, expected)
        if param.folder_most is not None and value > param.folder_most:
            # a stranger's folder could otherwise ask every forward pass for all the memory
            warnings.warn(
                f"{path}: {file_key(name)} is {value!r:.80}; a saved folder may set at most "
                f"{param.folder_most} (it changes no prediction, only the memory of each "
                f"forward pass), so the model loads with {name}={param.default}. Set more "
                f"yourself with set_params({name}=...) if this machine has the memory.",
                SavedFileWarning, stacklevel=3)
            value = param.default
        out[name] = value
    _limit_folder_windows(out, path)
    return _label_indexed(out, settings.get("label_indexed"), classes, path)


def _limit_folder_windows(params: dict, path: str) -> None:
    """With ``long_text="chunk"``, a folder's ``stride`` that starts windows fewer
    than ``max_length / 64`` tokens apart made the largest that does not
    (``max_length - 2 - ceil(max_length / 64)``).

    The tokenizer makes a window at every step of a text before ``max_chunks``
    keeps the first ones, so a stride of nearly ``max_length`` makes a window of
    nearly every token: one long text then takes ``max_length`` times its own
    memory. ``max_chunks`` (None too) is taken as saved: what it lets a text
    cost grows with the text, which the user chooses. A user may set any
    stride with ``set_params``; a folder may not.
    """
    get = lambda name: params.get(name, PARAM[name].default)  # noqa: E731
    max_length, stride = get("max_length"), get("stride")
    if get("long_text") != "chunk" or not (is_int(max_length) and is_int(stride)):
        return
    # the tokenizer makes a window every max_length - 2 - stride tokens of the characters
    # it reads (two special tokens a window): keep them at least max_length / 64 apart, so
    # a text is held at most about 64 times over, whatever max_chunks keeps
    most = max(max_length - 2 - -(-max_length // 64), 0)
    if most < stride < max_length - 2:  # at or past a window's room: damage, refused later
        warnings.warn(
            f"{path}: {file_key('stride')} is {stride} with max_length={max_length}: about a "
            f"window every {max(max_length - 2 - stride, 1)} token(s), so a long text is held "
            f"in memory about {max_length // max(max_length - 2 - stride, 1)} times over. A "
            f"saved folder may set at most {most} (windows {max_length - 2 - most} tokens "
            f"apart), so the model loads with stride={most}; its "
            "long texts' probabilities may differ a little. Set it yourself with "
            "set_params(stride=...) if you mean it.", SavedFileWarning, stacklevel=4)
        params["stride"] = most


#: The parameters a pandas Series may give, matched to the labels by its index.
LABEL_INDEXED = ("threshold", "pos_weight")


def _label_indexed(params: dict, names, classes, path: str) -> dict:
    """``params`` with the per-label values that were a pandas Series when saved (the file's
    ``label_indexed`` lists them) made a Series indexed by ``classes`` again, so a refit on
    Y's columns in another order matches them by label, as the user's Series did. Without
    pandas they stay lists in ``classes`` order."""
    if names is None:
        return params
    if (not isinstance(names, list) or not names or len(set(map(repr, names))) != len(names)
            or not all(isinstance(n, str) and n in LABEL_INDEXED for n in names)):
        raise SavedFileError(
            f"{path}: 'label_indexed' is {names!r:.80}, expected null or a list of names from "
            f"{list(LABEL_INDEXED)}. {_FILE_FIX}")
    for name in names:
        value = params.get(name)
        if not (isinstance(value, list) and isinstance(classes, list)
                and len(value) == len(classes)):
            raise SavedFileError(
                f"{path}: 'label_indexed' lists {name!r}, but {file_key(name)} is "
                f"{value!r:.80}, not one value per label of 'classes'. {_FILE_FIX}")
    try:
        import pandas as pd
    except ImportError:
        return params
    return {**params, **{name: pd.Series(params[name], index=classes, name=name)
                         for name in names}}


#: Saved values only a refit reads: one a check refuses is left out with a warning, not a
#: refusal, so a folder that an older skbert saved with them still loads and predicts.
_FILE_DROPPABLE = frozenset({"label_descriptions"})


_FILE_FIX = ("The file is damaged or was not written by skbert; save the model again with "
             "save_pretrained.")


def _saved_value_error(path: str, name: str, value, expected: str) -> SavedFileError:
    """A damaged ``params.<name>`` of the file ``path``: the key, its value, what it must be."""
    return SavedFileError(
        f"{path} holds a parameter value this estimator rejects: {file_key(name)} is "
        f"{value!r:.80}, expected {expected}. {_FILE_FIX}")


def _file_threshold(value, classes) -> str | None:
    """What a saved per-label ``threshold`` must be, if ``value`` is not it (else None).

    One number and ``"auto"`` are the table's constraint; anything else
    (JSON gives a list or an object) must be one number in [0, 1] per label
    of the file's ``classes``, as :func:`~skbert._thresholds.check_threshold`
    decides for a caller's ("0.3" is text, not a number).
    """
    if value is None or isinstance(value, (str, int, float)):
        return None
    from ._thresholds import check_threshold

    n = len(classes) if isinstance(classes, list) else len(value)
    try:
        check_threshold(value, n)
        return None
    except ValueError:
        pass
    bools = (" (True/False are not numbers)"
             if isinstance(value, list) and any(isinstance(v, bool) for v in value) else "")
    return (f"one number in [0, 1], or a list of {n} numbers in [0, 1], one per label in the "
            f"order of 'classes'{bools}")


def _file_pos_weight(value, classes) -> str | None:
    """What a saved per-label ``pos_weight`` must be, if ``value`` is not it (else None).

    Null and ``"balanced"`` are the table's constraint; anything else (JSON
    gives a list or an object) must be a list of one finite number > 0 per
    label of the file's ``classes``, in their order: true/false and text are
    not numbers. Checked on the list itself, before a pandas Series is made
    of it (``label_indexed``), so the message shows what the file holds.

    Examples
    --------
    >>> _file_pos_weight([1, 2.5], ["a", "b"]) is None
    True
    >>> _file_pos_weight([0, 2.5], ["a", "b"])
    "null, 'balanced', or a list of 2 finite numbers > 0, one per label in the order of 'classes'"
    """
    if value is None or isinstance(value, str):
        return None
    n = len(classes) if isinstance(classes, list) else None
    if isinstance(value, list) and len(value) == n and all(map(_is_weight, value)):
        return None
    bools = (" (true/false are not numbers)"
             if isinstance(value, list) and any(isinstance(v, bool) for v in value) else "")
    count = f"{n} " if n is not None else ""
    return (f"null, 'balanced', or a list of {count}finite numbers > 0, one per label in the "
            f"order of 'classes'{bools}")


def _is_weight(v) -> bool:
    """Whether the JSON value ``v`` is a number > 0 that a float holds (not a bool, not inf)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v)) and v > 0
    except OverflowError:  # an int of 400 digits
        return False


def saved_device_problem(value) -> str | None:
    """What a saved ``device`` must be, if the str ``value`` is not it (else None).

    ``"auto"`` or a device of a type skbert runs on, whether or not this
    machine has it: the caller's ``device`` replaces the saved one, which
    only records where the model was trained. ``fitted_settings`` refuses to
    save what :func:`folder_params` would refuse to load.

    Examples
    --------
    >>> saved_device_problem("cuda:1") is None, saved_device_problem("gpu9")
    (True, "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    """
    if not isinstance(value, str) or value == "auto":
        return None  # a non-str is the table's constraint's
    try:
        if torch.device(value).type in DEVICE_TYPES:
            return None
    except (RuntimeError, TypeError, ValueError):
        pass
    return DEVICE_CHOICES


#: The checks of values only a saved file can get wrong (see :func:`folder_params`).
_FILE_CHECKS = {"threshold": _file_threshold, "pos_weight": _file_pos_weight,
                "device": lambda value, classes: saved_device_problem(value),
                "label_descriptions": label_descriptions_problem}


#: The name the persistence code may call it by.
check_folder_settings = folder_params


def _jsonable(value):
    """``value`` with sets and tuples as lists and other objects as their str (for JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _jsonable(value.tolist())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record_params(params: dict) -> dict:
    """The parameters as JSON values, for the record in ``skbert.json``.

    A ``RandomState`` becomes None, callbacks their class names, a peft
    config its dict, paths and devices their str; ``folder_params`` decides
    what is read back.
    """
    out = dict(params)
    out["model_name_or_path"] = os.fspath(out["model_name_or_path"])
    out["device"] = str(out["device"])
    if not isinstance(out["random_state"], (int, type(None))):
        out["random_state"] = None  # a RandomState instance has no JSON form
    out["callbacks"] = [type(c).__name__ for c in out["callbacks"] or ()] or None
    if out["checkpoint_dir"] is not None:
        out["checkpoint_dir"] = os.fspath(out["checkpoint_dir"])
    if out["peft_config"] is not None:
        out["peft_config"] = _jsonable(out["peft_config"].to_dict())
    for name in ("model_kwargs", "tokenizer_kwargs"):  # e.g. torch_dtype=torch.float32
        out[name] = _jsonable(out[name])
    return out


# ------------------------------------------------------------------------- CLI
@dataclass(frozen=True)
class CliOption:
    """A ``skbert train`` option generated from a :class:`Param`."""

    name: str
    flag: str
    help: str
    default: Any
    parse: Callable[[str], Any] = field(repr=False)
    metavar: str | None
    choices: tuple[str, ...] | None
    boolean: bool


def flag_for(name: str) -> str:
    """The CLI flag of parameter ``name``, or ``name`` itself when it has none.

    Examples
    --------
    >>> flag_for("max_epochs")
    '--max-epochs'
    >>> flag_for("callbacks")
    'callbacks'
    """
    param = PARAM.get(name)
    return param.flag if param is not None and param.flag else name


def _choices(param: Param) -> tuple[str, ...] | None:
    """The str options of a parameter that takes nothing else (default first)."""
    if not isinstance(param.constraint, list) or len(param.constraint) != 1:
        return None
    c = param.constraint[0]
    if not isinstance(c, StrOptions):
        return None
    return (param.default, *sorted(c.options - {param.default}))


def _describe(param: Param) -> str:
    return " or ".join(
        "a comma-separated list of numbers" if c == "array-like"
        else "'none'" if c is None
        else " or ".join(repr(o) for o in sorted(c.options)) if isinstance(c, StrOptions)
        # the plain wording: no "(not a bool)" of a value checked earlier
        else c.describe() if isinstance(c, (NumberInterval, FolderPath))
        else str(make_constraint(c))
        for c in param.constraint if c not in (dict, list, callable, torch.device, os.PathLike))


def _json_object(text: str) -> dict:
    """A JSON object given inline, or read from the file named after ``@``.

    Raises ``argparse.ArgumentTypeError`` saying what is wrong with it (a
    missing, unreadable or unsafe file; not JSON; not an object).
    """
    import json

    from ._safe_io import DamagedFile, read_json

    # ~ as a shell expands it for a path of its own (no shell does after the @)
    path = os.path.expanduser(text[1:]) if text.startswith("@") else None
    where = f"the file {text[1:]!r}" if text.startswith("@") else "the text"
    try:
        value = read_json(path) if path is not None else json.loads(text)
    except FileNotFoundError:
        unknown = path is not None and unknown_home(text[1:], where, "give the path itself")
        if unknown:
            raise argparse.ArgumentTypeError(unknown) from None
        shown = f" ({path!r})" if path is not None and path != text[1:] else ""
        raise argparse.ArgumentTypeError(f"{where}{shown} does not exist") from None
    except DamagedFile as exc:  # a link, FIFO, device, oversized or invalid file
        if isinstance(exc.__cause__, UnicodeDecodeError):
            raise argparse.ArgumentTypeError(
                f"{where} is not UTF-8 text (it was saved in another encoding, such as "
                "Latin-1 or Windows-1252); save it as UTF-8 and try again") from None
        raise argparse.ArgumentTypeError(f"{where} {exc}") from None
    except (OSError, ValueError) as exc:
        hint = ""
        if path is None and os.path.isfile(os.path.expanduser(text)):  # a file named bare
            hint = f"; to read the file {text!r}, put @ before its name: @{text}"
        elif path is None and _looks_like_json_file(text):  # a bare file name, mistyped too
            hint = (f"; to read a file, put @ before its name: @{text} (there is no file "
                    f"{text!r} either: check the path)")
        raise argparse.ArgumentTypeError(f"{where} is not valid JSON ({exc}){hint}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"{where} holds {json_kind(value)}, not an object such as "
            '{"acq": "mergers and acquisitions"}')
    return value


def _looks_like_json_file(text: str) -> bool:
    """Whether ``text`` reads as a JSON file's name rather than JSON: it ends in ``.json``
    and does not open as an object, array or string does.

    Examples
    --------
    >>> _looks_like_json_file("desc.json"), _looks_like_json_file("data/Desc.JSON")
    (True, True)
    >>> _looks_like_json_file('{"a": "b.json'), _looks_like_json_file("desc.txt")
    (False, False)
    """
    text = text.strip()
    return text.lower().endswith(".json") and not text.startswith(("{", "[", '"'))


def json_kind(value) -> str:
    """What a JSON value is, in JSON's words (never a Python type's name).

    Examples
    --------
    >>> json_kind(None), json_kind(True), json_kind("x"), json_kind(3), json_kind(float("nan"))
    ('null', 'true', 'a string ("x")', 'a number (3)', 'a number (NaN)')
    >>> json_kind([1, 2]), json_kind({})
    ('an array ([1, 2])', 'an object')
    """
    import json

    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, dict):
        return "an object"
    shown = json.dumps(value, ensure_ascii=False)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    kind = ("a string" if isinstance(value, str) else "a number" if isinstance(value, (int, float))
            else "an array" if isinstance(value, list) else "a value")
    return f"{kind} ({shown})"


def _parse_as(c, text: str):
    """``text`` as a value of constraint ``c``, or _UNSET."""
    if c is None:
        return None if text.lower() == "none" else _UNSET
    if isinstance(c, StrOptions):
        return text if text in c.options else _UNSET
    if c in ("boolean",):
        return {"true": True, "false": False}.get(text.lower(), _UNSET)
    if isinstance(c, Interval) or c in ("random_state", "verbose"):
        integral = c in ("random_state", "verbose") or c.type is Integral
        try:
            value = int(text) if integral else float(text)
        except ValueError:
            return _UNSET
        if not integral and not math.isfinite(value):
            return _UNSET
        return value if make_constraint(c).is_satisfied_by(value) else _UNSET
    if c == "array-like":  # one number per label
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            return _UNSET
        return values if all(math.isfinite(v) for v in values) else _UNSET
    if c is str:
        return text
    if isinstance(c, FolderPath):  # one that folder_problem refuses is the parser's error
        return os.path.expanduser(text)
    return _UNSET


#: What each item of a per-label list must be, by parameter (the estimator's rule).
_LIST_ITEM_RULE = {"threshold": "a number in [0, 1]", "pos_weight": "a number greater than 0"}


def _bad_list_item(param: Param, text: str) -> str | None:
    """For a comma-separated list that the parser refuses: which item is not a finite
    number, and the rule every item must follow; None when ``text`` is no such list.

    Examples
    --------
    >>> print(_bad_list_item(PARAM["threshold"], "0.2,nan"))  # doctest: +NORMALIZE_WHITESPACE
    item 2 of the list, 'nan', is not a number in [0, 1]; give one number in [0, 1] for
    every label (--threshold 0.5), or one per label separated by commas, in the model's
    label order (--threshold 0.3,0.5,...)
    """
    if "array-like" not in param.constraint or "," not in text:
        return None
    for i, item in enumerate(text.split(","), 1):
        try:
            ok = math.isfinite(float(item))
        except ValueError:
            ok = False
        if not ok:
            rule = _LIST_ITEM_RULE.get(param.name, "a number")
            what = (f"item {i} of the list is empty" if not item.strip()
                    else f"item {i} of the list, {item!r}, is not {rule}")
            threshold = param.name == "threshold"  # one number is also one for every label
            single = (f"one {rule[2:]} for every label ({param.flag} 0.5), or one"
                      if threshold else f"one {rule[2:]}")
            example = "0.3,0.5,..." if threshold else "1,2.5,..."
            return (f"{what}; give {single} per label separated by commas, in the model's "
                    f"label order ({param.flag} {example})")
    return None


def _parser(param: Param) -> Callable[[str], Any]:
    scalar = any(isinstance(c, Interval) for c in param.constraint)

    def parse(text: str):
        if dict in param.constraint and text.lower() != "none":
            try:
                return _json_object(text)
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError(
                    f"invalid {param.flag} {text!r}: {exc}. Give a JSON object, or @FILE for a "
                    "JSON file holding one.") from None
        for c in param.constraint:
            if isinstance(c, FolderPath) and (problem := folder_problem(
                    param.name, text, flag=param.flag)) is not None:
                raise argparse.ArgumentTypeError(problem)
            if c == "array-like" and "," not in text and scalar:
                continue  # one number is the interval's (--threshold 1.5 is out of range)
            value = _parse_as(c, text)
            if value is not _UNSET:
                return value
        bad = _bad_list_item(param, text)
        raise argparse.ArgumentTypeError(
            f"invalid {param.name.replace('_', ' ')} {text!r} for {param.flag}; "
            + (bad or f"use {_describe(param)}"))

    parse.__name__ = param.name  # argparse names the type in some messages
    return parse


def cli_params() -> Iterator[CliOption]:
    """The ``skbert train`` options: one per parameter with a flag, in table order.

    Yields
    ------
    CliOption
        ``default`` is the CLI's default (``cli_default`` where the command line
        differs from the estimator, e.g. ``--random-state 0``), else the
        estimator's; ``boolean`` options are on/off switches.
    """
    for p in PARAMS:
        if p.flag is None:
            continue
        default = p.default if p.cli_default is _UNSET else p.cli_default
        boolean = isinstance(p.constraint, list) and "boolean" in p.constraint
        help_ = p.help if "(default:" in p.help else f"{p.help} (default: {default})"
        yield CliOption(p.name, p.flag, help_, default, _parser(p), p.metavar, _choices(p),
                        boolean)


def cli_values(args: argparse.Namespace) -> dict:
    """The estimator parameters given on the command line (options added by
    ``skbert._cli_args._add_table_options``)."""
    given = vars(args)
    return {p.name: given[p.name] for p in PARAMS if p.flag is not None and p.name in given}
