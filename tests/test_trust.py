"""Issue 11 ("Trust"): files never run code, bad input never trains garbage, errors say the fix.

Each test names the item of the issue it covers. Items 2 (fit cache) and 9-12 (command
line) live in test_cache.py and test_cli.py.
"""

from __future__ import annotations

import builtins
import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import LABELS
from safetensors.torch import load_file, save_file

from skbert import TransformerMultiLabelClassifier
from skbert._utils import TrainingDivergedError, resolve_precision

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            fit_cache=False)


def make_est(path, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, **kwargs})


@pytest.fixture(scope="module")
def saved_mean(tiny_st_model, corpus, tmp_path_factory):
    """A mean-pooling model saved with save_pretrained, and its fp32 probabilities."""
    X, Y = corpus
    est = make_est(tiny_st_model, precision="fp32").fit(X, pd.DataFrame(Y, columns=LABELS))
    folder = tmp_path_factory.mktemp("saved") / "mean"
    est.save_pretrained(folder)
    return folder, est.predict_proba(X)


def copy_folder(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def edit_settings(folder, **changes):
    path = folder / "skbert.json"
    settings = json.loads(path.read_text())
    for key, value in changes.items():
        if key.startswith("params."):
            settings["params"][key[len("params."):]] = value
        elif value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    path.write_text(json.dumps(settings))


# ------------------------------------------------------- 1. no code from skbert.json
def test_item1_folder_parameters_that_reach_code_are_never_taken(saved_mean, corpus, tmp_path,
                                                                  monkeypatch):
    X, _ = corpus
    folder = copy_folder(saved_mean[0], tmp_path / "m")
    marker = tmp_path / "ran"
    edit_settings(folder, **{
        "params.compile": {"options": {"cpp.cxx": f"/bin/sh -c 'touch {marker}'"}},
        "params.fit_cache": str(tmp_path / "planted-cache"),
        "params.model_kwargs": {"trust_remote_code": True},
        "params.tokenizer_kwargs": {"trust_remote_code": True},
        "params.precision": "fp32"})
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda *a, **k: compiled.append(k) or a[0])
    est = TransformerMultiLabelClassifier.from_pretrained(folder)
    assert est.compile is False and est.fit_cache is True
    assert est.model_kwargs is None and est.tokenizer_kwargs is None
    np.testing.assert_allclose(est.predict_proba(X), saved_mean[1], atol=1e-6)
    assert compiled == [] and not marker.exists()
    assert not (tmp_path / "planted-cache").exists()


@pytest.mark.parametrize("key, value, match", [
    ("params.max_length", "128; rm -rf /", "max_length"),
    ("params.threshold", 7, "threshold"),
    ("params.threshold", [0.5, 0.5], "threshold"),
    ("params.pos_weight", [1, float("nan"), 1, 1], "pos_weight"),
    ("params.pooling", "eval", "pooling"),
    ("params.random_state", "seed", "random_state"),
    ("params.max_epochs", 0, "max_epochs"),
    ("pooling", "mean; import os", "pooling"),
    ("classes", [["a"], "b", "c", "d"], "classes"),
    ("classes", ["a", "a", "b", "c"], "classes"),
    ("y_dtype", "|O", "y_dtype"),
    ("thresholds_", [0.5, 2.0, 0.5, 0.5], "thresholds_"),
    ("thresholds_", [0.5], "thresholds_"),
    ("best_epoch_", 99, "best_epoch_"),
    ("history_", "x", "history_"),
    ("format", 99, "upgrade skbert"),
    ("classes", None, "missing"),
])
def test_item1_every_value_of_skbert_json_is_validated(saved_mean, tmp_path, key, value, match):
    folder = copy_folder(saved_mean[0], tmp_path / "m")
    edit_settings(folder, **{key: value})
    with pytest.raises(ValueError, match=match) as info:
        TransformerMultiLabelClassifier.from_pretrained(folder)
    assert "skbert.json" in str(info.value)


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ("", "not valid JSON"),
])
def test_damaged_skbert_json_is_a_clear_error(saved_mean, tmp_path, content, match):
    folder = copy_folder(saved_mean[0], tmp_path / "m")
    (folder / "skbert.json").write_text(content)
    with pytest.raises(ValueError, match=match):
        TransformerMultiLabelClassifier.from_pretrained(folder)


# ------------------------------------------------------------- 3. trust_remote_code
def remote_code_folder(base, folder, marker):
    """A checkpoint whose config asks transformers to import the folder's own module."""
    copy_folder(base, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="skbert-evil", auto_map={
        "AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel",
        "AutoModelForSequenceClassification": "evil.EvilModel"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    return folder


def test_item3_a_folder_asking_to_run_its_code_is_refused(tiny_st_model, corpus, tmp_path,
                                                         monkeypatch):
    X, Y = corpus
    marker = tmp_path / "ran"
    folder = remote_code_folder(tiny_st_model, tmp_path / "evil", marker)

    def no_prompt(*args):  # transformers asks on stdin when trust_remote_code is unset
        raise AssertionError("skbert let transformers prompt on stdin")

    monkeypatch.setattr(builtins, "input", no_prompt)
    with pytest.raises(ValueError, match="never runs code"):
        make_est(str(folder), pooling="mean").fit(X, Y)
    with pytest.raises(ValueError, match="never runs code"):
        make_est(str(folder), pooling="cls").fit(X, Y)
    assert not marker.exists()


def test_item3_user_kwargs_cannot_turn_remote_code_on(tiny_st_model, corpus):
    X, Y = corpus
    for kw in ({"model_kwargs": {"trust_remote_code": True}},
               {"tokenizer_kwargs": {"trust_remote_code": True}}):
        with pytest.raises(ValueError, match="never runs Python code"):
            make_est(tiny_st_model, **kw).fit(X, Y)


def test_item3_saved_folder_with_remote_code_config_is_refused(saved_mean, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    folder = remote_code_folder(saved_mean[0], tmp_path / "evil", marker)
    monkeypatch.setattr(builtins, "input", lambda *a: pytest.fail("prompted on stdin"))
    with pytest.raises(ValueError, match="never runs code"):
        TransformerMultiLabelClassifier.from_pretrained(folder)
    assert not marker.exists()


# ------------------------------------------------------------ 4. missing head weights
def test_item4_cls_folder_without_classifier_weights_is_an_error(tiny_model, corpus, tmp_path):
    X, Y = corpus
    est = make_est(tiny_model, max_epochs=1).fit(X, Y)
    assert est.pooling_ == "cls"
    est.save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    kept = {k: v for k, v in load_file(weights).items() if not k.startswith("classifier.")}
    save_file(kept, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"classifier\.(weight|bias).*save the model again"):
        TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")


def test_item4_mean_folder_without_head_file_is_an_error(saved_mean, tmp_path):
    folder = copy_folder(saved_mean[0], tmp_path / "m")
    os.remove(folder / "skbert_head.safetensors")
    with pytest.raises(FileNotFoundError, match="skbert_head.safetensors.*classification head"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


def test_item4_mean_head_of_the_wrong_shape_is_an_error(saved_mean, tmp_path):
    folder = copy_folder(saved_mean[0], tmp_path / "m")
    head = load_file(folder / "skbert_head.safetensors")
    save_file({"weight": head["weight"][:2].contiguous(), "bias": head["bias"][:2].contiguous()},
              folder / "skbert_head.safetensors")
    with pytest.raises(ValueError, match="head needs"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


def test_item4_encoder_weights_missing_is_an_error(saved_mean, tmp_path):
    folder = copy_folder(saved_mean[0], tmp_path / "m")
    weights = folder / "model.safetensors"
    kept = {k: v for k, v in load_file(weights).items() if "layer.1." not in k}
    save_file(kept, weights, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="lack or mis-shape"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


# ------------------------------------------------------------------ 5. 0/1 targets
@pytest.mark.parametrize("values", [(0, 2), (-1, 1), (1, 2), (0, 5), (0.0, 0.5)])
def test_item5_targets_other_than_0_1_are_refused(tiny_st_model, corpus, values, train_calls):
    X, Y = corpus
    bad = np.where(Y == 1, values[1], values[0])
    with pytest.raises(ValueError, match=r"only 0 and 1|0/1 values"):
        make_est(tiny_st_model).fit(X, bad)
    assert train_calls == []


@pytest.mark.parametrize("kind", ["bool", "int8", "float32", "sparse", "nullable"])
def test_item5_every_0_1_encoding_is_accepted(tiny_st_model, corpus, kind):
    import scipy.sparse as sp

    X, Y = corpus
    Yk = {"bool": Y.astype(bool), "int8": Y.astype(np.int8), "float32": Y.astype(np.float32),
          "sparse": sp.csr_matrix(Y),
          "nullable": pd.DataFrame(Y, columns=LABELS).astype("Int64")}[kind]
    est = make_est(tiny_st_model, max_epochs=1, precision="fp32").fit(X, Yk)
    # the same label names: the head starts from them (head_init)
    ref_Y = pd.DataFrame(Y, columns=LABELS) if kind == "nullable" else Y
    ref = make_est(tiny_st_model, max_epochs=1, precision="fp32").fit(X, ref_Y)
    np.testing.assert_array_equal(est.predict_proba(X[:4]), ref.predict_proba(X[:4]))


def test_item5_nan_in_targets_is_refused(tiny_st_model, corpus):
    X, Y = corpus
    Yf = Y.astype(float)
    Yf[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3, column 1"):
        make_est(tiny_st_model).fit(X, Yf)


# ------------------------------------------------------------- 6. non-finite losses
def test_item6_diverging_fit_without_validation_raises(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(TrainingDivergedError, match="Lower learning_rate"):
        make_est(tiny_st_model, learning_rate=1e3, max_epochs=4).fit(X, Y)


def test_item6_diverging_fit_with_validation_keeps_the_last_finite_epoch(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.warns(UserWarning, match="diverged in epoch 2.*epoch 1"):
        est = make_est(tiny_st_model, learning_rate=1e3, max_epochs=4, early_stopping=True,
                       n_iter_no_change=5).fit(X, Y)
    assert est.best_epoch_ == 1 and est.n_epochs_ == 2
    assert not np.isfinite(est.history_[-1]["train_loss"])
    proba = est.predict_proba(X)
    assert np.isfinite(proba).all()


@pytest.mark.parametrize("pos_weight", [[1.0, np.nan, 1.0, 1.0], [1.0, np.inf, 1.0, 1.0],
                                        [1.0, 0.0, 1.0, 1.0], [1.0, -2.0, 1.0, 1.0]])
def test_item6_pos_weight_must_be_finite_and_positive(tiny_st_model, corpus, pos_weight,
                                                      train_calls):
    X, Y = corpus
    with pytest.raises(ValueError, match="finite positive"):
        make_est(tiny_st_model, pos_weight=pos_weight).fit(X, Y)
    assert train_calls == []


def test_item6_predict_proba_never_returns_nan_silently(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model, max_epochs=1).fit(X, Y)
    with torch.no_grad():
        est.model_.head.weight[0, 0] = float("nan")
    for method in (est.predict_proba, est.predict, est.decision_function):
        with pytest.raises(TrainingDivergedError, match=r"NaN or infinite.*X\[0\]"):
            method(X)


# ------------------------------------------------------------------ 7. thresholds
@pytest.mark.parametrize("threshold", [[1.5, -3, 0.5, 0.5], [0.5, 0.5, 0.5, np.nan]])
def test_item7_per_label_thresholds_outside_0_1_are_refused(tiny_st_model, corpus, threshold,
                                                            train_calls):
    X, Y = corpus
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        make_est(tiny_st_model, threshold=threshold).fit(X, Y)
    assert train_calls == []


@pytest.mark.parametrize("threshold", [1.5, -0.1, [1.5, -3, 0.5, 0.5]])
def test_item7_thresholds_set_after_fit_are_checked_at_predict(tiny_st_model, corpus, threshold):
    X, Y = corpus
    est = make_est(tiny_st_model, max_epochs=1).fit(X, Y)
    est.set_params(threshold=threshold)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]|'threshold' parameter .* must be"):
        est.predict(X)


# ---------------------------------------------------------- 8. ordered X, scalar names
@pytest.mark.parametrize("make", [set, frozenset, lambda X: dict.fromkeys(X),
                                  lambda X: dict.fromkeys(X).keys()])
def test_item8_unordered_X_is_refused(tiny_st_model, corpus, make):
    X, Y = corpus
    with pytest.raises(TypeError, match="no fixed order"):
        make_est(tiny_st_model).fit(make(X), Y)


def test_item8_tuple_and_multiindex_label_names_are_refused(tiny_st_model, corpus):
    X, Y = corpus
    multi = pd.DataFrame(Y, columns=pd.MultiIndex.from_tuples([(n, "x") for n in LABELS]))
    with pytest.raises(ValueError, match="MultiIndex.*Flatten"):
        make_est(tiny_st_model).fit(X, multi)
    tuples = pd.DataFrame(Y, columns=pd.Index([(n, 1) for n in LABELS], tupleize_cols=False))
    with pytest.raises(ValueError, match="str or int"):
        make_est(tiny_st_model).fit(X, tuples)
    dupes = pd.DataFrame(Y, columns=["a", "b", "a", "c"])
    with pytest.raises(ValueError, match="more than once"):
        make_est(tiny_st_model).fit(X, dupes)


def test_item8_int_and_str_label_names_still_save(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    est = make_est(tiny_st_model, max_epochs=1).fit(X, pd.DataFrame(Y, columns=[3, 1, 2, 0]))
    est.save_pretrained(tmp_path / "m")
    back = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert list(back.classes_) == [3, 1, 2, 0]


# ------------------------------------------------------------- 12. output paths first
@pytest.mark.parametrize("where", ["under_file", "proc"])
def test_item12_unwritable_fit_cache_fails_before_training(tiny_st_model, corpus, tmp_path,
                                                           where, train_calls):
    X, Y = corpus
    if where == "under_file":
        (tmp_path / "file").write_text("x")
        path = str(tmp_path / "file" / "cache")
    else:
        path = "/proc/skbert-cache"
    with pytest.raises(ValueError, match="cannot be written"):
        make_est(tiny_st_model, fit_cache=path).fit(X, Y)
    assert train_calls == []


# ----------------------------------------------------------- 13. bf16 on every CPU
@pytest.mark.parametrize("value, expected", [("bf16", "bf16"), ("fp32", "fp32"),
                                             (" BF16 ", "bf16")])
def test_item13_cpu_precision_switch(monkeypatch, value, expected):
    monkeypatch.setenv("SKBERT_CPU_PRECISION", value)
    assert resolve_precision("auto", torch.device("cpu")) == expected
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_item13_cpu_precision_switch_rejects_other_values(monkeypatch):
    monkeypatch.setenv("SKBERT_CPU_PRECISION", "fp8")
    with pytest.raises(ValueError, match="SKBERT_CPU_PRECISION.*'bf16' or 'fp32'"):
        resolve_precision("auto", torch.device("cpu"))


@pytest.mark.parametrize("fixture", ["tiny_st_model", "tiny_model"])
def test_item13_head_logits_keep_fp32_digits_under_bf16(request, corpus, fixture):
    X, Y = corpus
    est = make_est(request.getfixturevalue(fixture), precision="bf16", max_epochs=1).fit(X, Y)
    logits = est.decision_function(X)
    rounded = torch.from_numpy(logits).bfloat16().float().numpy()
    assert (rounded != logits).mean() > 0.5  # bf16 logits would all equal their rounding
    fp32 = est.set_params(precision="fp32").decision_function(X)
    np.testing.assert_allclose(logits, fp32, atol=3e-2)  # bf16 tolerance


def test_precision_set_after_fit_is_used_at_predict(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model, precision="bf16", max_epochs=1).fit(X, Y)
    bf16 = est.decision_function(X)
    fp32 = est.set_params(precision="fp32").decision_function(X)
    assert not np.array_equal(bf16, fp32)
    np.testing.assert_allclose(bf16, fp32, atol=3e-2)


# ----------------------------------------------------------------- unclear errors
def test_nonexistent_model_path_is_named(corpus, tmp_path):
    X, Y = corpus
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_est(str(tmp_path / "nope")).fit(X, Y)
    with pytest.raises(FileNotFoundError, match="neither an existing folder nor a valid hub"):
        make_est("not a/valid repo!!").fit(X, Y)


def test_empty_model_folder_is_named(corpus, tmp_path):
    X, Y = corpus
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no config.json"):
        make_est(str(tmp_path / "empty")).fit(X, Y)


def test_model_folder_without_tokenizer_is_named(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text((open(os.path.join(tiny_st_model, "config.json"))).read())
    with pytest.raises(FileNotFoundError, match="no tokenizer files"):
        make_est(str(folder)).fit(X, Y)


def test_lone_surrogate_is_named_by_index(tiny_st_model, corpus):
    X, Y = corpus
    X = list(X)
    X[5] = "broken \ud800 text"
    with pytest.raises(ValueError, match=r"X\[5\].*surrogate"):
        make_est(tiny_st_model).fit(X, Y)
    est = make_est(tiny_st_model, max_epochs=1).fit(corpus[0], Y)
    with pytest.raises(ValueError, match=r"X\[5\].*surrogate"):
        est.predict_proba(X)


def test_string_column_in_Y_is_named(tiny_st_model, corpus):
    X, Y = corpus
    frame = pd.DataFrame(Y, columns=LABELS)
    frame["food"] = frame["food"].map({0: "no", 1: "yes"})
    with pytest.raises(ValueError, match="column 'food'.*0/1"):
        make_est(tiny_st_model).fit(X, frame)


def test_warnings_stay_quiet_on_a_normal_fit(tiny_st_model, corpus):
    X, Y = corpus
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_est(tiny_st_model, max_epochs=1).fit(X, Y).predict_proba(X)
