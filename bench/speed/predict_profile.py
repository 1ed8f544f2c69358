"""Where ``predict_proba``'s time goes: its steps, then the forward pass by operator.

Fits skbert briefly (or loads a pickled estimator), then on the texts to predict:

1. times ``predict_proba`` whole and its parts as skbert runs them: tokenising,
   sorting + batching + padding (``collate``), the model's forward passes, and
   pooling + sigmoid + output (median of ``--repeats``);
2. profiles the forward passes with ``torch.profiler`` and prints each
   operator's share of the self CPU time (``addmm`` is the linear layers).

Usage::

    python bench/speed/predict_profile.py --test ../shared/data/goemotions/validation.jsonl \\
        --n-test 1000 --fit-on ../shared/data/goemotions/train.jsonl
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", required=True, help="JSON Lines file of texts to predict")
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--estimator", default=None, help="a joblib-pickled fitted estimator")
    ap.add_argument("--fit-on", default=None,
                    help="JSON Lines file: fit on its first --n-fit texts for 1 epoch")
    ap.add_argument("--n-fit", type=int, default=200)
    ap.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--top", type=int, default=15, help="operators listed")
    args = ap.parse_args()
    if (args.estimator is None) == (args.fit_on is None):
        ap.error("give either --estimator or --fit-on")

    import joblib
    import torch
    from torch.profiler import ProfilerActivity, profile

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from speed import indicator, read_jsonl, resolve_model

    from skbert import TransformerMultiLabelClassifier
    from skbert._data import collate, pad_token_id, sorted_batches
    from skbert._runner import encode_texts

    texts, _ = read_jsonl(args.test, 0, args.n_test)
    if args.estimator:
        clf = joblib.load(args.estimator)
    else:
        Xf, lf = read_jsonl(args.fit_on, 0, args.n_fit)
        names = sorted({x for row in lf for x in row})
        clf = TransformerMultiLabelClassifier(resolve_model(args.model), max_epochs=1,
                                              max_length=args.max_length, random_state=0,
                                              fit_cache=False)
        clf.fit(Xf, indicator(lf, names)[0])
    model, tok = clf.model_.eval(), clf.tokenizer_
    pad, bs = pad_token_id(tok), clf.predict_batch_size
    clf.predict_proba(texts)  # warm-up

    parts = {k: [] for k in ("predict_proba", "tokenise", "sort+collate", "forward")}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        clf.predict_proba(texts)
        t1 = time.perf_counter()
        enc = encode_texts(clf, tok, texts)
        t2 = time.perf_counter()
        batches = [collate(enc, d, pad, 1) for d in sorted_batches(enc.doc_lengths(), bs)]
        t3 = time.perf_counter()
        with torch.inference_mode():
            for b in batches:
                model(b["input_ids"], b["attention_mask"])
        t4 = time.perf_counter()
        for key, a, b in (("predict_proba", t0, t1), ("tokenise", t1, t2),
                          ("sort+collate", t2, t3), ("forward", t3, t4)):
            parts[key].append(b - a)
    total = statistics.median(parts["predict_proba"])
    real = enc.n_tokens
    padded = int(sum(b["input_ids"].numel() for b in batches))
    print(f"{len(texts)} texts, {real} tokens ({real / len(texts):.1f} a text), "
          f"{padded} after padding in batches of {bs} (+{100 * (padded / real - 1):.1f} %); "
          f"attention: {model.backbone.config._attn_implementation}; "
          f"torch threads {torch.get_num_threads()}")
    print("| step | median ms | share of predict_proba |\n|---|---:|---:|")
    for key, vals in parts.items():
        m = statistics.median(vals)
        print(f"| {key} | {1000 * m:.1f} | {100 * m / total:.1f} % |")
    print(f"predict_proba: {len(texts) / total:.1f} texts/s (each step is timed in its own "
          "pass, so the shares need not add up to 100 %)")

    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.inference_mode():
        for b in batches:
            model(b["input_ids"], b["attention_mask"])
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    whole = sum(e.self_cpu_time_total for e in events)
    print("\n| operator | self CPU ms | share of the forward |\n|---|---:|---:|")
    for e in events[:args.top]:
        print(f"| {e.key} | {e.self_cpu_time_total / 1e3:.1f} | "
              f"{100 * e.self_cpu_time_total / whole:.1f} % |")


if __name__ == "__main__":
    main()
