"""Checks that need a CUDA GPU; skipped elsewhere (CI has none).

Run them on a GPU machine with ``python -m pytest -m gpu tests/test_gpu.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import joblib
import numpy as np
import pytest
import torch

from skbert import TransformerMultiLabelClassifier

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _fit(path, corpus, **kw):
    X, Y = corpus
    params = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cuda")
    params.update(kw)
    return TransformerMultiLabelClassifier(path, **params).fit(X, Y)


def test_auto_device_and_precision_on_cuda(tiny_st_model, corpus):
    clf = _fit(tiny_st_model, corpus, device="auto")
    assert clf.device_.type == "cuda"
    assert next(clf.model_.parameters()).is_cuda
    major, _ = torch.cuda.get_device_capability()
    assert clf.precision_ == ("bf16" if major >= 8 else "fp16")
    proba = clf.predict_proba(corpus[0])
    assert np.isfinite(proba).all() and ((proba > 0) & (proba < 1)).all()


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_every_precision_trains(tiny_st_model, corpus, precision):
    clf = _fit(tiny_st_model, corpus, precision=precision)
    losses = [r["train_loss"] for r in clf.history_]
    assert all(np.isfinite(losses))
    assert clf.precision_ == precision


def test_cuda_pickle_loads_on_a_machine_without_gpu(tiny_st_model, corpus, tmp_path):
    clf = _fit(tiny_st_model, corpus)
    X = corpus[0]
    expected = clf.predict_proba(X)
    joblib.dump(clf, tmp_path / "clf.joblib")
    np.save(tmp_path / "X.npy", np.asarray(X, dtype=object), allow_pickle=True)
    code = (
        "import joblib, numpy as np, torch, warnings\n"
        "assert not torch.cuda.is_available()\n"
        f"X = np.load({str(tmp_path / 'X.npy')!r}, allow_pickle=True).tolist()\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        f"    clf = joblib.load({str(tmp_path / 'clf.joblib')!r})\n"
        "assert any('DeviceWarning' in type(x.message).__name__ for x in w), w\n"
        "assert clf.device_.type == 'cpu'\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, clf.predict_proba(X))\n"
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, atol=2e-2)
