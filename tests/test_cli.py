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
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import LABELS, make_corpus

from skbert import TransformerMultiLabelClassifier
from skbert._safe_io import file_mode, folder_mode
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


def test_train_names_the_out_folder_in_the_model_card(trained):
    """The card is written while the model is built in a staging folder; it names --out."""
    card = (trained / "README.md").read_text(encoding="utf-8")
    assert "\n# model\n" in card and "skbert-tmp" not in card


def test_train_from_csv_label_columns(capsys, tiny_model, files, tmp_path):
    rc, out, _ = run(capsys, "train", files / "train.csv", "--out", tmp_path / "m",
                     "--model", tiny_model, "--text-column", "body",
                     "--label-columns", ",".join(LABELS), "--max-epochs", "1",
                     "--threshold", "0.3", "--verbose", "0")
    assert rc == 0
    assert "Training on 40 texts with 4 labels" in out and "Saved the model to" in out
    clf = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert list(clf.classes_) == LABELS and clf.threshold == 0.3


def test_threshold_auto_on_a_model_trained_without_it_speaks_of_commands(capsys, tiny_model,
                                                                           files, tmp_path):
    rc, _, _ = run(capsys, "train", files / "train.jsonl", "--out", tmp_path / "m",
                   "--model", tiny_model, "--max-epochs", "1", "--threshold", "0.3",
                   "--verbose", "0")
    assert rc == 0
    for argv in (("predict", tmp_path / "m", files / "new.txt"),
                 ("evaluate", tmp_path / "m", files / "train.jsonl"),
                 ("explain", tmp_path / "m", files / "new.txt")):
        rc, out, err = run(capsys, *argv, "--threshold", "auto")
        assert rc == 2 and out == ""
        assert "trained without them" in err and "--threshold 0.5" in err
        assert "skbert train DATA --threshold auto" in err
        assert "tune_thresholds" not in err and "threshold=" not in err  # no Python advice


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
                     "--min-labels", "0", "--format", "csv")
    assert rc == 0
    rows = list(csv.DictReader(out.splitlines()))
    assert [r["text"] for r in rows] == ["goal team", "laptop robot"]
    assert all(r["labels"] == "" for r in rows)  # probabilities are < 1
    # the default min_labels="auto" (every training text had a label): one label each
    rc, out, _ = run(capsys, "predict", trained, tmp_path / "x.parquet", "--threshold", "1",
                     "--format", "csv")
    rows = list(csv.DictReader(out.splitlines()))
    assert rc == 0 and all(len(r["labels"].split(";")) == 1 and r["labels"] for r in rows)
    rc, out, _ = run(capsys, "predict", trained, tmp_path / "x.parquet", "--threshold", "1",
                     "--min-labels", "auto", "--format", "csv")
    assert rc == 0 and [r["labels"] for r in csv.DictReader(out.splitlines())] == \
        [r["labels"] for r in rows]


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


def test_evaluate_output_dash_writes_the_json_to_stdout(capsys, trained, files, tmp_path):
    rc, out, err = run(capsys, "evaluate", trained, files / "train.jsonl", "--output", "-")
    assert rc == 0
    metrics = json.loads(out)  # stdout holds the JSON alone; the report went to stderr
    assert metrics["n_texts"] == 40 and set(metrics["labels"]) == set(LABELS)
    assert "micro-F1" in err and "macro avg" in err


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


_TWICE = """
import atexit, os, signal, sys, time
import skbert.cli as cli

def interrupted(args, stack):
    if {reported!r}:  # training stopped by the first Ctrl-C and reported: exit code 130
        return cli._report_interrupted(object(), "m")
    raise KeyboardInterrupt  # the first Ctrl-C

cli.cmd_predict = interrupted

def second_ctrl_c():  # the second Ctrl-C, while Python runs its exit handlers (torch's)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)
    print("exit handlers finished", file=sys.stderr)

atexit.register(second_ctrl_c)
sys.argv = ["skbert", "predict", "m", "t.txt"]
sys.exit(cli.main())
"""


@pytest.mark.parametrize("reported", [False, True])
def test_trial_item5_a_second_ctrl_c_while_exiting_prints_no_traceback(reported):
    """Ctrl-C twice in `skbert train` used to print an atexit KeyboardInterrupt traceback
    (torch/library.py): once interrupted, the program ignores SIGINT while it exits."""
    proc = subprocess.run([sys.executable, "-c", _TWICE.format(reported=reported)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert "skbert: interrupted" in proc.stderr
    assert "Traceback" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr
    assert "exit handlers finished" in proc.stderr


def test_trial_item5_main_with_argv_leaves_the_sigint_handler_alone(capsys, monkeypatch):
    """Called as a function (tests, notebooks), main never changes the caller's SIGINT."""
    import signal

    import skbert.cli as cli

    def interrupted(args, stack):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_predict", interrupted)
    before = signal.getsignal(signal.SIGINT)
    assert main(["predict", "m", "t.txt"]) == 130
    assert signal.getsignal(signal.SIGINT) is before


# ------------------------------------------------------------------- error paths
def _cases(files, trained, tiny_model, tmp):
    missing = tmp / "missing.jsonl"
    (tmp / "bad.jsonl").write_text('{"text": "fine"}\n{not json\n')
    (tmp / "bad_train.jsonl").write_text('{"text": "a goal", "labels": ["sports"]}\n'
                                         '{"text": "a vote", "labels": ["politics"]\n')
    (tmp / "shifted.csv").write_text("text,labels\ngoal team, match,sports\nvote,politics\n")
    (tmp / "empty-model").mkdir()
    (tmp / "config-only").mkdir()
    (tmp / "config-only" / "config.json").write_text('{"model_type": "bert"}')
    (tmp / "a-file").write_text("not a folder")
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
        "train: csv row shifted": (["train", tmp / "shifted.csv", "--out", tmp / "o",
                                    "--model", tiny_model],
                                   "Line 2 of 'shifted.csv' has 3 field(s) but the header has 2; "
                                   "put double quotes around any field"),
        "train: bad jsonl line": (["train", tmp / "bad_train.jsonl", "--out", tmp / "o",
                                   "--model", tiny_model],
                                  "Line 2 of 'bad_train.jsonl' is not valid JSON"),
        "train: empty model folder": (["train", files / "train.jsonl", "--out", tmp / "o",
                                       "--model", tmp / "empty-model"],
                                      "empty-model' (--model) holds no config.json, so it is "
                                      "not a Hugging Face checkpoint"),
        "train: model without tokenizer": (["train", files / "train.jsonl", "--out", tmp / "o",
                                            "--model", tmp / "config-only"],
                                           "config-only' holds no tokenizer files"),
        "train: model is a file": (["train", files / "train.jsonl", "--out", tmp / "o",
                                    "--model", tmp / "a-file"], "is a file, not a checkpoint "
                                                                "folder"),
        "train: model path, not a hub name": (["train", files / "train.jsonl", "--out",
                                               tmp / "o", "--model", "my models/bert v2"],
                                              "'my models/bert v2' (--model) does not exist. "
                                              "Check the path"),
        "train: out under a file": (["train", files / "train.jsonl", "--out",
                                     tmp / "a-file" / "model", "--model", tiny_model],
                                    "a-file' is a file, not a folder"),
        "train: out in /proc": (["train", files / "train.jsonl", "--out", "/proc/skbert-model",
                                 "--model", tiny_model], "cannot be written: creating a folder"),
        "train: pos weight count": (["train", files / "train.jsonl", "--out", tmp / "o",
                                     "--model", tiny_model, "--pos-weight", "1,2,3"],
                                    "--pos-weight gives 3 weight(s) but"),
        "demo: out is the model": (["demo", "--quick", "--model", tiny_model, "--out",
                                    tiny_model, "--overwrite"], "is the --model folder"),
        "predict: no model folder": (["predict", tmp / "nope", files / "new.txt"],
                                     "skbert train DATA --out"),
        "predict: not an skbert model": (["predict", tiny_model, files / "new.txt"],
                                         "holds no skbert.json"),
        "predict: no input": (["predict", trained, missing], "No such file"),
        "predict: output extension": (["predict", trained, files / "new.txt", "--output",
                                       tmp / "p.xlsx"], "FILE.jsonl or FILE.csv"),
        "predict: output under a file": (["predict", trained, files / "new.txt", "--output",
                                          tmp / "a-file" / "p.jsonl"], "is a file, not a folder"),
        "predict: output is a folder": (["predict", trained, files / "new.txt", "--output",
                                         tmp, "--format", "csv"], "is a folder; give a file path"),
        "predict: output is the input": (["predict", trained, files / "new.csv", "--text-column",
                                          "body", "--output", files / "new.csv"],
                                         "is the input file"),
        "evaluate: json in /proc": (["evaluate", trained, files / "train.jsonl", "--output",
                                     "/proc/skbert-metrics.json"], "cannot be written"),
        "evaluate: json is a model file": (["evaluate", trained, files / "train.jsonl",
                                            "--output", trained / "skbert.json"],
                                           "is a file of the model folder"),
        "predict: csv row shifted": (["predict", trained, tmp / "shifted.csv"],
                                     "Line 2 of 'shifted.csv' has 3 field(s)"),
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
         "train: out is a file", "train: csv row shifted", "train: bad jsonl line",
         "train: empty model folder", "train: model without tokenizer",
         "train: model is a file", "train: model path, not a hub name",
         "train: out under a file", "train: out in /proc",
         "train: pos weight count", "demo: out is the model",
         "predict: no model folder", "predict: not an skbert model",
         "predict: no input", "predict: output extension", "predict: output under a file",
         "predict: output is a folder", "predict: output is the input", "predict: text column",
         "predict: bad json", "predict: text not a string", "evaluate: unknown labels",
         "evaluate: no data", "evaluate: json in /proc", "evaluate: json is a model file",
         "predict: csv row shifted"]


@pytest.mark.parametrize("case", CASES)
def test_errors_are_one_clean_line(case, capsys, files, trained, tiny_model, tmp_path,
                                   train_calls, monkeypatch):
    if "/proc" in case and not os.path.isdir("/proc/self"):
        pytest.skip("no /proc on this system")
    before, model_before = _snapshot(files), _snapshot(trained)
    monkeypatch.setattr(TransformerMultiLabelClassifier, "predict_proba", _must_not_run)
    argv, expected = _cases(files, trained, tiny_model, tmp_path)[case]
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("skbert: error: ") and expected in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing trained or written
    assert train_calls == [] and _snapshot(files) == before
    assert _snapshot(trained) == model_before
    assert not _leftovers(tmp_path) and not _leftovers(files)


def _must_not_run(*args, **kwargs):
    raise AssertionError("predicted although an error was due first")


def _snapshot(folder) -> dict:
    """Every file under ``folder`` with its bytes (to assert that nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(folder) -> list[str]:
    """Temporary files or folders of an atomic save left next to the outputs."""
    return [p.name for p in folder.iterdir() if ".skbert-" in p.name]


def test_usage_errors_return_2(capsys, trained, files):
    rc, _, err = run(capsys, "predict", trained, files / "new.txt", "--threshold", "2")
    assert rc == 2 and "invalid threshold '2' for --threshold; use" in err and "[0.0, 1.0]" in err
    assert len(err.strip().splitlines()) == 1  # usage errors are one line too
    rc, _, err = run(capsys, "fly")
    assert rc == 2 and "invalid choice" in err
    for bad, said in (("1,x", "item 2 of the list, 'x', is not a number greater than 0"),
                      ("x", "use"), ("", "use")):
        rc, _, err = run(capsys, "train", "d.jsonl", "--out", "o", "--pos-weight", bad)
        assert rc == 2 and f"invalid pos weight {bad!r} for --pos-weight; {said}" in err


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


# ------------------------------------------------------- output folders and saving
def _train_argv(files, tiny_model, out, *extra):
    return ["train", files / "train.jsonl", "--out", out, "--model", tiny_model,
            "--max-epochs", "1", "--threshold", "0.5", "--verbose", "0", *extra]


def _user_folder(path):
    """A folder holding the user's own files, as --out might name by mistake."""
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"mine": true}')
    (path / "notes.txt").write_text("keep me")
    return _snapshot(path)


def _skbert_folder(path, files, tiny_model, capsys):
    """A model folder skbert wrote (what --overwrite may replace), plus a marker file.

    Its seed differs from the tests' fits, so they are not fit-cache hits of it.
    """
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, path, "--random-state", "7"))
    assert rc == 0, err
    # a stale weight shard: a name skbert writes, so --overwrite may replace the folder
    (path / "model-00002-of-00002.safetensors").write_text("from the earlier model")
    return path


def test_train_out_dash_is_refused_before_training(capsys, files, tiny_model, train_calls,
                                                  monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, "-"))
    assert rc == 2 and train_calls == [] and "--out - would save the model" in err
    assert not (tmp_path / "-").exists()


def test_train_refuses_a_non_empty_out_without_overwrite(capsys, files, tiny_model, tmp_path,
                                                         train_calls):
    out = tmp_path / "out"
    before = _user_folder(out)
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, out))
    assert rc == 2 and train_calls == []  # refused before training
    # not a folder skbert wrote: --overwrite would not help, so it is not suggested (trial 23)
    assert "holds files skbert did not write" in err and "pass --overwrite" not in err
    assert _snapshot(out) == before

    # --overwrite replaces only a folder skbert wrote (issue 20 item 4): not this one
    rc, stdout, err = run(capsys, *_train_argv(files, tiny_model, out, "--overwrite"))
    assert rc == 2 and train_calls == [] and "holds files skbert did not write" in err
    assert _snapshot(out) == before

    mine = _skbert_folder(tmp_path / "mine", files, tiny_model, capsys)
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, mine))
    assert rc == 2 and "already holds" in err and "pass --overwrite" in err
    rc, stdout, err = run(capsys, *_train_argv(files, tiny_model, mine, "--overwrite"))
    assert rc == 0, err
    assert f"Saved the model to {mine}" in stdout
    assert TransformerMultiLabelClassifier.from_pretrained(mine).n_epochs_ == 1
    assert not _leftovers(tmp_path)


def test_train_into_an_empty_or_new_folder_needs_no_overwrite(capsys, files, tiny_model,
                                                               tmp_path):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new" / "deeper" / "model"):
        rc, _, err = run(capsys, *_train_argv(files, tiny_model, out))
        assert rc == 0, err
        assert (out / "skbert.json").is_file()
        mode = os.stat(out).st_mode & 0o777
        assert mode == folder_mode()  # not the 0o700 of a temporary folder
    assert not _leftovers(tmp_path) and not _leftovers(tmp_path / "new" / "deeper")


@pytest.mark.parametrize("where", ["same", "inside", "contains", "via a link"])
def test_out_never_overlaps_the_model_folder(where, capsys, files, tmp_path, train_calls):
    from conftest import build_tiny_bert

    model = tmp_path / "base" / "bert"
    model.mkdir(parents=True)
    build_tiny_bert(model)
    before = _snapshot(tmp_path / "base")
    out = {"same": model, "inside": model / "finetuned", "contains": tmp_path / "base",
           "via a link": tmp_path / "link"}[where]
    if where == "via a link":
        os.symlink(model, out)
    rc, _, err = run(capsys, *_train_argv(files, str(model), out, "--overwrite"))
    assert rc == 2 and train_calls == []
    relation = {"same": "is", "inside": "is inside", "contains": "contains",
                "via a link": "is"}[where]
    assert f"{relation} the --model folder '{model}'" in err
    assert "--overwrite does not allow this" in err
    assert _snapshot(tmp_path / "base") == before


def test_out_in_a_read_only_folder_fails_before_training(capsys, files, tiny_model, tmp_path,
                                                         train_calls, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: make the folder refuse as a read-only mount would
        real_mkdtemp = tempfile.mkdtemp

        def read_only(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == locked:
                raise OSError(30, "Read-only file system")
            return real_mkdtemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    try:
        rc, _, err = run(capsys, *_train_argv(files, tiny_model, locked / "model"))
    finally:
        locked.chmod(0o755)
    assert rc == 2 and train_calls == []
    assert f"--out '{locked / 'model'}' cannot be written: creating a folder in '{locked}' " \
           "failed" in err
    assert list(locked.iterdir()) == []


def test_a_failed_save_leaves_out_as_it_was(capsys, files, tiny_model, tmp_path, monkeypatch):
    out = _skbert_folder(tmp_path / "out", files, tiny_model, capsys)
    before = _snapshot(out)

    def failing_save(self, folder):
        (Path(folder) / "config.json").write_text("half written")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TransformerMultiLabelClassifier, "save_pretrained", failing_save)
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, out, "--overwrite"))
    assert rc == 2 and "No space left on device" in err
    assert _snapshot(out) == before
    assert not _leftovers(tmp_path)  # the temporary folder is removed


def test_overwrite_replaces_the_old_folder_only_once_the_new_one_is_complete(
        capsys, files, tiny_model, tmp_path, monkeypatch):
    out = _skbert_folder(tmp_path / "out", files, tiny_model, capsys)
    before = _snapshot(out)
    real_save = TransformerMultiLabelClassifier.save_pretrained
    seen = []

    def watched_save(self, folder):
        assert Path(folder).parent == tmp_path and Path(folder) != out  # a sibling
        seen.append(_snapshot(out))  # the old folder is intact while the new one is written
        real_save(self, folder)

    monkeypatch.setattr(TransformerMultiLabelClassifier, "save_pretrained", watched_save)
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, out, "--overwrite"))
    assert rc == 0, err
    assert seen == [before]
    assert (out / "skbert.json").is_file()
    assert not (out / "model-00002-of-00002.safetensors").exists()
    assert not _leftovers(tmp_path)


def test_out_filled_while_training_is_not_replaced(capsys, files, tiny_model, tmp_path,
                                                  monkeypatch):
    """Without --overwrite, files that appear in --out during training survive the save."""
    out = tmp_path / "out"
    real_save = TransformerMultiLabelClassifier.save_pretrained

    def racing_save(self, folder):
        out.mkdir()
        (out / "theirs.txt").write_text("written meanwhile")
        real_save(self, folder)

    monkeypatch.setattr(TransformerMultiLabelClassifier, "save_pretrained", racing_save)
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, out))
    assert rc == 2 and "was filled by something else while training" in err
    assert _snapshot(out) == {"theirs.txt": b"written meanwhile"}
    kept = [tmp_path / name for name in _leftovers(tmp_path)]
    assert len(kept) == 1 and str(kept[0]) in err  # the model is kept, and the error says where
    assert TransformerMultiLabelClassifier.from_pretrained(kept[0]).n_epochs_ == 1


def test_out_through_a_link_is_refused(capsys, files, tiny_model, tmp_path, train_calls):
    """A link at --out is refused before training (it used to replace the linked folder)."""
    real = _skbert_folder(tmp_path / "real", files, tiny_model, capsys)
    before = _snapshot(real)
    os.symlink(real, tmp_path / "link")
    train_calls.clear()
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, tmp_path / "link", "--overwrite"))
    assert rc == 2 and train_calls == [] and "is a link; skbert does not write through" in err
    assert (tmp_path / "link").is_symlink() and _snapshot(real) == before
    assert not _leftovers(tmp_path)


@pytest.mark.parametrize("command", ["train", "demo"])
def test_ctrl_c_saves_nothing_and_exits_130(command, capsys, files, tiny_model, tmp_path,
                                            interrupt_at_epoch):
    out = _skbert_folder(tmp_path / "out", files, tiny_model, capsys)
    before = _snapshot(out)
    interrupt_at_epoch(1)
    argv = (_train_argv(files, tiny_model, out, "--overwrite") if command == "train" else
            ["demo", "--quick", "--n-train", "30", "--model", tiny_model, "--out", out,
             "--overwrite"])
    rc, stdout, err = run(capsys, *argv)
    assert rc == 130
    assert err.strip().splitlines()[-1] == (
        f"skbert: interrupted after 0 complete epoch(s); nothing was saved ('{out}' is as it "
        "was).")
    assert "can predict" not in err and "Saved" not in stdout  # no misleading warning
    assert _snapshot(out) == before and not _leftovers(tmp_path)


def test_demo_refuses_its_own_earlier_output_without_overwrite(capsys, trained, tmp_path,
                                                               train_calls):
    import shutil

    out = tmp_path / "skbert-demo-model"
    shutil.copytree(trained, out)
    before = _snapshot(out)
    rc, _, err = run(capsys, "demo", "--quick", "--out", out)
    assert rc == 2 and train_calls == []
    assert "pass --overwrite to replace that folder" in err
    assert _snapshot(out) == before


def test_predict_output_replaces_an_existing_file_atomically(capsys, trained, files, tmp_path,
                                                            monkeypatch):
    from skbert import cli

    out_file = tmp_path / "pred.jsonl"
    out_file.write_text("old predictions\n")
    out_file.chmod(0o600)

    def broken(out, *args, **kwargs):
        out.write("partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "write_predictions", broken)
    rc, _, err = run(capsys, "predict", trained, files / "new.txt", "--output", out_file,
                     "--overwrite")
    assert rc == 2 and "No space left" in err
    assert out_file.read_text() == "old predictions\n" and not _leftovers(tmp_path)
    monkeypatch.undo()
    rc, _, _ = run(capsys, "predict", trained, files / "new.txt", "--output", out_file,
                   "--overwrite")
    assert rc == 0 and len(out_file.read_text().splitlines()) == 3
    assert os.stat(out_file).st_mode & 0o777 == file_mode()  # the one mode policy
    assert not _leftovers(tmp_path)


# --------------------------------------------------------------------- model checks
def test_hub_name_without_internet_fails_fast(capsys, files, tmp_path, monkeypatch,
                                              train_calls):
    from skbert import _sources

    monkeypatch.setattr(_sources, "in_hub_cache", lambda name: False)
    monkeypatch.setattr(_sources, "hub_reachable", lambda *a, **k: False)
    rc, _, err = run(capsys, "train", files / "train.jsonl", "--out", tmp_path / "o",
                     "--model", "someone/no-such-model")
    assert rc == 2 and train_calls == []
    assert err.strip() == (
        "skbert: error: --model 'someone/no-such-model' is not a local folder and not in the "
        "Hugging Face cache, and the hub cannot be reached to download it; pass a local "
        "checkpoint folder, or connect to the internet (a hub name needs it the first time).")
    assert not (tmp_path / "o").exists()


def test_hub_reachable_honours_offline_mode(monkeypatch):
    from huggingface_hub import constants

    from skbert import _sources

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert _sources.hub_reachable() is False
    assert _sources.looks_like_hub_name("bert-base-uncased")
    assert _sources.looks_like_hub_name("org/name-v2.1")
    for local in ("./model", "/abs/model", "~/model", "a/b/c", "my model", "a..b"):
        assert not _sources.looks_like_hub_name(local), local


# -------------------------------------------------------------------------- new flags
def test_train_flags_reach_the_estimator(capsys, files, tiny_model, tmp_path):
    rc, _, err = run(capsys, *_train_argv(
        files, tiny_model, tmp_path / "m", "--pos-weight", "1,2,3.5,4", "--weight-decay", "0.05",
        "--warmup-ratio", "0.2", "--precision", "fp32", "--pooling", "mean",
        "--head-learning-rate", "0.01"))
    assert rc == 0, err
    clf = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    params = clf.get_params()
    assert params["pos_weight"] == [1.0, 2.0, 3.5, 4.0]
    assert (params["weight_decay"], params["warmup_ratio"]) == (0.05, 0.2)
    assert (params["precision"], params["pooling"], params["head_learning_rate"]) == \
        ("fp32", "mean", 0.01)
    assert clf.pooling_ == "mean"

    rc, _, err = run(capsys, *_train_argv(files, tiny_model, tmp_path / "b",
                                          "--pos-weight", "balanced", "--precision", "fp32"))
    assert rc == 0, err
    assert TransformerMultiLabelClassifier.from_pretrained(tmp_path / "b").pos_weight == \
        "balanced"


def test_train_flag_out_of_range_is_one_line(capsys, files, tiny_model, tmp_path):
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, tmp_path / "o",
                                          "--warmup-ratio", "2"))
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "invalid warmup ratio '2' for --warmup-ratio; use" in err and "warmup_ratio" not in err
    assert not (tmp_path / "o").exists()


def test_predict_verbose_shows_a_bar_and_chunks_give_the_same_numbers(capsys, trained, files,
                                                                      monkeypatch):
    from skbert import cli

    rc, plain, err = run(capsys, "predict", trained, files / "new.txt")
    assert rc == 0 and "predicting" not in err  # no bar by default
    calls = []
    real = TransformerMultiLabelClassifier.predict_proba

    def counting(self, X):
        calls.append(len(X))
        return real(self, X)

    monkeypatch.setattr(TransformerMultiLabelClassifier, "predict_proba", counting)
    monkeypatch.setattr(cli, "PREDICT_CHUNK", 2)
    rc, chunked, err = run(capsys, "predict", trained, files / "new.txt", "--verbose")
    assert rc == 0 and calls == [2, 1]
    assert "predicting" in err and "3/3" in err
    for a, b in zip(plain.splitlines(), chunked.splitlines()):
        a, b = json.loads(a), json.loads(b)
        assert a["text"] == b["text"] and a["labels"] == b["labels"]
        assert np.allclose(list(a["probabilities"].values()),
                           list(b["probabilities"].values()), atol=1e-6)


def test_ctrl_c_outside_the_training_loop_exits_130(capsys, files, tiny_model, tmp_path,
                                                    monkeypatch):
    """Ctrl-C while reading the data (before fit catches it) also saves nothing."""
    from skbert import _cli_io

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli_io, "load_labelled", interrupted)
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, tmp_path / "out"))
    assert rc == 130 and err.strip() == "skbert: interrupted; nothing was saved"
    assert not (tmp_path / "out").exists() and not _leftovers(tmp_path)


@pytest.fixture
def fit_params(monkeypatch):
    """The parameters of the estimator the CLI fits, filled in when ``fit`` is called."""
    seen = {}
    real = TransformerMultiLabelClassifier.fit

    def spy(self, *args, **kwargs):
        seen.update(self.get_params())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TransformerMultiLabelClassifier, "fit", spy)
    return seen


def test_train_training_control_flags_reach_the_estimator(capsys, files, tiny_model, tmp_path,
                                                          fit_params):
    seen = fit_params
    rc, _, err = run(capsys, *_train_argv(
        files, tiny_model, tmp_path / "m", "--micro-batch-size", "2", "--gradient-checkpointing",
        "--checkpoint-dir", str(tmp_path / "ckpt"), "--scoring", "f1_macro", "--precision",
        "fp32"))
    assert rc == 0, err
    assert seen["micro_batch_size"] == 2 and seen["gradient_checkpointing"] is True
    assert seen["checkpoint_dir"] == str(tmp_path / "ckpt") and seen["scoring"] == "f1_macro"
    assert (tmp_path / "ckpt").is_dir() and any((tmp_path / "ckpt").iterdir())
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, tmp_path / "x", "--scoring",
                                          "f2_micro"))
    assert rc == 2 and "f2_micro" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------- issue 21: one parameter table
def _subparsers():
    import argparse

    from skbert.cli import build_parser

    parser = build_parser()
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_train_has_a_flag_for_every_estimator_parameter():
    import inspect

    train = _subparsers()["train"]
    flags = {a.dest: a.option_strings for a in train._actions}
    params = list(inspect.signature(TransformerMultiLabelClassifier.__init__).parameters)[1:]
    python_only = {"callbacks", "peft_config", "model_kwargs", "tokenizer_kwargs", "fit_cache",
                   "warm_start"}
    missing = [p for p in params if p not in python_only and p not in flags]
    assert missing == []
    assert "--n-iter-no-change" in flags["n_iter_no_change"] and "--tol" in flags["tol"]
    help_text = train.format_help()
    for name in ("max_length", "long_text", "threshold_metric"):  # help speaks in flags too
        assert name not in help_text


def test_the_same_flag_is_the_same_option_in_every_command():
    subs = _subparsers()
    seen = {}
    for command, parser in subs.items():
        for action in parser._actions:
            for flag in action.option_strings:
                kind = (type(action).__name__, action.nargs, getattr(action.type, "__name__",
                                                                     action.type))
                seen.setdefault(flag, {})[command] = kind
    for flag in ("--verbose", "--compile", "--device", "--threshold"):
        kinds = {c: k for c, k in seen[flag].items() if c != "explain"}
        assert len(set(kinds.values())) == 1, (flag, kinds)
    assert set(seen["--verbose"]) >= {"train", "predict", "evaluate"}
    assert set(seen["--compile"]) >= {"train", "predict", "evaluate"}
    assert "--output" in seen and set(seen["--output"]) >= {"predict", "evaluate"}


def test_early_stopping_controls_reach_the_estimator(capsys, files, tiny_model, tmp_path,
                                                     fit_params):
    seen = fit_params
    rc, _, err = run(capsys, *_train_argv(files, tiny_model, tmp_path / "m", "--early-stopping",
                                          "--n-iter-no-change", "3", "--tol", "0.01",
                                          "--predict-batch-size", "7", "--no-compile"))
    assert rc == 0, err
    assert (seen["early_stopping"], seen["n_iter_no_change"], seen["tol"]) == (True, 3, 0.01)
    assert seen["predict_batch_size"] == 7 and seen["compile"] is False


def test_evaluate_json_is_a_deprecated_spelling_of_output(capsys, trained, files, tmp_path):
    rc, _, err = run(capsys, "evaluate", trained, files / "train.jsonl", "--json",
                     tmp_path / "m.json")
    assert rc == 0
    assert "skbert: warning: --json is deprecated; use --output" in err
    assert json.loads((tmp_path / "m.json").read_text())["n_texts"] == 40


def test_predict_verbose_takes_a_number_like_train(capsys, trained, files):
    rc, _, err = run(capsys, "predict", trained, files / "new.txt", "--verbose", "1")
    assert rc == 0 and "predicting" in err
    rc, _, err = run(capsys, "predict", trained, files / "new.txt", "--verbose", "0")
    assert rc == 0 and "predicting" not in err


def test_explain_outputs_are_checked_like_the_others(capsys, trained, files):
    before = _snapshot(trained)
    rc, _, err = run(capsys, "explain", trained, files / "new.txt", "--html",
                     trained / "page.html")
    assert rc == 2 and "inside the model folder" in err and len(err.strip().splitlines()) == 1
    assert _snapshot(trained) == before
