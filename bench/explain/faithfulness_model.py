"""Fine-tune the model that explain_faithfulness.py (or vs_transformers_interpret.py) explains.

The bundled model with ``TransformerMultiLabelClassifier()``'s defaults (3 epochs,
max_length 128, truncation, ``pooling="auto"``), ``random_state=0``, CPU, on the
lines ``--offset .. --offset + --n-train`` of ``--data/--split`` (Y a pandas
DataFrame whose columns are the names of ``labels.txt``), then
``save_pretrained(--save)``. ``--pooling cls`` gives a folder that
transformers' ``AutoModelForSequenceClassification`` can load (for
transformers-interpret). Prints what it did and writes it to ``--json``.

Examples::

    OMP_NUM_THREADS=1 python bench/explain/faithfulness_model.py --threads 1 \\
        --data ../shared/data/goemotions --n-train 5000 --save /tmp/faith_goemo \\
        --json bench/results/explain/faith_goemo_model.json
    # Reuters: no validation split; fit on the first 80 % (or a subset of it), explain the last 20 %
    OMP_NUM_THREADS=1 python bench/explain/faithfulness_model.py --threads 1 \\
        --data ../shared/data/reuters21578 --n-train 3000 --save /tmp/faith_reuters
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import machine, read_jsonl, record  # noqa: E402


def label_names(data):
    with open(os.path.join(data, "labels.txt"), encoding="utf-8") as fh:
        return [x.strip() for x in fh if x.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/goemotions")
    ap.add_argument("--split", default="train.jsonl")
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--pooling", default=None, help="default: the estimator's ('auto')")
    ap.add_argument("--max-epochs", type=int, default=None, help="default: the estimator's (3)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", required=True)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import pandas as pd

    from skbert import TransformerMultiLabelClassifier

    names = label_names(args.data)
    X, labels = read_jsonl(os.path.join(args.data, args.split), offset=args.offset, n=args.n_train)
    Y = pd.DataFrame([[int(n in row) for n in names] for row in labels], columns=names)
    params = {"device": "cpu", "random_state": 0}
    if args.pooling:
        params["pooling"] = args.pooling
    if args.max_epochs:
        params["max_epochs"] = args.max_epochs
    clf = TransformerMultiLabelClassifier(**params)
    t = time.perf_counter()
    clf.fit(X, Y)
    took = time.perf_counter() - t
    clf.save_pretrained(args.save)
    rec = {
        "data": os.path.join(args.data, args.split), "offset": args.offset, "n_train": len(X),
        "labels_with_positives": int((Y.sum(axis=0) > 0).sum()), "n_labels": len(names),
        "params_set": params, "params": {k: v for k, v in clf.get_params().items()
                                         if isinstance(v, (int, float, str, bool, type(None)))},
        "fit_seconds": took, "saved": args.save, "load_average_after": os.getloadavg(),
    }
    print(f"fine-tuned {clf.model_name_or_path} on {len(X)} texts of {rec['data']} "
          f"(lines {args.offset}..), {clf.max_epochs} epochs, max_length {clf.max_length}, "
          f"pooling {clf.pooling}, {len(names)} labels ({rec['labels_with_positives']} seen) "
          f"in {took:.0f} s; saved to {args.save}; load average {os.getloadavg()}")
    if args.json:
        record(args.json, rec, args, machine_info=machine(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
