"""The ``skbert`` command line: train, predict, evaluate and a self-contained demo.

Usage::

    skbert demo                                  # fine-tune on the bundled GoEmotions sample
    skbert train data.jsonl --out my-model       # fine-tune on your own file
    skbert predict my-model texts.txt --output predictions.csv
    skbert evaluate my-model test.jsonl --json metrics.json

Every subcommand is also reachable as ``python -m skbert``. Mistakes in paths,
columns or labels end with one line, ``skbert: error: <what to fix>``, and exit
code 2; ``--debug`` shows the traceback instead. Output paths are checked before
any training or predicting, a model is written to a temporary sibling folder and
renamed into place only once complete, and an existing non-empty ``--out``
folder is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

#: Fine-tuning settings of ``skbert demo`` (the default model on the bundled sample).
DEMO_PARAMS = dict(max_epochs=3, batch_size=16, max_length=64, threshold="auto",
                   validation_fraction=0.1, random_state=0, verbose=2)
#: Training texts ``skbert demo`` uses (the bundled train part holds 3,000).
DEMO_N_TRAIN = 3000
#: Sizes of ``skbert demo --quick``: a smoke test, not a meaningful model.
DEMO_QUICK = dict(n_train=200, n_test=200, max_epochs=1, verbose=1)
#: The TF-IDF + logistic regression baseline ``skbert demo`` compares against.
BASELINE_PARAMS = dict(tfidf=dict(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
                       logreg=dict(C=4, class_weight="balanced", max_iter=1000))

#: Errors that mean "fix your input", printed as one line instead of a traceback.
USER_ERRORS = (OSError, ValueError, KeyError)

_DATA_HELP = "labelled file (.jsonl, .json, .csv, .tsv, .parquet)"
_TEXT_FORMATS = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".txt")
_OUTPUT_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}
#: Texts per ``predict_proba`` call of ``skbert predict`` (one progress-bar step).
PREDICT_CHUNK = 4096
#: Files of which a checkpoint folder needs at least one to have a tokenizer.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                    "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
#: Exit code of a command stopped with Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


# --------------------------------------------------------------------------- parser
def _number_or_auto(value: str, what: str, ok, rule: str, bad: str):
    """``"auto"``, or ``value`` as a float for which ``ok`` holds; else an argparse error
    (``rule``: what is expected; ``bad``: what a number failing ``ok`` is)."""
    if value == "auto":
        return "auto"
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid {what} {value!r}; use {rule} or 'auto'") from None
    if not ok(x):
        raise argparse.ArgumentTypeError(f"{what} {value} is {bad}; use {rule}")
    return x


def _threshold(value: str):
    return _number_or_auto(value, "threshold", lambda t: 0 <= t <= 1, "a number in [0, 1]",
                           "outside [0, 1]")


def _learning_rate(value: str):
    return _number_or_auto(value, "learning rate", lambda x: 0 < x < float("inf"),
                           "a positive finite number such as 2e-4", "not positive and finite")


def _pos_weight(value: str):
    if value == "balanced":
        return "balanced"
    try:
        weights = [float(v) for v in value.split(",")]
    except ValueError:
        weights = []
    if not weights or not all(0 < w < float("inf") for w in weights):
        raise argparse.ArgumentTypeError(
            f"invalid --pos-weight {value!r}; use 'balanced' or positive numbers separated "
            "by commas, one per label in the label order, e.g. 1,4.5,2")
    return weights


def _columns(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one column name, e.g. a,b,c")
    return names


def _add_label_options(p: argparse.ArgumentParser, *, default_label_column) -> None:
    p.add_argument("--text-column", default="text", metavar="COL",
                   help="column holding the texts (default: text)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--label-column", default=default_label_column, metavar="COL",
                       help="column holding a list of label names per row, or names separated "
                            "by ',', ';' or '|' (default: labels)")
    group.add_argument("--label-columns", type=_columns, metavar="A,B,C",
                       help="comma-separated 0/1 columns, one per label, instead of --label-column")


def _add_saved_model_options(p) -> None:
    """Options of the commands that load a saved model (predict, evaluate)."""
    p.add_argument("--threshold", type=_threshold, metavar="FLOAT|auto",
                   help="override the saved decision threshold")
    p.add_argument("--device", default="auto", metavar="DEV", help="(default: auto)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="run the model through torch.compile, or not (default: as saved)")
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                   help="predict with torch, or with onnxruntime from an ONNX export made once "
                        "into FOLDER/onnx and reused (pip install \"skbert[onnx]\"; "
                        "default: torch)")
    p.add_argument("--quantize", action="store_true",
                   help="with --backend onnx: an int8-quantised copy, faster on most CPUs; "
                        "probabilities move by up to a few hundredths")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skbert`` command."""
    from ._estimator import TransformerMultiLabelClassifier
    from ._version import __version__

    est = TransformerMultiLabelClassifier().get_params()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks instead of one-line errors")

    parser = argparse.ArgumentParser(
        prog="skbert", parents=[common],
        description="Fine-tune transformer encoders for multi-label text classification.",
        epilog="Run 'skbert demo' for a first fine-tuning on the bundled GoEmotions sample.")
    parser.add_argument("--version", action="version", version=f"skbert {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", parents=[common], help="fine-tune a model on a labelled file",
                       description="Fine-tune on DATA (JSONL, CSV, TSV or Parquet) and save "
                                   "the model to --out.")
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    p.add_argument("--out", required=True, metavar="FOLDER",
                   help="where to save the model; a non-empty folder needs --overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty --out folder (only once training has finished)")
    p.add_argument("--model", metavar="M",
                   help="Hugging Face checkpoint folder or hub name (default: the bundled "
                        "all-MiniLM-L6-v2)")
    _add_label_options(p, default_label_column="labels")
    p.add_argument("--max-epochs", type=int, metavar="N",
                   help=f"passes over the data (default: {est['max_epochs']})")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help=f"texts per step (default: {est['batch_size']})")
    p.add_argument("--learning-rate", type=_learning_rate, metavar="LR|auto",
                   help="peak AdamW learning rate; auto: 2e-4 for models of up to 50M "
                        f"parameters, else 5e-5 (default: {est['learning_rate']})")
    p.add_argument("--max-length", type=int, metavar="N",
                   help=f"tokens per text, or per window (default: {est['max_length']})")
    p.add_argument("--threshold", type=_threshold, metavar="FLOAT|auto",
                   help="decision threshold; 'auto' tunes it on a validation split (see "
                        f"--threshold-metric; default: {est['threshold']})")
    p.add_argument("--threshold-metric", choices=["f1_micro_global", "f1", "f1_micro"],
                   help="how --threshold auto tunes: one threshold for all labels "
                        "maximising micro-F1, one per label maximising its F1, or one per "
                        f"label maximising micro-F1 (default: {est['threshold_metric']})")
    p.add_argument("--long-text", choices=["truncate", "chunk"],
                   help="texts longer than --max-length: keep the start, or read them in "
                        f"windows (default: {est['long_text']})")
    p.add_argument("--stride", type=int, metavar="N",
                   help=f"tokens shared by consecutive windows (default: {est['stride']})")
    p.add_argument("--max-chunks", type=int, metavar="N",
                   help=f"most windows read per text (default: {est['max_chunks']})")
    p.add_argument("--chunk-pooling", choices=["max", "mean"],
                   help=f"how window logits make a text's (default: {est['chunk_pooling']})")
    p.add_argument("--validation-fraction", type=float, metavar="F",
                   help="share held out for --early-stopping and --threshold auto "
                        f"(default: {est['validation_fraction']})")
    p.add_argument("--early-stopping", action="store_true", default=None,
                   help="stop when the validation score (--scoring) stops improving; keep the best "
                        "epoch")
    p.add_argument("--pos-weight", type=_pos_weight, metavar="balanced|W1,W2,...",
                   help="weight of the positives of each label in the loss: 'balanced' "
                        "(negatives/positives, capped at 100) or one number per label in "
                        "the sorted label order (default: none)")
    p.add_argument("--weight-decay", type=float, metavar="WD",
                   help=f"AdamW weight decay (default: {est['weight_decay']:g})")
    p.add_argument("--warmup-ratio", type=float, metavar="F",
                   help="share of the steps spent warming the learning rate up "
                        f"(default: {est['warmup_ratio']:g})")
    p.add_argument("--head-learning-rate", type=float, metavar="LR",
                   help="learning rate of the new classification head (default: 10x "
                        "--learning-rate)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"],
                   help="autocast precision; auto is bf16 where the hardware runs it fast, "
                        f"else fp32 (default: {est['precision']})")
    p.add_argument("--pooling", choices=["auto", "cls", "mean"],
                   help="text vector: the [CLS] token or the mean of the tokens; auto "
                        "follows the checkpoint's sentence-transformers config "
                        f"(default: {est['pooling']})")
    p.add_argument("--micro-batch-size", type=int, metavar="N",
                   help="texts per forward/backward pass; the gradients of a --batch-size "
                        "batch add up over them (same result, less memory; default: the "
                        "whole batch)")
    p.add_argument("--gradient-checkpointing", action="store_true", default=None,
                   help="recompute activations in the backward pass (less memory, slower)")
    p.add_argument("--checkpoint-dir", metavar="FOLDER",
                   help="save the training state after each epoch there; the same command "
                        "run again resumes after the last completed epoch")
    p.add_argument("--scoring", metavar="SCORER",
                   help="what selects the kept epoch and drives --early-stopping: loss, or a "
                        "scorer name such as f1_micro, f1_macro, r_precision (default: "
                        f"{est['scoring']})")
    p.add_argument("--compile", action="store_true", default=None,
                   help="run the model through torch.compile (a minute or more to compile; "
                        "it paid neither on a 2-core CPU nor on an H200 here: measure first)")
    p.add_argument("--random-state", type=int, default=0, metavar="SEED",
                   help="seeds the head, shuffling and the split (default: 0)")
    p.add_argument("--device", default="auto", metavar="DEV",
                   help="auto, cpu, cuda, cuda:1, mps (default: auto)")
    p.add_argument("--verbose", type=int, nargs="?", const=2, default=1, metavar="N",
                   help="0 silent, 1 one line per epoch (default), 2 progress bars "
                        "(--verbose alone)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", parents=[common], help="label new texts with a saved model",
                       description="Predict labels and probabilities for the texts in INPUT.")
    p.add_argument("folder", metavar="FOLDER", help="model folder written by train or demo")
    p.add_argument("input", metavar="INPUT",
                   help="texts: .jsonl, .json, .csv, .tsv, .parquet, or .txt (one per line)")
    p.add_argument("--output", metavar="FILE",
                   help="FILE.jsonl or FILE.csv (default: JSON Lines on stdout)")
    p.add_argument("--format", choices=["jsonl", "csv"],
                   help="output format (default: from the --output extension, else jsonl)")
    p.add_argument("--text-column", default="text", metavar="COL",
                   help="column holding the texts (default: text)")
    p.add_argument("--verbose", action="store_true",
                   help="show a progress bar on stderr while predicting")
    _add_saved_model_options(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", parents=[common], help="score a saved model on a labelled file",
                       description="Per-label precision/recall/F1, micro and macro F1 and label "
                                   "ranking average precision of FOLDER's model on DATA.")
    p.add_argument("folder", metavar="FOLDER", help="model folder written by train or demo")
    p.add_argument("data", metavar="DATA", help=_DATA_HELP)
    _add_label_options(p, default_label_column=None)
    p.add_argument("--json", metavar="FILE", help="also write the metrics to FILE as JSON")
    _add_saved_model_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", parents=[common],
                       help="fine-tune on the bundled GoEmotions sample and compare with TF-IDF",
                       description="Fine-tune the default model on the bundled GoEmotions sample, "
                                   "report per-label scores on its test part beside a TF-IDF + "
                                   "logistic regression baseline, and save the model.")
    p.add_argument("--out", default="skbert-demo-model", metavar="FOLDER",
                   help="where to save the model (default: ./skbert-demo-model); a "
                        "non-empty folder, such as an earlier demo's, needs --overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty --out folder (only once training has finished)")
    p.add_argument("--model", metavar="M", help="checkpoint to fine-tune (default: bundled MiniLM)")
    p.add_argument("--n-train", type=int, metavar="N",
                   help=f"training texts (default: {DEMO_N_TRAIN})")
    p.add_argument("--max-epochs", type=int, metavar="E",
                   help=f"epochs (default: {DEMO_PARAMS['max_epochs']})")
    p.add_argument("--quick", action="store_true",
                   help=f"a smoke test: {DEMO_QUICK['n_train']} texts, 1 epoch")
    p.add_argument("--device", default="auto", metavar="DEV", help="(default: auto)")
    p.set_defaults(func=cmd_demo)
    return parser


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    """Run the ``skbert`` command line; returns the exit code.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 on a usage or input error, 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    debug = getattr(args, "debug", False)
    if not _is_main_process():  # under torchrun: rank 0 prints, the others only compute
        _silence_stdout()
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.func(args) or 0
        except BrokenPipeError:  # e.g. `skbert predict ... | head`: stop quietly
            _silence_stdout()
            return 0
        except USER_ERRORS as exc:
            if debug:
                raise
            print(f"skbert: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            if debug:
                raise
            saves = args.command in ("train", "demo")
            print(f"skbert: interrupted{'; nothing was saved' if saves else ''}",
                  file=sys.stderr)
            return EXIT_INTERRUPTED


def _is_main_process() -> bool:
    """False on the ranks other than 0 of a torchrun / accelerate launch."""
    from ._distributed import env_rank

    return env_rank() == 0


def _silence_stdout() -> None:
    """Point stdout at devnull so Python's exit flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _one_line(exc: BaseException) -> str:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    msg = " ".join(str(msg).split())
    return msg or type(exc).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"skbert: warning: {_one_line(message) if isinstance(message, Exception) else message}",
          file=sys.stderr if file is None else file)


# --------------------------------------------------------------------------- helpers
def _check_model_arg(model: str | None) -> None:
    """Fail fast, before anything is loaded, on a ``--model`` that cannot work.

    An existing path must be a folder with a ``config.json`` and tokenizer
    files. A missing path must look like a hub name (``bert-base-uncased``,
    ``org/name``) and be in the Hugging Face cache, or the hub must be
    reachable to download it.
    """
    if model is None:
        return
    from ._modeling import resolve_model_path

    path = resolve_model_path(model)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise NotADirectoryError(
                f"--model {model!r} is a file; pass a Hugging Face checkpoint folder "
                "(config.json, weights and tokenizer files) or a hub name.")
        missing = []
        if not os.path.isfile(os.path.join(path, "config.json")):
            missing.append("config.json")
        if not any(os.path.isfile(os.path.join(path, f)) for f in _TOKENIZER_FILES):
            missing.append("tokenizer")
        if missing:
            raise FileNotFoundError(
                f"--model folder {model!r} holds no {'/'.join(missing)}; pass a Hugging Face "
                "checkpoint folder (config.json, weights and tokenizer files, as "
                "save_pretrained writes them).")
        return
    if not _looks_like_hub_name(path):
        raise FileNotFoundError(
            f"--model {model!r} does not exist; a local checkpoint folder was expected (check "
            "the path), or a hub name such as bert-base-uncased (needs internet the first "
            "time).")
    if not _in_hub_cache(path) and not _hub_reachable():
        raise FileNotFoundError(
            f"--model {model!r} is not a local folder and not in the Hugging Face cache, and "
            "the hub cannot be reached to download it; pass a local checkpoint folder, or "
            "connect to the internet (a hub name needs it the first time).")


def _looks_like_hub_name(name: str) -> bool:
    """Whether ``name`` can be a hub repo id rather than only a local path."""
    if os.path.isabs(name) or name.startswith((".", "~")) or "\\" in name:
        return False
    try:
        from huggingface_hub.utils import HFValidationError, validate_repo_id
    except ImportError:  # pragma: no cover - a dependency of transformers
        return re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name) is not None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _in_hub_cache(repo_id: str) -> bool:
    """Whether the Hugging Face cache holds ``repo_id``'s config (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # a broken cache is the loader's business, not this check's
        return False


def _hub_reachable(timeout: float = 5.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection (True behind a proxy)."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover
        return True
    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                                       "all_proxy")):
        return True  # the proxy decides; let the download try
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _check_out_folder(out: str, *, model: str | None = None, overwrite: bool = False) -> None:
    """Check ``--out`` before training: a folder that may be written, and not the model's.

    ``--out`` must not be an existing file; it must not be, lie inside or
    contain the ``--model`` folder (even with ``--overwrite``); a non-empty
    folder needs ``overwrite``; and its parent must be creatable and writable
    (the model is written to a temporary sibling folder, then renamed).
    """
    if os.path.lexists(out) and not os.path.isdir(out):
        raise FileExistsError(
            f"--out {out!r} is an existing file; give a folder path for the model.")
    target = os.path.realpath(out)
    from ._modeling import DEFAULT_MODEL, resolve_model_path

    model_path = resolve_model_path(model if model is not None else DEFAULT_MODEL)
    if os.path.isdir(model_path):
        base = os.path.realpath(model_path)
        common = os.path.commonpath([target, base])
        if common in (target, base):
            relation = ("is" if target == base else "is inside" if common == base
                        else "contains")
            raise ValueError(
                f"--out {out!r} {relation} the --model folder {model_path!r}; saving there "
                "would destroy the checkpoint training starts from, so choose another --out "
                "(--overwrite does not allow this).")
    if os.path.isdir(target):
        entries = sorted(os.listdir(target))
        if entries and not overwrite:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise FileExistsError(
                f"--out {out!r} already holds {len(entries)} file(s) ({shown}); pass "
                "--overwrite to replace that folder once training has finished, or choose a "
                "new --out.")
    _check_writable(target, "--out", out)


def _check_output_file(path: str | None, flag: str, *, data: str, model: str) -> None:
    """Check an output file path (``--output``, ``--json``) before any work is done.

    It must not be a folder, the input file ``data`` or one of the files of
    the ``model`` folder, and its folder must be creatable and writable.
    """
    if path is None:
        return
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"{flag} {path!r} is a folder; give a file path such as "
            f"{os.path.join(path, 'predictions.jsonl')!r}.")
    if os.path.exists(path):
        protected = [(data, f"the input file {data!r}")]
        if os.path.isdir(model):
            protected += [(os.path.join(model, name), f"a file of the model folder {model!r}")
                          for name in os.listdir(model)]
        for other, what in protected:
            if os.path.exists(other) and os.path.samefile(path, other):
                raise ValueError(
                    f"{flag} {path!r} is {what}; writing there would replace it, so choose "
                    "another file name.")
        if not os.access(path, os.W_OK):
            raise PermissionError(
                f"{flag} {path!r} is read-only; make it writable or choose another file.")
    _check_writable(os.path.realpath(path), flag, path)


def _check_writable(target: str, flag: str, shown: str) -> None:
    """Check that ``target`` (an absolute path) can be created next to its siblings.

    Walks up to the nearest existing folder and creates (then removes) a
    temporary folder there: the one test that also catches read-only file
    systems and pseudo file systems such as /proc.
    """
    probe = os.path.dirname(target)
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise NotADirectoryError(
            f"{flag} {shown!r} cannot be created: {probe!r} is a file, not a folder; choose a "
            "path inside a folder.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".skbert-write-check-", dir=probe))
    except OSError as exc:
        raise PermissionError(
            f"{flag} {shown!r} cannot be written: creating a folder in {probe!r} failed "
            f"({exc.strerror or exc}); choose a folder you can write to.") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_mode(target: str, default: int) -> int:
    """The permissions to give a replacement of ``target``: its own, else the umask's."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        return default & ~_umask()


def _sibling(target: str, tag: str) -> str:
    """A fresh hidden path next to ``target``, e.g. ``.model.skbert-old-3fa2c1d0``."""
    parent, name = os.path.split(target)
    while True:
        path = os.path.join(parent, f".{name}.skbert-{tag}-{secrets.token_hex(4)}")
        if not os.path.lexists(path):
            return path


def _save_model(clf, out: str, *, overwrite: bool = False) -> str:
    """Save ``clf`` to ``out`` atomically; returns the absolute folder path.

    The model is written to a temporary sibling folder (same parent, so the
    rename is atomic) and renamed to ``out`` when complete. An existing
    ``out`` is renamed aside first and deleted only once the new folder is in
    place. Any failure, Ctrl-C included, leaves ``out`` as it was and removes
    the temporary folder.
    """
    from ._modeling import quiet_transformers

    if not _is_main_process():  # under torchrun only rank 0 writes
        return os.path.abspath(out)
    target = os.path.realpath(out)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.skbert-tmp-", dir=parent)
    try:
        with quiet_transformers():
            clf.save_pretrained(tmp)
        os.chmod(tmp, _new_mode(target, 0o777))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not overwrite and os.path.isdir(target) and os.listdir(target):
        raise FileExistsError(  # filled while we trained: keep both, tell where the model is
            f"--out {out!r} was filled by something else while training; the model is saved "
            f"in {tmp!r} instead, so move it where you want it.")
    try:
        if os.path.lexists(target):
            aside = _sibling(target, "old")
            os.rename(target, aside)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(aside, target)
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


@contextlib.contextmanager
def _atomic_text_file(path: str):
    """Open a temporary sibling of ``path`` for writing; rename it to ``path`` on success.

    A failure (Ctrl-C included) removes the temporary file and leaves an
    existing ``path`` as it was.
    """
    if not _is_main_process():  # under torchrun only rank 0 writes
        with open(os.devnull, "w", encoding="utf-8") as fh:
            yield fh
        return
    target = os.path.realpath(path)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".skbert-tmp",
                               dir=parent)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.chmod(tmp, _new_mode(target, 0o666))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fit(clf, texts, Y, names) -> bool:
    """Fit ``clf``; returns False when training was interrupted (Ctrl-C).

    The estimator catches KeyboardInterrupt itself, keeps the best weights
    so far and warns that it can predict; the command line saves nothing
    then, so that warning is not shown.
    """
    import pandas as pd

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Training was interrupted")
        clf.fit(texts, pd.DataFrame(Y, columns=names))
    return not getattr(clf, "_fit_report", (False, False))[0]


def _report_interrupted(clf, out: str) -> int:
    n = getattr(clf, "n_epochs_", 0)
    print(f"skbert: interrupted after {n} complete epoch(s); nothing was saved ({out!r} is "
          "as it was).", file=sys.stderr)
    return EXIT_INTERRUPTED


def _load_model(args):
    """The saved model of ``args.folder``, with the command line's predict-time overrides."""
    from ._estimator import TransformerMultiLabelClassifier

    folder = args.folder
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"Model folder {folder!r} does not exist; train one with "
            f"'skbert train DATA --out {folder}' or 'skbert demo --out {folder}'.")
    if args.backend == "onnx" and args.compile:
        raise ValueError("--compile applies to --backend torch; drop it with --backend onnx.")
    if args.quantize and args.backend != "onnx":
        raise ValueError("--quantize applies to ONNX models; add --backend onnx.")
    try:
        clf = TransformerMultiLabelClassifier.from_pretrained(
            folder, device=args.device, backend=args.backend, quantize=args.quantize)
    except ImportError as exc:  # a missing optional package: the message names the extra
        raise ValueError(str(exc)) from exc
    overrides = {"threshold": args.threshold, "compile": args.compile}
    return clf.set_params(**{k: v for k, v in overrides.items() if v is not None})


def _label_kwargs(args) -> dict:
    if args.label_columns is not None:
        return {"label_columns": args.label_columns}
    return {"label_column": args.label_column or "labels"}


def _apply_threshold(clf, proba):
    """``clf.predict`` from already computed probabilities (saves a second forward pass)."""
    from ._thresholds import apply_thresholds

    threshold = clf.threshold
    if isinstance(threshold, str):  # "auto"
        if not hasattr(clf, "thresholds_"):
            raise ValueError("This model has no tuned thresholds (it was trained without a "
                             "validation split); pass --threshold 0.5 or another number.")
        threshold = clf.thresholds_
    return apply_thresholds(proba, threshold)


def _describe_threshold(clf) -> str:
    if isinstance(clf.threshold, str):
        scope = ("one for all labels" if clf.threshold_metric == "f1_micro_global"
                 else "one per label")
        return f"auto ({scope}, tuned on the validation split)"
    if hasattr(clf.threshold, "__len__"):
        return "one per label"
    return f"{clf.threshold:g}"


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{int(s // 60)} min {s % 60:04.1f} s"


# ---------------------------------------------------------------------------- train
def cmd_train(args) -> int:
    """``skbert train``: fine-tune on a file and save the model.

    The model and output paths are checked before the data is read; when
    training is interrupted, nothing is saved and the exit code is 130.
    """
    from ._estimator import TransformerMultiLabelClassifier
    from .datasets import load_texts_and_labels

    _check_model_arg(args.model)
    _check_out_folder(args.out, model=args.model, overwrite=args.overwrite)
    texts, Y, names = load_texts_and_labels(args.data, text_column=args.text_column,
                                            **_label_kwargs(args))
    if not texts:
        raise ValueError(f"{args.data!r} holds no rows; it needs texts with labels.")
    if not names:
        raise ValueError(
            f"{args.data!r} holds no labels in column {args.label_column!r}; give each row "
            "at least one label name, or use --label-columns for 0/1 columns.")
    if isinstance(args.pos_weight, list) and len(args.pos_weight) != len(names):
        raise ValueError(
            f"--pos-weight gives {len(args.pos_weight)} weight(s) but {args.data!r} has "
            f"{len(names)} labels ({', '.join(map(str, names))}); give one weight per label "
            "in that order, or --pos-weight balanced.")
    params = {"max_epochs": args.max_epochs, "batch_size": args.batch_size,
              "learning_rate": args.learning_rate, "max_length": args.max_length,
              "threshold": args.threshold, "threshold_metric": args.threshold_metric,
              "long_text": args.long_text,
              "stride": args.stride, "max_chunks": args.max_chunks,
              "chunk_pooling": args.chunk_pooling,
              "validation_fraction": args.validation_fraction,
              "early_stopping": args.early_stopping, "compile": args.compile,
              "pos_weight": args.pos_weight, "weight_decay": args.weight_decay,
              "warmup_ratio": args.warmup_ratio, "precision": args.precision,
              "pooling": args.pooling, "head_learning_rate": args.head_learning_rate,
              "micro_batch_size": args.micro_batch_size,
              "gradient_checkpointing": args.gradient_checkpointing,
              "checkpoint_dir": args.checkpoint_dir, "scoring": args.scoring}
    params = {k: v for k, v in params.items() if v is not None}
    if args.model is not None:
        params["model_name_or_path"] = args.model
    clf = TransformerMultiLabelClassifier(random_state=args.random_state, device=args.device,
                                          verbose=args.verbose, **params)
    print(f"Training on {len(texts)} texts with {len(names)} labels from {args.data} "
          f"(model: {_model_label(clf.model_name_or_path)})", flush=True)
    start = time.perf_counter()
    if not _fit(clf, texts, Y, names):
        return _report_interrupted(clf, args.out)
    took = time.perf_counter() - start
    folder = _save_model(clf, args.out, overwrite=args.overwrite)
    print(f"Trained {clf.n_epochs_} epoch(s) in {_fmt_seconds(took)} on {clf.device_}; "
          f"threshold: {_describe_threshold(clf)}")
    print(f"Saved the model to {folder}")
    return 0


# -------------------------------------------------------------------------- predict
def _read_texts(path: str, text_column: str) -> list[str]:
    """Texts from a .txt (one per line), JSON Lines, JSON array, CSV/TSV or Parquet file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"No such file: {path!r}; check the path of INPUT.")
    suffix = p.suffix.lower()
    if suffix not in _TEXT_FORMATS:
        raise ValueError(f"Unsupported input extension {p.suffix or '(none)'!r} for {p.name!r}; "
                         f"use one of {', '.join(_TEXT_FORMATS)}.")
    if suffix == ".txt":
        with open(p, encoding="utf-8") as fh:
            return [line.rstrip("\r\n") for line in fh if line.strip()]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(p).names
        if text_column not in names:
            raise ValueError(_missing_text_column(text_column, p.name, names))
        rows = [{text_column: v} for v in pq.read_table(p, columns=[text_column])
                .column(text_column).to_pylist()]
    elif suffix in (".csv", ".tsv"):
        from .datasets._files import _read_csv

        table, names, _ = _read_csv(p, [text_column])  # a row of the wrong width names its line
        if text_column not in names:
            raise ValueError(_missing_text_column(text_column, p.name, names))
        return table[text_column]
    else:
        rows = _read_json_records(p)
    texts = []
    for i, row in enumerate(rows):
        text = row if isinstance(row, str) else row.get(text_column) if isinstance(row, dict) \
            else None
        if isinstance(row, dict) and text_column not in row:
            raise ValueError(_missing_text_column(text_column, f"{p.name} (record {i})",
                                                  list(row)))
        if not isinstance(text, str):
            raise ValueError(f"Record {i} of {p.name!r} has {text!r} as its text; every text "
                             "must be a string, so fill in or drop that record.")
        texts.append(text)
    return texts


def _read_json_records(p: Path) -> list:
    with open(p, encoding="utf-8") as fh:
        content = fh.read()
    if content.lstrip().startswith("["):
        try:
            return json.loads(content)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p.name!r} is not valid JSON ({exc}).") from None
    records = []
    for n, line in enumerate(content.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"Line {n} of {p.name!r} is not valid JSON ({exc.msg}); "
                                 "JSON Lines files hold one object per line.") from None
    return records


def _missing_text_column(column: str, where: str, available) -> str:
    return (f"Text column {column!r} not found in {where!r}; set --text-column to one of the "
            f"available columns: {list(available)}.")


def _output_format(args) -> str:
    if args.format:
        return args.format
    if args.output is None:
        return "jsonl"
    suffix = Path(args.output).suffix.lower()
    if suffix not in _OUTPUT_FORMATS:
        raise ValueError(f"Cannot tell the output format from {args.output!r}; name it "
                         "FILE.jsonl or FILE.csv, or pass --format jsonl|csv.")
    return _OUTPUT_FORMATS[suffix]


def cmd_predict(args) -> int:
    """``skbert predict``: labels and probabilities for new texts.

    ``--output`` is checked before the model is loaded and written through a
    temporary sibling file, so a failure leaves an existing file as it was.
    """
    fmt = _output_format(args)
    _check_output_file(args.output, "--output", data=args.input, model=args.folder)
    texts = _read_texts(args.input, args.text_column)
    clf = _load_model(args)
    names = [str(c) for c in clf.classes_]
    proba = _predict_proba(clf, texts, verbose=args.verbose)
    pred = _apply_threshold(clf, proba) if texts else []
    if args.output is None:
        write_predictions(sys.stdout, texts, pred, proba, names, fmt)
    else:
        with _atomic_text_file(args.output) as out:
            write_predictions(out, texts, pred, proba, names, fmt)
        print(f"skbert: wrote {len(texts)} prediction(s) to {args.output}", file=sys.stderr)
    return 0


def _predict_proba(clf, texts: list[str], *, verbose: bool = False):
    """``clf.predict_proba`` on ``PREDICT_CHUNK`` texts at a time, with a bar on stderr."""
    import numpy as np
    from tqdm import tqdm

    parts = []
    with tqdm(total=len(texts), desc="predicting", unit="text", file=sys.stderr,
              disable=not verbose, dynamic_ncols=True) as bar:
        for start in range(0, len(texts), PREDICT_CHUNK):
            chunk = texts[start:start + PREDICT_CHUNK]
            parts.append(clf.predict_proba(chunk))
            bar.update(len(chunk))
    return np.concatenate(parts) if parts else np.zeros((0, len(clf.classes_)))


def write_predictions(out: io.TextIOBase, texts, pred, proba, names, fmt: str) -> None:
    """Write one record per text: the text, its labels and every label's probability.

    JSON Lines records are ``{"text", "labels": [...], "probabilities": {label: p}}``;
    CSV rows hold ``text``, ``labels`` (names joined by ``|``, the separator
    :func:`skbert.datasets.load_texts_and_labels` reads back) and one
    ``proba_<label>`` column per label.
    """
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["text", "labels"] + [f"proba_{n}" for n in names])
        for text, row, p in zip(texts, pred, proba):
            labels = [n for n, on in zip(names, row) if on]
            writer.writerow([text, "|".join(labels)] + [f"{float(v):.6g}" for v in p])
        return
    for text, row, p in zip(texts, pred, proba):
        record = {"text": text, "labels": [n for n, on in zip(names, row) if on],
                  "probabilities": {n: round(float(v), 6) for n, v in zip(names, p)}}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------- evaluate
def _file_columns(path: str) -> list[str]:
    """Column names of a data file, or [] if they cannot be read cheaply."""
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            with open(p, encoding="utf-8-sig", newline="") as fh:
                return next(csv.reader(fh, delimiter="\t" if suffix == ".tsv" else ","), [])
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(p).names)
        if suffix in (".jsonl", ".json"):
            with open(p, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        first = json.loads(line)
                        return list(first) if isinstance(first, dict) else []
    except (OSError, ValueError, StopIteration):
        pass
    return []


def load_eval_data(path: str, names: list[str], *, text_column="text", label_column=None,
                   label_columns=None):
    """Texts and a 0/1 matrix whose columns follow the model's label names ``names``.

    Without ``label_column``/``label_columns``, a ``labels`` column is used if
    the file has one, else the 0/1 columns named like the model's labels.
    """
    import numpy as np

    from .datasets import load_texts_and_labels

    if label_columns is None and label_column is None:
        columns = _file_columns(path)
        if "labels" not in columns and columns and all(n in columns for n in names):
            label_columns = list(names)
        else:
            label_column = "labels"
    kwargs = ({"label_columns": label_columns} if label_columns is not None
              else {"label_column": label_column})
    texts, Y, found = load_texts_and_labels(path, text_column=text_column, **kwargs)
    unknown = [n for n in found if n not in names]
    if unknown:
        raise ValueError(
            f"{os.path.basename(path)!r} holds label(s) the model was not trained on: "
            f"{unknown}; the model knows {names}. Fix the labels or evaluate a model trained "
            "with them.")
    Y_full = np.zeros((len(texts), len(names)), dtype=np.int64)
    index = {n: j for j, n in enumerate(names)}
    for j, n in enumerate(found):
        Y_full[:, index[n]] = Y[:, j]
    return texts, Y_full


def score(Y_true, pred, proba, names) -> tuple[dict, str]:
    """Metrics as a dict, and sklearn's per-label classification report as text."""
    from sklearn.metrics import (
        classification_report,
        f1_score,
        label_ranking_average_precision_score,
    )

    report = classification_report(Y_true, pred, target_names=names, zero_division=0, digits=3)
    per_label = classification_report(Y_true, pred, target_names=names, zero_division=0,
                                      output_dict=True)
    metrics = {
        "n_texts": int(len(Y_true)),
        "f1_micro": float(f1_score(Y_true, pred, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(Y_true, pred, average="macro", zero_division=0)),
        "f1_samples": float(f1_score(Y_true, pred, average="samples", zero_division=0)),
        "lrap": float(label_ranking_average_precision_score(Y_true, proba)),
        "labels": {n: {k.replace("-score", ""): float(v) for k, v in per_label[n].items()}
                   for n in names},
    }
    return metrics, report


def cmd_evaluate(args) -> int:
    """``skbert evaluate``: per-label report, micro/macro F1 and LRAP on a labelled file."""
    _check_output_file(args.json, "--json", data=args.data, model=args.folder)
    clf = _load_model(args)
    names = [str(c) for c in clf.classes_]
    texts, Y = load_eval_data(args.data, names, text_column=args.text_column,
                              label_column=args.label_column, label_columns=args.label_columns)
    if not texts:
        raise ValueError(f"{args.data!r} holds no rows to evaluate on.")
    proba = clf.predict_proba(texts)
    pred = _apply_threshold(clf, proba)
    metrics, report = score(Y, pred, proba, names)
    metrics["threshold"] = _describe_threshold(clf)
    print(f"{args.folder} on {len(texts)} texts from {args.data} "
          f"(threshold: {metrics['threshold']})\n")
    print(report)
    print(f"micro-F1 {metrics['f1_micro']:.3f}   macro-F1 {metrics['f1_macro']:.3f}   "
          f"LRAP {metrics['lrap']:.3f}")
    if args.json:
        with _atomic_text_file(args.json) as fh:
            json.dump(metrics, fh, indent=2)
        print(f"Wrote the metrics to {args.json}")
    return 0


# ----------------------------------------------------------------------------- demo
def tfidf_baseline():
    """The TF-IDF + one-vs-rest logistic regression baseline of ``skbert demo``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(**BASELINE_PARAMS["tfidf"]),
                         OneVsRestClassifier(LogisticRegression(**BASELINE_PARAMS["logreg"])))


def cmd_demo(args) -> int:
    """``skbert demo``: the main job, end to end on the bundled GoEmotions sample."""
    import numpy as np

    from ._estimator import TransformerMultiLabelClassifier
    from .datasets import load_goemotions

    _check_model_arg(args.model)
    _check_out_folder(args.out, model=args.model, overwrite=args.overwrite)
    params = dict(DEMO_PARAMS)
    n_train, n_test = DEMO_N_TRAIN, None
    if args.quick:
        n_train, n_test = DEMO_QUICK["n_train"], DEMO_QUICK["n_test"]
        params.update(max_epochs=DEMO_QUICK["max_epochs"], verbose=DEMO_QUICK["verbose"])
    if args.n_train is not None:
        if args.n_train < 10:
            raise ValueError(f"--n-train {args.n_train} is too small; use at least 10 texts.")
        n_train = args.n_train
    if args.max_epochs is not None:
        params["max_epochs"] = args.max_epochs
    if args.model is not None:
        params["model_name_or_path"] = args.model
    t_total = time.perf_counter()

    train, test = load_goemotions(subset="train"), load_goemotions(subset="test")
    names = list(train.target_names)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.permutation(len(train.data))[:n_train])
    X_train = [train.data[i] for i in idx]
    Y_train = train.target[idx]
    X_test, Y_test = list(test.data[:n_test]), test.target[:n_test]
    clf = TransformerMultiLabelClassifier(device=args.device, **params)
    print(f"[1/4] Bundled GoEmotions sample: {len(X_train)} training and {len(X_test)} test "
          f"texts, {len(names)} labels (Reddit comments; emotions + neutral).")
    print(f"[2/4] Fine-tuning {_model_label(clf.model_name_or_path)} for "
          f"{params['max_epochs']} epoch(s) (batch {params['batch_size']}, learning rate "
          f"{params.get('learning_rate', clf.learning_rate)}, max_length "
          f"{params['max_length']}; "
          f"{params['validation_fraction']:.0%} held out to tune the thresholds)...",
          flush=True)
    t = time.perf_counter()
    if not _fit(clf, X_train, Y_train, names):
        return _report_interrupted(clf, args.out)
    fit_s = time.perf_counter() - t
    print(f"      done in {_fmt_seconds(fit_s)} on {clf.device_} ({clf.precision_})", flush=True)

    print("[3/4] Scoring on the test part...", flush=True)
    t = time.perf_counter()
    proba = clf.predict_proba(X_test)
    pred = _apply_threshold(clf, proba)
    predict_s = time.perf_counter() - t
    ours, report = score(Y_test, pred, proba, names)
    print(f"\nPer-label scores of the fine-tuned model on {len(X_test)} test texts "
          f"(threshold: {_describe_threshold(clf)}):\n")
    print(report)

    print("[4/4] TF-IDF + logistic regression baseline on the same texts...", flush=True)
    base = tfidf_baseline()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # labels absent from a small sample
        base.fit(X_train, Y_train)
    base_fit_s = time.perf_counter() - t
    t = time.perf_counter()
    base_proba = base.predict_proba(X_test)
    base_predict_s = time.perf_counter() - t
    theirs, _ = score(Y_test, (base_proba >= 0.5).astype(int), base_proba, names)

    rows = [(f"skbert ({_model_label(clf.model_name_or_path, short=True)})", ours, fit_s,
             predict_s),
            ("TF-IDF + logistic regression", theirs, base_fit_s, base_predict_s)]
    print(f"\n{'':<30}{'micro-F1':>9}{'macro-F1':>10}{'LRAP':>8}{'train':>10}{'predict':>10}")
    for name, m, fs, ps in rows:
        print(f"{name:<30}{m['f1_micro']:>9.3f}{m['f1_macro']:>10.3f}{m['lrap']:>8.3f}"
              f"{fs:>9.1f}s{ps:>9.1f}s")
    gap = ours["f1_micro"] - theirs["f1_micro"]
    print(f"\nmicro-F1: the fine-tuned model is {abs(gap):.3f} "
          f"{'above' if gap >= 0 else 'below'} the TF-IDF baseline.")
    out = _save_model(clf, args.out, overwrite=args.overwrite)
    print(f"Total time {_fmt_seconds(time.perf_counter() - t_total)}. Saved the fine-tuned "
          f"model to {out}")
    print(f"Next: skbert predict {args.out} texts.txt   |   skbert evaluate {args.out} data.jsonl")
    return 0


def _model_label(name, short: bool = False) -> str:
    from ._modeling import DEFAULT_MODEL

    if str(name) == DEFAULT_MODEL:
        return "all-MiniLM-L6-v2" if short else "all-MiniLM-L6-v2 (bundled)"
    name = str(name).rstrip("/\\")
    return os.path.basename(name) if short else name


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
