"""Wall time of a grid search over thresholds: reused fine-tuning vs re-training.

``GridSearchCV(clf, {"threshold": [0.2, 0.3, 0.4, 0.5]}, cv=3, scoring="f1_micro")``
on the bundled GoEmotions sample, once with ``fit_cache=True`` (the default:
one fine-tuning per fold plus the refit) and once with ``fit_cache=False``
(one per candidate and fold plus the refit), counting the fine-tuning runs and
checking that both searches score the same.

    python bench/speed/threshold_search.py --n-train 600
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from sklearn.model_selection import GridSearchCV

import skbert
import skbert._estimator as est_module
from skbert import TransformerMultiLabelClassifier
from skbert.datasets import load_goemotions

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    data = load_goemotions()
    X, Y = data.data[:args.n_train], data.target[:args.n_train]
    grid = {"threshold": [0.2, 0.3, 0.4, 0.5]}
    real_train, runs = est_module.train, []

    def counting_train(*a, **k):
        runs.append(1)
        return real_train(*a, **k)

    est_module.train = counting_train
    kw = {} if args.model is None else {"model_name_or_path": args.model}
    results = {}
    for cache in (True, False):
        skbert.clear_fit_cache()
        runs.clear()
        clf = TransformerMultiLabelClassifier(**kw, max_epochs=args.epochs, learning_rate=3e-4,
                                              max_length=64, random_state=0, fit_cache=cache)
        search = GridSearchCV(clf, grid, cv=3, scoring="f1_micro")
        t = time.perf_counter()
        search.fit(X, Y)
        results[cache] = (time.perf_counter() - t, len(runs),
                          search.cv_results_["mean_test_score"])
    est_module.train = real_train
    print(f"GridSearchCV over 4 thresholds, cv=3, {len(X)} GoEmotions texts, "
          f"{args.epochs} epoch(s), MiniLM, max_length 64")
    print("| fit_cache | fine-tuning runs | wall time s | mean_test_score per threshold |")
    print("|---|---|---|---|")
    for cache, (secs, n, scores) in results.items():
        print(f"| {cache} | {n} | {secs:.0f} | {np.round(scores, 4).tolist()} |")
    same = np.allclose(results[True][2], results[False][2])
    print(f"speed-up {results[False][0] / results[True][0]:.2f}x; identical scores: {same}")


if __name__ == "__main__":
    main()
