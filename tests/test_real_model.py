"""One short fine-tune of the real bundled all-MiniLM-L6-v2 on the bundled GoEmotions sample.

It must rank labels better on held-out texts than predicting every label's
training frequency, the best a model that ignores the text can do.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from sklearn.metrics import label_ranking_average_precision_score

from skbert import TransformerMultiLabelClassifier
from skbert.datasets import load_goemotions


@pytest.fixture
def all_threads():
    n = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield
    torch.set_num_threads(n)


def test_minilm_beats_label_frequencies_on_held_out_texts(all_threads):
    train = load_goemotions(subset="train")
    test = load_goemotions(subset="test")
    X, Y = train.data[:600], train.target[:600]
    Xt, Yt = test.data[:300], test.target[:300]

    clf = TransformerMultiLabelClassifier(max_epochs=1, learning_rate=3e-4, max_length=64,
                                          random_state=0, fit_cache=False)
    clf.fit(X, Y)
    assert clf.pooling_ == "mean"  # the bundled checkpoint is a sentence-embedding model

    proba = clf.predict_proba(Xt)
    frequencies = np.tile(Y.mean(axis=0), (len(Xt), 1))
    lrap_model = label_ranking_average_precision_score(Yt, proba)
    lrap_prior = label_ranking_average_precision_score(Yt, frequencies)
    print(f"LRAP model {lrap_model:.3f}, label frequencies {lrap_prior:.3f}")
    assert lrap_model > lrap_prior + 0.05, (lrap_model, lrap_prior)
