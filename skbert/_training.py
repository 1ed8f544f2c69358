"""The training loop and batched inference.

Plain torch: no scikit-learn import here. The loop is split into small steps
(:func:`make_optimizer`, :func:`train_step`, :func:`run_epoch`,
:func:`predict_logits`) that take the :class:`LoopState`. Whatever else
happens during training plugs in through the callback protocol of
:mod:`skbert.callbacks` (the user's callbacks, the loggers, the checkpoint)
and the process group in ``config.group`` (data-parallel training, see
:mod:`skbert._distributed`): there is one loop, with no branches for those
concerns. Epoch selection and early stopping are the loop's one rule
(:class:`Selection`).

The loss of a step is the weighted mean over the global batch: each
micro-batch (and each rank's share) adds ``sum(w_i * loss_i) / (sum(w) *
n_labels)`` of the whole batch, so the summed gradients equal those of the
whole batch at once, whatever the split.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ._data import Encoded, collate, length_grouped_batches, prefetch, sorted_batches
from ._distributed import (
    SINGLE,
    ProcessGroup,
    all_reduce_gradients,
    all_reduce_sum,
    broadcast_model,
    gather_rows,
    shard,
)
from ._utils import (
    SkbertWarning,
    TrainingDivergedError,
    autocast_dtype,
    fit_warning,
    user_stacklevel,
)
from .callbacks import notify

logger = logging.getLogger(__name__)


#: ``learning_rate="auto"``: encoders up to this many parameters count as small.
SMALL_MODEL_PARAMETERS = 50_000_000
#: ``learning_rate="auto"`` for small encoders (all-MiniLM-L6-v2 has 22.7 M parameters).
SMALL_MODEL_LEARNING_RATE = 2e-4
#: ``learning_rate="auto"`` for larger encoders (the BERT paper's range is 2e-5 to 5e-5).
LARGE_MODEL_LEARNING_RATE = 5e-5


def resolve_learning_rate(learning_rate, model: torch.nn.Module) -> float:
    """The peak learning rate of the encoder: ``learning_rate``, or ``"auto"``'s choice.

    ``"auto"`` gives :data:`SMALL_MODEL_LEARNING_RATE` to models with at most
    :data:`SMALL_MODEL_PARAMETERS` parameters and :data:`LARGE_MODEL_LEARNING_RATE`
    to larger ones. On the bundled MiniLM, ``2e-4`` beat ``5e-5`` on GoEmotions
    and on Reuters (``bench/quality/quality.py``). Larger models keep the rate the BERT
    paper recommends for fine-tuning (2e-5 to 5e-5): no larger model could be
    measured offline here.

    Parameters
    ----------
    learning_rate : float or "auto"
    model : torch.nn.Module
        The model about to be trained (all its parameters are counted).

    Returns
    -------
    float
    """
    if not isinstance(learning_rate, str):
        return float(learning_rate)
    n = sum(p.numel() for p in model.parameters())
    return SMALL_MODEL_LEARNING_RATE if n <= SMALL_MODEL_PARAMETERS else LARGE_MODEL_LEARNING_RATE


@dataclass
class TrainConfig:
    """Everything the loop needs besides the model and the data."""

    max_epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    early_stopping: bool = False
    n_iter_no_change: int = 2
    tol: float = 1e-4
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "fp32"
    chunk_pooling: str = "max"
    predict_batch_size: int = 64
    pad_to_multiple_of: int = 1
    #: Batch widths that batches are padded up to (so shapes repeat); None pads
    #: to each batch's longest window.
    buckets: tuple[int, ...] | None = None
    #: Batches collated ahead in a background thread (0: in the loop itself).
    prefetch: int = 0
    #: Prediction batches hold up to this many padded tokens (and at most
    #: ``predict_batch_size * predict_batch_growth`` texts); None: a fixed count.
    predict_token_budget: int | None = None
    #: With a token budget, a prediction batch may hold this many times
    #: ``predict_batch_size`` short texts.
    predict_batch_growth: int = 8
    #: Texts per forward/backward pass; None: the whole share of a batch at once.
    micro_batch_size: int | None = None
    #: ``score_fn(Y_valid, logits) -> float``, higher is better: what selects the
    #: kept epoch and drives early stopping; None follows the validation loss.
    score_fn: Callable[[np.ndarray, np.ndarray], float] | None = None
    #: Keyword arguments of ``torch.compile``; None runs the model eagerly.
    compile: dict | None = None
    #: The process group (data-parallel training); SINGLE without a launcher.
    group: ProcessGroup = SINGLE
    seed: int = 0
    verbose: int = 0


@dataclass
class TrainResult:
    """What :func:`train` hands back to the runner."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    interrupted: bool = False
    still_improving: bool = False
    #: Validation logits of the kept (best) epoch; None without a validation set.
    valid_logits: np.ndarray | None = None
    #: The epoch whose loss or outputs became non-finite, after which training
    #: stopped and the best earlier epoch was restored; None if it never happened.
    diverged_epoch: int | None = None


@dataclass
class Selection:
    """Which epoch is kept: the best validation objective so far, and its weights.

    The loop changes it through :meth:`consider` only; a checkpoint reads it
    with :meth:`export` and puts it back with :meth:`load`.
    """

    best_value: float = -math.inf
    best_epoch: int = 0
    best_state: dict | None = None
    best_logits: np.ndarray | None = None
    #: Epochs since the objective last improved by more than ``tol``.
    no_improve: int = 0

    def consider(self, epoch: int, value: float | None, model: nn.Module,
                 logits: np.ndarray | None, tol: float) -> None:
        """Take in an epoch's objective (higher is better; None without validation)."""
        if value is None:  # no validation split: the last epoch is kept
            self.best_epoch = epoch
            return
        if not math.isfinite(value):  # an undefined score (NaN) is never an improvement;
            if self.best_value == -math.inf:  # with no epoch scored, the last one is kept
                self.best_state, self.best_epoch = _cpu_state(model), epoch
                self.best_logits = logits
            self.no_improve += 1
            return
        improved = value > self.best_value + tol
        if value > self.best_value:
            self.best_value = value
            self.best_state = _cpu_state(model)
            self.best_epoch = epoch
            self.best_logits = logits
        self.no_improve = 0 if improved else self.no_improve + 1

    @property
    def improving(self) -> bool:
        """Whether the last epoch improved the objective by more than ``tol``."""
        return self.no_improve == 0

    def export(self, epoch: int) -> tuple[dict, dict | None, np.ndarray | None]:
        """(fields, kept weights unless they are the current ones, kept logits) for a save."""
        keep_best = self.best_state is not None and self.best_epoch != epoch
        fields = {"best_value": float(self.best_value) if np.isfinite(self.best_value) else None,
                  "best_epoch": int(self.best_epoch), "no_improve": int(self.no_improve),
                  "best_is_current": self.best_state is not None and not keep_best}
        return fields, self.best_state if keep_best else None, self.best_logits

    def load(self, fields: dict, best_state: dict | None, logits: np.ndarray | None,
             model: nn.Module) -> None:
        """Put back what :meth:`export` gave (``model`` holds the saved epoch's weights)."""
        self.best_epoch = fields["best_epoch"]
        self.best_value = -math.inf if fields["best_value"] is None else fields["best_value"]
        self.no_improve = fields["no_improve"]
        self.best_state = None
        if best_state:
            self.best_state = {k: v.detach().clone() for k, v in best_state.items()}
        elif fields["best_is_current"]:
            self.best_state = _cpu_state(model)
        self.best_logits = None if logits is None else np.array(logits, copy=True)


@dataclass
class LoopData:
    """The fixed inputs of the loop."""

    train: Encoded
    #: Training labels, float32 on the CPU.
    Y: torch.Tensor
    #: Per-text loss weights, float32 on the CPU, or None.
    weights: torch.Tensor | None
    valid: Encoded | None
    Y_valid: np.ndarray | None
    pad_id: int
    pos_weight: np.ndarray | None
    loss_fn: nn.Module


@dataclass
class LoopState:
    """The loop's moving parts: what every loop function and a checkpoint work on.

    Callbacks get ``estimator``; those that declare ``uses_loop_state = True``
    (the checkpoint) also get this object (see :func:`skbert.callbacks.notify`).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: object
    rng: np.random.Generator
    config: TrainConfig
    data: LoopData
    estimator: object = None
    callbacks: list = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    selection: Selection = field(default_factory=Selection)
    #: Epochs completed (a restored checkpoint sets it; training continues with the next).
    epoch: int = 0
    #: Micro-batch size in use (halved on CUDA out-of-memory).
    micro_batch_size: int | None = None
    #: The largest encoder learning rate of the current epoch's steps (its record's ``lr``).
    peak_lr: float = 0.0
    #: Whether this fit has warned of a validation score that is not a number.
    said_undefined_score: bool = False

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.data.train.n_docs / self.config.batch_size)

    def resume(self, epoch: int, history: list[dict], rng: np.random.Generator,
               micro_batch_size: int | None) -> None:
        """Continue after ``epoch`` (the weights and optimizer are restored by the caller)."""
        self.epoch = epoch
        self.history[:] = [dict(r) for r in history]
        self.rng = rng
        if micro_batch_size:
            self.micro_batch_size = micro_batch_size


@contextlib.contextmanager
def autocast(device: torch.device, precision: str):
    """Autocast for the resolved precision (none for fp32), and on CUDA the SDPA kernels.

    On CUDA the cuDNN attention backend is left out: it builds a plan for every
    new sequence length, which dynamic padding produces in numbers, and ran
    bf16 training several times slower than fp32 on an H200.
    """
    with contextlib.ExitStack() as stack:
        dtype = autocast_dtype(precision)
        if dtype is not None:
            stack.enter_context(torch.autocast(device_type=device.type, dtype=dtype))
        if device.type == "cuda":
            from torch.nn.attention import SDPBackend, sdpa_kernel

            stack.enter_context(sdpa_kernel([SDPBackend.FLASH_ATTENTION,
                                             SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]))
        yield


def compile_options(value) -> dict | None:
    """The ``compile`` parameter (bool or dict) as ``torch.compile`` keyword arguments.

    None means eager; otherwise ``dynamic=True`` unless given (dynamic padding
    makes every batch a new shape). The options are tried on a stand-in module
    (wrapping is lazy: nothing compiles), so an unknown key or a bad value is a
    ValueError here, before any model is loaded or trained.
    """
    if value is False:
        return None
    options = {"dynamic": True, **({} if value is True else value)}
    accepted = set(inspect.signature(torch.compile).parameters) - {"model"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(
            f"compile={value!r} has keys torch.compile does not take: {unknown}. Use some "
            f"of {sorted(accepted)}, or compile=True.")
    try:
        torch.compile(nn.Identity(), **options)
    except Exception as exc:  # torch raises RuntimeError, AssertionError, AttributeError...
        raise ValueError(
            f"torch.compile rejects compile={value!r}: {exc}. Pass True, or a dict of valid "
            "torch.compile keyword arguments such as {'mode': 'max-autotune'}.") from exc
    return options


def compile_model(model: nn.Module, options: dict | None) -> nn.Module:
    """``torch.compile(model, **options)``, or ``model`` itself when ``options`` is None.

    ``options`` come from :func:`compile_options`. The compiled module shares
    the parameters of ``model``; the optimizer, the state dict and persistence
    keep working on ``model``. Compiled graphs are cached by torch per code
    object, so wrapping the same model again (each epoch, each
    ``predict_proba``) does not compile again.
    """
    return model if options is None else torch.compile(model, **options)


@contextlib.contextmanager
def explain_compile_errors(options: dict | None):
    """Turn a torch.compile failure inside the block into an error that says what to do."""
    try:
        yield
    except Exception as exc:
        if options is None or not type(exc).__module__.startswith("torch._"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise RuntimeError(
            f"torch.compile could not compile the model ({type(exc).__name__}: {first}). Set "
            "compile=False to run eagerly; on the CPU, inductor also needs a C++ compiler "
            "(gcc or clang) on the PATH.") from exc


def pool_windows(logits: torch.Tensor, window_doc: torch.Tensor, n_docs: int,
                 how: str) -> torch.Tensor:
    """Pool window logits into one row per text (``"max"`` or ``"mean"``)."""
    if logits.shape[0] == n_docs:  # one window per text: nothing to pool
        return logits
    index = window_doc.to(logits.device).unsqueeze(1).expand_as(logits)
    out = logits.new_zeros((n_docs, logits.shape[1]))
    reduce = "amax" if how == "max" else "mean"
    return out.scatter_reduce(0, index, logits, reduce=reduce, include_self=False)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW without weight decay on biases and norm weights, fused where torch has it.

    The new output layer (``model.output_layer()``, when the model has one)
    gets ``head_learning_rate``: it starts from random weights and learns
    faster with a larger step than the pretrained encoder.
    """
    head = set()
    if hasattr(model, "output_layer") and config.head_learning_rate is not None:
        head = {id(p) for p in model.output_layer().parameters()}
    decay, no_decay, head_params = [], [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) in head:
            head_params.append(p)
        else:
            (no_decay if p.ndim < 2 else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if head_params:
        groups.append({"params": head_params, "weight_decay": 0.0,
                       "lr": config.head_learning_rate})
    if config.device.type in ("cuda", "cpu"):
        try:
            return torch.optim.AdamW(groups, lr=config.learning_rate, fused=True)
        except (RuntimeError, TypeError, ValueError):
            logger.debug("fused AdamW unavailable on %s, using the default", config.device)
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def make_scheduler(optimizer, total_steps: int, warmup_ratio: float):
    """Linear warm-up then linear decay to zero."""
    warmup = int(math.ceil(warmup_ratio * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _batch_to(batch: dict, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return (batch["input_ids"].to(dev, non_blocking=True),
            batch["attention_mask"].to(dev, non_blocking=True))


#: A forward pass of prediction (no gradient) holds at most ``predict_batch_size`` times
#: this many
#: windows (the default ``max_chunks``): a batch of texts with more windows (long texts,
#: ``max_chunks=None``) runs its windows in slices, so memory does not grow with a text.
WINDOWS_PER_TEXT = 8


def _logits(model, batch: dict, n_docs: int, config: TrainConfig) -> torch.Tensor:
    """Text-level float32 logits of one collated batch (its windows in bounded slices)."""
    ids, mask = _batch_to(batch, config.device)
    most = max(1, config.predict_batch_size) * WINDOWS_PER_TEXT
    with autocast(config.device, config.precision), explain_compile_errors(config.compile):
        # training keeps every slice's activations for the backward pass (no memory saved)
        # and its dropout would then depend on predict_batch_size: one pass there
        if len(ids) <= most or torch.is_grad_enabled():
            logits = model(ids, mask)
        else:
            logits = torch.cat([model(ids[i:i + most], mask[i:i + most])
                                for i in range(0, len(ids), most)])
    return pool_windows(logits.float(), batch["window_doc"], n_docs, config.chunk_pooling)


def _collate(encoded: Encoded, docs: np.ndarray, pad_id: int, config: TrainConfig) -> dict:
    return collate(encoded, docs, pad_id, config.pad_to_multiple_of, buckets=config.buckets)


@dataclass
class _Step:
    """One optimizer step: this rank's micro-batches of a global batch."""

    docs: np.ndarray  # the whole global batch
    micro: list[np.ndarray]  # this rank's share, cut into micro-batches
    batches: list[dict] | None = None  # collated micro-batches (None: collate in the loop)


def _plan_step(docs: np.ndarray, config: TrainConfig, micro_batch_size: int | None) -> _Step:
    mine = shard(docs, config.group)
    size = micro_batch_size or max(len(mine), 1)
    micro = [mine[i:i + size] for i in range(0, len(mine), size)]
    return _Step(docs, micro)


def train_step(state: LoopState, step: _Step, model: nn.Module | None = None) -> torch.Tensor:
    """One optimisation step on the global batch ``step.docs``; returns this rank's loss share.

    ``model`` is the module to run (the compiled one; default ``state.model``).
    The returned loss stays a device tensor (reading it with ``float()`` here
    would make the host wait for the GPU at every step); summed over the
    ranks it is the batch's weighted mean loss. A batch whose weights are all
    zero adds a loss of zero (no gradient) rather than 0/0.
    """
    config, data = state.config, state.data
    model = state.model if model is None else model
    dev = config.device
    weights = data.weights
    w_all = weights[torch.as_tensor(step.docs)] if weights is not None else None
    denom = (float(w_all.sum()) if w_all is not None else float(len(step.docs)))
    denom = (denom if denom > 0 else 1.0) * data.Y.shape[1]  # all-zero weights: loss 0
    state.optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=dev)
    for i, micro in enumerate(step.micro):
        batch = step.batches[i] if step.batches is not None else _collate(
            data.train, micro, data.pad_id, config)
        logits = _logits(model, batch, len(micro), config)
        index = torch.as_tensor(micro)
        per_item = data.loss_fn(logits, data.Y[index].to(dev, non_blocking=True))
        if weights is not None:
            per_item = per_item * weights[index].to(dev, non_blocking=True).unsqueeze(1)
        loss = per_item.sum() / denom
        if state.scaler is not None:
            state.scaler.scale(loss).backward()
        else:
            loss.backward()
        total += loss.detach()
    all_reduce_gradients(state.model, config.group)
    if state.scaler is not None:
        state.scaler.unscale_(state.optimizer)
        nn.utils.clip_grad_norm_(state.model.parameters(), config.max_grad_norm)
        state.scaler.step(state.optimizer)
        state.scaler.update()
    else:
        nn.utils.clip_grad_norm_(state.model.parameters(), config.max_grad_norm)
        state.optimizer.step()
    state.scheduler.step()
    return total


@torch.inference_mode()
def predict_logits(model, encoded: Encoded, pad_id: int, config: TrainConfig) -> np.ndarray:
    """Text-level logits, float32 of shape (n_texts, n_labels), in input order.

    Texts are batched longest first, ``predict_batch_size`` texts a batch, so
    that each batch pads little; with chunking a batch holds all their windows.
    Under a process group each rank predicts every ``world_size``-th batch and
    all ranks receive every row.
    """
    model.eval()
    model = compile_model(model, config.compile)
    group = config.group
    budget = config.predict_token_budget or None
    most = config.predict_batch_size * (config.predict_batch_growth if budget else 1)
    batches = list(sorted_batches(encoded.doc_lengths(), most, token_budget=budget))
    mine = batches[group.rank::group.world_size] if group.active else batches
    rows, index = [], []

    def collate_one(docs):
        return _collate(encoded, docs, pad_id, config)

    collated = (prefetch(mine, collate_one, config.prefetch,
                         pin_memory=config.device.type == "cuda")
                if config.prefetch else map(collate_one, mine))
    for docs, batch in zip(mine, collated):
        rows.append(_logits(model, batch, len(docs), config).cpu().numpy())
        index.append(docs)
    n_labels = rows[0].shape[1] if rows else _n_outputs(model)
    local = np.concatenate(rows) if rows else np.zeros((0, n_labels), dtype=np.float32)
    idx = np.concatenate(index) if index else np.zeros(0, dtype=np.int64)
    return gather_rows(local, idx, encoded.n_docs, group)


def _n_outputs(model) -> int:
    layer = model.output_layer() if hasattr(model, "output_layer") else None
    return int(layer.out_features) if layer is not None else 0


def _micro_f1(Y: np.ndarray, logits: np.ndarray) -> float:
    pred = logits >= 0.0
    tp = float(np.logical_and(pred, Y > 0.5).sum())
    denom = float(pred.sum() + (Y > 0.5).sum())
    return 2 * tp / denom if denom else 0.0


def _bce(Y: np.ndarray, logits: np.ndarray, pos_weight: np.ndarray | None) -> float:
    t = torch.from_numpy(logits)
    pw = None if pos_weight is None else torch.from_numpy(pos_weight)
    return float(nn.functional.binary_cross_entropy_with_logits(
        t, torch.from_numpy(Y), pos_weight=pw))


def _is_cuda_oom(exc: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom) if oom else "out of memory" in str(exc)


def run_epoch(state: LoopState, epoch: int, progress=None) -> float:
    """One pass over the training texts in length-grouped, shuffled batches.

    Returns the epoch's weighted mean training loss (the same on every rank)
    and records in ``state.history``'s next record nothing: see
    :func:`_run_one_epoch`. With ``micro_batch_size`` each step runs in
    micro-batches with accumulated gradients; on CUDA out-of-memory the
    micro-batch is halved (with a warning) and the step is run again.
    ``state.peak_lr`` becomes the largest encoder learning rate of the epoch's steps.
    """
    config, data = state.config, state.data
    state.model.train()
    compiled = compile_model(state.model, config.compile)
    batches = length_grouped_batches(data.train.doc_lengths(), config.batch_size, state.rng)
    wants_batches = any(callable(getattr(cb, "on_batch_end", None)) for cb in state.callbacks)

    def plan(docs):
        step = _plan_step(docs, config, state.micro_batch_size)
        step.batches = [_collate(data.train, m, data.pad_id, config) for m in step.micro]
        return step

    steps = (prefetch(batches, plan, config.prefetch, pin_memory=config.device.type == "cuda")
             if config.prefetch else map(plan, batches))
    total = torch.zeros((), device=config.device)
    state.peak_lr = 0.0
    for i, step in enumerate(steps):
        state.peak_lr = max(state.peak_lr, float(state.optimizer.param_groups[0]["lr"]))
        while True:
            try:
                loss = train_step(state, step, compiled)
                break
            except RuntimeError as exc:
                mine = sum(len(m) for m in step.micro)
                if config.device.type != "cuda" or not _is_cuda_oom(exc) or mine <= 1:
                    raise
                state.optimizer.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                state.micro_batch_size = max(1, (state.micro_batch_size or mine) // 2)
                warnings.warn(
                    f"CUDA ran out of memory on a step of {mine} texts; continuing with "
                    f"micro-batches of {state.micro_batch_size} texts (same result, less "
                    f"memory). Set micro_batch_size={state.micro_batch_size} to start there.",
                    SkbertWarning, stacklevel=2)
                step = plan(step.docs)
        total += loss * len(step.docs)
        if progress is not None:
            progress.update(len(step.docs))
        if wants_batches:
            notify(state.callbacks, "on_batch_end", state.estimator,
                   {"epoch": epoch, "step": (epoch - 1) * state.steps_per_epoch + i + 1,
                    "n_texts": len(step.docs), "loss": loss}, state=state)
    total = all_reduce_sum(total, config.group)
    return float(total) / max(data.train.n_docs, 1)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _normalised_weights(sample_weight) -> torch.Tensor | None:
    """``sample_weight`` as float32, scaled by a power of two so its largest weight is < 1.

    A step's loss is the weighted mean over its batch, which a common factor
    does not change; a power of two scales exactly, so ordinary weights train
    bitwise as before, and huge ones (``1e300``) no longer overflow float32.
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    top = float(w.max()) if w.size else 0.0
    if np.isfinite(top) and top > 0:
        w = np.ldexp(w, -np.frexp(top)[1])
    return torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))


def train(model: nn.Module, train_enc: Encoded, Y_train: np.ndarray, valid_enc: Encoded | None,
          Y_valid: np.ndarray | None, *, pad_id: int, config: TrainConfig,
          pos_weight: np.ndarray | None = None, sample_weight: np.ndarray | None = None,
          callbacks=None, estimator=None) -> TrainResult:
    """Fine-tune ``model`` in place and return its history.

    With a validation set, the weights of the epoch with the best validation
    objective (lowest loss, or highest ``config.score_fn``) are restored at
    the end (also after Ctrl-C, which ends training with ``interrupted``),
    and training stops early after ``n_iter_no_change`` epochs without an
    improvement larger than ``tol`` when ``early_stopping`` is set.
    ``sample_weight`` (n_texts,) weights each text's loss. ``callbacks`` get
    ``on_fit_begin``, ``on_batch_end`` and ``on_epoch_end`` with
    ``estimator`` (see :func:`skbert.callbacks.notify`).
    """
    dev = config.device
    model.to(dev)
    broadcast_model(model, config.group)
    pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32,
                                                         device=dev)
    data = LoopData(train_enc, torch.from_numpy(np.ascontiguousarray(Y_train, dtype=np.float32)),
                    _normalised_weights(sample_weight), valid_enc, Y_valid, pad_id, pos_weight,
                    nn.BCEWithLogitsLoss(pos_weight=pw, reduction="none"))
    optimizer = make_optimizer(model, config)
    steps_per_epoch = math.ceil(train_enc.n_docs / config.batch_size)
    scheduler = make_scheduler(optimizer, steps_per_epoch * config.max_epochs,
                               config.warmup_ratio)
    scaler = torch.amp.GradScaler(dev.type) if config.precision == "fp16" else None
    state = LoopState(model, optimizer, scheduler, scaler, np.random.default_rng(config.seed),
                      config, data, estimator=estimator, callbacks=list(callbacks or ()),
                      micro_batch_size=config.micro_batch_size)
    result = TrainResult(history=state.history)
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(config.seed)
        notify(state.callbacks, "on_fit_begin", estimator, state=state)
        sel = state.selection
        stopped = config.early_stopping and sel.no_improve >= config.n_iter_no_change
        try:
            for epoch in range(state.epoch + 1, 1 if stopped else config.max_epochs + 1):
                record, logits = _run_one_epoch(state, epoch)
                result.still_improving = sel.improving
                if not _finite(record, logits):
                    if sel.best_state is None:
                        raise _diverged(record, config, sample_weight is not None)
                    result.diverged_epoch = epoch
                    result.still_improving = False
                    logger.info("non-finite loss in epoch %d; restoring epoch %d", epoch,
                                sel.best_epoch)
                    break
                notify(state.callbacks, "on_epoch_end", estimator, dict(record), state=state)
                if config.early_stopping and sel.no_improve >= config.n_iter_no_change:
                    logger.info("early stopping after epoch %d (best: %d)", epoch,
                                sel.best_epoch)
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            result.still_improving = False
    result.history = state.history
    result.best_epoch = sel.best_epoch if valid_enc is not None else len(state.history)
    result.valid_logits = sel.best_logits
    if sel.best_state is not None and (result.interrupted
                                       or sel.best_epoch != len(state.history)):
        model.load_state_dict(sel.best_state)
    model.eval()
    return result


def _run_one_epoch(state: LoopState, epoch: int) -> tuple[dict, np.ndarray | None]:
    """Train one epoch, validate, update the kept epoch; returns (record, valid logits)."""
    config, data = state.config, state.data
    start = time.perf_counter()
    progress = None
    if config.verbose >= 2 and config.group.is_main:
        from tqdm.auto import tqdm

        progress = tqdm(total=data.train.n_docs, desc=f"epoch {epoch}", unit="text",
                        leave=False)
    try:
        train_loss = run_epoch(state, epoch, progress)
    finally:
        if progress is not None:
            progress.close()
    record = {"epoch": epoch, "train_loss": train_loss, "valid_loss": None, "valid_f1": None,
              "valid_score": None, "lr": state.peak_lr}
    logits = value = None
    if data.valid is not None:
        logits = predict_logits(state.model, data.valid, data.pad_id, config)
        record["valid_loss"] = _bce(data.Y_valid, logits, data.pos_weight)
        record["valid_f1"] = _micro_f1(data.Y_valid, logits)
        if config.score_fn is not None and np.isfinite(logits).all():
            record["valid_score"] = float(config.score_fn(data.Y_valid, logits))
            value = record["valid_score"]
            if not math.isfinite(value) and not state.said_undefined_score:
                state.said_undefined_score = True
                _warn_undefined_score(value, epoch, config, data.Y_valid)
        else:
            value = -record["valid_loss"]
    state.selection.consider(epoch, value, state.model, logits, config.tol)
    record["dur"] = time.perf_counter() - start
    state.history.append(record)
    state.epoch = epoch
    _log_epoch(record, config)
    return record, logits


def _warn_undefined_score(value: float, epoch: int, config: TrainConfig,
                          Y_valid: np.ndarray) -> None:
    """Say once per fit that the validation score came out NaN, what it leaves and the fix."""
    if not config.group.is_main:
        return
    empty = np.flatnonzero(np.asarray(Y_valid).sum(axis=0) == 0)
    why = (f"{len(empty)} of the {Y_valid.shape[1]} labels "
           f"{'has' if len(empty) == 1 else 'have'} no positive text in the "
           f"{len(Y_valid)} validation texts, where many scores are undefined"
           if len(empty) else "the scorer gave no number for these validation texts")
    fit_warning(
        f"scoring={getattr(config.score_fn, 'scoring', None)!r} gave {value} at epoch {epoch}: "
        f"{why}. An epoch without a score never counts as an improvement, so the kept epoch "
        "is the best scored one (or, where none was scored, the last) and early stopping "
        "counts it as not improving; thresholds are still tuned. Use a score defined on every "
        "split, such as 'loss' or 'f1_micro', or pass X_val, Y_val with a positive text for "
        "every label.", stacklevel=user_stacklevel())


def _finite(record: dict, valid_logits: np.ndarray | None) -> bool:
    """Whether an epoch's losses (and validation logits) are all finite numbers."""
    losses = [record["train_loss"], record["valid_loss"]]
    if not all(v is None or math.isfinite(v) for v in losses):
        return False
    return valid_logits is None or bool(np.isfinite(valid_logits).all())


def _diverged(record: dict, config: TrainConfig, weighted: bool = False) -> TrainingDivergedError:
    lr = config.learning_rate
    fixes = [f"lower learning_rate (now {lr:g}; e.g. {lr / 4:g})", "check pos_weight"]
    if weighted:
        fixes.append("check sample_weight")
    if config.precision != "fp32":
        fixes.append(f"use precision='fp32' (now {config.precision!r})")
    return TrainingDivergedError(
        f"Training diverged: in epoch {record['epoch']} the training loss was "
        f"{record['train_loss']} (validation loss {record['valid_loss']}), so the weights are no "
        f"longer usable and no earlier epoch was kept. {_advice(fixes)}. A validation split "
        "(early_stopping=True) keeps the best finite epoch instead.")


def _advice(fixes: list[str]) -> str:
    text = ", ".join(fixes[:-1]) + (f" or {fixes[-1]}" if len(fixes) > 1 else fixes[-1])
    return text[:1].upper() + text[1:]


def _log_epoch(record: dict, config: TrainConfig) -> None:
    parts = [f"epoch {record['epoch']:>3d}/{config.max_epochs}",
             f"train_loss {record['train_loss']:.4f}"]
    if record["valid_loss"] is not None:
        parts += [f"valid_loss {record['valid_loss']:.4f}", f"valid_f1 {record['valid_f1']:.4f}"]
    if record.get("valid_score") is not None:
        parts.append(f"valid_score {record['valid_score']:.4f}")
    parts += [f"lr {record['lr']:.2e}", f"{record['dur']:.1f}s"]
    line = "  ".join(parts)
    logger.debug(line)
    if config.verbose >= 1 and config.group.is_main:
        print(line, flush=True)
