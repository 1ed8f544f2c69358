"""The one harness of bench/: the machine record, a timer and the JSON record.

Every script puts ``bench/`` and its own folder on ``sys.path`` first (the two
lines at the top of each script), so ``from _harness import ...`` works when a
script is run from the repository root, as bench/README.md runs them::

    HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/

A script that imports a module of another bench folder adds it with
:func:`use_folder` (``use_folder("speed")`` for ``from speed import ...``).

Bench is not the package: :func:`record` writes with a plain ``open()``; the
package's file layer (``skbert._safe_io``) is for what skbert writes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)


def use_folder(name: str) -> str:
    """Put ``bench/<name>`` on ``sys.path`` (for a module of another bench folder)."""
    path = os.path.join(BENCH, name)
    if not os.path.isdir(path):
        raise ValueError(f"bench folder {name!r} does not exist under {BENCH}")
    if path not in sys.path:
        sys.path.insert(0, path)
    return path


def machine(threads: int | None = None) -> dict:
    """CPU, its bf16 flags, the GPU and the library versions of this run.

    Parameters
    ----------
    threads : int or None
        The torch threads the run uses (``None``: ``torch.get_num_threads()``
        when torch imports).

    Returns
    -------
    dict
        ``cpu``, ``logical_cpus``, ``cpus_available``, ``torch_threads``,
        ``bf16_flags``, ``python``, ``gpu`` and the versions of torch,
        transformers, datasets, sklearn, skbert and accelerate (``None`` when
        one is not installed).
    """
    cpu, flags = platform.processor() or "?", ""
    try:
        with open("/proc/cpuinfo") as fh:
            lines = fh.read().splitlines()
        cpu = next((ln.split(":", 1)[1].strip() for ln in lines
                    if ln.startswith("model name")), cpu)
        flags = next((ln for ln in lines if ln.startswith("flags")), "") + " "
    except OSError:
        pass
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count()
    info = {"cpu": cpu, "logical_cpus": os.cpu_count(),
            "cpus_available": available, "torch_threads": threads,
            "bf16_flags": [f for f in ("avx512_bf16", "amx_bf16") if f" {f} " in flags],
            "python": platform.python_version(), "gpu": None}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
        if threads is None:
            info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    for mod in ("torch", "transformers", "datasets", "sklearn", "skbert", "accelerate"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional package is just not reported
            info[mod] = None
    return info


class Timer:
    """Seconds spent in a ``with timer() as t:`` block: ``t.seconds`` (perf_counter)."""

    seconds: float = float("nan")


@contextmanager
def timer() -> Iterator[Timer]:
    """Time a block with ``time.perf_counter``.

    Examples
    --------
    >>> with timer() as t:
    ...     pass
    >>> t.seconds >= 0
    True
    """
    t = Timer()
    start = time.perf_counter()
    try:
        yield t
    finally:
        t.seconds = time.perf_counter() - start


def indicator(label_lists, names):
    """The 0/1 matrix (n_texts, n_labels) of label lists, columns in ``names`` order."""
    import numpy as np

    col = {n: j for j, n in enumerate(names)}
    Y = np.zeros((len(label_lists), len(names)), dtype=np.int64)
    for i, row in enumerate(label_lists):
        for name in row:
            Y[i, col[name]] = 1
    return Y


def read_jsonl(path: str, offset: int = 0, n: int | None = None
               ) -> tuple[list[str], list[list[str]]]:
    """Texts and label lists of a JSON Lines file: lines ``offset ..``, at most ``n`` records.

    ``offset`` counts lines of the file (blank ones included); blank lines are skipped.
    """
    texts: list[str] = []
    labels: list[list[str]] = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i < offset or not line.strip():
                continue
            rec = json.loads(line)
            texts.append(rec["text"])
            labels.append(list(rec.get("labels", [])))
            if len(texts) == n:
                break
    return texts, labels


def status_mib(key: str) -> float:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM, RssAnon, RssFile) in MiB.

    ``nan`` where the field is absent (not Linux, or an older kernel).
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_child(script: str, spec: dict, spec_path: str, result_path: str, *, env: dict,
              tag: str, what: str) -> tuple[int, dict | None]:
    """Run ``script --child spec_path result_path`` in a fresh Python, its stdout on stderr.

    Writes ``spec`` as JSON to ``spec_path`` first. Returns ``(exit status, result)``:
    the JSON the child wrote to ``result_path``, or ``None`` (after a line
    ``[tag] what failed with exit status N`` on stderr) when the child failed.
    """
    with open(spec_path, "w") as fh:
        json.dump(spec, fh)
    proc = subprocess.run([sys.executable, os.path.abspath(script), "--child", spec_path,
                           result_path], env=env, stdout=sys.stderr)
    if proc.returncode != 0:
        print(f"[{tag}] {what} failed with exit status {proc.returncode}", file=sys.stderr)
        return proc.returncode, None
    with open(result_path) as fh:
        return 0, json.load(fh)


def child_or_main(child: Any, main: Any) -> int:
    """The ``__main__`` dispatch: ``script --child SPEC RESULT`` runs ``child``, else ``main``."""
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return 0
    return main()


def timed_fit_predict(model: Any, X_train: Any, Y_train: Any, X_test: Any
                      ) -> tuple[Any, float, float]:
    """``model.fit(X_train, Y_train)`` then ``model.predict_proba(X_test)``, each timed.

    Returns ``(probabilities, fit seconds, predict seconds)`` (``time.perf_counter``).
    """
    with timer() as fit:
        model.fit(X_train, Y_train)
    with timer() as predict:
        proba = model.predict_proba(X_test)
    return proba, fit.seconds, predict.seconds


def versions_line() -> str:
    """The versions line of a bench report: ``- skbert V, torch V, transformers V``."""
    import torch
    import transformers

    import skbert

    return (f"- skbert {skbert.__version__}, torch {torch.__version__}, transformers "
            f"{transformers.__version__}")


def print_report(lines: list[str], args: Any, payload: dict) -> str:
    """Print the report ``lines`` and, when ``args.json`` is set, record ``payload`` with
    the report as ``"markdown"`` (:func:`record`). Returns the report."""
    report = "\n".join(lines)
    print(report)
    if args.json:
        record(args.json, {**payload, "markdown": report}, args)
    return report


def git_commit() -> str | None:
    """The repository's commit (``git rev-parse HEAD``), ``None`` when git cannot say."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def record(path: str, payload: dict, args: Any = None, *, machine_info: dict | None = None,
           indent: int | None = 1) -> dict:
    """Write a run's JSON: its arguments, the machine, skbert's version and commit, the payload.

    Parameters
    ----------
    path : str
        The JSON file (its folder is made); an existing file is replaced.
    payload : dict
        The results; its keys go at the top level, after the record's own keys
        (``args``, ``machine``, ``skbert_version``, ``git_commit``), and win over them.
    args : argparse.Namespace, dict or None
        The run's arguments.
    machine_info : dict or None
        The machine record when the script already has one (``None``: :func:`machine`).
    indent : int or None
        JSON indentation.

    Returns
    -------
    dict
        What was written.
    """
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    info = machine_info if machine_info is not None else machine()
    out = {"args": args, "machine": info, "skbert_version": info.get("skbert"),
           "git_commit": git_commit(), **payload}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=indent, default=str)
    return out
