"""Should the head's start compete with the trained epochs? (issue 22 probe)

After a contrastive warm-up the logistic head start alone sometimes ranks the
test texts better than the fitted model (``head_start_probe.py``: K=8). This
probe fits ``TransformerMultiLabelClassifier(threshold="auto", max_length=64,
random_state=SEED, fit_cache=False, **params)`` once per variant; a variant
whose JSON has ``"_epoch0": true`` also scores the model on the validation
split right before the first epoch (the objective the loop uses:
``scoring``, else the loss) and offers it to the epoch selection as epoch 0,
so the start is kept when the validation split prefers it. Prints one JSON
line per variant: the kept epoch, the start's and the fitted model's LRAP on
the first N_TEST validation texts, micro- and macro-F1. 1 torch thread.

    python bench/quality/probes/epoch0_probe.py 8 0 '{"defaults": {},
        "lrap": {"scoring": "lrap"}, "lrap_e0": {"scoring": "lrap", "_epoch0": true}}'
"""

from __future__ import annotations

import json
import sys

import torch
from fewshot_probe import probe_fit, probe_sample
from head_start_probe import start_hook
from sklearn.metrics import f1_score
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert import _runner, _training
from skbert._training import predict_logits


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed, variants = int(argv[0]), int(argv[1]), json.loads(argv[2])
    n_test = int(argv[3]) if len(argv) > 3 else 2000
    X, Yd, test_texts, Yt = probe_sample(k, seed, n_test)
    real_head, real_epoch = _runner._init_head, _training._run_one_epoch
    for name, params in variants.items():
        params = dict(params)
        epoch0 = bool(params.pop("_epoch0", False))
        seen = {}

        head_hook = start_hook(real_head, test_texts, Yt, seen)

        def epoch_hook(state, epoch):
            config, data = state.config, state.data
            if epoch0 and epoch == 1 and data.valid is not None:
                logits = predict_logits(state.model, data.valid, data.pad_id, config)
                if config.score_fn is not None:
                    value = float(config.score_fn(data.Y_valid, logits))
                else:
                    value = -_training._bce(data.Y_valid, logits, data.pos_weight)
                state.selection.consider(0, value, state.model, logits, config.tol)
                seen["start_valid_objective"] = round(value, 4)
            return real_epoch(state, epoch)

        clf, fit_s = probe_fit(X, Yd, seed, params, [
            (_runner, "_init_head", head_hook), (_training, "_run_one_epoch", epoch_hook)])
        P = clf.predict_proba(test_texts)
        pred = clf.predict(test_texts)
        objective = [r.get("valid_score") if r.get("valid_score") is not None
                     else -r["valid_loss"] for r in clf.history_]
        print(json.dumps(dict(
            name=name, K=k, seed=seed, params=params, epoch0=epoch0, fit_s=round(fit_s, 1),
            best_epoch=clf.best_epoch_, valid_objective=[round(v, 4) for v in objective],
            **seen, lrap=round(lrap(Yt, P), 4),
            micro=round(f1_score(Yt, pred, average="micro", zero_division=0), 4),
            macro=round(f1_score(Yt, pred, average="macro", zero_division=0), 4),
            min_labels=clf.min_labels_, n_test=n_test)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
