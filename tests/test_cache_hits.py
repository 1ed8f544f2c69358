"""Counting fit-cache hits from the tests, without a counter in the package (issue 21).

``cache_hits`` spies on ``_cache.get`` (what the fit runner calls); it is the replacement
for ``_cache.stats`` that tests/test_estimator.py and tests/test_long_text.py read, meant
to move into tests/conftest.py.
"""

from __future__ import annotations

import pytest

from skbert import TransformerMultiLabelClassifier, _cache


@pytest.fixture
def cache_hits(monkeypatch):
    """The outcome of every fit-cache look-up of the test (True: a hit); ``sum()`` counts hits."""
    outcomes = []
    real = _cache.get

    def counting(*args, **kwargs):
        fitted = real(*args, **kwargs)
        outcomes.append(fitted is not None)
        return fitted

    monkeypatch.setattr(_cache, "get", counting)
    return outcomes


def test_cache_hits_counts_what_the_fit_runner_reuses(tiny_model, corpus, cache_hits):
    X, Y = corpus
    make = dict(max_epochs=1, batch_size=8, random_state=0, device="cpu", precision="fp32")
    TransformerMultiLabelClassifier(tiny_model, **make).fit(X, Y)
    TransformerMultiLabelClassifier(tiny_model, **make).fit(X, Y)
    TransformerMultiLabelClassifier(tiny_model, **make, fit_cache=False).fit(X, Y)
    assert cache_hits == [False, True]  # fit_cache=False looks nothing up
