"""Trial 10, command line: outputs never replace a user's file unasked or land in a model
folder, suggestions that would be accepted, missing label columns named, a saved file's
keys not spoken as flags, and no Python names in the command line's messages.

Everything runs in-process through ``skbert.cli.main`` on the tiny random BERT of
conftest.py (models of 4 labels trained in about a second).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat

import pytest
from conftest import LABELS, make_corpus

from skbert import TransformerMultiLabelClassifier
from skbert.cli import main

#: The labels in the order of the tester's file (tech, food, sports, politics).
ORDER = ["tech", "food", "sports", "politics"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A labelled corpus as JSONL (label lists) and CSV (0/1 columns), a CSV without the
    ``tech`` column, and texts to predict."""
    d = tmp_path_factory.mktemp("trial10_data")
    texts, Y = make_corpus(40, seed=3)
    rows = [dict(zip(LABELS, y)) for y in Y]
    with open(d / "train.jsonl", "w") as fh:
        for t, row in zip(texts, rows):
            fh.write(json.dumps({"text": t, "labels": [n for n in ORDER if row[n]]}) + "\n")
    for name, labels in (("train.csv", ORDER), ("tr3.csv", ORDER[1:])):
        with open(d / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["text"] + labels)
            w.writerows([t] + [int(row[n]) for n in labels] for t, row in zip(texts, rows))
    (d / "texts.txt").write_text("football match today\nthe pizza recipe\n")
    return d


@pytest.fixture(scope="module")
def model(tiny_model, files, tmp_path_factory):
    """A model trained on 0/1 columns tech, food, sports, politics."""
    out = tmp_path_factory.mktemp("trial10_model") / "model"
    assert main(["train", str(files / "train.csv"), "--out", str(out), "--model", tiny_model,
                 "--label-columns", ",".join(ORDER), "--max-epochs", "1",
                 "--batch-size", "8", "--verbose", "0"]) == 0
    return out


@pytest.fixture
def other_model(model, tmp_path):
    """Another model folder (a copy of ``model``) that an output must not touch."""
    return shutil.copytree(model, tmp_path / "other")


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _must_not_run(*args, **kwargs):
    raise AssertionError("the output is checked before the model predicts")


# ------------------------------------------------- 1: an existing --output is kept
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_item1_an_existing_output_is_kept_without_overwrite(command, capsys, model, files,
                                                             tmp_path, monkeypatch):
    mine = tmp_path / ("notes.csv" if command == "predict" else "mine.json")
    mine.write_text("my own notes\n")
    data = files / ("texts.txt" if command == "predict" else "train.jsonl")
    monkeypatch.setattr(TransformerMultiLabelClassifier, "predict_proba", _must_not_run)
    rc, out, err = run(capsys, command, model, data, "--output", mine)
    assert rc == 2 and out == ""
    assert f"--output {str(mine)!r} already exists" in err and "--overwrite" in err, err
    assert "overwrite=" not in err and "Traceback" not in err
    assert mine.read_text() == "my own notes\n"
    monkeypatch.undo()
    rc, _, err = run(capsys, command, model, data, "--output", mine, "--overwrite")
    assert rc == 0, err
    assert mine.read_text() != "my own notes\n"
    if command == "evaluate":
        assert json.loads(mine.read_text())["n_texts"] == 40


def test_item1_a_second_run_into_the_same_file_needs_overwrite(capsys, model, files, tmp_path):
    target = tmp_path / "p.jsonl"
    assert run(capsys, "predict", model, files / "texts.txt", "--output", target)[0] == 0
    first = target.read_text()
    rc, _, err = run(capsys, "predict", model, files / "texts.txt", "--output", target)
    assert rc == 2 and "already exists" in err and target.read_text() == first
    rc, _, _ = run(capsys, "predict", model, files / "texts.txt", "--output", "-")
    assert rc == 0  # standard output is never 'an existing file'


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_item1_a_fifo_or_device_is_never_replaced_by_a_file(capsys, model, files, tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    rc, _, err = run(capsys, "predict", model, files / "texts.txt", "--output", fifo,
                     "--overwrite")
    assert rc == 2 and "not a regular file" in err and "--output -" in err, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("inside", ["config.json", "skbert.json", "onnx/p.jsonl", "new.jsonl"])
def test_item1_never_writes_inside_another_model_folder(command, inside, capsys, model,
                                                        other_model, files, monkeypatch):
    """`--output other_model/config.json --format jsonl` replaced a file of that model."""
    before = snapshot(other_model)
    data = files / ("texts.txt" if command == "predict" else "train.jsonl")
    target = other_model / inside
    monkeypatch.setattr(TransformerMultiLabelClassifier, "predict_proba", _must_not_run)
    extra = ("--format", "jsonl") if command == "predict" else ()
    rc, out, err = run(capsys, command, model, data, "--output", target, *extra, "--overwrite")
    assert rc == 2 and out == ""
    assert "inside the model folder" in err and "--overwrite does not allow this" in err, err
    assert snapshot(other_model) == before
    assert TransformerMultiLabelClassifier.from_pretrained(other_model).classes_ is not None


def test_item1_explain_never_writes_inside_another_model_folder(capsys, model, other_model,
                                                                files):
    before = snapshot(other_model)
    rc, _, err = run(capsys, "explain", model, files / "texts.txt", "--json",
                     other_model / "config.json", "--overwrite")
    assert rc == 2 and "inside the model folder" in err, err
    assert snapshot(other_model) == before


# --------------------------------------- 2: the suggested path is one that is accepted
@pytest.mark.parametrize("which", ["the model in use", "another model"])
def test_item2_a_model_folder_as_output_suggests_an_accepted_path(which, capsys, model,
                                                                  other_model, files,
                                                                  monkeypatch):
    monkeypatch.chdir(other_model.parent)
    folder = model if which == "the model in use" else other_model
    rc, _, err = run(capsys, "predict", model, files / "texts.txt", "--output", folder,
                     "--format", "jsonl")
    assert rc == 2 and "is a folder" in err, err
    suggested = re.search(r"such as '([^']+)'", err)[1]
    assert "predictions.jsonl" in suggested
    rc, _, err = run(capsys, "predict", model, files / "texts.txt", "--output", suggested)
    assert rc == 0, err  # the suggestion is not refused in turn
    assert len((other_model.parent / suggested).read_text().splitlines()) == 2


def test_item2_a_file_inside_another_model_suggests_an_accepted_path(capsys, model, other_model,
                                                                    files, monkeypatch):
    monkeypatch.chdir(other_model.parent)
    rc, _, err = run(capsys, "evaluate", model, files / "train.jsonl", "--output",
                     "other/onnx/m.json")
    assert rc == 2
    suggested = re.search(r"such as '([^']+)'", err)[1]
    rc, _, err = run(capsys, "evaluate", model, files / "train.jsonl", "--output", suggested)
    assert rc == 0, err


# ------------------------------------------------ 3: the model's labels without a column
def test_item3_evaluate_names_the_labels_that_have_no_column(capsys, model, files):
    rc, out, err = run(capsys, "evaluate", model, files / "tr3.csv")
    assert rc == 2 and out == ""
    assert "Label column 'labels' not found" not in err
    assert "label tech" in err and "'tech'" in err, err
    assert "--label-columns food,sports,politics" in err, err
    rc, _, err = run(capsys, "evaluate", model, files / "tr3.csv",
                     "--label-columns", "food,sports,politics")  # the fix it names works
    assert rc == 0, err


def test_item3_a_file_with_every_label_column_still_needs_no_flag(capsys, model, files):
    rc, out, err = run(capsys, "evaluate", model, files / "train.csv")
    assert rc == 0, err
    assert "micro-F1" in out


# --------------------------------------------- 4: a saved file's keys are not flags
def test_item4_a_damaged_skbert_json_in_out_is_quoted_whole_words_not_flags(
        capsys, tiny_model, files, tmp_path, train_calls):
    from skbert._persistence import check_settings

    out = tmp_path / "o2"
    out.mkdir()
    (out / "skbert.json").write_text("{}")
    rc, _, err = run(capsys, "train", files / "train.jsonl", "--out", out, "--model",
                     tiny_model, "--overwrite")
    assert rc == 2 and train_calls == []
    for flag in ("--pooling", "--classes", "--min-labels", "--threshold"):
        assert flag not in err, err
    with pytest.raises(Exception) as info:
        check_settings({}, str(out / "skbert.json"))
    whole = " ".join(str(info.value).split())
    reason = re.search(r"is not one skbert wrote \((.*)\)\. --overwrite replaces", err)[1]
    quoted = reason.removesuffix(" ...")
    assert whole.startswith(quoted), (quoted, whole)
    assert len(quoted) == len(whole) or whole[len(quoted)] in " .,;:)", quoted  # not mid-word
    assert "Save t)" not in err


def test_item4_a_long_complaint_is_cut_at_a_word():
    from skbert._cli_paths import _reason

    text = "k.json is damaged: " + " ".join(f"word{i}" for i in range(200)) + ". Save it."
    short = _reason(ValueError(text), limit=80)
    assert short.endswith(" ...") and len(short) <= 84
    assert text.startswith(short.removesuffix(" ...") + " ")
    assert "Save" not in _reason(ValueError("a is None (missing). Save the model again."))


# ---------------------------------------------------- 5: flags, never Python names
def test_item5_label_columns_named_twice(capsys, tiny_model, files, tmp_path):
    rc, _, err = run(capsys, "train", files / "train.csv", "--out", tmp_path / "m3",
                     "--model", tiny_model, "--label-columns", "tech,food,tech")
    assert rc == 2 and "--label-columns" in err and "'tech'" in err, err
    assert "label_columns" not in err


@pytest.mark.parametrize("command", ["predict", "evaluate", "explain"])
def test_item5_a_per_label_threshold_out_of_range_names_the_flag(command, capsys, model,
                                                                 files):
    data = files / ("train.jsonl" if command == "evaluate" else "texts.txt")
    rc, _, err = run(capsys, command, model, data, "--threshold", "0.3,0.4,0.5,1.5")
    assert rc == 2 and "--threshold" in err and "1.5" in err and "'politics'" in err, err
    assert not re.search(r"(?<!-)\bthreshold holds", err) and "index" not in err


@pytest.mark.parametrize("command", ["predict", "evaluate", "explain", "train"])
def test_item5_a_wrong_count_of_thresholds_speaks_of_the_labels(command, capsys, model, files,
                                                                tiny_model, tmp_path):
    data = files / {"evaluate": "train.jsonl", "train": "train.jsonl"}.get(command,
                                                                            "texts.txt")
    argv = (("train", data, "--out", tmp_path / "m", "--model", tiny_model, "--max-epochs",
             "1") if command == "train" else (command, model, data))
    rc, _, err = run(capsys, *argv, "--threshold", "0.3,0.4,0.5")
    assert rc == 2 and "--threshold 0.3,0.4,0.5 has 3 values" in err, err
    assert "classes_" not in err and "4 labels" in err


@pytest.mark.parametrize("command", ["predict", "train"])
def test_item5_a_negative_verbose_names_no_python_types(command, capsys, model, files,
                                                        tmp_path):
    argv = (("train", files / "train.jsonl", "--out", tmp_path / "m") if command == "train"
            else ("predict", model, files / "texts.txt"))
    rc, _, err = run(capsys, *argv, "--verbose", "-1")
    assert rc == 2 and "--verbose" in err, err
    assert "instance of" not in err and "bool" not in err and "inf)" not in err


def test_item5_explain_keeps_a_file_in_the_flags_words(capsys, model, files, tmp_path):
    mine = tmp_path / "x.json"
    mine.write_text("hi\n")
    rc, _, err = run(capsys, "explain", model, files / "texts.txt", "--json", mine)
    assert rc == 2 and "--overwrite" in err and f"--json {str(mine)!r}" in err, err
    assert "overwrite=True" not in err and mine.read_text() == "hi\n"


def test_item5_speak_flags_rewrites_the_estimators_words():
    from skbert._cli_args import plain_constraints, speak_flags

    assert speak_flags("threshold holds 1.5 at label 'tech' (index 3), outside [0, 1]") \
        .startswith("--threshold holds 1.5")
    assert "classes_" not in speak_flags("pass one float, or 4 floats (one per label, in "
                                         "classes_ order).")
    assert speak_flags("label_columns lists ['tech'] more than once") \
        == "--label-columns lists ['tech'] more than once"
    assert speak_flags("choose another path, or pass overwrite=True (--overwrite on the "
                       "command line) to replace it.") \
        == "choose another path, or pass --overwrite to replace it."
    assert plain_constraints("use an int in the range [0, inf), an instance of 'bool' or an "
                             "instance of 'numpy.bool'") == "use a whole number, 0 or more"


# ------------------------------ A: only a model skbert saved is a model folder
def _user_files(folder):
    """A folder of the user's own: a ``skbert.json`` that is not a model's, and a sub-folder."""
    folder.mkdir()
    (folder / "skbert.json").write_text('{"project": "mine", "classes": ["a"]}\n')
    (folder / "sub").mkdir()
    return folder


@pytest.mark.parametrize("where", [".", "sub"])
def test_fixA_a_users_own_skbert_json_blocks_no_output(where, capsys, model, files, tmp_path,
                                                        monkeypatch):
    """A user's file named skbert.json made its folder and every sub-folder refuse outputs."""
    work = _user_files(tmp_path / "work")
    monkeypatch.chdir(work)
    target = os.path.join(where, "p.jsonl")
    rc, _, err = run(capsys, "predict", model, files / "texts.txt", "--output", target)
    assert rc == 0, err
    assert len((work / target).read_text().splitlines()) == 2
    rc, _, err = run(capsys, "evaluate", model, files / "train.jsonl", "--output",
                     os.path.join(where, "m.json"))
    assert rc == 0, err


def test_fixA_metrics_saved_as_skbert_json_do_not_make_a_model_folder(capsys, model, files,
                                                                     tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text("{}\n")  # even beside a config.json
    rc, _, err = run(capsys, "evaluate", model, files / "train.jsonl", "--output",
                     "skbert.json")
    assert rc == 0, err
    rc, _, err = run(capsys, "evaluate", model, files / "train.jsonl", "--output",
                     "skbert.json", "--overwrite")
    assert rc == 0, err
    rc, _, err = run(capsys, "predict", model, files / "texts.txt", "--output", "p.jsonl")
    assert rc == 0, err


def test_fixA_model_folder_of_recognises_a_saved_model_only(model, tmp_path):
    from skbert._cli_paths import model_folder_of

    other = shutil.copytree(model, tmp_path / "m")
    assert model_folder_of(str(other / "x.jsonl")) == str(other)
    assert model_folder_of(str(other / "onnx" / "deep" / "x.jsonl")) == str(other)
    work = _user_files(tmp_path / "work")
    assert model_folder_of(str(work / "sub" / "x.jsonl")) is None
    no_config = tmp_path / "no_config"  # a model's skbert.json without its config.json
    no_config.mkdir()
    shutil.copy(other / "skbert.json", no_config / "skbert.json")
    assert model_folder_of(str(no_config / "x.jsonl")) is None
    linked = tmp_path / "linked"  # a link named skbert.json is not followed
    linked.mkdir()
    shutil.copy(other / "config.json", linked / "config.json")
    os.symlink(other / "skbert.json", linked / "skbert.json")
    assert model_folder_of(str(linked / "x.jsonl")) is None
    listed = tmp_path / "listed"  # a JSON list, not skbert's object
    listed.mkdir()
    (listed / "skbert.json").write_text('["format", "classes"]')
    (listed / "config.json").write_text("{}")
    assert model_folder_of(str(listed / "x.jsonl")) is None


# ---------------------------- B, C: every suggestion is one that is then accepted
@pytest.mark.parametrize("output", ["sub", "new-folder", "."])
def test_fixB_in_a_model_folder_the_suggestion_lies_outside_it(output, capsys, model,
                                                               other_model, files,
                                                               monkeypatch):
    """`cd m1; skbert predict . in.csv --output sub` suggested 'predictions.jsonl' (in m1)."""
    (other_model / "sub").mkdir()
    before = snapshot(other_model)
    monkeypatch.chdir(other_model)
    rc, _, err = run(capsys, "predict", ".", files / "texts.txt", "--output", output,
                     "--format", "jsonl")
    assert rc == 2, err
    suggested = re.search(r"such as '([^']+)'", err)[1]
    assert "predictions.jsonl" in suggested and suggested != "predictions.jsonl", err
    rc, _, err = run(capsys, "predict", ".", files / "texts.txt", "--output", suggested)
    assert rc == 0, err
    assert snapshot(other_model) == before
    assert len(open(os.path.join(other_model, suggested)).read().splitlines()) == 2


def test_fixB_an_existing_suggestion_is_not_suggested(capsys, model, other_model, files,
                                                      monkeypatch):
    monkeypatch.chdir(other_model.parent)
    for name in ("other-predictions.jsonl", "predictions.jsonl"):  # every candidate exists
        (other_model.parent / name).write_text("mine\n")
    rc, _, err = run(capsys, "predict", model, files / "texts.txt", "--output", other_model,
                     "--format", "jsonl")
    assert rc == 2
    suggested = re.search(r"such as '([^']+)'", err)[1]
    rc, _, err = run(capsys, "predict", model, files / "texts.txt", "--output", suggested)
    assert rc == 0, err  # no --overwrite needed
    for name in ("other-predictions.jsonl", "predictions.jsonl"):
        assert (other_model.parent / name).read_text() == "mine\n"


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("inside", ["out.jsonl", "config.json", "onnx/out.jsonl"])
def test_fixC_a_file_in_the_model_in_use_gets_an_accepted_suggestion(command, inside, capsys,
                                                                     other_model, files,
                                                                     monkeypatch):
    monkeypatch.chdir(other_model.parent)
    before = snapshot(other_model)
    data = files / ("texts.txt" if command == "predict" else "train.jsonl")
    extra = ("--format", "jsonl") if command == "predict" else ()
    rc, _, err = run(capsys, command, "other", data, "--output", f"other/{inside}", *extra,
                     "--overwrite")
    assert rc == 2 and "the model folder 'other'" in err, err
    assert "--overwrite does not allow this" in err, err
    suggested = re.search(r"such as '([^']+)'", err)[1]
    rc, _, err = run(capsys, command, "other", data, "--output", suggested, *extra)
    assert rc == 0, err
    assert snapshot(other_model) == before


# ------------------------------------ D: explain's two outputs may not be one file
@pytest.mark.parametrize("spelling", ["same.html", "./same.html"])
@pytest.mark.parametrize("flags", [(), ("--overwrite",)])
@pytest.mark.parametrize("existing", [False, True])
def test_fixD_explain_html_and_json_naming_one_file_are_refused_first(
        spelling, flags, existing, capsys, model, files, tmp_path, monkeypatch):
    import skbert._explain

    monkeypatch.chdir(tmp_path)
    if existing:
        (tmp_path / "same.html").write_text("mine\n")
    monkeypatch.setattr(skbert._explain, "explain", _must_not_run)
    monkeypatch.setattr(TransformerMultiLabelClassifier, "from_pretrained", _must_not_run)
    rc, out, err = run(capsys, "explain", model, files / "texts.txt", "--html", "same.html",
                       "--json", spelling, *flags)
    assert rc == 2 and out == "", err
    assert "--html and --json name the same file" in err, err
    assert "not written by skbert explain" not in err
    assert [p.name for p in tmp_path.iterdir()] == (["same.html"] if existing else [])
    if existing:
        assert (tmp_path / "same.html").read_text() == "mine\n"


def test_fixD_explain_html_and_json_in_two_files_still_work(capsys, model, files, tmp_path):
    rc, _, err = run(capsys, "explain", model, files / "texts.txt", "--html",
                     tmp_path / "a.html", "--json", tmp_path / "a.jsonl", "--n-steps", "2")
    assert rc == 0, err
    assert (tmp_path / "a.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2


# ------------------------ E: --output and --json (its old spelling) given together
@pytest.mark.parametrize("order", ["output first", "json first"])
def test_fixE_evaluate_output_and_json_with_two_files_is_refused(order, capsys, model, files,
                                                                 tmp_path, monkeypatch):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    pairs = [("--output", a), ("--json", b)]
    argv = [x for pair in (pairs if order == "output first" else pairs[::-1]) for x in pair]
    monkeypatch.setattr(TransformerMultiLabelClassifier, "predict_proba", _must_not_run)
    rc, out, err = run(capsys, "evaluate", model, files / "train.jsonl", *argv)
    assert rc == 2 and out == "", err
    assert "--json is the deprecated spelling of --output" in err, err
    assert str(a) in err and str(b) in err
    assert not a.exists() and not b.exists()


def test_fixE_evaluate_output_and_json_naming_one_file_is_accepted(capsys, model, files,
                                                                   tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, "evaluate", model, files / "train.jsonl", "--output", "m.json",
                     "--json", "./m.json")
    assert rc == 0, err
    assert json.loads((tmp_path / "m.json").read_text())["n_texts"] == 40


@pytest.mark.parametrize("sub", ["sub", "onnx/deeper"])
def test_trial11_train_out_inside_another_model_is_refused(sub, capsys, tiny_model, files,
                                                           other_model, monkeypatch):
    from skbert import _runner

    monkeypatch.setattr(_runner, "train", _must_not_run)  # refused before any training
    before = snapshot(other_model)
    rc, out, err = run(capsys, "train", files / "train.jsonl", "--out", other_model / sub,
                       "--model", tiny_model, "--max-epochs", "1", "--overwrite")
    assert rc == 2 and "is inside the model folder" in err and "mix two models" in err
    suggested = err.split("such as '")[1].split("'")[0]
    assert not suggested.startswith(str(other_model) + "/")
    assert snapshot(other_model) == before and not (other_model / sub).exists()


def test_trial12_one_label_is_refused_before_training_in_flags(capsys, tiny_model, files,
                                                              tmp_path, monkeypatch):
    from skbert import _runner

    monkeypatch.setattr(_runner, "train", _must_not_run)
    rc, out, err = run(capsys, "train", files / "train.csv", "--out", tmp_path / "m",
                       "--model", tiny_model, "--label-columns", "tech")
    assert rc == 2 and "Training on" not in out
    assert "has one label ('tech'); a multi-label model needs at least two" in err
    assert "--label-columns tech,not_tech" in err and "np." not in err
    one = tmp_path / "one.jsonl"
    one.write_text("".join(json.dumps({"text": t, "labels": ["spam"] if i % 2 else []}) + "\n"
                           for i, t in enumerate(["a b", "c d", "e f", "g h"])))
    rc, out, err = run(capsys, "train", one, "--out", tmp_path / "m", "--model", tiny_model)
    assert rc == 2 and "give the rows without it the label not_spam" in err
