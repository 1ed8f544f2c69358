"""The ``skbert`` argument parser, built from the one parameter table (:mod:`skbert._params`).

``skbert train`` has one option per estimator parameter with a ``flag`` in the
table; ``predict`` and ``evaluate`` take the table's options that apply to a
saved model. The same flag has the same type and action in every command. Errors
speak in flags: :func:`speak_flags` rewrites the estimator's messages, which name
Python parameters.
"""

from __future__ import annotations

import argparse
import difflib
import numbers
import re
import shlex
import sys
import warnings

from ._params import PARAM, PARAMS, PREDICT_TIME_PARAMS, cli_params, cli_values, json_kind
from ._thresholds import check_threshold, plain_label

_DATA_HELP = "labelled file (.jsonl, .json, .csv, .tsv, .parquet), or - for stdin"
#: Input formats of ``--input-format`` (for ``-``, stdin).
INPUT_FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "txt")
#: Options of a saved model's commands (predict, evaluate), taken from the table: every
#: predict-time parameter's flag (changing it needs no refit), then where and how it runs.
SAVED_MODEL_FLAGS = (*(p.flag for p in PARAMS if p.name in PREDICT_TIME_PARAMS and p.flag),
                     "--device", "--compile", "--verbose")
#: Help of the saved model's options where it differs from training's.
_SAVED_HELP = {
    "--threshold": "decision threshold: a number in [0, 1], one per label in the model's "
                   "order (0.3,0.5,...), or auto for the thresholds tuned in training "
                   "(default: as saved)",
    "--predict-batch-size": "texts per forward pass (default: as saved)",
    "--device": "auto, cpu, cuda, cuda:1, mps (default: auto)",
    "--compile": "run the model through PyTorch's compiler (default: no)",
    "--verbose": "0 quiet (default); 1 or more (--verbose alone) a progress bar on stderr",
}
#: Options that may be given without a value, and the value they then take.
_BARE = {"--verbose": 2}
#: Deprecated spellings of an option, and the option they stand for.
DEPRECATED = {"--json": "--output"}
#: Where ``skbert evaluate --json`` is kept until :func:`merge_deprecated_output` reads it.
DEPRECATED_DEST = "deprecated_json"


def _columns(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one column name, e.g. a,b,c")
    twice = sorted({n for n in names if names.count(n) > 1}, key=names.index)
    if twice:
        once = ",".join(dict.fromkeys(names))
        raise argparse.ArgumentTypeError(
            f"{', '.join(map(repr, twice))} {'is' if len(twice) == 1 else 'are'} given more "
            f"than once; name each column once, e.g. --label-columns {once}")
    return names


class _Deprecated(argparse.Action):
    """Store under the new option's name and warn that the old spelling is deprecated."""

    def __call__(self, parser, namespace, values, option_string=None):
        warnings.warn(f"{option_string} is deprecated; use {DEPRECATED[option_string]} "
                      "(the same meaning)", FutureWarning, stacklevel=2)
        setattr(namespace, self.dest, values)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors about a subcommand's option say which subcommand takes it,
    and whose options take a value that begins with one ``-`` (``--labels -3,4``)."""

    def parse_known_args(self, args=None, namespace=None):
        if args is not None:
            args = _attach_dash_values(list(args), self._option_string_actions)
        return super().parse_known_args(args, namespace)

    def error(self, message):
        """One line, ``skbert: error: ...`` naming where the help is, and exit code 2."""
        hint = self._subcommand_hint(message) if self.prog == "skbert" else None
        message = plain_constraints(hint or message)
        if "--help" not in message:
            message += f" (see '{self.prog} --help')"
        self.exit(2, f"skbert: error: {message}\n")

    def _subcommand_hint(self, message: str = "") -> str | None:
        """For an unknown option before the subcommand: the subcommands that take it;
        after it (``unrecognized arguments``): the subcommand's options it looks like."""
        subs = next((a.choices for a in self._actions
                     if isinstance(a, argparse._SubParsersAction)), {})
        argv = getattr(self, "argv", None)
        args = list(sys.argv[1:] if argv is None else argv)
        for i, arg in enumerate(args):
            if arg in subs:
                if message.startswith("unrecognized arguments"):
                    return _unknown_after(arg, subs, args[i + 1:])
                return None
            flag = arg.split("=", 1)[0]
            if not flag.startswith("--") or flag in self._option_string_actions:
                continue
            takers = [f"skbert {name}" for name, p in subs.items()
                      if flag in p._option_string_actions]
            if takers:
                return (f"{flag} is an option of {' and '.join(takers)}; put it after the "
                        f"subcommand, e.g. '{takers[0]} ... {flag} ...'")
            known = sorted({f for p in subs.values() for f in p._option_string_actions
                            if f.startswith("--")})
            close = difflib.get_close_matches(flag, known, n=3, cutoff=0.7)
            close = (close + [f for f in known if flag[2:] in f and f not in close])[:3]
            if close:
                takes = {f: "/".join(n for n, p in subs.items() if f in p._option_string_actions)
                         for f in close}
                shown = ", ".join(f"{f} (skbert {takes[f]})" for f in close)
                return f"unknown option {flag}; did you mean {shown}?"
            return (f"unknown option {flag}; options follow a subcommand (train, predict, "
                    "evaluate, demo): see 'skbert COMMAND --help'")
        return None


def _attach_dash_values(args: list[str], actions: dict) -> list[str]:
    """``args`` with ``--labels -3,4`` written ``--labels=-3,4``, the form argparse reads.

    argparse takes a token that begins with ``-`` for an option unless it is
    one negative number (``-3``), so ``--labels -3,4`` (int labels),
    ``--label-columns -1,-2`` or ``--threshold -0.5,0.5`` failed with
    "expected one argument". As with getopt, an option that takes one value
    takes the next token when it begins with a single ``-`` and is not one of
    the command's options; ``--`` ends the options, and a token that begins
    with ``--`` stays an option (``--labels --top-k 3`` still says the value
    is missing).
    """
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return out + args[i:]
        action = _one_value_action(arg, actions)
        nxt = args[i + 1] if i + 1 < len(args) else ""
        if (action is not None and len(nxt) > 1 and nxt[0] == "-" and nxt[1] != "-"
                and nxt not in actions):
            out.append(f"{arg}={nxt}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _one_value_action(arg: str, actions: dict) -> argparse.Action | None:
    """The action of option ``arg`` (or of the one option it abbreviates) if it takes one value."""
    if not arg.startswith("--") or "=" in arg:
        return None
    found = {a for flag, a in actions.items() if flag == arg} or \
        {a for flag, a in actions.items() if flag.startswith(arg)}
    action = found.pop() if len(found) == 1 else None
    return action if action is not None and action.nargs is None else None


def _unknown_after(command: str, subs: dict, args: list[str]) -> str | None:
    """The message for options ``skbert COMMAND`` does not take, with the closest it does.

    ``skbert train d.jsonl --out m --epochs 2`` says "did you mean --max-epochs?"
    (:mod:`difflib`, or an option that contains the word), like an unknown option
    before the subcommand does; one that another subcommand takes says which.
    """
    parser = subs[command]
    known = sorted(f for f in parser._option_string_actions if f.startswith("--"))
    for arg in args:
        if arg == "--":
            break
        flag = arg.split("=", 1)[0]
        if not flag.startswith("--") or any(f.startswith(flag) for f in known):
            continue  # a value, or an option argparse took (or took as an abbreviation)
        close = difflib.get_close_matches(flag, known, n=3, cutoff=0.7)
        close = (close + [f for f in known if len(flag) > 3 and flag[2:] in f
                          and f not in close])[:3]
        takers = [f"skbert {name}" for name, p in subs.items()
                  if name != command and flag in p._option_string_actions]
        others = f"{flag} is an option of {' and '.join(takers)}" if takers else ""
        see = f"(see 'skbert {command} --help')"
        if close:
            return (f"skbert {command} has no option {flag}; did you mean "
                    f"{' or '.join(close)}?{f' ({others})' if others else ''} {see}")
        if others:
            return f"{others}, not of skbert {command} {see}"
        return f"skbert {command} has no option {flag} {see}"
    return None


def _add_table_options(p: argparse.ArgumentParser, flags=None, *, saved=None) -> None:
    """Add the parameter table's options: all with a flag, or those in ``flags``.

    An option not given leaves no attribute (the estimator's default applies,
    or a saved model's setting), except where the command line has its own
    default (``skbert train --random-state 0``). ``saved``: the options act on
    a saved model (help says "default: as saved"); by default when ``flags`` is
    :data:`SAVED_MODEL_FLAGS`.
    """
    saved = flags == SAVED_MODEL_FLAGS if saved is None else saved
    for opt in cli_params():
        if flags is not None and opt.flag not in flags:
            continue
        help_ = speak_flags(_saved_help(opt) if saved else opt.help)
        if opt.boolean:
            p.add_argument(opt.flag, dest=opt.name, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=help_)
            continue
        extra = {"nargs": "?", "const": _BARE[opt.flag]} if opt.flag in _BARE else {}
        p.add_argument(opt.flag, dest=opt.name, type=opt.parse, choices=opt.choices,
                       metavar=opt.metavar if opt.choices is None else None,
                       default=argparse.SUPPRESS, help=help_, **extra)
    if flags is None:
        p.set_defaults(**{o.name: o.default for o in cli_params()
                          if o.default != PARAM[o.name].default})


def _saved_help(opt) -> str:
    """An option's help on the saved model's commands: a predict-time parameter's default
    there is the value the folder saved."""
    if opt.flag in _SAVED_HELP:
        return _SAVED_HELP[opt.flag]
    if opt.name in PREDICT_TIME_PARAMS:
        return re.sub(r"\(default: [^()]*\)$", "(default: as saved)", opt.help)
    return opt.help


def _add_label_options(p, *, default_label_column) -> None:
    p.add_argument("--text-column", default="text", metavar="COL",
                   help="column holding the texts (default: text)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--label-column", default=default_label_column, metavar="COL",
                       help="column holding a list of label names per row, or names separated "
                            "by ',', ';' or '|' (default: labels)")
    group.add_argument("--label-columns", type=_columns, metavar="A,B,C",
                       help="comma-separated 0/1 columns, one per label, instead of --label-column")


def _add_input_format(p, default: str) -> None:
    p.add_argument("--input-format", choices=INPUT_FORMATS, metavar="FMT",
                   help=f"format of the input when it is - (stdin): {', '.join(INPUT_FORMATS)} "
                        f"(default: {default})")


def _add_output_overwrite(p) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --output file (never one inside a model folder, "
                        "which is refused with or without this flag)")


def _add_saved_model_options(p) -> None:
    """Options of the commands that load a saved model (predict, evaluate)."""
    _add_table_options(p, SAVED_MODEL_FLAGS)
    p.set_defaults(**{o.name: 0 for o in cli_params() if o.flag in _BARE})
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                   help="predict with torch, or with onnxruntime from an ONNX export made once "
                        "into FOLDER/onnx and reused (pip install \"skbert[onnx]\"; "
                        "default: torch)")
    p.add_argument("--quantize", action="store_true",
                   help="with --backend onnx: an int8-quantised copy, 4x smaller and usually "
                        "faster "
                        "on CPUs; it changes predictions (on a fine-tuned MiniLM probabilities "
                        "moved by up to ~0.4 and some decisions flipped): check it on "
                        "validation data first")


def _add_out(p, default=None) -> None:
    p.add_argument("--out", required=default is None, default=default, metavar="FOLDER",
                   help="where to save the model; a non-empty folder is replaced only with "
                        "--overwrite, and only if skbert wrote it"
                        + (f" (default: ./{default})" if default else ""))
    p.add_argument("--overwrite", action="store_true",
                   help="replace a model folder skbert saved at --out (once training has "
                        "finished)")


def build_parser(commands: dict) -> Parser:
    """The argument parser of the ``skbert`` command.

    Parameters
    ----------
    commands : dict
        ``{"train": cmd_train, ...}``: the function each subcommand runs.
    """
    from ._version import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks instead of one-line errors")
    parser = Parser(
        prog="skbert", parents=[common],
        description="Fine-tune transformer encoders for multi-label text classification.",
        epilog="Run 'skbert demo' for a first fine-tuning on the bundled GoEmotions sample.")
    parser.add_argument("--version", action="version", version=f"skbert {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)

    p = sub.add_parser("train", parents=[common], help="fine-tune a model on a labelled file",
                       description="Fine-tune on DATA (JSONL, CSV, TSV or Parquet) and save "
                                   "the model to --out. Every option but --out, --overwrite, "
                                   "the column and input options is a parameter of "
                                   "TransformerMultiLabelClassifier.")
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    _add_out(p)
    _add_label_options(p, default_label_column="labels")
    _add_input_format(p, "jsonl")
    _add_table_options(p)
    p.set_defaults(func=commands["train"])

    p = sub.add_parser("predict", parents=[common], help="label new texts with a saved model",
                       description="Predict labels and probabilities for the texts in INPUT.")
    p.add_argument("folder", metavar="FOLDER", help="model folder written by train or demo")
    p.add_argument("input", metavar="INPUT",
                   help="texts: .jsonl, .json, .csv, .tsv, .parquet, .txt (one per line), "
                        "or - for stdin")
    p.add_argument("--output", metavar="FILE",
                   help="FILE.jsonl or FILE.csv (default: JSON Lines on stdout); an existing "
                        "file is replaced only with --overwrite")
    _add_output_overwrite(p)
    p.add_argument("--format", choices=["jsonl", "csv"],
                   help="output format (default: from the --output extension, else jsonl)")
    p.add_argument("--text-column", default="text", metavar="COL",
                   help="column holding the texts (default: text)")
    _add_input_format(p, "txt")
    _add_saved_model_options(p)
    p.set_defaults(func=commands["predict"])

    p = sub.add_parser("evaluate", parents=[common], help="score a saved model on a labelled file",
                       description="Per-label P/R/F1, micro and macro F1 and LRAP of "
                                   "FOLDER's model on DATA.")
    p.add_argument("folder", metavar="FOLDER", help="model folder written by train or demo")
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    _add_label_options(p, default_label_column=None)
    _add_input_format(p, "jsonl")
    p.add_argument("--output", metavar="FILE",
                   help="also write the metrics to FILE as JSON (-: to standard output, and "
                        "the report to standard error); an existing file is replaced only "
                        "with --overwrite")
    _add_output_overwrite(p)
    p.add_argument("--json", dest=DEPRECATED_DEST, action=_Deprecated, metavar="FILE",
                   default=argparse.SUPPRESS, help="deprecated spelling of --output")
    _add_saved_model_options(p)
    p.set_defaults(func=commands["evaluate"])

    p = sub.add_parser("demo", parents=[common],
                       help="fine-tune on the bundled GoEmotions sample and compare with TF-IDF",
                       description="Fine-tune the default model on the bundled GoEmotions sample, "
                                   "report per-label scores on its test part beside a TF-IDF + "
                                   "logistic regression baseline, and save the model.")
    _add_out(p, default="skbert-demo-model")
    p.add_argument("--n-train", type=int, metavar="N", help="training texts (default: 3000)")
    p.add_argument("--quick", action="store_true", help="a smoke test: 200 texts, 1 epoch")
    _add_table_options(p, ("--model", "--max-epochs", "--device"))
    p.set_defaults(func=commands["demo"])

    from ._cli_explain import add_parser as add_explain

    add_explain(sub, parents=[common]).set_defaults(func=commands["explain"])
    return parser


# ------------------------------------------------------------ parsed values
def merge_deprecated_output(args) -> None:
    """Set ``args.output`` from ``skbert evaluate --json`` (its deprecated spelling).

    Both given name one option twice: accepted when they name the same file,
    refused (before any work) when they name two, rather than writing one of
    them and silently not the other.
    """
    import os

    old = getattr(args, DEPRECATED_DEST, None)
    if old is None:
        return
    new = args.output
    if new is not None and new != old and ("-" in (new, old) or os.path.realpath(new)
                                           != os.path.realpath(old)):
        raise ValueError(
            f"--output {new!r} and --json {old!r} name two files, but --json is the "
            "deprecated spelling of --output: one option given twice. Give --output once "
            f"(e.g. --output {shlex.quote(new)}).")
    args.output = old if new is None else new


_BY_FLAG = {p.flag: p.name for p in PARAMS if p.flag}


def given(values: dict, flag: str):
    """The value of the parameter behind ``flag`` in ``values`` (``cli_values``), or None."""
    return values.get(_BY_FLAG[flag])


def table_values(flags) -> dict:
    """Estimator parameters from ``skbert train`` options, e.g. ``("--max-epochs", "3")``."""
    p = argparse.ArgumentParser(add_help=False)
    _add_table_options(p)
    return cli_values(p.parse_args(list(flags)))


def saved_model_options(args) -> tuple[dict, dict, bool]:
    """A saved model's command options: ``from_pretrained`` keywords, parameters to set
    on the loaded model, and whether to show a progress bar."""
    values = cli_values(args)
    load = {"device": values.pop(_BY_FLAG["--device"], "auto"), "backend": args.backend,
            "quantize": args.quantize}
    if args.backend == "onnx" and given(values, "--compile"):
        raise ValueError("--compile applies to --backend torch; drop it with --backend onnx.")
    if args.quantize and args.backend != "onnx":
        raise ValueError("--quantize applies to ONNX models; add --backend onnx.")
    return load, values, bool(given(values, "--verbose"))


# --------------------------------------------------------------- errors in flags
_FLAGS = {p.name: p.flag for p in PARAMS if p.flag}
#: The data loader's parameters (``load_texts_and_labels``), which the command line's
#: column options set.
_LOADER_FLAGS = {"label_columns": "--label-columns", "label_column": "--label-column",
                 "text_column": "--text-column"}
_NAMES = "|".join(sorted(map(re.escape, _FLAGS), key=len, reverse=True))
#: Parameters whose option is an on/off switch (``--early-stopping``/``--no-early-stopping``).
_SWITCHES = "|".join(sorted((re.escape(o.name) for o in cli_params() if o.boolean),
                            key=len, reverse=True))
_PATTERNS = [
    # sklearn: "The 'name' parameter of TransformerMultiLabelClassifier must be ..."
    (rf"The '({_NAMES})' parameter of \w+", lambda m: _FLAGS[m[1]]),
    # a switch: contrastive_label_texts=False -> --no-contrastive-label-texts
    (rf"\b({_SWITCHES})=(True|False)\b",
     lambda m: _FLAGS[m[1]] if m[2] == "True" else f"--no-{_FLAGS[m[1]][2:]}"),
    # a quoted value keeps its quotes where a shell needs them: --device 'cuda:0 '
    (rf"\b({_NAMES})=(?:'([^']*)'|\"([^\"]*)\"|([\w.+-]+))",
     lambda m: f"{_FLAGS[m[1]]} " + (m[4] if m[4] is not None
                                      else shlex.quote(m[2] if m[2] is not None else m[3]))),
    # one number per label: pos_weight=[1.0] * 4 -> --pos-weight 1.0,1.0,1.0,1.0
    (rf"\b({_NAMES})=\[([\w.+\-]+)\] \* (\d+)\b",
     lambda m: f"{_FLAGS[m[1]]} " + ",".join([m[2]] * min(int(m[3]), 6))
     + (",..." if int(m[3]) > 6 else "")),
    # a list of numbers, as the command line takes it: threshold=[0.1, 0.2] -> --threshold 0.1,0.2
    (rf"\b({_NAMES})=\[([\w.+\-, ]+)\]",
     lambda m: f"{_FLAGS[m[1]]} {m[2].replace(' ', '')}"),
    (rf"\b({_NAMES})='?\[?\.\.\.\]?'?", lambda m: _FLAGS[m[1]]),
    (rf"(?<![\w-])'({_NAMES})'(?!\w)", lambda m: _FLAGS[m[1]]),
    (rf"\b(set|pass|lower|raise|give|use|with) ({_NAMES})\b",
     lambda m: f"{m[1]} {_FLAGS[m[2]]}"),
    # a name with an underscore is an identifier, never an English word
    (rf"(?<![\w'-])({'|'.join(n for n in _FLAGS if '_' in n)})(?![\w'=])",
     lambda m: _FLAGS[m[1]]),
    # a message that opens with a per-label parameter: "threshold holds 1.5 at label 'tech'"
    (r"^(threshold) (?=holds |has |is |lists |gives )",
     lambda m: f"{_FLAGS[m[1]]} "),
    # the estimator's Python words for the order of the labels
    (r"\bin classes_ order\b", "in the model's label order"),
    (r"\bpass overwrite=True \(--overwrite on the command line\)", "pass --overwrite"),
    (r"\boverwrite=True\b", "--overwrite"),
    # the data loader's parameters, which are options of the command line
    (rf"(?<![\w'-])'?({'|'.join(_LOADER_FLAGS)})'?(?![\w=])", lambda m: _LOADER_FLAGS[m[1]]),
]
#: A parameter constraint's Python words in a usage error, and the command line's.
_PLAIN_CONSTRAINTS = [
    (r", an instance of 'bool' or an instance of 'numpy\.bool_?'", ""),  # numpy 1: bool_
    (r"(?:,| or) an instance of 'numpy\.random\.mtrand\.RandomState' or None", ""),
    (r"an int in the range \[(\d+), inf\)", r"a whole number, \1 or more"),
    (r"an int in the range \[(\d+), (\d+)\]", r"a whole number from \1 to \2"),
]


def plain_constraints(message: str) -> str:
    """A usage error's constraint in the command line's words (no Python types).

    Examples
    --------
    >>> plain_constraints("use an int in the range [0, inf), an instance of 'bool' or an "
    ...                   "instance of 'numpy.bool'")
    'use a whole number, 0 or more'
    """
    for pattern, repl in _PLAIN_CONSTRAINTS:
        message = re.sub(pattern, repl, message)
    return message


def check_threshold_list(threshold, labels) -> None:
    """Refuse a per-label ``--threshold 0.3,0.5,...`` that does not fit the model's ``labels``.

    The rules are the estimator's, :func:`~skbert._thresholds.check_threshold`
    (one number in [0, 1] per label, in the labels' order); this only words its
    refusal for the command line: the flag with the values as typed, the label
    rather than its index, and an example to copy. One number and ``auto`` are
    left to the parser, which checks them against the parameter table.

    Examples
    --------
    >>> check_threshold_list([0.3, 1.5], ["food", "tech"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --threshold 0.3,1.5 holds 1.5 for label 'tech', outside [0, 1]; ...
    """
    if not isinstance(threshold, (list, tuple)):
        return
    try:
        check_threshold(threshold, len(labels), labels)
    except ValueError as exc:
        raise ValueError(_threshold_list_refusal(threshold, labels, exc)) from exc


def check_label_descriptions(descriptions, labels) -> None:
    """Refuse a ``--label-descriptions`` object that does not fit the training file's
    ``labels``, in JSON's and the command line's words.

    The rules are the estimator's (:func:`skbert._label_init.description_problem`:
    every key one of the labels, once, every value a non-empty string of at most
    :data:`~skbert._label_init.MAX_DESCRIPTION_CHARS` characters); this words its
    refusal for a JSON object (null, true/false, a number, a string; the model's label
    names, not ``classes_``) before training starts.

    Examples
    --------
    >>> check_label_descriptions({"joy": True}, ["joy", "anger"])
    Traceback (most recent call last):
    ...
    ValueError: --label-descriptions gives the label "joy" true, not a description; ...
    """
    import json

    from ._label_init import MAX_DESCRIPTION_CHARS, description_problem

    if not isinstance(descriptions, dict):
        return
    problem = description_problem(descriptions, labels)
    if problem is None:
        return
    text, names = problem.text, problem.names
    label = json.dumps(str(problem.key), ensure_ascii=False)
    example = "{" + label + ': "words saying what it means"}'
    if problem.kind in ("key", "same"):  # JSON keys are text: two never name one label
        shown = ", ".join(json.dumps(n, ensure_ascii=False) for n in names[:8])
        more = f" and {len(names) - 8} more" if len(names) > 8 else ""
        close = difflib.get_close_matches(str(problem.key), names, n=1)
        hint = f" (did you mean {json.dumps(close[0], ensure_ascii=False)}?)" if close else ""
        first = json.dumps(names[0], ensure_ascii=False) if names else '"sports"'
        raise ValueError(
            f"--label-descriptions has the key {label}{hint}, which is not one of the "
            f"model's label names ({shown}{more}); use those names as keys, e.g. "
            f'{{{first}: "words saying what it means"}}.')
    if problem.kind == "text" and not isinstance(text, str):
        raise ValueError(
            f"--label-descriptions gives the label {label} {json_kind(text)}, not a "
            f"description; each description must be a non-empty string, e.g. {example}.")
    if problem.kind == "text":
        raise ValueError(
            f"--label-descriptions gives the label {label} "
            f"{'an empty string' if not text else 'a string of only spaces'}; each "
            f"description must be a non-empty string, e.g. {example}, or leave the label "
            "out to use its name.")
    raise ValueError(
        f"--label-descriptions gives the label {label} a description of {len(text.strip())} "
        f"characters; keep each to at most {MAX_DESCRIPTION_CHARS} (a sentence or two is "
        "enough).")


def _threshold_list_refusal(threshold, labels, exc: ValueError) -> str:
    """:func:`check_threshold`'s refusal ``exc`` of the per-label ``threshold``, in the
    command line's words (its kind says what was wrong; one without a kind is only
    rewritten into flags)."""
    labels = [plain_label(lab) for lab in labels]
    n = len(labels)
    given_ = ",".join(map(_as_typed, threshold)) or "''"
    example = ",".join(["0.5"] * min(n, 6)) + (",..." if n > 6 else "")
    kind, index = getattr(exc, "kind", None), getattr(exc, "index", None)
    if kind == "count":
        shown = ", ".join(map(str, labels[:10])) + (", ..." if n > 10 else "")
        return (
            f"--threshold {given_} has {len(threshold)} value{'s' * (len(threshold) != 1)} "
            f"but the model has {n} label{'s' * (n != 1)} ({shown}); give one number for "
            f"every label (--threshold 0.5), or {n} comma-separated numbers in that order "
            f"(--threshold {example}).")
    if kind in ("nan", "range") and index is not None:
        why = "outside [0, 1]" if kind == "range" else "which is not a number"
        return (
            f"--threshold {given_} holds {_as_typed(threshold[index])} for label "
            f"{labels[index]!r}, {why}; every threshold must lie in [0, 1] (0 predicts the "
            f"label for every text, 1 for none), e.g. --threshold {example}.")
    if kind in ("type", "shape"):  # text, True/False, None, nested lists: not numbers
        return (
            f"--threshold {given_} is not a list of numbers; give one number in [0, 1] for "
            f"every label (--threshold 0.5), or {n} comma-separated numbers in the model's "
            f"label order (--threshold {example}).")
    return speak_flags(str(exc))


def _as_typed(value) -> str:
    """A threshold as the command line shows it: ``0.3`` for a number (``:g``), else its repr."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):  # np.bool_ isn't
        try:
            return format(value, "g")
        except (TypeError, ValueError):  # a Real without :g (fractions.Fraction)
            return str(value)
    return repr(value)


def check_auto_threshold(clf, folder: str, threshold) -> None:
    """Refuse ``--threshold auto`` for a saved model that has no tuned thresholds, in the
    command line's words (the estimator's error speaks of refitting in Python)."""
    if threshold == "auto" and not hasattr(clf, "thresholds_"):
        raise ValueError(
            f"--threshold auto uses the thresholds tuned in training, but {folder!r} was "
            "trained without them (no validation split, or a fixed threshold). Pass a number "
            "(--threshold 0.5, or one per label: 0.3,0.5,...), leave --threshold out to use the "
            "saved one, or retrain with 'skbert train DATA --threshold auto'.")


def speak_flags(message: str) -> str:
    """``message`` with the estimator's parameter names replaced by their flags.

    Examples
    --------
    >>> speak_flags("The 'threshold' parameter of X must be <= 1. Got 2.0 instead.")
    '--threshold must be <= 1. Got 2.0 instead.'
    >>> speak_flags("Refit with threshold='auto', or set a float threshold.")
    'Refit with --threshold auto, or set a float threshold.'
    >>> speak_flags("device='cuda:0 ' is not a device torch understands.")
    "--device 'cuda:0 ' is not a device torch understands."
    >>> speak_flags("threshold=[0.1, 0.2] has 2 values but the model has 4 labels")
    '--threshold 0.1,0.2 has 2 values but the model has 4 labels'
    >>> speak_flags("Pass early_stopping=True, or contrastive_label_texts=False.")
    'Pass --early-stopping, or --no-contrastive-label-texts.'
    >>> speak_flags("Pass e.g. pos_weight=[1.0] * 4, or pos_weight='balanced'.")
    'Pass e.g. --pos-weight 1.0,1.0,1.0,1.0, or --pos-weight balanced.'
    """
    for pattern, repl in _PATTERNS:
        message = re.sub(pattern, repl, message)
    return message
