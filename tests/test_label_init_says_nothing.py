"""One rule for a label text that says nothing, judged alike by the contrastive warm-up, the
head's start and the zero-shot classifier: a text the model's tokenizer reads (within
``max_length``) as nothing but its unknown token and special tokens (``[PAD]``, ``[SEP]``,
``[CLS]``, ...) tells its label apart from nothing."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from conftest import KEYWORDS, LABELS

from skbert import TransformerMultiLabelClassifier, ZeroShotMultiLabelClassifier
from skbert._utils import SkbertWarning

FAST = dict(max_epochs=1, batch_size=16, max_length=16, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)
DESCRIPTIONS = {name: " ".join(words) for name, words in KEYWORDS.items()}

#: Texts that say nothing to the tiny vocabulary (it knows the keywords and fillers, and
#: the special tokens), the last one only within max_length=16.
SILENT = ["[PAD] [SEP]", "xyzzy [SEP]", "[CLS] [MASK] [UNK]", "[PAD] " * 20 + "pizza"]


def _fit_messages(path, corpus, descriptions, **kwargs) -> list[warnings.WarningMessage]:
    X, Y = corpus
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        TransformerMultiLabelClassifier(path, label_descriptions=descriptions,
                                        **{**FAST, **kwargs}).fit(
            X, pd.DataFrame(Y, columns=LABELS))
    return [w for w in record if issubclass(w.category, SkbertWarning)]


def _zero_shot(path, descriptions):
    return ZeroShotMultiLabelClassifier(LABELS, label_descriptions=descriptions,
                                        model_name_or_path=path, max_length=16,
                                        device="cpu", precision="fp32")


@pytest.mark.parametrize("text", SILENT)
def test_a_names_head_warns_about_a_description_of_special_tokens(tiny_st_model, corpus,
                                                                 text):
    record = _fit_messages(tiny_st_model, corpus, {**DESCRIPTIONS, "sports": text},
                           head_init="names", contrastive_steps=0)
    said = [w for w in record if "says nothing about its label" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in record]
    message = str(said[0].message)
    assert f"'sports' (text {text[:40]!r})" in message
    assert "only the unknown token '[UNK]' or special tokens ('[" in message
    assert "label_descriptions={\"sports\": \"words saying what it means\"" in message
    assert said[0].filename == __file__  # the user's fit line
    assert not [m for m in said if "'politics'" in str(m.message)]  # the others say something


@pytest.mark.parametrize("text", SILENT)
def test_the_zero_shot_classifier_refuses_a_description_of_special_tokens(tiny_st_model,
                                                                         text):
    with pytest.raises(ValueError, match=r"1 label\(s\) have a name \(or description\)") as info:
        _zero_shot(tiny_st_model, {**DESCRIPTIONS, "sports": text}).fit()
    message = str(info.value)
    assert f"'sports' (text {text!r})" in message
    assert "special tokens" in message and "'[UNK]'" in message
    assert 'label_descriptions={"sports": "words saying what it means", ...}' in message


@pytest.mark.parametrize("text, silent", [
    *[(text, True) for text in SILENT],
    ("[SEP] pizza recipe", False),  # a known word among special tokens says something
    ("xyzzy laptop", False),
])
def test_the_warm_up_the_head_and_the_zero_shot_classifier_judge_alike(tiny_st_model, corpus,
                                                                      text, silent):
    descriptions = {**DESCRIPTIONS, "sports": text}
    record = _fit_messages(tiny_st_model, corpus, descriptions, head_init="labels",
                           contrastive_steps=3)
    messages = [str(w.message) for w in record]
    warm_up = [m for m in messages if "warm-up leaves out the label_descriptions" in m
               and "'sports': it reads as unknown or special tokens only" in m]
    head = [m for m in messages if "says nothing about its label" in m and "'sports'" in m]
    try:
        _zero_shot(tiny_st_model, descriptions).fit()
        refused = False
    except ValueError as error:
        refused = "'sports'" in str(error)
    assert (bool(warm_up), bool(head), refused) == (silent, silent, silent), messages


def test_only_what_max_length_embeds_counts(tiny_st_model, corpus):
    """The same description says something once max_length reaches its word."""
    text = "[PAD] " * 20 + "pizza"
    record = _fit_messages(tiny_st_model, corpus, {**DESCRIPTIONS, "sports": text},
                           head_init="names", contrastive_steps=0, max_length=32)
    assert not [w for w in record if "says nothing about its label" in str(w.message)]
    _zero_shot(tiny_st_model, {**DESCRIPTIONS, "sports": text}).set_params(
        max_length=32).fit()
