"""How fast ``explain`` is (issue 23), and hand-written integrated gradients against Captum.

Prints, for max_length 64 and 256 on GoEmotions texts:

* texts/s of ``predict_proba`` (the reference rate);
* texts/s of integrated gradients (32 steps, every predicted label, plus the
  top one when none is) and its ratio to ``predict_proba``;
* texts/s of occlusion (word deletion, every predicted label) and its ratio;
* the same integrated gradients through Captum's ``LayerIntegratedGradients``
  (batched: one row per (text, label) pair, ``internal_batch_size`` rows a
  pass), when Captum is importable, with the largest difference between the two
  engines' word attributions (they compute the same quantity);
* for all labels at once (``labels="all"``, 28 for GoEmotions) on a few
  texts: skbert's path (one forward pass over the steps, one backward pass per
  label) against Captum's (the rows expanded per label).

The model: ``--model FOLDER`` (a ``save_pretrained`` folder), or the bundled
all-MiniLM-L6-v2 fine-tuned briefly here on ``--n-train`` GoEmotions texts
(saved to ``--save`` for bench/explain/explain_faithfulness.py). Example::

    PYTHONPATH=/tmp/explain_captum python bench/explain/explain_speed.py \\
        --data ../shared/data/goemotions --n-texts 100

(Captum from ``pip install captum``, or ``pip install --target DIR captum`` and
``PYTHONPATH=DIR``.) The CPU may be shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import read_jsonl  # noqa: E402


def fitted_model(args):
    from skbert import TransformerMultiLabelClassifier

    if args.model:
        return TransformerMultiLabelClassifier.from_pretrained(args.model, device="cpu")
    if args.save and os.path.isfile(os.path.join(args.save, "skbert.json")):
        print(f"reusing the model fine-tuned earlier in {args.save}")
        return TransformerMultiLabelClassifier.from_pretrained(args.save, device="cpu")
    import pandas as pd

    with open(os.path.join(args.data, "labels.txt"), encoding="utf-8") as fh:
        names = [x.strip() for x in fh if x.strip()]
    X, labels = read_jsonl(os.path.join(args.data, "train.jsonl"), n=args.n_train)
    Y = pd.DataFrame([[int(n in row) for n in names] for row in labels], columns=names)
    clf = TransformerMultiLabelClassifier(max_length=64, max_epochs=args.epochs, device="cpu",
                                          random_state=0, precision="fp32")
    t = time.perf_counter()
    clf.fit(X, Y)
    print(f"fine-tuned all-MiniLM-L6-v2 on {len(X)} texts, {args.epochs} epoch(s), "
          f"max_length 64 in {time.perf_counter() - t:.0f} s")
    if args.save:
        clf.save_pretrained(args.save)
    return clf


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


# ---------------------------------------------------------------- Captum path
def captum_ig(clf, texts, cols, n_steps=32):
    """Word attributions by Captum's LayerIntegratedGradients, batched over (text, label)."""
    from captum.attr import LayerIntegratedGradients

    from skbert._data import pad_token_id
    from skbert._explain import _tokenise

    model = clf.model_.eval()
    docs, windows = _tokenise(clf, texts)
    pad = pad_token_id(clf.tokenizer_)
    emb = model.backbone.get_input_embeddings()

    def forward(input_ids, attention_mask):
        return model(input_ids=input_ids, attention_mask=attention_mask)

    lig = LayerIntegratedGradients(forward, emb)
    pairs = [(d, int(c)) for d in range(len(docs)) for c in cols[d]]
    out = {}
    # one call per block of pairs of similar width, like skbert's token budget
    order = sorted(range(len(pairs)), key=lambda i: -len(windows[docs[pairs[i][0]].windows[0]]
                                                          .ids))
    start = 0
    while start < len(order):
        width = len(windows[docs[pairs[order[start]][0]].windows[0]].ids)
        per = max(1, 8192 // (n_steps * width))
        block = order[start:start + per]
        start += len(block)
        ids = torch.full((len(block), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        base = torch.full_like(ids, pad)
        for r, i in enumerate(block):
            win = windows[docs[pairs[i][0]].windows[0]]
            t = len(win.ids)
            ids[r, :t] = torch.from_numpy(win.ids)
            mask[r, :t] = 1
            keep = torch.from_numpy(win.word < 0)
            base[r, :t] = torch.where(keep, torch.from_numpy(win.ids), torch.tensor(pad))
        attr = lig.attribute(ids, baselines=base, additional_forward_args=(mask,),
                             target=[pairs[i][1] for i in block], n_steps=n_steps,
                             internal_batch_size=len(block) * n_steps)
        tok = attr.sum(-1).detach().numpy()
        for r, i in enumerate(block):
            d, c = pairs[i]
            win = windows[docs[d].windows[0]]
            words = np.zeros(len(docs[d].spans))
            keep = win.word >= 0
            np.add.at(words, win.word[keep], tok[r, :len(win.ids)][keep])
            out[(d, c)] = words
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/goemotions")
    ap.add_argument("--model", default=None, help="a save_pretrained folder (else fine-tune)")
    ap.add_argument("--save", default="/tmp/skbert_explain_model",
                    help="where the briefly fine-tuned model is kept (and reused)")
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--n-texts", type=int, default=100)
    ap.add_argument("--n-all", type=int, default=5, help="texts for the all-labels comparison")
    ap.add_argument("--lengths", default="64,256")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-occlusion-256", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        import captum

        have_captum = captum.__version__
    except ImportError:
        have_captum = None
    clf = fitted_model(args)
    texts, _ = read_jsonl(os.path.join(args.data, "validation.jsonl"), n=args.n_texts)
    from skbert import _explain
    from skbert._explain import explain

    _explain.ENGINE = "skbert"  # the hand-written path; Captum's is timed beside it

    results = {"n_texts": len(texts), "threads": args.threads, "captum": have_captum,
               "load_before": os.getloadavg()[0], "rows": []}
    print(f"{len(texts)} GoEmotions validation texts, {args.threads} torch threads, "
          f"Captum {have_captum or 'not installed'}, load average {os.getloadavg()[0]:.1f}")
    for L in [int(x) for x in args.lengths.split(",")]:
        clf.set_params(max_length=L)
        clf.predict_proba(texts[:4])  # warm
        _, t_pred = timed(clf.predict_proba, texts)
        ex, t_ig = timed(explain, clf, texts, n_steps=32)
        n_pairs = sum(len(e.labels) for e in ex)
        gaps = ex.completeness_gaps()
        row = {"max_length": L, "predict_s": t_pred, "ig_s": t_ig, "pairs": n_pairs,
               "gap_median": float(np.median(gaps)), "gap_p95": float(np.quantile(gaps, .95)),
               "gap_max": float(gaps.max()), "gap_share_over_5pct": float((gaps > .05).mean())}
        if not (L > 64 and args.skip_occlusion_256):
            _, t_occ = timed(explain, clf, texts, method="occlusion")
            row["occlusion_s"] = t_occ
        if have_captum:
            cols = [e.label_index for e in ex]
            cap, t_cap = timed(captum_ig, clf, texts, cols)
            row["captum_s"] = t_cap
            diffs = [np.abs(cap[(d, int(c))] - e.attributions[j]).max()
                     / max(np.abs(e.attributions[j]).max(), 1e-9)
                     for d, e in enumerate(ex) for j, c in enumerate(e.label_index)]
            row["captum_max_rel_diff"] = float(np.max(diffs))
        results["rows"].append(row)
        n = len(texts)
        line = (f"max_length {L:>3}: predict_proba {n / t_pred:7.1f} texts/s | IG-32 "
                f"{n / t_ig:6.2f} texts/s ({t_ig:5.1f} s for {n}, {n_pairs} text-label pairs, "
                f"{t_ig / t_pred:5.0f}x predict) | completeness gap median "
                f"{100 * row['gap_median']:.2f}% p95 {100 * row['gap_p95']:.2f}% max "
                f"{100 * row['gap_max']:.1f}%")
        if "occlusion_s" in row:
            line += (f" | occlusion {n / row['occlusion_s']:6.2f} texts/s "
                     f"({row['occlusion_s'] / t_pred:4.0f}x predict)")
        if "captum_s" in row:
            line += (f" | Captum IG-32 {n / row['captum_s']:6.2f} texts/s (skbert "
                     f"{row['captum_s'] / t_ig:.2f}x faster; attributions differ by at most "
                     f"{100 * row['captum_max_rel_diff']:.2g}% of the largest)")
        print(line, flush=True)
    if have_captum and args.n_all:
        clf.set_params(max_length=64)
        few = texts[:args.n_all]
        ex, t_all = timed(explain, clf, few, labels="all", n_steps=32)
        cols = [e.label_index for e in ex]
        _, t_cap_all = timed(captum_ig, clf, few, cols)
        results["all_labels"] = {"texts": len(few), "labels": len(clf.classes_),
                                 "skbert_s": t_all, "captum_s": t_cap_all}
        print(f"all {len(clf.classes_)} labels at once, {len(few)} texts, max_length 64: "
              f"skbert {t_all:.1f} s, Captum {t_cap_all:.1f} s "
              f"(skbert {t_cap_all / t_all:.2f}x faster)")
    results["load_after"] = os.getloadavg()[0]
    if args.json:
        from skbert._safe_io import write_json

        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
