"""Review leftovers (2): the folder constraint keeps no state between a check and its
message; the checks of ``X_val``/``Y_val`` name them from the start (no rewrite of an
``X``/``Y`` message afterwards); a fitted embedder hashes its weights once, not per pickle."""

from __future__ import annotations

import pickle
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.utils._param_validation import InvalidParameterError

from skbert import (
    SkbertWarning,
    TransformerEmbedder,
    TransformerMultiLabelClassifier,
    _embedder,
    _estimator,
    _params,
)
from skbert._params import FolderPath, check_parameters, folder_problem
from skbert._validation import check_targets, check_text_dataset, check_texts

#: A bare X or Y in a message (not in 'X', X_val, Y's ...: what the old rewrite renamed).
BARE = re.compile(r"(?<![\w'.])([XY])(?!\w)")
#: Where the MultiLabelBinarizer fix starts: for Y_val it names Y's binarizer, on purpose.
MLB_FIX = "Encode the labels as an indicator matrix"


def _before_fix(message: str) -> str:
    return message.split(MLB_FIX)[0]


def _message(fn, *args, **kwargs) -> tuple[type, str] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            return type(exc), str(exc)
    return None


# ---------------------------------------------------------- 1. FolderPath is stateless
def test_folder_constraint_keeps_no_state_between_check_and_message():
    """A refusal leaves nothing behind: the table's constraint describes itself plainly
    afterwards, in this thread and any other; only the constraint told the value says
    its problem."""
    c = FolderPath("fit_cache")
    assert c.is_satisfied_by("") is False
    assert str(c) == c.describe() == "a folder path (a str or path-like)"
    told = c.refusing("")
    assert str(told) == f"{c.describe()}; {folder_problem('fit_cache', '')}"
    assert str(c.refusing("fits")) == str(c.refusing(3)) == c.describe()
    assert [told.is_satisfied_by(v) for v in ("", "fits", 3)] == [False, True, False]
    assert not any(isinstance(v, threading.local) for v in vars(_params).values())


def test_folder_errors_are_unchanged_and_name_their_own_value():
    est = TransformerMultiLabelClassifier(fit_cache="")
    with pytest.raises(InvalidParameterError) as info:
        est._validate_params()
    assert re.fullmatch(re.escape(
        "The 'fit_cache' parameter of TransformerMultiLabelClassifier must be an instance of "
        "'bool' or an instance of 'numpy.bool' or a folder path (a str or path-like); "
        f"{folder_problem('fit_cache', '')}. Got '' instead.").replace(
            re.escape("numpy.bool'"), r"numpy\.bool_?'"),  # numpy 1 names it bool_
        str(info.value)), str(info.value)
    # a refused value that is no path at all: the plain description, no earlier problem
    with pytest.raises(InvalidParameterError) as info:
        TransformerMultiLabelClassifier(fit_cache=3)._validate_params()
    assert str(info.value).endswith("or a folder path (a str or path-like). Got 3 instead.")


def test_folder_errors_from_many_threads_each_name_their_own_problem():
    given = [("fit_cache", ""), ("checkpoint_dir", "$HOME/x"), ("fit_cache", "True"),
             ("checkpoint_dir", "~no-such-user-skbert/x"), ("fit_cache", "${TMPDIR}/y"),
             ("fit_cache", 3)] * 8

    def refusal(name_value):
        name, value = name_value
        with pytest.raises(InvalidParameterError) as info:
            TransformerMultiLabelClassifier(**{name: value})._validate_params()
        return str(info.value)

    with ThreadPoolExecutor(max_workers=8) as pool:
        messages = list(pool.map(refusal, given))
    for (name, value), message in zip(given, messages):
        problem = folder_problem(name, value) if isinstance(value, str) else None
        told = f"; {problem}" if problem else ""
        assert message.endswith(f"a folder path (a str or path-like){told}. Got {value!r} "
                                "instead."), message


def test_check_parameters_refuses_what_sklearn_refuses_and_accepts_the_rest():
    constraints = {"fit_cache": ["boolean", FolderPath("fit_cache")],
                   "n": "no_validation", "checkpoint_dir": [None, FolderPath("checkpoint_dir")]}
    check_parameters(constraints, {"fit_cache": "fits", "n": object(), "checkpoint_dir": None},
                     caller_name="C")
    with pytest.raises(InvalidParameterError, match=r"The 'checkpoint_dir' parameter of C "
                                                    r"must be None or .*names no folder"):
        check_parameters(constraints, {"fit_cache": True, "checkpoint_dir": "  "},
                         caller_name="C")


# --------------------------------------------- 2. X_val / Y_val named from the start
def _bad_texts():
    import datasets

    return ["abc", b"abc", pd.DataFrame({"a": ["x"], "b": ["y"]}), np.array([["a", "b"]]),
            {"a", "b"}, {"a": 1}, 3, [], ["a", None, "b"], ["a", 3],
            datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"]})})]


_BAD_TARGETS = [
    pd.DataFrame({"a": [1, None], "b": [0, 1]}),
    pd.DataFrame(index=[0, 1]),
    pd.DataFrame({"a": pd.arrays.SparseArray([1, 0], dtype=bool), "b": [0, 1]}),
    pd.DataFrame({"a": pd.Categorical([0, 1]), "b": [0, 1]}),
    pd.DataFrame({"a": pd.arrays.SparseArray([1, 0], fill_value=1), "b": [0, 1]}),
    pd.DataFrame({"a": ["x", "y"], "b": [0, 1]}),
    pd.DataFrame([[0, 1], [1, 0]], columns=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)])),
    pd.DataFrame([[0, 1], [1, 0]], columns=[1.5, "b"]),
    pd.DataFrame([[0, 1], [1, 0]], columns=[1, "1"]),
    pd.DataFrame([[0, 1], [1, 0]], columns=["a", "a "]),
    pd.DataFrame([[0, 1], [1, 0]], columns=["a", "a"]),
    pd.DataFrame({"spam": [0, 1]}),
    [["joy"], ["anger", "fear"]], [[0, 1], [1]], np.array([0, 1]), np.array([[0], [1]]),
    np.array([0, 3]), np.zeros((2, 2, 2)), np.zeros((2, 0)), np.array([["a", "b"], ["c", "d"]]),
    np.array([[0, np.nan], [1, 0]]), np.array([[0, 2], [1, 0]]),
    np.array([[0, 2, 3], [1, 0, 5]]), np.array([[0, 1], [1, 0], [1, 1]]),
    sp.csr_matrix(np.array([[0, 2], [1, 0]])),
]


def test_text_checks_name_x_val_everywhere_in_their_messages():
    """Every refusal of check_texts(name='X_val') is the X message with each X (and the Y
    it speaks of) named X_val/Y_val, the fixes included, and no bare X or Y left."""
    for bad in _bad_texts():
        plain, named = _message(check_texts, bad), _message(check_texts, bad, name="X_val")
        assert plain is not None and named is not None, bad
        assert named == (plain[0], BARE.sub(r"\1_val", plain[1]))
        assert not BARE.search(named[1]), named[1]


@pytest.mark.parametrize("bad", _BAD_TARGETS, ids=range(len(_BAD_TARGETS)))
def test_target_checks_name_y_val_everywhere_in_their_messages(bad):
    plain = _message(check_targets, bad, 2)
    named = _message(check_targets, bad, 2, name="Y_val")
    assert (plain is None) == (named is None)
    if plain is None:  # accepted by this pandas (the oldest supported reads sparse bools)
        return
    assert named[0] == plain[0]
    assert _before_fix(named[1]) == BARE.sub(r"\1_val", _before_fix(plain[1]))
    assert not BARE.search(_before_fix(named[1])), named[1]
    if MLB_FIX in plain[1]:  # Y_val's columns must be Y's: the binarizer fitted on Y
        assert "Y_val = mlb.transform(val_label_lists)" in named[1]


def test_default_messages_still_speak_of_x_and_y():
    assert _message(check_targets, np.array([[0, 1], [1, 0], [1, 1]]), 2) == (
        ValueError, "X has 2 texts but Y has 3 rows; they must match. Pass one row of Y per "
        "text, in the order of X.")
    # the column-name fixes name the frame, not its last column (1.columns)
    _, text = _message(check_targets, pd.DataFrame([[0, 1], [1, 0]], columns=[1, "1"]), 2)
    assert "Y.columns = ['label_' + str(c) for c in Y.columns]" in text
    _, text = _message(check_targets, pd.DataFrame([[0, 1], [1, 0]], columns=["a", "a "]), 2)
    assert "(Y.columns = [''.join(ch for ch in unicodedata.normalize" in text
    import datasets

    empty = datasets.Dataset.from_dict({"text": []})
    assert _message(check_text_dataset, empty)[1].startswith("X is an empty datasets.Dataset")
    assert _message(check_text_dataset, empty, name="X_val")[1].startswith(
        "X_val is an empty datasets.Dataset")


def _hf_splits(texts):
    import datasets

    return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": texts})})


def _with_nan(Y):
    Y = Y.astype(float)
    Y[0, 0] = np.nan
    return Y


@pytest.mark.parametrize("make, words", [
    (lambda X, Y: (X[:2] + [3], Y[:3]),
     r"^X_val\[2\] is int \(3\), but every element of X_val must be a str"),
    (lambda X, Y: ("a text", Y[:1]), r"Wrap a single text in a list: X_val=\[text\]"),
    (lambda X, Y: (_hf_splits(X[:6]), Y[:6]),
     r"^X_val is a datasets.DatasetDict .* X_val=ds\['train'\]"),
    (lambda X, Y: (X[:2], [["joy"], ["anger", "fear"]]),
     r"^Y_val looks like a list of label lists(.|\n)*    Y_val = mlb.transform\(val_label_lists\)"),
    (lambda X, Y: (X[:6], _with_nan(Y[:6])),
     r"^Y_val holds \S*nan\S* at row 0, column 0.*np.nan_to_num\(Y_val, nan=0\)"),
], ids=["element", "str", "DatasetDict", "label lists", "nan"])
def test_fit_names_the_validation_set_in_its_errors(tiny_st_model, corpus, train_calls,
                                                    make, words):
    X, Y = corpus
    X_val, Y_val = make(list(X), Y)
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, fit_cache=False)
    with pytest.raises((ValueError, TypeError), match=words) as info:
        est.fit(X, Y, X_val=X_val, Y_val=Y_val)
    assert not BARE.search(_before_fix(str(info.value)))
    assert train_calls == []
    assert not hasattr(_estimator, "_speaking_of_the_validation_set")  # no rewrite left


# ------------------------------------------------- 3. embedder: one hash per weights
@pytest.fixture
def hashes(monkeypatch):
    """The calls of the weights hash (``_embedder._weights_sha256``), counted."""
    calls = []
    real = _embedder._weights_sha256

    def counting(model):
        calls.append(model)
        return real(model)

    monkeypatch.setattr(_embedder, "_weights_sha256", counting)
    return calls


def test_pickling_twice_hashes_the_weights_once(tiny_st_model, corpus, hashes):
    X, _ = corpus
    emb = TransformerEmbedder(tiny_st_model, device="cpu", precision="fp32").fit(X)
    assert hashes == []  # fit reads no weights for a digest nobody asked for
    first, second = pickle.dumps(emb), pickle.dumps(emb)
    assert len(hashes) == 1
    assert first == second  # the same digest recorded
    assert "_weights_digest" not in emb.__getstate__()  # the cache is never pickled


def test_unpickling_still_verifies_and_its_hash_is_reused(tiny_st_model, corpus, hashes):
    X, _ = corpus
    blob = pickle.dumps(TransformerEmbedder(tiny_st_model, device="cpu",
                                            precision="fp32").fit(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkbertWarning)  # the same weights: no warning
        loaded = pickle.loads(blob)
    assert len(hashes) == 2  # the pickle's, and the check of the weights loaded again
    pickle.dumps(loaded)
    pickle.dumps(loaded)
    assert len(hashes) == 2  # the check's digest is the one the next pickles record


def test_weights_changed_in_place_are_hashed_again(tiny_st_model, corpus, hashes):
    """An edit of the weights (load_state_dict, copy_) is seen: the next pickle hashes
    again, and unpickling it warns that the model folder's weights differ."""
    X, _ = corpus
    emb = TransformerEmbedder(tiny_st_model, device="cpu", precision="fp32").fit(X)
    before = pickle.dumps(emb)
    with torch.no_grad():
        emb.model_.embeddings.word_embeddings.weight.mul_(2.0)
    after = pickle.dumps(emb)
    assert len(hashes) == 2 and after != before
    with pytest.warns(SkbertWarning, match="weights at .* differ from those"):
        pickle.loads(after)
    state = {k: v.clone() for k, v in emb.model_.state_dict().items()}
    emb.model_.load_state_dict(state)  # the same values, written again: hashed again
    pickle.dumps(emb)
    assert len(hashes) == 4  # (the unpickling above hashed once)


def test_a_refit_hashes_its_new_weights(tiny_st_model, tiny_model, corpus, hashes):
    X, _ = corpus
    emb = TransformerEmbedder(tiny_st_model, device="cpu", precision="fp32").fit(X)
    pickle.dumps(emb)
    emb.set_params(model_name_or_path=tiny_model).fit(X)
    pickle.dumps(emb)
    assert len(hashes) == 2 and hashes[0] is not hashes[1]


# ------------------------------------------------- pickles of an earlier version
def test_a_pickle_without_a_newer_parameter_loads_with_its_default(tiny_model):
    """A pickle made before contrastive_label_texts existed predicts, clones and prints."""
    from conftest import make_corpus
    from sklearn.base import clone

    X, Y = make_corpus(16, seed=0)
    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=1, max_length=16,
                                          precision="fp32", device="cpu", fit_cache=False,
                                          random_state=0).fit(X, Y)
    state = clf.__getstate__()
    del state["contrastive_label_texts"]  # as skbert 0c6a5d8 pickled it
    old = TransformerMultiLabelClassifier.__new__(TransformerMultiLabelClassifier)
    old.__setstate__(state)
    assert old.get_params()["contrastive_label_texts"] is True
    np.testing.assert_array_equal(old.predict_proba(X), clf.predict_proba(X))
    assert "TransformerMultiLabelClassifier(" in repr(clone(old))


def test_y_val_as_label_lists_is_told_to_use_ys_binarizer(tiny_model):
    from conftest import make_corpus

    X, Y = make_corpus(16, seed=0)
    with pytest.raises((ValueError, TypeError)) as info:
        TransformerMultiLabelClassifier(tiny_model, max_epochs=1, device="cpu").fit(
            X, Y, X_val=X[:2], Y_val=[["sports"], ["food"]])
    message = str(info.value)
    assert "Y_val = mlb.transform(val_label_lists)" in message
    assert "fit_transform" not in message
