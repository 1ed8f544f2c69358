"""
The reference notebook's recipe: BERT on MultiEURLEX
====================================================

The classic multi-label fine-tuning notebook trains bert-base-uncased on the
English MultiEURLEX laws (level 1: 21 EuroVoc domains) with Hugging Face's
``Trainer``, a hand-written metric function and a fixed 0.5 threshold. With
skbert the same recipe is an estimator ``fit``: no Trainer, collator or metric
code. Online, run it as is (downloads model and data; use a GPU). Offline,
point it at any labelled JSONL file and a local model::

    python notebook_recipe.py --data my_data.jsonl --model path/to/checkpoint
"""

import argparse
import os

from sklearn.metrics import classification_report, f1_score
from sklearn.model_selection import train_test_split

from skbert import TransformerMultiLabelClassifier
from skbert.datasets import load_texts_and_labels

FAST = os.environ.get("SKBERT_EXAMPLE_FAST") == "1"  # tiny sizes for the test suite
parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
parser.add_argument("--data", help="local JSONL/CSV with 'text' and 'labels' columns")
parser.add_argument("--model", default=os.environ.get("SKBERT_EXAMPLE_MODEL", "bert-base-uncased"))
parser.add_argument("--max-epochs", type=int, default=1 if FAST else 3)
args = parser.parse_args()

if args.data:  # offline: any labelled file, split 80/20
    texts, Y, names = load_texts_and_labels(args.data)
    X_train, X_test, Y_train, Y_test = train_test_split(texts, Y, test_size=0.2, random_state=0)
else:  # online: English MultiEURLEX, level-1 labels (21 EuroVoc domains)
    from datasets import load_dataset
    from sklearn.preprocessing import MultiLabelBinarizer

    # datasets>=4 runs no loading scripts: read the hub's parquet export of the "en"
    # config, whose labels are the level-1 EuroVoc domains.
    eurlex = load_dataset("nlpaueb/multi_eurlex", "en", revision="refs/convert/parquet")
    names = eurlex["train"].features["labels"].feature.names
    mlb = MultiLabelBinarizer(classes=range(len(names)))
    X_train, Y_train = eurlex["train"]["text"], mlb.fit_transform(eurlex["train"]["labels"])
    X_test, Y_test = eurlex["test"]["text"], mlb.transform(eurlex["test"]["labels"])

clf = TransformerMultiLabelClassifier(
    args.model,
    max_length=64 if FAST else 512,  # laws are long: the first 512 tokens, or
    long_text="truncate",  # "chunk" to read them whole in windows
    batch_size=8, learning_rate=2e-5, max_epochs=args.max_epochs,
    threshold="auto",  # a tuned threshold instead of the notebook's fixed 0.5
    early_stopping=True,  # keep the epoch with the best validation micro-F1
    random_state=0, verbose=2)
clf.fit(X_train, Y_train)
Y_pred = clf.predict(X_test)
print(classification_report(Y_test, Y_pred, target_names=[str(n) for n in names],
                            zero_division=0))
print(f"micro-F1 {f1_score(Y_test, Y_pred, average='micro', zero_division=0):.3f}  "
      f"macro-F1 {f1_score(Y_test, Y_pred, average='macro', zero_division=0):.3f}")
