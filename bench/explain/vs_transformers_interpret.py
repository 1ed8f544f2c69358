"""skbert's ``explain`` beside transformers-interpret's MultiLabelClassificationExplainer.

On one fine-tuned folder saved with ``pooling="cls"`` (so that transformers'
``AutoModelForSequenceClassification`` loads it; bench/explain/faithfulness_model.py
``--pooling cls`` makes one), for the same GoEmotions texts and every label:

1. the folder as transformers loads it gives skbert's logits (largest
   difference printed), and transformers-interpret's probabilities are compared
   with skbert's (transformers-interpret feeds its own input: it adds spaces
   around ``.,!?()`` and gives the final ``[SEP]`` token type 1);
2. top word agreement per (text, label): skbert's ``clf.explain(texts,
   labels="all", n_steps=N)`` (integrated gradients of the label's logit)
   against transformers-interpret's word attributions for the same label
   (integrated gradients of the label's sigmoid probability). Its attributions
   are per sub-word token of its cleaned text; they are merged into skbert's
   words by characters: the cleaned text differs from the text only in
   whitespace, so each token's first non-space character is mapped to the same
   non-space character of the text, and the token's attribution is added to the
   skbert word whose span holds it (``[CLS]``/``[SEP]`` dropped; skbert's word
   attributions are likewise the sum of their pieces). Reported: the share of
   (text, label) pairs whose top word is the same, the share where skbert's top
   word is in transformers-interpret's top 3, and the median Spearman
   correlation of the word attributions; over every label and over the labels
   skbert predicts for the text (its most probable label when none is);
3. time to explain all labels of each text: skbert one call for all texts,
   skbert one call per text, and transformers-interpret one call per text (it
   has no batch API), at the same ``n_steps``, with the torch threads given.

transformers-interpret 0.10.0's MultiLabelClassificationExplainer ignores its
``n_steps`` and ``internal_batch_size`` arguments (it builds one
SequenceClassificationExplainer per label with the default 50 steps, all steps
in one batch), so both tools run at 50 steps here unless ``--n-steps`` changes
skbert's (it then warns: the comparison is no longer at equal steps).

Example (transformers-interpret from ``pip install --target /tmp/explain_ti
transformers-interpret``)::

    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/explain_ti \\
        python bench/explain/vs_transformers_interpret.py \\
        --model /tmp/faith_goemo_cls --threads 1 --n-texts 50 \\
        --json bench/results/explain/vs_transformers_interpret.json
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
from _harness import machine, record  # noqa: E402
from explain_faithfulness import read_texts  # noqa: E402

TI_STEPS = 50  # what MultiLabelClassificationExplainer 0.10.0 uses whatever it is asked


def ti_word_attributions(text, cleaned, tokenizer, token_attr, offsets):
    """Merge transformers-interpret's token attributions into skbert's words (module docstring)."""
    orig_pos = [i for i, ch in enumerate(text) if not ch.isspace()]
    clean_rank = {}
    r = 0
    for i, ch in enumerate(cleaned):
        if not ch.isspace():
            clean_rank[i] = r
            r += 1
    if r != len(orig_pos):
        raise RuntimeError("transformers-interpret's cleaned text differs from the text "
                           "beyond whitespace; cannot map its tokens")
    enc = tokenizer(cleaned, add_special_tokens=True, return_offsets_mapping=True)
    if len(enc["input_ids"]) != len(token_attr):
        raise RuntimeError(f"{len(token_attr)} attributions for {len(enc['input_ids'])} tokens")
    starts = offsets[:, 0]
    ends = offsets[:, 1]
    words = np.zeros(len(offsets))
    lost = 0
    for (s, e), a in zip(enc["offset_mapping"], token_attr):
        if e <= s:
            continue  # special token
        first = next((i for i in range(s, e) if i in clean_rank), None)
        if first is None:
            continue
        pos = orig_pos[clean_rank[first]]
        w = np.nonzero((starts <= pos) & (pos < ends))[0]
        if len(w):
            words[w[0]] += a
        else:
            lost += 1
    return words, lost


def spearman(a, b):
    from scipy.stats import spearmanr

    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).correlation)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a save_pretrained folder, pooling='cls'")
    ap.add_argument("--data", default="../shared/data/goemotions")
    ap.add_argument("--split", default="validation.jsonl")
    ap.add_argument("--n-texts", type=int, default=50)
    ap.add_argument("--offset", type=int, default=100)
    ap.add_argument("--min-words", type=int, default=6)
    ap.add_argument("--n-steps", type=int, default=TI_STEPS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-text-n", type=int, default=None,
                    help="time skbert one call per text on the first N texts only (default: all; "
                         "0: not at all); transformers-interpret's time on them is reported too")
    ap.add_argument("--engine", choices=("auto", "skbert", "captum"), default="auto",
                    help="skbert's integrated-gradients engine (skbert._explain.ENGINE; auto: "
                         "Captum when installed)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.n_steps != TI_STEPS:
        print(f"warning: skbert at {args.n_steps} steps, transformers-interpret at {TI_STEPS}")
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers_interpret import MultiLabelClassificationExplainer

    import skbert._explain
    from skbert import TransformerMultiLabelClassifier
    from skbert._explain import ig_engine

    skbert._explain.ENGINE = args.engine

    clf = TransformerMultiLabelClassifier.from_pretrained(args.model, device="cpu")
    clf.set_params(precision="fp32")
    if clf.pooling != "cls":
        ap.error(f"--model {args.model} has pooling={clf.pooling!r}; transformers-interpret "
                 "needs a folder saved with pooling='cls'")
    hf = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    tok = AutoTokenizer.from_pretrained(args.model)
    names = [str(c) for c in clf.classes_]
    hf_names = [hf.config.id2label[i] for i in range(hf.config.num_labels)]

    pool = read_texts(os.path.join(args.data, args.split), 4 * args.n_texts + 1, args.offset)
    pool = [t for t in pool if len(t.split()) >= args.min_words]
    warm, texts = pool[0], pool[1:args.n_texts + 1]

    # 1. the same model
    logits_sk = clf.decision_function(texts)
    with torch.no_grad():
        enc = tok(texts, padding=True, truncation=True, max_length=clf.max_length,
                  return_tensors="pt")
        logits_hf = hf(**enc).logits.numpy()
    logit_diff = float(np.abs(logits_sk - logits_hf).max())
    print(f"{len(texts)} texts; model {args.model}: skbert and AutoModelForSequenceClassification "
          f"logits differ by at most {logit_diff:.2e}; label names equal: {names == hf_names}")

    ti = MultiLabelClassificationExplainer(hf, tok)
    # warm-up, untimed: one text with each tool
    clf.explain([warm], labels="all", n_steps=args.n_steps)
    ti(warm)

    # 3. timing (and the attributions for 2.): skbert all texts at once, then transformers-interpret
    load_before = os.getloadavg()
    t = time.perf_counter()
    ex = clf.explain(texts, labels="all", n_steps=args.n_steps)
    sk_batch_s = time.perf_counter() - t
    print(f"skbert ({ig_engine()} engine), {len(names)} labels, {args.n_steps} steps, all "
          f"{len(texts)} texts in one call: {sk_batch_s:.1f} s "
          f"({sk_batch_s / len(texts):.2f} s a text)")
    ti_per_text, ti_attr, ti_prob, ti_clean = [], [], [], []
    for text in texts:
        t = time.perf_counter()
        wa = ti(text)
        ti_per_text.append(time.perf_counter() - t)
        ti_attr.append({lab: np.array([a for _, a in wa[lab]]) for lab in wa})
        ti_prob.append({lab: float(p) for lab, p in ti.label_probs_dict.items()})
        ti_clean.append(ti.text if hasattr(ti, "text") else ti._clean_text(text))
    print(f"transformers-interpret one call per text: {sum(ti_per_text):.1f} s "
          f"({np.mean(ti_per_text):.2f} s a text)")

    # 2. agreement
    prob_diff = max(abs(ti_prob[d][names[j]] - e.all_probabilities[j])
                    for d, e in enumerate(ex) for j in range(len(names)))
    rows = {"all": [], "predicted": []}
    lost_tokens = 0
    for d, e in enumerate(ex):
        asked = set(np.nonzero(e.predicted)[0].tolist()) or {int(np.argmax(e.probabilities))}
        for j, lab in enumerate(e.labels):
            sk = e.attributions[j]
            ti_w, lost = ti_word_attributions(e.text, ti_clean[d], tok, ti_attr[d][lab], e.offsets)
            lost_tokens += lost
            top_sk = int(np.argmax(sk))
            rec = (top_sk == int(np.argmax(ti_w)),
                   top_sk in set(np.argsort(-ti_w, kind="stable")[:3].tolist()),
                   spearman(sk, ti_w))
            rows["all"].append(rec)
            if j in asked:
                rows["predicted"].append(rec)
    agreement = {}
    for key, recs in rows.items():
        a = np.array(recs, dtype=float)
        agreement[key] = {"pairs": len(recs), "top1_same": float(a[:, 0].mean()),
                          "sk_top1_in_ti_top3": float(a[:, 1].mean()),
                          "spearman_median": float(np.nanmedian(a[:, 2]))}
        print(f"{key:>9} labels: {len(recs)} (text, label) pairs; same top word "
              f"{a[:, 0].mean():.1%}; skbert's top word in TI's top 3 {a[:, 1].mean():.1%}; "
              f"median Spearman {np.nanmedian(a[:, 2]):.2f}")
    print(f"largest |TI probability - skbert probability|: {prob_diff:.2e}; TI tokens not "
          f"mapped to a word: {lost_tokens}")

    # 3. (continued) skbert one call per text, as transformers-interpret is called
    sk_per_text = []
    n_per = len(texts) if args.per_text_n is None else min(args.per_text_n, len(texts))
    if n_per:
        for text in texts[:n_per]:
            t = time.perf_counter()
            clf.explain([text], labels="all", n_steps=args.n_steps)
            sk_per_text.append(time.perf_counter() - t)
        print(f"skbert one call per text, first {n_per} texts: {sum(sk_per_text):.1f} s "
              f"({np.mean(sk_per_text):.2f} s a text)")
    if n_per:
        print(f"on the first {n_per} texts: skbert one call per text {sum(sk_per_text):.1f} s, "
              f"transformers-interpret {sum(ti_per_text[:n_per]):.1f} s")
    load_after = os.getloadavg()
    print(f"load average {load_before[0]:.1f} before the timings, {load_after[0]:.1f} after")
    if args.json:
        record(args.json, {
            "n_texts": len(texts), "n_labels": len(names), "n_steps_skbert": args.n_steps,
            "n_steps_ti": TI_STEPS, "skbert_engine": ig_engine(),
            "transformers": transformers.__version__,
            "logit_max_abs_diff_skbert_vs_auto_model": logit_diff,
            "prob_max_abs_diff_skbert_vs_ti": prob_diff, "ti_tokens_not_mapped": lost_tokens,
            "skbert_batch_seconds": sk_batch_s, "skbert_per_text_seconds": sk_per_text,
            "per_text_n": n_per,
            "ti_per_text_seconds": ti_per_text,
            "load_average_before": load_before, "load_average_after": load_after,
            "agreement": agreement,
        }, args, machine_info=machine(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
