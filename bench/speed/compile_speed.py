"""What ``compile=True`` costs and buys: compile time, then steady-state speed.

On the same texts, model and settings, in one process:

* training: ``fit`` with ``max_epochs=E`` eagerly and with ``compile=True``; the
  first compiled epoch includes compiling the training graph, so the table shows
  epoch 1 and the mean of the later epochs (``history_[i]["dur"]``; each epoch's
  time covers its training pass only, there is no validation split);
* prediction: ``predict_proba`` on the test texts eagerly, then with
  ``compile=True`` twice (the first call compiles the inference graph).

It prints the one-time compile cost, the steady-state speed-up, and how many
texts it takes before compiling pays. Data: JSON Lines as in ``speed.py``::

    python bench/speed/compile_speed.py --train ../shared/data/goemotions/train.jsonl \\
        --test ../shared/data/goemotions/validation.jsonl --n-train 1000 --n-test 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)
from _harness import machine, record  # noqa: E402
from speed import add_workload_arguments, load_workload  # noqa: E402


def epoch_times(clf) -> tuple[float, float]:
    durs = [r["dur"] for r in clf.history_]
    return durs[0], float(np.mean(durs[1:])) if len(durs) > 1 else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_workload_arguments(ap)
    ap.add_argument("--epochs", type=int, default=3, help="at least 2: epoch 1 compiles")
    args = ap.parse_args(argv)
    if args.epochs < 2:
        ap.error("--epochs must be at least 2: the first compiled epoch includes compiling")

    import torch

    from skbert import TransformerMultiLabelClassifier

    torch.set_num_threads(args.threads)
    Xtr, Ytr, Xte, model = load_workload(args)
    common = dict(max_epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length,
                  learning_rate=5e-5, random_state=0, fit_cache=False)
    load = os.getloadavg()[0]

    rows = {}
    for name, comp in (("eager", False), ("compiled", True)):
        clf = TransformerMultiLabelClassifier(model, compile=comp, **common)
        t = time.perf_counter()
        clf.fit(Xtr, Ytr)
        fit_s = time.perf_counter() - t
        first, later = epoch_times(clf)
        rows[name] = {"fit_s": fit_s, "epoch1_s": first, "later_epoch_s": later,
                      "train_sps_later": args.n_train / later}
        print(f"[compile] {name} fit {fit_s:.1f}s (epoch 1 {first:.1f}s, later "
              f"{later:.1f}s)", file=sys.stderr, flush=True)
    clf.set_params(compile=False)
    t = time.perf_counter()
    p_eager = clf.predict_proba(Xte)
    rows["eager"]["predict_s"] = time.perf_counter() - t
    clf.set_params(compile=True)
    t = time.perf_counter()
    clf.predict_proba(Xte)
    rows["compiled"]["predict_first_s"] = time.perf_counter() - t
    t = time.perf_counter()
    p_comp = clf.predict_proba(Xte)
    rows["compiled"]["predict_s"] = time.perf_counter() - t
    max_dp = float(np.abs(p_comp - p_eager).max())

    e, c = rows["eager"], rows["compiled"]
    train_compile_s = c["epoch1_s"] - c["later_epoch_s"]
    pred_compile_s = c["predict_first_s"] - c["predict_s"]
    per_text_saving = (e["predict_s"] - c["predict_s"]) / args.n_test
    lines = [
        "| | eager | compiled |", "|---|---:|---:|",
        f"| training epoch 1 s | {e['epoch1_s']:.1f} | {c['epoch1_s']:.1f} |",
        f"| training, later epochs: s per epoch | {e['later_epoch_s']:.1f} | "
        f"{c['later_epoch_s']:.1f} |",
        f"| training samples/s (later epochs) | {e['train_sps_later']:.1f} | "
        f"{c['train_sps_later']:.1f} |",
        f"| predict_proba, first call s | {e['predict_s']:.2f} | {c['predict_first_s']:.2f} |",
        f"| predict_proba, next call samples/s | {args.n_test / e['predict_s']:.1f} | "
        f"{args.n_test / c['predict_s']:.1f} |",
        "",
        f"- compiling cost about {train_compile_s:.0f} s for training and "
        f"{pred_compile_s:.0f} s for inference (first epoch or call minus a later one)",
        f"- steady state: training {e['later_epoch_s'] / c['later_epoch_s']:.2f}x, "
        f"prediction {e['predict_s'] / c['predict_s']:.2f}x the eager speed",
        ("- prediction pays after about "
         f"{pred_compile_s / per_text_saving:,.0f} texts" if per_text_saving > 0 else
         "- prediction never pays here: compiled is not faster"),
        f"- largest |probability difference| compiled vs eager, same weights: {max_dp:.1e}",
        f"- {args.n_train} training / {args.n_test} predicted texts, max_length "
        f"{args.max_length}, batch {args.batch_size}, {args.epochs} epochs, torch "
        f"{torch.__version__}, {args.threads} threads, device {clf.device_}, precision "
        f"{clf.precision_}, load average {load:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end",
    ]
    print("\n".join(lines))
    if args.json:
        record(args.json, {"rows": rows, "max_dp": max_dp, "markdown": "\n".join(lines)},
               args, machine_info=machine(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
