"""Draw the figures of the documentation into docs/generated/ (offline, seconds).

Run by conf.py at build time when a figure is missing or older than this script
or skbert/plotting.py; run it by hand with ``python docs/make_plots.py``.

* ``history.png``: a tiny random 2-layer BERT (built here, no download)
  fine-tuned for a few epochs on a toy corpus whose keywords decide the labels,
  so the curves move the way real ones do.
* ``precision_recall.png`` and ``threshold_curve.png``: probabilities of the
  TF-IDF + logistic regression baseline of ``skbert demo`` on the bundled
  GoEmotions test part. They stand in for a fine-tuned model's, which would
  take minutes to produce; the helpers take any ``predict_proba`` output.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUT = Path(__file__).resolve().parent / "generated"
FIGURES = ("history.png", "precision_recall.png", "threshold_curve.png")
TOPICS = {"sports": ["football", "goal", "match", "team"],
          "politics": ["election", "vote", "senate", "policy"],
          "food": ["pizza", "recipe", "dinner", "cheese"],
          "tech": ["laptop", "software", "robot", "code"]}
FILLER = ["the", "a", "today", "we", "saw", "great", "news", "about", "and", "very", "new"]


def toy_corpus(n=240, seed=0):
    """Short texts whose keywords decide their 1-2 topics."""
    import numpy as np

    rng, names = random.Random(seed), list(TOPICS)
    texts, Y = [], np.zeros((n, len(names)), dtype=int)
    for i in range(n):
        words = rng.sample(FILLER, 3)
        for j in rng.sample(range(len(names)), 1 if i % 3 else 2):
            words += rng.sample(TOPICS[names[j]], 1)
            Y[i, j] = 1
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts, Y, names


def tiny_bert(folder: str) -> str:
    """A random 2-layer BERT with a whitespace WordLevel tokenizer, saved to ``folder``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w for ws in TOPICS.values() for w in ws} | set(FILLER))
    vocab = {tok: i for i, tok in enumerate(specials + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                            cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                            model_max_length=128).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=37)).save_pretrained(folder)
    return folder


def history_figure(path: Path) -> None:
    import pandas as pd

    from skbert import TransformerMultiLabelClassifier
    from skbert.plotting import plot_history

    texts, Y, names = toy_corpus()
    with tempfile.TemporaryDirectory() as tmp:
        clf = TransformerMultiLabelClassifier(
            tiny_bert(tmp), max_epochs=8, learning_rate=2e-3, batch_size=16, max_length=16,
            early_stopping=True, n_iter_no_change=8, validation_fraction=0.25,
            fit_cache=False, device="cpu", random_state=0)
        clf.fit(texts, pd.DataFrame(Y, columns=names))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    plot_history(clf, ax=ax)
    ax.set_title("Training history (tiny BERT, toy corpus)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def baseline_figures(pr_path: Path, threshold_path: Path) -> None:
    from skbert.cli import tfidf_baseline
    from skbert.datasets import load_goemotions
    from skbert.plotting import plot_precision_recall, plot_threshold_curve

    train, test = load_goemotions(subset="train"), load_goemotions(subset="test")
    proba = tfidf_baseline().fit(train.data, train.target).predict_proba(test.data)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    plot_precision_recall(test.target, proba, label_names=test.target_names, ax=ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    ax.set_title("Precision-recall, 10 most frequent GoEmotions labels")
    fig.tight_layout()
    fig.savefig(pr_path, dpi=110, bbox_inches="tight")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    plot_threshold_curve(test.target, proba, ax=ax)
    fig.tight_layout()
    fig.savefig(threshold_path, dpi=110)


def main() -> int:
    import warnings

    OUT.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history_figure(OUT / "history.png")
        baseline_figures(OUT / "precision_recall.png", OUT / "threshold_curve.png")
    plt.close("all")
    print(f"wrote {', '.join(FIGURES)} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
