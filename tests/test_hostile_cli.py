"""Hostile and careless command lines (issue 20 items 4, 12, 13, 15, 21): outputs aimed at
inputs, at the model, at the current folder or through links; --overwrite on folders
skbert did not write; training state inside the model; stdin; errors that name flags.

Every case is generated here by fixtures (no files are committed) and runs in-process
through ``skbert.cli.main`` on the tiny random BERT of conftest.py. Each refusal is
one ``skbert: error:`` line, exit code 2, before any training or predicting, and
leaves every file as it was.
"""

from __future__ import annotations

import io
import json
import os
import sys

import pytest
from conftest import LABELS, build_tiny_bert, make_corpus

from skbert import TransformerMultiLabelClassifier
from skbert.cli import main


def _write_data(path, n=24, seed=3):
    texts, Y = make_corpus(n, seed=seed)
    with open(path, "w") as fh:
        for t, y in zip(texts, Y):
            fh.write(json.dumps({"text": t, "labels": [n for n, v in zip(LABELS, y) if v]})
                     + "\n")
    return path


@pytest.fixture(scope="module")
def model(tiny_model, tmp_path_factory):
    """A model folder written by ``skbert train`` (threshold auto), with a 1_Pooling file."""
    d = tmp_path_factory.mktemp("hostile_cli")
    data = _write_data(d / "train.jsonl")
    out = d / "model"
    assert main(["train", str(data), "--out", str(out), "--model", tiny_model,
                 "--max-epochs", "1", "--threshold", "auto", "--verbose", "0",
                 "--precision", "fp32"]) == 0
    return out


@pytest.fixture(scope="module")
def st_model(tiny_st_model, tmp_path_factory):
    """A model folder written by ``skbert train`` on a sentence-transformers (mean) model:
    it holds every kind of file save_pretrained writes (1_Pooling/, 2_Dense/, the head)."""
    d = tmp_path_factory.mktemp("hostile_cli_st")
    data = _write_data(d / "train.jsonl")
    out = d / "model"
    assert main(["train", str(data), "--out", str(out), "--model", tiny_st_model,
                 "--max-epochs", "1", "--verbose", "0", "--precision", "fp32"]) == 0
    return out


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def refused(capsys, *argv, expect: str):
    rc, out, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("skbert: error: "), err
    assert expect in lines[0], lines[0]
    return lines[0]


def train_argv(data, out, tiny_model, *extra):
    return ["train", data, "--out", out, "--model", tiny_model, "--max-epochs", "1",
            "--verbose", "0", *extra]


# ------------------------------------------------------------------ item 4: --out
def test_item04_out_is_the_current_folder(capsys, tiny_model, tmp_path, monkeypatch,
                                          train_calls):
    """`skbert train data.jsonl --out . --overwrite` used to delete the folder, data included."""
    _write_data(tmp_path / "data.jsonl")
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    refused(capsys, *train_argv("data.jsonl", ".", tiny_model, "--overwrite"),
            expect="--out '.' is the current folder")
    assert train_calls == [] and snapshot(tmp_path) == before


def test_item04_out_contains_the_current_folder(capsys, tiny_model, tmp_path, monkeypatch,
                                                train_calls):
    work = tmp_path / "work"
    work.mkdir()
    data = _write_data(work / "data.jsonl")
    before = snapshot(tmp_path)
    monkeypatch.chdir(work)
    refused(capsys, *train_argv(data, "..", tiny_model, "--overwrite"),
            expect="contains the current folder")
    assert train_calls == [] and snapshot(tmp_path) == before


def test_item04_out_contains_the_input(capsys, tiny_model, tmp_path, train_calls):
    (tmp_path / "data").mkdir()
    data = _write_data(tmp_path / "data" / "train.jsonl")
    before = snapshot(tmp_path)
    refused(capsys, *train_argv(data, tmp_path / "data", tiny_model, "--overwrite"),
            expect=f"contains the input file '{data}'")
    assert train_calls == [] and snapshot(tmp_path) == before


def test_item04_out_inside_the_model_through_a_linked_parent(capsys, tmp_path, train_calls):
    base = tmp_path / "bert"
    build_tiny_bert(base)
    capsys.readouterr()  # the save's progress bar
    os.symlink(base, tmp_path / "alias")
    data = _write_data(tmp_path / "d.jsonl")
    before = snapshot(base)
    refused(capsys, *train_argv(data, tmp_path / "alias" / "finetuned", str(base)),
            expect="is inside the --model folder")
    assert train_calls == [] and snapshot(base) == before


def test_item04_out_is_a_link(capsys, model, tiny_model, tmp_path, train_calls):
    """A link at --out is refused: saving would replace what it points to."""
    import shutil

    target = tmp_path / "elsewhere"
    shutil.copytree(model, target)
    before = snapshot(target)
    os.symlink(target, tmp_path / "link")
    data = _write_data(tmp_path / "d.jsonl")
    refused(capsys, *train_argv(data, tmp_path / "link", tiny_model, "--overwrite"),
            expect="is a link; skbert does not write through links")
    assert train_calls == [] and snapshot(target) == before
    assert os.path.islink(tmp_path / "link")


@pytest.mark.parametrize("planted", ["no skbert.json", "empty skbert.json",
                                     "skbert.json not json", "skbert.json a link"])
def test_item04_overwrite_refuses_a_folder_skbert_did_not_write(planted, capsys, model,
                                                                tiny_model, tmp_path,
                                                                train_calls):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"\xff\xd8 not really a photo")
    if planted == "empty skbert.json":
        (out / "skbert.json").write_text("{}")
    elif planted == "skbert.json not json":
        (out / "skbert.json").write_text("{not json")
    elif planted == "skbert.json a link":
        os.symlink(model / "skbert.json", out / "skbert.json")
    before = snapshot(out)
    data = _write_data(tmp_path / "d.jsonl")
    refused(capsys, *train_argv(data, out, tiny_model, "--overwrite"),
            expect="holds files skbert did not write")
    assert train_calls == [] and snapshot(out) == before


def test_item04_overwrite_replaces_a_folder_skbert_wrote(capsys, model, tiny_model, tmp_path):
    import shutil

    out = tmp_path / "old-model"
    shutil.copytree(model, out)
    (out / "model-00002-of-00002.safetensors").write_text("a stale shard of the old model")
    data = _write_data(tmp_path / "d.jsonl", seed=9)
    rc, stdout, err = run(capsys, *train_argv(data, out, tiny_model, "--overwrite",
                                              "--precision", "fp32"))
    assert rc == 0, err
    assert not (out / "model-00002-of-00002.safetensors").exists()
    assert (out / "skbert.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if ".skbert-" in p.name] == []


def _change_while_training(monkeypatch, source, out, change):
    """Copy the model folder ``source`` to ``out``; ``change()`` runs as the CLI saves (after
    training, before the new folder is renamed in)."""
    import shutil

    shutil.copytree(source, out)
    real_save = TransformerMultiLabelClassifier.save_pretrained

    def change_then_save(self, folder):
        change()
        real_save(self, folder)

    monkeypatch.setattr(TransformerMultiLabelClassifier, "save_pretrained", change_then_save)


def test_item04_overwrite_rechecks_the_folder_when_it_renames(capsys, model, tiny_model,
                                                              tmp_path, monkeypatch):
    """A folder that stops being skbert's while training is not replaced."""
    out = tmp_path / "old-model"
    _change_while_training(monkeypatch, model, out,  # someone else's folder now
                           lambda: (out / "skbert.json").write_text("[]"))
    data = _write_data(tmp_path / "d.jsonl", seed=10)
    rc, _, err = run(capsys, *train_argv(data, out, tiny_model, "--overwrite"))
    assert rc == 2 and "holds files skbert did not write" in err
    assert (out / "skbert.json").read_text() == "[]" and (out / "config.json").is_file()


@pytest.mark.parametrize("planted", ["notes.txt", "results/r.json", "onnx/mine.txt",
                                     "link", "1_Pooling a file"])
def test_trial_item1_overwrite_refuses_user_files_in_a_model_folder(planted, capsys, st_model,
                                                                    tiny_model, tmp_path,
                                                                    train_calls):
    """`skbert train d.jsonl --out m --overwrite` used to delete notes.txt and results/ kept in
    a model folder skbert wrote: only a folder of skbert's files alone is replaced."""
    import shutil

    out = tmp_path / "m2"
    shutil.copytree(st_model, out)
    if planted == "link":
        os.symlink(tmp_path / "elsewhere", out / "vocab.txt")
        shown = "vocab.txt"
    elif planted == "1_Pooling a file":
        shutil.rmtree(out / "1_Pooling")
        (out / "1_Pooling").write_text("mine")
        shown = "1_Pooling"
    else:
        (out / planted).parent.mkdir(exist_ok=True)
        (out / planted).write_text("the user's")
        shown = {"notes.txt": "notes.txt", "results/r.json": "results/",
                 "onnx/mine.txt": "onnx/mine.txt"}[planted]
    before = snapshot(out)
    data = _write_data(tmp_path / "d.jsonl")
    line = refused(capsys, *train_argv(data, out, tiny_model, "--overwrite"),
                   expect="holds files skbert did not write")
    assert f"besides the model it holds {shown}, which replacing" in line
    assert train_calls == [] and snapshot(out) == before


def test_trial_item1_overwrite_rechecks_user_files_at_the_rename(capsys, st_model, tiny_model,
                                                                 tmp_path, monkeypatch):
    """A note saved into --out while training keeps the old folder (and the note)."""
    out = tmp_path / "m2"
    _change_while_training(monkeypatch, st_model, out,
                           lambda: (out / "notes.txt").write_text("written while training"))
    data = _write_data(tmp_path / "d.jsonl", seed=11)
    rc, _, err = run(capsys, *train_argv(data, out, tiny_model, "--overwrite"))
    assert rc == 2 and "besides the model it holds notes.txt" in err
    assert (out / "notes.txt").read_text() == "written while training"
    assert (out / "skbert.json").is_file()


def test_trial_item1_every_file_save_pretrained_writes_is_known(model, st_model):
    """The list of skbert's own names covers a saved folder (mean pooling: 1_Pooling, 2_Dense)."""
    from skbert._cli_paths import foreign_entries, is_skbert_folder

    assert (st_model / "1_Pooling").is_dir() and (st_model / "2_Dense").is_dir()
    for folder in (model, st_model):
        assert foreign_entries(folder) == [] and is_skbert_folder(folder) is None
    # the names the savers use are in the list (the ONNX export, the sentence files)
    from skbert._cli_paths import SAVED_FILES, SAVED_FOLDERS
    from skbert._export_onnx import INT8_FILE, ONNX_DIR, ONNX_FILE, ONNX_META
    from skbert._persistence import HEAD_FILE, SENTENCE_FILES, SETTINGS_FILE

    assert {ONNX_FILE, INT8_FILE, ONNX_META} <= SAVED_FOLDERS[ONNX_DIR]
    for name in (SETTINGS_FILE, HEAD_FILE, *SENTENCE_FILES):
        sub, _, base = name.replace(os.sep, "/").rpartition("/")
        assert base in (SAVED_FOLDERS[sub] if sub else SAVED_FILES), name


# ----------------------------------------------------------- item 4: --output files
def test_item04_output_inside_the_model_folder(capsys, model, tmp_path, monkeypatch):
    """`skbert predict M data --output M/1_Pooling/config.json` used to overwrite a model file."""
    texts = tmp_path / "t.txt"
    texts.write_text("football match\n")
    before = snapshot(model)
    monkeypatch.setattr(TransformerMultiLabelClassifier, "predict_proba", _must_not_run)
    for target in (model / "config.json", model / "1_Pooling" / "config.json",
                   model / "new-predictions.jsonl"):
        refused(capsys, "predict", model, texts, "--output", target,
                expect="the model folder")
    refused(capsys, "evaluate", model, _write_data(tmp_path / "d.jsonl"), "--output",
            model / "metrics.json", expect="inside the model folder")
    assert snapshot(model) == before


def test_item04_output_is_the_input(capsys, model, tmp_path):
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"text": "football"}\n')
    refused(capsys, "predict", model, texts, "--output", texts, expect="is the input file")
    assert texts.read_text() == '{"text": "football"}\n'


@pytest.mark.parametrize("where", ["a model file", "another file", "dangling"])
def test_item04_output_is_a_link(where, capsys, model, tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("football match\n")
    victim = {"a model file": model / "config.json", "another file": tmp_path / "victim.txt",
              "dangling": tmp_path / "nowhere.txt"}[where]
    if where == "another file":
        victim.write_text("keep me")
    before = snapshot(model)
    os.symlink(victim, tmp_path / "out.jsonl")
    refused(capsys, "predict", model, texts, "--output", tmp_path / "out.jsonl",
            expect="" if where == "a model file" else "is a link")
    assert snapshot(model) == before and os.path.islink(tmp_path / "out.jsonl")
    if where == "another file":
        assert victim.read_text() == "keep me"
    assert not (tmp_path / "nowhere.txt").exists()


def test_item04_output_is_written_atomically_with_the_mode_policy(capsys, model, tmp_path):
    from skbert._safe_io import file_mode

    texts = tmp_path / "t.txt"
    texts.write_text("football match\nthe pizza\n")
    out = tmp_path / "deeper" / "p.csv"
    rc, _, err = run(capsys, "predict", model, texts, "--output", out)
    assert rc == 0, err
    assert len(out.read_text().splitlines()) == 3
    assert os.stat(out).st_mode & 0o777 == file_mode()
    assert [p.name for p in out.parent.iterdir()] == ["p.csv"]


def _must_not_run(*args, **kwargs):
    raise AssertionError("predicted although an error was due first")


# --------------------------------------------------- item 12: --checkpoint-dir
@pytest.mark.parametrize("where", ["is", "is inside", "contains"])
def test_item12_checkpoint_dir_overlapping_the_model_is_refused(where, capsys, tmp_path,
                                                                 train_calls):
    base = tmp_path / "base" / "bert"
    build_tiny_bert(base)
    capsys.readouterr()  # the save's progress bar
    before = snapshot(tmp_path / "base")
    ckpt = {"is": base, "is inside": base / "state", "contains": tmp_path / "base"}[where]
    data = _write_data(tmp_path / "d.jsonl")
    refused(capsys, *train_argv(data, tmp_path / "out", str(base), "--checkpoint-dir", ckpt),
            expect=f"--checkpoint-dir '{ckpt}' {where} the --model folder")
    assert train_calls == [] and snapshot(tmp_path / "base") == before
    assert not (tmp_path / "out").exists()


def test_item12_out_overlapping_the_checkpoint_dir_is_refused(capsys, tiny_model, tmp_path,
                                                              train_calls):
    data = _write_data(tmp_path / "d.jsonl")
    refused(capsys, *train_argv(data, tmp_path / "state" / "model", tiny_model,
                                "--checkpoint-dir", tmp_path / "state"),
            expect="is inside the --checkpoint-dir")
    assert train_calls == []


# ------------------------------------------------------------ item 13: tracebacks
def test_item13_deeply_nested_jsonl_is_one_line(capsys, tiny_model, tmp_path, train_calls):
    data = tmp_path / "deep.jsonl"
    data.write_text('{"text": "a goal", "labels": ["sports"]}\n'
                    + '{"text": "x", "labels": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    refused(capsys, *train_argv(data, tmp_path / "o", tiny_model),
            expect="Line 2 of 'deep.jsonl' nests JSON arrays or objects too deeply")
    assert train_calls == []


def test_item13_deeply_nested_json_array_in_predict(capsys, model, tmp_path):
    data = tmp_path / "deep.json"
    data.write_text("[" * 200_000 + "]" * 200_000)
    refused(capsys, "predict", model, data, expect="nests JSON arrays or objects too deeply")


def test_item13_ctrl_c_while_importing_is_one_line(capsys, monkeypatch):
    from skbert import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the parser imports torch and transformers

    monkeypatch.setattr(cli, "build_parser", interrupted)
    rc, out, err = run(capsys, "train", "x.jsonl", "--out", "o")
    assert rc == 130 and out == ""
    assert err == "skbert: interrupted; nothing was saved\n"


# ---------------------------------------------------- item 15: Ctrl-C in training
def test_item15_ctrl_c_names_the_checkpoint_to_resume_from(capsys, tiny_model, tmp_path,
                                                          interrupt_at_epoch):
    interrupt_at_epoch(2)
    data = _write_data(tmp_path / "d.jsonl", seed=5)
    ckpt = tmp_path / "state"
    rc, _, err = run(capsys, "train", data, "--out", tmp_path / "o", "--model", tiny_model,
                     "--max-epochs", "3", "--verbose", "0", "--checkpoint-dir", ckpt)
    assert rc == 130
    last = err.strip().splitlines()[-1]
    assert last.startswith("skbert: interrupted after 1 complete epoch(s); nothing was saved")
    assert f"--checkpoint-dir '{ckpt}'" in last and "resume" in last
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------ item 21: CLI habits
def _stdin(monkeypatch, text: str):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))


def test_item21_predict_reads_stdin(capsys, model, monkeypatch):
    _stdin(monkeypatch, "football match today\n\nthe pizza recipe\n")
    rc, out, err = run(capsys, "predict", model, "-")
    assert rc == 0, err
    assert [json.loads(line)["text"] for line in out.splitlines()] == [
        "football match today", "the pizza recipe"]


def test_item21_predict_reads_jsonl_from_stdin(capsys, model, monkeypatch):
    _stdin(monkeypatch, '{"body": "vote senate"}\n')
    rc, out, err = run(capsys, "predict", model, "-", "--input-format", "jsonl",
                       "--text-column", "body")
    assert rc == 0, err
    assert json.loads(out)["text"] == "vote senate"


def test_item21_train_and_evaluate_read_stdin(capsys, tiny_model, tmp_path, monkeypatch):
    data = _write_data(tmp_path / "d.jsonl", seed=11).read_text()
    _stdin(monkeypatch, data)
    rc, out, err = run(capsys, *train_argv("-", tmp_path / "m", tiny_model))
    assert rc == 0, err
    assert "Training on 24 texts" in out
    _stdin(monkeypatch, data)
    rc, out, err = run(capsys, "evaluate", tmp_path / "m", "-")
    assert rc == 0, err
    assert "on 24 texts from -" in out


def test_item21_input_format_needs_stdin(capsys, model, tmp_path):
    (tmp_path / "t.txt").write_text("a\n")
    refused(capsys, "predict", model, tmp_path / "t.txt", "--input-format", "jsonl",
            expect="--input-format applies to - (stdin)")


def test_item21_errors_name_flags_not_parameters(capsys, tiny_model, tmp_path):
    data = _write_data(tmp_path / "d.jsonl")
    line = refused(capsys, *train_argv(data, tmp_path / "o", tiny_model, "--text-column",
                                       "body"), expect="set --text-column to one of")
    line += refused(capsys, *train_argv(data, tmp_path / "o", tiny_model, "--label-column",
                                        "tags"), expect="set --label-column to one of")
    line += refused(capsys, *train_argv(data, tmp_path / "o", tiny_model, "--label-columns",
                                        "a,b"), expect="--label-columns must name columns")
    line += refused(capsys, *train_argv(data, tmp_path / "o", tiny_model, "--warmup-ratio",
                                        "1.5"), expect="for --warmup-ratio")
    for python_name in ("text_column", "label_column", "label_columns", "warmup_ratio"):
        assert python_name not in line


def test_item21_estimator_errors_speak_in_flags(capsys, tiny_model, tmp_path, train_calls):
    from skbert._cli_args import speak_flags

    data = _write_data(tmp_path / "d.jsonl")
    line = refused(capsys, *train_argv(data, tmp_path / "o", tiny_model, "--long-text", "chunk",
                                       "--max-length", "16"), expect="lower --stride")
    assert "--max-length 16" in line and " stride " not in line and train_calls == []

    assert speak_flags("The 'warmup_ratio' parameter of TransformerMultiLabelClassifier must "
                       "be <= 1.") == "--warmup-ratio must be <= 1."
    assert speak_flags("lower stride (now 32) or raise max_length; long_text='chunk'") == \
        "lower --stride (now 32) or raise --max-length; --long-text chunk"


def test_item21_swapped_arguments_are_named(capsys, model, tmp_path):
    data = _write_data(tmp_path / "train.csv")
    (tmp_path / "texts.txt").write_text("a goal\n")
    refused(capsys, "predict", data, tmp_path / "texts.txt",
            expect="is a file, not a model folder: the model folder comes first")
    refused(capsys, "predict", tmp_path / "texts.txt", model,
            expect="the arguments look swapped")
    refused(capsys, "evaluate", data, model, expect="the arguments look swapped")


@pytest.mark.parametrize("argv, expect", [
    (["--epochs", "3"], "unknown option --epochs; did you mean --max-epochs (skbert train/demo)"),
    (["--max-epochs", "3", "train", "d.jsonl"], "--max-epochs is an option of skbert train"),
    (["--output", "p.csv"], "--output is an option of skbert predict and skbert evaluate"),
])
def test_item21_options_before_the_subcommand_say_which_takes_them(argv, expect, capsys):
    refused(capsys, *argv, expect=expect)


@pytest.mark.parametrize("argv, expect", [
    (["train", "d.jsonl", "--out", "m3", "--epochs", "2"],
     "skbert train has no option --epochs; did you mean --max-epochs? "
     "(see 'skbert train --help')"),
    (["train", "d.jsonl", "--out", "m3", "--max-epochs=1", "--epochs=2"],
     "did you mean --max-epochs?"),
    (["predict", "m", "t.txt", "--ouput", "p.csv"], "did you mean --output?"),
    (["train", "d.jsonl", "--out", "m3", "--output", "x"],
     "did you mean --out? (--output is an option of skbert predict and skbert evaluate)"),
    (["predict", "m", "t.txt", "--max-epochs", "3"],
     "--max-epochs is an option of skbert train and skbert demo, not of skbert predict"),
    (["evaluate", "m", "d.jsonl", "--zzz"], "skbert evaluate has no option --zzz"),
])
def test_trial_item4_unknown_option_after_the_subcommand_is_explained(argv, expect, capsys,
                                                                     train_calls):
    """`skbert train d.jsonl --out m3 --epochs 2` used to say only "unrecognized arguments"."""
    refused(capsys, *argv, expect=expect)
    assert train_calls == []


def test_item21_train_and_evaluate_print_the_threshold_chosen(capsys, model, tiny_model,
                                                              tmp_path):
    clf = TransformerMultiLabelClassifier.from_pretrained(model)
    assert clf.threshold_metric_ == "f1_shrunk"  # threshold_metric="auto" on a few texts
    rc, out, err = run(capsys, "evaluate", model, _write_data(tmp_path / "d.jsonl"))
    assert rc == 0, err
    shown = ", ".join(f"{c} {t:.3g}" for c, t in zip(clf.classes_, clf.thresholds_))
    assert f"(threshold: auto, one per label tuned on the validation split: {shown})" in out
    data = _write_data(tmp_path / "e.jsonl", seed=12)
    rc, out, err = run(capsys, "train", data, "--out", tmp_path / "m", "--model",
                       tiny_model, "--max-epochs", "1", "--verbose", "0",
                       "--threshold", "auto", "--threshold-metric", "f1_micro_global")
    assert rc == 0, err
    chosen = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m").thresholds_[0]
    assert f"threshold: {chosen:.3g} (auto: one for all labels" in out, out


# ------------------------------------------------- trial item 2: CSV formula injection
FORMULAS = ['=HYPERLINK("http://evil.example","click")', "@SUM(1+1)", "+cmd|' /C calc'!A0",
            "-2+3", "\tindented", "plain text"]


def test_trial_item2_csv_output_defuses_formulas(capsys, model, tmp_path):
    """`skbert predict m formula.txt --output f.csv` used to write `=HYPERLINK(...)` raw into a
    cell (a spreadsheet runs it): CSV cells starting with = + - @ tab CR get a leading quote,
    JSON Lines keeps the texts exact."""
    import csv

    texts = tmp_path / "formula.jsonl"
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in FORMULAS + ["\rcr"]))
    rc, _, err = run(capsys, "predict", model, texts, "--output", tmp_path / "f.csv")
    assert rc == 0, err
    with open(tmp_path / "f.csv", newline="") as fh:
        cells = [row["text"] for row in csv.DictReader(fh)]
    assert cells == ["'" + t for t in FORMULAS[:-1]] + ["plain text", "'\rcr"]
    rc, _, err = run(capsys, "predict", model, texts, "--output", tmp_path / "f.jsonl")
    assert rc == 0, err
    records = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == FORMULAS + ["\rcr"]


def test_trial_item2_csv_label_cells_are_defused_too():
    """Label names come from training data: a label cell starting like a formula is quoted."""
    import csv
    import io

    import numpy as np

    from skbert._cli_io import write_predictions

    out = io.StringIO()
    write_predictions(out, ["=1+1", "ok"], np.array([[1, 0], [0, 1]]),
                      np.array([[0.9, 0.1], [0.2, 0.8]]), ["=evil()", "fine"], "csv")
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[1][:2] == ["'=1+1", "'=evil()"] and rows[2][:2] == ["ok", "fine"]
    assert rows[0] == ["text", "labels", "proba_=evil()", "proba_fine"]


# ------------------------------------------------ trial item 3: duplicate JSON keys
def test_trial_item3_duplicate_key_is_refused_before_training(capsys, model, tiny_model,
                                                             tmp_path, train_calls):
    """A JSONL row {"text": real, "labels": [...], "text": "pizza"} used to train on "pizza"."""
    data = _write_data(tmp_path / "d.jsonl")
    rows = data.read_text().splitlines()
    rows[4] = rows[4][:-1] + ', "text": "pizza"}'
    data.write_text("\n".join(rows) + "\n")
    refused(capsys, *train_argv(data, tmp_path / "m", tiny_model),
            expect="Line 5 of 'd.jsonl' gives the key 'text' twice")
    assert train_calls == [] and not (tmp_path / "m").exists()
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"text": "goal", "text": "pizza"}\n')
    refused(capsys, "predict", model, texts,
            expect="Line 1 of 't.jsonl' gives the key 'text' twice")
