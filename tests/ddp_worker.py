"""Worker of tests/test_distributed.py, started by torchrun: one rank of a data-parallel fit.

Usage: ``torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py MODEL OUT_DIR [MODE]``.
Writes ``OUT_DIR/rank<r>.json`` with this rank's fitted probabilities and statistics.
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

short_contrastive_warm_up()  # as the tests that start this worker do

NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def params(model: str) -> dict:
    return dict(model_name_or_path=model, max_epochs=2, batch_size=8, learning_rate=3e-3,
                random_state=0, device="cpu", fit_cache=False, precision="fp32",
                model_kwargs=NO_DROPOUT, threshold="auto", validation_fraction=0.25,
                early_stopping=True, n_iter_no_change=5)


def main() -> None:
    model, out = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "seeded"
    torch.set_num_threads(1)
    X, Y = make_corpus(45, seed=0)  # 45: shares of uneven size
    kw = params(model)
    if mode == "unseeded":  # each rank would draw its own seed: rank 0's must win
        kw.update(random_state=None, model_kwargs=None, micro_batch_size=3)
    # count the texts this rank forwards in training: the loop takes its share
    # of every global batch through _distributed.shard
    from skbert import _training

    forwarded = [0]
    real_shard = _training.shard

    def counting_shard(docs, group):
        mine = real_shard(docs, group)
        forwarded[0] += len(mine)
        return mine

    _training.shard = counting_shard
    est = TransformerMultiLabelClassifier(**kw).fit(X, Y)
    _training.shard = real_shard
    proba = est.predict_proba(X + ["football match", "pizza recipe"])
    rank = int(os.environ["RANK"])
    folder = os.path.join(out, "saved")
    est.save_pretrained(folder)  # only rank 0 writes
    record = {"rank": rank, "world": int(os.environ["WORLD_SIZE"]),
              "proba": proba.tolist(), "thresholds": est.thresholds_.tolist(),
              "best_epoch": est.best_epoch_, "history": est.history_,
              "n_forwarded": forwarded[0],
              "weights_sum": float(sum(p.double().sum() for p in est.model_.parameters()))}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
        json.dump(record, fh)
    np.testing.assert_array_equal(proba.shape, (47, 4))
    # leave together, as tests/ddp_data_worker.py does: a rank tearing gloo down at interpreter
    # exit while the other still ran aborted once here too ("terminate called without an
    # active exception", under a loaded machine)
    import torch.distributed as tdist

    if tdist.is_initialized():
        tdist.barrier()
        tdist.destroy_process_group()


if __name__ == "__main__":
    main()
