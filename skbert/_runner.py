"""The fit runner: everything between validated inputs and fitted attributes.

scikit-learn's ``HistGradientBoostingClassifier.fit`` validates and hands the
work to ``_BinMapper`` and ``TreeGrower``; here the estimator validates and
calls :func:`run_fit`, which owns data preparation (tokenising, the
validation split), the fit cache (key, lock, get, put), checkpoints, the
process group, the loop, epoch selection and thresholds, and returns a
:class:`FitResult`. It only reads the estimator's parameters (and, for
``warm_start``, its fitted ``model_``, ``tokenizer_``, ``classes_``,
``pooling_`` and ``history_``); it never sets an attribute on it.

Contract
--------
``run_fit(estimator, data: FitData) -> FitResult``
    ``estimator``'s parameters are already validated (``_validate_params`` and
    the cross-parameter checks). Callbacks get ``on_fit_begin`` (and, on a fit
    served from the cache, ``on_fit_reused``), ``on_batch_end`` and
    ``on_epoch_end`` here; ``on_fit_end`` is the estimator's, after it has set
    its attributes from the result. Ctrl-C during the epochs does not
    propagate: the result has ``interrupted=True`` and the best weights so
    far; the caller re-raises. joblib calls made during the fit (callbacks
    included) run sequentially in the fit's thread, whatever backend the caller
    set: a fit is itself one task of a caller's joblib or dask job.
``inference_config(estimator, device, precision) -> TrainConfig``
    The loop settings prediction needs (``predict_logits``).
``train_config(estimator, device, precision, seed, group, learning_rate, n_train=None)``
    The settings of a fit (tests and bench set fields the estimator does not
    expose by wrapping it).
``encode_texts(estimator, tokenizer, texts, offset=0)`` and
``check_lengths(estimator, tokenizer, where)``
    Tokenising with the estimator's ``max_length`` / ``long_text`` settings.
``check_finite_logits(logits, offset, precision)``
    Refuses NaN or infinite prediction scores with advice that fits the
    precision (``precision='fp32'`` is suggested only when not already used).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass, field, replace
from numbers import Integral

import joblib
import numpy as np
import torch
from sklearn.utils import check_random_state

from . import _cache, _distributed
from ._contrastive import resolve_steps, skip_reason, summary, warm_up, warn_short
from ._data import encode, encode_dataset, length_buckets, pad_multiple, pad_token_id
from ._label_init import (
    MAX_CENTROID_TEXTS,
    LabelTexts,
    description_example,
    distinct_label_texts,
    logistic_labels,
    normalised_descriptions,
    same_token_labels,
    silent_labels,
    silent_tokens_named,
    start_head,
)
from ._modeling import (
    MultiLabelModel,
    apply_peft,
    build_model,
    check_model_source,
    load_tokenizer,
    resolve_model_path,
    resolve_pooling,
)
from ._params import training_params
from ._persistence import saved_head
from ._safe_io import UNSAFE_CHARS
from ._scoring import make_score_fn
from ._thresholds import (
    THRESHOLD_METRICS,
    auto_min_labels,
    by_label,
    check_threshold,
    is_series,
    plain_label,
    resolve_threshold_metric,
    tune_thresholds,
)
from ._training import (
    TrainConfig,
    compile_options,
    resolve_learning_rate,
    train,
)
from ._utils import (
    MAX_FIT_WARNING_CHARS,
    MAX_FIT_WARNINGS,
    SkbertWarning,
    TrainingDivergedError,
    fit_warning,
    recording_fit_warnings,
    resolve_device,
    resolve_precision,
    seed_from_random_state,
    user_stacklevel,
)
from ._validation import FitData, check_encodable, is_hf_dataset
from .callbacks import Checkpoint, notify

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    """What one fit produced; the estimator's fitted attributes are set from it."""

    model: torch.nn.Module
    tokenizer: object
    classes: np.ndarray
    y_dtype: np.dtype
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    pooling: str = "mean"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "fp32"
    #: The encoder's peak learning rate used (``"auto"`` resolved).
    learning_rate: float = 0.0
    #: Tuned on the kept epoch's validation outputs; None without a validation split.
    thresholds: np.ndarray | None = None
    #: ``{"f1_micro": ..., "f1_macro": ...}`` on the validation split at ``thresholds``, or None.
    tuned_scores: dict | None = None
    #: Every ``threshold_metric`` rule's thresholds and scores, ``{rule: {"thresholds": [...],
    #: "scores": {...}}}``, so that a fit-cache hit serves any rule; None without a split.
    tuned_by_rule: dict | None = None
    #: Ctrl-C stopped the epochs; the model holds the best weights so far.
    interrupted: bool = False
    still_improving: bool = False
    #: The epoch whose loss became non-finite (training stopped there), or None.
    diverged_epoch: int | None = None
    #: The fit cache supplied the weights: nothing was trained.
    from_cache: bool = False
    #: Texts trained on, and texts in the validation split (0 without one).
    n_train: int = 0
    n_valid: int = 0
    #: The training-state file a resumed fit would start from (with checkpoint_dir), or None.
    checkpoint: str | None = None
    #: What ``min_labels="auto"`` means for this fit's data (:func:`auto_min_labels`).
    auto_min_labels: int = 0
    #: The metric ``threshold="auto"`` tunes with (``threshold_metric`` resolved), or None
    #: to resolve it from the estimator's parameter and ``n_train``.
    threshold_metric: str | None = None
    #: A ``warm_start`` refit: the fitted model continued, so it still started from the
    #: ``label_descriptions`` it was first fitted with (:func:`build_signature`).
    warm: bool = False
    #: What :func:`~skbert._utils.fit_warning` said during the fit (the label texts left
    #: out, labels without a training text, ...): a fit-cache hit says it again.
    warnings: list = field(default_factory=list)

    def cache_entry(self) -> dict:
        """The fields :func:`skbert._cache.put` stores (JSON-able but model and tokenizer)."""
        return {"model": self.model, "tokenizer": self.tokenizer, "device": self.device,
                "history": [dict(r) for r in self.history], "best_epoch": int(self.best_epoch),
                "interrupted": bool(self.interrupted),
                "still_improving": bool(self.still_improving), "pooling": self.pooling,
                "diverged_epoch": self.diverged_epoch, "precision": self.precision,
                "thresholds": None if self.thresholds is None else np.asarray(self.thresholds),
                "learning_rate": float(self.learning_rate),
                "n_train": int(self.n_train), "n_valid": int(self.n_valid),
                "tuned_scores": self.tuned_scores, "tuned_by_rule": self.tuned_by_rule,
                "warnings": [str(w) for w in self.warnings]}


def run_fit(estimator, data: FitData) -> FitResult:
    """Fine-tune (or fetch from the fit cache) the model ``estimator`` describes.

    Parameters
    ----------
    estimator : TransformerMultiLabelClassifier
        Read only; its parameters are already validated.
    data : FitData
        The checked inputs of ``fit``.

    Returns
    -------
    FitResult
    """
    result = _run(estimator, data)
    result.auto_min_labels = auto_min_labels(data.Y, data.sample_weight)
    if data.Y_val is not None:
        result.auto_min_labels = min(result.auto_min_labels, auto_min_labels(data.Y_val))
    return result


def _run(estimator, data: FitData) -> FitResult:
    est = estimator
    # every fit, whatever head starts: a typo or a value save_pretrained cannot write fails
    # now; checked once, and the warm-up and the head's start read these texts
    labels = LabelTexts.check(est.label_descriptions, data.classes)
    held_out = (data.X_val is not None or est.early_stopping
                or isinstance(est.threshold, str))  # as _split decides
    if not held_out and est.threshold_metric != "auto":  # a fit-cache hit as well
        warnings.warn(
            f"threshold_metric={est.threshold_metric!r} has no effect: it tunes thresholds_ on "
            "a validation split, and this fit held none out (threshold is not 'auto', "
            "early_stopping is off and no X_val was given). Pass threshold='auto' to tune "
            "them.", SkbertWarning, stacklevel=user_stacklevel())
    store = cache_store(est.fit_cache)
    if isinstance(store, str):  # fail now, not after the epochs
        _cache.check_writable(store)
    if est.checkpoint_dir is not None:
        _cache.check_writable(os.fspath(est.checkpoint_dir), "checkpoint_dir")
    device = resolve_device(est.device)
    group = _distributed.join(use_cuda=device.type == "cuda")
    device = _distributed.device_for(group, device)
    if group.active:  # one clear error on every rank, before any other collective
        _distributed.check_same_data(
            group, len(data.X), data.classes,
            _distributed.data_digest(data.X, data.Y, data.sample_weight, data.X_val, data.Y_val))
    precision = resolve_precision(est.precision, device)
    rs = check_random_state(est.random_state)
    seed = seed_from_random_state(rs)
    if group.active and not isinstance(est.random_state, Integral):
        seed = _distributed.broadcast_int(seed, group)  # one seed for all ranks
        rs = np.random.RandomState(seed)
    warm = warm_start_ok(est, data.classes)
    if warm:
        _warn_descriptions_not_read(est, group)

    key = None
    if (store is not False and not warm) or est.checkpoint_dir is not None:
        key = _keyed(est, data, labels.described, store)
    cache_key = key if store is not False and not warm else None
    reusable = cache_key is not None and isinstance(est.random_state, Integral)
    if cache_key is not None and not reusable:
        _warn_repeated_unseeded_fit(cache_key)
    # a shared folder: one process trains a key while the others wait for its entry
    shared = reusable and isinstance(store, str) and not group.active
    # joblib calls made inside the fit (scikit-learn's LogisticRegression of the logistic head
    # start) run in this thread. Under an outer joblib backend they would go to it: a dask
    # worker secedes while waiting for them and takes the next task, often a fit of the same
    # key, which then waits for the training lock this fit holds (a deadlock until the lock's
    # longest wait).
    with (joblib.parallel_config(backend="sequential"),
          _cache.training_lock(cache_key, store) if shared
          else contextlib.nullcontext(True)):
        cached = _cache.get(cache_key, store, device) if reusable else None
        if cached is not None and not _serves(est, cached):
            cached = None  # it lacks this fit's threshold rule: trained again, and replaced
        if _distributed.all_ranks_agree(cached is not None, group):
            return _reuse(est, data, cached, group)
        with recording_fit_warnings() as said:
            result = _train(est, data, labels, device, precision, rs, seed, group, warm, key)
        result.warnings = list(said)
        if (reusable and not result.interrupted
                and (group.is_main or store is True)):
            _cache.put(cache_key, store, result.cache_entry())
    return result


def cache_store(fit_cache):
    """Where ``fit_cache`` keeps fits: False (nowhere), True (this process's memory) or a
    folder path as a str (a ``pathlib.Path`` too; ``numpy.bool_`` counts as the bool)."""
    if isinstance(fit_cache, (bool, np.bool_)):
        return bool(fit_cache)
    return os.fspath(fit_cache)


def _serves(est, cached: dict) -> bool:
    """Whether a cache entry can stand for this fit: one tuned on a validation split must
    hold the thresholds of the rule ``threshold_metric`` resolves to (never another's)."""
    if cached.get("thresholds") is None:
        return True  # no split: nothing was tuned
    by_rule = cached.get("tuned_by_rule")
    n_train = cached.get("n_train")
    return (isinstance(by_rule, dict) and isinstance(n_train, int) and n_train > 0
            and resolve_threshold_metric(est.threshold_metric, n_train) in by_rule)


def _reuse(est, data: FitData, cached: dict, group) -> FitResult:
    """The fit cache's entry as a result; callbacks and the log are told (issue 20 item 16).

    The thresholds are those of the estimator's ``threshold_metric`` (the entry keeps every
    rule's, so a grid over it reuses the weights).
    """
    n_train = _count(cached.get("n_train"))
    thresholds, scores, rule = cached.get("thresholds"), cached.get("tuned_scores"), None
    by_rule = cached.get("tuned_by_rule")
    if thresholds is not None:  # _serves made sure the entry holds this fit's rule
        rule = resolve_threshold_metric(est.threshold_metric, n_train)
        thresholds, scores = by_rule[rule]["thresholds"], by_rule[rule]["scores"]
    result = FitResult(
        model=cached["model"], tokenizer=cached["tokenizer"], classes=data.classes,
        y_dtype=data.y_dtype, history=[dict(r) for r in cached["history"]],
        best_epoch=int(cached["best_epoch"]), pooling=cached["pooling"],
        device=cached["device"], precision=cached["precision"],
        # an entry written before learning_rate_ existed lacks it
        learning_rate=float(cached.get("learning_rate")
                            or resolve_learning_rate(est.learning_rate, cached["model"])),
        thresholds=None if thresholds is None else np.asarray(thresholds, dtype=float),
        interrupted=bool(cached["interrupted"]), still_improving=bool(cached["still_improving"]),
        diverged_epoch=_int_or_none(cached.get("diverged_epoch")), from_cache=True,
        n_train=n_train, n_valid=_count(cached.get("n_valid")),
        tuned_scores=_scores_or_none(scores), tuned_by_rule=by_rule, threshold_metric=rule)
    said = _said_warnings(cached.get("warnings"))
    if group.is_main:  # what the fit warned of its data and parameters, said again
        for text in said:
            warnings.warn(text, SkbertWarning, stacklevel=user_stacklevel())
    result.warnings = said
    message = (f"reusing the fine-tuned weights of an identical earlier fit from the fit cache "
               f"({result.best_epoch} of {len(result.history)} epoch(s) kept); nothing was "
               "trained. Set fit_cache=False to train again.")
    logger.info(message)
    if group.is_main:
        if est.verbose >= 1:
            print(message, flush=True)
        callbacks = list(est.callbacks or ())
        notify(callbacks, "on_fit_begin", est)
        notify(callbacks, "on_fit_reused", est, {
            "history": [dict(r) for r in result.history], "best_epoch": result.best_epoch,
            "learning_rate": result.learning_rate})
    return result


def _said_warnings(value) -> list[str]:
    """A fit-cache entry's recorded fit warnings (:func:`~skbert._utils.fit_warning`): a
    list of at most ``MAX_FIT_WARNINGS`` texts; anything else (an entry written before
    they were recorded) is none."""
    if not (isinstance(value, list) and len(value) <= MAX_FIT_WARNINGS and all(
            isinstance(w, str) and len(w) <= MAX_FIT_WARNING_CHARS
            and not UNSAFE_CHARS.search(w.replace("\n", "")) for w in value)):
        # skbert's messages show names with repr: a control character (a terminal's escape
        # codes, a carriage return) or a bidi override is damage, or a planted message
        return []
    return list(value)


def _train(est, data: FitData, labels: LabelTexts, device, precision, rs, seed, group, warm,
           key) -> FitResult:
    """Tokenise, split, build the model, run the loop, tune the thresholds.

    ``labels`` are the fit's label texts (checked once by :func:`_run`), which a
    new model's warm-up and head start read; a ``warm`` fit reads none.
    """
    if warm:
        path, pooling, tokenizer, saved = None, est.pooling_, est.tokenizer_, None
    else:
        path = resolve_model_path(str(est.model_name_or_path))
        check_model_source(path)
        saved = saved_head(path)  # a folder skbert saved: its pooling and trained head
        pooling = resolve_pooling(est.pooling, path, saved)
        tokenizer = load_tokenizer(path, est.tokenizer_kwargs)
    check_lengths(est, tokenizer, path or "the fitted model")
    split = _split(est, data, encode_texts(est, tokenizer, data.X), rs, tokenizer)
    train_enc, Y_train, w_train, valid_enc, Y_valid = split
    _warn_untrained_labels(est, data, Y_train, w_train, group)

    if warm:
        model = est.model_
        if est.verbose >= 1 and group.is_main and est.contrastive_steps != 0:
            print("contrastive warm-up: none (warm_start continues the fitted encoder)",
                  flush=True)
    else:
        model = build_model(path, pooling, data.classes, seed=seed,
                            model_kwargs=est.model_kwargs, saved=saved)
        # texts of sample_weight 0 carry no label for the warm-up or the head's start
        Y_start = Y_train if w_train is None else Y_train * (np.asarray(w_train) > 0)[:, None]
        warmed, explained = _warm_up(est, model, tokenizer, data.classes, labels, train_enc,
                                     Y_start, device, precision, seed, group,
                                     weighted=w_train is not None)
        _init_head(est, model, tokenizer, data.classes, labels, train_enc, Y_start, w_train,
                   device, precision, seed, warmed is not None,
                   say=est.verbose >= 1 and group.is_main,
                   read_by_warm_up=None if warmed is None else warmed["label_texts"],
                   explained=explained)
        if est.peft_config is not None:
            model = apply_peft(model, est.peft_config)
    if est.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    config = train_config(est, device, precision, seed, group,
                          learning_rate=resolve_learning_rate(est.learning_rate, model),
                          n_train=train_enc.n_docs)
    threshold = est.threshold if isinstance(est.threshold, str) else check_threshold(
        est.threshold, len(data.classes), data.classes)  # a Series: in classes_ order
    config.score_fn = make_score_fn(est.scoring, threshold, data.classes)
    # the checkpoint restores on every rank before the user's on_fit_begin; they run on rank 0
    checkpoint = None if est.checkpoint_dir is None else Checkpoint(est.checkpoint_dir, key)
    callbacks = ([checkpoint] if checkpoint else []) + (
        list(est.callbacks or ()) if group.is_main else [])
    out = train(model, train_enc, Y_train, valid_enc, Y_valid,
                pad_id=pad_token_id(tokenizer), config=config,
                pos_weight=pos_weight(est, Y_train, data.classes), sample_weight=w_train,
                callbacks=callbacks, estimator=est)
    if est.gradient_checkpointing:
        disable_gradient_checkpointing(model)
    history, best = out.history, out.best_epoch
    if warm:  # continue the epoch count of the earlier fit(s)
        done = len(est.history_)
        history = [dict(r) for r in est.history_] + [
            {**r, "epoch": r["epoch"] + done} for r in history]
        best += done
    thresholds = scores = by_rule = None
    metric = resolve_threshold_metric(est.threshold_metric, train_enc.n_docs)
    if out.valid_logits is not None:  # the kept epoch's validation pass, not redone
        proba = _sigmoid(out.valid_logits)
        by_rule = {}
        for rule in THRESHOLD_METRICS:  # all: a fit-cache hit may ask for another
            tuned = tune_thresholds(Y_valid, proba, metric=rule)
            by_rule[rule] = {"thresholds": tuned.tolist(),
                             "scores": tuned_scores(Y_valid, proba, tuned)}
        thresholds = np.asarray(by_rule[metric]["thresholds"])
        scores = by_rule[metric]["scores"]
    return FitResult(
        model=model, tokenizer=tokenizer, classes=data.classes, y_dtype=data.y_dtype,
        history=history, best_epoch=best, pooling=pooling, device=device, precision=precision,
        learning_rate=config.learning_rate, thresholds=thresholds, tuned_scores=scores,
        tuned_by_rule=by_rule,
        interrupted=out.interrupted, still_improving=out.still_improving,
        diverged_epoch=out.diverged_epoch, n_train=train_enc.n_docs,
        n_valid=0 if valid_enc is None else valid_enc.n_docs, threshold_metric=metric,
        warm=warm,
        checkpoint=checkpoint.path if checkpoint and os.path.isfile(checkpoint.path) else None)


def _warm_up(est, model, tokenizer, classes, labels: LabelTexts, train_enc, Y_train, device,
             precision, seed, group, weighted=False) -> tuple[dict | None, set]:
    """The contrastive warm-up of the encoder (``contrastive_steps``), when asked for.

    ``"auto"`` leaves a head loaded trained (a folder skbert saved) with the
    encoder it was trained on. ``Y_train`` has no label on texts of
    ``sample_weight`` 0, so they take no part. With ``contrastive_label_texts``
    the labels' texts (``labels``, as :func:`_warm_up_labels` keeps them) join
    the batches, and a label on one training text can then be drawn (its text
    pairs with its name).
    Returns ``warm_up``'s summary when a step ran (else None), and the described
    labels whose texts it left out, with a warning (the head does not warn again).
    Labels whose names (no description) read as the same tokens warn too when the
    warm-up runs and the head would not say so (:func:`_warn_names_left_out`);
    ``verbose`` names the labels whose text it left out, and why. ``weighted``:
    ``fit`` was given ``sample_weight`` (for the messages).
    """
    peft = est.peft_config is not None
    steps = resolve_steps(est.contrastive_steps, model.pooling, train_enc.n_docs, peft=peft)
    why = skip_reason(est.contrastive_steps, model.pooling, train_enc.n_docs, peft=peft,
                      kept_head=model.trained_head)
    batch_texts, note, left_out, dropped = ((None, "", [], []) if why
                                            else _warm_up_labels(est, tokenizer, classes, labels))
    named = None if batch_texts is None else batch_texts[1]
    if why is None:
        why = skip_reason(est.contrastive_steps, model.pooling, train_enc.n_docs, peft=peft,
                          kept_head=model.trained_head, Y=Y_train, named=named)
    say = est.verbose >= 1 and group.is_main
    _warn_left_out(est, left_out)  # why a label text could not help, warm-up or not
    explained = {str(c) for c, _ in left_out}
    if why is not None:
        if say:  # the note says why no label text could help, when none could
            print(f"contrastive warm-up: none ({why}{note})", flush=True)
        return None, explained
    if est.head_init not in ("labels", "names"):  # those heads warn of the same names
        _warn_names_left_out(dropped, classes, labels.described)
    if say:
        print(f"contrastive warm-up: {steps} steps...", flush=True)
    config = replace(inference_config(est, device, precision),
                     weight_decay=est.weight_decay, max_grad_norm=est.max_grad_norm)
    model.to(config.device)
    info = warm_up(model, train_enc, Y_train, config, pad_token_id(tokenizer), steps, seed,
                   labels=batch_texts)
    info["weighted"] = bool(weighted)  # what summary and warn_short say of the texts drawn
    warn_short(info, stacklevel=user_stacklevel())  # the user's fit line
    if say:
        print(f"contrastive warm-up: {summary(info)}{note or _dropped_note(dropped, classes)}",
              flush=True)
    return (info if info["steps"] > 0 else None), explained


def _warm_up_labels(est, tokenizer, classes, labels: LabelTexts) -> tuple:
    """The label texts the warm-up adds to its batches, what ``verbose`` adds to its
    summary when there are none, the described labels left out, with why
    (:func:`_warn_left_out` says so), and every label whose text is left out:
    ``(label index, text or None, why, others)`` in label order (``others``: the indices
    of the labels whose texts read the same).

    ``(encoded texts, label indices)``, or None: ``contrastive_label_texts`` off, or no
    label with a text of its own among ``labels.texts`` (a description, else a readable
    name; see ``distinct_label_texts``).
    """
    if not est.contrastive_label_texts:
        return None, "; label texts off (contrastive_label_texts=False)", [], []
    described, texts = labels.described, labels.texts
    keep, problems = distinct_label_texts(tokenizer, texts, est.max_length)
    left_out = [(plain_label(classes[i]), _why_left_out(why, [classes[k] for k in others]))
                for i, (why, others) in problems.items()
                if str(plain_label(classes[i])) in described]
    dropped = [(i, t, *problems.get(i, ("it has no name made of words and no description",
                                        [])))
               for i, t in enumerate(texts) if i in problems or t is None]
    if keep.size == 0:
        return None, (f"; no label text: none of the {len(classes)} labels has a readable "
                      "name or description of its own"), left_out, dropped
    return ((encode_texts(est, tokenizer, [texts[i] for i in keep]), keep), "", left_out,
            dropped)


def _dropped_note(dropped: list, classes) -> str:
    """What ``verbose`` adds to the warm-up's summary: up to 5 labels whose text it left
    out (``dropped``, from :func:`_warm_up_labels`), and why."""
    if not dropped:
        return ""

    def one(i, text, why, others) -> str:
        said = "" if text is None else f"text {text[:40]!r} "
        names = " and ".join(repr(str(plain_label(classes[k]))) for k in others[:3])
        return (f"{str(plain_label(classes[i]))!r} ({said}"
                f"{why.removeprefix('it ')}{' ' + names if others else ''}"
                f"{' ...' if len(others) > 3 else ''})")

    shown = "; ".join(one(*d) for d in dropped[:5])
    return (f"; left out the texts of {len(dropped)} of {len(classes)} labels: {shown}"
            f"{' ...' if len(dropped) > 5 else ''}")


def _warn_names_left_out(dropped: list, classes, described: dict) -> None:
    """Warn that the warm-up leaves out labels whose NAMES (no description on either side)
    read as the same tokens: ``"bank_account"``, ``"bank account"`` and ``"Bank-Account"``
    all read as ``"bank account"``, so none can be told apart by its name (often one label
    spelled in several ways). A name that reads as nothing is not warned about, nor a
    described label (:func:`_warn_left_out` words those)."""
    def plain(i) -> bool:  # no description
        return str(plain_label(classes[i])) not in described

    texts = {i: text for i, text, _, _ in dropped}
    groups = list(dict.fromkeys(  # label indices that read alike, each group once
        tuple(sorted([i, *others])) for i, _, _, others in dropped
        if others and all(plain(k) for k in [i, *others])))
    if not groups:
        return
    n = sum(len(g) for g in groups)

    def names(group) -> str:  # 'a', 'b_c' ('b c') and 'd'
        said = []
        for k in group:
            name = str(plain_label(classes[k]))
            text = texts.get(k)
            said.append(repr(name) + (f" ({text[:40]!r})" if text and text != name else ""))
        return ", ".join(said[:-1]) + " and " + said[-1]

    shown = "; ".join(names(group) for group in groups[:5])
    first = classes[groups[0][0]]
    fit_warning(
        f"The contrastive warm-up leaves out the names of {n} label(s) that read as the same "
        f"tokens, so their names cannot tell them apart: {shown}"
        f"{' ...' if len(groups) > 5 else ''}. A label without a description is read by its "
        "name as words (underscores, hyphens and capitals dropped; a word the model does not "
        "know reads as its unknown token). If these are one label "
        "spelled in several ways, merge their columns of Y; else give each its own words "
        f"with {description_example(first)}.", stacklevel=user_stacklevel())


def _warn_left_out(est, left_out: list) -> None:
    """Warn that the warm-up leaves out these ``(label, why)`` descriptions."""
    if not left_out:
        return
    shown = "; ".join(f"{str(c)!r}: {why}" for c, why in left_out[:5])
    fit_warning(
        f"The contrastive warm-up leaves out the label_descriptions of {len(left_out)} "
        f"label(s), which could not tell their label apart: {shown}"
        f"{' ...' if len(left_out) > 5 else ''}. Describe each label in its own words "
        f"that the model knows, within max_length={est.max_length} tokens.",
        stacklevel=user_stacklevel())


def _why_left_out(why: str, others) -> str:
    """A label text's problem in words, naming the labels whose texts read the same (their
    texts are left out too)."""
    if not others:
        return why
    names = " and ".join(repr(str(plain_label(c))) for c in others[:3])
    return f"{why} {names}{' ...' if len(others) > 3 else ''} (left out too)"


def _init_head(est, model, tokenizer, classes, labels: LabelTexts, train_enc, Y_train,
               w_train, device, precision, seed, warmed=False, say=False,
               read_by_warm_up=None, explained=frozenset()) -> None:
    """Start a new head from the labels' meaning (``head_init``), or at the priors only.

    ``"auto"``: ``"logistic"`` after a contrastive warm-up (``warmed``), else
    ``"labels"`` with mean pooling and ``"random"`` with cls pooling. A head
    loaded trained (a folder skbert saved, same labels) is left as it is.
    ``labels``: the fit's label texts (the descriptions and one text per label).
    ``Y_train`` has no label on texts of ``sample_weight`` 0 (no centroid,
    prior or regression counts them); ``w_train`` weighs the regression.
    ``say``: print which head started (``verbose``). ``label_descriptions``
    given that neither the head nor the warm-up read (``read_by_warm_up``:
    the labels whose text took part in it), and label texts that carry
    nothing, warn; not the descriptions the warm-up warned it left out
    (``explained``).
    """
    warm_read = (np.zeros(len(classes), bool) if read_by_warm_up is None
                 else np.asarray(read_by_warm_up, bool))
    prior = Y_train.mean(axis=0)
    if model.trained_head:
        if say:
            print("head start: the trained head of the saved folder, kept (same labels)",
                  flush=True)
        # descriptions the warm-up read (contrastive_steps given) do change the fit; the
        # folder's own values (a refit of the estimator from_pretrained gave) ask for nothing
        recorded = getattr(model, "recorded_params", {})
        kept = recorded.get("label_descriptions", {})
        described = {} if _reads_described(warm_read, classes, labels.described) else {
            label: text for label, text in labels.described.items() if kept.get(label) != text}
        asked = est.head_init not in ("auto", recorded.get("head_init"))
        given = ([f"head_init={est.head_init!r}"] if asked else []) + (
            [f"label_descriptions for {list(described)[:5]}"] if described else [])
        if given:  # asked for explicitly, and it changes nothing: say so
            verb = "do" if len(given) > 1 or described else "does"
            fit_warning(
                f"{' and '.join(given)} {verb} not change this fit: the head is the trained one "
                "of the saved folder (same labels), kept as it is. To start a new head from "
                "them, fit from the checkpoint that folder was fine-tuned from (its "
                "skbert.json records it as base_model); else leave them out.",
                stacklevel=user_stacklevel())
        return
    how = est.head_init
    if how == "auto":
        how = "logistic" if warmed else "labels" if model.pooling == "mean" else "random"
    why = _head_reason(est, how, warmed, model.pooling)
    unexplained = {k: v for k, v in labels.described.items() if k not in explained}
    if how == "random":
        if say:
            print(f"head start: random, biases at the priors ({why})", flush=True)
        if not _reads_described(warm_read, classes, unexplained):
            _warn_descriptions_unused(unexplained, how, why,
                                      warm_off=warmed and not est.contrastive_label_texts)
        model.init_bias_to_priors(torch.from_numpy(prior))
        return
    texts = labels.texts
    named = [i for i, t in enumerate(texts) if t is not None]
    n = train_enc.n_docs
    docs = np.arange(n)
    if n > MAX_CENTROID_TEXTS:  # a seeded sample, sorted: the centroids need no more
        docs = np.sort(np.random.default_rng(seed).choice(n, MAX_CENTROID_TEXTS, replace=False))
    w_docs = None if w_train is None else np.asarray(w_train)[docs]
    use_names = how in ("labels", "names", "logistic")
    # the labels whose text the head reads: a logistic head fits the others on their texts
    reads = np.zeros(len(classes), bool)
    if use_names:
        reads[named] = True
        if how == "logistic":
            reads &= ~logistic_labels(Y_train[docs], w_docs)
    if say:
        read = int(reads.sum())
        fitted = (f"; a logistic regression on the text vectors for "
                  f"{len(classes) - read} of {len(classes)} labels" if how == "logistic" else "")
        names = (f"; label names or descriptions read for {read} of {len(classes)} labels"
                 if read or how != "logistic" else "")
        print(f"head start: {how} ({why}){fitted}{names}", flush=True)
    if not _reads_described(reads | warm_read, classes, unexplained):
        _warn_descriptions_unused(unexplained, how, why,
                                  warm_off=warmed and not est.contrastive_label_texts)
    if how in ("labels", "names"):
        _warn_empty_label_texts(est, how, tokenizer, classes, texts)
    name_texts = ((encode_texts(est, tokenizer, [texts[i] for i in named]), named) if named
                  else None)
    start_head(model, inference_config(est, device, precision), pad_token_id(tokenizer),
               train_enc.subset(docs), name_texts, Y_train[docs], prior,
               use_names=use_names,
               use_centroids=how in ("labels", "centroids", "logistic"),
               logistic=how == "logistic", sample_weight=w_docs)
    logger.debug("head started from %s (%d of %d labels named)", how, len(named), len(texts))


def _reads_described(reads: np.ndarray, classes, described: dict) -> bool:
    """Whether a label with a description in ``described`` is among the labels ``reads``."""
    return any(reads[i] for i, c in enumerate(classes) if str(plain_label(c)) in described)


def _head_reason(est, how: str, warmed: bool, pooling: str) -> str:
    """Why the head starts as ``how``: the parameter, or what ``"auto"`` made of it."""
    if est.head_init != "auto":
        return f"head_init={est.head_init!r}"
    if how == "logistic":
        return "head_init='auto' after the contrastive warm-up"
    return f"head_init='auto' with pooling={pooling!r}"


def _warn_descriptions_unused(described: dict, how: str, why: str,
                              warm_off: bool = False) -> None:
    """Warn that the ``label_descriptions`` given change nothing in this fit: neither the
    head that starts nor the warm-up reads them (``warm_off``: a warm-up ran with
    ``contrastive_label_texts=False``)."""
    if not described:
        return
    if how == "logistic":
        what = ("fits each label's row to its training texts and reads a description only for "
                "a label on every training text or on none, and every described label has "
                "texts with it and without it")
        fix = ("Pass head_init='labels' to start each row from its description and its "
               "centroid" + (", or contrastive_steps=0 (then 'auto' is 'labels')"
                             if "auto" in why else ""))
        if warm_off:
            what += ", and contrastive_label_texts=False keeps them out of the warm-up"
            fix += ", or contrastive_label_texts=True"
    else:
        what = ("starts random" if how == "random"
                else "starts from the centroids of the training texts alone")
        fix = "Pass head_init='labels' (or 'names') to start the head from them"
        if warm_off:
            what += ", and contrastive_label_texts=False keeps them out of the warm-up"
            fix += ", or contrastive_label_texts=True to warm up with them"
    fit_warning(
        f"label_descriptions are given for {list(described)[:5]} but do not change this fit: "
        f"the head starts as {how!r} ({why}), which {what}. {fix}, or leave "
        "label_descriptions out.", stacklevel=user_stacklevel())


def _warn_empty_label_texts(est, how: str, tokenizer, classes, texts) -> None:
    """Warn when the label texts a ``"names"`` or ``"labels"`` head reads carry nothing.

    No text (a label such as ``3`` or ``"L07"``, with no description), a text
    that says nothing (the vocabulary reads it as its unknown token and special
    tokens alone, as the warm-up and the zero-shot classifier judge it:
    :func:`~skbert._label_init.says_nothing`), or two labels that read as the
    same tokens: such labels start from their centroid alone
    (``"labels"``) or random (``"names"``), from the same vector as every
    other such label, or from the same row as each other.
    """
    def fix(first) -> str:  # the example names the first label warned about, not classes[0]
        return f"Describe them in words the model knows with {description_example(first)}"

    head = (f"head_init={how!r}" if est.head_init == how  # "auto": the head it chose
            else f"head_init={est.head_init!r} (here {how!r})")
    missing = [plain_label(c) for c, t in zip(classes, texts) if t is None]
    if missing and (how == "names" or (est.head_init == "labels" and len(missing) == len(texts))):
        start = ("start their rows random" if how == "names"
                 else "start the head from the centroids alone (as head_init='centroids')")
        fit_warning(
            f"{head}, but {len(missing)} of {len(texts)} labels "
            f"({missing[:5]}{' ...' if len(missing) > 5 else ''}) have neither a name made of "
            f"words nor a description, so their names tell the head nothing: they {start}. "
            f"{fix(missing[0])}" + (", or pass head_init='labels' to use their training "
                                    "texts' centroids." if how == "names" else "."),
            stacklevel=user_stacklevel())
    name = str(est.model_name_or_path)
    unknown = silent_labels(tokenizer, classes, texts, est.max_length)
    if unknown:
        shown = ", ".join(f"{str(plain_label(c))!r} (text {t[:40]!r})" for c, t in unknown[:5])
        fit_warning(
            f"{head} reads the name or description of {len(unknown)} label(s) as "
            f"only {silent_tokens_named(tokenizer)} of {name!r}: {shown}"
            f"{' ...' if len(unknown) > 5 else ''}. Such a text says nothing about its label, "
            f"and all such labels start from the same vector. {fix(unknown[0][0])}.",
            stacklevel=user_stacklevel())
    told = {str(plain_label(c)) for c, _ in unknown}  # all alike, and warned about above
    same = same_token_labels(tokenizer, classes, [
        None if str(plain_label(c)) in told else t for c, t in zip(classes, texts)],
        est.max_length)
    if same:
        shown = ", ".join(f"{str(plain_label(c))!r} and {str(plain_label(d))!r} (text {t[:40]!r})"
                          for c, d, t in same[:5])
        fit_warning(
            f"{head} reads the same tokens for the labels {shown}"
            f"{' ...' if len(same) > 5 else ''}, so their rows start from the same direction "
            "(the same row under 'names'). Give each label its own description in "
            "label_descriptions.", stacklevel=user_stacklevel())


def _warn_untrained_labels(est, data: FitData, Y_train, w_train, group) -> None:
    """Warn about labels that ``Y`` gives texts but that no training text carries once the
    validation split and texts of ``sample_weight`` 0 are set aside (labels on no text at
    all are warned about when ``Y`` is checked)."""
    if not group.is_main:
        return
    in_train = np.asarray(Y_train) > 0
    trained = in_train if w_train is None else in_train & (np.asarray(w_train) > 0)[:, None]
    lost = (np.asarray(data.Y) > 0).any(axis=0) & ~trained.any(axis=0)
    for where, labels, fix in (
            (f"the validation split (validation_fraction={est.validation_fraction})",
             np.flatnonzero(lost & ~in_train.any(axis=0)),
             "pass X_val/Y_val, lower validation_fraction, or label more texts for them"),
            ("texts of sample_weight 0", np.flatnonzero(lost & in_train.any(axis=0)),
             "give some of their texts a non-zero sample_weight, or label more texts")):
        if labels.size == 0:
            continue
        names = [plain_label(data.classes[j]) for j in labels]
        fit_warning(
            f"{labels.size} label(s) have texts in Y, but all of them went to {where}, so "
            f"no training text carries them: {names[:5]}{' ...' if labels.size > 5 else ''}. "
            f"The model learns nothing of them (their probabilities stay near 0); {fix}.",
            stacklevel=user_stacklevel())


def _split(est, data: FitData, encoded, rs, tokenizer):
    """(train_enc, Y_train, w_train, valid_enc, Y_valid): ``X_val``, a seeded split, or none."""
    Y, w = data.Y, data.sample_weight
    if data.X_val is not None:
        return encoded, Y, w, encode_texts(est, tokenizer, data.X_val, name="X_val"), data.Y_val
    if not (est.early_stopping or isinstance(est.threshold, str)):
        return encoded, Y, w, None, None
    n = encoded.n_docs
    n_valid = int(np.ceil(est.validation_fraction * n))
    if n_valid < 1 or n - n_valid < 1:
        raise ValueError(
            f"validation_fraction={est.validation_fraction} of {n} texts leaves "
            f"{n - n_valid} for training and {n_valid} for validation; both need at "
            "least one. Use more texts or change validation_fraction.")
    perm = rs.permutation(n)
    valid_idx, train_idx = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
    return (encoded.subset(train_idx), Y[train_idx], None if w is None else w[train_idx],
            encoded.subset(valid_idx), Y[valid_idx])


def model_source(model_name_or_path) -> str:
    """``model_name_or_path`` as compared between fits: a local folder by its real path (a
    trailing slash or a relative spelling is the same folder), a hub name as given."""
    path = os.fspath(model_name_or_path)
    return os.path.realpath(path) if os.path.isdir(path) else path


def build_signature(est) -> tuple[str, str, tuple]:
    """What ``peft_config`` and ``model_kwargs`` built the model with, and the
    ``label_descriptions`` it started from, comparable by value.

    The estimator records it when it sets its fitted attributes (``_fitted_build``,
    pickled with them; a folder's ``skbert.json`` keeps the parameters it is
    computed from). :func:`warm_start_ok` refuses a ``warm_start`` refit whose
    first two differ; :func:`_warn_descriptions_not_read` warns when the third does.

    Returns
    -------
    tuple
        ``(repr of peft_config, repr of model_kwargs, descriptions)``:
        ``descriptions`` is a sorted tuple of ``(str(label), text stripped)``, as
        :func:`~skbert._label_init.check_label_descriptions` keys and strips them
        (empty for None).
    """
    kwargs = est.model_kwargs
    signature = (repr(est.peft_config),
                 repr(sorted(kwargs.items(), key=repr)) if isinstance(kwargs, dict)
                 else repr(kwargs))
    # a value whose repr is its address cannot be compared after a pickle: not refused
    return (*("<not comparable>" if " at 0x" in s else s for s in signature),
            _descriptions_signature(est.label_descriptions))


def _descriptions_signature(descriptions) -> tuple:
    """``label_descriptions`` comparable by value: ``((str(label), text stripped), ...)``
    sorted, whatever the keys' types (``3``, ``np.int64(3)`` and ``"3"`` name one label)."""
    if not isinstance(descriptions, dict):
        return ()
    return tuple(sorted(normalised_descriptions(descriptions).items()))


def _warn_descriptions_not_read(est, group) -> None:
    """Warn that this ``warm_start`` refit does not read ``label_descriptions`` that differ
    from those the fitted model started from (only a new model's warm-up and head start
    read them).

    What it started from is the third part of the recorded ``_fitted_build``
    (:func:`build_signature`), which a warm refit keeps: a change warns on every
    warm refit until the descriptions are set back. An estimator fitted by a skbert that
    did not record it warns whenever ``label_descriptions`` are given.
    """
    if not group.is_main:
        return
    now = dict(_descriptions_signature(est.label_descriptions))
    built = getattr(est, "_fitted_build", None)
    recorded = isinstance(built, tuple) and len(built) > 2
    if recorded:
        then = dict(built[2])
        changed = [label for label in dict.fromkeys([*then, *now])
                   if then.get(label) != now.get(label)]
        if not changed:
            return
        what = (f"label_descriptions differ from those the fitted model started from (for "
                f"the label(s) {changed[:5]}{' ...' if len(changed) > 5 else ''})")
        effect = "the change has no effect on this fit"
        fix = (f"start a new model {'from them' if now else 'without them'}, or set "
               "label_descriptions back")
    elif now:
        what = (f"label_descriptions are given for {list(now)[:5]}"
                f"{' ...' if len(now) > 5 else ''} (this model was fitted by an earlier "
                "skbert, which did not record the descriptions it started from)")
        effect, fix = "this fit does not use them", "start a new model from them"
    else:
        return
    warnings.warn(
        f"{what}, but warm_start=True continues the fitted encoder and head and reads no "
        f"label_descriptions: {effect}. Refit with warm_start=False to {fix}.",
        SkbertWarning, stacklevel=user_stacklevel())


def warm_start_ok(est, classes) -> bool:
    """Whether this fit continues the fitted weights (``warm_start``); refuses what cannot."""
    if not est.warm_start or not hasattr(est, "model_"):
        return False
    if not isinstance(est.model_, MultiLabelModel):
        raise ValueError(
            "warm_start=True continues the torch weights in memory, but this estimator "
            "predicts with ONNX (from_pretrained(..., backend='onnx')). Set "
            "warm_start=False: fit then starts from the saved folder "
            f"{str(est.model_name_or_path)!r}, with its trained head for the same labels.")
    fitted_from = getattr(est, "_fitted_from", None)  # older pickles lack it
    if fitted_from is not None and model_source(est.model_name_or_path) != fitted_from:
        raise ValueError(
            f"warm_start=True continues the model fitted from {fitted_from!r}, but "
            f"model_name_or_path is now {os.fspath(est.model_name_or_path)!r}. Set "
            "warm_start=False to fine-tune the new model from its start, or set "
            "model_name_or_path back to continue.")
    built = getattr(est, "_fitted_build", None)  # label_descriptions: a warning, not here
    if built is not None and build_signature(est)[:2] != tuple(built[:2]):
        changed = [name for name, now, then in zip(("peft_config", "model_kwargs"),
                                                   build_signature(est), built) if now != then]
        raise ValueError(
            f"warm_start=True continues the fitted model, but {' and '.join(changed)} changed "
            "since it was built; the weights in memory were built with the earlier value. Set "
            "warm_start=False to build and fine-tune a new model, or set them back.")
    if est.pooling not in ("auto", est.pooling_):
        raise ValueError(
            f"warm_start=True continues a model with pooling={est.pooling_!r}, but pooling is "
            f"now {est.pooling!r}; the fitted head reads that pooling's vectors. Set "
            f"warm_start=False to start a new model, or pooling={est.pooling_!r}.")
    if list(est.classes_) != list(classes):
        raise ValueError(
            f"warm_start=True continues a model fitted on the labels "
            f"{list(est.classes_)[:6]}, but this Y has {list(classes)[:6]}. Fit with the "
            "same label columns, or set warm_start=False to start a new model.")
    return True


def _keyed(est, data: FitData, described: dict, store) -> str | None:
    """:func:`data_key`, or None, with a warning, where a parameter cannot be pickled and
    only the fit cache needed the key (``checkpoint_dir`` cannot do without it)."""
    try:
        return data_key(est, data, described)
    except _cache.UnkeyableParameter as exc:
        why = ("it holds something that cannot be pickled (a function's closure or defaults "
               "holding a generator, a lock, an open file...)")
        fix = "Let it hold only values that pickle (numbers, text, arrays, estimators)"
        if est.checkpoint_dir is not None:
            raise ValueError(
                f"checkpoint_dir recognises its checkpoint by the training parameters, and "
                f"{exc}: {why}. {fix}, or set checkpoint_dir=None.") from None
        warnings.warn(
            f"This fit is not stored in the fit cache: {exc}: {why}, so the cache could not "
            f"recognise it again and a search over threshold or min_labels retrains every "
            f"candidate. {fix} to reuse fits, or pass fit_cache=False to train without the "
            "cache and this warning.", SkbertWarning, stacklevel=user_stacklevel())
        return None


def data_key(est, data: FitData, described: dict) -> str:
    """A hash of the training parameters, the base model's files and the data.

    ``label_descriptions`` enters as what the fit reads of it, ``described``
    (:func:`~skbert._label_init.check_label_descriptions`: ``str(label)`` -> stripped
    text, in a fixed order; ``LabelTexts.described``), so that equivalent
    spellings (``{np.int64(0): " x "}``, ``{0: "x"}``, a loaded folder's ``{"0": "x"}``)
    share one key.
    """
    def texts(X):  # a Dataset by its fingerprint: hashing its rows would read them all
        return ("datasets.Dataset", X._fingerprint, len(X)) if is_hf_dataset(X) else X

    params = training_params(est.get_params(deep=False), resolve_device(est.device).type)
    if "label_descriptions" in params:
        params["label_descriptions"] = sorted(described.items()) or None  # {} is None
    return _cache.make_key(params,
                           resolve_model_path(str(est.model_name_or_path)),
                           (texts(data.X), None if data.X_val is None else texts(data.X_val)),
                           (data.Y, data.sample_weight, data.Y_val), data.classes)


def check_lengths(est, tokenizer, where: str, key=str) -> None:
    """Refuse a ``max_length`` the tokenizer cannot give, or a ``stride`` a window cannot hold.

    ``key(name)`` names a parameter in the message: the parameter's own name,
    or ``skbert._load_errors.file_key`` (``params.stride``) for a saved file's.
    """
    length, stride = key("max_length"), key("stride")
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and limit < 1_000_000 and est.max_length > limit:
        raise ValueError(
            f"{length}={est.max_length} exceeds the {limit} tokens {where!r} supports. "
            f"Use {length}<={limit}, and {key('long_text')}='chunk' to read longer texts.")
    if est.long_text == "chunk":
        room = est.max_length - tokenizer.num_special_tokens_to_add()
        if est.stride >= room:
            raise ValueError(
                f"{stride}={est.stride} must be smaller than the {room} text tokens a "
                f"window of {length}={est.max_length} holds; lower {stride} (e.g. "
                f"{room // 4}).")


def encode_texts(est, tokenizer, texts, offset: int = 0, name: str = "X"):
    """Tokenise ``texts`` (a list or a ``datasets.Dataset``) with the estimator's settings;
    a text that is not valid Unicode is named as ``name[i]``."""
    if is_hf_dataset(texts):  # tokenised into its Arrow cache, read slice by slice
        return encode_dataset(tokenizer, texts, max_length=est.max_length,
                              long_text=est.long_text, stride=est.stride,
                              max_chunks=est.max_chunks)
    try:
        return encode(tokenizer, texts, max_length=est.max_length, long_text=est.long_text,
                      stride=est.stride, max_chunks=est.max_chunks)
    except TypeError:
        check_encodable(texts, offset, name)  # names a text that is not valid Unicode
        raise


def pos_weight(est, Y: np.ndarray, classes) -> np.ndarray | None:
    """The loss's per-label positive weights (``"balanced"``: negatives / positives, <= 100),
    in ``classes`` order (a pandas Series is matched by its index)."""
    if est.pos_weight is None:
        return None
    if isinstance(est.pos_weight, str):  # "balanced"
        pos = Y.sum(axis=0)
        return np.clip((len(Y) - pos) / np.maximum(pos, 1.0), 1.0, 100.0).astype(np.float32)
    given = (by_label(est.pos_weight, len(classes), classes, "pos_weight")
             if is_series(est.pos_weight) else est.pos_weight)
    return np.asarray(given, dtype=np.float32)


def _shared_settings(est, device) -> dict:
    """The TrainConfig fields fit and predict share."""
    options = compile_options(est.compile)
    buckets = None  # fixed batch widths when CUDA graphs replay shapes
    if device.type == "cuda" and (options or {}).get("mode") in ("reduce-overhead",
                                                                 "max-autotune"):
        buckets = length_buckets(est.max_length, pad_multiple(device))
    return dict(
        device=device, chunk_pooling=est.chunk_pooling,
        predict_batch_size=est.predict_batch_size, pad_to_multiple_of=pad_multiple(device),
        compile=options, prefetch=2 if device.type == "cuda" else 0, buckets=buckets,
        # on GPUs, short texts predict in large batches: as many padded tokens as
        # predict_batch_size texts of max_length (on the CPU it measured slower)
        predict_token_budget=(est.predict_batch_size * est.max_length
                              if device.type == "cuda" else None))


#: With ``max_epochs="auto"``, training takes at least this many optimiser steps.
MIN_AUTO_STEPS = 300
#: ... in at least 3 and at most this many epochs.
MAX_AUTO_EPOCHS = 100


def resolve_max_epochs(max_epochs, n_train: int, batch_size: int) -> int:
    """``max_epochs``, with ``"auto"`` as 3 epochs or enough for ``MIN_AUTO_STEPS`` steps.

    Examples
    --------
    >>> resolve_max_epochs("auto", 10_000, 16)
    3
    >>> resolve_max_epochs("auto", 403, 16)
    12
    >>> resolve_max_epochs(5, 403, 16)
    5
    """
    if max_epochs != "auto":
        return int(max_epochs)
    steps = max(1, -(-int(n_train) // int(batch_size)))
    return int(min(MAX_AUTO_EPOCHS, max(3, -(-MIN_AUTO_STEPS // steps))))


def train_config(est, device, precision, seed, group, learning_rate: float,
                 n_train: int | None = None) -> TrainConfig:
    """The loop's settings for a fit at the resolved encoder ``learning_rate``
    (``n_train``, the texts trained on, resolves ``max_epochs="auto"``)."""
    return TrainConfig(
        max_epochs=(3 if n_train is None and est.max_epochs == "auto"
                    else resolve_max_epochs(est.max_epochs, n_train or 0, est.batch_size)),
        batch_size=est.batch_size, learning_rate=learning_rate,
        head_learning_rate=(10 * learning_rate if est.head_learning_rate is None
                            else est.head_learning_rate),
        weight_decay=est.weight_decay, warmup_ratio=est.warmup_ratio,
        max_grad_norm=est.max_grad_norm,
        early_stopping=est.early_stopping, n_iter_no_change=est.n_iter_no_change, tol=est.tol,
        precision=precision, seed=seed, verbose=est.verbose if group.is_main else 0,
        micro_batch_size=est.micro_batch_size, group=group, **_shared_settings(est, device))


def inference_config(estimator, device, precision) -> TrainConfig:
    """The loop's settings for :func:`~skbert._training.predict_logits`."""
    return TrainConfig(precision=precision, group=_distributed.current(),
                       **_shared_settings(estimator, device))


def check_finite_logits(logits: np.ndarray, offset: int, precision: str) -> None:
    """Refuse to hand out NaN or infinite scores (broken weights or an overflow).

    The advice fits the case: ``precision='fp32'`` is suggested only when the
    model does not already predict in fp32.
    """
    bad = ~np.isfinite(logits)
    if not bad.any():
        return
    rows = np.flatnonzero(bad.any(axis=1))
    if precision == "fp32":
        fix = ("The model predicts in fp32 already, so its weights are not finite: refit it "
               "with a lower learning_rate (or load a saved copy that predicts).")
    else:
        fix = ("Its weights are not finite or the arithmetic overflowed: set "
               "precision='fp32' with set_params and predict again, or refit with a lower "
               "learning_rate.")
    raise TrainingDivergedError(
        f"The model gave NaN or infinite logits for {rows.size} text(s) (first: "
        f"X[{offset + rows[0]}]) at precision {precision!r}. {fix}")


def enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """Recompute the encoder's activations in backward instead of storing them.

    Non-reentrant checkpointing: the random state of dropout is replayed, so
    the result equals a plain fit's.
    """
    backbone = getattr(model, "backbone", model)
    if not getattr(backbone, "supports_gradient_checkpointing", False):
        raise ValueError(
            f"{type(backbone).__name__} does not support gradient checkpointing; set "
            "gradient_checkpointing=False (or micro_batch_size to save memory).")
    kwargs = {"use_reentrant": False}
    if hasattr(backbone, "activation_checkpointing_enable"):  # transformers 5.x names
        backbone.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def disable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """Undo :func:`enable_gradient_checkpointing` (the fitted model predicts normally)."""
    backbone = getattr(model, "backbone", model)
    if hasattr(backbone, "activation_checkpointing_disable"):  # transformers 5.x names
        if getattr(backbone, "is_activation_checkpointing", False):
            backbone.activation_checkpointing_disable()
    elif getattr(backbone, "is_gradient_checkpointing", False):
        backbone.gradient_checkpointing_disable()


#: Keys of fits already run with random_state=None in this process (see run_fit).
_UNSEEDED_FITS: set[str] = set()
_UNSEEDED_WARNED = {"done": False}


def _warn_repeated_unseeded_fit(key: str) -> None:
    """Warn once per process when an unseeded fit repeats an earlier one exactly."""
    if key in _UNSEEDED_FITS and not _UNSEEDED_WARNED["done"]:
        _UNSEEDED_WARNED["done"] = True
        warnings.warn(
            "fit was called again on the same data with the same training parameters and "
            "random_state=None, so it fine-tuned the model again (GridSearchCV over threshold "
            "or other predict-time parameters does this for every candidate). Pass an int "
            "random_state (e.g. random_state=0) to reuse the fine-tuned weights instead.",
            SkbertWarning, stacklevel=user_stacklevel())
    _UNSEEDED_FITS.add(key)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -709: p = 0
        p = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
    return np.clip(p, 1e-12, 1 - 1e-12)


def tuned_scores(Y: np.ndarray, proba: np.ndarray, thresholds: np.ndarray) -> dict:
    """Micro- and macro-F1 of ``proba >= thresholds`` against ``Y`` (the card's table)."""
    from sklearn.metrics import f1_score

    pred = (proba >= np.asarray(thresholds)).astype(int)
    truth = (np.asarray(Y) > 0.5).astype(int)
    return {avg: float(f1_score(truth, pred, average=avg.split("_")[1], zero_division=0))
            for avg in ("f1_micro", "f1_macro")}


def _scores_or_none(value) -> dict | None:
    """A cache entry's tuned scores: metric names to numbers in [0, 1], else None."""
    if not (isinstance(value, dict) and len(value) <= 20 and all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            and 0 <= v <= 1 for k, v in value.items())):
        return None
    return {k: float(v) for k, v in value.items()}


def _int_or_none(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
