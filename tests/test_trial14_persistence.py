"""Model folders in the fourteenth trial: where ``save_pretrained`` may write and what
``from_pretrained`` takes.

* Saving into the checkpoint folder a model was fine-tuned from replaced that
  checkpoint without a word, so every later fit from it started from the
  fine-tuned model. It is refused, as the command line refuses ``--out`` equal to
  ``--model``; a folder skbert saved may still be saved into again.
* Label names ``fit`` refuses (control characters, an ESC sequence, NUL, CR/LF,
  empty) loaded from a stranger's ``skbert.json`` and went raw into the model card.
  They are refused on loading, naming the file and the label.
* ``save_pretrained`` on an existing file, and a folder that is not a path
  (None), raised bare OS errors; both now say what is wrong and what to pass.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pandas as pd
import pytest
from conftest import make_corpus

from skbert import TransformerMultiLabelClassifier
from skbert._load_errors import SavedFileError
from skbert._utils import SkbertWarning

FAST = dict(precision="fp32", max_epochs=1, max_length=16, batch_size=8, device="cpu",
            random_state=0, fit_cache=False, contrastive_steps=0)


def _digests(folder) -> dict[str, str]:
    """The sha256 of every file under ``folder``, by relative path."""
    out = {}
    for here, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(here, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


@pytest.fixture
def base(tiny_st_model, tmp_path):
    """A private copy of the tiny checkpoint: a failing refusal must not damage the fixture."""
    return str(shutil.copytree(tiny_st_model, tmp_path / "base"))


@pytest.fixture(scope="module")
def saved(tiny_st_model, tmp_path_factory):
    """A model folder written by save_pretrained (mean pooling, labels a..d)."""
    X, Y = make_corpus(16, seed=1)
    est = TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y)
    out = tmp_path_factory.mktemp("trial14") / "model"
    est.save_pretrained(out)
    return out


# ------------------------------------------------------------- 1. the checkpoint's folder
@pytest.mark.parametrize("spelling", ["as given", "trailing slash", "relative", "link"])
def test_saving_into_the_checkpoint_fine_tuned_from_is_refused(base, tmp_path, monkeypatch,
                                                                spelling):
    X, Y = make_corpus(16, seed=2)
    est = TransformerMultiLabelClassifier(base, **FAST).fit(X, Y)
    before = _digests(base)
    target = {"as given": base, "trailing slash": base + os.sep, "relative": "base",
              "link": str(tmp_path / "link")}[spelling]
    monkeypatch.chdir(tmp_path)
    os.symlink(base, tmp_path / "link")
    with pytest.raises(ValueError) as info:
        est.save_pretrained(target)
    message = str(info.value)
    assert repr(target) in message and repr(base) in message
    assert "fine-tuned from" in message and "Save to another folder" in message
    assert _digests(base) == before  # not one file of the checkpoint changed
    est.save_pretrained(message.split("save_pretrained(")[-1].split(")")[0].strip("'"))
    assert os.path.isfile(tmp_path / "base-finetuned" / "skbert.json")  # the suggestion works


def test_a_folder_skbert_saved_is_saved_into_again(saved, tmp_path):
    folder = shutil.copytree(saved, tmp_path / "mine")
    clf = TransformerMultiLabelClassifier.from_pretrained(folder)
    (folder / "README.md").write_text((folder / "README.md").read_text() + "stale line\n")
    clf.save_pretrained(folder)  # the documented re-save: it replaces the card
    assert "stale line" not in (folder / "README.md").read_text()
    X, Y = make_corpus(16, seed=4)
    refit = TransformerMultiLabelClassifier.from_pretrained(folder).set_params(
        max_epochs=1, fit_cache=False).fit(X, Y)  # fine-tuned from that folder, which skbert wrote
    refit.save_pretrained(str(folder) + os.sep)
    assert TransformerMultiLabelClassifier.from_pretrained(folder).history_ == refit.history_


def test_saving_beside_the_checkpoint_is_not_refused(base, tmp_path):
    X, Y = make_corpus(16, seed=2)
    est = TransformerMultiLabelClassifier(base, **FAST).fit(X, Y)
    est.save_pretrained(tmp_path / "elsewhere")
    assert TransformerMultiLabelClassifier.from_pretrained(tmp_path / "elsewhere").predict(
        X[:2]).shape == (2, 4)


# ------------------------------------------------------------- 2. label names from a folder
def _with_labels(saved, tmp_path, labels, *, in_classes=True):
    """A copy of ``saved`` whose labels are ``labels``: in skbert.json's classes and
    config.json's id2label/label2id (``in_classes``), or in config.json only."""
    folder = shutil.copytree(saved, tmp_path / "stranger")
    if in_classes:
        settings = json.loads((folder / "skbert.json").read_text())
        settings["classes"] = labels
        (folder / "skbert.json").write_text(json.dumps(settings))
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {str(i): name for i, name in enumerate(labels)}
    config["label2id"] = {name: i for i, name in enumerate(labels)}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("bad, why", [
    ("a\x1b[2J\x1b[31mOWNED", "control character '\\x1b'"),
    ("b\r\nc", "control character '\\r'"),
    ("d\x00", "control character '\\x00'"),
    ("e\u2028f", "control character '\\u2028'"),
    ("c\u202e", "bidirectional control '\\u202e' (U+202E)"),
    ("\u2066x", "bidirectional control '\\u2066' (U+2066)"),
    ("", "empty"),
    ("  ", "only spaces"),
])
def test_a_label_name_fit_refuses_is_refused_from_a_folder(saved, tmp_path, bad, why):
    folder = _with_labels(saved, tmp_path, ["a", bad, "c", "d"])
    with pytest.raises(SavedFileError) as info:
        TransformerMultiLabelClassifier.from_pretrained(folder)
    message = str(info.value)
    assert str(folder / "skbert.json") in message and repr(bad) in message and why in message
    assert "fit refuses such label names" in message and "id2label" in message
    assert "\x1b" not in message and "\x00" not in message  # shown escaped
    with pytest.raises(SavedFileError, match="fit refuses such label names"):  # a refit too
        TransformerMultiLabelClassifier(str(folder), **FAST).fit(*make_corpus(16, seed=2))


def test_a_bad_label_in_config_json_alone_is_refused_as_a_mismatch(saved, tmp_path):
    """skbert.json's classes are checked; config.json's id2label must name the same labels,
    so a control character there alone is refused by that rule."""
    folder = _with_labels(saved, tmp_path, ["a", "b\x1b[2J", "c", "d"], in_classes=False)
    with pytest.raises(SavedFileError, match="disagree on the labels") as info:
        TransformerMultiLabelClassifier.from_pretrained(folder)
    assert "\x1b" not in str(info.value)  # the message shows it escaped


def test_printable_unicode_labels_still_load(saved, tmp_path):
    labels = ["café", "日本語", "a b", "x-y"]
    clf = TransformerMultiLabelClassifier.from_pretrained(_with_labels(saved, tmp_path, labels))
    assert list(clf.classes_) == labels


# ------------------------------------------------------------- 3. paths that are not folders
@pytest.mark.parametrize("kind", ["file", "link to a file", "broken link"])
def test_save_pretrained_onto_a_file_says_to_pass_a_folder(saved, tmp_path, kind):
    clf = TransformerMultiLabelClassifier.from_pretrained(saved)
    (tmp_path / "notes.txt").write_text("mine")
    target = tmp_path / "target"
    if kind == "file":
        target = tmp_path / "notes.txt"
    else:
        os.symlink(tmp_path / ("notes.txt" if kind == "link to a file" else "gone"), target)
    with pytest.raises(FileExistsError) as info:
        clf.save_pretrained(target)
    message = str(info.value)
    assert repr(str(target)) in message and "Pass the path of a folder" in message
    assert ("an existing file, not a folder" if kind == "file"
            else "a link that leads to no folder") in message
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("value", [None, 3, b"model"])
def test_a_folder_that_is_not_a_path_is_a_clear_type_error(saved, value):
    with pytest.raises(TypeError) as info:
        TransformerMultiLabelClassifier.from_pretrained(value)
    message = str(info.value)
    assert f"from_pretrained(folder={value!r})" in message
    assert "str or pathlib.Path" in message and "push_to_hub" in message
    clf = TransformerMultiLabelClassifier.from_pretrained(saved)
    with pytest.raises(TypeError, match=r"save_pretrained\(folder=.*str or pathlib\.Path"):
        clf.save_pretrained(value)


def test_save_pretrained_to_an_empty_str_does_not_write_into_the_current_folder(
        saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clf = TransformerMultiLabelClassifier.from_pretrained(saved)
    with pytest.raises(ValueError, match=r"save_pretrained: folder='' names no folder \(an empty "
                                         r"path would mean the current folder\)"):
        clf.save_pretrained("")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------- 4. config.json's float values
def _with_config(saved, tmp_path, key, value):
    folder = shutil.copytree(saved, tmp_path / "edited")
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))  # NaN as JSON's NaN
    return folder


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0, 1.0, "1e-12", True])
def test_a_norm_epsilon_that_gives_nan_is_refused_on_loading(saved, tmp_path, value):
    folder = _with_config(saved, tmp_path, "layer_norm_eps", value)
    with pytest.raises(ValueError) as info:  # not TrainingDivergedError at predict time
        TransformerMultiLabelClassifier.from_pretrained(folder)
    message = str(info.value)
    assert str(folder / "config.json") in message and f"layer_norm_eps={value!r}" in message
    assert "not a number in (0, 1)" in message and "original files" in message


def test_a_norm_epsilon_is_checked_before_a_fit_too(base, tmp_path):
    config = json.loads(open(os.path.join(base, "config.json")).read())
    config["layer_norm_eps"] = float("nan")
    with open(os.path.join(base, "config.json"), "w") as fh:
        json.dump(config, fh)
    with pytest.raises(ValueError, match=r"config\.json sets layer_norm_eps=nan"):
        TransformerMultiLabelClassifier(base, **FAST).fit(*make_corpus(16, seed=2))


def test_a_small_norm_epsilon_still_loads(saved, tmp_path):
    clf = TransformerMultiLabelClassifier.from_pretrained(
        _with_config(saved, tmp_path, "layer_norm_eps", 1e-7))
    assert clf.predict_proba(["a text"]).shape == (1, 4)


# ------------------------------------------------------------- 5. label names on the card
@pytest.mark.filterwarnings("ignore:head_init='auto'")  # the tiny vocabulary lacks these words
def test_label_names_show_as_text_on_the_card(tiny_st_model, tmp_path):
    from skbert import _export

    X, Y = make_corpus(16, seed=2)
    names = ["a|b", "<script>alert(1)</script>", "[x](javascript:alert(1))",
             _export.CARD_MARKER]
    est = TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(
        X, pd.DataFrame(Y, columns=names))
    est.save_pretrained(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text()
    rows = [line for line in card.splitlines() if line.startswith("| ") and "0.5" in line][:4]
    assert rows == ["| 0 | a\\|b | 0.5 |",
                    "| 1 | &lt;script&gt;alert(1)&lt;/script&gt; | 0.5 |",
                    "| 2 | \\[x\\](javascript:alert(1)) | 0.5 |",
                    "| 3 | &lt;!-- skbert:model-card --&gt; | 0.5 |"]
    assert card.count(_export.CARD_MARKER) == 1  # the label cannot forge the marker
    (tmp_path / "m" / "README.md").write_text(card.replace(_export.CARD_MARKER + "\n", ""))
    assert not _export.is_skbert_card(tmp_path / "m" / "README.md")  # the user's now
    assert list(TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m").classes_) == names


def test_a_local_base_folder_with_a_backtick_stays_in_its_code_span(tmp_path, tiny_st_model):
    base = str(shutil.copytree(tiny_st_model, tmp_path / "my`<b>model"))
    X, Y = make_corpus(16, seed=2)
    TransformerMultiLabelClassifier(base, **FAST).fit(X, Y).save_pretrained(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text()
    assert "from `` my`<b>model (a local folder) `` (mean pooling" in card


@pytest.mark.parametrize("name", ["c\u202e", "\u2067x", "a\u202db"])
def test_fit_refuses_a_label_name_holding_a_bidi_override(tiny_st_model, name):
    X, Y = make_corpus(16, seed=2)
    columns = ["sports", name, "food", "tech"]
    with pytest.raises(ValueError, match=r"holds the bidirectional control .* reorders how "
                                         r"the text after it shows.*Rename"):
        TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(
            X, pd.DataFrame(Y, columns=columns))



def test_save_pretrained_expands_home_and_refuses_what_a_shell_would_have_changed(
        saved, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    clf = TransformerMultiLabelClassifier.from_pretrained(saved)
    clf.save_pretrained("~/m")  # the home folder, as a shell reads it
    assert (tmp_path / "home" / "m" / "skbert.json").is_file()
    for value, said in [("$HOME/m2", r"shell variable \$HOME"),
                        ("~nobody_skbert/m", r"home folder of a user this system does not know")]:
        with pytest.raises(ValueError, match=rf"save_pretrained: folder=.*{said}"):
            clf.save_pretrained(value)
    assert sorted(os.listdir(tmp_path)) == ["home"]  # no './~' or './$HOME' folder
    again = TransformerMultiLabelClassifier.from_pretrained("~/m")
    assert list(again.classes_) == list(clf.classes_)


def test_a_folder_named_like_the_marker_keeps_a_card_whose_marker_line_was_deleted(
        saved, tmp_path):
    from skbert import _export

    clf = TransformerMultiLabelClassifier.from_pretrained(saved)
    folder = tmp_path / _export.CARD_MARKER  # the card quotes the folder's name
    clf.save_pretrained(folder)
    card = (folder / "README.md").read_text()
    mine = "\n".join(line for line in card.splitlines() if line.strip() != _export.CARD_MARKER)
    (folder / "README.md").write_text(mine + "\nMY OWN NOTES\n")
    with pytest.warns(SkbertWarning, match="README.md"):
        clf.save_pretrained(folder)
    assert "MY OWN NOTES" in (folder / "README.md").read_text()


def test_a_label_name_with_a_lone_surrogate_is_refused_by_fit_and_from_a_folder(
        tiny_st_model, saved, tmp_path):
    X, Y = make_corpus(16, seed=2)
    columns = pd.Index(["a\ud800b", "politics", "food", "tech"], dtype=object)
    with pytest.raises(ValueError, match="lone surrogate"):
        TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(
            X, pd.DataFrame(Y, columns=columns))
    folder = _with_labels(saved, tmp_path, ["a", "b\ud800", "c", "d"])
    with pytest.raises(SavedFileError, match="lone surrogate"):
        TransformerMultiLabelClassifier.from_pretrained(folder)
