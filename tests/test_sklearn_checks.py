"""scikit-learn's estimator checks that apply to a text estimator, called one by one.

``parametrize_with_checks`` runs (almost) nothing for an estimator whose input tag
is ``string`` without ``two_d_array`` (estimator_checks._yield_all_checks returns at
once), so the checks that never fit are picked by hand here, as scikit-lego does in
tests/test_meta/test_thresholder.py. The checks that fit are rewritten for text in
tests/test_estimator.py.

Excluded check families, each with the reason:

* check_fit*/check_estimators_dtypes/check_fit2d_*/check_fit1d/check_dtype_object,
  check_complex_data, check_estimators_empty_data_messages, check_pipeline_consistency,
  check_estimators_nan_inf, check_estimators_overwrite_params, check_dict_unchanged,
  check_dont_overwrite_parameters, check_fit_idempotent, check_fit_check_is_fitted,
  check_n_features_in*, check_positive_only_tag_during_fit: they feed numeric 2-D X;
  ours is a list of texts (rewritten for text in test_estimator.py).
* check_classifiers_* (train, classes, one_label, regression_target,
  multilabel_representation_invariance, multilabel_output_format_*,
  decision_function_shape, supervised_y_2d): numeric X (and most are single-output
  y); the multi-label output contract is tested with texts in test_estimator.py.
* check_estimators_pickle/check_estimators_unfitted/check_sample_weight*/
  check_methods_subset_invariance/check_methods_sample_order_invariance: numeric X;
  pickling and NotFittedError are tested with texts in test_persistence.py and
  test_estimator.py; sample_weight is not a fit argument.
* check_sparse_*/check_f_contiguous_array_estimator/check_estimator_sparse_*: no
  feature matrix at all.
* check_requires_y_none/check_supervised_y_no_nan: numeric X (y is validated by
  skbert._validation.check_targets, tested in test_estimator.py).
* check_param_validation: fits on numeric X; its opening (constraints cover exactly
  the parameters) and the InvalidParameterError path are rewritten below.
* check_n_features_in_after_fitting/check_estimators_partial_fit_n_features: text has
  no features; skbert deliberately sets no ``n_features_in_``.
"""

from __future__ import annotations

import warnings

import pytest
from sklearn.base import is_classifier
from sklearn.exceptions import SkipTestWarning
from sklearn.utils import estimator_checks as ec
from sklearn.utils._param_validation import InvalidParameterError

from skbert import TransformerMultiLabelClassifier

NAME = TransformerMultiLabelClassifier.__name__

NON_FITTING_CHECKS = [
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_no_attributes_set_in_init,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_parameters_default_constructible,
    ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_mixin_order,
    ec.check_valid_tag_types,
    ec.check_estimator_tags_renamed,
]


@pytest.mark.parametrize("check", NON_FITTING_CHECKS, ids=lambda c: c.__name__)
def test_non_fitting_sklearn_check(check, tiny_st_model):
    check(NAME, TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, random_state=0))


@pytest.mark.parametrize("check", NON_FITTING_CHECKS, ids=lambda c: c.__name__)
def test_non_fitting_sklearn_check_on_default_instance(check):
    # The default instance must pass too; nothing is loaded before fit.
    check(NAME, TransformerMultiLabelClassifier())


def test_parametrize_with_checks_yields_no_fitting_check(tiny_st_model):
    """The trap this file exists for: sklearn skips every fitting check for text input."""
    est = TransformerMultiLabelClassifier(tiny_st_model)
    with warnings.catch_warnings():  # scikit-learn >= 1.9 also says so with a SkipTestWarning
        warnings.simplefilter("ignore", SkipTestWarning)
        marker = ec.parametrize_with_checks([est])
    yielded = [check.func.__name__ for _, check in marker.args[1]]
    # Only the API check that never fits survives; no check_fit*/check_classifiers_*.
    assert yielded == ["check_estimator_cloneable"]


def test_default_constructible():
    est = TransformerMultiLabelClassifier()
    assert est.get_params()["model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert est.get_params()["threshold"] == 0.5
    assert est.get_params()["pooling"] == "auto"


def test_parameter_constraints_cover_exactly_the_parameters():
    est = TransformerMultiLabelClassifier()
    assert set(est._parameter_constraints) == set(est.get_params(deep=False))


def test_tags_declare_text_input_and_multi_label():
    est = TransformerMultiLabelClassifier()
    tags = est.__sklearn_tags__()
    assert is_classifier(est)
    assert tags.estimator_type == "classifier"
    assert tags.input_tags.string is True
    assert tags.input_tags.two_d_array is False
    assert tags.classifier_tags.multi_label is True
    assert tags.target_tags.required is True
    assert tags.target_tags.multi_output is True


BAD_PARAMS = [
    ("max_epochs", 0),
    ("max_epochs", 1.5),
    ("max_epochs", "many"),
    ("head_init", "names+centroids"),
    ("label_descriptions", ["sports"]),
    ("contrastive_steps", -1),
    ("contrastive_steps", "many"),
    ("contrastive_label_texts", "yes"),
    ("contrastive_label_texts", None),
    ("min_labels", -1),
    ("min_labels", 1.5),
    ("pooling", "x"),
    ("threshold", 1.5),
    ("threshold", -0.1),
    ("threshold", "best"),
    ("precision", "int8"),
    ("compile", "yes"),
    ("batch_size", 0),
    ("learning_rate", 0.0),
    ("head_learning_rate", -1.0),
    ("max_length", 4),
    ("weight_decay", -1.0),
    ("warmup_ratio", 1.5),
    ("max_grad_norm", 0),
    ("validation_fraction", 1.0),
    ("n_iter_no_change", 0),
    ("tol", -1e-3),
    ("threshold_metric", "accuracy"),
    ("pos_weight", "auto"),
    ("long_text", "split"),
    ("stride", -1),
    ("max_chunks", 0),
    ("chunk_pooling", "sum"),
    ("predict_batch_size", 0),
    ("fit_cache", 3),
    ("early_stopping", "yes"),
    ("model_kwargs", ["not", "a", "dict"]),
    ("tokenizer_kwargs", "use_fast"),
    ("random_state", "zero"),
    ("verbose", -1),
    ("device", 3),
    ("model_name_or_path", 42),
    ("scoring", 3),
    ("callbacks", "tensorboard"),
    ("warm_start", "yes"),
    ("micro_batch_size", 0),
    ("gradient_checkpointing", 1.5),
    ("checkpoint_dir", 7),
]
# peft_config is checked in fit (a peft configuration object, or None), not by a constraint


@pytest.mark.parametrize("name, value", BAD_PARAMS, ids=[f"{n}={v!r}" for n, v in BAD_PARAMS])
def test_bad_parameter_raises_invalid_parameter_error_naming_it(name, value, tiny_st_model,
                                                                 corpus):
    X, Y = corpus
    params = {"model_name_or_path": tiny_st_model, "max_epochs": 1, name: value}
    est = TransformerMultiLabelClassifier(**params)
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of {NAME} must be"):
        est.fit(X, Y)
    assert not hasattr(est, "model_")


def test_bad_parameter_list_covers_every_parameter():
    # Guard for this file: a new parameter needs a bad value above.
    assert {n for n, _ in BAD_PARAMS} | {"peft_config"} == set(
        TransformerMultiLabelClassifier().get_params())


def test_init_and_set_params_store_without_validating():
    # Validation happens in fit only (check_do_not_raise_errors_in_init_or_set_params).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = TransformerMultiLabelClassifier(max_epochs=-5, pooling="nope")
        est.set_params(threshold=7, device="tpu")
    assert est.max_epochs == -5 and est.threshold == 7 and est.device == "tpu"
