"""Data-parallel training over ``torch.distributed``: the one module that touches it.

Without a launcher every function here is a no-op on :data:`SINGLE`, the group
of one process. Under ``torchrun`` or ``accelerate launch`` (the environment
variables ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``), :func:`join` initialises the default process group (NCCL on
GPUs, gloo on CPUs) and every rank

* computes its share of each global batch (``batch_size`` texts a step in all),
* adds its gradients to the others' with one all-reduce a step (the loss of a
  share is already divided by the whole batch's size, so the sum is the
  gradient of the one-process batch, up to float rounding),
* predicts its share of the texts and gathers everyone's rows in input order,

so that all ranks end with the same weights and the same decisions.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
from dataclasses import dataclass

import numpy as np
import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessGroup:
    """Where this process stands: its rank among ``world_size`` processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0, the one that prints and writes files."""
        return self.rank == 0


#: The group of one process (no launcher).
SINGLE = ProcessGroup()


def launched() -> bool:
    """Whether a launcher started several processes, or a group already exists."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return _env_int("WORLD_SIZE", 1) > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"The environment variable {name}={value!r} is not an integer; it is set by "
            "torchrun or accelerate launch. Unset it, or start the script with a launcher."
        ) from None


def env_rank() -> int:
    """This process's rank: from the process group, else the launcher's ``RANK``, else 0."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0) if launched() else 0


def current() -> ProcessGroup:
    """The process group this process is in now (:data:`SINGLE` when there is none)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    world = dist.get_world_size()
    if world <= 1:
        return SINGLE
    rank = dist.get_rank()
    return ProcessGroup(rank, world, _env_int("LOCAL_RANK", rank))


def join(use_cuda: bool) -> ProcessGroup:
    """Join the process group a launcher prepared, initialising it if needed.

    Parameters
    ----------
    use_cuda : bool
        Whether this process trains on a CUDA device: NCCL is used then, gloo
        otherwise. On CUDA the process's device becomes ``cuda:LOCAL_RANK``.

    Returns
    -------
    ProcessGroup
        :data:`SINGLE` when the process was not started by a launcher.
    """
    import torch.distributed as dist

    if not launched():
        return SINGLE
    if not dist.is_available():
        raise RuntimeError(
            "WORLD_SIZE > 1 says this process was started by a launcher, but this torch build "
            "has no torch.distributed. Install a torch build with distributed support, or run "
            "the script without torchrun.")
    local_rank = _env_int("LOCAL_RANK", _env_int("RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local_rank % max(torch.cuda.device_count(), 1))
    if not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(backend=backend)
        # the group skbert opened is closed at exit: a gloo group left open can abort
        # the process at interpreter shutdown ("terminate called", exit code -6)
        atexit.register(_leave, dist)
        logger.info("joined the process group: rank %d of %d (%s)", dist.get_rank(),
                    dist.get_world_size(), backend)
    return current()


#: Seconds the exit handler waits for the other ranks to reach the end of their script
#: (rank 0 may still be saving the model) before it leaves the gloo group anyway.
LEAVE_TIMEOUT = 60.0


def _leave(dist) -> None:
    """Destroy the process group :func:`join` created, unless someone already did.

    On a gloo group the ranks first wait for each other, in a ``barrier`` with a
    timeout (:data:`LEAVE_TIMEOUT`), so that no rank tears its end of the group
    down while another is still on its way out (rank 0 saving the model); a
    barrier that fails (a peer gone, or later than the timeout) is logged, and
    the group is destroyed all the same. There is no barrier

    * after an uncaught exception, or an error the command line caught and
      reported (:func:`mark_failed`): a rank that failed mid-fit leaves at once, so
      that the others, blocked in a collective it will never join, fail within a
      second ("Connection closed by peer") rather than after the timeout;
    * where torch's ``barrier`` takes no timeout (releases before early 2026): a
      rank exiting while another is still in a collective would wait the group's
      timeout (30 minutes). ``monitored_barrier`` is no way out: its timeout
      holds on rank 0 alone;
    * on NCCL, whose watchdog aborts the process when a barrier times out.
      ``destroy_process_group`` on every rank is what torch.distributed's
      "Shutdown" asks for.
    """
    if not dist.is_initialized():
        return
    if _waits_for_the_others(dist):
        from datetime import timedelta

        try:
            dist.barrier(timeout=timedelta(seconds=LEAVE_TIMEOUT))
        except Exception as exc:  # a peer gone or late: leaving anyway is the way out
            logger.warning("leaving the process group without waiting for the other ranks: "
                           "%.300s", " ".join(str(exc).split()))
    dist.destroy_process_group()


def _waits_for_the_others(dist) -> bool:
    """Whether :func:`_leave` waits for the other ranks: a gloo group of several ranks,
    a torch whose ``barrier`` takes a timeout, and no uncaught exception."""
    import inspect

    return (dist.get_backend() == "gloo" and dist.get_world_size() > 1
            and "timeout" in inspect.signature(dist.barrier).parameters
            and not _exiting_after_error())


#: Set by :func:`mark_failed`: this rank is exiting after an error it caught.
_FAILED = {"failed": False}


def mark_failed() -> None:
    """Record that this process is exiting after an error it caught and reported (the
    command line's exit code 2): :func:`_leave` then leaves the group without waiting."""
    _FAILED["failed"] = True


def _exiting_after_error() -> bool:
    """Whether the interpreter is exiting after an error: an uncaught exception (Python
    records it in ``sys.last_value``, and ``sys.last_exc`` from 3.12, before the exit
    handlers run) or one caught and reported (:func:`mark_failed`)."""
    import sys

    return (_FAILED["failed"] or getattr(sys, "last_exc", None) is not None
            or getattr(sys, "last_value", None) is not None)


def device_for(group: ProcessGroup, device: torch.device) -> torch.device:
    """One CUDA device per process: ``cuda`` becomes ``cuda:LOCAL_RANK`` in a group."""
    if group.active and device.type == "cuda" and device.index is None:
        return torch.device("cuda", group.local_rank % max(torch.cuda.device_count(), 1))
    return device


def shard(docs: np.ndarray, group: ProcessGroup) -> np.ndarray:
    """This rank's contiguous share of a global batch (shares differ by one text at most)."""
    if not group.active:
        return docs
    return np.array_split(docs, group.world_size)[group.rank]


def _comm_device(group: ProcessGroup) -> torch.device:
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_gradients(model: torch.nn.Module, group: ProcessGroup) -> None:
    """Sum every parameter's gradient over the ranks, in one flat buffer.

    A parameter with no gradient on this rank (a share with no texts) adds zeros.
    """
    if not group.active:
        return
    import torch.distributed as dist

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.dtype)
        offset += n


def all_reduce_sum(value: torch.Tensor, group: ProcessGroup) -> torch.Tensor:
    """The sum of a tensor over the ranks (the tensor itself without a group)."""
    if not group.active:
        return value
    import torch.distributed as dist

    out = value.detach().clone().to(_comm_device(group))
    dist.all_reduce(out)
    return out.to(value.device)


def all_ranks_agree(flag: bool, group: ProcessGroup) -> bool:
    """True only if ``flag`` is True on every rank (so all ranks take the same branch)."""
    if not group.active:
        return flag
    return bool(all_reduce_sum(torch.tensor(int(bool(flag))), group).item() == group.world_size)


def broadcast_int(value: int, group: ProcessGroup) -> int:
    """Rank 0's ``value`` on every rank (e.g. a seed drawn from ``random_state=None``)."""
    if not group.active:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.int64, device=_comm_device(group))
    dist.broadcast(t, src=0)
    return int(t.item())


def broadcast_model(model: torch.nn.Module, group: ProcessGroup) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not group.active:
        return
    import torch.distributed as dist

    dev = _comm_device(group)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            buf = t.detach().to(dev)
            dist.broadcast(buf, src=0)
            if buf is not t:
                t.copy_(buf.to(t.device))


def gather_rows(rows: np.ndarray, index: np.ndarray, n_total: int,
                group: ProcessGroup) -> np.ndarray:
    """Assemble every rank's ``rows`` (for texts ``index``) into one array in input order.

    Parameters
    ----------
    rows : ndarray of shape (n_local, n_labels), float32
    index : ndarray of shape (n_local,)
        The positions of those rows among all ``n_total`` texts.
    n_total : int
    group : ProcessGroup

    Returns
    -------
    ndarray of shape (n_total, n_labels), float32
        The same on every rank.
    """
    if not group.active:
        out = np.empty((n_total, rows.shape[1]), dtype=np.float32)
        out[index] = rows
        return out
    import torch.distributed as dist

    dev = _comm_device(group)
    n_labels = rows.shape[1]
    sizes = [torch.zeros(1, dtype=torch.int64, device=dev) for _ in range(group.world_size)]
    dist.all_gather(sizes, torch.tensor([len(index)], dtype=torch.int64, device=dev))
    most = int(max(s.item() for s in sizes))
    pad_rows = torch.zeros((most, n_labels), dtype=torch.float32, device=dev)
    pad_rows[:len(index)] = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
    pad_index = torch.full((most,), -1, dtype=torch.int64, device=dev)
    pad_index[:len(index)] = torch.from_numpy(np.asarray(index, dtype=np.int64))
    all_rows = [torch.empty_like(pad_rows) for _ in range(group.world_size)]
    all_index = [torch.empty_like(pad_index) for _ in range(group.world_size)]
    dist.all_gather(all_rows, pad_rows)
    dist.all_gather(all_index, pad_index)
    out = np.empty((n_total, n_labels), dtype=np.float32)
    seen = 0
    for r, i in zip(all_rows, all_index):
        keep = i >= 0
        out[i[keep].cpu().numpy()] = r[keep].cpu().numpy()
        seen += int(keep.sum())
    if seen != n_total:
        raise RuntimeError(f"gathered {seen} rows for {n_total} texts; the ranks were given "
                           "different inputs. Pass the same texts on every rank.")
    return out


def barrier(group: ProcessGroup) -> None:
    """Wait for every rank (nothing without a group)."""
    if group.active:
        import torch.distributed as dist

        dist.barrier()


# ------------------------------------------------------------ same data on every rank
#: int64 slots of one rank's record in :func:`check_same_data`: texts, labels,
#: the label names' hash and the data digest's first 32 bytes.
_RECORD = 7


#: Rows of a ``datasets.Dataset`` that :func:`data_digest` reads.
DATASET_ROWS = 1024


def _hash_into(h, value) -> None:
    """Feed ``value`` to the hash ``h`` unambiguously (type, length, content)."""
    if value is None:
        h.update(b"N")
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        h.update(b"S%d:" % len(raw) + raw)
    elif isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        h.update(b"A" + str((arr.dtype.str, arr.shape)).encode())
        h.update(arr.tobytes() if arr.dtype != object else repr(arr.tolist()).encode())
    elif hasattr(value, "_fingerprint") and hasattr(value, "column_names"):
        # a datasets.Dataset: its fingerprint is random for one built in memory, so it
        # differs between processes; its length and up to DATASET_ROWS rows spread over
        # it are compared instead (reading them all would cost a pass over the corpus)
        n = len(value)
        rows = value.select(np.unique(np.linspace(0, n - 1, min(n, DATASET_ROWS)).astype(int))
                            if n else [])
        h.update(b"D%d:" % n)
        for column in sorted(rows.column_names):
            _hash_into(h, column)
            _hash_into(h, list(rows[column]))
    elif isinstance(value, (list, tuple)):
        h.update(b"L%d:" % len(value))
        for item in value:
            _hash_into(h, item)
    else:
        h.update(b"R" + repr(value).encode())


def data_digest(*parts) -> bytes:
    """A 32-byte SHA-256 of the training data, to compare across ranks.

    Parameters
    ----------
    *parts : list of str, ndarray, datasets.Dataset or None
        E.g. ``(X, Y, sample_weight, X_val, Y_val)``. A list of texts is read
        whole (about 1 s per GB); a ``datasets.Dataset`` enters by its length
        and :data:`DATASET_ROWS` rows spread over it (not by its fingerprint,
        which is random for a dataset built in memory).

    Returns
    -------
    bytes
    """
    h = hashlib.sha256()
    for part in parts:
        _hash_into(h, part)
    return h.digest()


def check_same_data(group: ProcessGroup, n_samples: int, classes, digest: bytes) -> None:
    """Refuse to train when the ranks were given different data.

    Every rank of a data-parallel fit must hold the same texts and labels: each
    trains on its share of every batch, chosen by position. A rank with other
    data would silently train the model on a mix, and one with another number
    of texts or labels would make the later collectives disagree in size (gloo
    then aborts the process with no message). So before any of them, each rank
    sends a fixed-size record (number of texts, number of labels, a hash of
    the label names, ``digest``) to all (one ``all_gather``, whatever the data),
    and every rank raises the same error when the records differ.

    Parameters
    ----------
    group : ProcessGroup
        Nothing happens without a process group (:data:`SINGLE`).
    n_samples : int
        The number of training texts on this rank.
    classes : array-like of shape (n_labels,)
        The label names on this rank.
    digest : bytes
        A hash of this rank's training data, e.g. :func:`data_digest` of
        ``(X, Y, sample_weight, X_val, Y_val)``; its first 32 bytes count.

    Raises
    ------
    ValueError
        On every rank, naming what differs and on which ranks.
    """
    if not group.active:
        return
    import torch.distributed as dist

    names = [str(c) for c in classes]
    label_hash = hashlib.sha256("\x00".join(names).encode("utf-8", "surrogatepass")).digest()
    raw = bytes(digest)[:32].ljust(32, b"\x00")
    record = [int(n_samples), len(names), int.from_bytes(label_hash[:8], "little", signed=True),
              *(int.from_bytes(raw[i:i + 8], "little", signed=True) for i in range(0, 32, 8))]
    dev = _comm_device(group)
    mine = torch.tensor(record, dtype=torch.int64, device=dev)
    table = [torch.empty_like(mine) for _ in range(group.world_size)]
    dist.all_gather(table, mine)
    rows = [t.cpu().tolist() for t in table]
    if all(r == rows[0] for r in rows):
        return
    problems = []
    for what, slots in (("number of texts", (0,)), ("number of labels", (1,))):
        values = [r[slots[0]] for r in rows]
        if len(set(values)) > 1:
            problems.append(f"the {what} differs: " + ", ".join(
                f"rank {k} has {v}" for k, v in enumerate(values)))
    for what, slots, hint in (
            ("label names", (2,), f"rank {group.rank} has {names[:8]}"
                                  f"{' ...' if len(names) > 8 else ''}"),
            ("texts, labels or weights", tuple(range(3, _RECORD)), "")):
        values = [tuple(r[i] for i in slots) for r in rows]
        if len(set(values)) > 1:
            groups: dict = {}
            for k, v in enumerate(values):
                groups.setdefault(v, []).append(k)
            parts = " and ".join(("rank " if len(ks) == 1 else "ranks ") + ", ".join(map(str, ks))
                                 for ks in groups.values())
            problems.append(f"the {what} differ between {parts}" + (f" ({hint})" if hint
                                                                   else ""))
    raise ValueError(
        "The ranks of this data-parallel fit were given different training data: "
        + "; ".join(problems) + ". Every process started by torchrun or accelerate launch "
        "must call fit with the same X, Y (same label columns, same order) and sample_weight; "
        "load or split the data the same way on every rank (e.g. with a fixed seed), and let "
        "skbert share the batches out.")
