"""skbert.callbacks: the hook protocol, TensorBoard and MLflow loggers, clone safety.

The loggers run against a fake estimator (``get_params`` and ``save_pretrained``)
and fake history records, and what they wrote is read back with the libraries'
own readers.
"""

from __future__ import annotations

import copy
import json
import pickle
import sys

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, clone

from skbert._utils import SkbertWarning
from skbert.callbacks import Callback, MLflow, TensorBoard, check_callbacks, run_callbacks

RECORDS = [
    {"epoch": 1, "train_loss": 0.6931, "valid_loss": 0.61, "valid_f1": 0.25,
     "valid_score": 0.25, "lr": 5e-5, "dur": 1.5},
    {"epoch": 2, "train_loss": 0.52, "valid_loss": 0.48, "valid_f1": 0.5, "valid_score": 0.5,
     "lr": 2.5e-5, "dur": 1.25},
    {"epoch": 3, "train_loss": 0.41, "valid_loss": None, "valid_f1": None,
     "valid_score": None, "lr": 1e-7, "dur": 1.0},
]
STEPS_PER_EPOCH = 3


class FakeEstimator:
    """What the callbacks use of TransformerMultiLabelClassifier."""

    def __init__(self, learning_rate=5e-5):
        self.learning_rate = learning_rate

    def get_params(self, deep=True):
        return {"model_name_or_path": "tiny-bert", "learning_rate": self.learning_rate,
                "max_epochs": 3, "early_stopping": True, "random_state": None,
                "threshold": np.float64(0.5), "batch_size": np.int64(16),
                "model_kwargs": {"dropout": 0.1}, "callbacks": [Callback()],
                "classes": ["a", "b"]}

    def save_pretrained(self, folder):
        with open(f"{folder}/skbert.json", "w") as fh:
            json.dump({"classes_": ["a", "b"]}, fh)
        with open(f"{folder}/model.safetensors", "wb") as fh:
            fh.write(b"\x00weights")


def simulate_fit(callbacks, estimator, records=RECORDS, end=True):
    """Call the hooks the way the estimator's fit does."""
    callbacks = check_callbacks(callbacks)
    run_callbacks(callbacks, "on_fit_begin", estimator)
    step = 0
    for record in records:
        for _ in range(STEPS_PER_EPOCH):
            step += 1
            batch = {"epoch": record["epoch"], "step": step, "n_texts": 8,
                     "loss": torch.tensor(1.0 / step)}
            run_callbacks(callbacks, "on_batch_end", estimator, batch)
        run_callbacks(callbacks, "on_epoch_end", estimator, dict(record))
    if end:
        run_callbacks(callbacks, "on_fit_end", estimator)


class Recorder:
    """A callback that is not a Callback subclass and has only some hooks."""

    def __init__(self):
        self.calls = []

    def on_fit_begin(self, estimator):
        self.calls.append("begin")

    def on_epoch_end(self, estimator, record):
        self.calls.append(record["epoch"])


# ------------------------------------------------------------ the protocol
def test_base_callback_hooks_do_nothing():
    cb = Callback()
    simulate_fit([cb], FakeEstimator())  # every hook exists and accepts its arguments


def test_run_callbacks_calls_present_hooks_in_order():
    a, b = Recorder(), Recorder()
    simulate_fit([a, Callback(), b], FakeEstimator())
    assert a.calls == b.calls == ["begin", 1, 2, 3]
    with pytest.raises(ValueError, match="on_epoch_end"):
        run_callbacks([a], "on_epoch_begin", None)
    run_callbacks(None, "on_fit_end", None)


def test_check_callbacks_names_the_bad_one():
    assert check_callbacks(None) == []
    assert len(check_callbacks((Recorder(), Callback()))) == 2
    with pytest.raises(TypeError, match=r"callbacks=\[cb\]"):
        check_callbacks(Recorder())
    with pytest.raises(TypeError, match=r"callbacks\[1\] is a dict with none of the methods"):
        check_callbacks([Recorder(), {"on_fit_end": 1}])
    with pytest.raises(TypeError, match=r"callbacks\[0\] is the class Recorder.*Recorder\(\)"):
        check_callbacks([Recorder])

    class Broken:
        on_epoch_end = 3

    with pytest.raises(TypeError, match=r"callbacks\[0\]\.on_epoch_end is a int"):
        check_callbacks([Broken()])


# ------------------------------------------------------------- TensorBoard
def _scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}


def test_tensorboard_scalars_read_back_equal_the_records(tmp_path):
    pytest.importorskip("tensorboard")
    tb = TensorBoard(log_dir=str(tmp_path / "tb"), log_batch_every=2)
    simulate_fit([tb], FakeEstimator())
    got = _scalars(tmp_path / "tb")
    fields = ["train_loss", "valid_loss", "valid_f1", "valid_score", "lr", "dur"]
    assert set(got) == {f"skbert/{f}" for f in fields} | {"skbert/batch_loss"}
    for f in fields:  # event files hold float32
        assert got[f"skbert/{f}"] == [(r["epoch"], float(np.float32(r[f])))
                                      for r in RECORDS if r[f] is not None]
    n_steps = STEPS_PER_EPOCH * len(RECORDS)
    assert got["skbert/batch_loss"] == [(s, float(np.float32(1.0 / s)))
                                        for s in range(2, n_steps + 1, 2)]
    assert tb._writer is None  # closed at fit end


def test_tensorboard_default_log_dir_and_epochs_only(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.chdir(tmp_path)
    tb = TensorBoard()
    simulate_fit([tb], FakeEstimator())
    (run,) = (tmp_path / "runs").iterdir()
    got = _scalars(run)
    assert "skbert/batch_loss" not in got and len(got["skbert/train_loss"]) == 3


def test_tensorboard_checks_log_batch_every(tmp_path):
    pytest.importorskip("tensorboard")
    with pytest.raises(ValueError, match="log_batch_every=0 must be a positive int"):
        TensorBoard(log_dir=str(tmp_path), log_batch_every=0).on_fit_begin(FakeEstimator())


def test_tensorboard_closes_a_writer_left_by_a_failed_fit(tmp_path):
    pytest.importorskip("tensorboard")
    tb = TensorBoard(log_dir=str(tmp_path / "tb"))
    simulate_fit([tb], FakeEstimator(), records=RECORDS[:1], end=False)  # fit raised
    first = tb._writer
    simulate_fit([tb], FakeEstimator())
    assert first.file_writer is None or first.all_writers == {}  # closed


# ------------------------------------------------------------------ MLflow
@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 wants opting in
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _only_run(mlflow, experiment="Default"):
    exp = mlflow.MlflowClient().get_experiment_by_name(experiment)
    (run,) = mlflow.MlflowClient().search_runs([exp.experiment_id])
    return run


def test_mlflow_logs_params_metrics_and_model(mlflow_store, tmp_path):
    mlflow = mlflow_store
    simulate_fit([MLflow(run_name="baseline")], FakeEstimator())
    assert mlflow.active_run() is None  # the run it started is ended
    run = _only_run(mlflow)
    assert run.info.status == "FINISHED" and run.info.run_name == "baseline"
    assert run.data.params == {"model_name_or_path": "tiny-bert", "learning_rate": "5e-05",
                               "max_epochs": "3", "early_stopping": "True",
                               "random_state": "None", "threshold": "0.5",
                               "batch_size": "16"}
    client = mlflow.MlflowClient()
    for field in ["train_loss", "valid_loss", "valid_f1", "valid_score", "lr", "dur"]:
        history = client.get_metric_history(run.info.run_id, field)
        assert sorted((m.step, m.value) for m in history) == [
            (r["epoch"], r[field]) for r in RECORDS if r[field] is not None]
    assert client.get_metric_history(run.info.run_id, "epoch") == []
    names = sorted(a.path for a in client.list_artifacts(run.info.run_id, "model"))
    assert names == ["model/model.safetensors", "model/skbert.json"]
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model",
                                                dst_path=str(tmp_path / "dl"))
    with open(f"{local}/model.safetensors", "rb") as fh:
        assert fh.read() == b"\x00weights"


def test_mlflow_uses_the_active_run_and_leaves_it_open(mlflow_store):
    mlflow = mlflow_store
    with mlflow.start_run() as outer:
        simulate_fit([MLflow(log_model=False)], FakeEstimator())
        assert mlflow.active_run().info.run_id == outer.info.run_id
        with pytest.warns(SkbertWarning, match=r"\['learning_rate'\]"):
            simulate_fit([MLflow(log_model=False)], FakeEstimator(learning_rate=1e-4))
        assert mlflow.active_run().info.run_id == outer.info.run_id
    run = _only_run(mlflow)
    assert run.data.params["learning_rate"] == "5e-05"
    assert mlflow.MlflowClient().list_artifacts(run.info.run_id) == []
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "train_loss")
    assert len(history) == 2 * len(RECORDS)


def test_mlflow_experiment_and_failed_fit(mlflow_store):
    mlflow = mlflow_store
    cb = MLflow(experiment="skbert-tests", log_model=False)
    simulate_fit([cb], FakeEstimator(), end=False)  # this fit raised: no on_fit_end
    first = mlflow.active_run().info.run_id
    simulate_fit([cb], FakeEstimator())  # the next fit ends the abandoned run
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name("skbert-tests")
    runs = {r.info.run_id: r.info.status for r in client.search_runs([exp.experiment_id])}
    assert len(runs) == 2 and runs.pop(first) == "FAILED"
    assert list(runs.values()) == ["FINISHED"]
    assert mlflow.active_run() is None


def test_mlflow_ends_its_run_when_saving_the_model_fails(mlflow_store):
    mlflow = mlflow_store

    class Unsaveable(FakeEstimator):
        def save_pretrained(self, folder):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        simulate_fit([MLflow()], Unsaveable())
    assert mlflow.active_run() is None
    assert _only_run(mlflow).info.status == "FAILED"


# -------------------------------------------------------- missing libraries
@pytest.mark.parametrize("cls, module, extra", [
    (TensorBoard, "tensorboard", "tensorboard"), (MLflow, "mlflow", "mlflow")])
def test_missing_library_names_the_pip_command(monkeypatch, cls, module, extra):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf'pip install "skbert\[{extra}\]"'):
        cls()


@pytest.mark.parametrize("cls, module, extra", [
    (TensorBoard, "tensorboard", "tensorboard"), (MLflow, "mlflow", "mlflow")])
def test_library_gone_at_fit_time_names_the_pip_command(monkeypatch, cls, module, extra):
    pytest.importorskip(module)
    cb = cls()  # e.g. unpickled on a machine without the library
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf'pip install "skbert\[{extra}\]"'):
        cb.on_fit_begin(FakeEstimator())


# ------------------------------------------------------------- clone safety
class Holder(BaseEstimator):
    def __init__(self, callbacks=None):
        self.callbacks = callbacks


def test_callbacks_survive_sklearn_clone_before_fit(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    cbs = [TensorBoard(log_dir=str(tmp_path), log_batch_every=5),
           MLflow(run_name="r", log_model=False, experiment="e"), Recorder()]
    est = Holder(callbacks=cbs)
    copied = clone(est).callbacks
    assert [repr(c) for c in copied[:2]] == [repr(c) for c in cbs[:2]]
    assert repr(cbs[0]) == f"TensorBoard(log_dir={str(tmp_path)!r}, log_batch_every=5)"
    assert all(a is not b for a, b in zip(copied, cbs))
    assert "TensorBoard(" in repr(est)


def test_open_writer_and_run_are_not_copied(tmp_path, mlflow_store):
    pytest.importorskip("tensorboard")
    tb = TensorBoard(log_dir=str(tmp_path / "tb"))
    ml = MLflow(log_model=False)
    est = FakeEstimator()
    run_callbacks([tb, ml], "on_fit_begin", est)
    for cb in (tb, ml):
        for dup in (copy.deepcopy(cb), pickle.loads(pickle.dumps(cb))):
            assert repr(dup) == repr(cb)
            assert all(v in (None, False, 0) for k, v in vars(dup).items() if k.startswith("_"))
    assert clone(Holder(callbacks=[tb, ml])).callbacks[0]._writer is None
    run_callbacks([tb, ml], "on_epoch_end", est, RECORDS[0])  # the originals still log
    run_callbacks([tb, ml], "on_fit_end", est)
    assert _scalars(tmp_path / "tb")["skbert/train_loss"] == [(1, float(np.float32(0.6931)))]
    assert _only_run(mlflow_store).info.status == "FINISHED"


# ------------------------------------------------ issue 20: what loggers record
class AutoRateEstimator(FakeEstimator):
    """learning_rate='auto', and the rate fit used in learning_rate_ (set before on_fit_end)."""

    def __init__(self):
        super().__init__(learning_rate="auto")
        self.learning_rate_ = 2e-4


def test_item20_mlflow_logs_the_learning_rate_used_not_auto(mlflow_store):
    simulate_fit([MLflow(log_model=False)], AutoRateEstimator())
    assert _only_run(mlflow_store).data.params["learning_rate"] == "0.0002"


def test_item16_loggers_record_a_fit_served_from_the_cache(mlflow_store, tmp_path):
    pytest.importorskip("tensorboard")
    est = FakeEstimator()
    tb, ml = TensorBoard(log_dir=str(tmp_path / "tb")), MLflow(log_model=False)
    run_callbacks([tb, ml], "on_fit_begin", est)
    run_callbacks([tb, ml], "on_fit_reused", est,
                  {"history": RECORDS, "best_epoch": 2, "learning_rate": 5e-5})
    run_callbacks([tb, ml], "on_fit_end", est)
    run = _only_run(mlflow_store)
    assert run.data.tags["skbert.fit_cache"] == "reused"
    history = mlflow_store.MlflowClient().get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in history) == [1, 2, 3]
    assert [s for s, _ in _scalars(tmp_path / "tb")["skbert/train_loss"]] == [1, 2, 3]


# --------------------------------------------------- the protocol in a real fit
class Counter(Callback):
    """Counts the texts of every step, and the steps, as the loop reports them."""

    def __init__(self):
        self.n_texts, self.steps, self.records = 0, [], []

    def on_batch_end(self, estimator, batch):
        self.n_texts += batch["n_texts"]
        self.steps.append((batch["epoch"], batch["step"]))

    def on_epoch_end(self, estimator, record):
        self.records.append(record)


def test_a_fit_reports_every_text_once_per_epoch_and_global_steps(tiny_st_model, corpus):
    from skbert import TransformerMultiLabelClassifier

    X, Y = corpus
    counter = Counter()
    est = TransformerMultiLabelClassifier(
        tiny_st_model, max_epochs=2, batch_size=10, random_state=0, device="cpu",
        fit_cache=False, callbacks=[counter], micro_batch_size=3).fit(X, Y)
    assert counter.n_texts == 2 * len(X)  # micro-batches or not, each text once an epoch
    steps = [s for _, s in counter.steps]
    assert steps == list(range(1, len(steps) + 1))  # counted across the whole fit
    assert [e for e, _ in counter.steps] == [1] * 5 + [2] * 5
    assert counter.records == est.history_


def test_checkpoint_is_a_callback_on_the_same_protocol(tiny_st_model, corpus, tmp_path):
    from skbert import TransformerMultiLabelClassifier
    from skbert.callbacks import Checkpoint, notify

    assert Checkpoint.uses_loop_state
    seen = []

    class Probe:
        uses_loop_state = True

        def on_epoch_end(self, estimator, record, *, state):
            seen.append((record["epoch"], state.epoch, state.selection.best_epoch))

    notify([Probe()], "on_epoch_end", None, {"epoch": 7},
           state=type("S", (), {"epoch": 7, "selection": type("Sel", (), {"best_epoch": 6})}))
    assert seen == [(7, 7, 6)]
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, random_state=0,
                                          device="cpu", fit_cache=False,
                                          checkpoint_dir=tmp_path)
    est.fit(X, Y)
    assert (tmp_path / "training_state.safetensors").is_file()
