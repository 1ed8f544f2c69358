"""Show that predict_proba streams: peak memory does not grow with the number of texts.

Fits a model once on skbert's bundled GoEmotions sample (by default a tiny
random BERT built like ``tests/conftest.py::build_tiny_bert``, so this runs in
a minute; ``--model`` for a real checkpoint), pickles it with joblib, then in a
fresh child process per case loads it and predicts:

* a list of N texts (the bundled sample repeated), for each N in ``--sizes``;
* the same N texts as a ``datasets.Dataset`` built with
  ``Dataset.from_dict({"text": texts})``, written with ``save_to_disk`` and read
  back with ``load_from_disk`` (so it is Arrow-backed, memory-mapped).

For each case it prints the child's RSS just before ``predict_proba`` (model
and input loaded), its peak RSS (``VmHWM``), the difference, and the size of
the output array. Streaming means the difference grows by about the output
array (N x n_labels float64, plus the float32 logits it is computed from),
not with the tokenised texts or activations.

Usage, from the repository root::

    python bench/memory/stream_memory.py                      # tiny model, 20,000 and 200,000 texts
    python bench/memory/stream_memory.py --model sentence-transformers/all-MiniLM-L6-v2 \\
        --fit-n 500 --sizes 20000,200000               # the real model (slow on 2 CPUs)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import child_or_main, print_report, status_mib, versions_line  # noqa: E402
from _harness import run_child as run_script  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))  # the repository


def repeated_texts(n: int) -> list[str]:
    """The bundled sample (train + test parts) repeated to n texts."""
    from skbert.datasets import load_goemotions

    base = list(load_goemotions(subset="all").data)
    return [base[i % len(base)] for i in range(n)]


# ----------------------------------------------------------------- child side
def run_child(spec_path: str, result_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    import joblib
    import numpy as np
    import torch

    torch.set_num_threads(spec["threads"])
    clf = joblib.load(spec["model_file"])
    if spec["kind"] == "dataset":
        from datasets import load_from_disk

        X = load_from_disk(spec["dataset_dir"])
    else:
        X = repeated_texts(spec["n"])
    before = status_mib("VmRSS")
    t = time.perf_counter()
    proba = clf.predict_proba(X)
    seconds = time.perf_counter() - t
    out = {"kind": spec["kind"], "n": spec["n"], "rss_before_mib": before,
           "peak_rss_mib": status_mib("VmHWM"), "rss_after_mib": status_mib("VmRSS"),
           "output_mib": proba.nbytes / 2**20, "output_shape": list(proba.shape),
           "output_dtype": str(proba.dtype), "predict_s": seconds,
           "finite": bool(np.isfinite(proba).all())}
    with open(result_path, "w") as fh:
        json.dump(out, fh)


# ---------------------------------------------------------------- parent side
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None,
                    help="checkpoint folder or hub name (default: a tiny random BERT built "
                         "in a temporary folder)")
    ap.add_argument("--sizes", default="20000,200000",
                    help="comma-separated numbers of texts to predict")
    ap.add_argument("--fit-n", type=int, default=3000,
                    help="texts of the bundled train part to fit on (default: all 3,000)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--no-dataset", action="store_true",
                    help="skip the datasets.Dataset (Arrow) cases")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch threads in every child")
    ap.add_argument("--json", default=None, help="write every number to this JSON file")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    import joblib
    import torch

    from skbert import TransformerMultiLabelClassifier
    from skbert.datasets import load_goemotions

    torch.set_num_threads(args.threads)
    results = []
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    with tempfile.TemporaryDirectory(prefix="skbert-stream-") as work:
        model = args.model
        if model is None:
            sys.path.insert(0, os.path.join(ROOT, "tests"))
            from pathlib import Path

            from conftest import build_tiny_bert

            model = build_tiny_bert(Path(work) / "tiny_bert")
        X, Y = load_goemotions(subset="train", return_X_y=True)
        X, Y = list(X)[:args.fit_n], Y[:args.fit_n]
        t = time.perf_counter()
        clf = TransformerMultiLabelClassifier(model, max_epochs=1, max_length=args.max_length,
                                              random_state=0, fit_cache=False).fit(X, Y)
        print(f"[stream] fitted on {len(X)} texts in {time.perf_counter() - t:.1f}s",
              file=sys.stderr, flush=True)
        model_file = os.path.join(work, "clf.joblib")
        joblib.dump(clf, model_file)
        del clf

        cases = [("list", n) for n in sizes]
        if not args.no_dataset:
            cases += [("dataset", n) for n in sizes]
        for kind, n in cases:
            spec = {"kind": kind, "n": n, "model_file": model_file, "threads": args.threads}
            if kind == "dataset":
                from datasets import Dataset

                spec["dataset_dir"] = os.path.join(work, f"ds_{n}")
                Dataset.from_dict({"text": repeated_texts(n)}).save_to_disk(spec["dataset_dir"])
            spec_path = os.path.join(work, f"{kind}_{n}.spec.json")
            result_path = os.path.join(work, f"{kind}_{n}.result.json")
            print(f"[stream] predicting {n} texts from a {kind} ...", file=sys.stderr,
                  flush=True)
            rc, result = run_script(__file__, spec, spec_path, result_path, env=env,
                                    tag="stream", what=f"{kind} {n}")
            if rc:
                return rc
            results.append(result)

    names = {"list": "list of str", "dataset": "datasets.Dataset (load_from_disk)"}
    lines = ["| input | texts | RSS before predict MiB | peak RSS MiB | peak - before MiB | "
             "output array MiB | predict s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {names[r['kind']]} | {r['n']:,} | {r['rss_before_mib']:.0f} | "
                     f"{r['peak_rss_mib']:.0f} | {r['peak_rss_mib'] - r['rss_before_mib']:.0f} "
                     f"| {r['output_mib']:.1f} | {r['predict_s']:.1f} |")
    lines += ["", f"- model: {args.model or 'tiny random BERT (tests/conftest.py)'}, fitted "
              f"once on {min(args.fit_n, 3000)} texts of the bundled GoEmotions sample, "
              f"max_length {args.max_length}; each case in a fresh process loading the joblib "
              f"pickle; output {results[0]['output_dtype'] if results else '?'}; "
              f"{args.threads} torch threads", versions_line()]
    print_report(lines, args, {"results": results})
    return 0


if __name__ == "__main__":
    sys.exit(child_or_main(run_child, main))
