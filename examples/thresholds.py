"""
Tuning decision thresholds
==========================

``predict`` keeps a label when its probability is at least ``threshold``. The
default 0.5 is rarely best for rare labels. Two ways to tune one threshold per
label: from out-of-fold probabilities with :func:`skbert.tune_thresholds`, or
during ``fit`` on a validation split with ``threshold="auto"``.
"""

import os

from sklearn.metrics import f1_score
from sklearn.model_selection import KFold

from skbert import TransformerMultiLabelClassifier, tune_thresholds
from skbert.datasets import load_goemotions
from skbert.model_selection import cross_val_predict_proba

MODEL = os.environ.get("SKBERT_EXAMPLE_MODEL", "sentence-transformers/all-MiniLM-L6-v2")
FAST = os.environ.get("SKBERT_EXAMPLE_FAST") == "1"
N_TRAIN, N_TEST = (60, 30) if FAST else (2000, 1000)

X, Y = load_goemotions(subset="train", return_X_y=True)
X_test, Y_test = load_goemotions(subset="test", return_X_y=True)
X, Y, X_test, Y_test = X[:N_TRAIN], Y[:N_TRAIN], X_test[:N_TEST], Y_test[:N_TEST]
params = dict(max_epochs=1 if FAST else 2, learning_rate=2e-4, max_length=64, random_state=0)


def micro_f1(clf):
    return f1_score(Y_test, clf.predict(X_test), average="micro", zero_division=0)


# 1. Out-of-fold probabilities: every text is scored by a model that never saw it.
clf = TransformerMultiLabelClassifier(MODEL, **params)
cv = KFold(n_splits=2 if FAST else 3, shuffle=True, random_state=0)
proba = cross_val_predict_proba(clf, X, Y, cv=cv)
thresholds = tune_thresholds(Y, proba, metric="f1")  # each label's own F1
print("tuned thresholds:", thresholds.round(2))

clf.fit(X, Y)
print(f"test micro-F1 at 0.5:              {micro_f1(clf):.3f}")
clf.set_params(threshold=thresholds)  # read at predict time: no refit
print(f"test micro-F1, tuned thresholds:   {micro_f1(clf):.3f}")

# 2. threshold="auto": tuned during fit on a held-out 10% (validation_fraction).
auto = TransformerMultiLabelClassifier(MODEL, threshold="auto", **params).fit(X, Y)
print(f"test micro-F1, threshold='auto':   {micro_f1(auto):.3f}")
print("thresholds_ chosen during fit:", auto.thresholds_.round(2))
