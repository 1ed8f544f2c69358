"""Peak memory of fitting on many short texts: the token store must not grow like the corpus.

Every case runs in a fresh child process. It first builds its input (N texts of
18 words drawn from the tiny test vocabulary, about 20 tokens each, with 4
keyword labels), then records its RSS, resets its peak RSS (``VmHWM``, through
``/proc/self/clear_refs``), runs the measured step, and reports the growth:
``VmHWM`` minus the RSS before the step. A sampling thread also records the
peak of ``RssAnon`` (memory the kernel cannot drop; ``VmHWM`` also counts pages
of memory-mapped files, which it can).

Sources:

* ``list``: a list of str, built in the child before the measurement;
* ``dataset``: a ``datasets.Dataset`` saved by the parent with ``save_to_disk``
  and opened in the child with ``load_from_disk`` (Arrow, memory-mapped: the
  texts are not in memory before the step); ``--dataset-source memory`` uses
  ``Dataset.from_dict`` in the child instead.

Modes (``--list-mode``, ``--dataset-mode``):

* ``fit``: ``TransformerMultiLabelClassifier(tiny BERT, max_epochs=1).fit(X, Y)``
  end to end (a Dataset goes through whatever the estimator does with it);
* ``encode``: only the data path of one epoch: ``encode`` (list) or
  ``encode_dataset`` (Dataset), then ``collate`` of every training batch in
  ``length_grouped_batches`` order, no model.

Targets (issue 12): from 20,000 to 200,000 texts the list case grows by at
most 80 MiB; from 200,000 to 2,000,000 the Dataset case by at most 150 MiB.

Usage, from the repository root::

    python bench/memory/token_memory.py                                 # list fit 20k/200k,
                                                                 # dataset encode 200k/2M
    python bench/memory/token_memory.py --dataset-mode fit --dataset-sizes 200000,2000000
    python bench/memory/token_memory.py --list-sizes 2000000 --list-mode encode --dataset-sizes ""
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import child_or_main, print_report, status_mib, versions_line  # noqa: E402
from _harness import run_child as run_script  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))  # the repository
N_WORDS = 18
TARGETS = {"list": (20_000, 200_000, 80.0), "dataset": (200_000, 2_000_000, 150.0)}


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class AnonPeak:
    """Samples RssAnon every 20 ms in a thread; ``peak`` is the largest seen."""

    def __init__(self):
        self.peak = status_mib("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, status_mib("RssAnon"))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, status_mib("RssAnon"))


def make_texts(n: int, seed: int = 0, start: int = 0):
    """N texts of 18 words (tiny-vocabulary filler and keywords) and their 4 labels."""
    import numpy as np

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from conftest import FILLER, KEYWORDS, LABELS

    words = np.array(FILLER + [w for lab in LABELS for w in KEYWORDS[lab]])
    rng = np.random.default_rng([seed, start])
    idx = rng.integers(0, len(words), size=(n, N_WORDS))
    texts = [" ".join(row) for row in words[idx].tolist()]
    first_kw = len(FILLER)
    Y = np.zeros((n, len(LABELS)), dtype=np.int8)
    for j in range(len(LABELS)):
        lo, hi = first_kw + 4 * j, first_kw + 4 * (j + 1)
        Y[:, j] = ((idx >= lo) & (idx < hi)).any(axis=1)
    Y[:, 0] |= ~Y.any(axis=1)  # every text has a label
    return texts, Y


# ----------------------------------------------------------------- child side
def run_child(spec_path: str, result_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    import numpy as np
    import torch

    torch.set_num_threads(spec["threads"])
    from skbert import TransformerMultiLabelClassifier, _data
    from skbert._modeling import load_tokenizer

    if spec["int32"]:
        _data.token_dtype = lambda tokenizer: np.dtype(np.int32)
    n = spec["n"]
    if spec["kind"] == "dataset":
        from datasets import Dataset, load_from_disk

        if spec["dataset_dir"]:
            X = load_from_disk(spec["dataset_dir"])
            Y = np.load(os.path.join(spec["dataset_dir"], "Y.npy"))
        else:
            texts, Y = make_texts(n)
            X = Dataset.from_dict({"text": texts})
            del texts
    else:
        X, Y = make_texts(n)
    tok = load_tokenizer(spec["model"], None)
    import gc

    gc.collect()
    before = status_mib("VmRSS")
    before_anon = status_mib("RssAnon")
    peak_reset = reset_peak()
    out = {"kind": spec["kind"], "n": n, "mode": spec["mode"]}
    t = time.perf_counter()
    with AnonPeak() as anon:
        if spec["mode"] == "fit":
            clf = TransformerMultiLabelClassifier(
                spec["model"], max_epochs=1, batch_size=spec["batch_size"],
                max_length=spec["max_length"], random_state=0, fit_cache=False,
                device="cpu", precision="fp32")
            clf.fit(X, Y)
            out["train_loss"] = clf.history_[0]["train_loss"]
        else:
            from skbert._batches import collate, length_grouped_batches, pad_token_id
            from skbert._data import encode, encode_dataset

            kw = dict(max_length=spec["max_length"])
            enc = encode_dataset(tok, X, **kw) if spec["kind"] == "dataset" else \
                encode(tok, X, **kw)
            out["encode_s"] = time.perf_counter() - t
            out["tokens"] = enc.n_tokens
            out["token_dtype"] = str(enc.tokens.dtype)
            pad = pad_token_id(tok)
            rng = np.random.default_rng(0)
            t2 = time.perf_counter()
            checksum = 0
            for docs in length_grouped_batches(enc.doc_lengths(), spec["batch_size"], rng):
                batch = collate(enc, docs, pad)
                checksum += int(batch["attention_mask"].sum())
            out["collate_s"] = time.perf_counter() - t2
            assert checksum == enc.n_tokens, (checksum, enc.n_tokens)
    out.update(seconds=time.perf_counter() - t, rss_before_mib=before,
               peak_rss_mib=status_mib("VmHWM"), peak_reset=peak_reset,
               anon_before_mib=before_anon, anon_peak_mib=anon.peak,
               rss_after_mib=status_mib("VmRSS"))
    out["growth_mib"] = out["peak_rss_mib"] - before
    out["anon_growth_mib"] = anon.peak - before_anon
    with open(result_path, "w") as fh:
        json.dump(out, fh)


# ---------------------------------------------------------------- parent side
def sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def write_dataset(folder: str, n: int) -> None:
    """save_to_disk N texts without holding them all: 100,000-text shards, concatenated."""
    import numpy as np
    from datasets import Dataset, concatenate_datasets

    parts, labels = [], []
    for start in range(0, n, 100_000):
        texts, Y = make_texts(min(100_000, n - start), start=start)
        parts.append(Dataset.from_dict({"text": texts}))
        labels.append(Y)
    concatenate_datasets(parts).save_to_disk(folder)
    np.save(os.path.join(folder, "Y.npy"), np.concatenate(labels))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list-sizes", default="20000,200000",
                    help="comma-separated numbers of texts for the list cases ('' for none)")
    ap.add_argument("--dataset-sizes", default="200000,2000000",
                    help="comma-separated numbers of texts for the Dataset cases ('' for none)")
    ap.add_argument("--list-mode", choices=("fit", "encode"), default="fit")
    ap.add_argument("--dataset-mode", choices=("fit", "encode"), default="encode",
                    help="'fit' passes the Dataset to the estimator's fit (lean once fit uses "
                         "encode_dataset for it); 'encode' measures encode_dataset + collate")
    ap.add_argument("--dataset-source", choices=("disk", "memory"), default="disk",
                    help="disk: save_to_disk/load_from_disk (memory-mapped); memory: "
                         "Dataset.from_dict in the child")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--int32", action="store_true",
                    help="force an int32 token store instead of uint16")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--json", default=None, help="write every number to this JSON file")
    args = ap.parse_args(argv)

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    results = []
    with tempfile.TemporaryDirectory(prefix="skbert-tokmem-") as work:
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        from pathlib import Path

        from conftest import build_tiny_bert

        model = build_tiny_bert(Path(work) / "tiny_bert")
        cases = [("list", n, args.list_mode) for n in sizes(args.list_sizes)]
        cases += [("dataset", n, args.dataset_mode) for n in sizes(args.dataset_sizes)]
        for kind, n, mode in cases:
            spec = {"kind": kind, "n": n, "mode": mode, "model": model,
                    "threads": args.threads, "batch_size": args.batch_size,
                    "max_length": args.max_length, "int32": args.int32, "dataset_dir": None}
            if kind == "dataset" and args.dataset_source == "disk":
                spec["dataset_dir"] = os.path.join(work, f"ds_{n}")
                t = time.perf_counter()
                write_dataset(spec["dataset_dir"], n)
                print(f"[tokmem] wrote a {n:,}-text dataset in {time.perf_counter() - t:.0f}s",
                      file=sys.stderr, flush=True)
            spec_path = os.path.join(work, f"{kind}_{n}.spec.json")
            result_path = os.path.join(work, f"{kind}_{n}.result.json")
            print(f"[tokmem] {kind} {n:,} texts, {mode} ...", file=sys.stderr, flush=True)
            rc, result = run_script(__file__, spec, spec_path, result_path, env=env,
                                    tag="tokmem", what=f"{kind} {n}")
            if rc:
                return rc
            results.append(result)
            if spec["dataset_dir"]:
                import shutil

                shutil.rmtree(spec["dataset_dir"], ignore_errors=True)

    source = "load_from_disk" if args.dataset_source == "disk" else "from_dict"
    names = {"list": "list of str", "dataset": f"datasets.Dataset ({source})"}
    lines = ["| input | texts | step | RSS before MiB | peak growth MiB | RssAnon peak growth "
             "MiB | seconds |", "|---|---:|---|---:|---:|---:|---:|"]
    for r in results:
        step = "fit" if r["mode"] == "fit" else \
            f"encode {r['encode_s']:.0f}s + collate {r['collate_s']:.0f}s"
        lines.append(f"| {names[r['kind']]} | {r['n']:,} | {step} | {r['rss_before_mib']:.0f} "
                     f"| {r['growth_mib']:.0f} | {r['anon_growth_mib']:.0f} | "
                     f"{r['seconds']:.0f} |")
    lines.append("")
    by = {(r["kind"], r["n"]): r for r in results}
    for kind, (small, large, limit) in TARGETS.items():
        if (kind, small) in by and (kind, large) in by:
            d = by[(kind, large)]["growth_mib"] - by[(kind, small)]["growth_mib"]
            verdict = "met" if d <= limit else "MISSED"
            lines.append(f"- {kind}: growth from {small:,} to {large:,} texts: {d:.0f} MiB "
                         f"(target <= {limit:.0f} MiB: {verdict})")
    dtypes = sorted({r.get("token_dtype", "") for r in results} - {""})
    lines += [f"- tiny random BERT (tests/conftest.py), 1 epoch, batch_size {args.batch_size}, "
              f"max_length {args.max_length}, {N_WORDS}-word texts, {args.threads} torch "
              f"threads; token store {', '.join(dtypes) or 'as the estimator chose'}; peak "
              "reset before the step: "
              f"{all(r['peak_reset'] for r in results) if results else '?'}",
              versions_line()]
    print_report(lines, args, {"results": results})
    return 0


if __name__ == "__main__":
    sys.exit(child_or_main(run_child, main))
