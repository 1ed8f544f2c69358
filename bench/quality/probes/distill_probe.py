"""Train toward the start's own probabilities as well as the labels (issue 22 probe).

Self-distillation from the start: the BCE epochs of the defaults take as targets
``(1 - BETA) * Y + BETA * sigmoid(start logits)`` on the training texts, where
the start is the model right after its head starts (the logistic regression,
C=0.5, on the warmed encoder: strongly regularised, so its probabilities on the
training texts are soft and carry its ranking of the other labels). The
validation split (early stopping, thresholds) keeps the 0/1 labels. Patches
``skbert._runner.train`` in this process only; otherwise as
``head_start_probe.py``. Prints one JSON line per variant; a variant is a JSON
object of estimator parameters plus ``"beta"`` (and ``"mode"``, see
:func:`soft_targets`). Runs on 1 torch thread.

    python bench/quality/probes/distill_probe.py 8 0 '{"d05": {"beta": 0.5}}'
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from fewshot_probe import probe_fit, probe_sample
from head_start_probe import scores, start_hook
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert import _runner
from skbert._training import predict_logits


def soft_targets(real_train, beta: float, seen: dict, mode: str = "mix"):
    """A stand-in for ``_runner.train`` that mixes the start's probabilities into Y_train:
    ``mode="mix"`` as the module says; ``"negatives"`` keeps each label a text has at 1 and
    gives the others ``BETA * sigmoid(start logits)``."""
    def run(model, train_enc, Y_train, *args, **kwargs):
        logits = predict_logits(model, train_enc, kwargs["pad_id"], kwargs["config"])
        start = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        seen["start_train_lrap"] = round(lrap(Y_train > 0.5, start), 4)
        seen["start_mean_pos_proba"] = round(float(start[Y_train > 0.5].mean()), 3)
        seen["start_mean_neg_proba"] = round(float(start[Y_train <= 0.5].mean()), 4)
        mixed = ((1.0 - beta) * Y_train + beta * start if mode == "mix"
                 else np.where(Y_train > 0.5, Y_train, np.minimum(beta * start, 1.0))
                 ).astype(Y_train.dtype)
        return real_train(model, train_enc, mixed, *args, **kwargs)
    return run


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed, variants = int(argv[0]), int(argv[1]), json.loads(argv[2])
    X, Yd, texts, Yt = probe_sample(k, seed, 2000)
    for name, params in variants.items():
        params = dict(params)
        beta = float(params.pop("beta"))
        mode = params.pop("mode", "mix")
        seen = {}
        clf, fit_s = probe_fit(X, Yd, seed, params, [
            (_runner, "_init_head", start_hook(_runner._init_head, texts, Yt, seen)),
            (_runner, "train", soft_targets(_runner.train, beta, seen, mode))])
        print(json.dumps(dict(
            name=name, K=k, seed=seed, params=params, beta=beta, mode=mode,
            fit_s=round(fit_s, 1), **seen, **scores(clf, texts, Yt))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
