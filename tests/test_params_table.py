"""The one parameter table (skbert/_params.py) stays in step with the signature,
the defaults, get_params, the docstring, the constraints, the CLI options and
skbert.json validation: a parameter missing in any of them fails here.
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import json
import re

import pytest

from skbert import TransformerMultiLabelClassifier, _params
from skbert._cli_args import _add_table_options
from skbert._params import PARAMS

NAMES = [p.name for p in PARAMS]
#: Parameters the command line cannot express (objects, keyword dicts) or that
#: only make sense inside a Python session (issue 21).
NO_FLAG = {"callbacks", "peft_config", "model_kwargs", "tokenizer_kwargs", "fit_cache",
           "warm_start"}


def _doc_parameters() -> dict[str, str]:
    doc = TransformerMultiLabelClassifier.__doc__
    section = doc.split("Parameters\n    ----------\n")[1].split("\n    Attributes\n")[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^    (\w+) : (.*)$", section, re.M)}


def test_table_follows_the_signature_in_order_with_its_defaults():
    signature = inspect.signature(TransformerMultiLabelClassifier.__init__).parameters
    names = [n for n in signature if n != "self"]
    assert NAMES == names
    for p in PARAMS:
        assert signature[p.name].default == p.default, p.name


def test_table_covers_get_params_and_the_constraints():
    est = TransformerMultiLabelClassifier()
    assert list(est.get_params(deep=False)) == sorted(NAMES)
    assert est.get_params(deep=False) == _params.DEFAULTS
    assert est._parameter_constraints == _params.PARAMETER_CONSTRAINTS


def test_docstring_documents_every_parameter_with_the_table_default():
    documented = _doc_parameters()
    assert list(documented) == NAMES
    for p in PARAMS:
        text = documented[p.name].rsplit("default=", 1)[1]
        assert ast.literal_eval(text) == p.default, p.name


def test_every_row_is_complete():
    for p in PARAMS:
        assert p.help and "\n" not in p.help, p.name
        assert p.when in ("fit", "predict", "observer"), p.name
        assert p.constraint == "no_validation" or isinstance(p.constraint, list), p.name
        # a fit-time parameter shapes the weights, but threshold_metric, which acts after
        # training (every rule's thresholds are kept), is left out of the fit-cache key
        assert p.cache_key == (p.when == "fit" and p.name != "threshold_metric"), p.name


def test_generated_sets():
    assert _params.FOLDER_UNSAFE_PARAMS == {"compile", "fit_cache", "model_kwargs",
                                            "tokenizer_kwargs", "peft_config", "callbacks",
                                            "checkpoint_dir"}
    assert _params.PREDICT_TIME_PARAMS == {"threshold", "predict_batch_size", "min_labels"}
    assert _params.OBSERVER_PARAMS == {"callbacks", "checkpoint_dir", "verbose", "fit_cache"}
    assert _params.CACHE_KEY_PARAMS == (set(NAMES) - _params.PREDICT_TIME_PARAMS
                                        - _params.OBSERVER_PARAMS - {"threshold_metric"})
    key = _params.training_params(dict(_params.DEFAULTS, threshold="auto"), "cpu")
    assert "threshold" not in key and "verbose" not in key and "callbacks" not in key
    assert key["threshold_auto"] is True and key["device_type"] == "cpu"
    assert "max_epochs" in key and "learning_rate" in key


# ------------------------------------------------------------------------- CLI
def test_every_parameter_but_six_has_one_unique_flag():
    options = list(_params.cli_params())
    assert {o.name for o in options} == set(NAMES) - NO_FLAG
    flags = [o.flag for o in options]
    assert len(set(flags)) == len(flags)
    assert all(f.startswith("--") for f in flags)
    assert _params.flag_for("max_epochs") == "--max-epochs"
    assert _params.flag_for("model_name_or_path") == "--model"


def test_cli_options_parse_into_parameters_the_estimator_accepts():
    parser = argparse.ArgumentParser()
    _add_table_options(parser)
    args = parser.parse_args([
        "--max-length", "64", "--learning-rate", "3e-4", "--threshold", "auto",
        "--threshold-metric", "f1", "--early-stopping", "--n-iter-no-change", "3",
        "--tol", "0.001", "--pos-weight", "1,2.5", "--max-chunks", "none",
        "--head-learning-rate", "1e-3", "--no-compile", "--predict-batch-size", "8",
        "--model", "some/model", "--verbose", "2"])
    values = _params.cli_values(args)
    assert values == {"max_length": 64, "learning_rate": 3e-4, "threshold": "auto",
                      "threshold_metric": "f1", "early_stopping": True, "n_iter_no_change": 3,
                      "tol": 0.001, "pos_weight": [1.0, 2.5], "max_chunks": None,
                      "head_learning_rate": 1e-3, "compile": False, "predict_batch_size": 8,
                      "model_name_or_path": "some/model", "verbose": 2, "random_state": 0}
    TransformerMultiLabelClassifier(**values)._validate_params()
    # nothing given: only the CLI's own defaults, the estimator's apply to the rest
    assert _params.cli_values(parser.parse_args([])) == {"random_state": 0, "verbose": 1}


@pytest.mark.parametrize("flag, value", [("--learning-rate", "inf"), ("--learning-rate", "0"),
                                         ("--max-length", "4"), ("--warmup-ratio", "2"),
                                         ("--threshold", "1.5"), ("--batch-size", "x")])
def test_cli_errors_name_the_flag_and_the_rule(flag, value, capsys):
    parser = argparse.ArgumentParser()
    _add_table_options(parser)
    with pytest.raises(SystemExit):
        parser.parse_args([flag, value])
    err = capsys.readouterr().err
    assert f"for {flag}; use" in err and repr(value) in err


# ------------------------------------------------------------- skbert.json
def test_folder_params_checks_values_against_the_table():
    params = dict(_params.DEFAULTS, max_epochs=2, compile={"mode": "x"}, fit_cache="/tmp/x",
                  unknown=1)
    got = _params.folder_params({"params": json.loads(json.dumps(params))}, "F/skbert.json")
    assert got["max_epochs"] == 2
    assert not set(got) & _params.FOLDER_UNSAFE_PARAMS and "unknown" not in got
    for name, bad in [("max_epochs", 0), ("learning_rate", "fast"), ("threshold_metric", "x"),
                      ("warmup_ratio", 2.0), ("early_stopping", "yes")]:
        with pytest.raises(ValueError, match=rf"F/skbert.json.*{name}.*save_pretrained"):
            _params.folder_params({"params": {name: bad}}, "F/skbert.json")


def test_from_pretrained_refuses_a_planted_parameter(tmp_path, tiny_st_model, corpus):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, random_state=0,
                                          device="cpu", precision="fp32", fit_cache=False)
    est.fit(X, Y).save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / "skbert.json"
    settings = json.loads(path.read_text())
    assert settings["params"]["max_epochs"] == 1
    settings["params"]["max_length"] = -5
    path.write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="max_length.*save the model again"):
        TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")


def test_skbert_train_help_has_every_flag_of_the_table(capsys):
    from skbert.cli import main

    assert main(["train", "--help"]) == 0
    shown = set(re.findall(r"(--[a-z][a-z-]*)", capsys.readouterr().out))
    assert {o.flag for o in _params.cli_params()} <= shown


def test_every_cli_help_names_its_default_once():
    # the table's model help names its default in words; cli_params adds none after it
    for opt in _params.cli_params():
        assert opt.help.count("(default:") == 1, opt.help
    model = next(o for o in _params.cli_params() if o.name == "model_name_or_path")
    assert model.help.endswith("(default: the bundled all-MiniLM-L6-v2)")


@pytest.mark.parametrize("cls_name", ["TransformerMultiLabelClassifier",
                                      "ZeroShotMultiLabelClassifier", "TransformerEmbedder"])
def test_a_bool_is_refused_by_every_numeric_parameter(cls_name):
    """``min_labels=True`` was taken as 1 (a bool is an int to Python): every
    parameter that takes a number refuses True and False, naming the parameter."""
    import numpy as np
    from sklearn.utils._param_validation import InvalidParameterError

    import skbert
    from skbert._validation import NumberInterval

    cls = getattr(skbert, cls_name)
    if cls_name == "ZeroShotMultiLabelClassifier":  # its one required argument
        cls = functools.partial(cls, labels=["sport", "politics"])
        cls._parameter_constraints = skbert.ZeroShotMultiLabelClassifier._parameter_constraints
    numeric = [name for name, constraints in cls._parameter_constraints.items()
               if any(isinstance(c, NumberInterval) for c in constraints)]
    assert {"max_length"} <= set(numeric)
    for name in numeric:
        for value in (True, False, np.True_):
            with pytest.raises(InvalidParameterError, match=rf"'{name}'.*not a bool.*Got"):
                cls(**{name: value})._validate_params()
    # numbers, NumPy's included, still pass
    some = {n: cls().get_params()[n] for n in numeric}
    cls(**{n: v for n, v in some.items() if v is not None})._validate_params()
    cls(max_length=np.int64(32))._validate_params()
