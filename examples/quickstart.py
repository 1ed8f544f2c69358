"""
Quickstart: fine-tune on the bundled GoEmotions sample
======================================================

Fine-tune the bundled all-MiniLM-L6-v2 on a few thousand Reddit comments
labelled with 28 emotions, predict labels for new texts, and score the model
on held-out comments. Runs offline on a laptop CPU in a few minutes.
"""

import os

from sklearn.metrics import f1_score

from skbert import TransformerMultiLabelClassifier
from skbert.datasets import load_goemotions

# The model to fine-tune and the sizes; the test suite swaps in a tiny model.
MODEL = os.environ.get("SKBERT_EXAMPLE_MODEL", "sentence-transformers/all-MiniLM-L6-v2")
FAST = os.environ.get("SKBERT_EXAMPLE_FAST") == "1"
N_TRAIN, N_TEST = (60, 30) if FAST else (3000, 1000)

# X is a pandas Series of texts; Y a DataFrame with one 0/1 column per emotion,
# so the fitted estimator's classes_ are the emotion names.
X_train, Y_train = load_goemotions(subset="train", return_X_y=True, as_frame=True)
X_test, Y_test = load_goemotions(subset="test", return_X_y=True, as_frame=True)
X_train, Y_train = X_train[:N_TRAIN], Y_train[:N_TRAIN]
X_test, Y_test = X_test[:N_TEST], Y_test[:N_TEST]

clf = TransformerMultiLabelClassifier(
    MODEL,
    max_epochs=1 if FAST else 2,
    learning_rate=2e-4,
    max_length=64,
    # one threshold shared by all labels (threshold_metric="f1_micro_global", the default),
    # tuned on a 10% validation split; threshold_metric="f1" tunes one per label
    threshold="auto",
    random_state=0,
    verbose=1,  # one line per epoch
)
clf.fit(X_train, Y_train)

texts = ["Thank you so much, this made my day!", "Why would anyone do that? I'm furious."]
for text, row in zip(texts, clf.predict(texts)):
    print(f"{text!r} -> {list(clf.classes_[row == 1])}")

Y_pred = clf.predict(X_test)
print(f"micro-F1 on {len(X_test)} held-out comments: "
      f"{f1_score(Y_test, Y_pred, average='micro', zero_division=0):.3f}")
