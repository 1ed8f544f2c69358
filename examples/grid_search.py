"""
Pipelines, grid search and cross-validation
===========================================

The estimator is a regular scikit-learn classifier: put a text-cleaning step
in front of it in a ``Pipeline``, tune it with ``GridSearchCV`` and score it
with ``cross_val_score``. ``threshold`` is read at predict time, so a grid over
thresholds fine-tunes once per fold, not once per candidate.
"""

import os
import re

from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skbert import TransformerMultiLabelClassifier
from skbert.datasets import load_goemotions

MODEL = os.environ.get("SKBERT_EXAMPLE_MODEL", "sentence-transformers/all-MiniLM-L6-v2")
FAST = os.environ.get("SKBERT_EXAMPLE_FAST") == "1"
N = 60 if FAST else 1200

X, Y = load_goemotions(return_X_y=True, as_frame=True)
X, Y = X[:N], Y[:N]


def clean(texts):
    """Replace Reddit user names and links, e.g. "/u/someone" -> "[NAME]"."""
    return [re.sub(r"/?u/\w+|https?://\S+", "[NAME]", t) for t in texts]


pipe = make_pipeline(
    FunctionTransformer(clean),
    TransformerMultiLabelClassifier(MODEL, max_epochs=1 if FAST else 2, learning_rate=2e-4,
                                    max_length=64, random_state=0),
)
cv = KFold(n_splits=2, shuffle=True, random_state=0)

# Micro-F1 suits multi-label data; the default score() is strict subset accuracy.
search = GridSearchCV(pipe, {"transformermultilabelclassifier__threshold": [0.2, 0.3, 0.5]},
                      scoring="f1_micro", cv=cv)
search.fit(X, Y)
print("best threshold:", search.best_params_, f"micro-F1 {search.best_score_:.3f}")
for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
    print(f"  {params}  {score:.3f}")

scores = cross_val_score(search.best_estimator_, X, Y, scoring="f1_micro", cv=cv)
print(f"cross-validated micro-F1 of the best pipeline: {scores.mean():.3f} +- {scores.std():.3f}")
