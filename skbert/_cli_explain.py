"""``skbert explain MODEL TEXTS --html out.html --json out.jsonl``: why each label.

:func:`add_parser` registers the subcommand on the ``skbert`` parser's
subparsers; :func:`run` carries it out and returns the exit code. Errors are
raised (ValueError, FileNotFoundError, FileExistsError) for the command line's
one-line error report.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ._cli_args import (
    _add_input_format,
    _add_table_options,
    check_auto_threshold,
    check_threshold_list,
)
from ._validation import json_line

#: Largest texts file read (bytes): explanations cost a model pass per word or step.
MAX_INPUT_BYTES = 200 * 2**20


def add_parser(subparsers, parents=()) -> argparse.ArgumentParser:
    """Add the ``explain`` subcommand to ``subparsers`` and return its parser."""
    p = subparsers.add_parser(
        "explain", parents=list(parents), help="show which words drove each label",
        description="Explain the labels of the texts in TEXTS with a saved model: one "
                    "attribution per word for each label. Writes a standalone HTML page "
                    "(--html) and/or JSON Lines (--json; stdout when neither is given).")
    p.add_argument("folder", metavar="MODEL", help="model folder written by train, demo or "
                                                   "save_pretrained")
    p.add_argument("input", metavar="TEXTS",
                   help="texts, read as 'skbert predict' reads INPUT: .txt (one per line), "
                        ".jsonl, .json, .csv, .tsv or .parquet, or - for stdin")
    p.add_argument("--html", metavar="FILE", help="write one offline page with a label selector")
    p.add_argument("--json", metavar="FILE",
                   help="write one JSON object per text (JSON Lines); - for standard output")
    p.add_argument("--method", choices=["integrated_gradients", "occlusion"],
                   default="integrated_gradients", help="(default: integrated_gradients)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--labels", metavar="A,B",
                       help="comma-separated labels to explain, or 'all' (default: the "
                            "predicted labels, else the most probable one)")
    group.add_argument("--top-k", type=int, metavar="K",
                       help="explain each text's K most probable labels instead")
    p.add_argument("--n-steps", type=int, default=32, metavar="N",
                   help="integration steps of integrated gradients (default: 32)")
    # the table's, parsed and checked as 'skbert predict' does (one per label: 0.3,0.5,...)
    _add_table_options(p, ("--threshold", "--min-labels"), saved=True)
    p.add_argument("--text-column", default="text", metavar="COL",
                   help="column or key of the text (default: text)")
    _add_input_format(p, "txt")
    p.add_argument("--device", default="auto", metavar="DEV", help="(default: auto)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files that skbert did not write")
    p.set_defaults(func=run)
    return p


def read_texts(path: str, text_column: str = "text", input_format: str | None = None,
               stack=None) -> list[str]:
    """The texts of ``path`` as ``skbert predict`` reads its INPUT (.txt, .jsonl, .json,
    .csv, .tsv, .parquet, or ``-`` for stdin in ``input_format``), at most
    :data:`MAX_INPUT_BYTES` of them."""
    import contextlib

    from ._cli_io import read_texts as read_input
    from ._cli_io import stdin_as_file

    with contextlib.ExitStack() as own:
        path = stdin_as_file(path, input_format, "txt", stack if stack is not None else own)
        if os.path.isfile(path) and os.path.getsize(path) > MAX_INPUT_BYTES:
            raise ValueError(f"{path!r} is larger than {MAX_INPUT_BYTES // 2**20} MiB; explain "
                             "a sample of the texts (explanations cost many model passes per "
                             "text).")
        texts = read_input(path, text_column, "TEXTS")
    if not texts:
        raise ValueError(f"{path!r} holds no text; put one text per line.")
    return texts


def check_distinct_outputs(html: str | None, json_file: str | None) -> None:
    """Refuse ``--html`` and ``--json`` naming one file (before any work).

    The page would be written, then refused or replaced by the JSON Lines.
    Paths are compared after resolving links; ``--json -`` is standard output.
    """
    from ._cli_paths import relation

    if not html or not json_file or "-" in (html, json_file):
        return
    if html == json_file or relation(html, json_file) == "is":
        stem = os.path.splitext(html)[0] or "explanations"
        raise ValueError(
            f"--html and --json name the same file ({html!r} and {json_file!r}); the page "
            f"and the JSON Lines each need their own file, e.g. --html {stem}.html --json "
            f"{stem}.jsonl.")


def run(args, stack=None) -> int:
    """Explain the texts of ``args.input`` with the model of ``args.folder`` (``stack``
    holds a copy of stdin for ``-`` until the command ends)."""
    from ._explain import _HTML_MARK, FORMAT, Explanations, _check_overwrite, explain
    from .cli import load_saved_model

    check_distinct_outputs(args.html, args.json)
    for flag, value in (("--n-steps", args.n_steps), ("--top-k", args.top_k)):
        if value is not None and value < 1:  # before the model loads; in the flags' words
            raise ValueError(f"{flag} {value} must be a positive whole number, e.g. {flag} "
                             f"{32 if flag == '--n-steps' else 3}.")
    if args.html == "-":
        raise ValueError("--html - : the HTML page needs a file name (e.g. --html why.html); "
                         "for standard output use --json - (JSON Lines).")
    to_stdout = args.json == "-"  # as predict's --output -
    json_file = None if to_stdout else args.json
    for flag, path, mark, what in (("--html", args.html, _HTML_MARK, "page"),
                                   ("--json", json_file, f'"format": "{FORMAT}"',
                                    "JSON Lines file")):
        if path is not None:  # before the model pass, which may take minutes
            if os.path.isdir(path):
                raise ValueError(f"{flag} {path!r} is a folder; name a file inside it.")
            _refuse_foreign(_check_overwrite, flag, path, args.overwrite, mark, what)
    texts = read_texts(args.input, args.text_column, args.input_format, stack)
    if not os.path.isdir(args.folder):
        raise FileNotFoundError(f"Model folder {args.folder!r} does not exist; train one with "
                                f"'skbert train DATA --out {args.folder}'.")
    clf = load_saved_model(args.folder, device=args.device)  # file errors name the file
    check_auto_threshold(clf, args.folder, getattr(args, "threshold", None))
    check_threshold_list(getattr(args, "threshold", None), list(clf.classes_))
    for name in ("threshold", "min_labels"):  # given: the table's parser checked them
        if hasattr(args, name):
            clf.set_params(**{name: getattr(args, name)})
    labels = None
    if args.labels is not None:
        labels = "all" if args.labels == "all" else [
            _as_class(clf, s.strip()) for s in args.labels.split(",") if s.strip()]
    start = time.perf_counter()
    ex: Explanations = explain(clf, texts, labels=labels, method=args.method,
                               n_steps=args.n_steps, top_k=args.top_k)
    took = time.perf_counter() - start
    if args.html:
        _refuse_foreign(ex.to_html, "--html", args.html, overwrite=args.overwrite)
    if json_file:
        _refuse_foreign(ex.to_jsonl, "--json", json_file, overwrite=args.overwrite)
    if to_stdout or (not args.html and not args.json):
        for e in ex:
            print(json_line(e.to_dict()))
    gaps = ex.completeness_gaps()
    gap = f"; completeness gap max {100 * gaps.max():.1f}%" if gaps.size else ""
    written = ", ".join(p for p in (args.html, json_file) if p)
    print(f"explained {len(ex)} texts with {args.method} in {took:.1f} s{gap}"
          + (f"; wrote {written}" if written else ""), file=sys.stderr)
    return 0


def _refuse_foreign(write, flag: str, path: str, *args, **kwargs):
    """``write(path, *args, **kwargs)``; its refusal of a file skbert explain did not write
    says so in the command line's words (the library's speaks of ``overwrite=True``)."""
    from ._explain import ForeignOutput

    try:
        return write(path, *args, **kwargs)
    except ForeignOutput as exc:
        raise FileExistsError(
            f"{flag} {path!r} exists and {exc.reason}; pass --overwrite to replace it, or "
            "choose another file.") from None


def _as_class(clf, name: str):
    """A label name from the command line as the model's class (names or int labels)."""
    for c in clf.classes_:
        if str(c) == name:
            return c.item() if hasattr(c, "item") else c
    shown = ", ".join(str(c) for c in list(clf.classes_)[:10])
    raise ValueError(f"--labels holds {name!r}, which is not a label of this model; its labels "
                     f"are {shown}{', ...' if len(clf.classes_) > 10 else ''}.")
