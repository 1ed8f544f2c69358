"""One-call GPU check for a lent H100/H200: speed against the recipe, the profile, persistence.

One command, one JSON (``gpu_check.json``, plus ``gpu_check.md``), every section
under its own time budget (a row or variant that would not fit is recorded as
``"skipped: budget"`` instead of being run). A bert-base-sized BERT is built from a
config (random weights, no download); texts are GoEmotions texts (skbert's bundled
sample, or ``--texts`` JSON Lines), and for max_length 512 documents of 20 of them
joined (300 to 600 tokens). Sections, in order:

1. ``table``: at max_length 128 and 512, in bf16 and fp32, batch 32, 1 epoch:
   skbert (``fit`` + ``predict_proba``; training samples/s end to end, from raw texts
   to a trained model as in ``speed.py``, and for the epoch alone from ``history_``)
   against the notebook recipe (every text padded to max_length,
   ``AutoModelForSequenceClassification``, Hugging Face ``Trainer``, ``trainer.predict``:
   ``_recipe.py`` itself in fp32, the same calls with ``bf16=True`` in bf16; its epoch
   alone from ``Trainer``'s ``train_runtime``). Peak GPU memory per row.
2. ``predict_20k``: ``predict_proba`` at 128 on ``--n-predict`` (>= 20,000) texts with the
   fitted bf16 and fp32 estimators of the table, median of ``--predict-repeats``.
3. ``profile``: ``gpu_profile.py`` in a child process: per-step wall time, GPU busy
   time, kernels, launches, host-only time, collation / H2D / forward / backward /
   clipping / optimizer time and synchronisations, for bf16 at 128 and 512 and fp32 at
   128, and before/after each lever the installed skbert has (``prefetch``,
   ``buckets``: each turned off, or on, against skbert's default).
4. ``checks``: a model fitted on CUDA, pickled, loads and predicts on the CPU in a
   process that sees no GPU (and through save_pretrained / from_pretrained);
   ``precision="auto"`` resolves to bf16; fp16 with a gradient scaler trains.
5. ``compile``: ``gpu_profile.py`` with ``compile={"mode": "reduce-overhead"}`` (CUDA
   graphs; over bucketed widths where skbert buckets), steady state after a warm-up
   that includes compiling; gets what is left of the budget.

``targets`` in the JSON sets the numbers against issue 13's targets.

Usage (on the GPU machine, from the repository root)::

    PYTHONPATH=. python bench/gpu/gpu_check.py --tokenizer bench/_tok --out $OUT
    # smoke test on a CPU (2-layer model, tiny sizes; well under a minute)
    PYTHONPATH=. python bench/gpu/gpu_check.py --tokenizer bench/_tok --out /tmp \\
        --device cpu --tiny

``--tokenizer`` is a folder holding a BERT WordPiece tokenizer (e.g. the one shipped
with the default model: vocab.txt, tokenizer.json, tokenizer_config.json,
special_tokens_map.json); without it a WordLevel tokenizer is built from the texts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import use_folder  # noqa: E402
from gpu_profile import lever_values, make_model_folder, texts_for  # noqa: E402

DEVICE = "cuda"
TARGETS = {"train_128_bf16_sps": 3000, "train_128_vs_recipe": 4.0, "train_512_bf16_sps": 1200,
           "predict_128_tps": 25000, "predict_128_min_texts": 20000}


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak():
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_gib():
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def free():
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------- budgets
class Budget:
    """The whole run's deadline, and one allowance per section within it."""

    def __init__(self, total: float):
        self.t0 = time.perf_counter()
        self.total = total
        self.log: dict[str, dict] = {}

    def left(self) -> float:
        return self.total - (time.perf_counter() - self.t0)

    @contextlib.contextmanager
    def section(self, name: str, seconds: float):
        sec = Section(name, max(0.0, min(seconds, self.left())))
        self.log[name] = sec.record
        print(f"== {name}: {sec.allowed:.0f} s allowed, {self.left():.0f} s left in all",
              flush=True)
        try:
            yield sec
        finally:
            sec.record["used_s"] = round(time.perf_counter() - sec.start, 1)


class Section:
    def __init__(self, name: str, allowed: float):
        self.name, self.allowed, self.start = name, allowed, time.perf_counter()
        self.record = {"budget_s": round(allowed, 1), "skipped": []}

    def left(self) -> float:
        return self.allowed - (time.perf_counter() - self.start)

    def fits(self, estimate: float, what: str) -> bool:
        """Whether ``what`` (estimated at ``estimate`` s) fits; records the skip if not."""
        if self.left() >= estimate:
            return True
        self.record["skipped"].append(
            f"{what}: skipped: budget (needs ~{estimate:.0f} s, {self.left():.0f} s left)")
        print(self.record["skipped"][-1], flush=True)
        return False


# ------------------------------------------------------------------------- tools
def bench_skbert(path, Xtr, Ytr, Xte, max_length, precision, batch_size, compile=False,
                 model_kwargs=None, params=None):
    """Training samples/s end to end and for the epoch alone, and prediction samples/s
    after a 256-text warm-up call (with compile: the inference graph is compiled there)."""
    from skbert import TransformerMultiLabelClassifier

    kw = dict(pooling="cls", max_length=max_length, batch_size=batch_size, max_epochs=1,
              learning_rate=5e-5, precision=precision, device=DEVICE, random_state=0,
              fit_cache=False, predict_batch_size=256, compile=compile,
              model_kwargs=model_kwargs)
    kw.update(params or {})
    clf = TransformerMultiLabelClassifier(path, **kw)
    reset_peak()
    sync()
    t = time.perf_counter()
    clf.fit(Xtr, Ytr)
    sync()
    fit_s = time.perf_counter() - t
    epoch_s = clf.history_[0].get("dur") if clf.history_ else None
    clf.predict_proba(Xte[:256])  # warm-up
    sync()
    t = time.perf_counter()
    proba = clf.predict_proba(Xte)
    sync()
    pred_s = time.perf_counter() - t
    return {"n_train": len(Xtr), "n_test": len(Xte), "fit_s": fit_s,
            "train_sps": len(Xtr) / fit_s,
            "train_sps_epoch": len(Xtr) / epoch_s if epoch_s else None,
            "predict_sps": len(Xte) / pred_s, "peak_gib": peak_gib(),
            "precision_": clf.precision_}, clf, proba


def _train_runtime(trainer):
    for rec in reversed(trainer.state.log_history):
        if "train_runtime" in rec:
            return rec["train_runtime"]
    return None


def bench_recipe(path, Xtr, Ytr, Xte, max_length, precision, batch_size):
    """The notebook recipe: ``_recipe.py`` itself in fp32; in bf16 the same calls with
    ``TrainingArguments(bf16=True)`` (``_recipe.fit(..., bf16=True)``)."""
    use_folder("speed")  # bench/speed/_recipe.py
    import _recipe

    names = [str(i) for i in range(Ytr.shape[1])]
    reset_peak()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        trainer, tok = _recipe.fit(path, Xtr, Ytr, names, max_length=max_length,
                                   batch_size=batch_size, epochs=1, learning_rate=5e-5,
                                   output_dir=out, bf16=precision != "fp32")
        sync()
        fit_s = time.perf_counter() - t0
        t = time.perf_counter()
        _recipe.predict_proba(trainer, tok, Xte, max_length=max_length)
        sync()
        pred_s = time.perf_counter() - t
        runtime = _train_runtime(trainer)
    return {"n_train": len(Xtr), "n_test": len(Xte), "fit_s": fit_s,
            "train_sps": len(Xtr) / fit_s,
            "train_sps_epoch": len(Xtr) / runtime if runtime else None,
            "predict_sps": len(Xte) / pred_s, "peak_gib": peak_gib()}


def check_cpu_load(clf, Xte, proba_gpu, workdir, timeout=120):
    """Pickle a CUDA-fitted estimator; load and predict in a process with no GPU."""
    import joblib

    pkl = os.path.join(workdir, "clf.joblib")
    joblib.dump(clf, pkl)
    np.save(os.path.join(workdir, "X.npy"), np.asarray(Xte[:64], dtype=object),
            allow_pickle=True)
    code = (
        "import joblib, numpy as np, torch, warnings;"
        "assert not torch.cuda.is_available();"
        f"X=np.load({os.path.join(workdir, 'X.npy')!r}, allow_pickle=True).tolist();"
        "warnings.simplefilter('always');"
        f"clf=joblib.load({pkl!r});"
        "print('device_', clf.device_, 'precision_', clf.precision_);"
        f"np.save({os.path.join(workdir, 'p_cpu.npy')!r}, clf.predict_proba(X))"
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=timeout)
    print(r.stdout.strip(), r.stderr.strip()[-600:])
    p_cpu = np.load(os.path.join(workdir, "p_cpu.npy"))
    diff = float(np.abs(p_cpu - proba_gpu[:64]).max())
    folder = os.path.join(workdir, "saved")
    clf.save_pretrained(folder)
    from skbert import TransformerMultiLabelClassifier

    back = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    diff2 = float(np.abs(back.predict_proba(Xte[:64]) - proba_gpu[:64]).max())
    return {"pickle_cuda_to_cpu_max_abs_diff": diff, "folder_cuda_to_cpu_max_abs_diff": diff2,
            "pickle_bytes": os.path.getsize(pkl)}


def run_profile(path, variants, args, seconds, json_path, extra=()):
    """``gpu_profile.py`` in a child process, killed after ``seconds``; its JSON (written
    after every variant, so a killed run keeps the finished ones) or an error record."""
    cmd = [sys.executable, os.path.join(HERE, "gpu_profile.py"), "--model-dir", path,
           "--device", DEVICE, "--json", json_path, "--budget", str(max(1.0, seconds - 15)),
           "--batch-size", str(args.batch_size)]
    if args.texts:
        cmd += ["--texts", args.texts]
    if getattr(args, "skbert_params", None):
        cmd += ["--skbert-params", json.dumps(args.skbert_params)]
    if args.tiny:
        cmd += ["--warmup-steps", "2", "--steps", "4", "--profile-steps", "3",
                "--predict-batches", "2", "--predict-timed-batches", "2",
                "--predict-batch-size", "32", "--threads", "1"]
    cmd += list(extra)
    for name, opts in variants:
        cmd += ["--variant", f"{name}={json.dumps(opts)}"]
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(HERE))  # the repository
    env["PYTHONPATH"] = os.pathsep.join([root, HERE, os.path.dirname(HERE),
                                         env.get("PYTHONPATH", "")])
    t = time.perf_counter()
    note = None
    # its own process group: on a timeout the compile workers it may have started go too
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=seconds)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        rc, note = None, f"killed after {seconds:.0f} s (budget); finished variants kept"
    print("\n".join(ln for ln in log.splitlines() if "USDT" not in ln)[-12000:], flush=True)
    out = {"rc": rc, "wall_s": time.perf_counter() - t, "cmd": cmd[1:]}
    if note:
        out["note"] = note
    if os.path.exists(json_path):
        with open(json_path) as fh:
            out.update(json.load(fh))
    else:
        out["error"] = "no JSON written; see the log: " + log[-2000:]
    for v in out.get("variants", []):  # the traces are in the child's own trace files
        for phase in ("train", "predict"):
            with contextlib.suppress(AttributeError, KeyError, TypeError):
                v[phase]["profile"]["steps"] = v[phase]["profile"]["steps"][:12]
    return out


def profile_variants(max_lengths, overrides=None) -> tuple[list, dict]:
    """bf16 at each length, fp32 at 128, and each lever skbert has against its default.

    ``overrides``: ``{lever: {"off": ..., "on": ...}}`` replacing the values guessed by
    :func:`gpu_profile.lever_values`.
    """
    lengths = sorted(max_lengths)
    first = lengths[0]
    main_prec = "bf16" if DEVICE == "cuda" else "fp32"
    variants = [(f"{main_prec}-{first}", {"precision": main_prec, "max_length": first})]
    if DEVICE == "cuda":
        variants.append((f"fp32-{first}", {"precision": "fp32", "max_length": first}))
    for L in lengths[1:]:
        variants.append((f"{main_prec}-{L}", {"precision": main_prec, "max_length": L}))
    levers, off_all = {}, {}
    for lever in ("prefetch", "buckets", "predict_token_budget"):
        values = lever_values(lever)
        if values is not None and lever in (overrides or {}):
            values = {**values, **overrides[lever]}
        if values is None:
            levers[lever] = "not in the installed skbert"
            continue
        levers[lever] = {k: repr(v) for k, v in values.items()}
        # the estimator may switch a lever on by itself on CUDA (prefetch, token budget),
        # whatever the config field's default: measure both states explicitly
        for state in ("off", "on"):
            variants.append((f"{main_prec}-{first} {lever} {state}",
                             {"precision": main_prec, "max_length": first,
                              lever: values[state]}))
        off_all[lever] = values["off"]
    if len(off_all) > 1:
        variants.append((f"{main_prec}-{first} all levers off",
                         {"precision": main_prec, "max_length": first, **off_all}))
    return variants, levers


def targets(results: dict) -> dict:
    """Issue 13's targets against this run's numbers."""
    def row(tool, L, prec):
        for r in results.get("rows", []):
            if (r["tool"], r["max_length"], r["precision"]) == (tool, L, prec) \
                    and "train_sps" in r:
                return r
        return None

    def ratio(a, b, key):
        return a[key] / b[key] if a and b and a.get(key) and b.get(key) else None

    out = {}
    s128, s512 = row("skbert", 128, "bf16"), row("skbert", 512, "bf16")
    r128, r128b = row("recipe", 128, "fp32"), row("recipe", 128, "bf16")
    for key in ("train_sps_epoch", "train_sps"):
        label = "epoch alone" if key == "train_sps_epoch" else "end to end"
        for name, r, goal in (("128", s128, "train_128_bf16_sps"),
                              ("512", s512, "train_512_bf16_sps")):
            x = r.get(key) if r else None
            out[f"train {name} bf16 >= {TARGETS[goal]} samples/s ({label})"] = {
                "value": x, "met": None if x is None else x >= TARGETS[goal]}
        if s128:
            for rr, name in ((r128, "recipe fp32 (_recipe.py)"), (r128b, "recipe bf16")):
                x = ratio(s128, rr, key)
                out[f"train 128 bf16 >= {TARGETS['train_128_vs_recipe']:g}x {name} ({label})"] \
                    = {"value": x, "met": None if x is None else x
                       >= TARGETS["train_128_vs_recipe"]}
    for p in results.get("predict_20k", []):
        if p.get("precision") == "bf16" and "median_tps" in p:
            out[f"predict 128 bf16 >= {TARGETS['predict_128_tps']} texts/s over "
                f"{p['n_texts']} texts"] = {
                "value": p["median_tps"], "met": p["median_tps"] >= TARGETS["predict_128_tps"]
                and p["n_texts"] >= TARGETS["predict_128_min_texts"]}
    for key in ("profile", "compile"):  # the training loop alone, no profiler, warmed up
        for v in (results.get(key) or {}).get("variants", []):
            opts, tr = v.get("options", {}), v.get("train") or {}
            L, sps = opts.get("max_length"), tr.get("samples_per_s")
            if v.get("precision_resolved") == "bf16" and sps and L in (128, 512):
                goal = TARGETS["train_128_bf16_sps" if L == 128 else "train_512_bf16_sps"]
                out[f"train {L} bf16 >= {goal} samples/s (steady loop, {key}: "
                    f"{v['variant']})"] = {"value": sps, "met": sps >= goal}
    for L in (128, 512):
        b, f = row("skbert", L, "bf16"), row("skbert", L, "fp32")
        for key in ("train_sps_epoch", "train_sps", "predict_sps"):
            x = ratio(b, f, key)
            if x is not None:
                out[f"bf16 / fp32 {key} at {L} >= 1"] = {"value": x, "met": x >= 1.0}
    for p in results.get("predict_20k", []):
        if p.get("precision") == "bf16" and "median_tps" in p:
            f = next((q for q in results["predict_20k"]
                      if q.get("precision") == "fp32" and "median_tps" in q), None)
            if f:
                x = p["median_tps"] / f["median_tps"]
                out["bf16 / fp32 prediction over the 20k texts at 128 >= 1"] = {
                    "value": x, "met": x >= 1.0}
    return out


def write(results, out_dir, lines=None):
    with open(os.path.join(out_dir, "gpu_check.json.tmp"), "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    os.replace(os.path.join(out_dir, "gpu_check.json.tmp"),
               os.path.join(out_dir, "gpu_check.json"))
    if lines is not None:
        with open(os.path.join(out_dir, "gpu_check.md"), "w") as fh:
            fh.write("\n".join(lines) + "\n")


# -------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", default=None,
                    help="BERT WordPiece tokenizer folder (default: a WordLevel one built "
                         "from the texts)")
    ap.add_argument("--texts", default=None,
                    help="JSON Lines of GoEmotions texts (default: skbert's bundled sample)")
    ap.add_argument("--out", default=".")
    ap.add_argument("--n-train", type=int, default=6000,
                    help="training texts at 128 (a third of it at longer lengths)")
    ap.add_argument("--n-test", type=int, default=4000, help="(half of it at longer lengths)")
    ap.add_argument("--n-predict", type=int, default=20000,
                    help="texts of the predict_20k section (>= 20,000 for the target)")
    ap.add_argument("--predict-repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--skip-recipe", action="store_true")
    ap.add_argument("--skbert-params", type=json.loads, default={},
                    help="extra estimator parameters for every skbert row and profile "
                         "variant (JSON object)")
    ap.add_argument("--budget", type=float, default=450,
                    help="seconds for the whole run; sections get shares of it (below)")
    ap.add_argument("--budgets", type=json.loads, default={},
                    help='per-section seconds (default {"table": 160, "predict_20k": 35, '
                         '"profile": 140, "checks": 40, "compile": 150}; compile gets at most '
                         'what is left)')
    ap.add_argument("--compile-variants", type=json.loads, default=None,
                    help='the compile section\'s variants as {"name": {options}} (default: '
                         'bf16 at 128 with compile={"mode": "reduce-overhead"})')
    ap.add_argument("--lever-values", type=json.loads, default={},
                    help='the values a lever is turned off/on with, where the guess from '
                         'skbert\'s default is wrong, e.g. {"prefetch": {"off": false}}')
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--compile", action="store_true",
                    help="also a table row with compile=True (compiling counted in its fit)")
    ap.add_argument("--compile-lengths", default=None,
                    help="with --compile: only at these max_lengths (default: all of --lengths)")
    ap.add_argument("--no-attention-dropout", action="store_true",
                    help="also a table row (bf16 on CUDA) with "
                         "model_kwargs={'attention_probs_dropout_prob': 0.0}")
    ap.add_argument("--device", default="cuda", help="'cpu' only to smoke-test this script")
    ap.add_argument("--tiny", action="store_true",
                    help="a 2-layer model and tiny sizes, to smoke-test")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda":
        assert torch.cuda.is_available(), "this script needs a CUDA GPU"
    if args.tiny:
        args.n_train, args.n_test = min(args.n_train, 96), min(args.n_test, 64)
        args.n_predict, args.predict_repeats = min(args.n_predict, 256), 1
        args.batch_size = min(args.batch_size, 16)
        torch.set_num_threads(1)
    shares = {"table": 160, "predict_20k": 35, "profile": 140, "checks": 40, "compile": 150}
    if args.tiny:
        shares = {"table": 40, "predict_20k": 10, "profile": 40, "checks": 20, "compile": 0}
    shares.update(args.budgets)
    budget = Budget(args.budget)
    os.makedirs(args.out, exist_ok=True)
    import transformers

    env = {"gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu",
           "torch": torch.__version__, "transformers": transformers.__version__}
    print(env, flush=True)
    results = {"env": env, "targets_wanted": TARGETS, "budget": budget.log, "rows": [],
               "args": vars(args)}
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in args.lengths.split(",")]
    compile_lengths = (lengths if args.compile_lengths is None
                       else [int(x) for x in args.compile_lengths.split(",")])
    main_prec = "bf16" if DEVICE == "cuda" else "fp32"
    precs = (main_prec, "fp32") if DEVICE == "cuda" else ("fp32",)
    fitted = {}
    with tempfile.TemporaryDirectory() as work:
        pool, _ = texts_for(128, 4000, np.random.default_rng(1), args.texts)
        results["model"] = make_model_folder(os.path.join(work, "bert-base-random"),
                                             args.tokenizer, args.tiny, pool)
        path = results["model"]["folder"]

        # 1. training and prediction against the recipe
        with budget.section("table", shares["table"]) as sec:
            took = {}
            plan = []
            for L in lengths:
                for tool in ("skbert", "recipe"):
                    for prec in precs:
                        if tool == "recipe" and args.skip_recipe:
                            continue
                        plan.append((tool, L, prec))
                        if tool == "skbert" and prec == main_prec:
                            if args.no_attention_dropout:
                                plan.append(("skbert, no attention dropout", L, prec))
                            if args.compile and L in compile_lengths:
                                plan.append(("skbert+compile", L, prec))
            data = {}
            for tool, L, prec in plan:
                if L not in data:
                    n_tr = args.n_train if L <= 128 else args.n_train // 3
                    n_te = args.n_test if L <= 128 else args.n_test // 2
                    data[L] = (*texts_for(L, n_tr, rng, args.texts),
                               texts_for(L, n_te, rng, args.texts)[0])
                Xtr, Ytr, Xte = data[L]
                base = tool.split(",")[0].split("+")[0]
                default = (20 if base == "skbert" else 30) * (L / 128) ** 0.5
                est = took.get((base, L), default if DEVICE == "cuda" else 5)
                if (base, L) in took:  # fp32 at long lengths is several times bf16
                    est *= 2.5 if prec == "fp32" and L > 128 else 1.3
                record = {"tool": tool, "max_length": L, "precision": prec}
                if not sec.fits(est, f"{tool} {L} {prec}"):
                    results["rows"].append({**record, "skipped": "skipped: budget"})
                    continue
                t = time.perf_counter()
                try:
                    if base == "recipe":
                        r = bench_recipe(path, Xtr, Ytr, Xte, L, prec, args.batch_size)
                    else:
                        kw = dict(params=args.skbert_params)
                        if "no attention dropout" in tool:
                            kw["model_kwargs"] = {"attention_probs_dropout_prob": 0.0}
                        if "compile" in tool:
                            kw["compile"] = True
                        r, clf, proba = bench_skbert(path, Xtr, Ytr, Xte, L, prec,
                                                     args.batch_size, **kw)
                        if tool == "skbert" and L == lengths[0]:
                            fitted[prec] = (clf, Xte, proba)
                        del clf
                except Exception as exc:  # one failed row must not lose the others
                    r = {"error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc()[-2000:]}
                took[(base, L)] = max(took.get((base, L), 0), time.perf_counter() - t)
                results["rows"].append({**record, **r})
                print(results["rows"][-1], flush=True)
                free()
                write(results, args.out)

        # 2. prediction at 128 over >= 20,000 texts
        results["predict_20k"] = []
        with budget.section("predict_20k", shares["predict_20k"]) as sec:
            Xp, _ = texts_for(lengths[0], args.n_predict, rng, args.texts)
            est = 10.0 if DEVICE == "cuda" else 2.0
            for prec in precs:
                if prec not in fitted:
                    continue
                clf = fitted[prec][0]
                if not sec.fits(est, f"predict_20k {prec}"):
                    results["predict_20k"].append({"precision": prec,
                                                   "skipped": "skipped: budget"})
                    continue
                t = time.perf_counter()
                try:
                    clf.predict_proba(Xp[:1000])  # warm-up
                    times = []
                    for _ in range(args.predict_repeats):
                        sync()
                        t1 = time.perf_counter()
                        clf.predict_proba(Xp)
                        sync()
                        times.append(time.perf_counter() - t1)
                        if sec.left() < times[-1] * 1.2:
                            break
                    tps = [len(Xp) / s for s in times]
                    r = {"precision": prec, "n_texts": len(Xp), "repeats": len(times),
                         "median_tps": statistics.median(tps), "best_tps": max(tps),
                         "tps": tps, "note": "predict_proba, tokenising included"}
                except Exception as exc:
                    r = {"precision": prec, "error": f"{type(exc).__name__}: {exc}"}
                est = 1.3 * (time.perf_counter() - t)
                results["predict_20k"].append(r)
                print(r, flush=True)
                write(results, args.out)

        # 3. the profile, before and after each lever
        if not args.no_profile:
            with budget.section("profile", shares["profile"]) as sec:
                variants, levers = profile_variants(lengths, args.lever_values)
                results["levers"] = levers
                if sec.fits(30 if DEVICE == "cuda" else 10, "profile"):
                    results["profile"] = run_profile(
                        path, variants, args, sec.left(), os.path.join(work, "profile.json"),
                        extra=["--keep-trace", os.path.join(args.out, "profile_trace.json.gz")]
                        if DEVICE == "cuda" else [])
                    write(results, args.out)

        # 4. persistence and precision checks
        with budget.section("checks", shares["checks"]) as sec:
            if main_prec in fitted and sec.fits(25 if DEVICE == "cuda" else 5, "persistence"):
                clf, Xte, proba = fitted[main_prec]
                try:
                    results["persistence"] = check_cpu_load(clf, Xte, proba, work,
                                                            timeout=max(20, sec.left()))
                except Exception as exc:
                    results["persistence"] = {"error": f"{type(exc).__name__}: {exc}"}
                print(results["persistence"], flush=True)
            fitted.clear()
            free()
            if sec.fits(10 if DEVICE == "cuda" else 3, "auto precision and fp16"):
                from skbert import TransformerMultiLabelClassifier

                Xs, Ys = texts_for(128, 64, rng, args.texts)
                try:
                    auto = TransformerMultiLabelClassifier(
                        path, max_epochs=1, fit_cache=False, device=DEVICE,
                        random_state=0).fit(Xs, Ys)
                    fp16 = TransformerMultiLabelClassifier(
                        path, max_epochs=1, fit_cache=False, device=DEVICE, random_state=0,
                        precision="fp16" if DEVICE == "cuda" else "fp32").fit(Xs, Ys)
                    results["auto_precision"] = auto.precision_
                    results["fp16_history"] = fp16.history_
                    results["fp16_finite"] = bool(np.isfinite(fp16.predict_proba(Xs)).all())
                except Exception as exc:
                    results["auto_precision"] = f"error: {type(exc).__name__}: {exc}"
            free()
            write(results, args.out)

        # 5. CUDA graphs / compile: steady state after compiling
        if not args.no_profile:
            with budget.section("compile", max(0.0, min(shares["compile"],
                                                        budget.left() - 5))) as sec:
                spec = args.compile_variants or {
                    f"{main_prec}-{lengths[0]} compile reduce-overhead": {
                        "precision": main_prec, "max_length": lengths[0],
                        "compile": {"mode": "reduce-overhead"}}}
                if DEVICE == "cuda" and sec.fits(60, "compile profile"):
                    results["compile"] = run_profile(
                        path, list(spec.items()), args, sec.left(),
                        os.path.join(work, "compile.json"),
                        extra=["--warmup-steps", "40", "--steps", "40", "--profile-steps", "6",
                               "--predict-batches", "4"])
                elif DEVICE != "cuda":
                    sec.record["skipped"].append("compile: skipped: CUDA only")

    results["targets"] = targets(results)
    results["total_s"] = round(time.perf_counter() - budget.t0, 1)
    lines = report(results, args)
    print("\n".join(lines))
    write(results, args.out, lines)


def report(results, args) -> list[str]:
    env = results["env"]
    lines = [f"GPU: {env['gpu']} (torch {env['torch']}, transformers {env['transformers']}); "
             f"bert-base-sized BERT, random weights, batch {args.batch_size}, 1 epoch; "
             f"{results['total_s']} s in all", "",
             "| tool | max_length | precision | n train | train samples/s (end to end) | "
             "train samples/s (epoch) | predict samples/s | peak GPU GiB |",
             "|---|---|---|---:|---:|---:|---:|---:|"]

    def f(x, spec=".0f"):
        return "-" if x is None else format(x, spec)

    for r in results["rows"]:
        if "train_sps" not in r:
            lines.append(f"| {r['tool']} | {r['max_length']} | {r['precision']} | "
                         f"{r.get('skipped') or r.get('error')} | | | | |")
            continue
        lines.append(f"| {r['tool']} | {r['max_length']} | {r['precision']} | {r['n_train']} | "
                     f"{f(r['train_sps'])} | {f(r.get('train_sps_epoch'))} | "
                     f"{f(r['predict_sps'])} | {f(r.get('peak_gib'), '.2f')} |")
    for p in results.get("predict_20k", []):
        if "median_tps" in p:
            lines.append(f"\npredict_proba at 128, {p['precision']}, {p['n_texts']} texts: "
                         f"{p['median_tps']:.0f} texts/s (median of {p['repeats']}; best "
                         f"{p['best_tps']:.0f})")
        else:
            lines.append(f"\npredict_20k {p.get('precision')}: {p.get('skipped') or p}")
    for key in ("profile", "compile"):
        prof = results.get(key)
        if not prof:
            continue
        lines += ["", f"## {key} (gpu_profile.py; {prof.get('note') or 'rc ' + str(prof['rc'])})"]
        try:
            from gpu_profile import headline, table

            for v in prof.get("variants", []):
                lines.append(headline(v))
                if v.get("train"):
                    lines.append(table(v, "train"))
                lines.append("")
        except Exception as exc:  # a report must not fail on an odd child result
            lines.append(f"(could not format: {exc})")
        if prof.get("error"):
            lines.append(prof["error"][-1000:])
    lines += ["", "## targets (issue 13)"]
    for k, v in results.get("targets", {}).items():
        lines.append(f"- {k}: {f(v['value'], '.2f')} -> "
                     f"{'met' if v['met'] else 'NOT met' if v['met'] is not None else '?'}")
    lines += ["", "budget: " + "; ".join(
        f"{k} {v.get('used_s', 0)}/{v['budget_s']} s"
        + (f" ({len(v['skipped'])} skipped)" if v["skipped"] else "")
        for k, v in results["budget"].items())]
    return lines


if __name__ == "__main__":
    main()
