"""Hostile cases at the estimator (issue 20): folders the user names that skbert must
not write into, and label names that collide. Every case is built by a fixture.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

from skbert import TransformerMultiLabelClassifier

FAST = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)


def _listing(folder) -> dict[str, tuple[int, int]]:
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            st = os.stat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), folder)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def saved_model(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    folder = tmp_path / "model"
    TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("where, how", [(".", "is"), ("ckpt", "sits inside"),
                                        ("..", "contains")])
def test_item12_checkpoint_dir_in_the_model_folder_is_refused(saved_model, corpus, where, how,
                                                              train_calls):
    X, Y = corpus
    before = _listing(saved_model.parent)
    est = TransformerMultiLabelClassifier.from_pretrained(saved_model, device="cpu")
    est.set_params(checkpoint_dir=os.path.normpath(saved_model / where), **FAST)
    with pytest.raises(ValueError, match=f"{how} the model folder.*outside the model folder"):
        est.fit(X, Y)
    assert train_calls == [] and _listing(saved_model.parent) == before


def test_item12_a_link_to_the_model_folder_is_refused_too(saved_model, corpus, tmp_path,
                                                          train_calls):
    X, Y = corpus
    link = tmp_path / "link"
    link.symlink_to(saved_model, target_is_directory=True)
    est = TransformerMultiLabelClassifier(str(saved_model), checkpoint_dir=str(link), **FAST)
    with pytest.raises(ValueError, match="is the model folder"):
        est.fit(X, Y)
    assert train_calls == []


def test_item12_a_checkpoint_dir_beside_the_model_folder_works(saved_model, corpus, tmp_path):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(str(saved_model), checkpoint_dir=tmp_path / "ckpt",
                                          **FAST).fit(X, Y)
    assert est.n_epochs_ == 1 and os.listdir(tmp_path / "ckpt")


def test_item10_label_names_equal_as_strings_are_refused(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    frame = pd.DataFrame(Y, columns=[1, "1", "b", "c"])
    with pytest.raises(ValueError, match="'1'"):
        TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, frame)
    assert train_calls == []
