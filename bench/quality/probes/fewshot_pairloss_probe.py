"""``fewshot_probe.py`` with SetFit's in-batch cosine-similarity pair loss added to BCE.

A probe for issue 22. It patches skbert in this process only, then runs the same
fit as ``fewshot_probe.py`` (its :func:`~fewshot_probe.main`) and prints the same
JSON line:

* ``MultiLabelModel.forward`` (mean pooling) keeps the pooled vector of the batch
  while training;
* the loss (``torch.nn.BCEWithLogitsLoss``, as looked up by ``skbert._training``)
  becomes a subclass that adds ``WEIGHT *`` the pair loss over every pair of the
  batch: cosine similarity S of the pooled vectors, positives = two texts that
  share a label, mean of ``(S - 1) ** 2`` over positives and mean of ``S ** 2``
  over negatives, averaged over the kinds present.

    python bench/quality/probes/fewshot_pairloss_probe.py 16 0 '{}' 2000 1.0
"""

from __future__ import annotations

import json

import torch
from fewshot_probe import build_parser
from fewshot_probe import main as fewshot_main
from torch import nn

import skbert._modeling as M
import skbert._training as T

_STASH: dict[str, torch.Tensor] = {}
_ORIG_FORWARD = M.MultiLabelModel.forward


def forward(self, input_ids, attention_mask):
    """``MultiLabelModel.forward`` that keeps the mean-pooled vector while training."""
    if self.pooling == "cls":
        return _ORIG_FORWARD(self, input_ids, attention_mask)
    hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask)[0]
    pooled = M.mean_pool(hidden.float(), attention_mask)
    if self.training:
        _STASH["z"] = pooled
    return self.head(self.dropout(pooled))


class PairBCE(nn.BCEWithLogitsLoss):
    """BCE with logits plus ``pair_weight`` times SetFit's cosine-similarity pair loss."""

    pair_weight = 1.0

    def forward(self, logits, y):
        per = super().forward(logits, y)
        z = _STASH.pop("z", None)
        if z is None or z.shape[0] != y.shape[0] or z.shape[0] < 2:
            return per
        zn = nn.functional.normalize(z, dim=1)
        S = zn @ zn.T
        share = (y @ y.T > 0).float()
        off = 1 - torch.eye(len(y), device=y.device)
        pos, neg = share * off, (1 - share) * off
        terms = []
        if pos.sum() > 0:
            terms.append(((S - 1) ** 2 * pos).sum() / pos.sum())
        if neg.sum() > 0:
            terms.append((S ** 2 * neg).sum() / neg.sum())
        pair = sum(terms) / len(terms)
        return per + self.pair_weight * pair


def install(weight: float) -> None:
    """Patch skbert (this process only): the pooled-vector stash and the pair loss."""
    PairBCE.pair_weight = weight
    M.MultiLabelModel.forward = forward
    T.nn.BCEWithLogitsLoss = PairBCE


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv``, patch skbert with the pair loss and run ``fewshot_probe.main``."""
    ap = build_parser(__doc__)
    ap.add_argument("weight", type=float, nargs="?", default=1.0, metavar="WEIGHT",
                    help="weight of the pair loss added to BCE (default: 1.0)")
    args = ap.parse_args(argv)
    install(args.weight)
    fewshot_main([str(args.k), str(args.seed), json.dumps(args.params), str(args.n_test),
                  "--data", args.data])


if __name__ == "__main__":
    main()
