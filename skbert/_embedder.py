"""TransformerEmbedder: texts to fixed sentence embeddings with a frozen encoder.

Nothing is trained: ``fit`` loads the encoder, ``transform`` runs it. Any
scikit-learn estimator can then learn on the embeddings, in a Pipeline. It is
the fast CPU path and the baseline to beat by fine-tuning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._data import encode, pad_multiple, pad_token_id
from ._hf import transformers_names
from ._load_errors import explain_load_errors
from ._modeling import (
    DEFAULT_MODEL,
    check_model_source,
    load_tokenizer,
    mean_pool,
    no_remote_code,
    pretrained_kwargs,
    quiet_transformers,
    resolve_model_path,
    resolve_pooling,
)
from ._params import validate_params
from ._persistence import saved_head
from ._safe_io import DamagedFile, file_sha256
from ._training import (
    TrainConfig,
    compile_model,
    compile_options,
    explain_compile_errors,
    predict_logits,
)
from ._utils import (
    SkbertWarning,
    load_device,
    resolve_device,
    resolve_precision,
    warn_if_other_version,
)
from ._validation import NumberInterval, check_texts, iter_text_chunks
from ._version import __version__

logger = logging.getLogger(__name__)

#: Texts tokenised and embedded at a time, so memory stays bounded.
TRANSFORM_CHUNK = 4096


class TransformerEmbedder(TransformerMixin, BaseEstimator):
    """Embed texts with a frozen transformer encoder, for any scikit-learn model.

    ``fit`` only loads the encoder (nothing is trained, and ``y`` is ignored);
    ``transform`` turns texts into one fixed-size vector each. Put it in a
    :class:`~sklearn.pipeline.Pipeline` in front of a classifier, e.g.
    ``make_pipeline(TransformerEmbedder(), OneVsRestClassifier(LogisticRegression()))``:
    a strong baseline that trains in seconds on a CPU, where fine-tuning with
    :class:`~skbert.TransformerMultiLabelClassifier` takes minutes.

    Parameters
    ----------
    model_name_or_path : str, default="sentence-transformers/all-MiniLM-L6-v2"
        A local Hugging Face checkpoint folder or a hub name. The default is
        the copy of all-MiniLM-L6-v2 installed with skbert, so it works offline.
    pooling : {"auto", "mean", "cls"}, default="auto"
        ``"mean"`` averages the token embeddings of the last layer over the
        attention mask; ``"cls"`` takes the first token's. ``"auto"`` picks
        ``"mean"`` for sentence-embedding checkpoints (those shipping a
        sentence-transformers config, like the default model) and ``"cls"``
        otherwise.
    max_length : int, default=128
        Maximum tokens per text, special tokens included; longer texts are
        truncated.
    batch_size : int, default=64
        Texts per forward pass. Texts are sorted by length, longest first,
        so that each batch pads little.
    normalize : bool, default=True
        Scale every embedding to unit L2 norm (dot products are then cosine
        similarities).
    device : str, default="auto"
        ``"auto"`` picks CUDA, then MPS, then CPU; or ``"cpu"``, ``"cuda:0"`` ...
    precision : {"auto", "bf16", "fp16", "fp32"}, default="auto"
        Autocast precision of the forward pass, resolved as the classifier's
        prediction precision: ``"auto"`` is fp32 on the CPU (the same
        embeddings on every CPU and as sentence-transformers gives), bf16 on
        CUDA Ampere or newer, fp16 on older GPUs. ``"bf16"`` runs bf16 on
        request (faster on CPUs with AMX or AVX-512 bf16). Embeddings are
        returned as float32 in every case.

        .. versionchanged:: 0.2.0
           ``"auto"`` is fp32 on the CPU (it was bf16 on CPUs with AMX or
           AVX-512 bf16).
    compile : bool or dict, default=False
        Run the encoder through ``torch.compile`` in ``transform`` (``True``:
        ``dynamic=True``; a dict: its keyword arguments). The first call in a
        process compiles (tens of seconds); whether it then runs faster depends
        on the hardware (on a 2-core CPU it did not): measure it first.
    model_kwargs : dict or None, default=None
        Extra keyword arguments for ``AutoModel.from_pretrained``.
    tokenizer_kwargs : dict or None, default=None
        Extra keyword arguments for ``AutoTokenizer.from_pretrained``.

    Attributes
    ----------
    model_ : transformers.PreTrainedModel
        The frozen encoder (``eval`` mode, ``requires_grad=False``).
    tokenizer_ : transformers tokenizer
        Its tokenizer.
    pooling_ : str
        The resolved pooling, ``"mean"`` or ``"cls"``.
    device_ : torch.device
        Where the encoder runs.
    precision_ : str
        The resolved precision, ``"bf16"``, ``"fp16"`` or ``"fp32"``.
    n_features_out_ : int
        Length of an embedding (the encoder's hidden size).
    model_path_ : str or None
        The absolute path of the model folder the encoder was loaded from,
        when ``model_name_or_path`` named a local folder (a relative one is
        resolved against the folder ``fit`` ran in); None for a hub name.
        Unpickling loads the encoder from it. ``model_name_or_path`` keeps
        the value given.

    See Also
    --------
    skbert.TransformerMultiLabelClassifier : Fine-tunes the encoder itself.

    Notes
    -----
    The encoder is never trained, so a pickle holds no weights: pickling
    keeps the parameters and the resolved settings, and unpickling loads the
    encoder again from ``model_path_`` (a local folder, by its absolute path,
    so a pickle made with ``"my-model"`` loads from any current folder) or
    from ``model_name_or_path`` (a hub name). That checkpoint must exist
    where the pickle is loaded (the default model ships with skbert); if the
    folder is gone, the error names it and the folder it was relative to; if
    its weights changed since pickling, a :class:`~skbert.SkbertWarning` says
    so.

    On the CPU the output is fp32 and deterministic unless ``precision="bf16"``
    is asked for; under bf16 autocast, embeddings differ from fp32 ones in
    about the third significant digit.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.multiclass import OneVsRestClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skbert import TransformerEmbedder
    >>> emb = TransformerEmbedder()
    >>> emb.fit_transform(["great, thanks", "awful"]).shape  # doctest: +SKIP
    (2, 384)
    >>> clf = make_pipeline(TransformerEmbedder(), OneVsRestClassifier(LogisticRegression()))
    >>> clf.fit(["great, thanks", "awful", "thanks, awful"],
    ...         [[1, 0], [0, 1], [1, 1]]).predict(["thanks!"])  # doctest: +SKIP
    array([[1, 0]])
    """

    _parameter_constraints: dict = {
        "model_name_or_path": [str, os.PathLike],
        "pooling": [StrOptions({"auto", "mean", "cls"})],
        "max_length": [NumberInterval(Integral, 2, None, closed="left")],
        "batch_size": [NumberInterval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
        "device": [str, torch.device],
        "precision": [StrOptions({"auto", "bf16", "fp16", "fp32"})],
        "compile": ["boolean", dict],
        "model_kwargs": [dict, None],
        "tokenizer_kwargs": [dict, None],
    }
    # scikit-learn's check, naming a bool given as a number as such
    _validate_params = validate_params

    def __init__(
        self,
        model_name_or_path=DEFAULT_MODEL,
        *,
        pooling="auto",
        max_length=128,
        batch_size=64,
        normalize=True,
        device="auto",
        precision="auto",
        compile=False,
        model_kwargs=None,
        tokenizer_kwargs=None,
    ):
        self.model_name_or_path = model_name_or_path
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.normalize = normalize
        self.device = device
        self.precision = precision
        self.compile = compile
        self.model_kwargs = model_kwargs
        self.tokenizer_kwargs = tokenizer_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = []  # text in, float32 out
        return tags

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the encoder and its tokenizer; nothing is trained.

        Parameters
        ----------
        X : list, tuple, 1-D ndarray or pandas Series of str
            Texts; only checked (the encoder learns nothing from them).
        y : None
            Ignored, present for Pipeline compatibility.

        Returns
        -------
        self : TransformerEmbedder
            The fitted transformer.
        """
        check_texts(X)
        compile_options(self.compile)
        device = resolve_device(self.device)
        resolve_precision(self.precision, device)  # names e.g. fp16 asked on the CPU
        precision = resolve_precision(self.precision, device, predict=True)
        path = resolve_model_path(os.fspath(self.model_name_or_path))
        self._load(path, device)
        # a local folder by its absolute path: a pickle is loaded from another current folder
        self.model_path_ = os.path.abspath(path) if os.path.isdir(path) else None
        self.pooling_ = resolve_pooling(self.pooling, path, saved_head(path))
        self.device_ = device
        self.precision_ = precision
        self.n_features_out_ = int(self.model_.config.hidden_size)
        return self

    def _load(self, path: str, device: torch.device) -> None:
        AutoModel = transformers_names("AutoModel")

        check_model_source(path)
        tokenizer = load_tokenizer(path, self.tokenizer_kwargs)
        limit = getattr(tokenizer, "model_max_length", None)
        if limit is not None and limit < 1_000_000 and self.max_length > limit:
            raise ValueError(
                f"max_length={self.max_length} exceeds the {limit} tokens {path!r} supports. "
                f"Use max_length<={limit}.")
        kwargs = no_remote_code(self.model_kwargs, "model_kwargs")
        with quiet_transformers(), explain_load_errors(path):
            model = AutoModel.from_pretrained(path, **pretrained_kwargs(path, AutoModel, kwargs))
        model.requires_grad_(False)
        model.eval()
        self.model_ = model.to(device)
        self.tokenizer_ = tokenizer
        self._weights_digest = None  # of these weights, computed when first asked for
        # the files the tokenizer was read from, as they were then (None for a hub name)
        self._tokenizer_sha256 = _tokenizer_files_sha256(path)
        logger.debug("loaded frozen encoder %s on %s", path, device)

    # ------------------------------------------------------------- transform
    def transform(self, X) -> np.ndarray:
        """Embed texts.

        Parameters
        ----------
        X : list, tuple, 1-D ndarray or pandas Series of str, or datasets.Dataset
            The texts (a ``datasets.Dataset`` with a ``"text"`` column is read
            4,096 rows at a time).

        Returns
        -------
        ndarray of shape (n_samples, hidden_size), float32
            One embedding per text, in input order; unit L2 norm when
            ``normalize=True``.
        """
        check_is_fitted(self)
        n, chunks = iter_text_chunks(X, TRANSFORM_CHUNK)
        out = np.empty((n, self.n_features_out_), dtype=np.float32)
        start = 0
        for chunk in chunks:
            out[start:start + len(chunk)] = self._embed(chunk)
            start += len(chunk)
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts`` through the estimator's prediction loop
        (:func:`~skbert._training.predict_logits`: longest texts first, padded
        per batch, autocast, input order kept)."""
        enc = encode(self.tokenizer_, texts, max_length=self.max_length, long_text="truncate")
        options = compile_options(self.compile)
        embed = _Embed(compile_model(self.model_, options), self.pooling_, self.normalize)
        config = TrainConfig(device=self.device_, precision=self.precision_,
                             predict_batch_size=self.batch_size,
                             pad_to_multiple_of=pad_multiple(self.device_))
        with explain_compile_errors(options):
            return predict_logits(embed, enc, pad_token_id(self.tokenizer_), config)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns: ``embedding0``, ``embedding1``, ...

        Parameters
        ----------
        input_features : None
            Ignored; texts have no feature names.

        Returns
        -------
        ndarray of str objects, shape (hidden_size,)
        """
        check_is_fitted(self)
        return np.asarray([f"embedding{i}" for i in range(self.n_features_out_)], dtype=object)

    # ----------------------------------------------------------- persistence
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never edit the live __dict__
        model = state.pop("model_", None)
        state.pop("tokenizer_", None)
        state.pop("_weights_digest", None)
        tokenizer_sha256 = state.pop("_tokenizer_sha256", None)
        if model is not None:
            state["_weights_sha256"] = {"format": _DIGEST_FORMAT,
                                        "weights": self._cached_weights_sha256(),
                                        "tokenizer": tokenizer_sha256}
            state["device_"] = str(state["device_"])
        state["_skbert_version"] = __version__
        return state

    def __setstate__(self, state):
        warn_if_other_version(state, "TransformerEmbedder", "Refit it.")
        digests = state.pop("_weights_sha256", None)
        fingerprint = state.pop("_weights_fingerprint", None)  # pickles of earlier skbert
        state.pop("_tokenizer_sha256", None)
        state.pop("_weights_digest", None)
        super().__setstate__(state)
        if digests is None and fingerprint is None:  # pickled before fit
            return
        device = load_device(self.device, self.device_, "TransformerEmbedder", "encoder")
        path = self._pickled_model_path()
        self._load(path, device)
        self.device_ = device
        self.precision_ = resolve_precision(self.precision, device, predict=True)
        changed = self._changed_parts(digests, fingerprint, path)
        if changed:
            what = " and ".join(changed)
            warnings.warn(
                f"The {what} at {path!r} differ from those this TransformerEmbedder was "
                "pickled with, so its embeddings differ too (a downstream classifier fitted on "
                "the old ones may be off). Refit the pipeline, or restore the checkpoint.",
                SkbertWarning, stacklevel=2)

    def _changed_parts(self, digests, fingerprint, path: str) -> list[str]:
        """Which of ``"weights"`` and ``"tokenizer files"`` differ from the pickled digests.

        A pickle of an earlier skbert holds one sum per tensor instead
        (``fingerprint``): compared as before, with the tokenizer not checked; a
        record of a form this skbert does not know is skipped with a warning.
        """
        if isinstance(digests, dict) and digests.get("format") == _DIGEST_FORMAT:
            changed = []
            if digests.get("weights") != self._cached_weights_sha256():
                changed.append("weights")
            then, now = digests.get("tokenizer"), self._tokenizer_sha256
            if then is not None and now is not None and then != now:
                changed.append("tokenizer files")
            return changed
        try:
            if fingerprint is None:
                raise TypeError("no sums")
            old = np.asarray(fingerprint, dtype=np.float64)
            now = _fingerprint(self.model_)
            same = old.shape == now.shape and bool(np.allclose(now, old, rtol=1e-6, atol=1e-6))
        except (TypeError, ValueError):
            warnings.warn(
                "This TransformerEmbedder's pickle records its weights in a form this skbert "
                f"does not know, so whether the model at {path!r} is the one it was fitted "
                "with is not checked. Refit and pickle it again to have it checked.",
                SkbertWarning, stacklevel=3)
            return []
        return [] if same else ["weights"]

    def _cached_weights_sha256(self) -> str:
        """:func:`_weights_sha256` of ``model_``, computed once for the weights as they are.

        The encoder is frozen, so every pickle of a fitted embedder would hash
        the same hundreds of MB again: the digest is kept with a key that
        changes when the weights do without reading them (the model object and
        each tensor's storage and in-place version counter, :func:`_weights_state`),
        so a refit, a new ``model_``, an unpickling or an in-place edit of a weight
        (``load_state_dict``, ``copy_``) is hashed again.
        """
        key = (id(self.model_), _weights_state(self.model_))
        cached = self.__dict__.get("_weights_digest")
        if cached is None or cached[0] != key:
            cached = self._weights_digest = (key, _weights_sha256(self.model_))
        return cached[1]

    def _pickled_model_path(self) -> str:
        """Where an unpickled embedder loads its encoder from.

        The absolute folder recorded at fit (``model_path_``); if it is gone, the
        given ``model_name_or_path`` where it names a local folder here (the
        weights check then tells a different model); else a FileNotFoundError
        naming both, never a hub lookup of a folder name. Pickles made before
        ``model_path_`` existed load from ``model_name_or_path``.
        """
        given = os.fspath(self.model_name_or_path)
        recorded = self.__dict__.get("model_path_", None)
        if "model_path_" not in self.__dict__:  # an older pickle
            self.model_path_ = None
            return resolve_model_path(given)
        if recorded is None:  # a hub name
            return resolve_model_path(given)
        if os.path.isdir(recorded):
            return recorded
        if os.path.isdir(resolve_model_path(given)):
            return resolve_model_path(given)
        relative = ""
        if not os.path.isabs(given):
            tail = os.sep + os.path.normpath(given)
            where = (f", {recorded[:-len(tail)] or os.sep!r}" if recorded.endswith(tail)
                     and not tail.startswith(os.sep + os.pardir) else "")
            relative = (f" (model_name_or_path={given!r}, relative to the folder it was fitted "
                        f"in{where})")
        raise FileNotFoundError(
            f"This TransformerEmbedder was fitted with the model folder {recorded!r}{relative}, "
            f"which does not exist here (current folder {os.getcwd()!r}). Put the model "
            "folder back there, or load the pickle from a folder where "
            f"{given!r} names it, or refit with model_name_or_path set to where the model "
            "is now.")


class _Embed(torch.nn.Module):
    """The frozen encoder as a model of :func:`~skbert._training.predict_logits`:
    ``(input_ids, attention_mask)`` to float32 pooled (and normalised) embeddings."""

    def __init__(self, encoder, pooling: str, normalize: bool):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.normalize = normalize

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0].float()
        pooled = mean_pool(hidden, attention_mask) if self.pooling == "mean" else hidden[:, 0]
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled


#: The form of the digests a pickle records (``_weights_sha256``).
_DIGEST_FORMAT = 1
#: Files a tokenizer is read from: names starting with one of these, or ending in ``.model``.
_TOKENIZER_FILE_PREFIXES = ("tokenizer", "vocab", "merges", "special_tokens_map",
                            "added_tokens", "spiece", "sentencepiece")


def _weights_sha256(model) -> str:
    """The SHA-256 of every tensor of ``model``'s state dict: names, dtypes, shapes and bytes.

    Unlike a sum per tensor, it tells a permutation (rows of the word
    embeddings swapped) or any one changed bit.
    """
    from ._safe_io import tensors_sha256

    with torch.no_grad():
        return tensors_sha256(model.state_dict())


def _weights_state(model) -> tuple:
    """What changes when ``model``'s weights change, read without their bytes: each
    tensor's name, storage address and in-place version counter (``copy_``,
    ``load_state_dict`` and optimiser steps bump it; a write through ``.data``
    does not)."""
    return tuple((name, t.data_ptr(), _version(t)) for name, t in model.state_dict().items())


def _version(tensor):
    """The in-place version counter of ``tensor``; for a tensor that keeps none (made under
    ``torch.inference_mode`` in some torch versions), a value equal to no other, so its
    digest is never reused."""
    try:
        return tensor._version
    except RuntimeError:
        return object()


def _tokenizer_files_sha256(path: str) -> str | None:
    """The SHA-256 of the tokenizer files in the model folder ``path`` (names and bytes),
    or None when ``path`` is no local folder (a hub name)."""
    if not os.path.isdir(path):
        return None
    digest = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if not (name.startswith(_TOKENIZER_FILE_PREFIXES) or name.endswith(".model")):
            continue
        if not os.path.isfile(full):
            continue
        try:  # read in blocks, a regular file only (a hub snapshot links to its blob)
            content = file_sha256(os.path.realpath(full))
        except DamagedFile:  # unreadable now: what the tokenizer loaded is what counts
            content = "<unreadable>"
        digest.update(json.dumps([name, content]).encode("utf-8") + b"\n")
    return digest.hexdigest()


def _fingerprint(model) -> np.ndarray:
    """One float per weight tensor (its sum): the check of pickles of earlier skbert."""
    with torch.no_grad():
        return np.asarray([float(t.detach().double().sum()) for t in model.state_dict().values()
                           if t.is_floating_point()])
