"""Hostile cases for the CLI's --out folder (skbert._cli_paths.save_model)."""

from __future__ import annotations

import os

import pytest

from skbert import _cli_paths


class _Saver:
    """Stands in for a fitted classifier: writes a file, and lets a test race it."""

    def __init__(self, race=None):
        self.race = race

    def save_pretrained(self, folder):
        with open(os.path.join(folder, "skbert.json"), "w") as fh:
            fh.write("{}")
        if self.race is not None:
            self.race()


def test_item01_overwrite_out_filled_by_user_while_training_keeps_the_model(tmp_path):
    """--overwrite over a folder the user filled while training: both survive.

    On 1adb55c the refusal at the rename deleted the finished model.
    """
    out = tmp_path / "out"

    def race():
        out.mkdir()
        (out / "notes.txt").write_text("the user's")

    with pytest.raises(FileExistsError, match="filled by something else") as info:
        _cli_paths.save_model(_Saver(race), str(out), overwrite=True)
    assert sorted(os.listdir(out)) == ["notes.txt"]
    kept = [n for n in os.listdir(tmp_path) if n.endswith(".skbert-kept")]
    assert len(kept) == 1 and str(tmp_path / kept[0]) in str(info.value)
    assert sorted(os.listdir(tmp_path / kept[0])) == ["skbert.json"]
    assert sorted(os.listdir(tmp_path)) == sorted(["out", kept[0]])
