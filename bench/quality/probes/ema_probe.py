"""A moving average of the weights over the training steps (issue 22 probe).

The training epochs lose part of the start's ranking and win some of it back
(K=8, seed 0: LRAP 0.544 at the start, 0.466 after one epoch, 0.507 after
three). An exponential moving average of the weights over the steps (EMA, as
in Polyak averaging) smooths that path with one encoder at predict time;
unlike ``wise_probe`` (the start and the end interpolated) it averages the
points the optimiser passed. Per variant, ``"_ema"`` is the decay (0: the
defaults as they are; the other keys are estimator parameters). A callback
starts the average after the first step and updates it after each; at the
end of ``fit`` the averaged weights replace the fitted ones. The thresholds
stay those tuned on the fitted weights, so only ``lrap`` compares between
variants; ``lrap_end`` is the fitted weights' own LRAP.

    python bench/quality/probes/ema_probe.py 8 0 '{"ema0.9": {"_ema": 0.9}}'
"""

from __future__ import annotations

import json
import sys

import torch
from fewshot_probe import probe_fit
from head_start_probe import estimator_params, read_args, scores, start_hook
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert import _runner


class Average:
    """Keeps the moving average of the model's floating-point weights."""

    uses_loop_state = True

    def __init__(self, decay: float):
        self.decay, self.shadow, self.steps = decay, None, 0

    def on_batch_end(self, estimator, batch, state=None):
        weights = state.model.state_dict()
        self.steps += 1
        if self.shadow is None:
            self.shadow = {k: v.detach().clone().float() for k, v in weights.items()
                           if v.is_floating_point()}
            return
        with torch.no_grad():
            for k, avg in self.shadow.items():
                avg.mul_(self.decay).add_(weights[k].float(), alpha=1 - self.decay)

    def swap_in(self, model):
        current = model.state_dict()
        model.load_state_dict({k: self.shadow.get(k, v).to(v.dtype) for k, v in current.items()})


def main(argv: list[str]) -> None:
    k, seed, variants, X, Yd, test_texts, Yt = read_args(argv)
    real = _runner._init_head
    for name, variant in variants.items():
        params = estimator_params(variant)
        decay = float(variant.get("_ema", 0))
        average = Average(decay)
        if decay:
            params["callbacks"] = [average]
        seen = {}
        clf, fit_s = probe_fit(X, Yd, seed, params, [
            (_runner, "_init_head", start_hook(real, test_texts, Yt, seen))])
        if decay:
            seen["lrap_end"] = round(lrap(Yt, clf.predict_proba(test_texts)), 4)
            average.swap_in(clf.model_)
        params.pop("callbacks", None)
        print(json.dumps(dict(name=name, K=k, seed=seed, ema=decay, steps=average.steps,
                              params=params, fit_s=round(fit_s, 1), **seen,
                              **scores(clf, test_texts, Yt))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
