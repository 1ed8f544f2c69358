"""
Training on your own CSV or JSON Lines file
===========================================

:func:`skbert.datasets.load_texts_and_labels` reads JSON Lines, CSV, TSV and
Parquet files into texts, a 0/1 label matrix and the label names. Labels are
either one column of names per row (a list in JSON, ``"a|b"`` in CSV) or one
0/1 column per label. Here we write small files of customer reviews first.
"""

import json
import os
import tempfile

import pandas as pd

from skbert import TransformerMultiLabelClassifier
from skbert.datasets import load_texts_and_labels

MODEL = os.environ.get("SKBERT_EXAMPLE_MODEL", "sentence-transformers/all-MiniLM-L6-v2")
FAST = os.environ.get("SKBERT_EXAMPLE_FAST") == "1"
REVIEWS = [
    ("The pizza was cold and the waiter ignored us", ["food", "service"]),
    ("Great cheese, friendly team, fair price", ["food", "service", "price"]),
    ("Way too expensive for such a small dinner", ["price", "food"]),
    ("Staff were rude when we asked for the bill", ["service"]),
    ("Cheap lunch menu, we will come back", ["price"]),
    ("Best pasta recipe in town", ["food"]),
] * 4  # a real data set has hundreds of rows or more

tmp = tempfile.mkdtemp()
# JSON Lines with a list of label names per row ...
with open(os.path.join(tmp, "reviews.jsonl"), "w") as fh:
    for text, labels in REVIEWS:
        fh.write(json.dumps({"review": text, "topics": labels}) + "\n")
# ... or CSV with one 0/1 column per label.
wide = pd.DataFrame([{"review": t, **{k: int(k in ls) for k in ("food", "service", "price")}}
                     for t, ls in REVIEWS])
wide.to_csv(os.path.join(tmp, "reviews.csv"), index=False)

texts, Y, names = load_texts_and_labels(os.path.join(tmp, "reviews.jsonl"),
                                        text_column="review", label_column="topics")
print(f"{len(texts)} texts, labels {names}, Y shape {Y.shape}")
texts2, Y2, names2 = load_texts_and_labels(os.path.join(tmp, "reviews.csv"), text_column="review",
                                           label_columns=["food", "service", "price"])
assert names2 == ["food", "service", "price"] and Y2.shape == Y.shape

# A DataFrame Y makes the label names the estimator's classes_.
clf = TransformerMultiLabelClassifier(MODEL, max_epochs=1 if FAST else 5, max_length=32,
                                      random_state=0)
clf.fit(texts, pd.DataFrame(Y, columns=names))
print("classes_:", list(clf.classes_))
print(dict(zip(clf.classes_, clf.predict_proba(["Lovely food but slow service"])[0].round(2))))
# The same files work from the shell:
#   skbert train reviews.jsonl --text-column review --label-column topics --out reviews-model
