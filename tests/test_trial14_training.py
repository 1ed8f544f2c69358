"""Trial 14 (training side): a lambda ``scoring`` and the fit-cache key, scorers that cannot
score a multi-label target refused before training, and a validation score that comes out
NaN (``roc_auc`` with a label that has no positive validation text)."""

from __future__ import annotations

import math
import threading
import warnings

import numpy as np
import pytest
from conftest import make_corpus
from sklearn.metrics import f1_score
from torch import nn

from skbert import TransformerMultiLabelClassifier, _cache
from skbert._param_key import by_code
from skbert._training import Selection
from skbert._utils import SkbertWarning

FAST = dict(max_epochs=1, batch_size=16, max_length=16, random_state=0, device="cpu",
            precision="fp32", threshold=0.5)


def module_scorer(estimator, X, Y):
    """A scorer defined at module level: it pickles by its name."""
    return f1_score(Y, estimator.predict(X), average="micro")


def _fit(model, X, Y, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        clf = TransformerMultiLabelClassifier(model, **{**FAST, **kwargs}).fit(X, Y)
    return clf, [w for w in record if issubclass(w.category, SkbertWarning)]


# ---------------------------------------------------- 1. a lambda scoring and the fit cache
def _weighted(weight):
    return lambda est, X, Y: weight * f1_score(Y, est.predict(X), average="micro")


def test_a_lambda_scoring_keys_the_fit_cache_by_its_code(tiny_model, train_calls):
    X, Y = make_corpus(40)
    for scorer in (_weighted(1.0), _weighted(1.0), _weighted(0.5)):  # last: another closure value
        clf, said = _fit(tiny_model, X, Y, scoring=scorer, early_stopping=True)
        assert clf.history_[0]["valid_score"] is not None and not said
    assert len(train_calls) == 2
    assert clf.fit_cache_hit_ is False


def test_a_scorer_closing_over_what_cannot_be_pickled_trains_and_says_why(tiny_model,
                                                                           train_calls):
    X, Y = make_corpus(40)
    calls = (i for i in range(10**6))  # a generator: pickle refuses it

    def scorer(est, X, Y):
        next(calls)
        return f1_score(Y, est.predict(X), average="micro")

    for _ in range(2):
        clf, said = _fit(tiny_model, X, Y, scoring=scorer, early_stopping=True)
        [w] = [w for w in said if "not stored in the fit cache" in str(w.message)]
        assert w.filename == __file__  # the user's fit line, not skbert's
        assert "scoring=<function" in str(w.message) and "fit_cache=False" in str(w.message)
        assert X[0] not in str(w.message)
    assert len(train_calls) == 2  # not recognised, so trained again


def test_a_module_level_scorer_is_still_reused_from_the_cache(tiny_model, train_calls):
    X, Y = make_corpus(40)
    for _ in range(2):
        _, said = _fit(tiny_model, X, Y, scoring=module_scorer, early_stopping=True)
        assert not [w for w in said if "fit cache" in str(w.message)]
    assert len(train_calls) == 1


def test_an_unpicklable_scorer_with_checkpoint_dir_is_one_short_error(tiny_model, tmp_path,
                                                                     train_calls):
    X, Y = make_corpus(40)
    lock = threading.Lock()

    def scorer(est, X, Y):
        with lock:
            return 0.5

    with pytest.raises(ValueError, match=r"checkpoint_dir recognises its checkpoint.*"
                                         r"scoring=<function .*cannot be pickled.*"
                                         r"checkpoint_dir=None") as info:
        _fit(tiny_model, X, Y, scoring=scorer, checkpoint_dir=tmp_path / "ck")
    assert len(str(info.value)) < 700 and X[0] not in str(info.value)
    assert not train_calls


def test_the_key_names_the_parameter_it_cannot_pickle_never_the_data():
    texts = ["a private text"] * 3

    lock = threading.Lock()

    def inner(est, X, Y):
        return 0.0 if lock else 1.0

    with pytest.raises(_cache.UnkeyableParameter) as info:
        _cache.make_key({"max_epochs": 3, "scoring": inner}, "/no/model", texts,
                        np.zeros((3, 2)), ["a", "b"])
    assert info.value.name == "scoring" and "private" not in str(info.value)


# ------------------------------------------- 2. a scorer that cannot score: refused at once
@pytest.mark.parametrize("scoring, said", [
    ("f1", "average='binary'"), ("precision", "average='binary'"),
    ("precision_at_0", "positive int"), ("precision_at_99", "k=99 is larger than the number "
                                                             "of labels (4)")])
@pytest.mark.parametrize("held_out", [True, False])
def test_a_scorer_that_cannot_score_multi_label_is_refused_before_training(
        tiny_model, train_calls, scoring, said, held_out):
    X, Y = make_corpus(24)
    extra = dict(early_stopping=True) if held_out else {}
    with pytest.raises(ValueError, match=rf"scoring='{scoring}' cannot score a multi-label "
                                         r"target of 4 label\(s\): .*Use a multi-label scorer, "
                                         r"e\.g\. 'f1_micro'") as info:
        _fit(tiny_model, X, Y, scoring=scoring, **extra)
    assert said in str(info.value)
    assert not train_calls


@pytest.mark.parametrize("scoring", ["f1_micro", "roc_auc", "average_precision", "lrap",
                                     "precision_at_4", "jaccard_samples", "loss", module_scorer])
def test_multi_label_scorers_pass_the_check_without_a_warning(tiny_model, scoring):
    X, Y = make_corpus(24)
    _, said = _fit(tiny_model, X, Y, scoring=scoring, max_epochs=1)
    assert not said


# ------------------------------------------------------- 3. a validation score that is NaN
def test_a_nan_validation_score_keeps_the_last_epoch_tunes_thresholds_and_warns(tiny_model):
    X, Y = make_corpus(40)
    X_val, Y_val = make_corpus(12, seed=1)
    Y_val[:, 3] = 0  # 'tech' has no positive validation text: roc_auc is undefined
    clf, said = _fit_val(tiny_model, X, Y, X_val, Y_val)
    assert [math.isnan(r["valid_score"]) for r in clf.history_] == [True, True]
    assert clf.best_epoch_ == 2  # as without a score: the last epoch
    assert clf.thresholds_.shape == (4,)  # tuned on the kept epoch's outputs
    assert clf.predict(X[:3]).shape == (3, 4)
    [w] = [w for w in said if "gave nan" in str(w.message)]
    assert w.filename == __file__
    assert "scoring='roc_auc' gave nan at epoch 1: 1 of the 4 labels has no positive text in " \
           "the 12 validation texts" in str(w.message)


def _fit_val(model, X, Y, X_val, Y_val):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        clf = TransformerMultiLabelClassifier(
            model, **{**FAST, "threshold": "auto", "max_epochs": 2, "scoring": "roc_auc"}
        ).fit(X, Y, X_val=X_val, Y_val=Y_val)
    return clf, [w for w in record if issubclass(w.category, SkbertWarning)]


@pytest.mark.parametrize("values, kept, no_improve", [
    ([0.5, np.nan, 0.4], 1, 2), ([np.nan, np.nan], 2, 2), ([np.nan, 0.3, np.nan], 2, 1),
    ([0.2, 0.6], 2, 0)])
def test_selection_never_takes_nan_for_an_improvement(values, kept, no_improve):
    model = nn.Linear(2, 2)
    selection = Selection()
    for epoch, value in enumerate(values, start=1):
        selection.consider(epoch, value, model, np.full((1, 2), epoch, dtype=float), tol=0.0)
    assert selection.best_epoch == kept and selection.best_state is not None
    assert selection.best_logits[0, 0] == kept
    assert selection.no_improve == no_improve  # early stopping counts NaN as no progress


# ------------------------------------------------------------------- 4. small inconsistencies
@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_random_state_refuses_a_bool_as_every_int_parameter_does(value):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"'random_state' parameter .* an int "
                                                    r"\(not a bool\)"):
        TransformerMultiLabelClassifier(random_state=value)._validate_params()
    TransformerMultiLabelClassifier(random_state=np.int64(3))._validate_params()


@pytest.mark.parametrize("gap, shown", [(None, "None|nan"), (float("nan"), "nan"),
                                        ("pd.NA", "nan|<NA>")])
def test_a_missing_text_is_named_as_missing_with_the_fill_fix(tiny_model, gap, shown):
    import pandas as pd

    X, Y = make_corpus(8)
    texts = pd.Series(X[:2] + [pd.NA if gap == "pd.NA" else gap] + X[3:])
    clf = TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, Y)
    with pytest.raises(TypeError, match=rf"X\[2\] is a missing value \(({shown})\).*"
                                        r"X\.fillna\(''\)"):
        clf.predict_proba(texts)


# ------------------------------------------------------- 5. a checkpoint edited after writing
def _edit_state(folder, edit_doc=None, edit_tensors=None):
    """Edit the training state in place without recomputing its digests (an accident)."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from skbert import _checkpoint

    path = folder / _checkpoint.FILE_NAME
    with safe_open(path, framework="pt") as fh:
        doc = json.loads(fh.metadata()[_checkpoint._META_KEY])
        tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    if edit_doc:
        edit_doc(doc)
    if edit_tensors:
        edit_tensors(tensors)
    save_file(tensors, path, metadata={_checkpoint._META_KEY: json.dumps(doc)})


def _bump_layer_norm(tensors):
    name = next(n for n in sorted(tensors) if n.startswith("model/") and "LayerNorm.weight" in n)
    tensors[name] = tensors[name].clone()
    tensors[name][0] = 1e4


def _other_history(doc):
    doc["history"][0]["train_loss"] = 0.123


@pytest.mark.parametrize("edit, said", [
    (dict(edit_tensors=_bump_layer_norm), "tensors whose sha256 differs"),
    (dict(edit_doc=_other_history), "metadata whose sha256 differs")])
def test_a_checkpoint_changed_after_writing_is_not_resumed(tiny_model, tmp_path,
                                                           interrupt_at_epoch, edit, said):
    X, Y = make_corpus(24)
    kw = dict(FAST, max_epochs=2, fit_cache=False, checkpoint_dir=tmp_path)
    full = TransformerMultiLabelClassifier(tiny_model, **{**kw, "checkpoint_dir": None}).fit(X, Y)
    interrupt_at_epoch(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyboardInterrupt):
            TransformerMultiLabelClassifier(tiny_model, **kw).fit(X, Y)
    interrupt_at_epoch(None)
    _edit_state(tmp_path, **edit)
    with pytest.warns(SkbertWarning, match=rf"checkpoint_dir: ignoring .*a damaged training "
                                           rf"state \(it has {said}"):
        resumed = TransformerMultiLabelClassifier(tiny_model, **kw).fit(X, Y)
    assert len(resumed.history_) == 2  # trained from epoch 1, not from the edited state
    assert resumed.history_[0]["train_loss"] != 0.123  # not the edited record
    np.testing.assert_array_equal(resumed.predict_proba(X), full.predict_proba(X))


@pytest.mark.parametrize("value", ["org/evil", "kernels-community/flash-attn", ["eager"]])
def test_a_hub_attention_kernel_in_model_kwargs_is_refused_naming_model_kwargs(tiny_model,
                                                                               value):
    X, Y = make_corpus(8)
    with pytest.raises(ValueError, match=r"model_kwargs sets attn_implementation=.* not an "
                                         r"attention transformers ships") as info:
        TransformerMultiLabelClassifier(tiny_model, model_kwargs={"attn_implementation": value},
                                        **FAST).fit(X, Y)
    assert "needs its own Python code" not in str(info.value)  # not the folder's fault


def test_a_builtin_attention_in_model_kwargs_still_works(tiny_model):
    X, Y = make_corpus(8)
    clf = TransformerMultiLabelClassifier(tiny_model, model_kwargs={"attn_implementation": "eager"},
                                          **FAST).fit(X, Y)
    assert clf.predict_proba(X).shape == (8, 4)


# ------------------------------------------------ 6. trial 15: two labels, scorer objects
@pytest.mark.parametrize("scoring", ["average_precision", "lrap", "r_precision", "f1_macro"])
def test_two_labels_named_by_text_score_during_fit(tiny_model, scoring):
    import pandas as pd

    X, Y = make_corpus(40)
    Y2 = pd.DataFrame(Y[:, :2], columns=["sports", "politics"])
    clf, _ = _fit(tiny_model, X, Y2, scoring=scoring, early_stopping=True)
    assert math.isfinite(clf.history_[0]["valid_score"])


@pytest.mark.parametrize("name, metric", [
    ("lrap", "label_ranking_average_precision_score"), ("r_precision", "r_precision_score"),
    ("precision_at_1", "precision_at_k_score")])
@pytest.mark.parametrize("named", [False, True])
def test_skbert_scorers_read_both_labels_of_a_two_label_model(tiny_model, name, metric, named):
    import pandas as pd

    from skbert import metrics

    X, Y = make_corpus(40, seed=3)
    Y2 = pd.DataFrame(Y[:, 1:3], columns=["politics", "food"]) if named else Y[:, 1:3]
    clf = TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, Y2)
    kwargs = {"k": 1} if name == "precision_at_1" else {}
    expected = getattr(metrics, metric)(np.asarray(Y2), clf.predict_proba(X), **kwargs)
    assert metrics.get_scorer(name)(clf, X, Y2) == pytest.approx(expected)


def test_make_scorer_objects_key_the_cache_by_their_function_s_code(tiny_model, train_calls):
    from sklearn.metrics import make_scorer

    X, Y = make_corpus(40)
    # the same lambda written on two lines: one code, one key
    a = make_scorer(lambda y, p: f1_score(y, p, average="micro"))
    b = make_scorer(lambda y, p: f1_score(y, p, average="micro"))
    for scorer in (a, b):
        _, said = _fit(tiny_model, X, Y, scoring=scorer, early_stopping=True)
        assert not said
    assert len(train_calls) == 1
    # an edited function behind make_scorer (a notebook cell run again) is another key
    edited = make_scorer(lambda y, p: -f1_score(y, p, average="micro"))
    clf, _ = _fit(tiny_model, X, Y, scoring=edited, early_stopping=True)
    assert len(train_calls) == 2


@pytest.mark.parametrize("scoring, said", [
    ("neg_log_loss", "one distribution over classes"), ("neg_brier_score", "one distribution")])
def test_scorers_whose_value_means_nothing_for_independent_labels_are_refused(
        tiny_model, train_calls, scoring, said):
    X, Y = make_corpus(24)
    with pytest.raises(ValueError, match=rf"scoring='{scoring}' uses .*{said}.*Use 'loss'"):
        _fit(tiny_model, X, Y, scoring=scoring, early_stopping=True)
    assert not train_calls



def test_the_key_of_a_callable_scorer_is_the_same_in_every_process(tmp_path):
    """A fit-cache folder is shared by processes (n_jobs, later sessions): the key of a
    scorer object must not depend on the process's string hashing (set constants in
    code, sets in attributes)."""
    import os
    import subprocess
    import sys

    script = tmp_path / "key.py"
    script.write_text(
        "import joblib\n"
        "from sklearn.metrics import get_scorer, make_scorer, f1_score\n"
        "from skbert.metrics import get_scorer as ours\n"
        "from skbert._param_key import by_code\n"
        "class Weighted:\n"
        "    names = {'a', 'b', 'c'}\n"
        "    def __call__(self, est, X, Y):\n"
        "        return 1.0 if 'a' in {'x', 'y', 'a'} else 0.0\n"
        "scorers = [get_scorer('f1_micro'), make_scorer(f1_score, average='macro'),\n"
        "           ours('lrap'), Weighted(), lambda e, X, Y: 0.5]\n"
        "print([joblib.hash(by_code(s)) for s in scorers])\n")
    keys = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                             text=True, check=True, timeout=120)
        keys.add(out.stdout.strip())
    assert len(keys) == 1, keys


def test_an_edited_scorer_class_is_another_key(tiny_model, train_calls):
    """A notebook cell that defines a scorer class, edited and run again: a class attribute,
    a helper method or a classmethod's class changed, so the fit must not be reused."""
    X, Y = make_corpus(40)

    def version(weight, bonus):
        class Scorer:
            scale = weight

            def extra(self):
                return bonus

            def __call__(self, est, X, Y):
                return self.scale * f1_score(Y, est.predict(X), average="micro") + self.extra()

        return Scorer

    first = version(1.0, 0.0)
    for scorer_class in (first, first, version(100.0, 0.0), version(1.0, 5.0)):
        clf, said = _fit(tiny_model, X, Y, scoring=scorer_class(), early_stopping=True)
        assert not said
    assert len(train_calls) == 3  # the second is the first again; the others are edits
    assert clf.history_[0]["valid_score"] >= 5.0  # the edited helper's score, not a stale one


def test_a_users_own_function_named_log_loss_is_not_refused(tiny_model):
    from sklearn.metrics import make_scorer

    def log_loss(y, p):  # the user's per-label loss, not scikit-learn's
        return float(np.mean(np.abs(np.asarray(y) - p)))

    X, Y = make_corpus(24)
    clf, _ = _fit(tiny_model, X, Y, scoring=make_scorer(log_loss, greater_is_better=False,
                                                        response_method="predict_proba"),
                  early_stopping=True)
    assert math.isfinite(clf.history_[0]["valid_score"])



@pytest.mark.parametrize("scoring", ["roc_auc_ovr", "roc_auc", "average_precision"])
def test_two_label_scores_during_fit_equal_the_metric_on_the_validation_outputs(
        tiny_model, scoring):
    import pandas as pd
    from sklearn.metrics import average_precision_score, roc_auc_score

    X, Y = make_corpus(40)
    X_val, Y_val = make_corpus(16, seed=5)
    columns = ["sports", "politics"]
    clf = TransformerMultiLabelClassifier(tiny_model, **{**FAST, "scoring": scoring}).fit(
        X, pd.DataFrame(Y[:, :2], columns=columns), X_val=X_val,
        Y_val=pd.DataFrame(Y_val[:, :2], columns=columns))
    metric = average_precision_score if scoring == "average_precision" else roc_auc_score
    assert clf.history_[0]["valid_score"] == pytest.approx(
        metric(Y_val[:, :2], clf.predict_proba(X_val)), abs=1e-6)


# -------------------------------------------------- 7. trial 17: what by_code must not miss
def _key(value):
    import joblib

    return joblib.hash(by_code(value))


def test_a_callable_builtin_subclass_is_keyed_by_its_class_and_its_value():
    def version(factor):
        class Scorer(dict):  # a notebook cell run again after an edit
            def __call__(self, est, X, Y):
                return factor * self["k"]

        return Scorer

    first = version(0.25)
    assert _key(first(k=1)) == _key(first(k=1))
    assert _key(first(k=1)) != _key(version(0.75)(k=1))  # the edited __call__
    assert _key(first(k=1)) != _key(first(k=2))  # the dict's own items

    class Number(float):
        pass

    def closing(value):
        return lambda est, X, Y: float(value)

    assert _key(closing(Number(0.3))) != _key(closing(Number(0.7)))
    assert _key(closing(np.array([1.0, 2.0]).view(type("W", (np.ndarray,), {})))) != _key(
        closing(np.array([5.0, 2.0]).view(type("W", (np.ndarray,), {}))))


def test_shared_and_cyclic_structures_are_keyed_in_linear_time():
    import time

    def compose(a, b):
        return lambda x: b(a(x))

    f = lambda x: x  # noqa: E731
    for _ in range(24):  # 2**24 paths through a tree walk; 24 distinct functions
        f = compose(f, f)
    start = time.perf_counter()
    _key(f)
    assert time.perf_counter() - start < 5

    class Node:
        pass

    a, b = Node(), Node()
    a.x, b.x, a.o = 1, 2, b
    b.o = a
    cyclic = _key(lambda e, X, Y: a)
    b.o = b  # another cycle: another key
    assert _key(lambda e, X, Y: a) != cyclic


def test_a_scorer_holding_an_installed_packages_callable_object_is_still_cached():
    import torch

    layer = torch.nn.Linear(2, 1)
    scorer = (lambda module: lambda est, X, Y: float(module.weight.sum()))(layer)
    before = _key(scorer)
    assert _key(scorer) == before
    with torch.no_grad():
        layer.weight += 1
    assert _key(scorer) != before  # the module's state is keyed
