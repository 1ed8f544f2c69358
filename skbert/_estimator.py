"""TransformerMultiLabelClassifier: the public estimator.

The estimator keeps its parameters, validates them and the data, and hands
the work to the fit runner (:func:`skbert._runner.run_fit`); one method,
``_set_fitted``, sets the fitted attributes from the runner's
:class:`~skbert._runner.FitResult`, for a fit, a fit-cache hit and
:meth:`~TransformerMultiLabelClassifier.from_pretrained` alike. Tokenising,
the loop, thresholds and persistence live in their own modules and never
import this one.
"""

from __future__ import annotations

import logging
import math
import os
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted

from . import _distributed
from ._cli_paths import relation  # the command line's rule for --out and --model
from ._data import pad_token_id
from ._docs import fill_doc
from ._explain import explain
from ._export import check_backend, load_onnx_folder, resolve_pretrained_source, save_model_folder
from ._export import push_to_hub as _push_to_hub
from ._load_errors import SavedFileError, file_key, file_keys
from ._modeling import (
    DEFAULT_MODEL,
    check_peft_config,
    load_tokenizer,
    resolve_model_path,
)
from ._params import (
    DEFAULTS,
    FOLDER_UNSAFE_PARAMS,
    PARAMETER_CONSTRAINTS,
    folder_params,
    validate_params,
)
from ._persistence import (
    SETTINGS_FILE,
    check_not_base_folder,
    dump_model,
    fitted_settings,
    folder_argument,
    load_folder,
    read_settings,
    restore_model,
)
from ._runner import (
    FitResult,
    build_signature,
    check_finite_logits,
    check_lengths,
    encode_texts,
    inference_config,
    model_source,
    resolve_max_epochs,
    run_fit,
)
from ._scoring import check_scoring
from ._thresholds import (
    DEFAULT_METRIC,
    at_least,
    by_label,
    check_threshold,
    holds_text,
    is_series,
    min_labels_in_force,
    plain_label,
    resolve_threshold_metric,
)
from ._training import compile_options, predict_logits, resolve_learning_rate
from ._utils import (
    SkbertWarning,
    file_count,
    load_device,
    resolve_device,
    resolve_precision,
    sigmoid,
    warn_if_other_version,
)
from ._validation import (
    FitData,
    check_sample_weight,
    check_targets,
    check_text_dataset,
    check_texts,
    is_hf_dataset,
    iter_text_chunks,
    subset_accuracy,
)
from ._version import __version__
from .callbacks import check_callbacks, notify

logger = logging.getLogger(__name__)

#: Texts tokenised and predicted at a time in predict*, so memory stays bounded.
PREDICT_CHUNK = 4096

#: The ``X`` of ``decision_function``, ``predict_proba`` and ``predict``, written once.
_predict_doc = fill_doc({"Parameters: X": """\
Parameters
----------
X : list, tuple, 1-D ndarray or pandas Series of str, or datasets.Dataset
    The texts."""})


class TransformerMultiLabelClassifier(ClassifierMixin, BaseEstimator):
    """Fine-tune a transformer encoder for multi-label text classification.

    Parameters
    ----------
    model_name_or_path : str, default="sentence-transformers/all-MiniLM-L6-v2"
        A local Hugging Face checkpoint folder or a hub name. The default is
        the copy of all-MiniLM-L6-v2 installed with skbert, so it works offline.
    max_length : int, default=128
        Maximum tokens per text (per window with ``long_text="chunk"``),
        special tokens included. Batches are padded to their longest text only.
    batch_size : int, default=16
        Texts per training step.
    learning_rate : float or "auto", default="auto"
        Peak learning rate of AdamW for the pretrained encoder. ``"auto"``
        uses ``2e-4`` for models of up to 50 M parameters (such as the default
        MiniLM, 22.7 M) and ``5e-5`` for larger ones (BERT-base and up): on
        the default model ``2e-4`` beat ``5e-5`` on GoEmotions and Reuters
        (see "Getting good results" in the user guide). The rate used is in
        ``learning_rate_``.
    head_learning_rate : float or None, default=None
        Peak learning rate of the new output layer (which starts as
        ``head_init`` says: by default from the labels or a logistic regression
        with mean pooling, random with cls pooling); ``None`` uses
        ``10 * learning_rate_``.
    max_epochs : int or "auto", default=3
        Passes over the training data. ``"auto"`` makes three passes, or more
        on a small training set, so that training takes at least 300
        optimiser steps (at most 100 passes): three epochs of 403 texts (448
        less the 10 % held out) are 78 steps, too few to learn from.

        .. versionadded:: 0.2.0
           ``"auto"``.
    weight_decay : float, default=0.01
        AdamW weight decay; biases and normalisation weights get none.
    warmup_ratio : float, default=0.1
        Fraction of the steps with a linear warm-up; the rate then decays
        linearly to zero.
    max_grad_norm : float, default=1.0
        Gradients are clipped to this global L2 norm before each optimiser
        step. A large value such as ``1e9`` in effect turns clipping off
        (``float("inf")`` is refused: a saved folder holds finite numbers only).

        .. versionadded:: 0.2.0
    pooling : {"auto", "cls", "mean"}, default="auto"
        ``"mean"`` averages token embeddings and adds a linear head; ``"cls"``
        uses the model's own sequence-classification head. ``"auto"`` picks
        ``"mean"`` for sentence-embedding checkpoints (those shipping a
        sentence-transformers pooling config, like the default model) and
        ``"cls"`` otherwise.
    head_init : {"auto", "labels", "names", "centroids", "logistic", "random"}, \
            default="auto"
        How a new output layer starts. ``"auto"`` is ``"logistic"`` after a
        contrastive warm-up (``contrastive_steps``), else ``"labels"`` with mean
        pooling (sentence encoders such as the default model, whose text
        vectors already place similar texts together) and ``"random"`` with
        cls pooling. ``"logistic"``: each label's row and bias are an
        L2-regularised logistic regression fitted on the text vectors of the
        training texts (SetFit's classifier), labels on every text or on none
        as with ``"labels"``: it reads no label name or description for a
        label that has training texts, so ``label_descriptions`` change
        ``"logistic"`` heads (and the default after a warm-up) only there.
        ``"labels"``: each label's row points at what the label means to the
        encoder, the sum of the direction of
        its name (or ``label_descriptions``) and of the centroid of its
        training texts, on centred and normalised text vectors, with the bias
        at the label's prior, so a text starts near the labels it resembles;
        ``"names"`` or ``"centroids"`` use one of the two; ``"random"`` is the
        usual random layer (biases at the priors). A label without a readable
        name (``3``, ``"L07"``) and without a description uses its centroid
        alone under ``"labels"``; under ``"names"`` its row starts random. It
        costs one pass over up to 4,096 training texts. A head loaded trained
        (a folder skbert saved, same labels) is kept as it is.

        .. versionadded:: 0.2.0
    label_descriptions : dict or None, default=None
        Label -> text saying what it means, for ``head_init``, e.g.
        ``{"acq": "mergers and acquisitions", "crude": "crude oil"}``; labels
        left out use their name made readable (``"bank_account"`` ->
        ``"bank account"``). Keys must be labels of ``Y``. A ``"logistic"``
        head (the default after a contrastive warm-up) reads them only for
        labels on every training text or on none; the warm-up's batches read
        them too (``contrastive_label_texts``). Each description must be a
        non-empty text of at most 1,000 characters (a sentence or two is
        enough); ``fit`` refuses a longer one.

        .. versionadded:: 0.2.0
    contrastive_steps : int or "auto", default="auto"
        Steps of a contrastive warm-up of the encoder before the head starts
        and training begins: each step draws 8 labels and 4 training texts
        of each, and pulls texts that share a label together and pushes the
        others apart (SetFit's cosine-similarity loss, over every pair of the
        batch). It teaches the encoder more from few texts than the
        classification loss alone. ``"auto"`` runs 100 steps with mean
        pooling when at most 1,000 texts are trained on (after any
        validation split), and none otherwise; a number of steps needs mean
        pooling. A step passes 32 texts forward and back (and up to 32 label
        texts, see ``contrastive_label_texts``). Under ``"auto"``
        a head loaded trained (a folder skbert saved, zero-shot folders
        included) keeps its encoder, and ``peft_config`` (which keeps the
        encoder frozen) skips the warm-up; a ``warm_start`` refit never warms
        up again. It needs two labels, each on two training texts or on one
        whose label text joins the batches (``contrastive_label_texts``). Texts of
        ``sample_weight`` 0 take no part. ``verbose=1`` says what it did or
        why it ran none.

        .. versionadded:: 0.2.0
    contrastive_label_texts : bool, default=True
        Whether each step of the contrastive warm-up also holds the texts of
        the labels its texts carry (``label_descriptions``, else the class
        names made readable), one each, carrying that label alone: the loss
        then pulls each text toward its labels' names as well as toward the
        texts that share them, and pushes it from the other labels' names.
        A step takes at most 32 label texts, those of the labels most of its
        texts carry, and a label on a single training text can be drawn (its
        text pairs with its name). Labels without a readable name or
        description (``3``, ``"L07"``), or whose texts read as unknown or
        special tokens only or as the same tokens as another label's, take no
        part (a description left out warns). Acts only when a warm-up runs;
        ``verbose=1`` says how many labels' texts took part. On GoEmotions
        with 8, 16 and 32 texts per label (3 seeds) it changed LRAP by
        +0.038, +0.001 and +0.005 and macro-F1 by +0.034, +0.010 and −0.009,
        and with 1 and 2 texts per label LRAP by +0.031 and +0.032; see "From
        zero to a few labelled texts" in the user guide.

        .. versionadded:: 0.2.0
    threshold : float, array-like of shape (n_labels,) or "auto", default=0.5
        Decision threshold of ``predict`` (``proba >= threshold``), one for
        all labels or one per label (in ``classes_`` order; a pandas Series
        is matched to the labels by its index). Read at predict time:
        changing it with ``set_params`` needs no refit. ``"auto"`` uses ``thresholds_``, tuned
        on the validation split during fit (see ``threshold_metric``).
    threshold_metric : {"auto", "f1_micro_global", "f1", "f1_micro", "f1_shrunk"}, default="auto"
        How ``threshold="auto"`` tunes ``thresholds_``: ``"f1_micro_global"``
        picks one threshold for all labels that maximises micro-F1;
        ``"f1"`` one per label that maximises that label's F1; ``"f1_micro"``
        one per label that together maximise micro-F1; ``"f1_shrunk"`` each
        label's own F1 threshold pulled toward the shared one by how few
        validation positives it has (see :func:`skbert.tune_thresholds`).
        ``"auto"`` is ``"f1_shrunk"`` on up to 1,000 training texts (after
        the validation split) and ``"f1_micro_global"`` on more;
        ``threshold_metric_`` says which. The shared threshold
        overfits a small validation split least: on GoEmotions and Reuters it
        scored better on unseen data than per-label F1 thresholds in micro-F1
        in every run of the defaults measured, and in macro-F1 in 10 of 14
        (the other 4 lost 0.005 to 0.053, three on Reuters, whose 90 topics
        are mostly rare); with 8 to 32 GoEmotions texts per label
        ``"f1_shrunk"`` did as well in micro-F1 and better in macro-F1 (see
        :doc:`/user_guide/few_labels`). With a large validation set
        (``X_val``), try ``"f1"``.

        .. versionchanged:: 0.2.0
           The default was ``"f1_micro_global"``.
    min_labels : int or "auto", default="auto"
        ``predict`` gives every text at least this many labels: when fewer
        pass their threshold, the most probable ones are added (ties broken
        by column order; every label when it exceeds their number). ``0``
        allows an empty answer. ``"auto"`` is ``min_labels_``: 1 when every
        row of the ``Y`` given to ``fit`` (and of ``Y_val``) has a label,
        leaving out texts of weight 0, else 0. Read at predict time, like
        ``threshold``: a grid search can try it without refitting.

        .. versionadded:: 0.2.0
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop after
        ``n_iter_no_change`` epochs without an improvement (by more than
        ``tol``) of the validation objective that ``scoring`` names (by
        default micro-F1; the validation loss with ``scoring="loss"``), and
        restore the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of the training texts held out (seeded, not stratified) when
        ``early_stopping=True`` or ``threshold="auto"``.
    n_iter_no_change : int, default=2
        Epochs without improvement before early stopping.
    tol : float, default=1e-4
        Minimum improvement of the validation objective (loss or ``scoring``)
        that counts.
    scoring : "loss", str, callable or None, default="f1_micro"
        What selects the kept epoch and drives early stopping: ``"loss"`` (or
        ``None``) follows the validation loss; a scorer name (scikit-learn's,
        such as ``"f1_micro"``, ``"f1_macro"``, ``"roc_auc"``, or skbert's,
        such as ``"r_precision"``, ``"precision_at_5"``) or a callable
        ``scorer(estimator, X, Y)`` follows that score on the validation
        outputs (``predict`` uses ``threshold``, or 0.5 with ``"auto"``). Its
        value is recorded per epoch in ``history_`` as ``valid_score`` (None
        with ``"loss"``: see ``valid_loss``). A scorer that cannot score
        multi-label targets (``"f1"``: binary) is refused when ``fit``
        starts; a NaN score never counts as an improvement (``fit`` warns).
    pos_weight : None, "balanced" or array-like of shape (n_labels,), default=None
        Weight of positive examples in the loss, per label. ``"balanced"`` uses
        ``n_negative / n_positive`` of each label, capped at 100.
    long_text : {"truncate", "chunk"}, default="truncate"
        ``"chunk"`` splits long texts into overlapping windows of
        ``max_length`` tokens and pools the window logits per text, in
        training and prediction.
    stride : int, default=32
        Tokens shared by consecutive windows with ``long_text="chunk"``.
    max_chunks : int or None, default=8
        Maximum windows per text with ``long_text="chunk"``; memory grows with
        ``batch_size * max_chunks``.
    chunk_pooling : {"max", "mean"}, default="max"
        How window logits are pooled into text logits.
    predict_batch_size : int, default=64
        Texts per forward pass in prediction and validation.
    fit_cache : bool, str or path-like, default=True
        Reuse fine-tuned weights when ``fit`` is called again with the same
        data and the same training parameters, which only predict-time
        parameters (``threshold``, ...) change: a grid search over thresholds
        then fine-tunes once per fold. Only fits with an int ``random_state``
        are reused. A str (or ``pathlib.Path``) is a folder shared by
        processes (``n_jobs>1``; ``~`` is expanded);
        ``False`` turns reuse off. A reused fit sets ``fit_cache_hit_`` and
        says so at ``verbose>=1``. See :func:`skbert.clear_fit_cache`.
    device : str, default="auto"
        ``"auto"`` picks CUDA, then MPS, then CPU; or ``"cpu"``, ``"cuda:0"`` ...
    precision : {"auto", "bf16", "fp16", "fp32"}, default="auto"
        Autocast precision. ``"auto"`` trains in bf16 where the hardware runs
        it natively (CUDA Ampere or newer, CPUs with AMX or AVX-512 bf16), in
        fp16 with a gradient scaler on older GPUs, in fp32 otherwise; it
        predicts like that on GPUs and in fp32 on every CPU, so that the same
        folder gives the same probabilities on any CPU and through
        sentence-transformers or transformers (bf16 moved them by about 1e-3).
        Set ``"bf16"`` to predict in bf16 on a CPU that has it: on a 2-core
        Intel Xeon with AMX it predicted 1.7 to 2.0 times as many texts a
        second as fp32 (see "Performance" in the docs); ``from_pretrained``
        and ``set_params`` take it without a refit.
    compile : bool or dict, default=False
        Run the model through ``torch.compile`` in fit and predict. ``True``
        uses ``torch.compile(model, dynamic=True)``; a dict gives its keyword
        arguments (e.g. ``{"mode": "max-autotune"}``). Compiling takes tens of
        seconds to minutes the first time a process sees a model (once for
        training, once for inference); whether later batches run faster depends
        on the hardware (on a 2-core CPU they did not; on an H200 compiling
        bert-base's training graph took about a minute): measure before using
        it for long runs. Pickles and ``save_pretrained``
        folders hold the plain model either way (a compiled fit draws its
        dropout masks with inductor's generator, so its weights are not bitwise
        those of an eager fit).
    callbacks : list or None, default=None
        Objects with any of ``on_fit_begin(estimator)``,
        ``on_epoch_end(estimator, record)``, ``on_batch_end(estimator, batch)``
        and ``on_fit_end(estimator)``, called in that order on the process
        that prints (rank 0); see :mod:`skbert.callbacks` (``TensorBoard``,
        ``MLflow``). When the fit cache supplies the weights they get
        ``on_fit_begin``, ``on_fit_reused(estimator, info)`` and
        ``on_fit_end`` (no epochs run).
    warm_start : bool, default=False
        When True and the estimator is fitted with the same labels, ``fit``
        continues training the fitted weights for ``max_epochs`` more epochs
        (a new learning-rate schedule) and appends to ``history_``. Such a
        refit reads no ``label_descriptions`` (only a new model's warm-up and
        head start do); it warns when they differ from those the model
        started from.
    micro_batch_size : int or None, default=None
        Texts per forward/backward pass: each ``batch_size`` batch runs in
        micro-batches whose gradients add up to the whole batch's: less
        memory, and the same result when dropout is off (with dropout on, each
        micro-batch draws its own dropout masks, so the weights differ as
        with another seed). On CUDA out-of-memory, fit halves it (with a
        warning) and carries on.
    gradient_checkpointing : bool, default=False
        Recompute the encoder's activations in the backward pass instead of
        storing them: the same result with less memory, about 30 % slower.
    checkpoint_dir : str, path-like or None, default=None
        After each epoch the full training state (weights, optimizer,
        scheduler, random generators, history) is written there, atomically;
        a later fit with the same parameters and data resumes after the last
        completed epoch (bitwise the same result on the CPU). A checkpoint of
        other parameters or data is ignored with a warning. It may not be,
        contain or sit inside the model folder (``model_name_or_path``).
    peft_config : peft.PeftConfig or None, default=None
        Fine-tune adapters only, e.g. ``peft.LoraConfig(r=8, lora_alpha=16)``
        (``pip install "skbert[peft]"``): the pretrained weights stay frozen,
        the adapters and the classification head train. Pickles and folders
        hold the adapters merged into plain weights (they load without peft);
        ``save_pretrained`` also writes the adapter alone to ``adapter/``.
    model_kwargs : dict or None, default=None
        Extra keyword arguments for ``from_pretrained`` of the model.
    tokenizer_kwargs : dict or None, default=None
        Extra keyword arguments for ``AutoTokenizer.from_pretrained``.
    random_state : int, RandomState instance or None, default=None
        Seeds the head's initialisation, dropout, shuffling and the validation
        split. The same int gives identical predictions on the CPU.
    verbose : int, default=0
        0 is silent, 1 prints one line per epoch, 2 adds progress bars.

    Attributes
    ----------
    classes_ : ndarray of shape (n_labels,)
        Label names: the columns of a DataFrame Y, else ``arange(n_labels)``.
    model_ : torch.nn.Module
        The fine-tuned network (encoder and head).
    tokenizer_ : transformers tokenizer
        The tokenizer used in fit.
    history_ : list of dict
        One record per epoch: ``epoch``, ``train_loss``, ``valid_loss``,
        ``valid_f1`` (micro-F1 at 0.5; None without a validation split), ``lr``, ``dur``.
    n_epochs_ : int
        Epochs run.
    best_epoch_ : int
        The epoch whose weights were kept.
    learning_rate_ : float
        The encoder's peak learning rate in the last fit (``learning_rate``,
        or what ``"auto"`` chose for the model's size).
    thresholds_ : ndarray of shape (n_labels,)
        Thresholds tuned on the validation split by ``threshold_metric_`` (all
        equal with ``"f1_micro_global"``); only set when fit held one out
        (``early_stopping=True``, ``threshold="auto"`` or ``X_val``).
    threshold_metric_ : str or None
        The rule ``thresholds_`` were tuned with: ``threshold_metric``, with
        ``"auto"`` resolved by the number of training texts. None when the
        fit tuned no thresholds (no validation split, so no ``thresholds_``;
        a model loaded or unpickled from such a fit too). A model saved
        before ``"auto"`` existed has its ``threshold_metric``; a
        :class:`ZeroShotMultiLabelClassifier`'s has ``"label_rate"`` (each
        label fires on ``1 / n_labels`` of the texts given to its ``fit``) or
        ``"default"`` (0.5, no texts given).
    min_labels_ : int
        What ``min_labels="auto"`` means for this fit: 1 when every row of
        ``Y`` (and of ``Y_val``) has at least one label, texts of weight 0
        left out, else 0. A model saved or pickled before ``min_labels_``
        existed has 0.
    device_ : torch.device
        Where the model lives.
    precision_ : str
        The resolved precision of training (of prediction for a model from
        :meth:`from_pretrained`).
    interrupted_ : bool
        Whether Ctrl-C stopped the last fit. The estimator then keeps the
        best weights so far and can predict, and ``fit`` re-raises
        ``KeyboardInterrupt`` (so that a search or a script stops).
    fit_cache_hit_ : bool
        Whether the last fit's weights came from the fit cache (nothing was
        trained; see ``fit_cache``).
    pooling_ : str
        The resolved pooling.

    See Also
    --------
    skbert.tune_thresholds : Per-label thresholds from held-out probabilities.
    sklearn.preprocessing.MultiLabelBinarizer : Turn label lists into Y.

    Notes
    -----
    Training runs on the GPU when there is one. Bitwise reproducibility with a
    fixed ``random_state`` holds on the CPU; GPU kernels may differ slightly.
    The default ``score`` is subset accuracy (ClassifierMixin); for
    model selection use ``scoring="f1_micro"`` or ``"f1_samples"``.

    Examples
    --------
    >>> from skbert import TransformerMultiLabelClassifier
    >>> clf = TransformerMultiLabelClassifier(max_epochs=1, random_state=0)
    >>> clf.fit(["great, thanks", "awful", "thanks, awful"],
    ...         [[1, 0], [0, 1], [1, 1]])  # doctest: +SKIP
    TransformerMultiLabelClassifier(max_epochs=1, random_state=0)
    >>> clf.predict_proba(["thanks!"]).shape  # doctest: +SKIP
    (1, 2)
    """

    _parameter_constraints: dict = dict(PARAMETER_CONSTRAINTS)  # from the table in _params

    def __init__(
        self,
        model_name_or_path=DEFAULT_MODEL,
        *,
        max_length=128,
        batch_size=16,
        learning_rate="auto",
        head_learning_rate=None,
        max_epochs=3,
        weight_decay=0.01,
        warmup_ratio=0.1,
        max_grad_norm=1.0,
        pooling="auto",
        head_init="auto",
        label_descriptions=None,
        contrastive_steps="auto",
        contrastive_label_texts=True,
        threshold=0.5,
        threshold_metric="auto",
        min_labels="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=2,
        tol=1e-4,
        scoring="f1_micro",
        pos_weight=None,
        long_text="truncate",
        stride=32,
        max_chunks=8,
        chunk_pooling="max",
        predict_batch_size=64,
        fit_cache=True,
        device="auto",
        precision="auto",
        compile=False,
        callbacks=None,
        warm_start=False,
        micro_batch_size=None,
        gradient_checkpointing=False,
        checkpoint_dir=None,
        peft_config=None,
        model_kwargs=None,
        tokenizer_kwargs=None,
        random_state=None,
        verbose=0,
    ):
        self.model_name_or_path = model_name_or_path
        self.max_length = max_length
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.max_epochs = max_epochs
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.max_grad_norm = max_grad_norm
        self.pooling = pooling
        self.head_init = head_init
        self.label_descriptions = label_descriptions
        self.contrastive_steps = contrastive_steps
        self.contrastive_label_texts = contrastive_label_texts
        self.threshold = threshold
        self.threshold_metric = threshold_metric
        self.min_labels = min_labels
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.scoring = scoring
        self.pos_weight = pos_weight
        self.long_text = long_text
        self.stride = stride
        self.max_chunks = max_chunks
        self.chunk_pooling = chunk_pooling
        self.predict_batch_size = predict_batch_size
        self.fit_cache = fit_cache
        self.device = device
        self.precision = precision
        self.compile = compile
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.micro_batch_size = micro_batch_size
        self.gradient_checkpointing = gradient_checkpointing
        self.checkpoint_dir = checkpoint_dir
        self.peft_config = peft_config
        self.model_kwargs = model_kwargs
        self.tokenizer_kwargs = tokenizer_kwargs
        self.random_state = random_state
        self.verbose = verbose

    # scikit-learn's check, naming a refused folder's problem or a bool given as a number
    _validate_params = validate_params

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.multi_class = False
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, Y, *, sample_weight=None, X_val=None, Y_val=None):
        """Fine-tune the model on texts and their labels.

        Parameters
        ----------
        X : list, tuple, 1-D ndarray or pandas Series of str, or datasets.Dataset
            The texts (a single-column 2-D array or DataFrame is accepted too;
            a ``datasets.Dataset`` must have a ``"text"`` column).
        Y : array-like, sparse matrix or DataFrame of shape (n_samples, n_labels)
            0/1 label indicators, e.g. from ``MultiLabelBinarizer``. A
            DataFrame's column names become ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each text in the loss (a weighted mean over each batch).
            Routed by scikit-learn's metadata routing
            (``set_fit_request(sample_weight=True)``).
        X_val, Y_val : texts and 0/1 indicators, default=None
            A validation set of your own. Given, it replaces the random
            ``validation_fraction`` split: it is scored after every epoch
            (``history_``), selects the kept epoch, drives early stopping and
            tunes ``thresholds_`` for ``threshold="auto"``.

        Returns
        -------
        self : TransformerMultiLabelClassifier
            The fitted estimator.

        Raises
        ------
        KeyboardInterrupt
            On Ctrl-C during the epochs, after the estimator has kept the best
            weights so far (``interrupted_`` is True; it can predict).
        """
        data = _check_fit_data(X, Y, sample_weight, X_val, Y_val)
        self._check_cross_params(data.classes, has_validation_set=data.X_val is not None)
        _check_checkpoint_dir(self.checkpoint_dir, self.model_name_or_path)
        result = run_fit(self, data)
        self._set_fitted(result)
        _warn_after_fit(self, result)
        if _distributed.current().is_main:
            notify(self.callbacks, "on_fit_end", self)
        if result.interrupted:  # the model stays usable; a search or a script stops
            raise KeyboardInterrupt
        return self

    def _check_cross_params(self, classes, has_validation_set: bool = False) -> None:
        n_labels = len(classes)
        if self.early_stopping and self.validation_fraction == 0 and not has_validation_set:
            raise ValueError(
                "early_stopping=True needs a validation split, but validation_fraction=0. "
                "Set validation_fraction>0 (e.g. 0.1) or early_stopping=False.")
        if (isinstance(self.threshold, str) and self.validation_fraction == 0
                and not has_validation_set):
            raise ValueError(
                "threshold='auto' tunes thresholds on a validation split, but "
                "validation_fraction=0. Set validation_fraction>0 (e.g. 0.1) or pass a float "
                "threshold.")
        if not isinstance(self.threshold, str):
            check_threshold(self.threshold, n_labels, classes)
        compile_options(self.compile)
        check_callbacks(self.callbacks)
        check_peft_config(self.peft_config)
        if self.scoring is not None:
            check_scoring(self.scoring, classes)
        if self.pos_weight is not None and not isinstance(self.pos_weight, str):
            given = (by_label(self.pos_weight, n_labels, classes, "pos_weight")
                     if is_series(self.pos_weight) else self.pos_weight)  # by its labels
            what, pw = None, np.full(1, np.nan)
            if isinstance(given, dict):
                what = ("a dict; give a pandas Series indexed by the labels, or a list in "
                        "classes_ order")
            elif holds_text(given):
                what = "text, not numbers"
            else:
                try:
                    pw = np.asarray(given, dtype=float)
                except (TypeError, ValueError):
                    what = "not an array of numbers"
            if what is None and pw.shape != (n_labels,):
                what = f"{pw.size} value(s) of shape {pw.shape}"
            if what is not None or not (np.isfinite(pw) & (pw > 0)).all():
                raise ValueError(
                    f"pos_weight={self.pos_weight!r:.80} is {what or 'not all finite and > 0'}; "
                    f"expected {n_labels} finite positive floats, one per label. Pass e.g. "
                    f"pos_weight=[1.0] * {n_labels}, or pos_weight='balanced'.")

    def _set_fitted(self, result: FitResult) -> None:
        """Set every fitted attribute from ``result``: the one place that does (fit,
        a fit-cache hit, from_pretrained)."""
        self.model_ = result.model
        self.tokenizer_ = result.tokenizer
        # what these weights were fitted from and built with: a warm_start refit must continue
        # the same model (skbert._runner.warm_start_ok)
        self._fitted_from = model_source(self.model_name_or_path)
        built, earlier = build_signature(self), getattr(self, "_fitted_build", None)
        if result.warm and isinstance(earlier, tuple) and len(earlier) > 2:
            built = (*built[:2], earlier[2])  # reads no descriptions: those it started from
        self._fitted_build = built
        self.classes_ = result.classes
        self.history_ = [dict(r) for r in result.history]
        self.n_epochs_ = len(self.history_)
        self.best_epoch_ = int(result.best_epoch)
        self.pooling_ = result.pooling
        self.learning_rate_ = float(result.learning_rate)
        self.device_ = result.device
        self.precision_ = result.precision
        self.interrupted_ = bool(result.interrupted)
        self.fit_cache_hit_ = bool(result.from_cache)
        self._y_dtype = np.dtype(result.y_dtype)
        self._fit_info = {"n_train": result.n_train, "n_valid": result.n_valid,
                          "still_improving": result.still_improving,
                          "diverged_epoch": result.diverged_epoch,
                          "checkpoint": result.checkpoint,
                          # the epochs max_epochs (its "auto" on n_train) allowed this fit;
                          # n_epochs_ is fewer when early stopping stopped it. None: "auto"
                          # of a folder that does not record how many texts trained
                          "max_epochs": (None if result.n_train is None
                                         and self.max_epochs == "auto"
                                         else resolve_max_epochs(self.max_epochs,
                                                                 result.n_train or 0,
                                                                 self.batch_size)),
                          # validation scores at the tuned thresholds, for the card
                          "tuned_scores": getattr(result, "tuned_scores", None)}
        self.min_labels_ = int(result.auto_min_labels)
        # the rule the thresholds_ were tuned with; None when none were (no validation split)
        self.threshold_metric_ = None if result.thresholds is None else (
            result.threshold_metric or resolve_threshold_metric(
                self.threshold_metric, result.n_train))  # a fit-cache hit: its n_train
        if result.thresholds is not None:
            self.thresholds_ = np.array(result.thresholds, dtype=float)
        elif hasattr(self, "thresholds_"):
            del self.thresholds_

    # --------------------------------------------------------------- predict
    def _predict_into(self, X, transform, dtype) -> np.ndarray:
        """Tokenise and predict ``PREDICT_CHUNK`` texts at a time into one output array.

        Memory beyond the output stays bounded by one chunk, whatever the
        number of texts; a ``datasets.Dataset`` is read slice by slice.
        """
        check_is_fitted(self)
        self._validate_params()  # set_params after fit is not checked by sklearn
        check_lengths(self, self.tokenizer_, "the fitted model")
        if not isinstance(self.threshold, str):
            check_threshold(self.threshold, len(self.classes_), self.classes_)
        n, chunks = iter_text_chunks(X, PREDICT_CHUNK)
        config = inference_config(self, self.device_, self._predict_precision(self.device_))
        pad = pad_token_id(self.tokenizer_)
        out = np.empty((n, len(self.classes_)), dtype=dtype)
        start = 0
        for chunk in chunks:
            logits = predict_logits(self.model_, encode_texts(self, self.tokenizer_, chunk, start),
                                    pad, config)
            check_finite_logits(logits, start, config.precision)
            out[start:start + len(chunk)] = transform(logits)
            start += len(chunk)
        return out

    def _predict_precision(self, device) -> str:
        """The ``precision`` parameter as it is now (set_params after fit counts), for
        prediction: ``"auto"`` is fp32 on the CPU (issue 20 item 19)."""
        return resolve_precision(self.precision, device, predict=True)

    @_predict_doc
    def decision_function(self, X) -> np.ndarray:
        """Logits of every label.

        %(Parameters: X)s

        Returns
        -------
        ndarray of shape (n_samples, n_labels), float32
            Logits; ``sigmoid(logits)`` equals ``predict_proba``. ``predict``
            is not ``logits > 0`` in general: it compares the probabilities
            with ``threshold`` and, with ``min_labels`` (``"auto"``: 1 when
            every training text has a label), adds each text's top labels.
        """
        return self._predict_into(X, lambda z: z, np.float32)

    @_predict_doc
    def predict_proba(self, X) -> np.ndarray:
        """Probability of every label.

        %(Parameters: X)s

        Returns
        -------
        ndarray of shape (n_samples, n_labels), float64
            Independent per-label probabilities, strictly inside (0, 1).
        """
        return self._predict_into(X, sigmoid, np.float64)

    @_predict_doc
    def predict(self, X) -> np.ndarray:
        """Predicted labels as an indicator matrix, ``proba >= threshold``.

        %(Parameters: X)s

        Returns
        -------
        ndarray of shape (n_samples, n_labels)
            0/1 indicators, with the dtype of the Y given to fit.
        """
        return self._labels_from_proba(self.predict_proba(X))

    @_predict_doc
    def score(self, X, y, sample_weight=None) -> float:
        """Subset accuracy of ``predict(X)`` against ``y``, as ``ClassifierMixin.score``.

        ``y`` is read as ``fit`` reads ``Y`` (a DataFrame of pandas nullable
        columns included, which scikit-learn's metrics cannot read).

        %(Parameters: X)s
        y : array-like, sparse matrix or DataFrame of shape (n_samples, n_labels)
            0/1 indicators, one column per label of ``classes_`` in that
            order. A DataFrame's columns are matched by name: the labels in
            another order, or names that are not ``classes_``, raise a
            ValueError (pass ``y[list(clf.classes_)]``); an array's columns
            are taken by position.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
            The share of texts whose predicted labels are exactly ``y``'s row.
        """
        return subset_accuracy(self, X, y, sample_weight)

    def _labels_from_proba(self, proba, dtype=None) -> np.ndarray:
        """``predict`` from probabilities already computed (by ``predict_proba``):
        ``proba >= threshold`` as ``dtype``, by default the dtype of the Y given to fit.
        The CLI calls it to save a second forward pass."""
        return at_least(proba, self._effective_threshold(), self._effective_min_labels()).astype(
            self._y_dtype if dtype is None else dtype)

    def _effective_min_labels(self) -> int:
        # an older pickle lacks min_labels_
        return min_labels_in_force(self.min_labels, getattr(self, "min_labels_", 0))

    def _effective_threshold(self):
        if isinstance(self.threshold, str):
            if not hasattr(self, "thresholds_"):
                raise ValueError(
                    "threshold='auto' uses thresholds_ tuned during fit on a validation split, "
                    "but this model was fitted without one. Refit with threshold='auto', or "
                    "set a float threshold, or tune one with skbert.tune_thresholds.")
            return self.thresholds_
        return check_threshold(self.threshold, len(self.classes_), self.classes_)

    def explain(self, X, labels=None, *, method="integrated_gradients", n_steps=32, top_k=None):
        """Which words drove each label of each text (see :doc:`/user_guide/explain`).

        Parameters
        ----------
        X : list of str
            The texts.
        labels : None, label, list of labels or "all", default=None
            None explains each text's predicted labels, plus its most probable
            label when none is predicted.
        method : {"integrated_gradients", "occlusion"}, default="integrated_gradients"
            Integrated gradients on the input embeddings (Captum's when
            ``skbert[explain]`` is installed, else skbert's batched copy, which
            gives the same attributions), or word deletion.
        n_steps : int, default=32
            Integration points of integrated gradients.
        top_k : int or None, default=None
            Explain each text's ``top_k`` most probable labels instead of ``labels``.

        Returns
        -------
        Explanations
            One ``Explanation`` per text: the words with their character
            offsets, one attribution per word and label, the probabilities, the
            threshold in force and the completeness gap of integrated
            gradients. A notebook shows them highlighted; ``.to_html(path)``
            writes one offline page, ``.to_jsonl(path)`` one JSON record a text.

            .. versionadded:: 0.2.0
        """
        return explain(self, X, labels, method=method, n_steps=n_steps, top_k=top_k)

    # ----------------------------------------------------------- persistence
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never edit the live __dict__
        if "model_" in state:
            state["model_"] = dump_model(state["model_"], state.pop("tokenizer_"))
            state["device_"] = str(state["device_"])
        state["_skbert_version"] = __version__
        return state

    def __setstate__(self, state):
        warn_if_other_version(state, "estimator", "Re-save it with save_pretrained, a format "
                              "that lasts across versions.")
        for name, default in DEFAULTS.items():  # parameters added since it was pickled
            state.setdefault(name, default)
        saved = state.get("model_")
        if isinstance(saved, dict):
            device = load_device(state.get("device", "auto"), state.get("device_"))
            state["model_"], state["tokenizer_"] = restore_model(saved, device)
            state["device_"] = device
            if state.get("precision", "auto") == "auto":
                state["precision_"] = resolve_precision("auto", device)
            elif state.get("precision_") == "fp16" and device.type == "cpu":
                state["precision_"] = "fp32"
            # pickles of earlier versions lack these fitted attributes
            state.setdefault("interrupted_", False)
            state.setdefault("fit_cache_hit_", False)
            state.setdefault("threshold_metric_", state.get("threshold_metric", DEFAULT_METRIC)
                             if "thresholds_" in state else None)  # no thresholds: no rule
            if "learning_rate_" not in state:
                state["learning_rate_"] = _saved_learning_rate(
                    {}, state.get("learning_rate", "auto"), state["model_"])
        super().__setstate__(state)

    def save_pretrained(self, folder) -> None:
        """Write a Hugging Face model folder plus skbert's settings.

        The folder holds ``config.json`` (with ``id2label``), safetensors
        weights, the tokenizer, ``skbert.json`` (threshold, ``classes_``,
        parameters) and a model card, ``README.md``. Load it with
        :meth:`from_pretrained`; no pickle is used. It also works without
        skbert: with ``pooling_ == "mean"``,
        ``sentence_transformers.SentenceTransformer(folder).encode(texts)``
        returns the probabilities; with ``pooling_ == "cls"``,
        ``AutoModelForSequenceClassification.from_pretrained(folder)`` and
        ``pipeline("text-classification", model=folder)`` load the whole
        classifier. A loader that could not reproduce the probabilities
        refuses the folder (see :doc:`/user_guide/sharing`).

        Parameters
        ----------
        folder : str or path-like
            Created if missing. A model folder skbert saved may be saved into
            again (its files are replaced, other files are left alone, and a
            ``README.md`` skbert did not write is kept), and so may one where
            such a save was interrupted (the files it had written are
            replaced; see :doc:`/user_guide/persistence`); any other folder only
            when it holds no file of a name the save writes (a Hugging Face
            checkpoint's ``config.json`` and weights, say): skbert never
            replaces files it did not write. Not the checkpoint folder the
            model was fine-tuned from.

        Raises
        ------
        ValueError
            If ``folder`` is the checkpoint folder the model was fine-tuned
            from (its files would be replaced), or an empty str.
        FileExistsError
            If ``folder`` is an existing file (or a link to no folder), or a
            folder skbert did not save that holds files the save would replace.
        TypeError
            If ``folder`` is not a str or path-like (None, bytes).
        """
        folder = folder_argument(folder, "save_pretrained")
        check_is_fitted(self)
        check_lengths(self, self.tokenizer_, "this model")  # from_pretrained would refuse them
        check_not_base_folder(folder, getattr(self, "_fitted_from", None)  # older pickles lack it
                              or self.model_name_or_path)
        if _distributed.current().is_main:  # under a process group only rank 0 writes
            save_model_folder(folder, self.model_, self.tokenizer_, fitted_settings(self))

    def push_to_hub(self, repo_id, *, private=False, token=None,
                    commit_message="Upload skbert model"):
        """Upload the model to the Hugging Face Hub.

        Writes the :meth:`save_pretrained` folder (weights, tokenizer,
        ``skbert.json``, model card) to a temporary directory and uploads it
        to ``repo_id`` in one commit, creating the repository if needed.
        Needs ``huggingface_hub`` (``pip install "skbert[hub]"``) and a token
        with write access.

        Parameters
        ----------
        repo_id : str
            ``"user/name"`` or ``"org/name"``.
        private : bool, default=False
            Create the repository as private.
        token : str or None, default=None
            None uses the saved login (``hf auth login``) or ``HF_TOKEN``.
        commit_message : str, default="Upload skbert model"
            The commit's title.

        Returns
        -------
        huggingface_hub.CommitInfo
            The commit; ``commit_url`` links to it.
        """
        check_is_fitted(self)
        return _push_to_hub(self, repo_id, private=private, token=token,
                            commit_message=commit_message)

    @classmethod
    def from_pretrained(cls, folder, *, revision=None, device="auto", precision=None,
                        backend="torch", quantize=False, overwrite_onnx=False):
        """Load an estimator written by :meth:`save_pretrained`.

        Loading reads JSON and safetensors only and runs no code from the
        folder: every value of ``skbert.json`` is checked against the
        estimator's own constraints, and the parameters that reach a code path
        by name (``compile``, ``fit_cache``, ``model_kwargs``,
        ``tokenizer_kwargs``) are never taken from the folder; they keep their
        defaults, and can be set afterwards with ``set_params``.

        The loaded estimator's ``model_name_or_path`` is ``folder``, so
        ``fit`` continues from the saved model (its pooling and, for the same
        labels, its trained head) and never needs the checkpoint it was first
        fine-tuned from.

        Parameters
        ----------
        folder : str or path-like
            The folder, or the id of a Hugging Face Hub repository that
            :meth:`push_to_hub` wrote (``"user/model"``). From the Hub only the
            files skbert reads are fetched (JSON, safetensors, tokenizer files;
            ``onnx/`` with ``backend="onnx"``), into the Hub cache, and then
            checked like a local folder. Offline, a Hub id not in the cache is
            one clear error.
        revision : str or None, default=None
            A branch, tag or commit of the Hub repository (Hub ids only).

            .. versionadded:: 0.2.0
        device : str, default="auto"
            Where to put the model.
        precision : {"auto", "bf16", "fp16", "fp32"} or None, default=None
            Autocast precision of prediction; None keeps the saved parameter.
        backend : {"torch", "onnx"}, default="torch"
            ``"onnx"`` predicts with onnxruntime (``pip install "skbert[onnx]"``):
            the network is exported once to ``folder/onnx/model.onnx`` and
            reused while it matches the saved weights; fp32, the probabilities
            of torch within 1e-4.
        quantize : bool, default=False
            With ``backend="onnx"``, run an int8-quantised copy
            (``folder/onnx/model_int8.onnx``): a quarter of the size and
            usually faster on CPUs, but it changes predictions: on a
            fine-tuned MiniLM probabilities moved by up to 0.29-0.38 and 8-15 %
            of the positive decisions at 0.5 flipped
            (``bench/speed/onnx_int8_drift.py``). Check it on your validation data
            first.
        overwrite_onnx : bool, default=False
            Replace ONNX files in ``folder/onnx`` that skbert did not export
            from these weights, or that do not compute these weights'
            probabilities (otherwise a FileExistsError or ValueError).

        Returns
        -------
        TransformerMultiLabelClassifier
            A fitted estimator, ready to predict.

        Raises
        ------
        FileNotFoundError
            If the folder or one of its files is missing (``skbert.json``
            too, where a save into the folder was interrupted before it:
            the message says to save again).
        ValueError
            If a file is damaged or holds a value the estimator rejects, or
            the folder mixes the files of two models (a save over an earlier
            model was interrupted: save again).
        TypeError
            If ``folder`` is not a str or path-like (None, bytes).
        """
        check_backend(backend, quantize=quantize, precision=precision,
                      overwrite_onnx=overwrite_onnx)
        given = {"device": device} if precision is None else {"device": device,
                                                               "precision": precision}
        validate_parameter_constraints(  # the caller's own: not the file's to blame
            {name: cls._parameter_constraints[name] for name in given}, given,
            caller_name=f"{cls.__name__}.from_pretrained")
        folder = resolve_pretrained_source(folder_argument(folder, "from_pretrained"), revision,
                                           onnx=backend == "onnx")
        settings = read_settings(folder)
        settings_file = os.path.join(folder, SETTINGS_FILE)
        ignored = sorted(set(settings["params"]) & FOLDER_UNSAFE_PARAMS)
        if ignored:
            logger.info("not taking %s from %s (set them with set_params)", ignored, folder)
        params = folder_params(settings, settings_file)  # checked against the table
        params["device"] = device
        params["model_name_or_path"] = folder  # a refit starts from here, not the base model
        if backend == "onnx":
            params["precision"] = "fp32"
        elif precision is not None:
            params["precision"] = precision
        est = cls(**params)
        try:
            est._validate_params()
            est._check_cross_params(settings["classes"])
        except ValueError as exc:
            raise SavedFileError(
                f"{settings_file} holds a parameter value this estimator rejects: "
                f"{file_keys(str(exc))} The file is damaged or was not written by skbert; save "
                "the model again with save_pretrained.") from None
        if backend == "onnx":  # onnxruntime takes CPU tensors, also with its CUDA provider
            dev = torch.device("cpu")
            tokenizer = load_tokenizer(folder)
            _check_saved_lengths(est, tokenizer, settings_file)  # before an export
            model, tokenizer = load_onnx_folder(
                folder, settings, device, quantize=quantize, overwrite=overwrite_onnx,
                tokenizer=tokenizer)
        else:
            dev = resolve_device(device)
            model, tokenizer = load_folder(folder, settings, dev)
            _check_saved_lengths(est, tokenizer, settings_file)
        classes = settings["classes"]
        est._set_fitted(FitResult(
            model=model, tokenizer=tokenizer,
            classes=(np.asarray(classes) if all(isinstance(c, int) for c in classes)
                     else np.asarray(classes, dtype=object)),
            y_dtype=np.dtype(settings["y_dtype"]), history=settings["history_"],
            best_epoch=settings["best_epoch_"], pooling=settings["pooling"], device=dev,
            precision=est._predict_precision(dev),
            learning_rate=_saved_learning_rate(settings, est.learning_rate, model),
            thresholds=settings.get("thresholds_"),
            interrupted=settings.get("interrupted_") is True,
            n_train=file_count(settings.get("n_train_")),
            n_valid=file_count(settings.get("n_valid_")),
            auto_min_labels=settings.get("min_labels_", 0),
            # checked on reading; a folder saved before threshold_metric="auto" lacks it
            threshold_metric=settings.get("threshold_metric_") or (
                est.threshold_metric if est.threshold_metric != "auto" else DEFAULT_METRIC)))
        est._fit_info["tuned_scores"] = settings.get("tuned_scores_")  # checked on reading
        return est


def _check_saved_lengths(est, tokenizer, settings_file: str) -> None:
    """Refuse saved settings that are each valid alone but not with the folder's tokenizer
    (``long_text="chunk"`` with a stride a window cannot hold, a ``max_length`` above the
    tokenizer's limit), as the file's: the user passed no such option."""
    try:
        check_lengths(est, tokenizer, os.path.dirname(settings_file), key=file_key)
    except ValueError as exc:
        raise SavedFileError(
            f"{settings_file} holds parameters this model cannot use: {exc} "
            "The file is damaged or was not written by skbert; save the model again with "
            "save_pretrained.") from None


def _label_columns(Y) -> int | None:
    """The number of label columns of a 2-D 0/1 ``Y`` (array, sparse matrix or DataFrame);
    None for anything else, which ``check_targets`` then explains."""
    import scipy.sparse as sp

    try:
        if sp.issparse(Y) or hasattr(Y, "columns"):
            return int(Y.shape[1]) if len(Y.shape) == 2 else None
        a = np.asarray(Y)
    except (ValueError, TypeError):  # ragged label lists
        return None
    return int(a.shape[1]) if a.ndim == 2 and a.dtype.kind in "biuf" else None


def _check_fit_data(X, Y, sample_weight, X_val, Y_val) -> FitData:
    """The inputs of ``fit``, checked (skbert._validation), as one FitData."""
    # a datasets.Dataset stays memory-mapped: it is checked while it is tokenised
    texts = X if is_hf_dataset(X) else check_texts(X)
    n = check_text_dataset(X) if is_hf_dataset(X) else len(texts)
    Yf, classes, y_dtype = check_targets(Y, n)
    weights = check_sample_weight(sample_weight, n)
    if (X_val is None) != (Y_val is None):
        raise ValueError(
            f"Got {'X_val' if Y_val is None else 'Y_val'} without "
            f"{'Y_val' if Y_val is None else 'X_val'}; pass both (a validation set of texts "
            "and their labels) or neither.")
    val_texts = Yv = None
    if X_val is not None:
        n_columns = _label_columns(Y_val)
        if n_columns is not None and n_columns != Yf.shape[1]:  # before Y_val's own checks
            raise ValueError(
                f"Y_val has {n_columns} label column(s) but Y has {Yf.shape[1]}; Y_val needs "
                "the same columns in the same order.")
        dataset = is_hf_dataset(X_val, "X_val")
        val_texts = X_val if dataset else check_texts(X_val, name="X_val")
        n_val = check_text_dataset(X_val, name="X_val") if dataset else len(val_texts)
        Yv, val_classes, _ = check_targets(Y_val, n_val, warn_missing=False, warn_scorers=False,
                                           name="Y_val")  # no scorer reads Y_val
        if Yv.shape[1] != Yf.shape[1] or (
                getattr(Y_val, "columns", None) is not None
                and list(val_classes) != list(classes)):
            raise ValueError(
                f"Y_val has the labels {[plain_label(c) for c in val_classes][:6]} but Y has "
                f"{[plain_label(c) for c in classes][:6]}; Y_val needs the same columns in the "
                "same order.")
    return FitData(texts, Yf, classes, y_dtype, weights, val_texts, Yv)


def _warn_after_fit(est, result: FitResult) -> None:
    """The warnings a finished fit owes its user (divergence, Ctrl-C, under-training)."""
    if result.diverged_epoch is not None:
        warnings.warn(
            f"Training diverged in epoch {result.diverged_epoch} (the loss became NaN or "
            f"infinite); training stopped and the estimator keeps the weights of epoch "
            f"{est.best_epoch_}, the best earlier one. Lower learning_rate (now "
            f"{est.learning_rate_:g}) or use precision='fp32' to train further.",
            SkbertWarning, stacklevel=4)
    elif result.interrupted:
        resume = (f" Fitting again resumes from {result.checkpoint}."
                  if result.checkpoint else "")
        warnings.warn(
            f"Training was interrupted after {est.n_epochs_} complete epoch(s); the "
            f"estimator keeps the weights of epoch {est.best_epoch_} (the best so far, or "
            "the current ones without a validation split) and can predict "
            f"(interrupted_ is True); fit re-raises KeyboardInterrupt.{resume}",
            SkbertWarning, stacklevel=4)
    elif (est.early_stopping and result.still_improving and est.n_epochs_ == resolve_max_epochs(
            est.max_epochs, result.n_train, est.batch_size)):  # "auto": the epochs it ran
        warnings.warn(
            f"max_epochs={est.max_epochs!r} ({est.n_epochs_} epochs) reached while the validation "
            f"{'loss' if est.scoring in (None, 'loss') else 'score'} was still "
            "improving; the model may be under-trained. Increase max_epochs.",
            ConvergenceWarning, stacklevel=4)


def _saved_learning_rate(settings: dict, learning_rate, model) -> float:
    """``learning_rate_`` of a saved model: as recorded, else what the parameter gives.

    Folders and pickles of earlier versions did not record it: ``"auto"`` is
    then resolved on the loaded model's size (NaN for an ONNX model, whose
    parameters torch cannot count).
    """
    rate = settings.get("learning_rate_")
    if _is_real(rate) and math.isfinite(rate) and rate > 0:
        return float(rate)
    if not isinstance(learning_rate, str):
        return float(learning_rate)
    if any(True for _ in model.parameters()):
        return resolve_learning_rate(learning_rate, model)
    return float("nan")


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_checkpoint_dir(checkpoint_dir, model_name_or_path) -> None:
    """Refuse a ``checkpoint_dir`` that is, contains or sits inside the model folder.

    Training state written into the model folder changes the folder (and the
    fingerprint a resume matches against), so resuming would never work
    again, and the folder no longer holds only the model (issue 20 item 12).
    """
    if checkpoint_dir is None:
        return
    model = resolve_model_path(model_name_or_path)
    if not os.path.isdir(model):
        return  # a hub name: nothing local to protect
    how = relation(os.path.expanduser(os.fspath(checkpoint_dir)), model)  # as used
    if how is None:
        return
    how = "sits inside" if how == "is inside" else how
    real = os.path.realpath(model)
    raise ValueError(
        f"checkpoint_dir={os.fspath(checkpoint_dir)!r} {how} the model folder {model!r}: "
        "training state written there would change the model folder, and a later fit could "
        "never resume from it. Choose a checkpoint_dir outside the model folder, e.g. "
        f"{os.path.join(os.path.dirname(real.rstrip(os.sep)), 'checkpoints')!r}.")
