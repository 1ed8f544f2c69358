"""The model card's thresholds come from ``skbert.json``'s ``label_thresholds`` (issue 21).

The card no longer resolves the ``threshold`` parameter itself: the thresholds in force
when the model was saved are recorded in ``skbert.json`` (``label_thresholds``, one per
label), validated on loading like every other value, and read by the card. Folders of
older versions, which lack the field, still load and still get a card from what they
recorded (the ``threshold`` parameter, and ``thresholds_`` when it is ``"auto"``).
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import LABELS

from skbert import TransformerMultiLabelClassifier, _export, _persistence

FAST = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)


@pytest.fixture(scope="module")
def fitted(tiny_model, corpus):
    X, Y = corpus
    return TransformerMultiLabelClassifier(tiny_model, threshold=[0.3, 0.4, 0.5, 0.6],
                                           **FAST).fit(X, pd.DataFrame(Y, columns=LABELS))


@pytest.fixture(scope="module")
def folder(fitted, tmp_path_factory):
    path = tmp_path_factory.mktemp("card_thresholds") / "m"
    fitted.save_pretrained(path)
    return path


def edited(folder, tmp_path, **changes):
    """A copy of ``folder`` whose skbert.json has ``changes`` (a None value removes the key)."""
    copy = shutil.copytree(folder, tmp_path / "m")
    settings = json.loads((copy / "skbert.json").read_text())
    params = changes.pop("params", {})
    for key, value in changes.items():
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    settings["params"].update(params)
    (copy / "skbert.json").write_text(json.dumps(settings))
    return copy


def card(folder) -> str:
    _export.write_model_card(str(folder))
    return (folder / "README.md").read_text()


def test_card_reads_the_recorded_thresholds_not_the_parameter(folder, tmp_path):
    copy = edited(folder, tmp_path, label_thresholds=[0.11, 0.22, 0.33, 0.44],
                  params={"threshold": 0.5})
    text = card(copy)
    for i, (label, t) in enumerate(zip(LABELS, [0.11, 0.22, 0.33, 0.44])):
        assert f"| {i} | {label} | {t} |" in text
    assert "tuned on the validation split" not in text


def test_card_says_tuned_when_the_recorded_thresholds_are_the_tuned_ones(folder, tmp_path):
    tuned = [0.25, 0.35, 0.45, 0.55]
    copy = edited(folder, tmp_path, label_thresholds=tuned, thresholds_=tuned,
                  params={"threshold": "auto"})
    text = card(copy)
    assert "| 3 | " + LABELS[3] + " | 0.55 |" in text
    assert "tuned on the validation split" in text


@pytest.mark.parametrize("threshold, tuned, shown", [
    ([0.3, 0.4, 0.5, 0.6], None, ["0.3", "0.4", "0.5", "0.6"]),
    (0.25, None, ["0.25"] * 4),
    ("auto", [0.1, 0.2, 0.3, 0.4], ["0.1", "0.2", "0.3", "0.4"]),
    ("auto", None, ["–"] * 4),  # fitted without a validation split: no threshold in force
])
def test_old_folder_without_label_thresholds_loads_and_gets_a_card(folder, tmp_path, threshold,
                                                                   tuned, shown):
    copy = edited(folder, tmp_path, label_thresholds=None, thresholds_=tuned,
                  params={"threshold": threshold})
    assert "label_thresholds" not in json.loads((copy / "skbert.json").read_text())
    text = card(copy)
    for i, (label, t) in enumerate(zip(LABELS, shown)):
        assert f"| {i} | {label} | {t} |" in text
    assert ("tuned on the validation split" in text) == (tuned is not None)
    loaded = TransformerMultiLabelClassifier.from_pretrained(copy)
    assert loaded.classes_.tolist() == LABELS


@pytest.mark.parametrize("value", [
    "0.5", 0.5, [0.5, 0.5, 0.5], [0.5] * 5, [0.5, 0.5, 0.5, 1.5], [0.5, 0.5, 0.5, -0.1],
    [0.5, 0.5, 0.5, True], [0.5, 0.5, 0.5, "0.5"], [0.5, 0.5, 0.5, float("nan")],
    [0.5, 0.5, 0.5, float("inf")], {"sports": 0.5},
])
def test_bad_label_thresholds_are_refused_on_loading(folder, tmp_path, value):
    copy = edited(folder, tmp_path, label_thresholds=value)
    with pytest.raises(ValueError,
                       match=r"skbert\.json.*'label_thresholds'.*4 numbers in \[0, 1\]"):
        TransformerMultiLabelClassifier.from_pretrained(copy)
    with pytest.raises(ValueError, match="label_thresholds"):
        _export.write_model_card(str(copy))


def test_save_folder_records_one_threshold_per_label(fitted, tmp_path):
    settings = json.loads((_save_settings(fitted, tmp_path, 0.3)).read_text())
    assert settings["label_thresholds"] == [0.3] * 4
    settings = json.loads((_save_settings(fitted, tmp_path, [0.1, 0.2, 0.3, 0.4], "n")
                           ).read_text())
    assert settings["label_thresholds"] == [0.1, 0.2, 0.3, 0.4]


@pytest.mark.parametrize("value", [1.5, [0.5, 0.5], [0.5, 0.5, 0.5, float("nan")], "x"])
def test_save_folder_refuses_thresholds_that_would_not_load(fitted, tmp_path, value):
    with pytest.raises(ValueError, match="4 numbers in \\[0, 1\\], one per label"):
        _save_settings(fitted, tmp_path, value)
    assert not (tmp_path / "m" / "skbert.json").exists()


def _save_settings(fitted, tmp_path, value, name="m"):
    """Save ``fitted`` through save_folder with ``label_thresholds=value``; its skbert.json."""
    original = json.loads((_saved_once(fitted, tmp_path) / "skbert.json").read_text())
    original["label_thresholds"] = value
    _persistence.save_folder(str(tmp_path / name), fitted.model_, fitted.tokenizer_, original)
    return tmp_path / name / "skbert.json"


def _saved_once(fitted, tmp_path):
    path = tmp_path / "reference"
    if not path.exists():
        fitted.save_pretrained(path)
    return path


def test_save_pretrained_records_the_thresholds_in_force(fitted, tmp_path):
    fitted.save_pretrained(tmp_path / "a")
    assert json.loads((tmp_path / "a" / "skbert.json").read_text())["label_thresholds"] == [
        0.3, 0.4, 0.5, 0.6]
    est = fitted.set_params(threshold=0.2)
    try:
        est.save_pretrained(tmp_path / "b")
    finally:
        est.set_params(threshold=[0.3, 0.4, 0.5, 0.6])
    assert json.loads((tmp_path / "b" / "skbert.json").read_text())["label_thresholds"] == [
        0.2] * 4
    assert "| 0 | " + LABELS[0] + " | 0.2 |" in (tmp_path / "b" / "README.md").read_text()


@pytest.mark.parametrize("min_labels, recorded, shown, promise", [
    ("auto", 1, "| `min_labels` | 1 (auto) |", "at least 1 label:"),
    ("auto", 0, "| `min_labels` | 0 (auto) |", None),
    (0, 1, "| `min_labels` | 0 |", None),  # the parameter is in force, not min_labels_
    (2, 1, "| `min_labels` | 2 |", "at least 2 labels:"),
    (99, 1, "| `min_labels` | 99 |", "at least 4 labels:"),  # capped at the labels
    ("auto", None, "| `min_labels` | auto |", None),  # a folder older than min_labels_
])
def test_card_states_the_min_labels_in_force(folder, tmp_path, min_labels, recorded, shown,
                                             promise):
    text = card(edited(folder, tmp_path, min_labels_=recorded,
                       params={"min_labels": min_labels}))
    assert shown in text
    assert ("`predict` gives every text at least" in text) == (promise is not None)
    if promise:
        assert promise in text
        # a paragraph of its own: right after the table a markdown renderer reads a table row
        before = text[:text.index("`predict` gives every text")]
        assert before.endswith("|\n\n")
