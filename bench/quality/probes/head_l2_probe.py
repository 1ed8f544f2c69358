"""The logistic start's shrinkage kept in the training loss (issue 22 probe).

The encoder frozen after the start, three BCE epochs on the head alone still
lose most of the start's ranking (``frozen_head_probe.py``, K=8, seed 0: LRAP
0.544 at the start, 0.503 after): the start is the optimum of an
L2-regularised logistic loss (``C`` on centred vectors divided by their mean
length, :func:`skbert._label_init.logistic_head`) and BCE without that
penalty moves the head toward the unshrunk optimum, which fits the few
training texts. Here the training loss carries the start's own penalty: for
the head's weight ``W`` (n_labels, n_features), ``f * scale**2 *
||W||**2 / (2 * C * n * n_labels)``, ``n`` the texts the start was fitted on,
``scale`` their mean centred length and ``f`` the variant's ``"_l2"`` (1: the
start's objective exactly, so with a frozen encoder the head would stay where
it starts). Added as a gradient hook on ``W``. As ``head_start_probe`` does,
prints the start's LRAP and the fitted model's LRAP, micro- and macro-F1.

    python bench/quality/probes/head_l2_probe.py 8 0 '{"defaults": {}, "l2": {"_l2": 1}}'
"""

from __future__ import annotations

import json
import sys

import numpy as np
from fewshot_probe import probe_fit
from head_start_probe import estimator_params, read_args, scores, start_hook

from skbert import _label_init, _runner


def main(argv: list[str]) -> None:
    k, seed, variants, X, Yd, test_texts, Yt = read_args(argv)
    real_init, real_logistic = _runner._init_head, _label_init.logistic_head
    for name, variant in variants.items():
        params = estimator_params(variant)
        factor = float(variant.get("_l2", 0.0))
        fitted_on = {}

        def logistic(features, Y, sample_weight=None, C=None):
            f = np.asarray(features, dtype=np.float64)
            counted = (len(f) if sample_weight is None
                       else int((np.asarray(sample_weight) > 0).sum()))
            fitted_on.update(scale=float(np.linalg.norm(f - f.mean(0), axis=1).mean()) or 1.0,
                             n=counted, C=_label_init.LOGISTIC_C if C is None else C)
            return real_logistic(features, Y, sample_weight, C)

        def penalised(hook):
            def run(est, model, *args, **kwargs):
                hook(est, model, *args, **kwargs)
                if factor and fitted_on:
                    weight = model.output_layer().weight
                    coef = factor * fitted_on["scale"] ** 2 / (
                        fitted_on["C"] * fitted_on["n"] * weight.shape[0])
                    fitted_on["coef"] = coef
                    weight.register_hook(lambda g, w=weight, c=coef: g + c * w.detach())
            return run

        seen = {}
        clf, fit_s = probe_fit(X, Yd, seed, params, [
            (_runner, "_init_head", penalised(start_hook(real_init, test_texts, Yt, seen))),
            (_label_init, "logistic_head", logistic)])
        print(json.dumps(dict(name=name, K=k, seed=seed, l2=factor, params=params,
                              fitted_on={a: round(b, 6) for a, b in fitted_on.items()},
                              fit_s=round(fit_s, 1), **seen, **scores(clf, test_texts, Yt))),
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
