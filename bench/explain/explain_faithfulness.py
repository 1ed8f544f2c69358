"""Are explanations faithful? Deleting the top-attributed words should lower the label most.

For each text, the label explained is its most probable one. Words are ranked
four ways: integrated gradients (32 steps), occlusion, at random (seeded), and
by attention (the last layer's attention from every token to the word's pieces,
averaged over heads and query tokens: the usual "attention as explanation"
baseline). For k = 1..5 the k top-ranked words are deleted from the text and
the label's probability is predicted again; AOPC is the mean over k of
``p(text) - p(text without the top k words)``: higher means the ranking found
the words the model relied on. Printed as mean and standard deviation over
texts (and the standard error of the mean).

The texts are explained whole, as the model reads them: with
``long_text="truncate"`` (the default) the words past the first window get no
attribution and are never ranked (random and attention rankings included), so
every ranking deletes among the same words; deleting words lets as many words
from past the window in, for every ranking alike.

``--json`` records the arguments, the machine, the model's max_length and
long_text, the rows, each text's AOPC per ranking and the paired differences
(method minus baseline, over the same texts: mean, sd, standard error).

Examples (the model folders of bench/explain/explain_speed.py and
bench/explain/faithfulness_model.py)::

    python bench/explain/explain_faithfulness.py --model /tmp/skbert_explain_model \\
        --data ../shared/data/goemotions --n-texts 200
    # Reuters has one file: explain the last 20 % of it (the model was fitted on the first 80 %)
    OMP_NUM_THREADS=1 python bench/explain/explain_faithfulness.py --threads 1 \\
        --model /tmp/faith_reuters --data ../shared/data/reuters21578 --split train.jsonl \\
        --holdout-fraction 0.2 --json bench/results/explain/faithfulness_reuters.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import machine, record  # noqa: E402

KS = (1, 2, 3, 4, 5)


def read_texts(path, n, offset):
    texts = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= offset and line.strip():
                texts.append(json.loads(line)["text"])
                if len(texts) == n:
                    break
    return texts


def delete(text, spans):
    out, pos = [], 0
    for s, e in sorted(spans):
        out.append(text[pos:s])
        pos = e
    out.append(text[pos:])
    return "".join(out)


def attention_scores(clf, explanations):
    """Per text: attention each word receives in the last layer (heads and queries averaged)."""
    from skbert._explain import _tokenise

    model = clf.model_.eval()
    backbone = model.backbone
    base = getattr(backbone, "base_model", backbone)
    if hasattr(base, "set_attn_implementation"):
        base.set_attn_implementation("eager")  # sdpa returns no attention weights
    docs, windows = _tokenise(clf, [e.text for e in explanations])
    out = []
    for d, doc in enumerate(docs):
        win = windows[doc.windows[0]]
        ids = torch.from_numpy(win.ids)[None]
        with torch.no_grad():
            att = base(input_ids=ids, attention_mask=torch.ones_like(ids),
                       output_attentions=True).attentions[-1][0]   # (heads, T, T)
        received = att.mean(0).mean(0).numpy()                      # per key token
        words = np.zeros(len(doc.spans))
        keep = win.word >= 0
        np.add.at(words, win.word[keep], received[keep])
        out.append(words)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="/tmp/skbert_explain_model")
    ap.add_argument("--data", default="../shared/data/goemotions")
    ap.add_argument("--split", default="validation.jsonl")
    ap.add_argument("--n-texts", type=int, default=200)
    ap.add_argument("--offset", type=int, default=100, help="skip the texts the speed run used")
    ap.add_argument("--holdout-fraction", type=float, default=None,
                    help="explain the texts of the last FRACTION of --split's lines (replaces "
                         "--offset): for a file the model was fitted on the first part of")
    ap.add_argument("--min-words", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from skbert import TransformerMultiLabelClassifier
    from skbert._explain import explain

    clf = TransformerMultiLabelClassifier.from_pretrained(args.model, device="cpu")
    clf.set_params(precision="fp32")
    path = os.path.join(args.data, args.split)
    if args.holdout_fraction is not None:
        if not 0 < args.holdout_fraction < 1:
            ap.error(f"--holdout-fraction must be in (0, 1), got {args.holdout_fraction}")
        with open(path, encoding="utf-8") as fh:
            n_lines = sum(1 for _ in fh)
        args.offset = int(round(n_lines * (1 - args.holdout_fraction)))
    pool = read_texts(path, 4 * args.n_texts, args.offset)
    texts = [t for t in pool if len(t.split()) >= args.min_words][:args.n_texts]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    ig = explain(clf, texts, top_k=1)
    occ = explain(clf, texts, top_k=1, method="occlusion")
    att = attention_scores(clf, ig)
    rng = np.random.default_rng(0)
    rankings = {
        "integrated gradients": [np.argsort(-e.attributions[0], kind="stable") for e in ig],
        "occlusion": [np.argsort(-e.attributions[0], kind="stable") for e in occ],
        "attention": [np.argsort(-a, kind="stable") for a in att],
        # only the words the model read (all of them unless truncated): as IG and occlusion
        "random": [rng.permutation(len(e.words)) for e in ig],
    }
    variants, where = [], []
    for name, ranks in rankings.items():
        for d, (e, r) in enumerate(zip(ig, ranks)):
            for k in KS:
                variants.append(delete(e.text, [tuple(e.offsets[i]) for i in r[:k]]))
                where.append((name, d, k))
    proba = clf.predict_proba(variants)
    base = np.array([e.all_probabilities[e.label_index[0]] for e in ig])
    drops = {name: np.zeros((len(ig), len(KS))) for name in rankings}
    for (name, d, k), p in zip(where, proba):
        drops[name][d, k - 1] = base[d] - p[ig[d].label_index[0]]
    took = time.perf_counter() - t0
    n_read = np.array([len(e.words) for e in ig])
    n_words = np.array([len(t.split()) for t in texts])
    cut = [e.offsets[-1][1] < len(e.text.rstrip()) for e in ig]
    print(f"{len(ig)} texts of >= {args.min_words} words from {args.split} "
          f"(lines {args.offset}..), "
          f"label = each text's most probable, model {args.model} (max_length {clf.max_length}, "
          f"long_text {clf.long_text}); words read per text (punctuation counts as words): median "
          f"{np.median(n_read):.0f}, whitespace-separated words in the text: median "
          f"{np.median(n_words):.0f}; texts cut: {np.mean(cut):.0%}; the label's probability: "
          f"mean {base.mean():.3f}, median {np.median(base):.3f}; {took:.0f} s, load average "
          f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'ranking':<22} {'AOPC mean':>9} {'sd':>7} {'se':>7}   drop at k=1..5")
    results = {"n_texts": len(ig), "offset": args.offset, "seconds": took,
               "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "max_length": clf.max_length, "long_text": clf.long_text,
               "words_read_median": float(np.median(n_read)),
               "whitespace_words_median": float(np.median(n_words)),
               "share_of_texts_cut": float(np.mean(cut)),
               "label_probability_mean": float(base.mean()),
               "label_probability_median": float(np.median(base)),
               "rows": {}, "paired": {}, "per_text_aopc": {}}
    for name, dr in drops.items():
        aopc = dr.mean(1)
        row = {"aopc_mean": float(aopc.mean()), "aopc_sd": float(aopc.std(ddof=1)),
               "aopc_se": float(aopc.std(ddof=1) / np.sqrt(len(aopc))),
               "drop_at_k": [float(x) for x in dr.mean(0)]}
        results["rows"][name] = row
        results["per_text_aopc"][name] = [float(x) for x in aopc]
        print(f"{name:<22} {row['aopc_mean']:9.4f} {row['aopc_sd']:7.4f} {row['aopc_se']:7.4f}"
              f"   {' '.join(f'{x:.3f}' for x in row['drop_at_k'])}")
    print("paired (same texts), method minus baseline: mean, se, mean/se")
    for m in ("integrated gradients", "occlusion"):
        for b in ("random", "attention"):
            diff = drops[m].mean(1) - drops[b].mean(1)
            se = float(diff.std(ddof=1) / np.sqrt(len(diff)))
            results["paired"][f"{m} - {b}"] = {"mean": float(diff.mean()),
                                                "sd": float(diff.std(ddof=1)), "se": se}
            print(f"  {m} - {b}: {diff.mean():.4f}, {se:.4f}, {diff.mean() / se:.1f}")
    if args.json:
        record(args.json, results, args, machine_info=machine(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
