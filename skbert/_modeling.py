"""Loading encoders and tokenizers, and the multi-label network around them.

transformers is imported lazily inside functions so that importing skbert
stays cheap.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ._hf import transformers_names
from ._load_errors import explain_load_errors
from ._safe_io import is_int
from ._sources import (  # noqa: F401 (names other modules import from here)
    _CODE_CONFIGS,
    BUILTIN_ATTENTION,
    DEFAULT_MODEL,
    SIZE_LIMITS,
    TOKENIZER_FILES,
    _check_model_type,
    _checked_config,
    _config_object,
    _meta_state_shapes,
    _read_folder_json,
    _regular,
    _shape_mismatch,
    builtin_attention,
    check_config,
    check_model_source,
    check_tokenizer_file,
    check_tokenizer_fits,
    is_sentence_embedding_checkpoint,
    pretrained_kwargs,
    quiet_transformers,
    resolve_model_path,
)
from ._tokenizer_growth import check_loaded_tokenizer
from ._utils import SkbertWarning

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SavedHead:
    """What a folder written by ``save_pretrained`` hands to a new fit.

    Built (and validated) by :func:`skbert._persistence.saved_head` from the
    folder's ``skbert.json`` and head file; :func:`resolve_pooling` and
    :func:`build_model` read it.

    Attributes
    ----------
    pooling : {"cls", "mean"}
        The pooling the saved model was trained with.
    classes : tuple
        Its label names, in column order.
    head : dict of str to torch.Tensor or None
        With mean pooling, the trained head's ``weight`` and ``bias``; with
        cls pooling None (the head is part of the transformers checkpoint).
    recorded : dict or None
        The folder's own ``head_init`` and ``label_descriptions``, as its
        ``skbert.json`` records them (a key of a value of another type is
        left out): what a refit of the loaded estimator passes back, which
        does not ask for a new head.
    """

    pooling: str
    classes: tuple
    head: dict | None = None
    recorded: dict | None = None

    def same_labels(self, classes) -> bool:
        """Whether ``classes`` are the saved labels, same names in the same order."""
        return _label_names(classes) == [str(c) for c in self.classes]

    def order_of(self, classes) -> list[int] | None:
        """For each of ``classes``, the row of the saved head with its name; None unless
        ``classes`` are the saved labels in some order."""
        saved = {str(c): i for i, c in enumerate(self.classes)}
        names = _label_names(classes)
        if len(names) != len(saved) or set(names) != set(saved):
            return None
        return [saved[n] for n in names]


def _label_names(classes) -> list[str]:
    """Labels as the strings a saved folder names them by (numpy scalars unwrapped)."""
    return [str(c.item() if hasattr(c, "item") else c) for c in classes]


def resolve_pooling(pooling: str, path: str, saved: SavedHead | None = None) -> str:
    """Resolve ``pooling="auto"`` to ``"mean"`` or ``"cls"`` for a checkpoint.

    A folder skbert saved (``saved`` given) keeps the pooling it was trained
    with; any other checkpoint gets mean pooling when it ships a
    sentence-transformers configuration, else cls pooling.
    """
    if pooling != "auto":
        return pooling
    if saved is not None:
        return saved.pooling
    return "mean" if is_sentence_embedding_checkpoint(path) else "cls"


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token embeddings of each sequence over its attention mask."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class Fp32Linear(nn.Linear):
    """A linear layer that computes in float32, also under autocast.

    The output layer's logits feed probabilities, rankings and thresholds:
    computed in bf16 they would keep only 8 bits of mantissa (-0.73046875).
    Its parameters and state-dict keys are those of :class:`torch.nn.Linear`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            bias = None if self.bias is None else self.bias.float()
            return nn.functional.linear(x.float(), self.weight.float(), bias)


def _to_fp32_linear(layer: nn.Linear) -> None:
    """Make ``layer`` compute in float32 under autocast, keeping its parameters."""
    if type(layer) is nn.Linear:
        layer.__class__ = Fp32Linear


def head_dropout(config) -> float:
    """The dropout of the mean-pooling head: the backbone config's own classifier or
    hidden dropout, so ``model_kwargs`` that switch dropout off switch it off here too."""
    for name in ("classifier_dropout", "seq_classif_dropout", "hidden_dropout_prob", "dropout"):
        value = getattr(config, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 0.1


class MultiLabelModel(nn.Module):
    """A transformer encoder with a multi-label head.

    Parameters
    ----------
    backbone : transformers.PreTrainedModel
        With ``pooling="cls"`` an ``AutoModelForSequenceClassification`` (its own
        head gives the logits); with ``pooling="mean"`` an ``AutoModel`` encoder.
    pooling : {"cls", "mean"}
    n_labels : int
    dropout : float, default=0.1
        Dropout before the linear head in mean pooling.
    """

    def __init__(self, backbone, pooling: str, n_labels: int, dropout: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        #: True when :func:`build_model` started the head from a saved, trained one.
        self.trained_head = False
        #: Then the saved folder's own ``head_init`` and ``label_descriptions``
        #: (:attr:`SavedHead.recorded`).
        self.recorded_params = {}
        if pooling == "mean":
            hidden = backbone.config.hidden_size
            self.dropout = nn.Dropout(dropout)
            self.head = Fp32Linear(hidden, n_labels)
        else:
            _to_fp32_linear(self.output_layer())

    def output_layer(self) -> nn.Linear:
        """The final linear layer that produces the label logits."""
        if self.pooling == "mean":
            return self.head
        n_labels = self.backbone.config.num_labels
        layers = [m for m in self.backbone.modules()
                  if isinstance(m, nn.Linear) and m.out_features == n_labels]
        return layers[-1]

    @torch.no_grad()
    def init_bias_to_priors(self, prior: torch.Tensor) -> None:
        """Start every label's bias at the log-odds of its training frequency.

        The untrained head then already predicts each label's base rate, so
        the first steps are not spent learning that most labels are absent.
        Does nothing when the head was loaded trained (``trained_head``): a
        fit that continues from a saved model keeps its biases.
        """
        if self.trained_head:
            return
        prior = prior.clamp(1e-4, 1 - 1e-4)
        bias = self.output_layer().bias
        if bias is not None:
            bias.copy_(torch.log(prior / (1 - prior)).to(bias))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits of shape (n_windows, n_labels)."""
        if self.pooling == "cls":
            return self.backbone(input_ids=input_ids, attention_mask=attention_mask).logits
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask)[0]
        return self.head(self.dropout(mean_pool(hidden.float(), attention_mask)))


def _labels_config(classes) -> dict:
    id2label = {i: str(c) for i, c in enumerate(classes)}
    return {
        "num_labels": len(id2label),
        "id2label": id2label,
        "label2id": {v: k for k, v in id2label.items()},
        "problem_type": "multi_label_classification",
    }


#: Keys of ``model_kwargs`` that skbert sets itself from the labels.
_LABEL_KWARGS = ("num_labels", "id2label", "label2id", "problem_type")


def no_remote_code(kwargs: dict | None, name: str) -> dict:
    """A copy of user keyword arguments for ``from_pretrained``, refusing remote code."""
    kwargs = dict(kwargs or {})
    if kwargs.pop("trust_remote_code", False):
        raise ValueError(
            f"{name} sets trust_remote_code=True; skbert never runs Python code shipped with a "
            "model. Remove that key and use a checkpoint of an architecture transformers ships.")
    if kwargs.get("use_safetensors", True) is not True:
        raise ValueError(
            f"{name} sets use_safetensors={kwargs['use_safetensors']!r}; skbert reads "
            "safetensors weights only (a pickle can run code when loaded). Remove that key; "
            "convert a pytorch_model.bin folder once with save_pretrained.")
    attention = kwargs.get("attn_implementation")
    if not builtin_attention(attention):
        raise ValueError(
            f"{name} sets attn_implementation={str(attention)[:100]!r}, which is not an "
            "attention transformers ships (an 'org/name' value downloads attention code from "
            "the Hub, and skbert never runs code shipped with a model). Remove that key, or "
            f"use one of {sorted(BUILTIN_ATTENTION)}.")
    taken = [k for k in _LABEL_KWARGS if k in kwargs]
    if name == "model_kwargs" and taken:
        raise ValueError(
            f"model_kwargs sets {taken}, which skbert derives from Y's columns. Remove "
            f"{'it' if len(taken) == 1 else 'them'} from model_kwargs; the label names come from "
            "a DataFrame Y's columns.")
    return kwargs


def load_tokenizer(path: str, tokenizer_kwargs: dict | None = None, *,
                   rows: int | None = None):
    """Load a fast tokenizer from a folder or hub name.

    ``tokenizer_config.json`` may not pick code (an ``auto_map``), neither
    the ``tokenizer*.json`` files (:func:`check_tokenizer_file`, before the
    library reads them) nor the tokenizer built
    (:func:`skbert._tokenizer_growth.check_loaded_tokenizer`, before skbert
    gives it a text) may blow a text up, and no token id may reach past the
    model's embedding ``rows``
    (:func:`check_tokenizer_fits`): given, or in a folder with a
    ``config.json`` its ``vocab_size``.
    """
    AutoTokenizer = transformers_names("AutoTokenizer")

    kwargs = no_remote_code(tokenizer_kwargs, "tokenizer_kwargs")
    local = os.path.isdir(path)
    if local:
        if not any(os.path.lexists(os.path.join(path, f)) for f in TOKENIZER_FILES):
            raise FileNotFoundError(
                f"Model folder {path!r} holds no tokenizer files "
                f"({', '.join(TOKENIZER_FILES[:3])}, ...). Save the tokenizer into it with "
                "tokenizer.save_pretrained(folder).")
        for name in TOKENIZER_FILES:
            if os.path.lexists(os.path.join(path, name)):
                _regular(os.path.join(path, name))
    _checked_config(path, _CODE_CONFIGS[1], kwargs.get("revision"))
    subfolder = kwargs.get("subfolder")
    check_tokenizer_file(path, kwargs.get("revision"),
                         subfolder if isinstance(subfolder, str) else None,
                         {k: kwargs[k] for k in ("token", "cache_dir", "local_files_only")
                          if k in kwargs})
    with quiet_transformers(), explain_load_errors(path, "tokenizer"):
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False, **kwargs)
    if not getattr(tok, "is_fast", False):
        raise ValueError(
            f"The tokenizer of {path!r} is not a fast (Rust) tokenizer; skbert needs one for "
            "batched tokenisation. Convert it with tokenizer.save_pretrained after loading "
            "it with AutoTokenizer.from_pretrained(..., use_fast=True)."
        )
    with quiet_transformers():  # the probe of special tokens may exceed model_max_length
        check_loaded_tokenizer(tok, path)
    model_config = os.path.join(path, "config.json")
    if rows is None and local and os.path.lexists(model_config):
        rows = _read_folder_json(model_config, "config.json")
        rows = rows.get("vocab_size") if isinstance(rows, dict) else None
    if is_int(rows):
        check_tokenizer_fits(tok, rows, path)
    return tok


def build_model(path: str, pooling: str, classes, *, seed: int,
                model_kwargs: dict | None = None,
                saved: SavedHead | None = None) -> MultiLabelModel:
    """Load pretrained weights and attach the classification head.

    The head is new, initialised inside :func:`torch.random.fork_rng` (the
    global torch RNG is left untouched), unless ``path`` is a folder skbert
    saved (``saved``) with the same pooling and the same labels: then the fit
    continues from its trained head. A saved folder used with other labels or
    another pooling keeps its fine-tuned encoder, starts a new head, and says
    so with a :class:`~skbert.SkbertWarning`.

    Parameters
    ----------
    path : str
        Checkpoint folder or hub name.
    pooling : {"cls", "mean"}
    classes : sequence
        Label names, one per output.
    seed : int
        Seeds the new head.
    model_kwargs : dict or None, default=None
        Keyword arguments of ``from_pretrained`` (never ``trust_remote_code``).
    saved : SavedHead or None, default=None
        What ``path`` holds when skbert saved it (:func:`skbert._persistence.saved_head`).

    Returns
    -------
    MultiLabelModel
        With ``trained_head`` True when the saved head was kept.
    """
    AutoModel, AutoModelForSequenceClassification = transformers_names(
        "AutoModel", "AutoModelForSequenceClassification")

    kwargs = no_remote_code(model_kwargs, "model_kwargs")
    # a mean-pooling head is matched to the labels by name, in any column order
    order = (saved.order_of(classes) if saved is not None and saved.head is not None
             and saved.pooling == pooling == "mean" else None)
    keep = saved is not None and saved.pooling == pooling and (
        saved.same_labels(classes) or order is not None)
    if saved is not None and not keep:
        _warn_new_head(path, saved, pooling, classes)
        if pooling == "cls":  # a saved head of another shape, or a mean folder's guard
            kwargs = {"ignore_mismatched_sizes": True, **kwargs}
    with torch.random.fork_rng(devices=[]), quiet_transformers(), explain_load_errors(path):
        torch.manual_seed(seed)
        if pooling == "cls" and saved is not None and saved.pooling == "mean":
            backbone = _classifier_on_encoder(path, classes, kwargs)
        elif pooling == "cls":
            backbone = AutoModelForSequenceClassification.from_pretrained(
                path, **_labels_config(classes),
                **pretrained_kwargs(path, AutoModelForSequenceClassification, kwargs))
        else:
            backbone = AutoModel.from_pretrained(path, **pretrained_kwargs(path, AutoModel, kwargs))
        model = MultiLabelModel(backbone, pooling, len(classes),
                                dropout=head_dropout(backbone.config))
        if saved is not None and not keep and pooling == "cls":
            _reset_linear(model.output_layer(), backbone.config)
    if keep:
        if pooling == "mean":
            model.head.load_state_dict(saved.head if order is None else
                                       {k: v[order] for k, v in saved.head.items()})
        model.trained_head = True
        model.recorded_params = dict(saved.recorded or {})
        logger.debug("loaded %s with %s pooling and its trained %d-label head", path, pooling,
                     len(classes))
    else:
        logger.debug("loaded %s with %s pooling and a new %d-label head", path, pooling,
                     len(classes))
    return model


def _warn_new_head(path: str, saved: SavedHead, pooling: str, classes) -> None:
    def show(labels):
        labels = [str(c.item() if hasattr(c, "item") else c) for c in labels]
        return str(labels[:6])[:-1] + (", ...]" if len(labels) > 6 else "]")

    if saved.pooling != pooling:
        why = f"it was trained with {saved.pooling} pooling and this fit uses {pooling}"
        fix = f"pooling={saved.pooling!r} (or 'auto')"
    else:
        why = (f"its {len(saved.classes)} labels {show(saved.classes)} differ from the "
               f"{len(classes)} of this fit {show(classes)}")
        fix = ("Y with the saved labels (the same names; with cls pooling also in the same "
               "column order)")
    warnings.warn(
        f"{path!r} is a model skbert saved, but {why}: the fit keeps its fine-tuned encoder and "
        f"starts a new classification head (head_init). To continue from the trained "
        f"head, fit with {fix}.", SkbertWarning, stacklevel=4)


def _classifier_on_encoder(path: str, classes, kwargs: dict):
    """A new sequence classifier around the encoder of a mean-pooling folder skbert saved.

    ``AutoModelForSequenceClassification.from_pretrained`` refuses such a
    folder by design (:func:`sequence_classification_guard`; transformers 4
    calls it corrupted even with ``ignore_mismatched_sizes``), so the encoder
    is loaded with ``AutoModel`` and its weights copied into a classifier built
    from the same configuration.
    """
    AutoModel, AutoModelForSequenceClassification = transformers_names(
        "AutoModel", "AutoModelForSequenceClassification")

    kwargs = {k: v for k, v in kwargs.items() if k != "ignore_mismatched_sizes"}
    encoder = AutoModel.from_pretrained(path, **pretrained_kwargs(path, AutoModel, kwargs))
    config = encoder.config
    for key, value in _labels_config(classes).items():
        setattr(config, key, value)
    backbone = AutoModelForSequenceClassification.from_config(config, trust_remote_code=False)
    backbone.base_model.load_state_dict(encoder.state_dict())
    return backbone.to(encoder.dtype)


@torch.no_grad()
def _reset_linear(layer: nn.Linear, config) -> None:
    """Re-initialise an output layer as transformers initialises a new head."""
    std = getattr(config, "initializer_range", 0.02)
    layer.weight.normal_(mean=0.0, std=std if isinstance(std, float) else 0.02)
    if layer.bias is not None:
        layer.bias.zero_()


#: An empty tensor whose name is the explanation: transformers lists it in its load report
#: (``UNEXPECTED``) next to the refused head, where the user reads why and what to use.
GUARD_NOTE = ("skbert_mean_pooling_model__no_sequence_classification_head__load_it_with_"
              "skbert.TransformerMultiLabelClassifier.from_pretrained_or_"
              "sentence_transformers.SentenceTransformer")


def sequence_classification_guard(config) -> dict[str, torch.Tensor]:
    """A tensor that makes ``AutoModelForSequenceClassification`` refuse a checkpoint.

    A mean-pooling model stores its head outside the encoder checkpoint, so
    ``AutoModelForSequenceClassification`` (and ``pipeline("text-classification")``)
    would load that checkpoint with a *new, random* head and hand out
    meaningless label scores. Writing an empty tensor under the name of the
    first parameter of that head makes them refuse instead: transformers
    raises on a tensor whose shape differs from the parameter's unless
    ``ignore_mismatched_sizes=True`` is passed. ``AutoModel`` (and so
    sentence-transformers) loads the checkpoint as before; it reports the one
    key it does not use as ``UNEXPECTED``.

    Parameters
    ----------
    config : transformers.PretrainedConfig
        The encoder's configuration.

    Returns
    -------
    dict
        ``{name: empty float32 tensor}``, or ``{}`` for an architecture with no
        sequence-classification class (which then cannot load the folder at all).
    """
    AutoModelForSequenceClassification = transformers_names(
        "AutoModelForSequenceClassification")

    try:
        with torch.device("meta"), quiet_transformers():
            seq = AutoModelForSequenceClassification.from_config(config,
                                                                 trust_remote_code=False)
    except (ValueError, KeyError, TypeError, RuntimeError, NotImplementedError) as exc:
        logger.debug("no sequence-classification model for %s: %s",
                     getattr(config, "model_type", None), exc)
        return {}
    prefix = f"{seq.base_model_prefix}."
    head = [k for k in seq.state_dict() if not k.startswith(prefix)]
    if not head:
        return {}
    return {head[0]: torch.zeros(0), GUARD_NOTE: torch.zeros(0)}


#: Attentions :func:`model_from_config` builds as recorded; others (flash, paged) need
#: packages or kernels, so the architecture's default is used instead.
_REBUILT_ATTENTION = ("eager", "sdpa", "flex_attention")


def model_from_config(config_dict: dict, pooling: str, n_labels: int,
                      attn_implementation: str | None = None, *,
                      shapes: dict | None = None,
                      source: str = "the saved model") -> MultiLabelModel:
    """Rebuild the network's architecture (random weights) from a config dict.

    The dict comes from a pickle or a fit-cache entry, so it is checked as a
    folder's ``config.json`` is (:func:`check_config`: no ``auto_map``, no Hub
    attention kernel, sizes within :data:`SIZE_LIMITS`; a ``model_type``
    transformers ships) and, with ``shapes``, against the tensors that will be
    loaded into it, on the meta device, before any memory is taken.

    Parameters
    ----------
    config_dict : dict
        The encoder's ``config.to_dict()``.
    pooling : {"cls", "mean"}
    n_labels : int
    attn_implementation : str or None, default=None
        The attention the fitted model ran (``"sdpa"``, ``"eager"``, ...): a
        config dict does not carry it, and some transformers releases (4.x)
        build a model from a config with eager attention, which is slower and
        rounds differently. Only ``"eager"``, ``"sdpa"`` and
        ``"flex_attention"`` are passed on; any other (one that needs packages
        or Hub kernels, ``"flash_attention_2"``, ``"org/name"``, or one this
        installation lacks) is replaced by the architecture's default, so the
        value never picks code.
    shapes : dict of str to tuple or None, default=None
        The shape of every tensor of the state dict to be loaded (keys as
        :class:`MultiLabelModel`'s ``state_dict``): the rebuilt network must
        have exactly these, or nothing is built.
    source : str, default="the saved model"
        What the dict came from, named in errors.

    Raises
    ------
    ValueError
        If the dict picks code, has absurd sizes, or does not fit ``shapes``
        (naming the tensor and both shapes).
    """
    AutoModel, AutoModelForSequenceClassification = transformers_names(
        "AutoModel", "AutoModelForSequenceClassification")

    where = f"the model config of {source}"
    check_config(config_dict, where)
    _check_model_type(config_dict, where)
    auto = AutoModelForSequenceClassification if pooling == "cls" else AutoModel
    if shapes is not None:
        expected, _ = _meta_state_shapes(
            config_dict, auto, wrap=lambda enc: MultiLabelModel(enc, pooling, n_labels))
        found = {k: tuple(v) for k, v in shapes.items()}
        for name, shape in expected.items():
            if name not in found:
                raise ValueError(f"{source} lacks tensor {name!r} of shape {list(shape)} that "
                                 "its model config needs. Save the model again.")
            if found[name] != shape:
                raise _shape_mismatch(where, source, name, found[name], shape, config_dict)
        extra = sorted(set(found) - set(expected))
        if extra:
            raise ValueError(f"{source} holds tensors its model config has no place for "
                             f"({extra[:3]}). Save the model again.")

    def build(**kwargs):  # a fresh config each time: a failed try may have edited it
        return auto.from_config(_config_object(config_dict), trust_remote_code=False, **kwargs)

    with quiet_transformers():
        backbone = None
        if attn_implementation in _REBUILT_ATTENTION:
            try:
                backbone = build(attn_implementation=attn_implementation)
            except (ImportError, ValueError, KeyError) as exc:  # KeyError: transformers 4.x
                logger.debug("attention %r unavailable here (%s); using the default",
                             attn_implementation, exc)
        if backbone is None:
            try:
                backbone = build(attn_implementation="sdpa")
            except (ImportError, ValueError, KeyError):
                backbone = build(attn_implementation="eager")
    return MultiLabelModel(backbone, pooling, n_labels, dropout=head_dropout(backbone.config))


# ---------------------------------------------------------------------- adapters (peft)
def check_peft_config(peft_config) -> None:
    """Raise a clear error unless ``peft_config`` is a ``peft`` configuration (or None)."""
    if peft_config is None:
        return
    try:
        from peft import PeftConfig
    except ImportError:
        raise ImportError(
            "peft_config needs the peft package: pip install \"skbert[peft]\"") from None
    if not isinstance(peft_config, PeftConfig):
        raise ValueError(
            f"peft_config={peft_config!r:.80} is not a peft configuration. Pass e.g. "
            "peft.LoraConfig(r=8, lora_alpha=16), or peft_config=None to fine-tune every weight.")


def is_peft(model) -> bool:
    """Whether the encoder of ``model`` carries peft adapters."""
    return hasattr(getattr(model, "backbone", None), "peft_config")


def apply_peft(model: MultiLabelModel, peft_config) -> MultiLabelModel:
    """Wrap the encoder with adapters: only they and the classification head train.

    The configuration is copied. With ``pooling="cls"`` its ``task_type``
    defaults to sequence classification, so that peft keeps the classifier
    trainable; with mean pooling skbert's own head stays outside the adapter
    model and trains as usual. The pretrained weights are frozen.
    """
    import copy

    from peft import get_peft_model

    config = copy.deepcopy(peft_config)
    if model.pooling == "cls" and getattr(config, "task_type", None) is None:
        config.task_type = "SEQ_CLS"
    model.backbone = get_peft_model(model.backbone, config)
    for p in model.output_layer().parameters():
        p.requires_grad_(True)
    return model


def merged(model: MultiLabelModel) -> MultiLabelModel:
    """``model`` itself, or for adapters a copy with them merged into plain weights.

    Pickles, fit-cache entries and model folders hold the merged network, so
    they load without peft and predict like the adapter model.
    """
    if not is_peft(model):
        return model
    import copy

    clone = copy.deepcopy(model)
    clone.backbone = clone.backbone.merge_and_unload()
    return clone
