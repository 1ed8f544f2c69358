"""The head reading unit-length text vectors (issue 22 probe).

The warm-up trains directions (a cosine loss), and SetFit's logistic head reads
the encoder's normalised vectors, while skbert's mean-pooling head reads the
raw mean of the token vectors, whose length varies from text to text (mean 4.2,
standard deviation 0.9 for the bundled MiniLM on GoEmotions). With a frozen
encoder, the logistic start on unit vectors ranked better than on raw ones in 9
of 9 runs (K = 8, 16, 32, seeds 0 to 2). This probe patches
``MultiLabelModel.forward`` so that, for a variant with ``"_unit": s`` (s > 0),
the pooled vector is scaled to length ``s`` before the dropout and the head, in
the head's start, the training epochs and prediction alike; otherwise as
``head_start_probe.py`` (start and fitted LRAP, micro- and macro-F1 on the first
N_TEST validation texts, 1 torch thread).

    SKBERT_CPU_PRECISION=fp32 python bench/quality/probes/unit_head_probe.py 16 0 \\
        '{"defaults": {}, "unit4": {"_unit": 4}}'
"""

from __future__ import annotations

import json
import sys

import torch
from head_start_probe import estimator_params, read_args, scores, start_hook

from skbert import _runner
from skbert._modeling import MultiLabelModel, mean_pool


def unit_forward(length: float):
    """``MultiLabelModel.forward`` with the mean-pooled vector scaled to ``length``."""
    real = MultiLabelModel.forward

    def forward(self, input_ids, attention_mask):
        if self.pooling != "mean":
            return real(self, input_ids, attention_mask)
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask)[0]
        pooled = torch.nn.functional.normalize(mean_pool(hidden.float(), attention_mask), dim=-1)
        return self.head(self.dropout(pooled * length))
    return forward


def main(argv: list[str]) -> None:
    k, seed, variants, X, Yd, test_texts, Yt = read_args(argv)
    from fewshot_probe import probe_fit
    real = _runner._init_head
    for name, variant in variants.items():
        seen = {}
        patches = [(_runner, "_init_head", start_hook(real, test_texts, Yt, seen))]
        if variant.get("_unit"):
            patches.append((MultiLabelModel, "forward", unit_forward(float(variant["_unit"]))))
        clf, fit_s = probe_fit(X, Yd, seed, estimator_params(variant), patches)
        out = dict(name=name, K=k, seed=seed, variant=variant, fit_s=round(fit_s, 1), **seen)
        if variant.get("_unit"):  # predict with the same forward the fit used
            saved = MultiLabelModel.forward
            MultiLabelModel.forward = unit_forward(float(variant["_unit"]))
            try:
                out.update(scores(clf, test_texts, Yt))
            finally:
                MultiLabelModel.forward = saved
        else:
            out.update(scores(clf, test_texts, Yt))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
