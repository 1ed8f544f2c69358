"""How the gloo group that skbert opened is left at exit (``_distributed._leave``).

Two processes started as a launcher would (``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``,
``MASTER_PORT``), without torchrun's agent, to stay within seconds:

* ranks ending at different times leave together: the first waits, in a barrier with
  a timeout, for the other to reach its end (it had destroyed its end of the group
  while the other was still on its way out);
* a rank that raised leaves at once, with no barrier: the other, blocked in a
  collective the failed rank never joins, fails within seconds, not after the
  barrier's timeout.
"""

from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(__file__)

WORKER = textwrap.dedent('''
    import atexit, json, os, sys, time

    import torch

    out, mode = sys.argv[1], sys.argv[2]
    rank = int(os.environ["RANK"])
    record = {}

    def write():  # registered before join: runs after skbert's exit handler
        record["exit_handlers_done"] = time.time()
        with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
            json.dump(record, fh)

    atexit.register(write)
    from skbert import _distributed as d

    d.LEAVE_TIMEOUT = 30.0
    torch.set_num_threads(1)
    group = d.join(use_cuda=False)
    d.all_reduce_sum(torch.ones(4), group)
    if mode == "staggered":  # rank 0 still busy (saving the model) when rank 1 ends
        if rank == 0:
            time.sleep(2.0)
        record["script_done"] = time.time()
    elif mode in ("raise", "caught"):
        if rank == 1 and mode == "raise":
            raise RuntimeError("rank 1 failed mid-fit")
        if rank == 1:  # the command line caught an error, reported it and exits with 2
            from skbert import cli
            cli._failed_for_the_group()
            sys.exit(2)
        start = time.time()
        try:
            d.all_reduce_sum(torch.ones(4), group)  # rank 1 never joins this one
        finally:
            record["blocked_for"] = time.time() - start
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_ranks(tmp_path, mode):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.path.dirname(HERE),
               "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        procs.append(subprocess.Popen([sys.executable, str(worker), str(tmp_path), mode],
                                      env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    records = [json.loads((tmp_path / f"rank{r}.json").read_text())
               if (tmp_path / f"rank{r}.json").exists() else {} for r in range(2)]
    return [p.returncode for p in procs], outputs, records


def test_ranks_ending_at_different_times_leave_together(tmp_path):
    import torch.distributed as dist

    if "timeout" not in inspect.signature(dist.barrier).parameters:
        pytest.skip("this torch's barrier takes no timeout: no barrier at exit")
    codes, outputs, (r0, r1) = _two_ranks(tmp_path, "staggered")
    assert codes == [0, 0], outputs
    assert r1["script_done"] < r0["script_done"] - 1.0, (r0, r1)
    # rank 1 left the group only once rank 0 had reached its end
    assert r1["exit_handlers_done"] >= r0["script_done"], (r0, r1)
    assert "without waiting" not in outputs[0] + outputs[1], outputs


def test_a_rank_that_raised_leaves_at_once(tmp_path):
    codes, outputs, (r0, r1) = _two_ranks(tmp_path, "raise")
    assert codes[1] == 1 and "rank 1 failed mid-fit" in outputs[1], outputs
    # rank 0's collective failed as soon as rank 1 left, not after LEAVE_TIMEOUT (30 s)
    assert codes[0] != 0 and r0["blocked_for"] < 15, (r0, outputs)
    assert "Connection" in outputs[0] or "closed" in outputs[0], outputs[0][-2000:]


def test_a_rank_whose_error_the_command_line_caught_leaves_at_once(tmp_path):
    """skbert's CLI catches user errors and exits with 2: no uncaught exception is
    recorded, so it marks the failure itself; without that, rank 0 waited the barrier's
    timeout (30 s here, 60 s by default)."""
    codes, outputs, (r0, r1) = _two_ranks(tmp_path, "caught")
    assert codes[1] == 2, outputs
    assert codes[0] != 0 and r0["blocked_for"] < 15, (r0, outputs)
