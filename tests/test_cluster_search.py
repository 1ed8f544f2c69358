"""Issue 12: GridSearchCV on a dask cluster of 2 worker processes shares one fit cache."""

from __future__ import annotations

import os

import numpy as np
import pytest
from cluster_helpers import CountFits
from sklearn.model_selection import GridSearchCV

from skbert import TransformerMultiLabelClassifier

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

HERE = os.path.dirname(__file__)


@pytest.fixture(scope="module")
def dask_client():
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (HERE, os.path.dirname(HERE), old) if p)  # workers import these helpers
    os.environ["OMP_NUM_THREADS"] = "1"
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def test_threshold_search_on_dask_fine_tunes_once_per_fold_and_refit(dask_client, tiny_st_model,
                                                                     corpus, tmp_path):
    X, Y = corpus
    counter = tmp_path / "fits.txt"
    est = TransformerMultiLabelClassifier(
        tiny_st_model, max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0,
        device="cpu", precision="fp32", fit_cache=str(tmp_path / "cache"),
        callbacks=[CountFits(str(counter))])
    search = GridSearchCV(est, {"threshold": [0.3, 0.4, 0.5]}, cv=2, scoring="f1_micro",
                          n_jobs=2)
    with joblib.parallel_backend("dask"):
        search.fit(X, Y)
    pids = counter.read_text().split()
    assert len(pids) == 3  # 2 folds + the refit, not 3 thresholds x 2 folds + 1
    workers = {str(p) for p in dask_client.run(os.getpid).values()}
    assert set(pids) - {str(os.getpid())} <= workers  # folds ran on the workers
    assert search.best_params_["threshold"] in (0.3, 0.4, 0.5)
    assert search.best_estimator_.predict_proba(X).shape == Y.shape
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
