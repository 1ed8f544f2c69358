"""The ``skbert`` command line: train -> predict -> evaluate round trips, the demo,
and one clean error line (exit code 2) for every mistake in paths, columns or labels.

Everything runs in-process through ``skbert.cli.main`` on the tiny random BERT of
conftest.py, except one subprocess check of ``python -m skbert``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import LABELS, make_corpus

from skbert import TransformerMultiLabelClassifier
from skbert.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same labelled corpus as JSONL (label lists) and CSV (0/1 columns), plus texts."""
    d = tmp_path_factory.mktemp("cli_data")
    texts, Y = make_corpus(40, seed=1)
    with open(d / "train.jsonl", "w") as fh:
        for t, y in zip(texts, Y):
            fh.write(json.dumps({"text": t, "labels": [n for n, v in zip(LABELS, y) if v]}) + "\n")
    with open(d / "train.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["body"] + LABELS)
        w.writerows([t] + list(y) for t, y in zip(texts, Y))
    (d / "new.txt").write_text("football match today\n\nthe pizza recipe\nvote senate code\n")
    (d / "new.csv").write_text("id,body\n1,football match today\n2,the pizza recipe\n")
    return d


@pytest.fixture(scope="module")
def trained(tiny_model, files, tmp_path_factory):
    """A model folder written by ``skbert train`` (threshold auto)."""
    out = tmp_path_factory.mktemp("cli_model") / "model"
    rc = main(["train", str(files / "train.jsonl"), "--out", str(out), "--model", tiny_model,
               "--max-epochs", "1", "--learning-rate", "3e-3", "--batch-size", "8",
               "--threshold", "auto", "--verbose", "0"])
    assert rc == 0
    return out


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------------------------- round trips
def test_train_saves_a_loadable_model(trained):
    assert (trained / "skbert.json").is_file()
    clf = TransformerMultiLabelClassifier.from_pretrained(trained)
    assert list(clf.classes_) == sorted(LABELS)  # label names, not 0..3
    assert clf.threshold == "auto" and clf.thresholds_.shape == (4,)


def test_train_from_csv_label_columns(capsys, tiny_model, files, tmp_path):
    rc, out, _ = run(capsys, "train", files / "train.csv", "--out", tmp_path / "m",
                     "--model", tiny_model, "--text-column", "body",
                     "--label-columns", ",".join(LABELS), "--max-epochs", "1",
                     "--threshold", "0.3", "--verbose", "0")
    assert rc == 0
    assert "Training on 40 texts with 4 labels" in out and "Saved the model to" in out
    clf = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert list(clf.classes_) == LABELS and clf.threshold == 0.3


def test_predict_jsonl_to_stdout(capsys, trained, files):
    rc, out, _ = run(capsys, "predict", trained, files / "new.txt")
    assert rc == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in records] == ["football match today", "the pizza recipe",
                                            "vote senate code"]  # blank line skipped
    clf = TransformerMultiLabelClassifier.from_pretrained(trained)
    proba = clf.predict_proba([r["text"] for r in records])
    for r, p, pred in zip(records, proba, clf.predict([r["text"] for r in records])):
        assert list(r["probabilities"]) == sorted(LABELS)
        assert np.allclose(list(r["probabilities"].values()), p, atol=1e-6)
        assert r["labels"] == [n for n, v in zip(clf.classes_, pred) if v]


def test_predict_csv_file_from_csv_input(capsys, trained, files, tmp_path):
    out_file = tmp_path / "pred.csv"
    rc, out, err = run(capsys, "predict", trained, files / "new.csv", "--text-column", "body",
                       "--output", out_file, "--threshold", "0")
    assert rc == 0 and out == ""
    assert "wrote 2 prediction(s)" in err
    with open(out_file, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["text", "labels"] + [f"proba_{n}" for n in sorted(LABELS)]
    assert rows[1]["text"] == "the pizza recipe"
    assert rows[0]["labels"].split("|") == sorted(LABELS)  # threshold 0: every label


def test_predict_parquet_and_threshold_one(capsys, trained, tmp_path):
    import pandas as pd

    pd.DataFrame({"text": ["goal team", "laptop robot"]}).to_parquet(tmp_path / "x.parquet")
    rc, out, _ = run(capsys, "predict", trained, tmp_path / "x.parquet", "--threshold", "1",
                     "--format", "csv")
    assert rc == 0
    rows = list(csv.DictReader(out.splitlines()))
    assert [r["text"] for r in rows] == ["goal team", "laptop robot"]
    assert all(r["labels"] == "" for r in rows)  # probabilities are < 1


def test_evaluate_prints_report_and_writes_json(capsys, trained, files, tmp_path):
    rc, out, _ = run(capsys, "evaluate", trained, files / "train.jsonl", "--json",
                     tmp_path / "m.json")
    assert rc == 0
    for name in LABELS + ["micro avg", "macro avg", "micro-F1", "macro-F1", "LRAP"]:
        assert name in out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n_texts"] == 40 and set(metrics["labels"]) == set(LABELS)
    assert 0 <= metrics["f1_micro"] <= 1 and 0 < metrics["lrap"] <= 1
    assert set(metrics["labels"]["food"]) == {"precision", "recall", "f1", "support"}


def test_evaluate_finds_label_columns_by_name(capsys, trained, files, tmp_path):
    """A CSV with one 0/1 column per label needs no --label-columns: the model's names match."""
    run(capsys, "evaluate", trained, files / "train.jsonl", "--json", tmp_path / "a.json")
    rc, out, _ = run(capsys, "evaluate", trained, files / "train.csv", "--text-column", "body",
                     "--json", tmp_path / "b.json")
    assert rc == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["labels"] == b["labels"] and a["lrap"] == pytest.approx(b["lrap"])


def test_demo_quick(capsys, tiny_model, tmp_path):
    rc, out, err = run(capsys, "demo", "--quick", "--n-train", "60", "--model", tiny_model,
                       "--out", tmp_path / "demo")
    assert rc == 0, err
    assert "60 training and 200 test texts, 28 labels" in out
    assert "TF-IDF + logistic regression" in out and "micro-F1" in out and "macro-F1" in out
    assert "admiration" in out and "neutral" in out  # the per-label report
    assert "Saved the fine-tuned model to" in out
    clf = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "demo")
    assert len(clf.classes_) == 28 and clf.classes_[0] == "admiration"
    assert "Traceback" not in err


def test_version_and_help(capsys):
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and out.startswith("skbert ")
    rc, out, _ = run(capsys, "demo", "--help")
    assert rc == 0 and "--quick" in out


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "skbert", "predict", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage: skbert predict" in proc.stdout


# ------------------------------------------------------------------- error paths
def _cases(files, trained, tiny_model, tmp):
    missing = tmp / "missing.jsonl"
    (tmp / "bad.jsonl").write_text('{"text": "fine"}\n{not json\n')
    (tmp / "other.jsonl").write_text('{"text": "a goal", "labels": ["weather"]}\n')
    (tmp / "nums.jsonl").write_text('{"text": 3}\n')
    return {
        "train: no such data file": (["train", missing, "--out", tmp / "o"], "No such file"),
        "train: unknown extension": (["train", files / "new.txt", "--out", tmp / "o"],
                                     "Unsupported file extension"),
        "train: text column": (["train", files / "train.jsonl", "--out", tmp / "o",
                                "--text-column", "body"], "Text column 'body' not found"),
        "train: label column": (["train", files / "train.jsonl", "--out", tmp / "o",
                                 "--label-column", "tags"], "Label column 'tags' not found"),
        "train: label columns": (["train", files / "train.csv", "--out", tmp / "o",
                                  "--text-column", "body", "--label-columns", "food,wine"],
                                 "['wine'] not found"),
        "train: model folder": (["train", files / "train.jsonl", "--out", tmp / "o",
                                 "--model", tmp / "no-model"], "does not exist"),
        "train: out is a file": (["train", files / "train.jsonl", "--out", files / "new.txt",
                                  "--model", tiny_model], "is an existing file"),
        "predict: no model folder": (["predict", tmp / "nope", files / "new.txt"],
                                     "skbert train DATA --out"),
        "predict: not an skbert model": (["predict", tiny_model, files / "new.txt"],
                                         "holds no skbert.json"),
        "predict: no input": (["predict", trained, missing], "No such file"),
        "predict: output extension": (["predict", trained, files / "new.txt", "--output",
                                       tmp / "p.xlsx"], "FILE.jsonl or FILE.csv"),
        "predict: text column": (["predict", trained, files / "new.csv"],
                                 "set --text-column to one of"),
        "predict: bad json": (["predict", trained, tmp / "bad.jsonl"], "Line 2"),
        "predict: text not a string": (["predict", trained, tmp / "nums.jsonl"],
                                       "must be a string"),
        "evaluate: unknown labels": (["evaluate", trained, tmp / "other.jsonl"],
                                     "not trained on: ['weather']"),
        "evaluate: no data": (["evaluate", trained, missing], "No such file"),
    }


CASES = ["train: no such data file", "train: unknown extension", "train: text column",
         "train: label column", "train: label columns", "train: model folder",
         "train: out is a file", "predict: no model folder", "predict: not an skbert model",
         "predict: no input", "predict: output extension", "predict: text column",
         "predict: bad json", "predict: text not a string", "evaluate: unknown labels",
         "evaluate: no data"]


@pytest.mark.parametrize("case", CASES)
def test_errors_are_one_clean_line(case, capsys, files, trained, tiny_model, tmp_path):
    argv, expected = _cases(files, trained, tiny_model, tmp_path)[case]
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("skbert: error: ") and expected in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing trained or written


def test_usage_errors_return_2(capsys, trained, files):
    rc, _, err = run(capsys, "predict", trained, files / "new.txt", "--threshold", "2")
    assert rc == 2 and "outside [0, 1]" in err
    rc, _, err = run(capsys, "fly")
    assert rc == 2 and "invalid choice" in err


def test_debug_shows_the_exception(files, tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["predict", str(tmp_path / "nope"), str(files / "new.txt"), "--debug"])
    with pytest.raises(FileNotFoundError):
        main(["--debug", "predict", str(tmp_path / "nope"), str(files / "new.txt")])


def test_warnings_are_one_line(capsys, tiny_model, tmp_path):
    """Library warnings (here: a label without positives) print as one 'skbert: warning:' line."""
    data = tmp_path / "d.csv"
    data.write_text("text,a,b\ngoal team,1,0\nvote senate,1,0\npizza cheese,1,0\n")
    rc, _, err = run(capsys, "train", data, "--out", tmp_path / "m", "--model", tiny_model,
                     "--label-columns", "a,b", "--max-epochs", "1", "--verbose", "0")
    assert rc == 0
    assert any(line.startswith("skbert: warning: ") and "(b)" in line
               for line in err.splitlines())
    assert os.path.isfile(tmp_path / "m" / "skbert.json")
