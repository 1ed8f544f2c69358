"""The ``skbert`` command line: train, predict, evaluate and a self-contained demo.

Usage::

    skbert demo                                  # fine-tune on the bundled GoEmotions sample
    skbert train data.jsonl --out my-model       # fine-tune on your own file
    skbert predict my-model texts.txt --output predictions.csv
    skbert evaluate my-model test.jsonl --output metrics.json

Every subcommand is also reachable as ``python -m skbert``. Mistakes in paths,
columns or labels end with one line, ``skbert: error: <what to fix>``, and exit
code 2; ``--debug`` shows the traceback instead. Output paths are checked before
any training or predicting: an output may never be, contain or sit inside an
input, the model folder or the current folder, an output file is never written
inside any model folder, and ``--overwrite`` replaces only a model folder skbert
wrote, or an existing ``--output`` file. Every file is written through
:mod:`skbert._safe_io` (complete or not at all, never through a link).

The options of ``skbert train`` come from the estimator's parameter table
(:mod:`skbert._params`, through :mod:`skbert._cli_args`); paths are checked in
:mod:`skbert._cli_paths`, files read and written in :mod:`skbert._cli_io`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings

from ._safe_io import DamagedFile

#: The options ``skbert demo`` trains with (the default model on the bundled sample).
DEMO_FLAGS = ("--max-epochs", "3", "--batch-size", "16", "--max-length", "64",
              "--threshold", "auto", "--validation-fraction", "0.1", "--random-state", "0",
              "--verbose", "2")
#: Training texts ``skbert demo`` uses (the bundled train part holds 3,000).
DEMO_N_TRAIN = 3000
#: ``skbert demo --quick``: a smoke test, not a meaningful model (texts, and options).
DEMO_QUICK = dict(n_train=200, n_test=200,
                  flags=("--max-epochs", "1", "--contrastive-steps", "0", "--verbose", "1"))
#: The TF-IDF + logistic regression baseline ``skbert demo`` compares against.
BASELINE_PARAMS = dict(tfidf=dict(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
                       logreg=dict(C=4, class_weight="balanced", max_iter=1000))
#: Errors that mean "fix your input", printed as one line instead of a traceback.
#: Also a warning turned into an error (``python -W error``, ``PYTHONWARNINGS=error``): one
#: line, as any other refusal, not a traceback.
USER_ERRORS = (OSError, ValueError, KeyError, DamagedFile, Warning)
#: Texts per ``predict_proba`` call of ``skbert predict`` (one progress-bar step).
PREDICT_CHUNK = 4096
#: Exit code of a command stopped with Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


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
        0 on success, 2 on a usage or input error, 130 when interrupted
        (Ctrl-C, also while the libraries are still being imported).

    Notes
    -----
    Run as the program (``argv=None``), a Ctrl-C that stopped the command is
    the last one heard: further Ctrl-C while the interpreter exits (the exit
    handlers of torch and other libraries) are ignored, so a second press
    prints no traceback.
    """
    program = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    command = None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            parser = build_parser()
            parser.argv = argv
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:  # --help, --version, usage errors
                return exc.code if isinstance(exc.code, int) else 2
            command = args.command
            if not _is_main_process():  # under torchrun: rank 0 prints, the others compute
                _silence_stdout()
            code = _run(args, debug)
    except KeyboardInterrupt:
        if debug:
            raise
        if program:
            _ignore_further_interrupts()
        saves = command in (None, "train", "demo")
        print(f"skbert: interrupted{'; nothing was saved' if saves else ''}", file=sys.stderr)
        _failed_for_the_group()
        return EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED and program:  # training stopped by Ctrl-C, reported
        _ignore_further_interrupts()
    if code != 0:
        _failed_for_the_group()
    return code


def _failed_for_the_group() -> None:
    """Tell the process group this rank joined (under torchrun) that the command failed,
    so that its exit does not wait for the other ranks (they may be blocked in a
    collective this rank will never join): the error was caught here, so Python's
    record of an uncaught one is not set."""
    distributed = sys.modules.get("skbert._distributed")  # never imported: no group
    if distributed is not None:
        distributed.mark_failed()


def _ignore_further_interrupts() -> None:
    """Ignore SIGINT from now on: the command was interrupted and is exiting.

    A second Ctrl-C would otherwise raise KeyboardInterrupt inside an exit
    handler (torch registers some) and print its traceback.
    """
    import signal

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):  # not the main thread: nothing to do
        pass


def _run(args, debug: bool) -> int:
    from ._cli_args import speak_flags

    try:
        with contextlib.ExitStack() as stack:
            return args.func(args, stack) or 0
    except BrokenPipeError:  # e.g. `skbert predict ... | head`: stop quietly
        _silence_stdout()
        return 0
    except USER_ERRORS as exc:
        if debug:
            raise
        from ._cli_paths import FolderRefused
        from ._load_errors import SavedFileError, SavedFileWarning

        message = _one_line(exc)
        # a saved file's keys and a folder's file names are not flags: printed as they are
        if not isinstance(exc, (SavedFileError, SavedFileWarning, FolderRefused)):
            message = speak_flags(message)
        from ._safe_io import terminal_safe

        print(f"skbert: error: {terminal_safe(message)}", file=sys.stderr)
        return 2


def load_saved_model(folder, **load):
    """``TransformerMultiLabelClassifier.from_pretrained(folder, **load)``; an error about
    the folder's ``skbert.json`` is a :class:`~skbert._load_errors.SavedFileError` that
    names the file's key (``params.min_labels``), its value and the fix, never a flag."""
    from ._estimator import TransformerMultiLabelClassifier
    from ._load_errors import saved_file_errors

    fix = f"From the command line, train the model again with 'skbert train DATA --out {folder}'."
    with saved_file_errors(fix):
        return TransformerMultiLabelClassifier.from_pretrained(folder, **load)


def build_parser():
    """The argument parser of the ``skbert`` command (see :mod:`skbert._cli_args`)."""
    from ._cli_args import build_parser as build

    return build({"train": cmd_train, "predict": cmd_predict, "evaluate": cmd_evaluate,
                  "demo": cmd_demo, "explain": cmd_explain})


def _is_main_process() -> bool:
    from ._cli_paths import is_main_process

    return is_main_process()


def _silence_stdout() -> None:
    """Point stdout at devnull so Python's exit flush does not raise again."""
    import io

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
    from ._cli_args import speak_flags
    from ._load_errors import SavedFileWarning
    from ._safe_io import terminal_safe

    text = " ".join((_one_line(message) if isinstance(message, Exception)
                     else str(message)).split())
    if not issubclass(category, SavedFileWarning):  # a saved file's keys are not flags
        text = speak_flags(text)
    print(f"skbert: warning: {terminal_safe(text)}", file=sys.stderr if file is None else file)


# --------------------------------------------------------------------------- helpers
def _fit(clf, texts, Y, names) -> bool:
    """Fit ``clf``; returns False when training was interrupted (Ctrl-C).

    The estimator keeps its best weights and re-raises the Ctrl-C; the command
    line saves nothing then, so the estimator's "can predict" warning is not shown.
    """
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Training was interrupted")
            clf.fit(texts, pd.DataFrame(Y, columns=names))
    except KeyboardInterrupt:  # fit re-raises whenever it sets interrupted_
        return False
    return True


def _report_interrupted(clf, out: str, ckpt: str | None = None) -> int:
    n = getattr(clf, "n_epochs_", 0)
    msg = (f"skbert: interrupted after {n} complete epoch(s); nothing was saved ({out!r} is "
           "as it was).")
    if ckpt and os.path.isdir(ckpt) and os.listdir(ckpt):
        msg += (f" The training state is in --checkpoint-dir {ckpt!r}: run the same command "
                "again to resume from it.")
    print(msg, file=sys.stderr)
    return EXIT_INTERRUPTED


def _check_predict_args(folder: str, data: str) -> None:
    """The model folder exists; a data file given in its place reads as swapped arguments."""
    if os.path.isdir(folder):
        return
    usage = "skbert predict|evaluate MODEL_FOLDER INPUT"
    if os.path.isfile(folder):
        swapped = os.path.isdir(data)
        raise FileNotFoundError(
            f"FOLDER {folder!r} is a file, not a model folder"
            + (f", and INPUT {data!r} is a folder: the arguments look swapped"
               if swapped else ": the model folder comes first")
            + f"; the order is {usage} (train a model with 'skbert train DATA --out "
            "MODEL_FOLDER').")
    raise FileNotFoundError(
        f"Model folder {folder!r} does not exist; train one with "
        f"'skbert train DATA --out {folder}' or 'skbert demo --out {folder}'.")


def _load_model(args):
    """The saved model of ``args.folder``, with the command line's predict-time options."""
    from ._cli_args import check_auto_threshold, check_threshold_list, saved_model_options

    load, values, bar = saved_model_options(args)
    try:
        clf = load_saved_model(args.folder, **load)
    except ImportError as exc:  # a missing optional package: the message names the extra
        raise ValueError(str(exc)) from exc
    check_auto_threshold(clf, args.folder, values.get("threshold"))
    check_threshold_list(values.get("threshold"), list(clf.classes_))
    return clf.set_params(**values), bar


def _describe_threshold(clf) -> str:
    """The decision threshold in words, with the values ``auto`` chose."""
    import numpy as np

    from ._thresholds import describe_rule

    params = clf.get_params()
    t = params["threshold"]
    if isinstance(t, str):
        tuned = np.asarray(clf.thresholds_, dtype=float)
        rule = getattr(clf, "threshold_metric_", params["threshold_metric"])
        if rule == "f1_micro_global":
            return f"{tuned[0]:.3g} (auto: one for all labels, tuned on the validation split)"
        shown = ", ".join(f"{n} {v:.3g}" for n, v in zip(clf.classes_, tuned))
        if rule in ("label_rate", "default"):  # a zero-shot model: nothing was tuned
            return f"auto, {describe_rule(rule)}: {shown}"
        return f"auto, one per label tuned on the validation split: {shown}"
    if hasattr(t, "__len__"):
        return "one per label: " + ", ".join(f"{n} {float(v):.3g}"
                                             for n, v in zip(clf.classes_, t))
    return f"{t:g}"


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{int(s // 60)} min {s % 60:04.1f} s"


def _model_label(name, short: bool = False) -> str:
    from ._modeling import DEFAULT_MODEL

    if str(name) == DEFAULT_MODEL:
        return "all-MiniLM-L6-v2" if short else "all-MiniLM-L6-v2 (bundled)"
    name = str(name).rstrip("/\\")
    return os.path.basename(name) if short else name


def _check_training_paths(args, values: dict, inputs=()) -> tuple[str, str | None]:
    """--model, --checkpoint-dir and --out, checked before any data is read.

    Returns the model (name or folder) and the checkpoint folder (or None).
    """
    from ._cli_args import given
    from ._cli_paths import check_checkpoint_dir, check_model_arg, check_out_folder
    from ._modeling import DEFAULT_MODEL, resolve_model_path

    model, ckpt = given(values, "--model"), given(values, "--checkpoint-dir")
    check_model_arg(model)
    model = DEFAULT_MODEL if model is None else str(model)
    base = resolve_model_path(model)
    check_checkpoint_dir(ckpt, model=base, inputs=inputs)
    check_out_folder(args.out, inputs=inputs, model=base, ckpt=ckpt,
                     overwrite=args.overwrite)
    return model, ckpt


# ---------------------------------------------------------------------------- train
def cmd_train(args, stack) -> int:
    """``skbert train``: fine-tune on a file and save the model.

    The model and output paths are checked before the data is read; when
    training is interrupted, nothing is saved and the exit code is 130.
    """
    from ._cli_args import check_label_descriptions, check_threshold_list, given
    from ._cli_io import load_labelled, stdin_as_file
    from ._cli_paths import save_model
    from ._estimator import TransformerMultiLabelClassifier
    from ._params import cli_values

    values = cli_values(args)
    model, ckpt = _check_training_paths(args, values,
                                        inputs=[args.data] if args.data != "-" else [])
    data = stdin_as_file(args.data, args.input_format, "jsonl", stack)
    columns = ({"label_columns": args.label_columns} if args.label_columns is not None
               else {"label_column": args.label_column or "labels"})
    texts, Y, names = load_labelled(data, text_column=args.text_column, **columns)
    if not texts:
        raise ValueError(f"{args.data!r} holds no rows; it needs texts with labels.")
    if not names:
        raise ValueError(
            f"{args.data!r} holds no labels in column {args.label_column!r}; give each row "
            "at least one label name, or use --label-columns for 0/1 columns.")
    if len(names) == 1:  # before "Training on ...", in the command line's words
        only = names[0]
        how = (f"add a 0/1 column not_{only} (1 where {only} is 0) and pass --label-columns "
               f"{only},not_{only}" if args.label_columns is not None
               else f"give the rows without it the label not_{only}")
        raise ValueError(
            f"{args.data!r} has one label ({only!r}); a multi-label model needs at least two. "
            f"For one yes/no label, {how}: the model's {only!r} column is then its "
            "probability.")
    weights = given(values, "--pos-weight")
    if isinstance(weights, list) and len(weights) != len(names):
        raise ValueError(
            f"--pos-weight gives {len(weights)} weight(s) but {args.data!r} has "
            f"{len(names)} labels ({', '.join(map(str, names))}); give one weight per label "
            "in that order, or --pos-weight balanced.")
    check_threshold_list(given(values, "--threshold"), names)
    check_label_descriptions(given(values, "--label-descriptions"), names)
    clf = TransformerMultiLabelClassifier(**values)
    clf._validate_params()  # a bad value is one line naming its flag, before training
    print(f"Training on {len(texts)} texts with {len(names)} labels from {args.data} "
          f"(model: {_model_label(model)})", flush=True)
    start = time.perf_counter()
    if not _fit(clf, texts, Y, names):
        return _report_interrupted(clf, args.out, ckpt)
    took = time.perf_counter() - start
    folder = save_model(clf, args.out, overwrite=args.overwrite)
    print(f"Trained {clf.n_epochs_} epoch(s) in {_fmt_seconds(took)} on {clf.device_}; "
          f"threshold: {_describe_threshold(clf)}")
    print(f"Saved the model to {folder}")
    return 0


# -------------------------------------------------------------------------- predict
def cmd_predict(args, stack) -> int:
    """``skbert predict``: labels and probabilities for new texts.

    ``--output`` is checked before the model is loaded and written atomically,
    so a failure leaves an existing file as it was.
    """
    from ._cli_io import csv_label_problem, output_format, read_texts, stdin_as_file
    from ._cli_paths import check_output_file, output_file

    fmt = output_format(args.format, args.output)
    _check_predict_args(args.folder, args.input)
    check_output_file(args.output, "--output", inputs=[args.input], folder=args.folder,
                      overwrite=args.overwrite, example=f"predictions.{fmt}")
    texts = read_texts(stdin_as_file(args.input, args.input_format, "txt", stack),
                       args.text_column)
    clf, bar = _load_model(args)
    if fmt == "csv" and (problem := csv_label_problem(
            clf.classes_, args.output, by_extension=args.format is None)) is not None:
        raise ValueError(problem)  # before predicting: the labels column would be ambiguous
    proba = _predict_proba(clf, texts, bar=bar)
    pred = clf._labels_from_proba(proba, int) if texts else []
    # labels keep their type (int or str)
    with output_file(args.output, sys.stdout, overwrite=args.overwrite) as out:
        write_predictions(out, texts, pred, proba, list(clf.classes_), fmt)
    if args.output not in (None, "-"):
        print(f"skbert: wrote {len(texts)} prediction(s) to {args.output}", file=sys.stderr)
    return 0


def _predict_proba(clf, texts: list[str], *, bar: bool = False):
    """``clf.predict_proba`` on ``PREDICT_CHUNK`` texts at a time, with a bar on stderr."""
    import numpy as np
    from tqdm import tqdm

    parts = []
    with tqdm(total=len(texts), desc="predicting", unit="text", file=sys.stderr,
              disable=not bar, dynamic_ncols=True) as progress:
        for start in range(0, len(texts), PREDICT_CHUNK):
            chunk = texts[start:start + PREDICT_CHUNK]
            parts.append(clf.predict_proba(chunk))
            progress.update(len(chunk))
    return np.concatenate(parts) if parts else np.zeros((0, len(clf.classes_)))


def write_predictions(out, texts, pred, proba, names, fmt: str) -> None:
    """Write one record per text (see :func:`skbert._cli_io.write_predictions`)."""
    from ._cli_io import write_predictions as write

    write(out, texts, pred, proba, names, fmt)


# ------------------------------------------------------------------------- evaluate
def load_eval_data(path, names, **columns):
    """Texts and the 0/1 matrix of a labelled file (see :func:`skbert._cli_io.load_eval_data`)."""
    from ._cli_io import load_eval_data as load

    return load(path, names, **columns)


def score(Y_true, pred, proba, names):
    """Metrics and the per-label report (see :func:`skbert._cli_io.score`)."""
    from ._cli_io import score as compute

    return compute(Y_true, pred, proba, names)


def cmd_evaluate(args, stack) -> int:
    """``skbert evaluate``: per-label report, micro/macro F1 and LRAP on a labelled file."""
    import json

    from ._cli_args import merge_deprecated_output
    from ._cli_io import stdin_as_file
    from ._cli_paths import check_output_file, output_file

    merge_deprecated_output(args)
    _check_predict_args(args.folder, args.data)
    check_output_file(args.output, "--output", inputs=[args.data], folder=args.folder,
                      overwrite=args.overwrite, example="metrics.json")
    clf, bar = _load_model(args)
    names = [str(c) for c in clf.classes_]
    data = stdin_as_file(args.data, args.input_format, "jsonl", stack)
    texts, Y = load_eval_data(data, names, text_column=args.text_column,
                              label_column=args.label_column, label_columns=args.label_columns)
    if not texts:
        raise ValueError(f"{args.data!r} holds no rows to evaluate on.")
    proba = _predict_proba(clf, texts, bar=bar)
    metrics, report = score(Y, clf._labels_from_proba(proba, int), proba, names)
    metrics["threshold"] = _describe_threshold(clf)
    human = sys.stderr if args.output == "-" else sys.stdout  # stdout carries the JSON
    print(f"{args.folder} on {len(texts)} texts from {args.data} "
          f"(threshold: {metrics['threshold']})\n", file=human)
    print(report, file=human)
    print(f"micro-F1 {metrics['f1_micro']:.3f}   macro-F1 {metrics['f1_macro']:.3f}   "
          f"LRAP {metrics['lrap']:.3f}", file=human)
    if args.output is not None:
        with output_file(args.output, sys.stdout, overwrite=args.overwrite) as fh:
            fh.write(json.dumps(metrics, indent=2) + "\n")
        if args.output != "-":
            print(f"Wrote the metrics to {args.output}")
    return 0


# -------------------------------------------------------------------------- explain
def cmd_explain(args, stack) -> int:
    """``skbert explain``: which words drove each label (see :mod:`skbert._cli_explain`).

    Its output files are checked like every other output before the model is loaded.
    """
    from ._cli_explain import check_distinct_outputs
    from ._cli_explain import run as explain
    from ._cli_paths import check_output_file

    check_distinct_outputs(args.html, args.json)
    _check_predict_args(args.folder, args.input)
    for flag, example in (("--html", "explanations.html"), ("--json", "explanations.jsonl")):
        check_output_file(getattr(args, flag[2:]), flag, inputs=[args.input],
                          folder=args.folder, overwrite=None, example=example)
    return explain(args, stack)


# ----------------------------------------------------------------------------- demo
def tfidf_baseline():
    """The TF-IDF + one-vs-rest logistic regression baseline of ``skbert demo``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(**BASELINE_PARAMS["tfidf"]),
                         OneVsRestClassifier(LogisticRegression(**BASELINE_PARAMS["logreg"])))


def cmd_demo(args, stack) -> int:
    """``skbert demo``: the main job, end to end on the bundled GoEmotions sample."""
    import numpy as np

    from ._cli_args import table_values
    from ._cli_paths import save_model
    from ._estimator import TransformerMultiLabelClassifier
    from ._params import cli_values
    from .datasets import load_goemotions

    given = cli_values(args)
    model, _ = _check_training_paths(args, given)
    flags = DEMO_FLAGS + (DEMO_QUICK["flags"] if args.quick else ())
    n_train, n_test = ((DEMO_QUICK["n_train"], DEMO_QUICK["n_test"]) if args.quick
                       else (DEMO_N_TRAIN, None))
    if args.n_train is not None:
        if args.n_train < 10:
            raise ValueError(f"--n-train {args.n_train} is too small; use at least 10 texts.")
        n_train = args.n_train
    t_total = time.perf_counter()

    train, test = load_goemotions(subset="train"), load_goemotions(subset="test")
    names = list(train.target_names)
    idx = np.sort(np.random.default_rng(0).permutation(len(train.data))[:n_train])
    X_train, Y_train = [train.data[i] for i in idx], train.target[idx]
    X_test, Y_test = list(test.data[:n_test]), test.target[:n_test]
    clf = TransformerMultiLabelClassifier(**{**table_values(flags), **given})
    print(f"[1/4] Bundled GoEmotions sample: {len(X_train)} training and {len(X_test)} test "
          f"texts, {len(names)} labels (Reddit comments; emotions + neutral).")
    print(f"[2/4] Fine-tuning {_model_label(model)} with {' '.join(flags)} "
          "(10% held out to tune the threshold)...", flush=True)
    t = time.perf_counter()
    if not _fit(clf, X_train, Y_train, names):
        return _report_interrupted(clf, args.out)
    fit_s = time.perf_counter() - t
    print(f"      done in {_fmt_seconds(fit_s)} on {clf.device_} ({clf.precision_})", flush=True)

    print("[3/4] Scoring on the test part...", flush=True)
    t = time.perf_counter()
    proba = clf.predict_proba(X_test)
    pred = clf._labels_from_proba(proba, int)
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

    rows = [(f"skbert ({_model_label(model, short=True)})", ours, fit_s, predict_s),
            ("TF-IDF + logistic regression", theirs, base_fit_s, base_predict_s)]
    print(f"\n{'':<30}{'micro-F1':>9}{'macro-F1':>10}{'LRAP':>8}{'train':>10}{'predict':>10}")
    for name, m, fs, ps in rows:
        print(f"{name:<30}{m['f1_micro']:>9.3f}{m['f1_macro']:>10.3f}{m['lrap']:>8.3f}"
              f"{fs:>9.1f}s{ps:>9.1f}s")
    gap = ours["f1_micro"] - theirs["f1_micro"]
    print(f"\nmicro-F1: the fine-tuned model is {abs(gap):.3f} "
          f"{'above' if gap >= 0 else 'below'} the TF-IDF baseline.")
    out = save_model(clf, args.out, overwrite=args.overwrite)
    print(f"Total time {_fmt_seconds(time.perf_counter() - t_total)}. Saved the fine-tuned "
          f"model to {out}")
    print(f"Next: skbert predict {args.out} texts.txt   |   skbert evaluate {args.out} data.jsonl")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
