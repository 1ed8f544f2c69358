"""Findings of the fresh-eye trial: each test failed before its fix.

Runs in-process through ``skbert.cli.main`` on the tiny random BERT of conftest.py.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from conftest import make_corpus

from skbert import TransformerMultiLabelClassifier
from skbert.cli import main


@pytest.fixture(scope="module")
def int_model(tiny_model, tmp_path_factory):
    """A folder saved by ``save_pretrained`` from a fit on a 0/1 matrix: int classes 0..3."""
    texts, Y = make_corpus(16, seed=3)
    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=1, batch_size=8, verbose=0,
                                          device="cpu", precision="fp32", random_state=0)
    clf.fit(texts, Y)
    folder = tmp_path_factory.mktemp("trial") / "model"
    clf.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("trial_texts") / "in.txt"
    path.write_text("football match today\nthe pizza recipe\n")
    return path


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------- finding 1: label types in predict
def test_finding1_predict_jsonl_keeps_int_labels_as_ints_like_explain(capsys, int_model,
                                                                      texts_file):
    rc, out, _ = run(capsys, "predict", int_model, texts_file, "--threshold", "0")
    assert rc == 0
    records = [json.loads(line) for line in out.splitlines()]
    for r in records:
        assert r["labels"] == [0, 1, 2, 3]  # ints, not "0".."3"; threshold 0: every label
        assert all(type(n) is int for n in r["labels"])
        assert list(r["probabilities"]) == ["0", "1", "2", "3"]  # JSON keys are strings
    rc, out, _ = run(capsys, "explain", int_model, texts_file, "--threshold", "0",
                     "--method", "occlusion")
    assert rc == 0
    explained = [json.loads(line) for line in out.splitlines()]
    assert [[lab["label"] for lab in e["labels"] if lab["predicted"]] for e in explained] \
        == [r["labels"] for r in records]


def test_finding1_predict_csv_writes_int_labels_as_their_text(capsys, int_model, texts_file,
                                                              tmp_path):
    out_file = tmp_path / "pred.csv"
    rc, _, _ = run(capsys, "predict", int_model, texts_file, "--threshold", "0",
                   "--output", out_file)
    assert rc == 0
    rows = list(csv.reader(io.StringIO(out_file.read_text())))
    assert rows[0] == ["text", "labels", "proba_0", "proba_1", "proba_2", "proba_3"]
    assert [r[1] for r in rows[1:]] == ["0|1|2|3", "0|1|2|3"]


def test_finding1_write_predictions_converts_numpy_labels():
    from skbert._cli_io import write_predictions

    out = io.StringIO()
    write_predictions(out, ["t"], np.array([[1, 0, 1]]), np.array([[0.9, 0.1, 0.8]]),
                      [np.int64(7), np.int64(2), np.str_("x")], "jsonl")
    record = json.loads(out.getvalue())
    assert record["labels"] == [7, "x"] and type(record["labels"][0]) is int
    assert record["probabilities"] == {"7": 0.9, "2": 0.1, "x": 0.8}
