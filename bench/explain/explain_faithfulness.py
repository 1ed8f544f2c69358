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

Example (the model folder that bench/explain/explain_speed.py fine-tunes and saves)::

    python bench/explain/explain_faithfulness.py --model /tmp/skbert_explain_model \\
        --data ../shared/data/goemotions --n-texts 200
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
    ap.add_argument("--min-words", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from skbert import TransformerMultiLabelClassifier
    from skbert._explain import explain

    clf = TransformerMultiLabelClassifier.from_pretrained(args.model, device="cpu")
    clf.set_params(precision="fp32")
    pool = read_texts(os.path.join(args.data, args.split), 4 * args.n_texts, args.offset)
    texts = [t for t in pool if len(t.split()) >= args.min_words][:args.n_texts]
    t0 = time.perf_counter()
    ig = explain(clf, texts, top_k=1)
    occ = explain(clf, texts, top_k=1, method="occlusion")
    att = attention_scores(clf, ig)
    rng = np.random.default_rng(0)
    rankings = {
        "integrated gradients": [np.argsort(-e.attributions[0], kind="stable") for e in ig],
        "occlusion": [np.argsort(-e.attributions[0], kind="stable") for e in occ],
        "attention": [np.argsort(-a, kind="stable") for a in att],
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
    print(f"{len(ig)} texts of >= {args.min_words} words from {args.split}, label = each "
          f"text's most probable, model {args.model} ({took:.0f} s)")
    print(f"{'ranking':<22} {'AOPC mean':>9} {'sd':>7} {'se':>7}   drop at k=1..5")
    results = {"n_texts": len(ig), "rows": {}}
    for name, dr in drops.items():
        aopc = dr.mean(1)
        row = {"aopc_mean": float(aopc.mean()), "aopc_sd": float(aopc.std(ddof=1)),
               "aopc_se": float(aopc.std(ddof=1) / np.sqrt(len(aopc))),
               "drop_at_k": [float(x) for x in dr.mean(0)]}
        results["rows"][name] = row
        print(f"{name:<22} {row['aopc_mean']:9.4f} {row['aopc_sd']:7.4f} {row['aopc_se']:7.4f}"
              f"   {' '.join(f'{x:.3f}' for x in row['drop_at_k'])}")
    if args.json:
        from skbert._safe_io import write_json

        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
