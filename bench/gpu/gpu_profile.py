"""Where a training step's (and a prediction batch's) time goes, under ``torch.profiler``.

Builds a bert-base-sized BERT from a ``BertConfig`` (random weights, no download)
and runs, through skbert's own functions (``skbert._training.train`` and so
``run_epoch`` / ``train_step`` / ``_logits`` / ``skbert._data.collate``, and
``predict_logits``; nothing of the loop is rewritten here, and the package holds
nothing for this script: the settings come from ``skbert._runner.train_config``, as
in fit, and every range below is this script's own wrapper):

1. ``--warmup-steps`` training steps (CUDA and cuBLAS set-up, compiling);
2. ``--steps`` timed training steps without the profiler (the honest speed);
3. ``--profile-steps`` training steps under ``torch.profiler`` (CPU + CUDA);
4. the same three phases for prediction batches (``--predict-batches``; 0 skips).

The calls are wrapped from the outside, never edited: for the duration of a run this
script replaces the module attributes ``train_step``, ``_logits`` (``_forward_docs`` in
older releases), ``collate``,
``compile_model`` and ``make_scheduler`` (to reach the optimizer's ``step`` and
``zero_grad``) in every loaded ``skbert`` module, ``torch.nn.utils.clip_grad_norm_`` and
``torch.Tensor.backward`` with versions that open a ``record_function`` range
(``skbert/<name>``) and note host start/end times. From the profiler's Chrome trace it
then reports, per step: wall time (from one step's start to the next's), GPU busy time
(the union of kernel/memcpy/memset intervals inside that window) and the sum of kernel
times, kernels executed and launch calls, host-only time (wall minus the time the GPU
was busy: Python, dispatch, collation, waiting), host and GPU time in collation,
host-to-device copies, forward, backward, gradient clipping and the optimizer, and every
synchronisation (``cudaStreamSynchronize``, ``cudaDeviceSynchronize``,
``cudaEventSynchronize``, blocking copies to or from pageable memory, ``item()`` /
``float()`` on a tensor, seen as ``aten::_local_scalar_dense``) with the range it came
from.

Options that only newer skbert versions have (``--buckets``, ``--prefetch``,
``--skbert-params``) are applied only where the installed skbert takes them: as an
estimator parameter (then ``skbert._runner.train_config``, or the estimator's
``_train_config`` in older releases, turns it into the ``TrainConfig``), as a
``TrainConfig`` field, or as a keyword of
``train`` / ``train_step``; otherwise the JSON records them as unsupported.

Usage (GPU machine, repository root)::

    PYTHONPATH=. python bench/gpu/gpu_profile.py --tokenizer bench/_tok --json $OUT/profile.json
    PYTHONPATH=. python bench/gpu/gpu_profile.py --tokenizer bench/_tok --precision bf16 \\
        --variant 'eager={}' --variant 'graphs={"compile": {"mode": "reduce-overhead"}}'
    # smoke test on a CPU (2-layer model, a few steps)
    PYTHONPATH=. python bench/gpu/gpu_profile.py --device cpu --tiny --steps 4 --profile-steps 3

Without ``--tokenizer`` a whitespace WordLevel tokenizer is built from the texts
(fewer tokens a text than WordPiece: say so when comparing). ``--self-test`` checks
the trace analysis on a synthetic CUDA trace and exits.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import dataclasses
import gc
import inspect
import json
import os
import statistics
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)

PREFIX = "skbert/"
SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize",
              "cuStreamSynchronize", "cuCtxSynchronize", "cuEventSynchronize", "cudaMemcpy",
              "cuMemcpyDtoH_v2", "cuMemcpyHtoD_v2")
MEMCPY_CALLS = ("cudaMemcpyAsync", "cuMemcpyAsync", "cuMemcpyHtoDAsync_v2",
                "cuMemcpyDtoHAsync_v2", "cudaMemcpy")
ITEM_OPS = ("aten::_local_scalar_dense",)
DEVICE_CATS = ("kernel", "gpu_memcpy", "gpu_memset", "memcpy", "memset")
#: estimator / config / keyword names tried, in order, for each lever flag
LEVER_NAMES = {"buckets": ("buckets", "bucket_widths", "length_buckets", "pad_buckets"),
               "prefetch": ("prefetch", "prefetch_batches", "prefetch_factor")}
BASE_VOCAB = 30522  # bert-base


# ----------------------------------------------------------------- data and model
def texts_for(max_length: int, n: int, rng: np.random.Generator, jsonl: str | None = None):
    """``n`` texts and label rows: GoEmotions texts, or for ``max_length > 128`` documents
    of 20 of them joined (300 to 600 WordPiece tokens).

    Texts come from ``jsonl`` (``{"text", "labels"}`` lines, e.g. the packed GoEmotions
    train split) or else skbert's bundled GoEmotions sample; drawn with replacement
    when ``n`` is larger than the pool.
    """
    if jsonl:
        from _harness import use_folder

        use_folder("speed")  # bench/speed/speed.py
        from speed import indicator, read_jsonl

        with open(jsonl, encoding="utf-8") as fh:
            total = sum(1 for line in fh if line.strip())
        texts, lab = read_jsonl(jsonl, 0, total)
        Y, _ = indicator(lab, sorted({x for row in lab for x in row}))
    else:
        from skbert.datasets import load_goemotions

        b = load_goemotions(subset="all")
        texts, Y = list(b.data), np.asarray(b.target)
    if max_length <= 128:
        idx = rng.choice(len(texts), n, replace=n > len(texts))
        return [texts[i] for i in idx], Y[idx]
    docs, labels = [], []
    for _ in range(n):
        parts = rng.choice(len(texts), 20)
        docs.append(" ".join(texts[i] for i in parts))
        labels.append(Y[parts].max(axis=0))
    return docs, np.asarray(labels)


def wordlevel_tokenizer(texts):
    """A lower-cased whitespace/punctuation WordLevel tokenizer over the words of ``texts``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.BertPreTokenizer()
    words = sorted({w for t in texts for w, _ in pre.pre_tokenize_str(t.lower())})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {tok: i for i, tok in enumerate(specials + words[:BASE_VOCAB - len(specials)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)


def make_model_folder(folder: str, tokenizer_dir: str | None = None, tiny: bool = False,
                      texts=None) -> dict:
    """Save a random bert-base-sized ``BertModel`` and a tokenizer into ``folder``.

    ``tokenizer_dir``: a folder with a BERT WordPiece tokenizer; None builds a WordLevel
    one from ``texts``. ``tiny``: 2 layers of width 32 (smoke tests only).
    Returns a description of what was built.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    if tokenizer_dir and not os.path.isdir(tokenizer_dir):
        print(f"no tokenizer folder {tokenizer_dir!r}: building a WordLevel tokenizer instead",
              file=sys.stderr)
        tokenizer_dir = None
    if tokenizer_dir:
        tok, kind = AutoTokenizer.from_pretrained(tokenizer_dir), "wordpiece:" + tokenizer_dir
    else:
        tok, kind = wordlevel_tokenizer(texts or []), "wordlevel (built from the texts)"
    vocab = max(len(tok), BASE_VOCAB)
    config = BertConfig(vocab_size=vocab)  # bert-base: 12 layers, 768 hidden, 512 positions
    if tiny:
        config = BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=37)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return {"folder": folder, "tokenizer": kind, "layers": config.num_hidden_layers,
            "hidden": config.hidden_size, "vocab": vocab}


# ------------------------------------------------------ robustness to skbert's API
def call_with(fn, available: dict, *positional):
    """Call ``fn`` with the entries of ``available`` its signature names.

    Parameters it names that ``available`` lacks must have defaults, else TypeError
    (the installed skbert changed in a way this script does not know).
    """
    sig = inspect.signature(fn)
    args, kwargs = list(positional), {}
    for i, (name, p) in enumerate(sig.parameters.items()):
        if i < len(positional) or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name in available:
            if p.kind == p.POSITIONAL_ONLY:
                args.append(available[name])
            else:
                kwargs[name] = available[name]
        elif p.default is p.empty:
            raise TypeError(f"{fn.__module__}.{fn.__qualname__} needs {name!r}, which this "
                            "script does not know how to provide")
    return fn(*args, **kwargs)


def skbert_surface() -> dict:
    """What the installed skbert exposes: estimator parameters, TrainConfig fields,
    the keywords of train / run_epoch / train_step / predict_logits / collate."""
    import skbert._data as data
    import skbert._training as training
    from skbert import TransformerMultiLabelClassifier

    out = {"estimator_params": sorted(TransformerMultiLabelClassifier().get_params()),
           "config_fields": sorted(f.name for f in dataclasses.fields(training.TrainConfig))}
    for mod, names in ((training, ("train", "run_epoch", "train_step", "predict_logits",
                                   "_logits", "_forward_docs", "compile_model")),
                       (data, ("collate", "length_grouped_batches", "sorted_batches"))):
        for name in names:
            fn = getattr(mod, name, None)
            out[f"{mod.__name__.split('.')[-1]}.{name}"] = (
                None if fn is None else list(inspect.signature(fn).parameters))
    out["extra_callables"] = sorted(
        n for n in set(dir(data) + dir(training)) if not n.startswith("__")
        and any(k in n.lower() for k in ("prefetch", "bucket", "loader", "collator")))
    return out


def resolve_options(options: dict, surface: dict) -> tuple[dict, dict, dict, dict]:
    """Split skbert options into (estimator params, config fields, call keywords, unsupported).

    ``buckets`` and ``prefetch`` are looked up under each name of ``LEVER_NAMES``;
    any other key must match exactly.
    """
    est, cfg, call, unsupported = {}, {}, {}, {}
    call_params = set()
    for key in ("_training.train", "_training.run_epoch", "_training.train_step",
                "_training.predict_logits"):
        call_params.update(surface.get(key) or [])
    for key, value in options.items():
        for name in LEVER_NAMES.get(key, (key,)):
            if name in surface["estimator_params"]:
                est[name] = value
                break
            if name in surface["config_fields"]:
                cfg[name] = value
                break
            if name in call_params:
                call[name] = value
                break
        else:
            unsupported[key] = value
    return est, cfg, call, unsupported


def lever_values(name: str, surface: dict | None = None) -> dict | None:
    """``{"off": ..., "on": ...}`` for a lever the installed skbert has, else None.

    "on" is skbert's own default when that is truthy (e.g. ``buckets="auto"``), else
    True; "off" is False for a bool or None default, 0 for an int, None otherwise.
    """
    import skbert._training as training
    from skbert import TransformerMultiLabelClassifier

    defaults = TransformerMultiLabelClassifier().get_params()
    fields = {f.name: f for f in dataclasses.fields(training.TrainConfig)}
    for cand in LEVER_NAMES.get(name, (name,)):
        if cand in defaults:
            default = defaults[cand]
        elif cand in fields:
            f = fields[cand]
            default = f.default if f.default is not dataclasses.MISSING else None
        else:
            continue
        if isinstance(default, bool) or default is None:
            off = False
        elif isinstance(default, int):
            off = 0
        else:
            off = None
        return {"name": cand, "default": default, "off": off,
                "on": default if default else True}
    return None


# ------------------------------------------------------------------ instrumentation
class Timeline:
    """Host start/end (perf_counter ns) and thread of every wrapped call, by range name."""

    def __init__(self):
        self.spans: dict[str, list[tuple[int, int, int]]] = {}

    def clear(self):
        self.spans = {}

    def add(self, name: str, t0: int, t1: int):
        self.spans.setdefault(name, []).append((threading.get_ident(), t0, t1))


class _RangedModel:
    """The model as train_step / predict_logits see it: each call is ``skbert/forward``."""

    def __init__(self, inner, wrap):
        self.__dict__["_inner"] = inner
        self.__dict__["_call"] = wrap("forward", inner)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __setattr__(self, name, value):
        setattr(self._inner, name, value)


class Instrument:
    """Patch skbert's and torch's entry points for the duration of a ``with`` block."""

    def __init__(self):
        self.timeline = Timeline()
        self.patched: list[tuple[object, str, object]] = []
        self.found: list[str] = []

    def wrap(self, name: str, fn):
        from torch.autograd.profiler import record_function

        timeline = self.timeline

        def wrapped(*args, **kwargs):
            t0 = time.perf_counter_ns()
            try:
                with record_function(PREFIX + name):
                    return fn(*args, **kwargs)
            finally:
                timeline.add(name, t0, time.perf_counter_ns())

        wrapped.__wrapped__ = fn
        if getattr(fn, "_wrapped_by_lr_sched", False):  # LRScheduler checks for its wrapper
            wrapped._wrapped_by_lr_sched = True
        return wrapped

    def _set(self, owner, attr, value):
        self.patched.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, value)

    def _patch_everywhere(self, original, replacement, label):
        hits = 0
        for modname, mod in list(sys.modules.items()):
            if not (modname == "skbert" or modname.startswith("skbert.")) or mod is None:
                continue
            for attr, value in list(vars(mod).items()):
                if value is original:
                    self._set(mod, attr, replacement)
                    hits += 1
        if hits:
            self.found.append(label)

    def __enter__(self):
        import torch

        import skbert._data as data
        import skbert._training as training

        # the loop's forward of a collated batch: _logits (collation is its own step) in
        # current skbert, _forward_docs (collate + forward) in older releases
        forward = "_logits" if hasattr(training, "_logits") else "_forward_docs"
        for mod, name, label in ((training, "train_step", "train_step"),
                                 (training, forward, "forward_docs"),
                                 (data, "collate", "collate")):
            fn = getattr(mod, name, None)
            if fn is not None:
                self._patch_everywhere(fn, self.wrap(label, fn), label)
        compile_model = getattr(training, "compile_model", None)
        if compile_model is not None:
            def ranged_compile(model, *args, **kwargs):
                inner = compile_model(model, *args, **kwargs)
                return inner if isinstance(inner, _RangedModel) else _RangedModel(inner,
                                                                                  self.wrap)
            self._patch_everywhere(compile_model, ranged_compile, "forward")
        make_scheduler = getattr(training, "make_scheduler", None)
        if make_scheduler is not None:
            # wrap optimizer.step only after the LR scheduler has put its own wrapper
            # there: LRScheduler needs the bound method it finds at construction
            def ranged_scheduler(*args, **kwargs):
                sched = make_scheduler(*args, **kwargs)
                opt = sched.optimizer
                opt.step = self.wrap("optimizer", opt.step)
                opt.zero_grad = self.wrap("zero_grad", opt.zero_grad)
                sched.step = self.wrap("scheduler", sched.step)
                return sched

            self._patch_everywhere(make_scheduler, ranged_scheduler, "optimizer")
        self._set(torch.nn.utils, "clip_grad_norm_",
                  self.wrap("clip", torch.nn.utils.clip_grad_norm_))
        backward = torch.Tensor.backward
        wrapped_backward = self.wrap("backward", backward)

        def tensor_backward(self_, *args, **kwargs):  # a method: keep ``self``
            return wrapped_backward(self_, *args, **kwargs)

        self._set(torch.Tensor, "backward", tensor_backward)
        self.found += ["clip", "backward"]
        return self

    def __exit__(self, *exc):
        for owner, attr, value in reversed(self.patched):
            setattr(owner, attr, value)
        self.patched = []
        return False


# -------------------------------------------------------------- trace analysis
def _merge(intervals):
    out = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1][1] = e
        else:
            out.append([s, e])
    return out


def _overlap(merged, lo, hi):
    """Length of the union ``merged`` (sorted, disjoint) inside ``[lo, hi)``."""
    i = max(0, bisect.bisect_right([m[0] for m in merged], lo) - 1)
    total = 0.0
    while i < len(merged) and merged[i][0] < hi:
        s, e = merged[i]
        total += max(0.0, min(e, hi) - max(s, lo))
        i += 1
    return total


class _Ranges:
    """Per thread, the ``skbert/`` ranges sorted by start, to find the innermost around t."""

    def __init__(self, ranges):
        self.by_tid: dict = {}
        for r in sorted(ranges, key=lambda r: r["ts"]):
            self.by_tid.setdefault(r.get("tid"), []).append(r)
        self.starts = {t: [r["ts"] for r in rs] for t, rs in self.by_tid.items()}
        self.backward = [r for r in ranges if r["name"] == PREFIX + "backward"]

    def innermost(self, tid, t):
        rs = self.by_tid.get(tid, [])
        i = bisect.bisect_right(self.starts.get(tid, []), t) - 1
        while i >= 0:
            r = rs[i]
            if r["ts"] <= t <= r["ts"] + r["dur"]:
                return r["name"][len(PREFIX):]
            i -= 1
        for r in self.backward:  # autograd runs CUDA backward on its own threads
            if r["ts"] <= t <= r["ts"] + r["dur"]:
                return "backward"
        return "no range"


def analyse_trace(events: list, step_range: str, skip: int = 1) -> dict:
    """Per-step breakdown from Chrome-trace events of ``torch.profiler``.

    Steps are the ranges named ``skbert/<step_range>``; step i's window runs from its
    start to the next step's start (the last: to the last event after its start), so
    everything the host or the GPU does in between (collating the next batch in
    another thread, a read-back of the loss) counts for that step. Host events are
    attributed to the innermost ``skbert/`` range around them on their thread; device
    events through their launch call's correlation id. Times in ms.
    """
    X = [e for e in events if e.get("ph") == "X" and "ts" in e]
    for e in X:
        e["dur"] = float(e.get("dur", 0.0))
        e["ts"] = float(e["ts"])
    cat = {id(e): str(e.get("cat", "")).lower() for e in X}
    ranges = [e for e in X if str(e.get("name", "")).startswith(PREFIX)
              and "gpu" not in cat[id(e)]]
    steps = sorted((r for r in ranges if r["name"] == PREFIX + step_range),
                   key=lambda r: r["ts"])
    device = [e for e in X if cat[id(e)] in DEVICE_CATS]
    runtime = [e for e in X if "runtime" in cat[id(e)] or "driver" in cat[id(e)]]
    device_sync = [e for e in X if cat[id(e)] == "cuda_sync"]
    items = [e for e in X if e.get("name") in ITEM_OPS and cat[id(e)] in ("cpu_op", "operator")]
    if not steps:
        return {"steps": [], "summary": {}, "error": f"no {PREFIX}{step_range} ranges in "
                "the trace (did the installed skbert stop calling it?)"}
    starts = [s["ts"] for s in steps]
    last_end = max([steps[-1]["ts"] + steps[-1]["dur"]]
                   + [e["ts"] + e["dur"] for e in X if e["ts"] >= starts[-1]])
    ends = starts[1:] + [last_end]

    def window(t):
        i = bisect.bisect_right(starts, t) - 1
        return i if 0 <= i < len(steps) and t < ends[i] + 1e-9 else None

    rng = _Ranges(ranges)
    merged = _merge([(e["ts"], e["ts"] + e["dur"]) for e in device])
    rows = [{"step": i, "wall_ms": (ends[i] - starts[i]) / 1e3,
             "host_step_ms": steps[i]["dur"] / 1e3,
             "gpu_busy_ms": _overlap(merged, starts[i], ends[i]) / 1e3 if device else None,
             "kernel_sum_ms": 0.0, "kernels": 0, "launches": 0,
             "host_ms": {}, "gpu_ms": {}, "h2d": {"n": 0, "host_ms": 0.0, "gpu_ms": 0.0,
                                                   "bytes": 0},
             "d2h": {"n": 0, "host_ms": 0.0, "gpu_ms": 0.0},
             "syncs": {}, "sync_n": 0, "sync_ms": 0.0, "device_sync_events": {}}
            for i in range(len(steps))]
    for r in ranges:  # inclusive host time of every range, by the window it starts in
        w = window(r["ts"])
        name = r["name"][len(PREFIX):]
        if w is not None and name != step_range:
            rows[w]["host_ms"][name] = rows[w]["host_ms"].get(name, 0.0) + r["dur"] / 1e3
    by_corr = {}
    for e in runtime:
        corr = (e.get("args") or {}).get("correlation")
        if corr is not None:
            by_corr[corr] = e
    memcpy_kind = {}
    for e in device:
        corr = (e.get("args") or {}).get("correlation")
        launch = by_corr.get(corr)
        w = window(launch["ts"] if launch is not None else e["ts"])
        if w is None:
            continue
        row = rows[w]
        name = str(e.get("name", ""))
        where = rng.innermost(launch.get("tid"), launch["ts"]) if launch else "no launch"
        if cat[id(e)] == "kernel":
            row["kernels"] += 1
            row["kernel_sum_ms"] += e["dur"] / 1e3
            row["gpu_ms"][where] = row["gpu_ms"].get(where, 0.0) + e["dur"] / 1e3
        elif "memcpy" in cat[id(e)]:
            kind = "h2d" if "HtoD" in name else "d2h" if "DtoH" in name else None
            if kind:
                row[kind]["n"] += 1
                row[kind]["gpu_ms"] += e["dur"] / 1e3
                if kind == "h2d":
                    row["h2d"]["bytes"] += int((e.get("args") or {}).get("bytes", 0) or 0)
                memcpy_kind[corr] = (kind, "Pageable" in name)
    # blocking calls: item() ops and blocking runtime calls; those that overlap or follow
    # each other within 20 us on one thread (item() = a copy + a stream sync) count once
    blocking = [(e.get("tid"), e["ts"], e["ts"] + e["dur"], 0, "item()") for e in items]
    for e in runtime:
        w = window(e["ts"])
        if w is None:
            continue
        row, name = rows[w], str(e.get("name", ""))
        corr = (e.get("args") or {}).get("correlation")
        if "Launch" in name:
            row["launches"] += 1
        label = name if name in SYNC_CALLS else None
        if name in MEMCPY_CALLS and corr in memcpy_kind:
            kind, pageable = memcpy_kind[corr]
            row[kind]["host_ms"] += e["dur"] / 1e3
            if kind == "d2h" or pageable:
                label = f"{name} {kind}{' pageable' if pageable else ''}"
        if label:
            blocking.append((e.get("tid"), e["ts"], e["ts"] + e["dur"], 1, label))
    groups = []
    for tid, t0, t1, prio, label in sorted(blocking, key=lambda b: (str(b[0]), b[1])):
        g = groups[-1] if groups else None
        if g and g["tid"] == tid and t0 <= g["end"] + 20.0:
            g["end"] = max(g["end"], t1)
            if prio < g["prio"]:
                g["prio"], g["label"] = prio, label
        else:
            groups.append({"tid": tid, "start": t0, "end": t1, "prio": prio, "label": label})
    for g in groups:
        w = window(g["start"])
        if w is None:
            continue
        site = f"{g['label']} in {rng.innermost(g['tid'], g['start'])}"
        rows[w]["syncs"][site] = rows[w]["syncs"].get(site, 0) + 1
        rows[w]["sync_n"] += 1
        rows[w]["sync_ms"] += (g["end"] - g["start"]) / 1e3
    for e in device_sync:  # enable_cuda_sync_events: what the device was made to wait for
        w = window(e["ts"])
        if w is not None:
            d = rows[w]["device_sync_events"]
            d[e.get("name", "?")] = d.get(e.get("name", "?"), 0) + 1
    for row in rows:
        busy = row["gpu_busy_ms"]
        row["host_only_ms"] = None if busy is None else row["wall_ms"] - busy
        row["gpu_util"] = None if busy is None else busy / row["wall_ms"] if row["wall_ms"] else 0
        if not device:
            row["kernel_sum_ms"] = None
            row["kernels"] = None
    kept = rows[skip:] if len(rows) > skip + 1 else rows
    return {"steps": rows, "summary": summarise(kept), "summary_excludes_first": len(rows)
            - len(kept), "device_events": len(device), "runtime_events": len(runtime)}


def inject_timeline(events: list, timeline: Timeline, step_range: str) -> int:
    """Add the wrapped calls of other threads (the prefetch thread's ``collate``) to a trace
    whose profiler did not record those threads (torch without ``profile_all_threads``).

    Host clocks are aligned on the step ranges, which are in both. Returns how many
    ranges were added (0 when the trace already has other threads' ranges).
    """
    ranges = [e for e in events if e.get("ph") == "X"
              and str(e.get("name", "")).startswith(PREFIX)
              and "gpu" not in str(e.get("cat", "")).lower()]
    main = threading.get_ident()
    in_trace = sorted(float(e["ts"]) for e in ranges if e["name"] == PREFIX + step_range)
    in_timeline = sorted(t0 for tid, t0, _ in timeline.spans.get(step_range, []) if tid == main)
    if (not in_trace or len(in_trace) != len(in_timeline)
            or len({e.get("tid") for e in ranges}) > 1):
        return 0
    offset = statistics.median(a - b / 1e3 for a, b in zip(in_trace, in_timeline))
    added = 0
    for name, spans in timeline.spans.items():
        for tid, t0, t1 in spans:
            if tid != main:
                events.append({"ph": "X", "cat": "user_annotation", "name": PREFIX + name,
                               "tid": f"thread {tid} (host clock)", "ts": t0 / 1e3 + offset,
                               "dur": (t1 - t0) / 1e3})
                added += 1
    return added


def summarise(rows: list) -> dict:
    """Median over steps of every number (nested dicts by key)."""
    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    out = {}
    for key in ("wall_ms", "host_step_ms", "gpu_busy_ms", "kernel_sum_ms", "kernels",
                "launches", "host_only_ms", "gpu_util", "sync_n", "sync_ms"):
        out[key] = med([r[key] for r in rows])
    for key in ("host_ms", "gpu_ms", "h2d", "d2h", "syncs", "device_sync_events"):
        names = sorted({k for r in rows for k in r[key]})
        out[key] = {k: med([r[key].get(k, 0) for r in rows]) for k in names}
    return out


# --------------------------------------------------------------------- running
def experimental_config():
    """Kineto options this torch has: every thread (the prefetch thread's collation),
    CUDA synchronisation events, and no Python event objects (only the trace is read)."""
    try:
        from torch._C._profiler import _ExperimentalConfig
    except ImportError:
        return None
    wanted = {"profile_all_threads": True, "enable_cuda_sync_events": True, "trace_only": True}
    while wanted:
        try:
            return _ExperimentalConfig(**wanted)
        except TypeError:
            doc = _ExperimentalConfig.__init__.__doc__ or ""
            missing = [k for k in wanted if k not in doc] or [list(wanted)[-1]]
            for k in missing:
                wanted.pop(k)
    return None


@contextlib.contextmanager
def profiled(device_type: str, trace_path: str):
    import torch
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device_type == "cuda" else [])
    extra = {}
    config = experimental_config()
    if config is not None:
        extra["experimental_config"] = config
    with profile(activities=acts, record_shapes=False, with_stack=False, **extra) as prof:
        yield prof
        if device_type == "cuda":  # every kernel of the block ends inside the profile
            torch.cuda.synchronize()
    prof.export_chrome_trace(trace_path)


def _sync(device_type):
    import torch

    if device_type == "cuda":
        torch.cuda.synchronize()


def _host_medians(timeline: Timeline, n_steps: int) -> dict:
    """Median host ms a step spends in each wrapped call (main thread and others)."""
    main = threading.get_ident()
    out = {}
    for name, spans in timeline.spans.items():
        for where, keep in (("", lambda t: t == main), (" (other threads)", lambda t: t != main)):
            ms = [(t1 - t0) / 1e6 for tid, t0, t1 in spans if keep(tid)]
            if ms:
                out[name + where] = {"calls_per_step": len(ms) / max(n_steps, 1),
                                     "median_ms": statistics.median(ms),
                                     "total_ms_per_step": sum(ms) / max(n_steps, 1)}
    return out


def _steady_ms(timeline: Timeline, name: str):
    starts = sorted(t0 for _, t0, _ in timeline.spans.get(name, []))
    gaps = [(b - a) / 1e6 for a, b in zip(starts, starts[1:])][1:]
    return statistics.median(gaps) if gaps else None


def _runner_module():
    """``skbert._runner`` (the fit runner), or None in releases before it existed."""
    try:
        import skbert._runner as runner
    except ImportError:
        return None
    return runner


class Setup:
    """Everything skbert's fit builds before its loop, built the way fit builds it."""

    def __init__(self, path, options: dict, surface: dict, device: str, seed: int = 0):
        import torch

        import skbert._data as data
        import skbert._modeling as modeling
        import skbert._training as training
        from skbert import TransformerMultiLabelClassifier
        from skbert._utils import resolve_device, resolve_precision

        options = dict(options)
        est_kw, cfg_kw, self.call_kw, self.unsupported = resolve_options(options, surface)
        est_kw.setdefault("max_epochs", 1)
        est_kw.setdefault("fit_cache", False)
        est_kw.setdefault("pooling", "cls")
        self.clf = clf = TransformerMultiLabelClassifier(path, device=device, random_state=seed,
                                                         **est_kw)
        self.device = resolve_device(clf.device)
        self.precision = resolve_precision(clf.precision, self.device)
        self.tokenizer = modeling.load_tokenizer(path, clf.tokenizer_kwargs)
        self.pad_id = data.pad_token_id(self.tokenizer)
        self.runner = _runner_module()
        rate = clf.learning_rate
        if rate == "auto":  # the rate "auto" gives a bert-base-sized model
            rate = getattr(training, "LARGE_MODEL_LEARNING_RATE", 5e-5)
        try:
            if self.runner is not None and hasattr(self.runner, "train_config"):
                from skbert._distributed import SINGLE

                config = self.runner.train_config(clf, self.device, self.precision, seed,
                                                  SINGLE, learning_rate=float(rate))
            else:  # older releases: the estimator's private method
                config = call_with(clf._train_config, {"device": self.device,
                                                       "precision": self.precision,
                                                       "seed": seed})
        except (AttributeError, TypeError) as exc:  # a private function: may change
            fields = {f.name for f in dataclasses.fields(training.TrainConfig)}
            params = clf.get_params()
            own = {"device", "precision", "seed"}
            config = training.TrainConfig(
                **{k: v for k, v in params.items() if k in fields and k not in own},
                device=self.device, precision=self.precision, seed=seed)
            self.config_note = f"TrainConfig built from the parameters ({exc})"
        if cfg_kw:
            config = dataclasses.replace(config, **cfg_kw)
        self.config = dataclasses.replace(config, max_epochs=1)
        self.applied = {"estimator": est_kw, "config": cfg_kw, "call": self.call_kw}
        self.torch = torch
        self.training = training
        self.modeling = modeling
        self.path = path

    def encode(self, texts):
        try:
            if self.runner is not None and hasattr(self.runner, "encode_texts"):
                return self.runner.encode_texts(self.clf, self.tokenizer, texts)
            return self.clf._encode(self.tokenizer, texts)  # older releases
        except AttributeError:
            import skbert._data as data

            return data.encode(self.tokenizer, texts, max_length=self.clf.max_length)

    def build_model(self, n_labels, Y):
        classes = np.arange(n_labels)
        model = call_with(self.modeling.build_model,
                          {"path": self.path, "pooling": "cls", "classes": classes, "seed": 0,
                           "model_kwargs": self.clf.model_kwargs})
        if hasattr(model, "init_bias_to_priors"):
            model.init_bias_to_priors(self.torch.from_numpy(Y.mean(axis=0).astype(np.float32)))
        return model.to(self.device)

    def train(self, model, encoded, Y):
        """One epoch through skbert's ``train`` (the loop fit runs)."""
        avail = {"model": model, "train_enc": encoded, "Y_train": Y, "valid_enc": None,
                 "Y_valid": None, "pad_id": self.pad_id, "config": self.config,
                 "pos_weight": None, **self.call_kw}
        return call_with(self.training.train, avail)

    def predict(self, model, encoded):
        avail = {"model": model, "encoded": encoded, "pad_id": self.pad_id,
                 "config": self.config, **{k: v for k, v in self.call_kw.items()}}
        return call_with(self.training.predict_logits, avail)


def run_variant(name: str, options: dict, args, path: str, surface: dict, rng,
                trace_dir: str, keep_trace: str | None = None) -> dict:
    """Warm-up, timed and profiled phases of training, then of prediction, for one variant."""
    import torch

    options = dict(options)
    L = int(options.pop("max_length", args.max_length))
    options["max_length"] = L
    options.setdefault("precision", args.precision
                       or ("bf16" if args.device == "cuda" else "fp32"))
    options.setdefault("batch_size", args.batch_size)
    options.setdefault("predict_batch_size", args.predict_batch_size)
    out = {"variant": name, "options": options}
    t_start = time.perf_counter()
    setup = Setup(path, options, surface, args.device)
    out.update(applied=setup.applied, unsupported=setup.unsupported,
               precision_resolved=setup.precision, device=str(setup.device),
               config={k: repr(v) for k, v in dataclasses.asdict(setup.config).items()})
    if getattr(setup, "config_note", None):
        out["config_note"] = setup.config_note
    dtype = setup.device.type
    bs, pbs = setup.config.batch_size, setup.config.predict_batch_size
    n_needed = bs * (args.warmup_steps + args.steps + args.profile_steps)
    X, Y = texts_for(L, n_needed, rng, args.texts)
    Y = np.asarray(Y, dtype=np.float32)
    enc_all = setup.encode(X)
    lengths = enc_all.doc_lengths()
    out["texts"] = {"mean_tokens": float(lengths.mean()), "max_tokens": int(lengths.max())}
    model = setup.build_model(Y.shape[1], Y)
    if dtype == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def part(a, b):
        idx = np.arange(a * bs, b * bs)
        return enc_all.subset(idx), Y[idx]

    inst = Instrument()
    with inst:
        out["wrapped"] = sorted(set(inst.found))
        w = args.warmup_steps
        t = time.perf_counter()
        setup.train(model, *part(0, w))
        _sync(dtype)
        out["train_warmup_s"] = time.perf_counter() - t
        inst.timeline.clear()
        n = args.steps
        t = time.perf_counter()
        setup.train(model, *part(w, w + n))
        _sync(dtype)
        wall = time.perf_counter() - t
        out["train"] = {"steps": n, "batch_size": bs, "wall_s": wall,
                        "ms_per_step": 1e3 * wall / n, "samples_per_s": n * bs / wall,
                        "steady_ms_per_step": _steady_ms(inst.timeline, "train_step"),
                        "host": _host_medians(inst.timeline, n)}
        if args.profile_steps:
            trace = os.path.join(trace_dir, f"{name}_train.json")
            inst.timeline.clear()
            with profiled(dtype, trace):
                setup.train(model, *part(w + n, w + n + args.profile_steps))
            out["train"]["profile"] = _analyse_file(trace, "train_step", args.skip, keep_trace,
                                                    inst.timeline)
        if dtype == "cuda":
            out["peak_gib_train"] = torch.cuda.max_memory_allocated() / 2**30
        write_partial(args, out)
        if args.predict_batches:
            m = args.predict_batches
            n_pred = pbs * (2 + args.predict_timed_batches + m)
            Xp, _ = texts_for(L, n_pred, rng, args.texts)
            encp = setup.encode(Xp)

            def pslice(a, b):
                return encp.subset(np.arange(a * pbs, min(b * pbs, len(Xp))))

            t = time.perf_counter()
            setup.predict(model, pslice(0, 2))
            _sync(dtype)
            out["predict_warmup_s"] = time.perf_counter() - t
            inst.timeline.clear()
            k = args.predict_timed_batches
            t = time.perf_counter()
            setup.predict(model, pslice(2, 2 + k))
            _sync(dtype)
            wall = time.perf_counter() - t
            out["predict"] = {"batches": k, "batch_size": pbs, "wall_s": wall,
                              "texts_per_s": k * pbs / wall,
                              "steady_ms_per_batch": _steady_ms(inst.timeline, "forward_docs"),
                              "host": _host_medians(inst.timeline, k),
                              "note": "already tokenised; predict_proba adds tokenising"}
            trace = os.path.join(trace_dir, f"{name}_predict.json")
            inst.timeline.clear()
            with profiled(dtype, trace):
                setup.predict(model, pslice(2 + k, 2 + k + m))
            out["predict"]["profile"] = _analyse_file(trace, "forward_docs", args.skip, None,
                                                      inst.timeline)
    if dtype == "cuda":
        out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    out["variant_s"] = time.perf_counter() - t_start
    del model, setup
    gc.collect()
    if dtype == "cuda":
        torch.cuda.empty_cache()
    if "compile" in options:
        with contextlib.suppress(Exception):
            torch._dynamo.reset()
    return out


def _analyse_file(trace: str, step_range: str, skip: int, keep: str | None,
                  timeline: Timeline) -> dict:
    with open(trace) as fh:
        events = json.load(fh).get("traceEvents", [])
    added = inject_timeline(events, timeline, step_range)
    result = analyse_trace(events, step_range, skip)
    result["ranges_from_host_clock"] = added
    result["trace_mib"] = os.path.getsize(trace) / 2**20
    if keep:
        import gzip
        import shutil

        with open(trace, "rb") as src, gzip.open(keep, "wb") as dst:
            shutil.copyfileobj(src, dst)
        result["trace_kept"] = keep
    os.remove(trace)
    return result


# -------------------------------------------------------------------- reporting
def _f(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def table(variant: dict, phase: str = "train") -> str:
    """Markdown table of the profiled steps of one variant, and its summary row."""
    res = variant.get(phase) or {}
    prof = res.get("profile") or {}
    if not prof.get("steps"):
        return f"({variant['variant']} {phase}: no profile: {prof.get('error', 'skipped')})"
    unit = "step" if phase == "train" else "batch"
    head = (f"| {unit} | wall ms | GPU busy ms | GPU % | kernel sum ms | kernels | launches | "
            "host-only ms | collate ms | H2D n/host ms/GPU ms | fwd host/GPU ms | "
            "bwd host/GPU ms | clip host/GPU ms | optim host/GPU ms | syncs (ms) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def row(label, r):
        h, g = r["host_ms"], r["gpu_ms"]
        util = r["gpu_util"]
        return (f"| {label} | {_f(r['wall_ms'], '.2f')} | {_f(r['gpu_busy_ms'], '.2f')} | "
                f"{_f(None if util is None else 100 * util, '.0f')} | "
                f"{_f(r['kernel_sum_ms'], '.2f')} | {_f(r['kernels'], '.0f')} | "
                f"{_f(r['launches'], '.0f')} | {_f(r['host_only_ms'], '.2f')} | "
                f"{_f(h.get('collate'), '.2f')} | {_f(r['h2d'].get('n'), '.0f')}/"
                f"{_f(r['h2d'].get('host_ms'), '.2f')}/{_f(r['h2d'].get('gpu_ms'), '.2f')} | "
                + " | ".join(f"{_f(h.get(k), '.2f')}/{_f(g.get(k), '.2f')}"
                             for k in ("forward", "backward", "clip", "optimizer"))
                + f" | {_f(r['sync_n'], '.0f')} ({_f(r['sync_ms'], '.2f')}) |")

    for r in prof["steps"]:
        lines.append(row(str(r["step"]), r))
    lines.append(row(f"median (from {unit} {prof.get('summary_excludes_first', 0)})",
                     prof["summary"]))
    sites = prof["summary"].get("syncs") or {}
    if sites:
        lines.append("")
        lines.append("synchronisations a " + unit + " (median): " + "; ".join(
            f"{k}: {v:g}" for k, v in sorted(sites.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)


def headline(variant: dict) -> str:
    if "skipped" in variant or "error" in variant:
        return f"{variant['variant']}: {variant.get('skipped') or variant.get('error')}"
    tr = variant.get("train", {})
    parts = [f"{variant['variant']} ({variant.get('precision_resolved')}, "
             f"max_length {variant['options'].get('max_length')}, batch "
             f"{tr.get('batch_size')}, {variant['texts']['mean_tokens']:.1f} tokens a text): "
             f"train {_f(tr.get('samples_per_s'), '.0f')} samples/s "
             f"({_f(tr.get('ms_per_step'), '.2f')} ms/step, steady "
             f"{_f(tr.get('steady_ms_per_step'), '.2f')}; warm-up "
             f"{_f(variant.get('train_warmup_s'), '.1f')} s)"]
    pr = variant.get("predict")
    if pr:
        parts.append(f"predict {pr['texts_per_s']:.0f} texts/s (tokenised)")
    if variant.get("unsupported"):
        parts.append(f"unsupported here: {sorted(variant['unsupported'])}")
    return "; ".join(parts)


def write_partial(args, out):
    """Rewrite the JSON with the variants done so far (a killed run keeps them)."""
    if not getattr(args, "json", None):
        return
    results = getattr(args, "_results", None)
    if results is None:
        return
    done = [v for v in results["variants"] if v is not out] + [out]
    with open(args.json + ".tmp", "w") as fh:
        json.dump({**results, "variants": done}, fh, indent=1, default=str)
    os.replace(args.json + ".tmp", args.json)


# ------------------------------------------------------------------- self-test
def self_test() -> None:
    """The trace analysis on a synthetic CUDA trace with known answers."""
    ev = []

    def x(cat, name, ts, dur, tid=1, **args):
        ev.append({"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "tid": tid,
                   "pid": 1, "args": args})

    for k, base in enumerate((0.0, 1000.0)):
        x("user_annotation", PREFIX + "train_step", base, 900)
        x("user_annotation", PREFIX + "collate", base + 10, 90)
        x("user_annotation", PREFIX + "forward", base + 100, 200)
        x("cuda_runtime", "cudaMemcpyAsync", base + 105, 20, correlation=10 * k + 1)
        x("gpu_memcpy", "Memcpy HtoD (Pageable -> Device)", base + 110, 5, tid=7,
          correlation=10 * k + 1, bytes=1024)
        x("cuda_runtime", "cudaLaunchKernel", base + 150, 5, correlation=10 * k + 2)
        x("kernel", "gemm", base + 160, 100, tid=7, correlation=10 * k + 2)
        x("user_annotation", PREFIX + "backward", base + 300, 300)
        x("cuda_runtime", "cudaLaunchKernel", base + 310, 5, tid=2, correlation=10 * k + 3)
        x("kernel", "gemm_bwd", base + 320, 200, tid=7, correlation=10 * k + 3)
        x("user_annotation", PREFIX + "clip", base + 600, 100)
        x("cpu_op", "aten::_local_scalar_dense", base + 610, 50)
        x("cuda_runtime", "cudaStreamSynchronize", base + 620, 30)
    res = analyse_trace(ev, "train_step", skip=0)
    s0, s1 = res["steps"]
    assert abs(s0["wall_ms"] - 1.0) < 1e-9, s0
    assert abs(s1["wall_ms"] - 0.9) < 1e-9, s1  # last window: to the last event
    assert abs(s0["gpu_busy_ms"] - 0.305) < 1e-9, s0  # 5 + 100 + 200 us
    assert s0["kernels"] == 2 and s0["launches"] == 2, s0
    assert abs(s0["gpu_ms"]["forward"] - 0.1) < 1e-9 and abs(s0["gpu_ms"]["backward"] - 0.2) \
        < 1e-9, s0["gpu_ms"]
    assert s0["h2d"]["n"] == 1 and s0["h2d"]["bytes"] == 1024, s0["h2d"]
    assert s0["syncs"] == {"cudaMemcpyAsync h2d pageable in forward": 1,
                           "item() in clip": 1}, s0["syncs"]
    assert abs(s0["sync_ms"] - 0.07) < 1e-9, s0  # the stream sync inside item() counts once
    assert abs(s0["host_ms"]["collate"] - 0.09) < 1e-9
    assert abs(s0["host_only_ms"] - 0.695) < 1e-9
    # a profiler that did not see the prefetch thread: its collate comes from the host clock
    tl = Timeline()
    main = threading.get_ident()
    shift = 5_000_000  # the host clock's zero differs from the trace's
    tl.spans["train_step"] = [(main, shift + 0, shift + 900_000),
                              (main, shift + 1_000_000, shift + 1_900_000)]
    tl.spans["collate"] = [(main + 1, shift + 1_200_000, shift + 1_500_000)]
    assert inject_timeline(ev, tl, "train_step") == 1
    res2 = analyse_trace(ev, "train_step", skip=0)
    assert abs(res2["steps"][1]["host_ms"]["collate"] - 0.39) < 1e-6, res2["steps"][1]["host_ms"]
    print(table({"variant": "self-test", "train": {"profile": res}}))
    print("self-test passed")


# ------------------------------------------------------------------------ main
def parse_json_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", default=None,
                    help="folder with a BERT WordPiece tokenizer (default: build a WordLevel one)")
    ap.add_argument("--model-dir", default=None,
                    help="an already built model folder (from make_model_folder); skips building")
    ap.add_argument("--texts", default=None,
                    help="JSON Lines file of texts (default: skbert's bundled GoEmotions sample)")
    ap.add_argument("--device", default="cuda", help="'cpu' only to smoke-test")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model, to smoke-test")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--precision", default=None,
                    help="bf16, fp16, fp32 or auto (default: bf16 on CUDA, fp32 on a CPU)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--predict-batch-size", type=int, default=256)
    ap.add_argument("--warmup-steps", type=int, default=10)
    ap.add_argument("--steps", type=int, default=40, help="timed training steps (no profiler)")
    ap.add_argument("--profile-steps", type=int, default=8)
    ap.add_argument("--predict-batches", type=int, default=6,
                    help="profiled prediction batches; 0 skips prediction")
    ap.add_argument("--predict-timed-batches", type=int, default=20)
    ap.add_argument("--skip", type=int, default=1,
                    help="profiled steps left out of the median (the first has set-up work)")
    ap.add_argument("--compile", type=parse_json_value, default=None,
                    help="skbert's compile parameter as JSON, e.g. "
                         "'{\"mode\": \"reduce-overhead\"}'")
    ap.add_argument("--buckets", type=parse_json_value, default=None,
                    help="passed as skbert's bucketing parameter where it has one (JSON)")
    ap.add_argument("--prefetch", type=parse_json_value, default=None,
                    help="passed as skbert's prefetch parameter where it has one (JSON)")
    ap.add_argument("--skbert-params", type=json.loads, default={},
                    help="further skbert options as a JSON object (estimator parameters, "
                         "TrainConfig fields or train() keywords)")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=JSON: profile these option sets one after the other (each on "
                         "top of the flags above); default: one variant from the flags")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds: variants that would start after it are skipped")
    ap.add_argument("--keep-trace", default=None,
                    help="gzip the first variant's training trace to this path")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--self-test", action="store_true")
    return ap


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    if args.self_test:
        self_test()
        return {}
    t0 = time.perf_counter()
    import torch
    import transformers

    if args.device == "cuda":
        assert torch.cuda.is_available(), "this script needs a CUDA GPU (or --device cpu)"
    if args.threads:
        torch.set_num_threads(args.threads)
    base = dict(args.skbert_params)
    for key in ("compile", "buckets", "prefetch"):
        if getattr(args, key) is not None:
            base[key] = getattr(args, key)
    variants = []
    for spec in args.variant or ["default={}"]:
        name, _, js = spec.partition("=")
        variants.append((name, {**base, **(json.loads(js) if js.strip() else {})}))
    surface = skbert_surface()
    env = {"device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
           "torch": torch.__version__, "transformers": transformers.__version__,
           "cpu_threads": torch.get_num_threads()}
    results = {"env": env, "skbert_surface": surface, "args": {
        k: v for k, v in vars(args).items() if not k.startswith("_")}, "variants": []}
    args._results = results
    print(env, flush=True)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as work:
        if args.model_dir:
            path, results["model"] = args.model_dir, {"folder": args.model_dir}
        else:
            pool, _ = texts_for(128, 4000, np.random.default_rng(1), args.texts)
            results["model"] = make_model_folder(os.path.join(work, "bert"), args.tokenizer,
                                                 args.tiny, pool)
            path = results["model"]["folder"]
        last = None
        for i, (name, opts) in enumerate(variants):
            used = time.perf_counter() - t0
            if args.budget is not None and used + (last or 0) > args.budget:
                res = {"variant": name, "options": opts,
                       "skipped": f"skipped: budget ({used:.0f} s of {args.budget:.0f} used)"}
            else:
                ts = time.perf_counter()
                try:
                    res = run_variant(name, opts, args, path, surface, rng, work,
                                      args.keep_trace if i == 0 else None)
                except Exception as exc:  # record it and go on with the next variant
                    import traceback

                    res = {"variant": name, "options": opts,
                           "error": f"{type(exc).__name__}: {exc}",
                           "traceback": traceback.format_exc()[-3000:]}
                    gc.collect()
                    if args.device == "cuda":
                        torch.cuda.empty_cache()
                last = time.perf_counter() - ts
            results["variants"].append(res)
            write_partial(args, res)
            print(headline(res), flush=True)
            for phase in ("train", "predict"):
                if res.get(phase):
                    print(table(res, phase), flush=True)
            print(flush=True)
    results["total_s"] = time.perf_counter() - t0
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    return results


if __name__ == "__main__":
    main()
