"""The logistic start's shrinkage against what fine-tuning keeps of it (issue 22 probe).

The first training epoch loses most of the start's ranking (K=8, seed 0: LRAP
0.544 at the start, 0.466 after one epoch). One reading: the start's
regression is shrunk hard (``C=0.5`` on unit-scaled vectors), so its
probabilities sit near the label frequencies, the BCE gradients of the first
steps are large, and the encoder moves far to fit them. A start fitted with
less shrinkage is nearer the BCE optimum on the training texts and sends
smaller gradients. This fits the defaults once per variant, as
``head_start_probe`` does, with ``_label_init.LOGISTIC_C`` set to the
variant's ``"_C"`` (the other keys are estimator parameters), and prints the
start's LRAP and the fitted model's LRAP, micro- and macro-F1.

    python bench/quality/probes/head_c_probe.py 8 0 '{"c0.5": {}, "c8": {"_C": 8}}'
"""

from __future__ import annotations

import json
import sys

from fewshot_probe import probe_fit
from head_start_probe import estimator_params, read_args, scores, start_hook

from skbert import _label_init, _runner


def main(argv: list[str]) -> None:
    k, seed, variants, X, Yd, test_texts, Yt = read_args(argv)
    real = _runner._init_head
    for name, variant in variants.items():
        params = estimator_params(variant)
        C = float(variant.get("_C", _label_init.LOGISTIC_C))
        seen = {}
        clf, fit_s = probe_fit(X, Yd, seed, params, [
            (_runner, "_init_head", start_hook(real, test_texts, Yt, seen)),
            (_label_init, "LOGISTIC_C", C)])
        print(json.dumps(dict(name=name, K=k, seed=seed, C=C, params=params,
                              fit_s=round(fit_s, 1), **seen, **scores(clf, test_texts, Yt))),
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
