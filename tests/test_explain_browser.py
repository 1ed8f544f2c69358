"""The explanation page in a real browser (issue 23): headless Chromium renders it, the
screenshot shows highlighted words, the script ran, the label selector filters, and the
page logs nothing to the console (no error, no blocked load).

Needs Debian's ``chromium`` (``apt-get install -y chromium``; .ci/run installs it);
skipped with that reason when it is absent. Set ``SKBERT_EXPLAIN_PNG=path`` to keep
the screenshot (docs/_static/explain.png comes from such a run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from skbert._explain import explain
from skbert._explain_html import NEGATIVE, POSITIVE

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")

CONSOLE = re.compile(r":CONSOLE[:(]")


def chromium(url: str, tmp_path, *, screenshot=None, dump_dom=False, size=(1000, 700)):
    """Run headless Chromium on ``url``; returns (stdout, console lines)."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
            f"--window-size={size[0]},{size[1]}"]
    if screenshot is not None:
        args.append(f"--screenshot={screenshot}")
    if dump_dom:
        args.append("--dump-dom")
    run = subprocess.run(args + [url], capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    lines = [line for line in run.stderr.splitlines() if CONSOLE.search(line)]
    return run.stdout, lines


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    import pandas as pd
    import torch
    from test_explain import build_tiny_bert, planted

    from skbert import TransformerMultiLabelClassifier

    folder = build_tiny_bert(tmp_path_factory.mktemp("browser_bert"))
    X, Y = planted(300, 0)
    with torch.random.fork_rng(devices=[]):
        clf = TransformerMultiLabelClassifier(
            folder, max_epochs=15, learning_rate=3e-3, batch_size=16, max_length=32,
            precision="fp32", device="cpu", random_state=0, fit_cache=False)
        clf.fit(X, pd.DataFrame(Y, columns=["sports", "politics", "food", "tech"]))
    return clf


@pytest.fixture(scope="module")
def page(clf, tmp_path_factory):
    texts = ["we saw the football match and a pizza today",
             "the senate vote on the election was very new news",
             "a laptop with great software <and> a robot",
             "today the team ate dinner about the policy"]
    path = tmp_path_factory.mktemp("page") / "why.html"
    explain(clf, texts).to_html(path)
    return path


def test_the_check_sees_console_errors(tmp_path):
    """Control: a page that logs an error is caught (so silence below means something)."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><p>x</p>"
                   "<script>console.error('boom'); missingFunction();</script></body></html>")
    _, lines = chromium(bad.as_uri(), tmp_path, dump_dom=True)
    assert any("boom" in line for line in lines)
    assert any("missingFunction" in line for line in lines)


def test_page_renders_highlighted_words_without_console_messages(page, tmp_path):
    from PIL import Image

    png = tmp_path / "shot.png"
    _, lines = chromium(page.as_uri(), tmp_path, screenshot=png)
    assert lines == []  # no error, no blocked load, no log at all
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    red = (r - g > 60) & (r - b > 60)       # words pushing a label on
    blue = (b - r > 40) & (b - g > 10)      # words pushing a label off
    assert red.sum() > 500, red.sum()
    assert blue.sum() > 50, blue.sum()
    # the strongest words are drawn near the full colour of the scale
    near = (np.abs(img - np.array(POSITIVE) * 0.85 - 255 * 0.15).sum(-1) < 40)
    assert near.sum() > 100
    assert NEGATIVE  # the scale is diverging: both colours exist
    keep = os.environ.get("SKBERT_EXPLAIN_PNG")
    if keep:
        shutil.copyfile(png, keep)


def test_script_runs_and_selector_filters(page, tmp_path):
    dom, lines = chromium(page.as_uri(), tmp_path, dump_dom=True)
    assert lines == []
    assert "4 of 4 texts" in dom  # the script ran to its end
    assert "skx-hidden" not in dom.split("<script")[0].split("</select>")[1]
    # label 2 of the selector ("food" here: labels appear in first-seen order)
    dom, lines = chromium(page.as_uri() + "#label=2", tmp_path, dump_dom=True)
    assert lines == []
    shown = re.search(r"(\d+) of 4 texts", dom)
    assert shown and 1 <= int(shown.group(1)) < 4
    assert dom.count("skx-row skx-hidden") > 0
