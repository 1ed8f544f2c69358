"""Build the GoEmotions sample bundled with :mod:`skbert.datasets`.

The sample is drawn from a local copy of GoEmotions (Demszky et al., ACL 2020,
Apache-2.0) stored as JSON Lines (one ``{"id", "text", "labels": [names]}``
object per line) next to a ``labels.txt`` file giving the 28 label names in
their canonical order.

* train part: ``--n-train`` documents (default 3,000) from ``train.jsonl``;
* test part: ``--n-test`` documents (default 1,000) from ``validation.jsonl``.

It writes ``goemotions_train.jsonl.gz``, ``goemotions_test.jsonl.gz``,
``goemotions_labels.txt`` (a copy of ``labels.txt``), ``GOEMOTIONS_LICENSE.txt``
(attribution, citation, licence notice, list of changes) and ``APACHE-2.0.txt``
(the full licence text, copied from ``--apache-text``; an existing copy in
``--dest`` is kept when that file is missing).

Every label is guaranteed to occur at least ``--min-train`` times (default 10)
in the train part and ``--min-test`` times (default 5) in the test part: labels
are visited from rarest to most frequent and, while a label is short of its
minimum, random (seeded) documents carrying it are added; the remaining slots
are then filled with random documents. Documents keep their source-file order.
The output is deterministic for a given seed (gzip headers carry no time
stamp or file name).

Exact command used to build the files in ``skbert/datasets/data/`` (run from
the repository root)::

    python tools/make_goemotions_sample.py \\
        --source ../shared/data/goemotions \\
        --dest skbert/datasets/data \\
        --seed 0

This script is the only place that reads the source data; the package and its
tests only read the bundled files.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np


def read_jsonl(path: Path) -> list[dict]:
    """Read a JSON Lines file into a list of dicts."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def draw_sample(
    docs: list[dict],
    label_names: list[str],
    n: int,
    min_per_label: int,
    rng: np.random.Generator,
) -> list[dict]:
    """Draw ``n`` documents so that every label occurs ``min_per_label`` times.

    Rare labels are served first: for each label, from rarest to most
    frequent in ``docs``, random documents carrying it are added until the
    label has ``min_per_label`` occurrences in the sample. The rest of the
    sample is filled uniformly at random from the documents not yet chosen.
    """
    unknown = {lab for d in docs for lab in d["labels"]} - set(label_names)
    if unknown:
        raise ValueError(f"labels not in labels.txt: {sorted(unknown)}")
    if n > len(docs):
        raise ValueError(f"asked for {n} documents but only {len(docs)} exist")

    totals = Counter(lab for d in docs for lab in d["labels"])
    chosen: set[int] = set()
    counts: Counter[str] = Counter()

    # Rarest labels first, ties broken by label order for determinism.
    order = sorted(label_names, key=lambda lab: (totals[lab], label_names.index(lab)))
    for label in order:
        if totals[label] < min_per_label:
            raise ValueError(
                f"label {label!r} occurs only {totals[label]} times in the source"
            )
        candidates = [i for i, d in enumerate(docs) if label in d["labels"]]
        for i in rng.permutation(candidates):
            if counts[label] >= min_per_label:
                break
            i = int(i)
            if i in chosen:
                continue
            chosen.add(i)
            counts.update(docs[i]["labels"])

    if len(chosen) > n:
        raise ValueError(
            f"the label minimums need {len(chosen)} documents, more than n={n}"
        )
    rest = np.array([i for i in range(len(docs)) if i not in chosen])
    fill = rng.choice(rest, size=n - len(chosen), replace=False)
    chosen.update(int(i) for i in fill)
    return [docs[i] for i in sorted(chosen)]


def write_jsonl_gz(path: Path, docs: list[dict]) -> None:
    """Write ``docs`` as gzip-compressed JSON Lines, byte-reproducibly."""
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                           compresslevel=9) as gz:
            with io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as fh:
                for d in docs:
                    record = {"id": d["id"], "text": d["text"], "labels": d["labels"]}
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")


LICENSE_HEADER = """\
GoEmotions sample bundled with skbert
=====================================

The files goemotions_train.jsonl.gz, goemotions_test.jsonl.gz and
goemotions_labels.txt in this folder are a subset of the GoEmotions data set:

    Dorottya Demszky, Dana Movshovitz-Attias, Jeongwoo Ko, Alan Cowen,
    Gaurav Nemade, Sujith Ravi. 2020. GoEmotions: A Dataset of Fine-Grained
    Emotions. In Proceedings of the 58th Annual Meeting of the Association
    for Computational Linguistics (ACL 2020), pages 4040-4054.
    https://arxiv.org/abs/2005.00547

Source: google-research/google-research, folder goemotions/data
(https://github.com/google-research/google-research/tree/master/goemotions),
files train.tsv, dev.tsv and emotions.txt, as redistributed in
github.com/monologg/GoEmotions-pytorch (commit
b75f9d3a8b76bc1060687925b04ca98a1b8ea66b, data/original/). These are the
"simplified" rater-agreement splits with 27 emotions + neutral.

Copyright The Google Research Authors. Licensed under the Apache License,
Version 2.0 (the "License"); you may not use these files except in compliance
with the License. A copy of the License is in APACHE-2.0.txt next to this file;
you may also obtain one at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
License for the specific language governing permissions and limitations
under the License.

Modifications made for skbert: the TSV files were converted to JSON Lines
with label names instead of label ids, and a seeded random subset was taken
(tools/make_goemotions_sample.py): {n_train} documents of the official train
split form goemotions_train.jsonl.gz and {n_test} documents of the official
dev (validation) split form goemotions_test.jsonl.gz. Rare labels were
oversampled so that each of the 28 labels occurs at least {min_train} times in
the train part and {min_test} times in the test part; label frequencies
therefore differ from the full data set. The texts are Reddit comments and are
unchanged; some are offensive.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=Path("../shared/data/goemotions"),
                        help="folder holding train.jsonl, validation.jsonl, labels.txt")
    parser.add_argument("--dest", type=Path, default=Path("skbert/datasets/data"))
    parser.add_argument("--apache-text", type=Path,
                        default=Path("/usr/share/common-licenses/Apache-2.0"),
                        help="full Apache-2.0 licence text, copied to APACHE-2.0.txt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--min-train", type=int, default=10)
    parser.add_argument("--min-test", type=int, default=5)
    args = parser.parse_args(argv)

    label_names = [
        line.strip()
        for line in (args.source / "labels.txt").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    rng = np.random.default_rng(args.seed)
    train = draw_sample(read_jsonl(args.source / "train.jsonl"), label_names,
                        args.n_train, args.min_train, rng)
    test = draw_sample(read_jsonl(args.source / "validation.jsonl"), label_names,
                       args.n_test, args.min_test, rng)

    args.dest.mkdir(parents=True, exist_ok=True)
    write_jsonl_gz(args.dest / "goemotions_train.jsonl.gz", train)
    write_jsonl_gz(args.dest / "goemotions_test.jsonl.gz", test)
    shutil.copyfile(args.source / "labels.txt", args.dest / "goemotions_labels.txt")
    if args.apache_text.is_file():
        shutil.copyfile(args.apache_text, args.dest / "APACHE-2.0.txt")
    elif not (args.dest / "APACHE-2.0.txt").is_file():
        raise SystemExit(
            f"{args.apache_text} not found: pass --apache-text with the full "
            "Apache-2.0 licence text"
        )
    (args.dest / "GOEMOTIONS_LICENSE.txt").write_text(
        LICENSE_HEADER.format(n_train=args.n_train, n_test=args.n_test,
                              min_train=args.min_train, min_test=args.min_test),
        encoding="utf-8",
    )

    for name, part in (("train", train), ("test", test)):
        counts = Counter(lab for d in part for lab in d["labels"])
        rarest = min(label_names, key=lambda lab: counts[lab])
        print(f"{name}: {len(part)} documents, min label count "
              f"{counts[rarest]} ({rarest})")


if __name__ == "__main__":
    main()
