"""Fits started together in threads of one fresh process (joblib's threading backend)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))

SCRIPT = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, {tests!r})
    from conftest import make_corpus
    from skbert import TransformerMultiLabelClassifier

    X, Y = make_corpus(16)
    errors, fitted = [], []

    def fit(seed):
        try:
            est = TransformerMultiLabelClassifier(
                {model!r}, max_epochs=1, batch_size=8, random_state=seed, device="cpu",
                precision="fp32", contrastive_steps=0, fit_cache=False)
            fitted.append(est.fit(X, Y).predict_proba(X).shape)
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=fit, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("errors", errors)
    print("fitted", fitted)
""")


def test_fits_started_together_in_threads_all_succeed(tiny_st_model):
    """transformers' lazy names were fetched by four threads at once: three of them got
    ``ImportError: cannot import name 'CONFIG_MAPPING' from 'transformers'`` (a grid
    search under joblib's threading backend lost a fit every time)."""
    code = SCRIPT.format(tests=HERE, model=tiny_st_model)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([os.path.dirname(HERE),
                                          os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "errors []" in out.stdout, out.stdout
    assert out.stdout.count("(16, 4)") == 4
