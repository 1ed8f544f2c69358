"""
Saving and loading a fine-tuned model
=====================================

Two formats. ``save_pretrained`` writes a Hugging Face model folder plus
skbert's settings; ``from_pretrained`` loads it without running pickle, and
``transformers`` can read the encoder in it too. ``joblib.dump`` pickles the
whole estimator, for example inside a fitted ``Pipeline`` or ``GridSearchCV``;
load pickles only from sources you trust.
"""

import os
import tempfile

import joblib
import numpy as np
from transformers import AutoModel

from skbert import TransformerMultiLabelClassifier
from skbert.datasets import load_goemotions

MODEL = os.environ.get("SKBERT_EXAMPLE_MODEL", "sentence-transformers/all-MiniLM-L6-v2")
FAST = os.environ.get("SKBERT_EXAMPLE_FAST") == "1"

X, Y = load_goemotions(return_X_y=True, as_frame=True)
X, Y = X[: 40 if FAST else 500], Y[: 40 if FAST else 500]
clf = TransformerMultiLabelClassifier(MODEL, max_epochs=1, max_length=64, threshold=0.3,
                                      random_state=0).fit(X, Y)
texts = ["I love this so much", "That is disgusting"]
expected = clf.predict_proba(texts)

with tempfile.TemporaryDirectory() as tmp:
    # 1. A model folder: config.json, model.safetensors, tokenizer files, skbert.json.
    folder = os.path.join(tmp, "goemotions-model")
    clf.save_pretrained(folder)
    print("files:", sorted(os.listdir(folder)))
    again = TransformerMultiLabelClassifier.from_pretrained(folder)
    assert np.allclose(again.predict_proba(texts), expected, atol=1e-6)
    print("threshold kept:", again.threshold, "- labels:", list(again.classes_[:4]), "...")
    # The command line reads the same folders: skbert predict <folder> texts.txt
    encoder = AutoModel.from_pretrained(folder)  # the fine-tuned encoder alone
    print("encoder:", type(encoder).__name__, "- labels in its config:",
          len(encoder.config.id2label))

    # 2. joblib (pickle): weights are stored on the CPU, so a GPU model loads anywhere.
    joblib.dump(clf, os.path.join(tmp, "clf.joblib"))
    loaded = joblib.load(os.path.join(tmp, "clf.joblib"))
    assert np.allclose(loaded.predict_proba(texts), expected)
    print("joblib round trip: identical probabilities")
