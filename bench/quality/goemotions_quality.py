"""MiniLM fine-tuned on GoEmotions: micro/macro-F1 at threshold 0.5 and "auto", and speed.

Trains the default model on the first ``--n-train`` documents of
``goemotions/train.jsonl`` and scores on its validation split, once; the same
fitted model is scored at threshold 0.5 and with the per-label thresholds it
tuned on its 10 % validation split (``threshold="auto"``), so the two rows differ
only in thresholds. Prints training and prediction samples/s on this machine.

    python bench/quality/goemotions_quality.py --data ../shared/data/goemotions --n-train 4000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
from sklearn.metrics import f1_score, label_ranking_average_precision_score

from skbert import TransformerMultiLabelClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)


def read_jsonl(path, labels, n=None):
    texts, Y = [], []
    index = {name: i for i, name in enumerate(labels)}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            row = np.zeros(len(labels), dtype=np.int64)
            row[[index[name] for name in doc["labels"]]] = 1
            texts.append(doc["text"])
            Y.append(row)
            if n is not None and len(texts) >= n:
                break
    return texts, np.asarray(Y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train.jsonl, validation.jsonl")
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=None, help="default: the whole split")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--learning-rate", type=float, default=3e-4)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    with open(os.path.join(args.data, "labels.txt"), encoding="utf-8") as fh:
        labels = [line.strip() for line in fh if line.strip()]
    X, Y = read_jsonl(os.path.join(args.data, "train.jsonl"), labels, args.n_train)
    Xv, Yv = read_jsonl(os.path.join(args.data, "validation.jsonl"), labels, args.n_test)
    kw = {} if args.model is None else {"model_name_or_path": args.model}
    clf = TransformerMultiLabelClassifier(
        **kw, max_epochs=args.epochs, learning_rate=args.learning_rate,
        max_length=args.max_length, batch_size=args.batch_size, threshold="auto",
        random_state=0, fit_cache=False)
    t = time.perf_counter()
    clf.fit(X, Y)
    fit_s = time.perf_counter() - t
    n_trained = int(round(len(X) * (1 - clf.validation_fraction)))
    t = time.perf_counter()
    proba = clf.predict_proba(Xv)
    pred_s = time.perf_counter() - t
    rows = {}
    for name, thr in [("0.5", 0.5), ("auto", clf.thresholds_)]:
        P = (proba >= thr).astype(int)
        rows[name] = {"micro_f1": f1_score(Yv, P, average="micro", zero_division=0),
                      "macro_f1": f1_score(Yv, P, average="macro", zero_division=0)}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"torch {torch.__version__}, precision {clf.precision_}",
        "n_train": len(X), "n_trained_on": n_trained, "n_valid_split": len(X) - n_trained,
        "n_test": len(Xv), "epochs": clf.n_epochs_,
        "lrap": label_ranking_average_precision_score(Yv, proba),
        "fit_s": fit_s, "train_samples_per_s": n_trained * clf.n_epochs_ / fit_s,
        "predict_s": pred_s, "predict_samples_per_s": len(Xv) / pred_s, "thresholds": rows,
    }
    print(f"GoEmotions: trained on {n_trained} of the first {len(X)} train documents "
          f"({clf.n_epochs_} epochs, max_length {args.max_length}, batch {args.batch_size}, "
          f"lr {args.learning_rate}), scored on {len(Xv)} validation documents; "
          f"{result['machine']}")
    print("| threshold | micro-F1 | macro-F1 |\n|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['micro_f1']:.3f} | {r['macro_f1']:.3f} |")
    print(f"LRAP {result['lrap']:.3f}; training {result['train_samples_per_s']:.1f} samples/s "
          f"({fit_s:.0f} s, model loading and validation included); prediction "
          f"{result['predict_samples_per_s']:.0f} samples/s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
