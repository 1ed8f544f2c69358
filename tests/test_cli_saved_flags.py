"""The saved model's commands (predict, evaluate) take every predict-time parameter's flag,
generated from the parameter table (issue 21), not a hand-kept list."""

from __future__ import annotations

import pytest

from skbert._cli_args import SAVED_MODEL_FLAGS, saved_model_options
from skbert._params import PARAMS, PREDICT_TIME_PARAMS
from skbert.cli import build_parser

PREDICT_FLAGS = [p.flag for p in PARAMS if p.name in PREDICT_TIME_PARAMS and p.flag]


def test_saved_model_flags_are_the_predict_time_flags_then_the_run_settings():
    assert PREDICT_FLAGS and set(PREDICT_FLAGS) <= set(SAVED_MODEL_FLAGS)
    assert list(SAVED_MODEL_FLAGS) == [*PREDICT_FLAGS, "--device", "--compile", "--verbose"]


@pytest.mark.parametrize("command, extra", [("predict", ["in.txt"]), ("evaluate", ["d.jsonl"])])
def test_every_predict_time_flag_sets_the_loaded_model(command, extra):
    parser = build_parser()
    for param in (p for p in PARAMS if p.name in PREDICT_TIME_PARAMS and p.flag):
        value = {"threshold": "0.25"}.get(param.name, "3")
        args = parser.parse_args([command, "folder", *extra, param.flag, value])
        load, values, _ = saved_model_options(args)
        assert param.name in values and param.name not in load


def test_predict_help_gives_predict_time_defaults_as_saved(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in PREDICT_FLAGS:
        start = text.index(f" {flag} ", text.index("options:"))
        end = text.index(" --", start + len(flag) + 2)
        assert "(default: as saved)" in text[start:end], text[start:end]
