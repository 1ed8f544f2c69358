"""Every example in examples/ that runs offline is run here, on the tiny random BERT.

Examples read ``SKBERT_EXAMPLE_MODEL`` (the checkpoint) and ``SKBERT_EXAMPLE_FAST=1``
(a few texts, one epoch). They run in this process with ``runpy``, because each
fresh interpreter pays several seconds of torch/transformers imports on a 2-core
machine; ``notebook_recipe.py`` runs as a real subprocess with ``--data`` and
``--model``, which also checks that an example works as a standalone script.
"""

from __future__ import annotations

import ast
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LABELS, make_corpus

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
OFFLINE = ["quickstart.py", "grid_search.py", "thresholds.py", "persistence.py", "own_data.py",
           "scaling_out.py"]
ALL = sorted(p.name for p in EXAMPLES.glob("*.py"))


def test_every_example_is_listed():
    assert sorted(OFFLINE + ["notebook_recipe.py"]) == ALL


@pytest.mark.parametrize("name", ALL)
def test_example_shape(name):
    """Short, with a sphinx-gallery header (title, underline, blank, explanation)."""
    source = (EXAMPLES / name).read_text()
    assert len(source.splitlines()) < 60
    doc = ast.get_docstring(ast.parse(source), clean=False)
    lines = doc.strip("\n").splitlines()
    assert lines[1] == "=" * len(lines[0]) and lines[2] == "" and lines[3]
    assert "SKBERT_EXAMPLE_MODEL" in source and "SKBERT_EXAMPLE_FAST" in source


@pytest.fixture
def example_env(monkeypatch, tiny_model):
    monkeypatch.setenv("SKBERT_EXAMPLE_MODEL", tiny_model)
    monkeypatch.setenv("SKBERT_EXAMPLE_FAST", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.mark.filterwarnings("ignore:.*no positive example")  # a few texts, 28 labels
@pytest.mark.parametrize("name", OFFLINE)
def test_offline_example_runs(name, example_env, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name)])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip()  # every example reports what it did
    if name in ("quickstart.py", "thresholds.py"):
        assert "micro-F1" in out


def test_notebook_recipe_offline_subprocess(tiny_model, tmp_path):
    texts, Y = make_corpus(40, seed=2)
    data = tmp_path / "data.jsonl"
    with open(data, "w") as fh:
        for t, y in zip(texts, Y):
            fh.write(json.dumps({"text": t, "labels": [n for n, v in zip(LABELS, y) if v]}) + "\n")
    env = {**os.environ, "SKBERT_EXAMPLE_FAST": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("SKBERT_EXAMPLE_MODEL", None)  # --model must win, not the environment
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "notebook_recipe.py"), "--data", str(data),
         "--model", tiny_model],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "micro-F1" in proc.stdout and "macro-F1" in proc.stdout
    assert all(label in proc.stdout for label in LABELS)
