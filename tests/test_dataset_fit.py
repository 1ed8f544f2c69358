"""Issue 12: a datasets.Dataset trains without being turned into a list."""

from __future__ import annotations

import numpy as np
import pytest

from skbert import TransformerMultiLabelClassifier, _validation

datasets = pytest.importorskip("datasets")

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            fit_cache=False, precision="fp32")


@pytest.mark.parametrize("extra", [{}, {"long_text": "chunk", "max_length": 16, "stride": 4,
                                        "threshold": "auto"}])
def test_dataset_fit_equals_list_fit(tiny_st_model, corpus, monkeypatch, extra, tmp_path):
    X, Y = corpus
    ds = datasets.Dataset.from_dict({"text": X})
    ds.save_to_disk(str(tmp_path / "ds"))
    ds = datasets.load_from_disk(str(tmp_path / "ds"))  # memory-mapped, as users have it
    listed = TransformerMultiLabelClassifier(tiny_st_model, **FAST, **extra).fit(X, Y)
    calls = []
    real = _validation.check_texts
    monkeypatch.setattr("skbert._estimator.check_texts",
                        lambda X, **kw: calls.append(type(X)) or real(X, **kw))
    mapped = TransformerMultiLabelClassifier(tiny_st_model, **FAST, **extra).fit(ds, Y)
    assert calls == []  # never materialised as a list of str
    np.testing.assert_allclose(mapped.predict_proba(X), listed.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(mapped.predict_proba(ds), listed.predict_proba(X), atol=1e-6)


def test_dataset_without_text_column_is_named(tiny_st_model, corpus):
    X, Y = corpus
    ds = datasets.Dataset.from_dict({"body": X})
    with pytest.raises(ValueError, match="no column 'text'.*rename_column"):
        TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(ds, Y)


def test_dataset_rows_must_match_Y(tiny_st_model, corpus):
    X, Y = corpus
    ds = datasets.Dataset.from_dict({"text": X[:10]})
    with pytest.raises(ValueError, match="X has 10 texts but Y has 48 rows"):
        TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(ds, Y)


def test_dataset_fit_cache_is_keyed_by_fingerprint(tiny_st_model, corpus, tmp_path,
                                                   train_calls):
    X, Y = corpus
    datasets.Dataset.from_dict({"text": X}).save_to_disk(str(tmp_path / "ds"))
    ds = datasets.load_from_disk(str(tmp_path / "ds"))
    kw = {**FAST, "fit_cache": True}
    TransformerMultiLabelClassifier(tiny_st_model, **kw).fit(ds, Y)
    TransformerMultiLabelClassifier(tiny_st_model, **kw).fit(datasets.load_from_disk(
        str(tmp_path / "ds")), Y)
    assert len(train_calls) == 1  # same files, same fingerprint: reused
    TransformerMultiLabelClassifier(tiny_st_model, **kw).fit(ds.select(range(40)), Y[:40])
    assert len(train_calls) == 2


def test_trial12_a_streaming_dataset_is_refused_with_the_fix(tiny_st_model, corpus):
    """It raised "object of type 'IterableDataset' has no len()"."""
    X, Y = corpus
    stream = datasets.Dataset.from_dict({"text": X}).to_iterable_dataset()
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16,
                                          precision="fp32", fit_cache=False)
    for call in (lambda: est.fit(stream, Y), lambda: est.fit(X, Y).predict_proba(stream)):
        with pytest.raises(TypeError, match=r"streaming datasets.IterableDataset.*without "
                                            r"streaming=True"):
            call()
