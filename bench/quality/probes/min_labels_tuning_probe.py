"""Should ``threshold="auto"`` tune its shared threshold with ``min_labels`` applied? (issue 22)

With ``min_labels="auto"`` (every GoEmotions text has a label, so 1) ``predict``
adds each text's best label when none passes the threshold tuned by
``"f1_micro_global"``, but that threshold was tuned as if empty answers stayed
empty. This probe samples K GoEmotions texts per label as ``fewshot_probe``
does, fits the defaults once (``threshold="auto"``, 64 tokens, 1 torch
thread), captures the validation split's labels and probabilities from the
fit's ``tune_thresholds`` call, and scores the first N_TEST validation texts
(the test set) with

* ``tuned``: the fit's threshold with ``min_labels=1`` (what ``predict`` does now);
* ``tuned_min1``: the shared threshold that maximises validation micro-F1 *of
  the predictions with min_labels=1*, then applied with ``min_labels=1``.

Prints one JSON line per seed.

    python bench/quality/probes/min_labels_tuning_probe.py 16 0,1,2 2000
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from fewshot_probe import probe_fit, probe_sample
from sklearn.metrics import f1_score

from skbert import _runner
from skbert._thresholds import at_least


def best_threshold_with_min_labels(Y: np.ndarray, P: np.ndarray, k: int = 1) -> float:
    """The shared threshold maximising micro-F1 of ``at_least(P, t, k)`` on ``(Y, P)``."""
    candidates = np.unique(np.concatenate([P.ravel(), [0.5]]))
    best, best_t = -1.0, 0.5
    for t in candidates[::max(1, len(candidates) // 2000)]:
        f1 = f1_score(Y, at_least(P, t, k), average="micro", zero_division=0)
        if f1 > best + 1e-12:
            best, best_t = f1, float(t)
    return best_t


def scores(Y, pred) -> dict:
    return {"micro": round(f1_score(Y, pred, average="micro", zero_division=0), 4),
            "macro": round(f1_score(Y, pred, average="macro", zero_division=0), 4),
            "subset": round(float((np.asarray(pred) == Y).all(axis=1).mean()), 4)}


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seeds = int(argv[0]), [int(s) for s in argv[1].split(",")]
    n_test = int(argv[2]) if len(argv) > 2 else 2000
    real = _runner.tune_thresholds
    for seed in seeds:
        X, Yd, test_texts, Yt = probe_sample(k, seed, n_test)
        captured = {}

        def capture(Y_valid, proba, **kwargs):
            captured["Y"], captured["P"] = np.asarray(Y_valid), np.asarray(proba)
            return real(Y_valid, proba, **kwargs)

        clf, fit_s = probe_fit(X, Yd, seed, patches=[(_runner, "tune_thresholds", capture)])
        P = clf.predict_proba(test_texts)
        tuned = float(np.asarray(clf.thresholds_)[0])
        t1 = best_threshold_with_min_labels(captured["Y"], captured["P"], 1)
        print(json.dumps(dict(
            K=k, seed=seed, fit_s=round(fit_s, 1), n_valid=len(captured["Y"]),
            tuned_threshold=round(tuned, 4), tuned_min1_threshold=round(t1, 4),
            tuned=scores(Yt, at_least(P, tuned, 1)), tuned_min1=scores(Yt, at_least(P, t1, 1)),
            tuned_no_min=scores(Yt, P >= tuned), n_test=n_test)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
