"""Quality with skbert's defaults and with one lever changed, against TF-IDF, over seeds.

One command runs, on one data set (a preset from ``../shared/data``):

* ``skbert``: ``TransformerMultiLabelClassifier(threshold="auto", random_state=seed,
  max_length=L, max_epochs=E)`` with every other parameter at its default (the
  ``defaults`` variant), and each ``--variant`` (one lever changed);
* ``tfidf``: TF-IDF + one-vs-rest logistic regression exactly as
  ``skbert.cli.tfidf_baseline`` (threshold 0.5; deterministic, so one seed is enough),

each run in its own child process, once per seed, and prints micro-F1, macro-F1,
LRAP, subset accuracy and the fit time (mean and spread over the seeds, and each
variant's difference from ``defaults`` paired by seed).

Presets (``--data`` is the shared data folder):

* ``goemotions``: a seeded sample of 10,000 documents of ``goemotions/train.jsonl``
  (``numpy.random.default_rng(0)``, the same for every seed) -> the whole
  validation split (5,426); max_length 64, max_epochs 3;
* ``reuters``: ``reuters21578/train.jsonl`` split 80/20 with
  ``train_test_split(random_state=0)`` (6,216 -> 1,554); max_length 256,
  max_epochs 3 (``--variant chunk`` for ``long_text="chunk"``).

``--n-train`` / ``--n-test`` shrink a preset (smoke tests; results then go to
their own JSON file). The seed of a run is skbert's ``random_state``: it moves the
head's initialisation, dropout, batch order and the 10 % validation split that
``threshold="auto"`` holds out; the data sample stays the same.

A variant is ``NAME`` (one of :data:`LEVERS`; ``--list`` prints them) or
``NAME=JSON`` (estimator parameters). Three keys are not estimator parameters but
levers implemented here by patching skbert in the child process:

* ``"bench:layer_decay": d``: layer-wise learning-rate decay; encoder layer k of
  L gets ``learning_rate * d**(L-1-k)``, the embeddings ``learning_rate * d**L``,
  the head keeps ``head_learning_rate`` (``skbert._training.make_optimizer``
  replaced);
* ``"bench:loss": {"name": "focal", "gamma": 2}`` or ``{"name": "asl",
  "gamma_neg": 4, "gamma_pos": 0, "clip": 0.05}``: focal loss or the asymmetric
  loss of Ridnik et al. (2021) instead of ``BCEWithLogitsLoss`` in training
  (``pos_weight`` still applies; the validation loss that selects the kept epoch
  stays BCE);
* ``"bench:descriptions": true``: the preset's label descriptions
  (``reuters_descriptions.json`` next to this script, one short text per
  Reuters topic code such as ``"acq"``) passed as ``label_descriptions``.

Every skbert run also records what other thresholds would have scored, from the
same model: the child captures the validation-split probabilities that
``threshold="auto"`` tunes on, and scores the test set at 0.5, at per-label-F1
thresholds (``threshold_metric="f1"``), at micro-F1 thresholds (``"f1_micro"``),
with ``min_positives`` 1 and 10, with rare labels at the best single threshold
instead of 0.5, and at that single threshold for all labels. Threshold levers
therefore cost no extra training.

Results are appended to the JSON (default ``bench/results/quality/<preset>.json``)
as each run ends; a run already there (same tool, variant, parameters, seed and
sizes) is not run again, so an interrupted command continues where it stopped.
``--time-limit S`` stops this invocation after S seconds: a skbert run then
saves its training state after every epoch (``checkpoint_dir``) and the next
invocation of the same command resumes it after its last completed epoch
(bitwise the same weights on the CPU); its fit time is the sum of each
segment's time up to its last completed epoch (a resumed segment pays loading
and tokenising again, a few seconds).

    python bench/quality/quality.py --preset goemotions --seeds 0,1 --variant lr2e4 \\
        --variant 'mine={"learning_rate": 1e-4, "warmup_ratio": 0}' --time-limit 530
    python bench/quality/quality.py --preset goemotions --summary     # the table, no runs
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import indicator, read_jsonl, timed_fit_predict  # noqa: E402

DEFAULT_DATA = os.path.join("..", "shared", "data")
DEFAULT_OUT = os.path.join("bench", "results", "quality")

PRESETS = {
    "goemotions": {"folder": "goemotions", "train": "train.jsonl", "test": "validation.jsonl",
                   "n_train": 10_000, "n_test": None, "sample_seed": 0,
                   "max_length": 64, "max_epochs": 3},
    "reuters": {"folder": "reuters21578", "file": "train.jsonl", "test_size": 0.2,
                "split_seed": 0, "max_length": 256, "max_epochs": 3,
                "descriptions": "reuters_descriptions.json"},
}

#: The defaults this benchmark changed, as they were before (records written
#: before ``base`` was stored ran on these); see :func:`current_base`.
V1_BASE = {"learning_rate": 5e-5, "threshold_metric": "f1", "scoring": None}

#: Named variants: one lever each, against skbert's defaults (see ``base`` in each
#: record: now learning_rate "auto" = 2e-4 for MiniLM, threshold_metric
#: "f1_micro_global", scoring "f1_micro"; head 10x, warmup 0.1, 3 epochs, no early
#: stopping, BCE, pos_weight None).
LEVERS = {
    "defaults": {},
    "lr3e5": {"learning_rate": 3e-5},
    "lr1e4": {"learning_rate": 1e-4},
    "lr2e4": {"learning_rate": 2e-4},
    "lr3e4": {"learning_rate": 3e-4},
    "head1x": {"head_learning_rate": 5e-5},
    "head3x": {"head_learning_rate": 1.5e-4},
    "head30x": {"head_learning_rate": 1.5e-3},
    "llrd08": {"bench:layer_decay": 0.8},
    "warmup0": {"warmup_ratio": 0.0},
    "warmup006": {"warmup_ratio": 0.06},
    "warmup02": {"warmup_ratio": 0.2},
    "epochs5": {"max_epochs": 5},
    "es_loss": {"max_epochs": 8, "early_stopping": True, "n_iter_no_change": 2},
    "es_micro": {"max_epochs": 8, "early_stopping": True, "scoring": "f1_micro",
                 "n_iter_no_change": 2},
    "es_macro": {"max_epochs": 8, "early_stopping": True, "scoring": "f1_macro",
                 "n_iter_no_change": 2},
    "f1micro": {"threshold_metric": "f1_micro"},
    "balanced": {"pos_weight": "balanced"},
    "focal": {"bench:loss": {"name": "focal", "gamma": 2.0}},
    "asl": {"bench:loss": {"name": "asl", "gamma_neg": 4.0, "gamma_pos": 0.0, "clip": 0.05}},
    "noattndrop": {"model_kwargs": {"attention_probs_dropout_prob": 0.0}},
    "chunk": {"long_text": "chunk"},
    # issue 22: how a new head starts, and the training length
    "head_labels": {"head_init": "labels"},
    "head_random": {"head_init": "random"},
    "head_names": {"head_init": "names"},
    "head_centroids": {"head_init": "centroids"},
    "described": {"head_init": "labels", "bench:descriptions": True},
    "auto_epochs": {"max_epochs": "auto"},
}

#: Threshold strategies scored on every skbert run (see the module docstring).
THRESHOLD_RULES = ("auto", "0.5", "f1", "f1_micro", "f1_min1", "f1_min10", "f1_rare_global",
                   "global", "shrunk5", "shrunk10", "shrunk20", "shrunk40", "auto_min1", "0.5_min1")

METRICS = ("micro_f1", "macro_f1", "lrap", "subset_accuracy")


# --------------------------------------------------------------------- data
def load_preset(preset: str, data: str, n_train: int | None, n_test: int | None):
    """``(X_train, Y_train, X_test, Y_test, label names)`` of a preset."""
    import numpy as np

    p = PRESETS[preset]
    folder = os.path.join(data, p["folder"])
    with open(os.path.join(folder, "labels.txt"), encoding="utf-8") as fh:
        names = [ln.strip() for ln in fh if ln.strip()]
    if preset == "goemotions":
        texts, labels = read_jsonl(os.path.join(folder, p["train"]))
        n = p["n_train"] if n_train is None else n_train
        idx = np.sort(np.random.default_rng(p["sample_seed"]).permutation(len(texts))[:n])
        Xtr, Ltr = [texts[i] for i in idx], [labels[i] for i in idx]
        Xte, Lte = read_jsonl(os.path.join(folder, p["test"]))
        m = p["n_test"] if n_test is None else n_test
        Xte, Lte = Xte[:m], Lte[:m]
    else:
        from sklearn.model_selection import train_test_split

        texts, labels = read_jsonl(os.path.join(folder, p["file"]))
        tr, te = train_test_split(np.arange(len(texts)), test_size=p["test_size"],
                                  random_state=p["split_seed"])
        tr, te = tr[:n_train], te[:n_test]  # the parts are shuffled: a random subsample
        Xtr, Ltr = [texts[i] for i in tr], [labels[i] for i in tr]
        Xte, Lte = [texts[i] for i in te], [labels[i] for i in te]
    return Xtr, indicator(Ltr, names), Xte, indicator(Lte, names), names


# ------------------------------------------------------------------ metrics
def scores(Y, P, proba=None) -> dict:
    """micro-F1, macro-F1 (labels present in Y; and all labels), subset accuracy, LRAP."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, label_ranking_average_precision_score

    present = np.flatnonzero(Y.sum(axis=0) > 0)
    out = {"micro_f1": float(f1_score(Y, P, average="micro", zero_division=0)),
           "macro_f1": float(f1_score(Y[:, present], P[:, present], average="macro",
                                      zero_division=0)),
           "macro_f1_all_labels": float(f1_score(Y, P, average="macro", zero_division=0)),
           "subset_accuracy": float(accuracy_score(Y, P))}
    if proba is not None:
        out["lrap"] = float(label_ranking_average_precision_score(Y, proba))
    return out


def best_global_threshold(Yv, Pv) -> float:
    """The single threshold for all labels with the best validation micro-F1."""
    import numpy as np

    from skbert._thresholds import DEFAULT_CANDIDATES

    best, best_t = -1.0, 0.5
    for t in DEFAULT_CANDIDATES:
        pred = Pv >= t
        tp = float(np.logical_and(pred, Yv > 0).sum())
        denom = float(pred.sum() + (Yv > 0).sum())
        f1 = 2 * tp / denom if denom else 0.0
        if f1 > best + 1e-12:
            best, best_t = f1, float(t)
    return best_t


def threshold_table(Yv, Pv, auto, Yte, proba) -> dict:
    """Test scores of each threshold rule, all tuned on the same validation probabilities."""
    from skbert import tune_thresholds
    from skbert._thresholds import at_least

    g = best_global_threshold(Yv, Pv)
    rules = {
        "auto": auto,
        "0.5": 0.5,
        "f1": tune_thresholds(Yv, Pv, metric="f1"),
        "f1_micro": tune_thresholds(Yv, Pv, metric="f1_micro"),
        "f1_min1": tune_thresholds(Yv, Pv, metric="f1", min_positives=1),
        "f1_min10": tune_thresholds(Yv, Pv, metric="f1", min_positives=10),
        "f1_rare_global": tune_thresholds(Yv, Pv, metric="f1", default=g),
        "global": g,
        "shrunk5": tune_thresholds(Yv, Pv, metric="f1_shrunk", shrinkage=5),
        "shrunk10": tune_thresholds(Yv, Pv, metric="f1_shrunk", shrinkage=10),
        "shrunk20": tune_thresholds(Yv, Pv, metric="f1_shrunk", shrinkage=20),
        "shrunk40": tune_thresholds(Yv, Pv, metric="f1_shrunk", shrinkage=40),
    }
    out = {}
    for name, thr in rules.items():
        out[name] = scores(Yte, (proba >= thr).astype(int))
    out["auto_min1"] = scores(Yte, at_least(proba, auto, 1).astype(int))
    out["0.5_min1"] = scores(Yte, at_least(proba, 0.5, 1).astype(int))
    out["global"]["threshold"] = g
    return out


# ------------------------------------------------------- levers (child side)
def patch_layer_decay(decay: float) -> None:
    """Replace ``skbert._training.make_optimizer`` with a layer-wise decayed one."""
    import re

    import torch

    from skbert import _training

    def make_optimizer(model, config):
        backbone = getattr(model, "backbone", model)
        n_layers = int(getattr(backbone.config, "num_hidden_layers"))
        head = set()
        if hasattr(model, "output_layer") and config.head_learning_rate is not None:
            head = {id(p) for p in model.output_layer().parameters()}
        groups: dict = {}
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if id(p) in head:
                key = ("head", config.head_learning_rate, 0.0)
            else:
                m = re.search(r"\.layer\.(\d+)\.", name)
                if m:
                    scale = decay ** (n_layers - 1 - int(m.group(1)))
                elif ".embeddings." in name or name.startswith("embeddings."):
                    scale = decay ** n_layers
                else:
                    scale = 1.0
                wd = 0.0 if p.ndim < 2 else config.weight_decay
                key = ("body", config.learning_rate * scale, wd)
            groups.setdefault(key, []).append(p)
        param_groups = [{"params": ps, "lr": lr, "weight_decay": wd}
                        for (_, lr, wd), ps in sorted(groups.items(), key=lambda kv: kv[0])]
        try:
            return torch.optim.AdamW(param_groups, lr=config.learning_rate, fused=True)
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.AdamW(param_groups, lr=config.learning_rate)

    _training.make_optimizer = make_optimizer


def patch_loss(spec: dict) -> None:
    """Make ``skbert._training.train`` build ``spec``'s loss instead of BCEWithLogitsLoss."""
    import types

    import torch
    from torch import nn
    from torch.nn import functional as F

    from skbert import _training

    name = spec["name"]
    if name not in ("focal", "asl"):
        raise SystemExit(f"bench:loss name {name!r}: use 'focal' or 'asl'")

    class Loss(nn.Module):
        def __init__(self, pos_weight=None, reduction="none"):
            super().__init__()
            assert reduction == "none", reduction
            self.pos_weight = pos_weight

        def forward(self, logits, y):
            if name == "focal":
                bce = F.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight,
                                                         reduction="none")
                p = torch.sigmoid(logits)
                p_t = p * y + (1 - p) * (1 - y)
                return (1 - p_t).pow(float(spec.get("gamma", 2.0))) * bce
            p = torch.sigmoid(logits)
            p_m = (p - float(spec.get("clip", 0.05))).clamp(min=0)
            log_p = F.logsigmoid(logits)
            log_1m = torch.log((1 - p_m).clamp(min=1e-8))
            pos = y * (1 - p).pow(float(spec.get("gamma_pos", 0.0))) * log_p
            if self.pos_weight is not None:
                pos = pos * self.pos_weight
            neg = (1 - y) * p_m.pow(float(spec.get("gamma_neg", 4.0))) * log_1m
            return -(pos + neg)

    shim = types.SimpleNamespace(BCEWithLogitsLoss=Loss)
    real = nn

    class NN(types.ModuleType):
        def __getattr__(self, attr):
            return getattr(shim, attr) if hasattr(shim, attr) else getattr(real, attr)

    _training.nn = NN("nn_with_bench_loss")


class EpochClock:
    """Callback: appends ``[epoch, seconds since fit began]`` to a segment log after each epoch."""

    def __init__(self, path: str, segment: int):
        self.path, self.segment = path, segment
        self.t0 = time.perf_counter()

    def on_epoch_end(self, estimator, record):
        log = _read_json(self.path, {})
        log.setdefault(str(self.segment), []).append(
            [int(record["epoch"]), time.perf_counter() - self.t0])
        _write_json(self.path, log)


# --------------------------------------------------------------- child side
def run_child(spec_path: str, result_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    import numpy as np

    Xtr, Ytr, Xte, Yte, names = load_preset(spec["preset"], spec["data"], spec["n_train"],
                                            spec["n_test"])
    out = {"n_train": len(Xtr), "n_test": len(Xte), "n_labels": len(names),
           "n_labels_in_test": int((Yte.sum(axis=0) > 0).sum()),
           "n_labels_in_train": int((Ytr.sum(axis=0) > 0).sum())}
    if spec["tool"] == "tfidf":
        import warnings

        from skbert.cli import BASELINE_PARAMS, tfidf_baseline

        pipe = tfidf_baseline()
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # labels absent from the sample
            pipe.fit(Xtr, Ytr)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        proba = np.asarray(pipe.predict_proba(Xte), dtype=np.float64)
        out.update(predict_s=time.perf_counter() - t, fit_s=fit_s,
                   baseline_params=BASELINE_PARAMS, threshold=0.5,
                   **scores(Yte, (proba >= 0.5).astype(int), proba))
        _write_json(result_path, out)
        return

    import torch

    torch.set_num_threads(spec["threads"])
    import skbert._estimator as est_mod
    from skbert import TransformerMultiLabelClassifier

    params = dict(spec["params"])
    bench = {k: params.pop(k) for k in list(params) if k.startswith("bench:")}
    unknown = set(bench) - {"bench:layer_decay", "bench:loss", "bench:descriptions"}
    if unknown:
        raise SystemExit(f"unknown bench levers {sorted(unknown)}")
    if "bench:layer_decay" in bench:
        patch_layer_decay(float(bench["bench:layer_decay"]))
    if "bench:loss" in bench:
        patch_loss(bench["bench:loss"])
    if bench.get("bench:descriptions"):  # the preset's label descriptions, shipped in bench/
        name = PRESETS[spec["preset"]].get("descriptions")
        if name is None:
            raise SystemExit(f"preset {spec['preset']!r} ships no label descriptions")
        with open(os.path.join(HERE, name), encoding="utf-8") as fh:
            params["label_descriptions"] = json.load(fh)
    captured = {}
    tuner = est_mod if hasattr(est_mod, "tune_thresholds") else importlib.import_module(
        "skbert._runner")  # the fit runner tunes since issue 21
    tune = tuner.tune_thresholds

    def capturing_tune(Y_valid, proba_valid, **kw):
        captured["Y"], captured["P"] = np.asarray(Y_valid), np.asarray(proba_valid)
        return tune(Y_valid, proba_valid, **kw)

    tuner.tune_thresholds = capturing_tune

    kwargs = {"max_length": spec["max_length"], "max_epochs": spec["max_epochs"],
              "threshold": "auto", "random_state": spec["seed"], "fit_cache": False,
              "verbose": 1, **params}
    ckpt = spec.get("checkpoint_dir")
    prior_s, segment = 0.0, 0
    if ckpt:
        clock_path = os.path.join(ckpt, "epoch_clock.json")
        log = _read_json(clock_path, {})
        segment = len(log)
        prior_s = sum(v[-1][1] for v in log.values() if v)
        kwargs.update(checkpoint_dir=ckpt, callbacks=[EpochClock(clock_path, segment)])
    clf = TransformerMultiLabelClassifier(**kwargs)
    import pandas as pd

    # a DataFrame: its columns name the labels (classes_), which head_init starts from
    proba, fit_s, predict_s = timed_fit_predict(clf, Xtr, pd.DataFrame(Ytr, columns=names), Xte)
    auto = clf.thresholds_
    # predict's rule: the tuned thresholds_ and any predict-time parameter (min_labels)
    out.update(scores(Yte, clf._labels_from_proba(proba, dtype=int), proba))
    out["thresholds"] = threshold_table(captured["Y"], captured["P"], auto, Yte, proba)
    out.update(
        fit_s=prior_s + fit_s, fit_s_last_segment=fit_s, segments=segment + 1,
        predict_s=predict_s, precision=clf.precision_, pooling=clf.pooling_,
        n_epochs=clf.n_epochs_, best_epoch=clf.best_epoch_,
        n_valid=int(len(captured["Y"])),
        n_valid_labels_with_3_positives=int((captured["Y"].sum(axis=0) >= 3).sum()),
        history=[{k: v for k, v in r.items()} for r in clf.history_],
        effective_params={k: repr(v) for k, v in clf.get_params().items()
                          if k not in ("callbacks", "checkpoint_dir")},
        bench_levers=bench, peak_rss_mib=_proc_status("VmHWM"))
    _write_json(result_path, out)


# --------------------------------------------------------------- helpers
def _read_json(path: str, default):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return default


def _write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1, default=_json_default)
    os.replace(tmp, path)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return repr(o)


def _proc_status(key: str) -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _busy_processes(exclude: set[int]) -> list[str]:
    """Other processes using CPU now (``ps``), to say what shared the machine."""
    try:
        out = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], text=True,
                             capture_output=True, timeout=10).stdout.splitlines()[1:]
    except (OSError, subprocess.SubprocessError):
        return []
    busy = []
    for line in out:
        pid, pcpu, cmd = (line.split(None, 2) + ["", ""])[:3]
        if pid.isdigit() and int(pid) not in exclude and float(pcpu or 0) >= 10:
            busy.append(f"{pcpu}% {cmd[:100]}")
    return busy[:6]


def machine(threads: int) -> dict:
    """CPU, its bf16 flags and the library versions (``bench/_harness.py``'s record)."""
    from _harness import machine as harness_machine

    return harness_machine(threads)


def parse_variants(items: list[str], with_defaults: bool) -> dict:
    variants = {"defaults": {}} if with_defaults else {}
    for item in items:
        if "=" in item:
            name, text = item.split("=", 1)
            try:
                params = json.loads(text)
            except ValueError as exc:
                raise SystemExit(f"--variant {item!r}: the part after '=' is not JSON ({exc})")
            if not isinstance(params, dict):
                raise SystemExit(f"--variant {item!r}: give a JSON object of parameters")
        elif item in LEVERS:
            name, params = item, LEVERS[item]
        else:
            raise SystemExit(f"--variant {item!r} is not a named lever ({', '.join(LEVERS)}); "
                             "write NAME='{\"param\": value}' for your own")
        variants[name.strip()] = params
    return variants


#: Defaults added later whose change also makes a run another run (a record
#: whose ``base`` lacks them ran before they existed: ``head_init`` random, ``min_labels`` 0).
TRACKED_LATER = ("head_init", "min_labels")


def current_base() -> dict:
    """skbert's present defaults of the parameters in :data:`V1_BASE` and
    :data:`TRACKED_LATER`."""
    from skbert import TransformerMultiLabelClassifier

    params = TransformerMultiLabelClassifier().get_params()
    return {k: params[k] for k in (*V1_BASE, *TRACKED_LATER)}


def run_key(rec: dict) -> str:
    """Identifies a run; a run on other defaults (``base``) is another run."""
    ident = {k: rec[k] for k in ("preset", "tool", "variant", "params", "seed", "n_train",
                                 "n_test")}
    if rec.get("base", V1_BASE) != V1_BASE:
        ident["base"] = rec["base"]
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def _stats(values: list[float]) -> tuple[float, float]:
    """Mean and half the range (max - min) / 2."""
    if not values:
        return math.nan, math.nan
    return sum(values) / len(values), (max(values) - min(values)) / 2


def summary(records: list[dict], order: list[str] | None = None,
            base_now: dict | None = None) -> str:
    """Markdown tables: each variant's mean ± half-range, the paired difference from
    ``defaults`` (run on the same skbert defaults), and the threshold rules over all
    skbert runs. Runs made on skbert defaults other than ``base_now`` are listed
    as ``variant (old defaults)``."""
    base_now = V1_BASE if base_now is None else base_now

    def label(r):
        recorded = r.get("base", V1_BASE)
        if r["tool"] != "skbert" or recorded == base_now:
            return r["variant"]
        differ = [f"{k}={recorded.get(k, 'before it existed')}" for k in base_now
                  if recorded.get(k) != base_now[k]]
        return f"{r['variant']} (old defaults: {', '.join(differ)})"

    records = [{**r, "variant": label(r)} for r in records]
    groups: dict = {}
    for r in records:
        groups.setdefault((r["tool"], r["variant"], json.dumps(r["params"], sort_keys=True)),
                          []).append(r)
    base = {(r["seed"], json.dumps(r.get("base", V1_BASE), sort_keys=True)): r
            for r in records if r["tool"] == "skbert"
            and r["variant"].split(" (old defaults")[0] == "defaults"}

    def paired_base(r):
        return base.get((r["seed"], json.dumps(r.get("base", V1_BASE), sort_keys=True)))

    def pm(vals, fmt=".3f"):
        m, s = _stats(vals)
        return f"{m:{fmt}} ± {s:{fmt.lstrip('+')}}" if len(vals) > 1 else f"{m:{fmt}}"

    lines = ["| tool | variant | seeds | micro-F1 | macro-F1 | LRAP | subset acc. | "
             "Δ micro-F1 | Δ macro-F1 | epochs run | fit s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted(groups, key=lambda k: (k[0] != "tfidf", "(old defaults" in k[1],
                                         not k[1].startswith("defaults"),
                                         (order or []).index(k[1]) if k[1] in (order or [])
                                         else 999, k[1]))
    for key in keys:
        rs = sorted(groups[key], key=lambda r: r["seed"])
        res = [r["result"] for r in rs]
        if key[0] == "skbert" and not key[1].startswith("defaults"):
            paired = [(r["result"], paired_base(r)["result"]) for r in rs if paired_base(r)]
            d_mi = pm([a["micro_f1"] - b["micro_f1"] for a, b in paired], "+.3f") if paired \
                else ""
            d_ma = pm([a["macro_f1"] - b["macro_f1"] for a, b in paired], "+.3f") if paired \
                else ""
        else:
            d_mi = d_ma = ""
        epochs = ",".join(str(x.get("n_epochs", "")) for x in res) if key[0] == "skbert" else ""
        lines.append(
            f"| {key[0]} | {key[1]} | {','.join(str(r['seed']) for r in rs)} | "
            f"{pm([x['micro_f1'] for x in res])} | {pm([x['macro_f1'] for x in res])} | "
            f"{pm([x['lrap'] for x in res])} | {pm([x['subset_accuracy'] for x in res])} | "
            f"{d_mi} | {d_ma} | {epochs} | {pm([x['fit_s'] for x in res], '.0f')} |")
    sk = [r for r in records if r["tool"] == "skbert" and "thresholds" in r["result"]]
    if sk:
        lines += ["", "Threshold rules on the same fitted models (tuned on each run's "
                  "validation split, scored on the test set; Δ against the run's own "
                  "threshold=\"auto\"):", "",
                  "| variant | rule | runs | micro-F1 | macro-F1 | subset acc. | Δ micro-F1 | "
                  "Δ macro-F1 |", "|---|---|---|---|---|---|---|---|"]
        by_var: dict = {}
        for r in sk:
            by_var.setdefault(r["variant"], []).append(r)
        for var in sorted(by_var, key=lambda v: ("(old defaults" in v,
                                                 not v.startswith("defaults"), v)):
            for rule in THRESHOLD_RULES:
                rows = [r["result"]["thresholds"] for r in by_var[var]
                        if rule in r["result"]["thresholds"]]
                if not rows:
                    continue
                lines.append(
                    f"| {var} | {rule} | {len(rows)} | {pm([t[rule]['micro_f1'] for t in rows])}"
                    f" | {pm([t[rule]['macro_f1'] for t in rows])} | "
                    f"{pm([t[rule]['subset_accuracy'] for t in rows])} | "
                    f"{pm([t[rule]['micro_f1'] - t['auto']['micro_f1'] for t in rows], '+.3f')}"
                    f" | "
                    f"{pm([t[rule]['macro_f1'] - t['auto']['macro_f1'] for t in rows], '+.3f')}"
                    " |")
    lines += ["", "mean ± half the range over the seeds; Δ: the variant minus `defaults` on the "
              "same seed (same validation split); macro-F1 over the labels present in the test "
              "set; fit s: fit wall time (loading, tokenising, training, validation)."]
    return "\n".join(lines)


# ---------------------------------------------------------------- parent
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See bench/README.md, section quality/quality.py.")
    ap.add_argument("--preset", choices=sorted(PRESETS), required="--list" not in (argv or
                                                                                 sys.argv))
    ap.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--seeds", default="0,1", help="comma-separated random_state values")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME[=JSON]",
                    help="a named lever (--list) or NAME='{\"param\": value}'; repeatable")
    ap.add_argument("--no-defaults", action="store_true", help="skip the defaults variant")
    ap.add_argument("--tools", default="tfidf,skbert", help="subset of tfidf,skbert")
    ap.add_argument("--n-train", type=int, default=None, help="shrink the training part")
    ap.add_argument("--n-test", type=int, default=None, help="shrink the test part")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch, OpenMP and tokenizer threads (default: the CPUs available)")
    ap.add_argument("--json", default=None,
                    help="results file (default: bench/results/quality/<preset>[_<sizes>].json)")
    ap.add_argument("--time-limit", type=float, default=None, metavar="S",
                    help="stop after S seconds; skbert runs checkpoint each epoch and the "
                         "same command resumes them")
    ap.add_argument("--max-runs", type=int, default=None, help="start at most this many runs")
    ap.add_argument("--force", action="store_true", help="run again what the JSON already has")
    ap.add_argument("--summary", action="store_true", help="print the tables, run nothing")
    ap.add_argument("--list", action="store_true", help="print the named levers and exit")
    args = ap.parse_args(argv)
    if args.list:
        for name, params in LEVERS.items():
            print(f"{name:12s} {json.dumps(params)}")
        return 0
    start = time.monotonic()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if set(tools) - {"tfidf", "skbert"}:
        ap.error("--tools takes tfidf and/or skbert")
    variants = parse_variants(args.variant, not args.no_defaults)
    preset = PRESETS[args.preset]
    sizes = "" if args.n_train is None and args.n_test is None else \
        f"_n{args.n_train or 'all'}x{args.n_test or 'all'}"
    path = args.json or os.path.join(DEFAULT_OUT, f"{args.preset}{sizes}.json")
    store = _read_json(path, {"runs": []})
    done = {run_key(r): r for r in store["runs"]}
    base_now = current_base()
    if args.summary:
        print(summary(store["runs"], list(LEVERS), base_now))
        return 0

    plan = []
    if "tfidf" in tools:
        plan += [("tfidf", "tfidf", {}, s) for s in seeds[:1]]  # deterministic
    if "skbert" in tools:
        plan += [("skbert", name, params, s) for name, params in variants.items()
                 for s in seeds]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads),
               TOKENIZERS_PARALLELISM="true", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONWARNINGS="ignore::FutureWarning")
    info = machine(args.threads)
    started = 0
    status = 0
    with tempfile.TemporaryDirectory(prefix="skbert-quality-") as work:
        for tool, name, params, seed in plan:
            rec = {"preset": args.preset, "tool": tool, "variant": name, "params": params,
                   "seed": seed, "n_train": args.n_train, "n_test": args.n_test}
            if tool == "skbert":
                rec["base"] = base_now
            key = run_key(rec)
            if key in done and not args.force:
                continue
            left = None if args.time_limit is None else \
                args.time_limit - (time.monotonic() - start)
            if left is not None and left < 60:
                print(f"[quality] time limit: {name} seed {seed} and later runs not started; "
                      "run the same command again to continue", file=sys.stderr)
                status = 3
                break
            if args.max_runs is not None and started >= args.max_runs:
                print("[quality] --max-runs reached; run the same command again to continue",
                      file=sys.stderr)
                status = 3
                break
            started += 1
            ckpt = None
            if tool == "skbert" and args.time_limit is not None:
                ckpt = os.path.join(os.path.dirname(os.path.abspath(path)), "ckpt", key)
            spec = {**rec, "data": args.data, "threads": args.threads,
                    "max_length": preset["max_length"], "max_epochs": preset["max_epochs"],
                    "checkpoint_dir": ckpt}
            spec_path = os.path.join(work, f"{key}.spec.json")
            result_path = os.path.join(work, f"{key}.result.json")
            _write_json(spec_path, spec)
            load0, others = os.getloadavg()[0], _busy_processes({os.getpid()})
            print(f"[quality] {args.preset}: {tool} {name} {json.dumps(params)} seed {seed} "
                  f"(load {load0:.1f})", file=sys.stderr, flush=True)
            t = time.perf_counter()
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child",
                                     spec_path, result_path], env=env, stdout=sys.stderr)
            try:
                proc.wait(timeout=None if left is None else left)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                print(f"[quality] time limit reached during {name} seed {seed}; its completed "
                      "epochs are saved: run the same command again to resume",
                      file=sys.stderr)
                status = 3
                break
            if proc.returncode != 0:
                print(f"[quality] {tool} {name} seed {seed} failed (exit {proc.returncode})",
                      file=sys.stderr)
                status = proc.returncode
                break
            result = _read_json(result_path, None)
            wall = time.perf_counter() - t
            rec.update(result=result, key=key, wall_s=wall, argv=sys.argv[1:],
                       loadavg_1min_start_end=[round(load0, 2), round(os.getloadavg()[0], 2)],
                       other_busy_processes_at_start=others, machine=info,
                       finished=time.strftime("%Y-%m-%d %H:%M:%S"))
            store = _read_json(path, {"runs": []})  # another invocation may have added runs
            store["runs"] = [r for r in store["runs"] if r.get("key") != key] + [rec]
            _write_json(path, store)
            done[key] = rec
            if ckpt:
                import shutil

                shutil.rmtree(ckpt, ignore_errors=True)
            print(f"[quality] done in {wall:.0f}s: micro-F1 {result['micro_f1']:.3f} "
                  f"macro-F1 {result['macro_f1']:.3f} LRAP {result['lrap']:.3f} "
                  f"fit {result['fit_s']:.0f}s", file=sys.stderr, flush=True)
    print(summary(_read_json(path, {"runs": []})["runs"], list(LEVERS), base_now))
    print(f"\n- {args.preset}: {path}; machine: {info['cpu']}, {info['cpus_available']} CPUs, "
          f"{args.threads} threads, bf16 flags {', '.join(info['bf16_flags']) or 'none'}; "
          f"torch {info['torch']}, transformers {info['transformers']}, skbert {info['skbert']}")
    return status


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        run_child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
