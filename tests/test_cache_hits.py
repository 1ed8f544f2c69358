"""Counting fit-cache hits from the tests, without a counter in the package (issue 21).

conftest's ``cache_hits`` spies on ``_cache.get`` (what the fit runner calls).
"""

from __future__ import annotations

from skbert import TransformerMultiLabelClassifier


def test_cache_hits_counts_what_the_fit_runner_reuses(tiny_model, corpus, cache_hits):
    X, Y = corpus
    make = dict(max_epochs=1, batch_size=8, random_state=0, device="cpu", precision="fp32")
    TransformerMultiLabelClassifier(tiny_model, **make).fit(X, Y)
    TransformerMultiLabelClassifier(tiny_model, **make).fit(X, Y)
    TransformerMultiLabelClassifier(tiny_model, **make, fit_cache=False).fit(X, Y)
    assert cache_hits == [False, True]  # fit_cache=False looks nothing up
