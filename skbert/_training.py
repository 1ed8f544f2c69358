"""The training loop and batched inference.

Plain torch: no scikit-learn import here. The loop is split into small steps
(:func:`make_optimizer`, :func:`train_step`, :func:`run_epoch`,
:func:`predict_logits`) so that callbacks or multi-process training can be
added around them later without reshaping it.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ._data import Encoded, collate, length_grouped_batches, sorted_batches
from ._utils import TrainingDivergedError, autocast_dtype

logger = logging.getLogger(__name__)


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
    #: Keyword arguments of ``torch.compile``; None runs the model eagerly.
    compile: dict | None = None
    seed: int = 0
    verbose: int = 0


@dataclass
class TrainResult:
    """What :func:`train` hands back to the estimator."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    interrupted: bool = False
    still_improving: bool = False
    #: Validation logits of the kept (best) epoch; None without a validation set.
    valid_logits: np.ndarray | None = None
    #: The epoch whose loss or outputs became non-finite, after which training
    #: stopped and the best earlier epoch was restored; None if it never happened.
    diverged_epoch: int | None = None


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


def _forward_docs(model, encoded: Encoded, docs: np.ndarray, pad_id: int,
                  config: TrainConfig) -> torch.Tensor:
    batch = collate(encoded, docs, pad_id, config.pad_to_multiple_of)
    dev = config.device
    with autocast(dev, config.precision), explain_compile_errors(config.compile):
        logits = model(batch["input_ids"].to(dev, non_blocking=True),
                       batch["attention_mask"].to(dev, non_blocking=True))
    return pool_windows(logits.float(), batch["window_doc"], len(docs), config.chunk_pooling)


def train_step(model, optimizer, scheduler, scaler, loss_fn, encoded: Encoded,
               Y: torch.Tensor, docs: np.ndarray, pad_id: int,
               config: TrainConfig) -> torch.Tensor:
    """One optimisation step on the texts ``docs``; returns the batch loss.

    The loss stays a device tensor: reading it with ``float()`` here would make
    the host wait for the GPU at every step.
    """
    logits = _forward_docs(model, encoded, docs, pad_id, config)
    loss = loss_fn(logits, Y[torch.as_tensor(docs)].to(config.device, non_blocking=True))
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
    scheduler.step()
    return loss.detach()


@torch.inference_mode()
def predict_logits(model, encoded: Encoded, pad_id: int, config: TrainConfig) -> np.ndarray:
    """Text-level logits, float32 of shape (n_texts, n_labels), in input order.

    Texts are batched longest first, ``predict_batch_size`` texts a batch, so
    that each batch pads little; with chunking a batch holds all their windows.
    """
    model.eval()
    model = compile_model(model, config.compile)
    lengths = encoded.doc_lengths()
    out = None
    for docs in sorted_batches(lengths, config.predict_batch_size):
        logits = _forward_docs(model, encoded, docs, pad_id, config).cpu().numpy()
        if out is None:
            out = np.empty((encoded.n_docs, logits.shape[1]), dtype=np.float32)
        out[docs] = logits
    return out


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


def run_epoch(model, optimizer, scheduler, scaler, loss_fn, encoded: Encoded,
              Y: torch.Tensor, pad_id: int, config: TrainConfig,
              rng: np.random.Generator, progress=None) -> float:
    """One pass over the training texts in length-grouped, shuffled batches."""
    model.train()
    model = compile_model(model, config.compile)
    lengths = encoded.doc_lengths()
    total, n = torch.zeros((), device=config.device), 0
    for docs in length_grouped_batches(lengths, config.batch_size, rng):
        total += train_step(model, optimizer, scheduler, scaler, loss_fn, encoded, Y, docs,
                            pad_id, config) * len(docs)
        n += len(docs)
        if progress is not None:
            progress.update(len(docs))
    return float(total) / max(n, 1)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train(model: nn.Module, train_enc: Encoded, Y_train: np.ndarray, valid_enc: Encoded | None,
          Y_valid: np.ndarray | None, *, pad_id: int, config: TrainConfig,
          pos_weight: np.ndarray | None = None) -> TrainResult:
    """Fine-tune ``model`` in place and return its history.

    With a validation set, the weights of the epoch with the lowest validation
    loss are restored at the end (also after Ctrl-C), and training stops early
    after ``n_iter_no_change`` epochs without an improvement larger than ``tol``
    when ``early_stopping`` is set.
    """
    dev = config.device
    model.to(dev)
    result = TrainResult()
    rng = np.random.default_rng(config.seed)
    Y = torch.from_numpy(np.ascontiguousarray(Y_train, dtype=np.float32))
    pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32,
                                                         device=dev)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pw)
    steps_per_epoch = math.ceil(train_enc.n_docs / config.batch_size)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, steps_per_epoch * config.max_epochs,
                               config.warmup_ratio)
    scaler = torch.amp.GradScaler(dev.type) if config.precision == "fp16" else None
    best_loss, best_state, no_improve = math.inf, None, 0
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(config.seed)
        try:
            for epoch in range(1, config.max_epochs + 1):
                start = time.perf_counter()
                lr = optimizer.param_groups[0]["lr"]
                progress = None
                if config.verbose >= 2:
                    from tqdm.auto import tqdm

                    progress = tqdm(total=train_enc.n_docs, desc=f"epoch {epoch}", unit="text",
                                    leave=False)
                try:
                    train_loss = run_epoch(model, optimizer, scheduler, scaler, loss_fn,
                                           train_enc, Y, pad_id, config, rng, progress)
                finally:
                    if progress is not None:
                        progress.close()
                record = {"epoch": epoch, "train_loss": train_loss, "valid_loss": None,
                          "valid_f1": None, "lr": lr}
                improved = True
                if valid_enc is not None:
                    logits = predict_logits(model, valid_enc, pad_id, config)
                    record["valid_loss"] = _bce(Y_valid, logits, pos_weight)
                    record["valid_f1"] = _micro_f1(Y_valid, logits)
                    improved = record["valid_loss"] < best_loss - config.tol
                    if record["valid_loss"] < best_loss:
                        best_loss = record["valid_loss"]
                        best_state = _cpu_state(model)
                        result.best_epoch = epoch
                        result.valid_logits = logits
                    no_improve = 0 if improved else no_improve + 1
                else:
                    result.best_epoch = epoch
                record["dur"] = time.perf_counter() - start
                result.history.append(record)
                result.still_improving = improved
                _log_epoch(record, config)
                if not _finite(record, logits if valid_enc is not None else None):
                    if best_state is None:
                        raise _diverged(record, config)
                    result.diverged_epoch = epoch
                    result.still_improving = False
                    logger.info("non-finite loss in epoch %d; restoring epoch %d", epoch,
                                result.best_epoch)
                    break
                if config.early_stopping and no_improve >= config.n_iter_no_change:
                    logger.info("early stopping after epoch %d (best: %d)", epoch,
                                result.best_epoch)
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            result.still_improving = False
    if best_state is not None and (result.interrupted
                                   or result.best_epoch != len(result.history)):
        model.load_state_dict(best_state)
    model.eval()
    return result


def _finite(record: dict, valid_logits: np.ndarray | None) -> bool:
    """Whether an epoch's losses (and validation logits) are all finite numbers."""
    losses = [record["train_loss"], record["valid_loss"]]
    if not all(v is None or math.isfinite(v) for v in losses):
        return False
    return valid_logits is None or bool(np.isfinite(valid_logits).all())


def _diverged(record: dict, config: TrainConfig) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"Training diverged: in epoch {record['epoch']} the training loss was "
        f"{record['train_loss']} (validation loss {record['valid_loss']}), so the weights are no "
        f"longer usable and no earlier epoch was kept. Lower learning_rate (now "
        f"{config.learning_rate:g}; e.g. 5e-5), check pos_weight, or use precision='fp32'. A "
        "validation split (early_stopping=True) keeps the best finite epoch instead.")


def _log_epoch(record: dict, config: TrainConfig) -> None:
    parts = [f"epoch {record['epoch']:>3d}/{config.max_epochs}",
             f"train_loss {record['train_loss']:.4f}"]
    if record["valid_loss"] is not None:
        parts += [f"valid_loss {record['valid_loss']:.4f}", f"valid_f1 {record['valid_f1']:.4f}"]
    parts += [f"lr {record['lr']:.2e}", f"{record['dur']:.1f}s"]
    line = "  ".join(parts)
    logger.debug(line)
    if config.verbose >= 1:
        print(line, flush=True)
