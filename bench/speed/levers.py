"""Each speed lever of skbert turned off alone: what it is worth on this machine.

Issue 5 lists levers to "measure each, keep what pays". This script fits and
predicts with skbert as it is (``baseline``) and with one lever at a time put
back to what the notebook recipe does, every variant in its own child process
on the same texts, weights and settings:

==================  ==========================================================
variant             what changes (the notebook's way)
==================  ==========================================================
pad_to_max_length   every batch padded to ``max_length`` (no dynamic padding),
                    in training and prediction
random_batches      training batches drawn at random (no length grouping)
unsorted_predict    prediction batches in input order (no length sorting)
default_adamw       ``torch.optim.AdamW`` without ``fused=True``
eager_attention     ``attn_implementation="eager"`` instead of SDPA
predict_batch_16    ``predict_batch_size=16`` (the recipe's eval batch) vs 64
no_attn_dropout     for reference, the documented option
                    ``model_kwargs={"attention_probs_dropout_prob": 0.0}``
==================  ==========================================================

The patches live here, not in the package: they replace skbert's internal
functions in the child process only. Tokenising once is measured directly:
the time to tokenise the training texts, which a per-epoch tokeniser pays in
every epoch. bf16 autocast is a lever only on CPUs with bf16 instructions
(and GPUs); the script reports whether this one has them.

Usage::

    python bench/speed/levers.py --train ../shared/data/goemotions/train.jsonl \\
        --test ../shared/data/goemotions/validation.jsonl --n-train 1000 --n-test 1000

The runs alternate, baseline, variant, baseline, variant, ..., baseline, and
each variant's speed is set against the mean of the two baselines around it,
so a drift of a shared machine's speed cancels; the baselines' spread is shown.
Each child first fits on 32 texts (untimed warm-up). Columns: training
samples/s over the one epoch's own time (``history_[0]["dur"]``, loading
excluded), prediction samples/s (after a 64-text warm-up call), and the largest
difference in probability against the first baseline's predictions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import child_or_main, machine, record, run_child  # noqa: E402
from speed import add_workload_arguments, load_workload  # noqa: E402

VARIANTS = ("baseline", "pad_to_max_length", "random_batches", "unsorted_predict",
            "default_adamw", "eager_attention", "predict_batch_16", "no_attn_dropout")


def patch(variant: str, max_length: int) -> dict:
    """Apply ``variant``'s patch in this process; return extra estimator params."""
    import numpy as np
    import torch

    from skbert import _training

    if variant == "pad_to_max_length":
        original = _training.collate

        def collate(encoded, docs, pad_id, pad_to_multiple_of=1, buckets=None):
            return original(encoded, docs, pad_id, max_length)  # width -> max_length

        _training.collate = collate
    elif variant == "random_batches":
        original_groups = _training.length_grouped_batches

        def random_batches(lengths, batch_size, rng, group_factor=50):
            return original_groups(lengths, batch_size, rng, group_factor=1)

        _training.length_grouped_batches = random_batches
    elif variant == "unsorted_predict":
        def in_order(lengths, batch_size):
            order = np.arange(len(lengths))
            for i in range(0, len(order), batch_size):
                yield order[i:i + batch_size]

        _training.sorted_batches = in_order
    elif variant == "default_adamw":
        adamw = torch.optim.AdamW

        class PlainAdamW(adamw):
            def __init__(self, params, *args, fused=None, **kwargs):
                super().__init__(params, *args, **kwargs)

        torch.optim.AdamW = PlainAdamW
    elif variant == "eager_attention":
        return {"model_kwargs": {"attn_implementation": "eager"}}
    elif variant == "predict_batch_16":
        return {"predict_batch_size": 16}
    elif variant == "no_attn_dropout":
        return {"model_kwargs": {"attention_probs_dropout_prob": 0.0}}
    elif variant != "baseline":
        raise SystemExit(f"unknown variant {variant!r}")
    return {}


def child(spec_path: str, out_path: str) -> None:
    import numpy as np
    import torch

    with open(spec_path) as fh:
        spec = json.load(fh)
    torch.set_num_threads(spec["threads"])
    extra = patch(spec["variant"], spec["max_length"])
    from skbert import TransformerMultiLabelClassifier
    from skbert._data import encode

    data = np.load(spec["data"], allow_pickle=True)
    Xtr, Ytr, Xte = data["Xtr"].tolist(), data["Ytr"], data["Xte"].tolist()
    clf = TransformerMultiLabelClassifier(
        spec["model"], max_epochs=1, batch_size=spec["batch_size"], max_length=spec["max_length"],
        learning_rate=5e-5, random_state=0, fit_cache=False, **extra)
    with warnings.catch_warnings():  # warm-up: first-call costs of torch's kernels, threads
        warnings.simplefilter("ignore")  # (32 texts lack some labels: a warning, not news)
        clf.fit(Xtr[:32], Ytr[:32])
    t = time.perf_counter()
    clf.fit(Xtr, Ytr)
    fit_s = time.perf_counter() - t
    epoch_s = clf.history_[0]["dur"]
    clf.predict_proba(Xte[:64])
    t = time.perf_counter()
    proba = clf.predict_proba(Xte)
    pred_s = time.perf_counter() - t
    result = {"fit_s": fit_s, "epoch_s": epoch_s, "train_sps": len(Xtr) / epoch_s,
              "predict_s": pred_s, "predict_sps": len(Xte) / pred_s}
    if spec["variant"] == "baseline":
        t = time.perf_counter()
        encode(clf.tokenizer_, Xtr, max_length=spec["max_length"])
        result["tokenise_train_s"] = time.perf_counter() - t
    np.save(out_path + ".npy", proba)
    with open(out_path, "w") as fh:
        json.dump(result, fh)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(ap)
    ap.add_argument("--variants", default=",".join(VARIANTS[1:]),
                    help="comma-separated subset of " + ",".join(VARIANTS[1:]))
    args = ap.parse_args()

    import numpy as np

    variants = [v for v in args.variants.split(",") if v and v != "baseline"]
    bad = sorted(set(variants) - set(VARIANTS))
    if bad:
        ap.error(f"unknown variant(s) {bad}; choose from {', '.join(VARIANTS)}")
    Xtr, Ytr, Xte, model = load_workload(args)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if os.getloadavg()[0] > 0.5:
        print(f"[levers] warning: load average {os.getloadavg()[0]:.2f}; numbers will be noisy",
              file=sys.stderr)
    # baseline, v1, baseline, v2, baseline, ...: each variant is set against the mean of the
    # baselines run just before and just after it, so a drift of the machine's speed cancels
    sequence = ["baseline"] + [x for v in variants for x in (v, "baseline")]
    runs = []
    with tempfile.TemporaryDirectory(prefix="skbert-levers-") as work:
        data = os.path.join(work, "data.npz")
        np.savez(data, Xtr=np.asarray(Xtr, dtype=object), Ytr=Ytr,
                 Xte=np.asarray(Xte, dtype=object))
        base_proba = None
        for i, v in enumerate(sequence):
            spec = {"variant": v, "model": model, "data": data, "threads": args.threads,
                    "max_length": args.max_length, "batch_size": args.batch_size}
            spec_path, out = os.path.join(work, f"{i}.json"), os.path.join(work, f"{i}.out")
            print(f"[levers] {v} ...", file=sys.stderr, flush=True)
            rc, r = run_child(__file__, spec, spec_path, out, env=env, tag="levers", what=v)
            if rc:
                return rc
            proba = np.load(out + ".npy")
            if base_proba is None:
                base_proba = proba
            r["variant"] = v
            r["max_abs_dp_vs_baseline"] = float(np.abs(proba - base_proba).max())
            runs.append(r)
            print(f"[levers] {v}: {r}", file=sys.stderr, flush=True)
    bases = [r for r in runs if r["variant"] == "baseline"]
    base = bases[0]
    lines = ["| variant (lever off) | train samples/s | x baseline | predict samples/s | "
             "x baseline | max abs dp |", "|---|---:|---:|---:|---:|---:|"]
    for k in ("train_sps", "predict_sps"):
        vals = [r[k] for r in bases]
        base[k + "_spread"] = [min(vals), max(vals)]
    lines.append(f"| baseline ({len(bases)} runs: min-max) | {base['train_sps_spread'][0]:.1f}-"
                 f"{base['train_sps_spread'][1]:.1f} | 1 | {base['predict_sps_spread'][0]:.1f}-"
                 f"{base['predict_sps_spread'][1]:.1f} | 1 | "
                 f"{max(r['max_abs_dp_vs_baseline'] for r in bases):.1e} |")
    for i, r in enumerate(runs):
        if r["variant"] == "baseline":
            continue
        before, after = runs[i - 1], runs[i + 1]
        for k in ("train_sps", "predict_sps"):
            r[k + "_ratio"] = r[k] / ((before[k] + after[k]) / 2)
        lines.append(f"| {r['variant']} | {r['train_sps']:.1f} | {r['train_sps_ratio']:.2f} | "
                     f"{r['predict_sps']:.1f} | {r['predict_sps_ratio']:.2f} | "
                     f"{r['max_abs_dp_vs_baseline']:.1e} |")
    results = {"runs": runs}
    info = machine(args.threads)
    lines += ["", f"- tokenising the {args.n_train} training texts once took "
              f"{base['tokenise_train_s']:.2f} s = "
              f"{100 * base['tokenise_train_s'] / base['epoch_s']:.1f} % of the baseline's epoch "
              f"({base['epoch_s']:.1f} s): what tokenising in every epoch would add to each",
              f"- workload: {args.n_train} training texts of {args.train}, {args.n_test} "
              f"predicted from {args.test}, max_length {args.max_length}, batch "
              f"{args.batch_size}, 1 epoch, lr 5e-5, model {args.model}",
              "- x baseline: against the mean of the baseline runs just before and after the "
              "variant; max abs dp: against the first baseline's probabilities (for levers that "
              "change training it includes a different training run: batch order, dropout "
              "draws)",
              f"- machine: {info['cpu']}, {args.threads} torch threads, bf16 flags: "
              f"{', '.join(info['bf16_flags']) or 'none'} (without them bf16 autocast is no "
              f"lever here); torch {info['torch']}, transformers {info['transformers']}"]
    report = "\n".join(lines)
    print(report)
    if args.json:
        record(args.json, {"results": results, "markdown": report}, args, machine_info=info)
    return 0


if __name__ == "__main__":
    sys.exit(child_or_main(child, main))
