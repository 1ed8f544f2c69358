"""Would interpolating the start's weights with the fitted model's rank better? (issue 22 probe)

Weight-space ensembling (WiSE-FT, Wortsman et al. 2022): fits the defaults once
(``fewshot_probe.probe_fit``) with a hook that keeps a copy of the model's
weights right after the head starts (the logistic head on the warmed encoder,
before BCE), then scores the model whose weights are ``a * start + (1 - a) *
fitted`` on the first 2,000 validation texts for ``a`` in 0.3, 0.5 and 0.7: one
encoder at predict time, unlike ``blend_probe``. LRAP only (the thresholds were
tuned for ``a = 0``). One JSON line.

    python bench/quality/probes/wise_probe.py 8 0 '{}'
"""

from __future__ import annotations

import inspect
import json
import sys

import torch
from fewshot_probe import probe_fit, probe_sample
from head_start_probe import start_hook
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert import _runner


def keep_weights(hook, kept: dict):
    """``hook``, then a copy of the model's weights in ``kept["start"]``."""
    signature = inspect.signature(_runner._init_head)

    def wrapped(*args, **kwargs):
        hook(*args, **kwargs)
        model = signature.bind(*args, **kwargs).arguments["model"]
        kept["start"] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    return wrapped


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed = int(argv[0]), int(argv[1])
    params = json.loads(argv[2]) if len(argv) > 2 else {}
    X, Yd, test_texts, Yt = probe_sample(k, seed, 2000)
    kept, seen = {}, {}
    hook = keep_weights(start_hook(_runner._init_head, test_texts, Yt, seen), kept)
    clf, fit_s = probe_fit(X, Yd, seed, params, [(_runner, "_init_head", hook)])
    fitted = {k: v.detach().clone() for k, v in clf.model_.state_dict().items()}
    out = dict(K=k, seed=seed, params=params, fit_s=round(fit_s, 1),
               start=seen["start_lrap"], final=round(lrap(Yt, clf.predict_proba(test_texts)), 4))
    for a in (0.3, 0.5, 0.7):
        mixed = {name: (a * kept["start"][name].float() + (1 - a) * w.float()).to(w.dtype)
                 if w.is_floating_point() else w for name, w in fitted.items()}
        clf.model_.load_state_dict(mixed)
        out[f"wise_{a}"] = round(lrap(Yt, clf.predict_proba(test_texts)), 4)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
