"""Worker of tests/test_distributed.py, started by torchrun: ranks given the same or other data.

Usage: ``torchrun --standalone --nproc_per_node 2 tests/ddp_data_worker.py MODE OUT_DIR MODEL...``.
Writes ``OUT_DIR/<mode>-rank<r>.json``.

Modes:

* ``check``: :func:`skbert._distributed.check_same_data` on scenarios where rank 1 differs
  (texts, labels, label names, length, weights) and where it does not; records each
  scenario's error message (or None) on this rank. One process group for all scenarios:
  a refused scenario must leave the group usable.
* ``fits``: first a fit on the defaults' path (no validation split, float threshold) of
  each MODEL, dropout off, recording the probabilities and the training losses
  (``defaults-rank<r>.json``); then a fit where rank 1 has one label column more, recording
  fit's error (``other-labels-rank<r>.json``).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from conftest import make_corpus, short_contrastive_warm_up  # noqa: E402

from skbert import TransformerMultiLabelClassifier  # noqa: E402
from skbert import _distributed as dist  # noqa: E402

short_contrastive_warm_up()  # as the tests that start this worker do

NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def defaults_params(model: str) -> dict:
    """The defaults, except what makes a comparison exact (fp32, seed, no dropout, no cache)."""
    return dict(model_name_or_path=model, max_epochs=2, batch_size=16, random_state=0,
                device="cpu", fit_cache=False, precision="fp32", model_kwargs=NO_DROPOUT,
                learning_rate=1e-3)


def scenarios(rank: int) -> dict:
    X, Y = make_corpus(24, seed=0)
    names = ["a", "b", "c", "d"]
    other = rank == 1
    return {
        "same": (X, Y, names, None),
        "texts": (X[:-1] + ["pizza" if other else X[-1]], Y, names, None),
        "labels": (X, np.where(np.arange(Y.size).reshape(Y.shape) == 5, 1 - Y, Y) if other
                   else Y, names, None),
        "names": (X, Y, ["a", "b", "c", "x"] if other else names, None),
        "n_labels": (X, np.hstack([Y, Y[:, :1]]) if other else Y,
                     names + ["e"] if other else names, None),
        "length": (X[:-1] if other else X, Y[:-1] if other else Y, names, None),
        "weights": (X, Y, names, np.full(len(X), 2.0 if other else 1.0)),
    }


def run_checks(rank: int) -> dict:
    group = dist.join(use_cuda=False)
    out = {"world": group.world_size}
    for name, (X, Y, names, w) in scenarios(rank).items():
        try:
            dist.check_same_data(group, len(X), names, dist.data_digest(X, Y, w))
            out[name] = None
        except ValueError as exc:
            out[name] = str(exc)
    return out


def fit_other_labels(rank: int, model: str) -> dict:
    X, Y = make_corpus(24, seed=0)
    if rank == 1:
        Y = np.hstack([Y, Y[:, :1]])
    try:
        TransformerMultiLabelClassifier(**defaults_params(model)).fit(X, Y)
        return {"error": None}
    except ValueError as exc:
        return {"error": str(exc)}


def defaults(models: list[str]) -> dict:
    X, Y = make_corpus(40, seed=0)
    out = {}
    for model in models:
        est = TransformerMultiLabelClassifier(**defaults_params(model)).fit(X, Y)
        out[model] = {"proba": est.predict_proba(X).tolist(),
                      "train_loss": [h["train_loss"] for h in est.history_]}
    return out


def main() -> None:
    mode, out_dir, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    if mode == "check":
        write(out_dir, "check", rank, run_checks(rank))
        return
    write(out_dir, "defaults", rank, defaults(models))
    write(out_dir, "other-labels", rank, fit_other_labels(rank, models[0]))
    # leave together: on a loaded machine a rank tearing gloo down at interpreter exit
    # while the other still ran once aborted ("terminate called without an active exception")
    import torch.distributed as tdist

    if tdist.is_initialized():
        tdist.barrier()
        tdist.destroy_process_group()


def write(out_dir: str, name: str, rank: int, record: dict) -> None:
    with open(os.path.join(out_dir, f"{name}-rank{rank}.json"), "w") as fh:
        json.dump(record, fh)


if __name__ == "__main__":
    main()
