"""Prediction speed of a saved model: torch fp32 against ONNX fp32 and ONNX int8, on this CPU.

For each workload the script fine-tunes the default model (all-MiniLM-L6-v2,
mean pooling) briefly on a slice of a training file, saves it with
``save_pretrained``, and times ``predict_proba`` on held-out texts three ways:

* ``torch``: ``from_pretrained(folder, precision="fp32")``;
* ``onnx``: ``from_pretrained(folder, backend="onnx")`` (fp32, onnxruntime);
* ``onnx-int8``: ``from_pretrained(folder, backend="onnx", quantize=True)``
  (onnxruntime's dynamic int8 quantisation of the weights).

Each timing is the best of ``--repeats`` runs after one warm-up run, with torch
and onnxruntime on the same number of threads (``--threads``). It includes
tokenisation, batching (``predict_batch_size``) and the sigmoid, as a user
sees it. The first ONNX load of a folder exports it (reported as
``export_s``); later loads reuse the file. ``max |dp|`` is the largest
difference of any probability from torch fp32; ``flips`` the share of
(text, label) decisions at threshold 0.5 that differ from torch's.

Workloads (the defaults; paths relative to the repository root):

* GoEmotions: fine-tuned on the first ``--n-fit`` texts of
  ``goemotions/train.jsonl``, 1,000 texts of ``goemotions/validation.jsonl``
  predicted at ``max_length=128``;
* Reuters-21578: fine-tuned on the first ``--n-fit`` texts of
  ``reuters21578/train.jsonl`` (the folder has no test file), the 500 texts
  after row 7,000 of the same file predicted at ``max_length=256``.

Example::

    python bench/speed/onnx_speed.py --threads 2 --json bench/onnx_speed.json

Needs ``pip install "skbert[onnx]"``. On a shared machine other processes
compete for the cores: the load average before and after is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import read_jsonl  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "..", "shared", "data")


def timed(fn, repeats: int):
    """(best seconds of ``repeats`` runs after a warm-up, last result)."""
    out = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run_workload(name, fit_file, fit_n, test_file, test_offset, test_n, max_length, args):
    import numpy as np
    from sklearn.preprocessing import MultiLabelBinarizer

    from skbert import TransformerMultiLabelClassifier

    X_fit, y_fit = read_jsonl(fit_file, 0, fit_n)
    X_test, _ = read_jsonl(test_file, test_offset, test_n)
    labels_file = os.path.join(os.path.dirname(fit_file), "labels.txt")
    with open(labels_file, encoding="utf-8") as fh:
        classes = [line.strip() for line in fh if line.strip()]
    Y = MultiLabelBinarizer(classes=classes).fit_transform(y_fit)

    start = time.perf_counter()
    clf = TransformerMultiLabelClassifier(
        max_length=max_length, max_epochs=args.epochs, batch_size=16, learning_rate=5e-5,
        random_state=0, precision="fp32", device="cpu", fit_cache=False)
    with _quiet():
        clf.fit(X_fit, Y)
    fit_s = time.perf_counter() - start
    folder = os.path.join(args.workdir, name)
    clf.save_pretrained(folder)

    rows = {}
    torch_est = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu",
                                                                precision="fp32")
    t, ref = timed(lambda: torch_est.predict_proba(X_test), args.repeats)
    rows["torch"] = {"predict_s": t, "texts_per_s": len(X_test) / t}
    for variant, quantize in (("onnx", False), ("onnx-int8", True)):
        start = time.perf_counter()
        est = TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx",
                                                              quantize=quantize)
        export_s = time.perf_counter() - start
        t, proba = timed(lambda est=est: est.predict_proba(X_test), args.repeats)
        rows[variant] = {
            "predict_s": t, "texts_per_s": len(X_test) / t, "export_s": export_s,
            "speedup": rows["torch"]["predict_s"] / t,
            "max_abs_proba_diff": float(np.abs(proba - ref).max()),
            "flips": float(((proba >= 0.5) != (ref >= 0.5)).mean()),
            "file_mb": os.path.getsize(est.model_.path) / 1e6,
        }
    return {"workload": name, "n_fit": len(X_fit), "epochs": args.epochs,
            "n_test": len(X_test), "max_length": max_length, "n_labels": len(classes),
            "fit_s": fit_s, "results": rows}


class _quiet:
    """Hide the fit's warnings (e.g. labels without positives in a small slice)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=DATA, help="folder holding goemotions/ and reuters21578/")
    p.add_argument("--n-fit", type=int, default=256, help="texts fine-tuned on (default: 256)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2,
                   help="torch and onnxruntime threads (default: 2)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs after a warm-up")
    p.add_argument("--workloads", default="goemotions,reuters")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)

    import onnxruntime
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    workloads = {
        "goemotions": (os.path.join(args.data, "goemotions", "train.jsonl"), args.n_fit,
                       os.path.join(args.data, "goemotions", "validation.jsonl"), 0, 1000, 128),
        "reuters": (os.path.join(args.data, "reuters21578", "train.jsonl"), args.n_fit,
                    os.path.join(args.data, "reuters21578", "train.jsonl"), 7000, 500, 256),
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="skbert-onnx-bench-") as workdir:
        args.workdir = workdir
        for name in args.workloads.split(","):
            results.append(run_workload(name, *workloads[name], args))
    load_after = os.getloadavg()

    print(f"\nCPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{args.threads} threads; torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}, transformers {transformers.__version__}")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} "
          "(other processes on the machine)")
    for r in results:
        print(f"\n{r['workload']}: {r['n_test']} texts at max_length {r['max_length']}, "
              f"{r['n_labels']} labels; model fine-tuned {r['epochs']} epoch on {r['n_fit']} "
              f"texts ({r['fit_s']:.0f} s)")
        print(f"{'':<10}{'texts/s':>9}{'predict s':>11}{'speed-up':>10}{'max |dp|':>10}"
              f"{'flips':>8}{'export s':>10}{'MB':>7}")
        for variant, row in r["results"].items():
            nan = float("nan")
            print(f"{variant:<10}{row['texts_per_s']:>9.1f}{row['predict_s']:>11.2f}"
                  f"{row.get('speedup', 1.0):>9.2f}x"
                  f"{row.get('max_abs_proba_diff', 0.0):>10.1e}{row.get('flips', 0.0):>8.2%}"
                  f"{row.get('export_s', nan):>10.1f}{row.get('file_mb', nan):>7.1f}")
    if args.json:
        meta = {"threads": args.threads, "torch": torch.__version__,
                "onnxruntime": onnxruntime.__version__, "transformers": transformers.__version__,
                "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                "loadavg_before": load_before, "loadavg_after": load_after}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "workloads": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
