"""Long documents: ``long_text="truncate"`` versus ``long_text="chunk"`` on Reuters-21578.

Reuters-21578 (ModApte training part, 7,770 news stories, 90 topics; JSON
Lines ``{"text", "labels"}`` with ``labels.txt`` beside it) is split 80/20 with
``sklearn.model_selection.train_test_split(random_state=0)``. The same
estimator is fitted twice on the training part, once per ``long_text``
setting, each in its own child process (so the peak RSS reported is that
run's own ``VmHWM``; the JSON also has the peak at the end of the fit), with
everything else equal:

* ``truncate``: the first ``--max-length`` tokens of each story;
* ``chunk``: windows of ``--max-length`` tokens sharing ``--stride`` tokens, at
  most ``--max-chunks`` per story, window logits pooled with
  ``--chunk-pooling`` in training (the loss is on the pooled logits) and in
  prediction.

Reported for each, on the whole test part and on its stories longer than
``--max-length`` tokens (counted with the model's tokenizer, [CLS] and [SEP]
included, i.e. the stories that truncation cuts): micro-F1, macro-F1 over the
labels present in that subset (and over all labels), label ranking average
precision (LRAP), all at threshold 0.5; fit seconds (tokenizer and weight
loading, tokenisation and training) and predict seconds (``predict_proba`` on
the test part, tokenisation included); peak RSS; windows per story.

Full measurement (from the repository root, venv active)::

    python bench/quality/long_text.py --epochs 3 --json bench/results/long_text.json

Quick wiring check (about a minute on 2 CPU cores)::

    python bench/quality/long_text.py --n-train 64 --n-test 64 --epochs 1

The character budget (issue 20 item 7: a text is cut to
``skbert._data.char_budget`` characters before the tokenizer reads it)::

    python bench/quality/long_text.py --budget

prints (1) the characters per token of the bundled all-MiniLM-L6-v2 tokenizer on
Reuters stories and GoEmotions comments (mean, and the worst prefix of 8 or more
tokens), the margin ``CHARS_PER_TOKEN`` is set against; (2) the seconds a
tokenizer whose pre-tokenizer regex is quadratic (``\\D*\\d``, planted in a tiny
random BERT's tokenizer.json) takes on 6, 12 and 24 KB texts with and without
the cut, and the seconds ``predict_proba`` takes on a 1,000,000-character text
with it; (3) the same 1,000,000-character ``predict_proba`` with the bundled
MiniLM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)

DEFAULT_DATA = os.path.join("..", "shared", "data", "reuters21578", "train.jsonl")
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODES = ("truncate", "chunk")


# --------------------------------------------------------------------- data
def load(args):
    """Texts, the 0/1 label matrix and the label names."""
    import numpy as np

    labels_path = args.labels or os.path.join(os.path.dirname(os.path.abspath(args.data)),
                                              "labels.txt")
    with open(labels_path, encoding="utf-8") as fh:
        names = [ln.strip() for ln in fh if ln.strip()]
    index = {n: i for i, n in enumerate(names)}
    texts, rows = [], []
    with open(args.data, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                texts.append(rec["text"])
                rows.append([index[x] for x in rec["labels"]])
    Y = np.zeros((len(texts), len(names)), dtype=np.int64)
    for i, r in enumerate(rows):
        Y[i, r] = 1
    return texts, Y, names


def split(args, n: int):
    """Indices of the training and test texts: 80/20, seeded, then the first n of each."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(np.arange(n), test_size=0.2, random_state=args.seed)
    # train_test_split shuffles, so the first n of each part are a random subsample.
    if args.n_train is not None:
        train_idx = train_idx[:args.n_train]
    if args.n_test is not None:
        test_idx = test_idx[:args.n_test]
    return train_idx, test_idx


def scores(Y, proba) -> dict:
    """speed.py's metrics (threshold 0.5) plus the number of documents scored."""
    from _harness import use_folder

    use_folder("speed")  # bench/speed/speed.py
    from speed import scores as speed_scores

    return {"n_docs": int(len(Y)), **speed_scores(Y, proba)}


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


# ---------------------------------------------------------------- child side
def warm_imports(path: str) -> None:
    """Import transformers and the checkpoint's modeling module before the clock starts.

    Both modes would otherwise pay seconds of first imports inside their fit time.
    """
    from transformers import AutoConfig, AutoModel  # noqa: F401
    from transformers.models.auto import modeling_auto

    config = AutoConfig.from_pretrained(path)
    try:
        modeling_auto.MODEL_MAPPING[type(config)]
    except KeyError:
        pass


def run_child(args) -> None:
    """Fit and evaluate one ``long_text`` mode; write the result as JSON."""
    import warnings

    import numpy as np
    import torch

    from skbert import TransformerMultiLabelClassifier
    from skbert._data import encode
    from skbert._modeling import load_tokenizer, resolve_model_path

    torch.set_num_threads(args.threads)
    mode = args.child
    texts, Y, names = load(args)
    train_idx, test_idx = split(args, len(texts))
    X_train, Y_train = [texts[i] for i in train_idx], Y[train_idx]
    X_test, Y_test = [texts[i] for i in test_idx], Y[test_idx]

    path = resolve_model_path(args.model)
    warm_imports(path)
    tok = load_tokenizer(path)
    n_tokens = np.array([len(ids) for ids in tok(X_test, verbose=False)["input_ids"]])
    long = n_tokens > args.max_length
    windows = np.diff(encode(tok, X_test, max_length=args.max_length, long_text="chunk",
                             stride=args.stride, max_chunks=None).doc_offsets)
    used = np.minimum(windows, args.max_chunks) if mode == "chunk" else np.ones_like(windows)

    extra = {}
    if mode == "chunk":
        extra = dict(stride=args.stride, max_chunks=args.max_chunks,
                     chunk_pooling=args.chunk_pooling)
    clf = TransformerMultiLabelClassifier(
        args.model, max_length=args.max_length, batch_size=args.batch_size,
        learning_rate=args.learning_rate, max_epochs=args.epochs, long_text=mode,
        device=args.device, random_state=args.seed, fit_cache=False,
        verbose=args.verbose, **extra)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        clf.fit(X_train, Y_train)
        fit_s = time.perf_counter() - start
    rss_after_fit = peak_rss_mb()
    start = time.perf_counter()
    proba = clf.predict_proba(X_test)
    predict_s = time.perf_counter() - start

    result = {
        "mode": mode, "params": {k: v for k, v in clf.get_params().items()
                                 if isinstance(v, (str, int, float, bool, type(None)))},
        "n_train": len(X_train), "n_test": len(X_test), "n_labels": len(names),
        "n_labels_without_train_positives": int((Y_train.sum(axis=0) == 0).sum()),
        "warnings": sorted({str(w.message)[:200] for w in caught}),
        "fit_s": fit_s, "predict_s": predict_s, "peak_rss_mb": peak_rss_mb(),
        "peak_rss_fit_mb": rss_after_fit,
        "device": str(clf.device_), "precision": clf.precision_, "epochs_run": clf.n_epochs_,
        "train_loss": [h["train_loss"] for h in clf.history_],
        "test_tokens": {"median": float(np.median(n_tokens)),
                        "p90": float(np.percentile(n_tokens, 90)),
                        "max": int(n_tokens.max()),
                        "share_longer_than_max_length": float(long.mean())},
        "windows_per_test_doc": {"mean_used": float(used.mean()), "max_used": int(used.max()),
                                 "share_cut_by_max_chunks": float(
                                     (windows > args.max_chunks).mean())},
        "all": scores(Y_test, proba),
        "long": scores(Y_test[long], proba[long]) if long.any() else None,
    }
    with open(args.child_out, "w") as fh:
        json.dump(result, fh, indent=1)


# --------------------------------------------------------------- parent side
def machine(threads: int) -> dict:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh
                        if ln.startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cpus_available": len(os.sched_getaffinity(0)),
            "torch_threads": threads, "python": platform.python_version()}
    for mod in ("torch", "transformers", "sklearn", "skbert"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing package is just not reported
            info[mod] = None
    return info


def table(results: dict) -> str:
    lines = ["| long_text | test docs | n | micro-F1 | macro-F1 | macro-F1 (all labels) | LRAP "
             "| fit s | predict s | peak RSS MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for mode, r in results.items():
        for part, label in (("all", "all"), ("long", f"> {r['params']['max_length']} tokens")):
            s = r[part]
            if s is None:
                lines.append(f"| {mode} | {label} | 0 | | | | | | | |")
                continue
            lines.append(
                f"| {mode} | {label} | {s['n_docs']} | {s['micro_f1']:.3f} | {s['macro_f1']:.3f} "
                f"| {s['macro_f1_all_labels']:.3f} | {s['lrap']:.3f} | {r['fit_s']:.1f} "
                f"| {r['predict_s']:.1f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help=f"JSON Lines (default: {DEFAULT_DATA})")
    ap.add_argument("--labels", help="label names, one a line (default: labels.txt beside --data)")
    ap.add_argument("--n-train", type=int, help="first N of the training part (default: all)")
    ap.add_argument("--n-test", type=int, help="first N of the test part (default: all)")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint (default: bundled MiniLM)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--learning-rate", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--stride", type=int, default=32)
    ap.add_argument("--max-chunks", type=int, default=8)
    ap.add_argument("--chunk-pooling", choices=["max", "mean"], default="max")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated long_text settings to run (default: truncate,chunk)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch threads (default: the CPUs available)")
    ap.add_argument("--seed", type=int, default=0, help="split and random_state (default: 0)")
    ap.add_argument("--verbose", type=int, default=1, help="estimator verbosity (default: 1)")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--budget", action="store_true",
                    help="measure the character budget (chars per token, quadratic tokenizer, "
                         "a 1,000,000-character text) and exit")
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


# ------------------------------------------------------------ the character budget
def chars_per_token(tok, texts) -> tuple[float, float]:
    """(mean characters per token, worst over every prefix of 8 or more tokens)."""
    import numpy as np

    worst, ratios = 0.0, []
    for text in texts:
        offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True,
                      verbose=False)["offset_mapping"]
        if len(offsets) < 8:
            continue
        ends = np.array([b for _, b in offsets], dtype=float)
        ratio = ends / np.arange(1, len(ends) + 1)
        worst = max(worst, float(ratio[7:].max()))
        ratios.append(ratio[-1])
    return float(np.mean(ratios)), worst


def hostile_model(folder: str) -> str:
    """A tiny random BERT whose tokenizer.json splits on ``\\D*\\d`` (quadratic without digits)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = ["the", "a", "match", "pizza", "vote", "code", "news", "team"]
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\D*\d"), behavior="isolated"),
        pre_tokenizers.Whitespace()])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                            cls_token="[CLS]", sep_token="[SEP]",
                            model_max_length=512).save_pretrained(folder)
    import torch

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=37)).save_pretrained(folder)
    return folder


def budget_report(args) -> None:
    import numpy as np

    from skbert import TransformerMultiLabelClassifier, _data
    from skbert._modeling import load_tokenizer, resolve_model_path

    minilm = resolve_model_path(DEFAULT_MODEL)
    tok = load_tokenizer(minilm, None)
    print(f"(1) characters per token, {DEFAULT_MODEL} tokenizer "
          f"(CHARS_PER_TOKEN={_data.CHARS_PER_TOKEN}, MIN_CHARS={_data.MIN_CHARS})")
    for name, path in (("Reuters", args.data), ("GoEmotions", os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(args.data))), "goemotions",
            "train.jsonl"))):
        if not os.path.exists(path):
            print(f"  {name}: {path} not found, skipped")
            continue
        with open(path, encoding="utf-8") as fh:
            texts = [json.loads(line)["text"] for line in fh][:args.n_train or 3000]
        mean, worst = chars_per_token(tok, texts)
        print(f"  {name} ({len(texts)} texts): mean {mean:.2f}, worst prefix of >= 8 tokens "
              f"{worst:.2f}")
    X = ["the match", "pizza news", "vote code", "team news"] * 4
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 4)
    million = ("the match pizza news " * 50_000)[:1_000_000]
    real_budget = _data.char_budget
    with tempfile.TemporaryDirectory() as tmp:
        path = hostile_model(tmp)
        htok = load_tokenizer(path, None)
        print("(2) a quadratic pre-tokenizer regex (\\D*\\d), one text, max_length=128:")
        for n in (6_000, 12_000, 24_000):
            row = []
            for cut in (False, True):
                _data.char_budget = real_budget if cut else (lambda *a, **k: None)
                t = time.perf_counter()
                _data.encode(htok, [million[:n]], max_length=128)
                row.append(time.perf_counter() - t)
            _data.char_budget = real_budget
            print(f"  {n // 1000} KB: {row[0]:.2f} s uncut, {row[1]:.3f} s cut to "
                  f"{real_budget(128)} characters")
        est = TransformerMultiLabelClassifier(path, max_epochs=1, random_state=0, device="cpu",
                                              fit_cache=False).fit(X, Y)
        t = time.perf_counter()
        est.predict_proba([million])
        print(f"  predict_proba of a 1,000,000-character text: {time.perf_counter() - t:.2f} s")
    est = TransformerMultiLabelClassifier(minilm, max_epochs=1, random_state=0, device="cpu",
                                          fit_cache=False).fit(X, Y)
    for cut in (True, False):
        _data.char_budget = real_budget if cut else (lambda *a, **k: None)
        t = time.perf_counter()
        est.predict_proba([million])
        print(f"(3) MiniLM predict_proba of a 1,000,000-character text, "
              f"{'cut' if cut else 'uncut'}: {time.perf_counter() - t:.2f} s")
    _data.char_budget = real_budget


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.budget:
        budget_report(args)
        return 0
    if args.child:
        run_child(args)
        return 0
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown --modes {sorted(unknown)}; use {', '.join(MODES)}")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads),
               TOKENIZERS_PARALLELISM="false")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            out = os.path.join(tmp, f"{mode}.json")
            print(f"== long_text={mode!r}", flush=True)
            subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--child", mode,
                            "--child-out", out], check=True, env=env)
            with open(out) as fh:
                results[mode] = json.load(fh)
    first = next(iter(results.values()))
    print(f"\nReuters-21578 80/20 split (seed {args.seed}): {first['n_train']} training and "
          f"{first['n_test']} test stories, {first['n_labels']} labels; model {args.model}, "
          f"max_length {args.max_length}, {args.epochs} epoch(s), lr {args.learning_rate:g}, "
          f"batch {args.batch_size}; chunk: stride {args.stride}, max_chunks "
          f"{args.max_chunks}, {args.chunk_pooling} pooling; device {first['device']} "
          f"({first['precision']}), {args.threads} torch thread(s).")
    t = first["test_tokens"]
    print(f"Test stories: median {t['median']:.0f} tokens, 90th percentile {t['p90']:.0f}, "
          f"{100 * t['share_longer_than_max_length']:.0f}% longer than {args.max_length}.")
    if "chunk" in results:
        w = results["chunk"]["windows_per_test_doc"]
        print(f"chunk: {w['mean_used']:.2f} windows per test story on average (max "
              f"{w['max_used']}); {100 * w['share_cut_by_max_chunks']:.1f}% of the stories "
              f"need more than max_chunks={args.max_chunks}.")
    print("\nThreshold 0.5; macro-F1 over the labels present in each subset.\n")
    print(table(results))
    if args.json:
        payload = {"args": {k: v for k, v in vars(args).items() if not k.startswith("child")},
                   "machine": machine(args.threads), "results": results}
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
