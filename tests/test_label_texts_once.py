"""A fit checks ``label_descriptions`` and makes the label texts once, and the contrastive
warm-up and the head's start read those same texts."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from conftest import KEYWORDS, LABELS

from skbert import TransformerMultiLabelClassifier, _label_init, _runner

FAST = dict(max_epochs=1, batch_size=16, max_length=16, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)
DESCRIPTIONS = {name: " ".join(words) for name, words in KEYWORDS.items()}


@pytest.fixture
def calls(monkeypatch):
    """How often a fit checks the descriptions and makes the label texts, wherever it
    calls the two functions from."""
    counted = {"check_label_descriptions": 0, "label_texts": 0}
    for name in counted:
        real = getattr(_label_init, name)

        def spy(*args, _name=name, _real=real, **kwargs):
            counted[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(_label_init, name, spy)
        monkeypatch.setattr(_runner, name, spy, raising=False)  # a copy imported there
    return counted


@pytest.mark.parametrize("head_init", ["labels", "names", "random"])
def test_one_fit_checks_the_descriptions_and_makes_the_label_texts_once(
        tiny_st_model, corpus, calls, capsys, head_init):
    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_st_model, label_descriptions=DESCRIPTIONS,
                                          contrastive_steps=3, head_init=head_init, verbose=1,
                                          **FAST)
    clf.fit(X, pd.DataFrame(Y, columns=LABELS))
    out = capsys.readouterr().out
    assert "with the texts of" in out  # the warm-up read the label texts
    assert f"head start: {head_init}" in out  # and the head started
    assert calls == {"check_label_descriptions": 1, "label_texts": 1}


def test_a_warm_refit_checks_the_descriptions_once_and_still_refuses_a_typo(tiny_st_model,
                                                                          corpus, calls):
    X, Y = corpus
    Y = pd.DataFrame(Y, columns=LABELS)
    clf = TransformerMultiLabelClassifier(tiny_st_model, label_descriptions=DESCRIPTIONS,
                                          contrastive_steps=0, warm_start=True, **FAST).fit(X, Y)
    before = dict(calls)
    clf.fit(X, Y)
    assert calls["check_label_descriptions"] - before["check_label_descriptions"] == 1
    bad = copy.deepcopy(clf).set_params(label_descriptions={"sprots": "football"})
    with pytest.raises(ValueError, match="key 'sprots', which is not one of the labels"):
        bad.fit(X, Y)
