"""A per-text softmax term beside BCE in the training loss (issue 22 probe).

LRAP scores how each text ranks the labels; BCE trains each label on its own.
This adds ``LAMBDA`` times the cross-entropy between each text's softmax over the
labels and its labels spread evenly (``y / y.sum()``; a text with no label adds
nothing) to the per-element BCE of the training loop, so the loss is the mean
BCE plus ``LAMBDA`` times the mean cross-entropy. Patches ``torch.nn.BCEWithLogitsLoss``
in this process only (the training loop builds it per fit); the validation loss,
thresholds and the contrastive warm-up are as before. Otherwise as
``head_start_probe.py``. A variant is a JSON object of estimator parameters plus
``"lambda"``. Runs on 1 torch thread.

    python bench/quality/probes/softmax_probe.py 8 0 '{"sm01": {"lambda": 0.1}}'
"""

from __future__ import annotations

import json
import sys

import torch
from fewshot_probe import probe_fit, probe_sample
from head_start_probe import scores, start_hook
from torch import nn

from skbert import _runner

REAL_BCE = nn.BCEWithLogitsLoss


def with_softmax(lam: float):
    """A stand-in for ``nn.BCEWithLogitsLoss(pos_weight=..., reduction="none")`` whose
    per-element loss is BCE plus ``lam`` times the text's softmax cross-entropy."""
    class Mixed(nn.Module):
        def __init__(self, pos_weight=None, reduction="none"):
            super().__init__()
            self.bce = REAL_BCE(pos_weight=pos_weight, reduction=reduction)

        def forward(self, logits, target):
            bce = self.bce(logits, target)
            share = target / target.sum(dim=1, keepdim=True).clamp(min=1.0)
            ce = -(share * torch.log_softmax(logits.float(), dim=1)).sum(dim=1, keepdim=True)
            return bce + lam * ce.to(bce.dtype)  # every element carries its text's term

    return Mixed


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed, variants = int(argv[0]), int(argv[1]), json.loads(argv[2])
    X, Yd, texts, Yt = probe_sample(k, seed, int(argv[3]) if len(argv) > 3 else 2000)
    for name, params in variants.items():
        params = dict(params)
        lam = float(params.pop("lambda"))
        seen = {}
        nn.BCEWithLogitsLoss = with_softmax(lam) if lam else REAL_BCE
        try:
            clf, fit_s = probe_fit(X, Yd, seed, params, [
                (_runner, "_init_head", start_hook(_runner._init_head, texts, Yt, seen))])
        finally:
            nn.BCEWithLogitsLoss = REAL_BCE
        print(json.dumps(dict(
            name=name, K=k, seed=seed, params=params, **{"lambda": lam},
            fit_s=round(fit_s, 1), **seen, **scores(clf, texts, Yt))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
