"""Issue 12: data-parallel fit under torchrun (2 CPU processes, gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import make_corpus
from ddp_worker import params

from skbert import TransformerMultiLabelClassifier
from skbert import _distributed as dist

HERE = os.path.dirname(__file__)


def torchrun(args, tmp_path, nproc=2, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.path.dirname(HERE)}
    env.pop("SKBERT_DDP_TEST", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", *args]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def ddp_run(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    proc = torchrun([os.path.join(HERE, "ddp_worker.py"), tiny_model, str(out)], out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    return out, ranks


def test_two_ranks_end_with_the_same_model(ddp_run):
    _, (r0, r1) = ddp_run
    assert r0["world"] == r1["world"] == 2
    np.testing.assert_array_equal(r0["proba"], r1["proba"])
    assert r0["weights_sum"] == r1["weights_sum"]
    assert r0["thresholds"] == r1["thresholds"] and r0["best_epoch"] == r1["best_epoch"]
    assert [h["valid_loss"] for h in r0["history"]] == [h["valid_loss"] for h in r1["history"]]


def test_two_ranks_equal_one_process(ddp_run, tiny_model):
    _, (r0, _) = ddp_run
    torch.set_num_threads(1)
    X, Y = make_corpus(45, seed=0)
    one = TransformerMultiLabelClassifier(**params(tiny_model)).fit(X, Y)
    proba = one.predict_proba(X + ["football match", "pizza recipe"])
    np.testing.assert_allclose(r0["proba"], proba, atol=1e-4)
    np.testing.assert_allclose(r0["thresholds"], one.thresholds_)
    assert r0["best_epoch"] == one.best_epoch_
    np.testing.assert_allclose([h["train_loss"] for h in r0["history"]],
                               [h["train_loss"] for h in one.history_], atol=1e-5)


def test_each_rank_forwards_about_half_the_training_texts(ddp_run):
    _, (r0, r1) = ddp_run
    n_train, epochs = 45 - 12, 2  # validation_fraction=0.25 of 45 -> 12 held out
    assert r0["n_forwarded"] + r1["n_forwarded"] == n_train * epochs
    for r in (r0, r1):
        assert abs(r["n_forwarded"] - n_train * epochs / 2) <= 5  # one text a batch at most


def test_only_rank_zero_writes_and_the_folder_loads(ddp_run):
    out, (r0, _) = ddp_run
    loaded = TransformerMultiLabelClassifier.from_pretrained(out / "saved", device="cpu",
                                                             precision="fp32")
    X, _ = make_corpus(45, seed=0)
    np.testing.assert_allclose(loaded.predict_proba(X + ["football match", "pizza recipe"]),
                               r0["proba"], atol=1e-6)
    assert not list(out.glob("saved*tmp*"))


def test_without_a_launcher_nothing_changes(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dist.join(use_cuda=False) is dist.SINGLE
    assert not dist.launched()
    docs = np.arange(7)
    np.testing.assert_array_equal(dist.shard(docs, dist.SINGLE), docs)
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(dist.gather_rows(rows, np.array([2, 0, 1]), 3, dist.SINGLE),
                                  rows[[1, 2, 0]])


def test_shards_of_a_batch_cover_it_once():
    docs = np.array([5, 3, 9, 1, 7])
    parts = [dist.shard(docs, dist.ProcessGroup(r, 2)) for r in range(2)]
    np.testing.assert_array_equal(np.concatenate(parts), docs)
    assert [len(p) for p in parts] == [3, 2]
    assert len(dist.shard(np.array([4]), dist.ProcessGroup(1, 2))) == 0


def test_bad_world_size_variable_is_named(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two'.*torchrun"):
        dist.launched()


def test_unseeded_fit_agrees_across_ranks(tiny_model, tmp_path):
    out = tmp_path / "unseeded"
    out.mkdir()
    proc = torchrun([os.path.join(HERE, "ddp_worker.py"), tiny_model, str(out), "unseeded"],
                    out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in range(2))
    np.testing.assert_array_equal(r0["proba"], r1["proba"])
    assert r0["thresholds"] == r1["thresholds"]


def test_cli_train_under_torchrun_writes_once(tiny_model, tmp_path):
    from conftest import LABELS

    texts, Y = make_corpus(32, seed=2)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"text": t, "labels": [n for n, v in zip(LABELS, y) if v]})
                            + "\n" for t, y in zip(texts, Y)))
    proc = torchrun(["-m", "skbert", "train", str(data), "--out", str(tmp_path / "model"),
                     "--model", tiny_model, "--max-epochs", "1", "--verbose", "0",
                     "--precision", "fp32"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("Saved the model to") == 1  # rank 0 alone prints
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "model")
    assert loaded.predict_proba(texts).shape == (32, 4)
    assert [p.name for p in tmp_path.iterdir() if "skbert-" in p.name] == []


# ------------------------------------------------ issue 20: item 11 (ranks that disagree)
def _read(out, name):
    return [json.loads((out / f"{name}-rank{r}.json").read_text()) for r in range(2)]


def test_item11_ranks_with_other_data_are_refused_on_every_rank(tmp_path):
    proc = torchrun([os.path.join(HERE, "ddp_data_worker.py"), "check", str(tmp_path)],
                    tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = _read(tmp_path, "check")
    assert r0["world"] == r1["world"] == 2
    assert r0["same"] is None and r1["same"] is None
    for name in ("texts", "labels", "names", "n_labels", "length", "weights"):
        for r in (r0, r1):  # one clear error on every rank, not a hang or an abort
            assert r[name] is not None, name
            assert "different training data" in r[name] and "same X, Y" in r[name], name
    assert "number of texts differs: rank 0 has 24, rank 1 has 23" in r1["length"]
    assert "number of labels differs: rank 0 has 4, rank 1 has 5" in r0["n_labels"]
    assert "label names differ between rank 0 and rank 1 (rank 1 has ['a', 'b', 'c', 'x'])" \
        in r1["names"]
    assert "texts, labels or weights differ" in r0["texts"]
    assert "texts, labels or weights differ" in r0["weights"]


def test_check_same_data_without_a_group_does_nothing():
    dist.check_same_data(dist.SINGLE, 3, ["a"], b"x")
    X, Y = make_corpus(6, seed=0)
    assert dist.data_digest(X, Y, None) == dist.data_digest(list(X), Y.copy(), None)
    assert len(dist.data_digest(X, Y)) == 32
    changed = [dist.data_digest(X[:-1] + ["pizza"], Y), dist.data_digest(X, 1 - Y),
               dist.data_digest(X, Y, np.ones(6)), dist.data_digest(X, Y.astype(np.float32)),
               dist.data_digest(["ab", "c"]), dist.data_digest(X, None, Y)]
    assert dist.data_digest(["a", "bc"]) != dist.data_digest(["ab", "c"])
    assert len({dist.data_digest(X, Y), *changed}) == len(changed) + 1
    datasets = pytest.importorskip("datasets")
    one, two = (datasets.Dataset.from_dict({"text": X}) for _ in range(2))
    two._fingerprint = "random"  # as older datasets releases give an in-memory dataset
    assert dist.data_digest(one, Y) == dist.data_digest(two, Y)
    assert dist.data_digest(one, Y) != dist.data_digest(one.select([1, 0, 2, 3, 4, 5]), Y)
    assert dist.data_digest(one.select([]), Y) != dist.data_digest(one, Y)


@pytest.fixture(scope="module")
def ddp_fits(tiny_model, tiny_st_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_fits")
    proc = torchrun([os.path.join(HERE, "ddp_data_worker.py"), "fits", str(out), tiny_model,
                     tiny_st_model], out)
    return out, proc


def test_item11_fit_with_other_labels_on_one_rank_is_one_clear_error(ddp_fits):
    out, proc = ddp_fits
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for r in _read(out, "other-labels"):
        assert r["error"] is not None and "number of labels differs" in r["error"]


# ------------------------------- issue 20: item 22 (torchrun with the defaults' path)
@pytest.mark.parametrize("which", ["cls", "mean"])
def test_item22_defaults_path_two_ranks_equal_one_process(ddp_fits, which, tiny_model,
                                                          tiny_st_model):
    """No validation split, float threshold: the path a fit with the defaults takes."""
    from ddp_data_worker import defaults_params

    out, proc = ddp_fits
    model = tiny_model if which == "cls" else tiny_st_model
    assert (out / "defaults-rank0.json").exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (r[model] for r in _read(out, "defaults"))
    np.testing.assert_array_equal(r0["proba"], r1["proba"])
    torch.set_num_threads(1)
    X, Y = make_corpus(40, seed=0)
    one = TransformerMultiLabelClassifier(**defaults_params(model)).fit(X, Y)
    # the first epoch's loss is the starting model's on its first batches: equal first
    np.testing.assert_allclose(r0["train_loss"], [h["train_loss"] for h in one.history_],
                               rtol=1e-5)
    np.testing.assert_allclose(r0["proba"], one.predict_proba(X), atol=1e-5)
