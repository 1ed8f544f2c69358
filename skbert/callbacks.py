"""Training hooks and loggers for :class:`~skbert.TransformerMultiLabelClassifier`.

The one hook system of skbert (skorch's shape: ``Callback`` and ``notify``):
the user's callbacks, the loggers and the training-state checkpoint of
``checkpoint_dir`` all plug into the loop here. A callback is any object with
one or more of the methods below; subclassing :class:`Callback` (whose
methods do nothing) is the easy way to get them all. The estimator calls them
in this order::

    on_fit_begin(estimator)             once, before the first epoch
    on_batch_end(estimator, batch)      after every optimisation step
    on_epoch_end(estimator, record)     after every epoch, with its history record
    on_fit_reused(estimator, info)      instead of the epochs, when the fit cache
                                        supplied the weights (nothing is trained)
    on_fit_end(estimator)               once, after the fitted attributes are set

``on_fit_end`` runs when ``fit`` completes, also after Ctrl-C (the estimator
then keeps the best weights so far and is fitted, and re-raises
``KeyboardInterrupt`` after ``on_fit_end``). It does not run when ``fit``
raises otherwise; the built-in callbacks clean up what such a fit left open at
the next ``on_fit_begin``.

A fit that resumes from ``checkpoint_dir`` calls ``on_epoch_end`` only for the
epochs it trains, not for those restored from the checkpoint. A fit whose
weights come from the fit cache calls ``on_fit_begin``, ``on_fit_reused`` and
``on_fit_end``, and no batch or epoch hook.

Callbacks are estimator parameters, so :func:`sklearn.base.clone` deep-copies
them: the built-in ones open nothing before ``on_fit_begin`` and drop their
open writer or run when copied or pickled.

The optional libraries are imported lazily: whether they are installed is
checked when a callback is constructed (without importing them, so that a
missing one fails at once rather than after the model has loaded), and they
are imported at ``on_fit_begin``.
"""

from __future__ import annotations

import importlib.util
import logging
import numbers
import os
import tempfile
import time
import warnings

from ._utils import SkbertWarning

__all__ = ["Callback", "MLflow", "TensorBoard", "check_callbacks", "notify", "run_callbacks"]

logger = logging.getLogger(__name__)

#: The hook names the estimator calls, in the order of a fit.
HOOKS = ("on_fit_begin", "on_batch_end", "on_epoch_end", "on_fit_reused", "on_fit_end")


class Callback:
    """Base class of skbert's callbacks: every hook exists and does nothing.

    Override the hooks you need. Objects that do not subclass ``Callback`` are
    accepted too, as long as they have at least one of the hook methods.
    Keep ``__init__`` to storing its arguments and open files, connections or
    runs in :meth:`on_fit_begin`: the estimator's parameters are deep-copied
    by :func:`sklearn.base.clone`, once per cross-validation fold.
    """

    def on_fit_begin(self, estimator) -> None:
        """Called once at the start of ``fit``, before the first epoch.

        Parameters
        ----------
        estimator : TransformerMultiLabelClassifier
            The estimator being fitted; its fitted attributes are not set yet.
        """

    def on_batch_end(self, estimator, batch: dict) -> None:
        """Called after every optimisation step.

        Parameters
        ----------
        estimator : TransformerMultiLabelClassifier
            The estimator being fitted.
        batch : dict
            ``epoch`` (int, 1-based), ``step`` (int, the 1-based optimisation
            step counted across the whole fit), ``n_texts`` (int, texts in the
            batch) and ``loss`` (a 0-dim :class:`torch.Tensor` on the training
            device, detached).

        Notes
        -----
        ``batch["loss"]`` is left on the device on purpose: ``float(loss)`` or
        ``loss.item()`` makes the host wait until the GPU has finished the step,
        which, done at every step, slows training down. Read it only every
        few steps, or accumulate it on the device.
        """

    def on_epoch_end(self, estimator, record: dict) -> None:
        """Called after every epoch.

        Parameters
        ----------
        estimator : TransformerMultiLabelClassifier
            The estimator being fitted.
        record : dict
            The epoch's entry of ``history_``: ``epoch`` (int), ``train_loss``,
            ``valid_loss``, ``valid_f1``, ``valid_score``, ``lr`` and ``dur``
            (seconds); each a float, or None when there is no validation split.
            ``lr`` is the peak learning rate of the encoder in the epoch (the
            largest rate of its steps: with warm-up, the rate warm-up reached).
        """

    def on_fit_reused(self, estimator, info: dict) -> None:
        """Called when the fit cache supplied the weights of an identical earlier fit.

        Nothing is trained then: no ``on_batch_end`` or ``on_epoch_end``
        follows; ``on_fit_begin`` came before and ``on_fit_end`` follows.

        Parameters
        ----------
        estimator : TransformerMultiLabelClassifier
            The estimator being fitted.
        info : dict
            ``history`` (the records of the fit that trained the weights),
            ``best_epoch`` (int) and ``learning_rate`` (float, the rate used).
        """

    def on_fit_end(self, estimator) -> None:
        """Called once when ``fit`` completes, after the fitted attributes are set.

        Parameters
        ----------
        estimator : TransformerMultiLabelClassifier
            The fitted estimator (it can predict and ``save_pretrained``).
        """


def _params_repr(obj, names) -> str:
    args = ", ".join(f"{name}={getattr(obj, name)!r}" for name in names)
    return f"{type(obj).__name__}({args})"


def _require(module: str, extra: str, what: str) -> None:
    """Raise the ImportError with the pip command when ``module`` is not installed."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing or broken
        found = False
    if not found:
        raise ImportError(
            f"{what} needs the {module!r} package, which is not installed. Install it with: "
            f'pip install "skbert[{extra}]"')


def _import(module: str, extra: str, what: str):
    """Import ``module``; a missing or broken install raises ImportError with the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{what} could not import {module!r} ({exc}). Install it with: "
            f'pip install "skbert[{extra}]"') from exc


def _numeric_fields(record: dict) -> dict[str, float]:
    """The record's numeric values but ``epoch``, as floats (None and bools are left out)."""
    out = {}
    for key, value in record.items():
        if key == "epoch" or isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        out[str(key)] = float(value)
    return out


class TensorBoard(Callback):
    """Write the training history to TensorBoard event files.

    Every numeric field of each epoch's history record (``train_loss``,
    ``valid_loss``, ``valid_f1``, ``valid_score``, ``lr``, ``dur``) is logged
    as a scalar named ``skbert/<field>`` at step ``epoch``; fields that are
    None are skipped. With ``log_batch_every=N`` the training loss of every
    N-th optimisation step is logged too, as ``skbert/batch_loss`` at the
    global step.

    Parameters
    ----------
    log_dir : str or None, default=None
        Folder of the event files. None lets
        :class:`torch.utils.tensorboard.SummaryWriter` choose
        ``runs/<date>_<time>_<host>``, a new folder for every fit.
    log_batch_every : int or None, default=None
        Log the batch loss every this many steps; None logs epochs only.
        Each logged batch loss makes the host wait for the device once.

    Raises
    ------
    ImportError
        If tensorboard is not installed; the message gives
        ``pip install "skbert[tensorboard]"``.

    See Also
    --------
    MLflow : Log to an MLflow tracking server or folder instead.

    Notes
    -----
    The writer is opened in :meth:`on_fit_begin`, flushed after every epoch and
    closed in :meth:`on_fit_end`, so the object holds no open file while it is
    cloned. Whether tensorboard is installed is checked at construction; it
    is imported at ``on_fit_begin``. In a grid search, leave ``log_dir=None``
    (or give each candidate its own folder) so that fits do not share a run.

    Examples
    --------
    >>> from skbert.callbacks import TensorBoard
    >>> TensorBoard(log_dir="runs/goemotions")  # doctest: +SKIP
    TensorBoard(log_dir='runs/goemotions', log_batch_every=None)
    """

    _PARAMS = ("log_dir", "log_batch_every")

    def __init__(self, log_dir=None, log_batch_every=None):
        _require("tensorboard", "tensorboard", "skbert.callbacks.TensorBoard")
        self.log_dir = log_dir
        self.log_batch_every = log_batch_every
        self._writer = None
        self._n_epochs = 0

    def __repr__(self) -> str:
        return _params_repr(self, self._PARAMS)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_writer"] = None  # copies and pickles never share (or carry) an open file
        return state

    def on_fit_begin(self, estimator) -> None:
        """Open a :class:`~torch.utils.tensorboard.SummaryWriter` on ``log_dir``."""
        every = self.log_batch_every
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or every < 1):
            raise ValueError(f"log_batch_every={every!r} must be a positive int or None; "
                             "e.g. log_batch_every=50.")
        if self.log_dir is not None and not isinstance(self.log_dir, (str, os.PathLike)):
            raise TypeError(f"log_dir={self.log_dir!r} must be a str, a path or None.")
        _import("tensorboard", "tensorboard", "skbert.callbacks.TensorBoard")
        tb = _import("torch.utils.tensorboard", "tensorboard", "skbert.callbacks.TensorBoard")
        self._close()  # a previous fit that raised never reached on_fit_end
        self._writer = tb.SummaryWriter(log_dir=None if self.log_dir is None
                                        else os.fspath(self.log_dir))
        self._n_epochs = 0

    def on_batch_end(self, estimator, batch: dict) -> None:
        """Log ``batch["loss"]`` every ``log_batch_every`` steps (nothing when None)."""
        if self._writer is None or self.log_batch_every is None:
            return
        step = int(batch["step"])
        if step % self.log_batch_every == 0:
            self._writer.add_scalar("skbert/batch_loss", float(batch["loss"]), global_step=step)

    def on_epoch_end(self, estimator, record: dict) -> None:
        """Log every numeric field of ``record`` as ``skbert/<field>`` at step ``epoch``."""
        if self._writer is None:
            return
        self._n_epochs += 1
        epoch = record.get("epoch")
        step = int(epoch) if isinstance(epoch, numbers.Integral) else self._n_epochs
        for key, value in _numeric_fields(record).items():
            self._writer.add_scalar(f"skbert/{key}", value, global_step=step)
        self._writer.flush()

    def on_fit_reused(self, estimator, info: dict) -> None:
        """Log the reused fit's history, and a text ``skbert/fit_cache`` saying it was reused."""
        if self._writer is None:
            return
        self._writer.add_text("skbert/fit_cache", "reused: the weights of an identical "
                              "earlier fit; nothing was trained")
        for record in info.get("history", ()):
            self.on_epoch_end(estimator, record)

    def on_fit_end(self, estimator) -> None:
        """Flush and close the writer."""
        self._close()

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()


class MLflow(Callback):
    """Log parameters, per-epoch metrics and the fitted model to MLflow.

    At :meth:`on_fit_begin` the estimator's scalar parameters
    (``get_params()``; None and bools as strings, lists, dicts and objects
    left out) are logged; ``learning_rate="auto"`` is logged at
    :meth:`on_fit_end` as the rate used (``learning_rate_``). After every
    epoch the numeric fields of the history record are logged as metrics at
    ``step=epoch``. A fit served from the fit cache logs the reused fit's
    history and the tag ``skbert.fit_cache=reused``. At :meth:`on_fit_end`,
    with ``log_model=True``, the folder written by
    ``estimator.save_pretrained`` is logged as the run's ``model`` artifacts.

    The run in progress (``mlflow.active_run()``) is used when there is one;
    otherwise the callback starts a run, and it ends only a run it started.

    Parameters
    ----------
    run_name : str or None, default=None
        Name of the run this callback starts; None lets MLflow choose one.
        Not used when a run is already active.
    log_model : bool, default=True
        Whether to log the fitted model folder as artifacts at the end of ``fit``
        (about 90 MB for the default model, at every fit: in a grid search,
        pass False and log the refitted best model once).
    experiment : str or None, default=None
        Name of the experiment the started run belongs to (created if
        missing); None uses MLflow's current experiment. Not used when a run
        is already active. The global current experiment is left unchanged.

    Raises
    ------
    ImportError
        If mlflow is not installed; the message gives
        ``pip install "skbert[mlflow]"``.

    See Also
    --------
    TensorBoard : Log to TensorBoard event files instead.

    Notes
    -----
    The tracking server or folder is MLflow's current tracking URI
    (``mlflow.set_tracking_uri`` or ``MLFLOW_TRACKING_URI``); MLflow 3
    refuses a ``file:`` store unless ``MLFLOW_ALLOW_FILE_STORE=true`` is set,
    and takes ``sqlite:///mlflow.db`` as it is. Whether mlflow
    is installed is checked at construction; it is imported at
    ``on_fit_begin``. Several fits logging into one active run (a grid search
    inside ``mlflow.start_run()``) cannot change a parameter's value there:
    MLflow forbids it, so the differing parameters are skipped with a warning
    and the metrics of all fits go into that run. Without an active run each
    fit gets its own run.

    Examples
    --------
    >>> from skbert.callbacks import MLflow
    >>> MLflow(run_name="baseline", experiment="goemotions")  # doctest: +SKIP
    MLflow(run_name='baseline', log_model=True, experiment='goemotions')
    """

    _PARAMS = ("run_name", "log_model", "experiment")

    def __init__(self, run_name=None, log_model=True, experiment=None):
        _require("mlflow", "mlflow", "skbert.callbacks.MLflow")
        self.run_name = run_name
        self.log_model = log_model
        self.experiment = experiment
        self._client = None
        self._run_id = None
        self._started = False

    def __repr__(self) -> str:
        return _params_repr(self, self._PARAMS)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_client=None, _run_id=None, _started=False)
        return state

    def on_fit_begin(self, estimator) -> None:
        """Use the active run or start one, and log the estimator's parameters."""
        for name in ("run_name", "experiment"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name}={value!r} must be a str or None.")
        if not isinstance(self.log_model, bool):
            raise TypeError(f"log_model={self.log_model!r} must be True or False.")
        mlflow = _import("mlflow", "mlflow", "skbert.callbacks.MLflow")
        self._end(status="FAILED")  # a previous fit that raised never reached on_fit_end
        client = mlflow.MlflowClient()
        active = mlflow.active_run()
        if active is not None:
            self._run_id, self._started = active.info.run_id, False
        else:
            experiment_id = None
            if self.experiment is not None:
                experiment_id = self._experiment_id(client, mlflow)
            run = mlflow.start_run(run_name=self.run_name, experiment_id=experiment_id)
            self._run_id, self._started = run.info.run_id, True
        self._client = client
        self._log_params(estimator)

    def on_epoch_end(self, estimator, record: dict) -> None:
        """Log the numeric fields of ``record`` as metrics at ``step=record["epoch"]``."""
        if self._client is None:
            return
        from mlflow.entities import Metric

        epoch = record.get("epoch")
        step = int(epoch) if isinstance(epoch, numbers.Integral) else 0
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step)
                   for key, value in _numeric_fields(record).items()]
        if metrics:
            self._client.log_batch(self._run_id, metrics=metrics)

    def on_fit_reused(self, estimator, info: dict) -> None:
        """Tag the run ``skbert.fit_cache=reused`` and log the reused fit's history."""
        if self._client is None:
            return
        self._client.set_tag(self._run_id, "skbert.fit_cache", "reused")
        for record in info.get("history", ()):
            self.on_epoch_end(estimator, record)

    def on_fit_end(self, estimator) -> None:
        """Log the model folder (with ``log_model``) and end the run if this callback started it."""
        if self._client is None:
            return
        status = "FAILED"
        try:
            rate = getattr(estimator, "learning_rate_", None)
            if getattr(estimator, "learning_rate", None) == "auto" and rate is not None:
                self._log_params(estimator, {"learning_rate": rate})
            if self.log_model:
                with tempfile.TemporaryDirectory(prefix="skbert-mlflow-") as folder:
                    estimator.save_pretrained(folder)
                    self._client.log_artifacts(self._run_id, folder, artifact_path="model")
            status = "FINISHED"
        finally:
            self._end(status=status)

    # ------------------------------------------------------------- helpers
    def _experiment_id(self, client, mlflow) -> str:
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(self.experiment)
        except mlflow.exceptions.MlflowException:  # created meanwhile by a parallel fit
            found = client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return found.experiment_id

    def _log_params(self, estimator, values: dict | None = None) -> None:
        """Log ``values`` (default: the estimator's parameters but learning_rate="auto")."""
        from mlflow.entities import Param

        if values is None:
            values = {k: v for k, v in estimator.get_params().items()
                      if not (k == "learning_rate" and v == "auto")}  # logged as used, at the end
        params = {}
        for key, value in values.items():
            if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
                value = value.item()  # numpy scalar
            if value is None or isinstance(value, (bool, numbers.Real, str)):
                params[str(key)] = str(value)[:6000]  # MLflow's limit on a value's length
        logged = self._client.get_run(self._run_id).data.params
        clash = sorted(k for k, v in params.items() if k in logged and logged[k] != v)
        if clash:
            warnings.warn(
                f"MLflow run {self._run_id} already has other values for the parameters "
                f"{clash}; MLflow cannot change them, so they are not logged for this fit. "
                "Let each fit start its own run (no active run), or use a nested run.",
                SkbertWarning, stacklevel=3)
        todo = [Param(k, v) for k, v in params.items() if k not in logged]
        for start in range(0, len(todo), 100):  # MLflow takes 100 params a request
            self._client.log_batch(self._run_id, params=todo[start:start + 100])

    def _end(self, status: str) -> None:
        run_id, started, client = self._run_id, self._started, self._client
        self._client, self._run_id, self._started = None, None, False
        if run_id is None or not started:
            return
        import mlflow

        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run(status=status)
        else:  # no longer the active run (user code ended or nested it): end it directly
            (client or mlflow.MlflowClient()).set_terminated(run_id, status=status)


def check_callbacks(callbacks) -> list:
    """Check the ``callbacks`` parameter and return it as a list.

    Parameters
    ----------
    callbacks : list, tuple or None
        Objects with at least one of the methods ``on_fit_begin``,
        ``on_batch_end``, ``on_epoch_end`` and ``on_fit_end``.

    Returns
    -------
    list
        The callbacks (an empty list for None), in their order.

    Raises
    ------
    TypeError
        If ``callbacks`` is not a list, a tuple or None, or if an element is a
        class instead of an instance, has none of the hook methods, or has a
        hook attribute that is not callable. The message names the index.

    Examples
    --------
    >>> from skbert.callbacks import Callback, check_callbacks
    >>> check_callbacks(None)
    []
    >>> check_callbacks([Callback(), "oops"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: callbacks[1] is a str with none of the methods on_fit_begin, ...
    """
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of callbacks or None; got "
                        f"{type(callbacks).__name__} {callbacks!r}. Wrap a single one in a "
                        "list: callbacks=[cb].")
    for i, cb in enumerate(callbacks):
        if isinstance(cb, type):
            raise TypeError(f"callbacks[{i}] is the class {cb.__name__}, not an instance; "
                            f"pass {cb.__name__}() instead.")
        present = [name for name in HOOKS if hasattr(cb, name)]
        if not present:
            raise TypeError(
                f"callbacks[{i}] is a {type(cb).__name__} with none of the methods "
                f"{', '.join(HOOKS)}; subclass skbert.callbacks.Callback and override the "
                "ones you need.")
        for name in present:
            if not callable(getattr(cb, name)):
                raise TypeError(f"callbacks[{i}].{name} is a "
                                f"{type(getattr(cb, name)).__name__}, not a method; define "
                                f"it as a method or remove it.")
    return list(callbacks)


def notify(callbacks, method_name: str, estimator, *args, state=None) -> None:
    """Call ``method_name(estimator, *args)`` on every callback that has it, in order.

    The one place skbert calls callbacks (skorch's ``notify``). A callback
    whose class sets ``uses_loop_state = True`` (the training-state
    :class:`Checkpoint`) also gets ``state=``, the loop's
    :class:`~skbert._training.LoopState`; the hooks of other callbacks keep
    their public signatures.

    Parameters
    ----------
    callbacks : list or None
        Callbacks as returned by :func:`check_callbacks`.
    method_name : str
        One of :data:`HOOKS`.
    estimator : TransformerMultiLabelClassifier
        The estimator being fitted.
    *args
        The hook's other arguments.
    state : LoopState or None, default=None
        Handed to callbacks that use the loop state.

    Raises
    ------
    ValueError
        If ``method_name`` is not one of the hook names.
    """
    if method_name not in HOOKS:
        raise ValueError(f"method_name={method_name!r} is not a callback hook; use one of "
                         f"{HOOKS}.")
    for cb in callbacks or ():
        method = getattr(cb, method_name, None)
        if method is None:
            continue
        if getattr(cb, "uses_loop_state", False):
            method(estimator, *args, state=state)
        else:
            method(estimator, *args)


def run_callbacks(callbacks, method_name: str, *args) -> None:
    """Call ``method_name(*args)`` on every callback that has that method, in order.

    The same as :func:`notify` without a loop state (kept for code written
    against it).

    Parameters
    ----------
    callbacks : list or None
        Callbacks as returned by :func:`check_callbacks`.
    method_name : str
        One of ``"on_fit_begin"``, ``"on_batch_end"``, ``"on_epoch_end"``,
        ``"on_fit_reused"`` and ``"on_fit_end"``.
    *args
        The hook's arguments (the estimator first).

    Raises
    ------
    ValueError
        If ``method_name`` is not one of the hook names.

    Examples
    --------
    >>> from skbert.callbacks import run_callbacks
    >>> class Printer:
    ...     def on_epoch_end(self, estimator, record):
    ...         print(record["epoch"])
    >>> run_callbacks([Printer(), Printer()], "on_epoch_end", None, {"epoch": 3})
    3
    3
    >>> run_callbacks([Printer()], "on_fit_end", None)  # Printer has no on_fit_end: skipped
    """
    if method_name not in HOOKS:
        raise ValueError(f"method_name={method_name!r} is not a callback hook; use one of "
                         f"{HOOKS}.")
    notify(callbacks, method_name, *args)


class Checkpoint:
    """Save the full training state in ``folder`` after each epoch; resume from it.

    What ``checkpoint_dir`` adds to a fit (the runner builds it, first in the
    callback list, on every rank). The state (weights, optimizer, scheduler,
    random generators, history, the kept epoch's weights and validation
    logits, the early-stopping counters) is written by
    :mod:`skbert._checkpoint`, whose fingerprint of the parameters and data
    decides whether a saved state may be resumed. It reads and restores the
    loop through the state's API (``LoopState.resume``,
    ``Selection.export`` / ``load``). It has only the two hooks it uses, each
    taking the loop state (``uses_loop_state``).

    Parameters
    ----------
    folder : str
        The ``checkpoint_dir``.
    data_key : str
        The hash of the training parameters and data (``_runner.data_key``).
    """

    uses_loop_state = True

    def __init__(self, folder, data_key: str):
        from . import _checkpoint

        self.folder = os.fspath(folder)
        self.fingerprint = _checkpoint.fingerprint(data_key)

    @property
    def path(self) -> str:
        """The training-state file."""
        from ._checkpoint import FILE_NAME

        return os.path.join(self.folder, FILE_NAME)

    def on_fit_begin(self, estimator, *, state=None) -> None:
        """Restore a saved state that fits this fit (a damaged or foreign one is ignored)."""
        from . import _checkpoint

        batch_size = state.config.batch_size
        saved = _checkpoint.load_state(
            self.folder, self.fingerprint, max_epochs=state.config.max_epochs,
            check_extra=lambda extra: _check_extra(extra, batch_size))
        if saved is None:
            return
        rng = _checkpoint.restore(saved, model=state.model, optimizer=state.optimizer,
                                  scheduler=state.scheduler, scaler=state.scaler,
                                  total_steps=state.steps_per_epoch * state.config.max_epochs)
        if rng is None:  # restore() warned and changed nothing
            return
        logits = (saved.extra_tensors or {}).get("valid_logits")
        state.selection.load(saved.extra, saved.best_state,
                             None if logits is None else logits.numpy(), state.model)
        state.resume(saved.epoch, saved.history, rng, saved.extra.get("micro_batch_size"))
        logger.info("resuming after epoch %d from %s", state.epoch, self.folder)
        if state.config.verbose >= 1 and state.config.group.is_main:
            print(f"resuming after epoch {state.epoch} from {self.folder}", flush=True)

    def on_epoch_end(self, estimator, record: dict, *, state=None) -> None:
        """Write the state after the epoch (only rank 0 writes)."""
        if not state.config.group.is_main:
            return
        import numpy as np
        import torch

        from . import _checkpoint

        fields, best_state, logits = state.selection.export(state.epoch)
        extra = {**fields, "micro_batch_size": state.micro_batch_size}
        tensors = None
        if logits is not None:
            tensors = {"valid_logits": torch.from_numpy(np.ascontiguousarray(logits))}
        _checkpoint.save_state(self.folder, self.fingerprint, epoch=state.epoch,
                               model=state.model, optimizer=state.optimizer,
                               scheduler=state.scheduler, scaler=state.scaler,
                               np_rng=state.rng, history=state.history, extra=extra,
                               best_state=best_state, extra_tensors=tensors)


def _check_extra(extra, batch_size: int) -> None:
    """Validate the loop's own fields of a saved state (raise ValueError if damaged)."""
    ints = ("best_epoch", "no_improve")
    if not isinstance(extra, dict) or any(
            not isinstance(extra.get(k), int) or isinstance(extra.get(k), bool) or extra[k] < 0
            for k in ints):
        raise ValueError(f"extra fields {ints} must be non-negative ints")
    if extra.get("best_value") is not None and not isinstance(extra["best_value"], float):
        raise ValueError("best_value must be a float or null")
    if not isinstance(extra.get("best_is_current"), bool):
        raise ValueError("best_is_current must be a bool")
    micro = extra.get("micro_batch_size")
    if micro is not None and (not isinstance(micro, int) or isinstance(micro, bool)
                              or not 1 <= micro <= batch_size):
        raise ValueError(f"micro_batch_size must be null or an int in [1, batch_size="
                         f"{batch_size}]")
