"""Training state on disk (skbert._checkpoint): bitwise resume, and damage is ignored.

The loop here is skbert's in miniature: AdamW (fused and not) with decay and
no-decay groups, a LambdaLR warm-up/decay closure, gradient clipping, dropout
drawn from torch's global generator inside ``fork_rng``, and a numpy
Generator shuffling the batches.
"""

from __future__ import annotations

import ast
import json
import math
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from skbert import _checkpoint
from skbert._checkpoint import (
    FILE_NAME,
    TrainingState,
    fingerprint,
    load_state,
    restore,
    save_state,
)
from skbert._utils import SkbertWarning

N, D, L, BS, EPOCHS, SEED = 40, 8, 4, 8, 3, 7
FP = fingerprint("data-v1")


# ------------------------------------------------------------------ helpers
def _data():
    g = torch.Generator().manual_seed(123)
    return torch.randn(N, D, generator=g), (torch.rand(N, L, generator=g) > 0.5).float()


def _build(fused: bool, init_seed: int = 0):
    """Model, optimizer and scheduler as skbert's make_optimizer/make_scheduler build them."""
    torch.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 16),
                          nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, L))
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-2, fused=fused)
    total = math.ceil(N / BS) * EPOCHS
    warmup = 2

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _epoch(model, optimizer, scheduler, rng, X, Y) -> float:
    model.train()
    loss_fn = nn.BCEWithLogitsLoss()
    total = 0.0
    perm = rng.permutation(N)
    for start in range(0, N, BS):
        idx = torch.as_tensor(perm[start:start + BS])
        loss = loss_fn(model(X[idx]), Y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(idx)
    return total / N


def _train(fused, *, epochs, folder=None, resume=False, init_seed=0, bit_generator=None):
    """Train up to ``epochs`` (saving each epoch to ``folder``, resuming from it if asked).

    Returns the objects and what torch's and numpy's generators draw next.
    """
    X, Y = _data()
    model, optimizer, scheduler = _build(fused, init_seed)
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        rng = (np.random.default_rng(SEED) if bit_generator is None
               else np.random.Generator(getattr(np.random, bit_generator)(SEED)))
        history, start = [], 1
        if resume:
            state = load_state(folder, FP)
            assert state is not None
            rng = restore(state, model=model, optimizer=optimizer, scheduler=scheduler)
            assert rng is not None
            history, start = state.history, state.epoch + 1
        for epoch in range(start, epochs + 1):
            loss = _epoch(model, optimizer, scheduler, rng, X, Y)
            history.append({"epoch": epoch, "train_loss": loss, "valid_loss": None})
            if folder is not None:
                assert save_state(folder, FP, epoch=epoch, model=model, optimizer=optimizer,
                                  scheduler=scheduler, np_rng=rng, history=history,
                                  extra={"no_improve": 0}) is not None
        after = (torch.rand(5), rng.random(5))
    return model, optimizer, scheduler, history, after


def _assert_same_training(a, b) -> None:
    model_a, opt_a, sched_a, hist_a, (t_a, n_a) = a
    model_b, opt_b, sched_b, hist_b, (t_b, n_b) = b
    for (name, p), q in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(p, q), name
    sa, sb = opt_a.state_dict(), opt_b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i in sa["state"]:
        for key, value in sa["state"][i].items():
            assert torch.equal(value, sb["state"][i][key]), (i, key)
    assert sched_a.state_dict() == sched_b.state_dict()
    assert [r["train_loss"] for r in hist_a] == [r["train_loss"] for r in hist_b]
    assert torch.equal(t_a, t_b)
    assert np.array_equal(n_a, n_b)


def _saved(tmp_path, fused=False, epochs=1):
    folder = tmp_path / "ckpt"
    _train(fused, epochs=epochs, folder=folder)
    return folder


def _rewrite(folder, edit_doc=None, edit_tensors=None, reseal=True):
    """Rewrite the state file with its JSON document and/or tensors edited; ``reseal``
    recomputes the digests, as anyone who can write the folder can, so that the checks
    behind them are what refuses the edit."""
    path = folder / FILE_NAME
    tensors = load_file(path)
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    doc = json.loads(header["__metadata__"]["skbert_training_state"])
    if edit_doc is not None:
        edit_doc(doc)
    if edit_tensors is not None:
        edit_tensors(tensors)
    if reseal:
        doc = _checkpoint.seal(doc, tensors)
    save_file(tensors, path, metadata={"skbert_training_state": json.dumps(doc)})


def _load_warns(folder, match, fp=FP, **kw):
    with pytest.warns(SkbertWarning, match=match):
        assert load_state(folder, fp, **kw) is None


# -------------------------------------------------------------- fingerprint
def test_fingerprint_depends_on_the_data_key():
    a = fingerprint("k")
    assert len(a) == 64 and int(a, 16) >= 0
    assert a == fingerprint("k") and a != fingerprint("other data")


def test_fingerprint_rejects_an_empty_key():
    with pytest.raises(TypeError, match="data_key"):
        fingerprint("")
    with pytest.raises(TypeError, match="data_key"):
        fingerprint(None)


# ----------------------------------------------------------- bitwise resume
@pytest.mark.parametrize("fused", [False, True])
def test_resume_is_bitwise_equal_to_uninterrupted(tmp_path, fused):
    straight = _train(fused, epochs=EPOCHS)
    folder = tmp_path / "ckpt"
    _train(fused, epochs=2, folder=folder)  # "killed" after epoch 2
    # Fresh objects initialised differently: everything must come from the file.
    resumed = _train(fused, epochs=EPOCHS, folder=folder, resume=True, init_seed=99)
    _assert_same_training(straight, resumed)
    assert [r["epoch"] for r in resumed[3]] == [1, 2, 3]
    assert load_state(folder, FP).epoch == EPOCHS


@pytest.mark.parametrize("bit_generator", ["MT19937", "Philox", "SFC64", "PCG64DXSM"])
def test_resume_restores_other_numpy_bit_generators(tmp_path, bit_generator):
    straight = _train(False, epochs=2, bit_generator=bit_generator)
    folder = tmp_path / "ckpt"
    _train(False, epochs=1, folder=folder, bit_generator=bit_generator)
    resumed = _train(False, epochs=2, folder=folder, resume=True, bit_generator=bit_generator)
    _assert_same_training(straight, resumed)


def test_state_fields_round_trip(tmp_path):
    model, optimizer, scheduler = _build(False)
    rng = np.random.default_rng(3)
    best = {k: v + 1 for k, v in model.state_dict().items()}
    logits = torch.randn(6, L)
    history = [{"epoch": 1, "train_loss": 0.5, "valid_loss": 0.75, "lr": None, "x": -1.5}]
    save_state(tmp_path, FP, epoch=1, model=model, optimizer=optimizer, scheduler=scheduler,
               np_rng=rng, history=history, extra={"best_loss": 0.25, "stopped": False},
               best_state=best, extra_tensors={"valid_logits": logits})
    state = load_state(tmp_path, FP)
    assert isinstance(state, TrainingState)
    assert state.epoch == 1 and state.history == history and state.fingerprint == FP
    assert state.extra == {"best_loss": 0.25, "stopped": False}
    assert all(torch.equal(best[k], state.best_state[k]) for k in best)
    assert torch.equal(state.extra_tensors["valid_logits"], logits)
    assert state.numpy_rng_state == rng.bit_generator.state
    assert sorted(os.listdir(tmp_path)) == [FILE_NAME]  # no temporary file left


def test_tensors_of_every_kind_round_trip(tmp_path):
    model, optimizer, scheduler = _build(False)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    odd = {"bf16": torch.randn(5, 3).to(torch.bfloat16), "f16": torch.randn(2).half(),
           "i64": torch.tensor([-1, 2**40]), "flag": torch.tensor([True, False, True]),
           "scalar": torch.tensor(3.5, dtype=torch.float64), "empty": torch.zeros(0, 4),
           "transposed": base.t(), "shared_a": base, "shared_b": base[1]}
    save_state(tmp_path, FP, epoch=1, model=model, optimizer=optimizer, scheduler=scheduler,
               np_rng=np.random.default_rng(0), history=[{}], extra_tensors=odd)
    got = load_state(tmp_path, FP).extra_tensors
    assert sorted(got) == sorted(odd)
    for name, t in odd.items():
        assert got[name].dtype == t.dtype and torch.equal(got[name], t), name
    assert load_file(tmp_path / FILE_NAME)["extra/transposed"].is_contiguous()


def test_interrupted_or_failed_write_keeps_the_previous_epoch(tmp_path, monkeypatch):
    folder = _saved(tmp_path)
    model, optimizer, scheduler = _build(False)
    kw = dict(model=model, optimizer=optimizer, scheduler=scheduler,
              np_rng=np.random.default_rng(0), history=[{}, {}])

    def killed(fh, data):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(_checkpoint, "_write_all", killed)
    with pytest.raises(KeyboardInterrupt):
        save_state(folder, FP, epoch=2, **kw)

    def disk_full(fh, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_checkpoint, "_write_all", disk_full)
    with pytest.warns(SkbertWarning, match="No space left on device.*checkpoint_dir=None"):
        assert save_state(folder, FP, epoch=2, **kw) is None
    assert os.listdir(folder) == [FILE_NAME]  # no temporary file left
    assert load_state(folder, FP).epoch == 1


def test_restore_sets_torch_rng_and_returns_generator(tmp_path):
    model, optimizer, scheduler = _build(False)
    rng = np.random.default_rng(11)
    torch.manual_seed(5)
    save_state(tmp_path, FP, epoch=1, model=model, optimizer=optimizer, scheduler=scheduler,
               np_rng=rng, history=[{}])
    expected_torch, expected_np = torch.rand(3), rng.random(3)
    torch.manual_seed(0)
    fresh = _build(False, init_seed=1)
    out = restore(load_state(tmp_path, FP), model=fresh[0], optimizer=fresh[1],
                  scheduler=fresh[2])
    assert torch.equal(torch.rand(3), expected_torch)
    assert np.array_equal(out.random(3), expected_np)


def test_restore_does_not_share_tensors_with_the_state(tmp_path):
    folder = _saved(tmp_path)
    state = load_state(folder, FP)
    before = {k: v.clone() for k, v in state.optimizer_state["state"][0].items()}
    model, optimizer, scheduler = _build(False)
    with torch.random.fork_rng():
        rng = restore(state, model=model, optimizer=optimizer, scheduler=scheduler)
        _epoch(model, optimizer, scheduler, rng, *_data())
    assert all(torch.equal(v, state.optimizer_state["state"][0][k]) for k, v in before.items())


def test_scaler_state_round_trips(tmp_path):
    model, optimizer, scheduler = _build(False)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.load_state_dict({**scaler.state_dict(), "scale": 256.0, "_growth_tracker": 3})
    save_state(tmp_path, FP, epoch=1, model=model, optimizer=optimizer, scheduler=scheduler,
               scaler=scaler, np_rng=np.random.default_rng(0), history=[{}])
    fresh = _build(False)
    fresh_scaler = torch.amp.GradScaler("cpu")
    with torch.random.fork_rng():
        assert restore(load_state(tmp_path, FP), model=fresh[0], optimizer=fresh[1],
                       scheduler=fresh[2], scaler=fresh_scaler) is not None
    assert fresh_scaler.state_dict() == scaler.state_dict()
    # A fit without a scaler cannot take this state.
    with torch.random.fork_rng(), pytest.warns(SkbertWarning, match="scaler"):
        assert restore(load_state(tmp_path, FP), model=fresh[0], optimizer=fresh[1],
                       scheduler=fresh[2]) is None


# --------------------------------------------------- missing and mismatched
def test_no_state_is_a_silent_fresh_start(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_state(tmp_path / "missing", FP) is None
        assert load_state(tmp_path, FP) is None


def test_fingerprint_mismatch_warns_and_is_ignored(tmp_path):
    folder = _saved(tmp_path)
    other = fingerprint("data-v2")
    _load_warns(folder, "other parameters or data", fp=other)


def test_save_replaces_the_previous_epoch(tmp_path):
    folder = _saved(tmp_path, epochs=2)
    assert os.listdir(folder) == [FILE_NAME]
    assert load_state(folder, FP).epoch == 2


def test_unwritable_folder_warns_and_training_goes_on(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model, optimizer, scheduler = _build(False)
    with pytest.warns(SkbertWarning, match="could not write the training state"):
        out = save_state(blocker / "ckpt", FP, epoch=1, model=model, optimizer=optimizer,
                         scheduler=scheduler, np_rng=np.random.default_rng(0), history=[{}])
    assert out is None


def test_save_rejects_malformed_arguments(tmp_path):
    model, optimizer, scheduler = _build(False)
    kw = dict(model=model, optimizer=optimizer, scheduler=scheduler,
              np_rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="one record per completed epoch"):
        save_state(tmp_path, FP, epoch=2, history=[{}], **kw)
    with pytest.raises(ValueError, match="fingerprint"):
        save_state(tmp_path, "abc", epoch=1, history=[{}], **kw)
    with pytest.raises(ValueError, match="history"):
        save_state(tmp_path, FP, epoch=1, history=[{"loss": "high"}], **kw)
    with pytest.raises(TypeError, match="extra"):
        save_state(tmp_path, FP, epoch=1, history=[{}], extra={"when": object()}, **kw)
    with pytest.raises(ValueError, match=r"best_state\['0.bias'\] is \(3,\)"):
        save_state(tmp_path, FP, epoch=1, history=[{}], **kw,
                   best_state={**model.state_dict(), "0.bias": torch.zeros(3)})
    assert not (tmp_path / FILE_NAME).exists()


# ------------------------------------------------------------------ damage
@pytest.mark.parametrize("damage, match", [
    (lambda p: p.write_bytes(b""), "0 bytes long"),
    (lambda p: os.truncate(p, p.stat().st_size + 64 * 2**30), "header describes"),  # sparse
    (lambda p: p.write_bytes((50_000 * 5).to_bytes(8, "little") + b'{"a":' * 50_000),
     "unreadable safetensors header"),  # nested past the recursion limit
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated|unreadable"),
    (lambda p: p.write_bytes(p.read_bytes()[:-7]), "unreadable tensors"),
    (lambda p: p.write_bytes(os.urandom(4096)), "header"),
    (lambda p: p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json......}"),
     "unreadable safetensors header"),
    (lambda p: save_file({"w": torch.zeros(2)}, p), "not an skbert training state"),
    (lambda p: save_file({"w": torch.zeros(2)}, p,
                         metadata={"skbert_training_state": "{bad json"}), "not JSON"),
])
def test_damaged_file_warns_and_is_ignored(tmp_path, damage, match):
    folder = _saved(tmp_path)
    damage(folder / FILE_NAME)
    _load_warns(folder, match)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(format=99), "format 99"),
    (lambda d: d.update(epoch="1"), "epoch='1'"),
    (lambda d: d.update(history=[]), "history"),
    (lambda d: d["history"][0].update(train_loss="0.5"), r"history\[0\]"),
    (lambda d: d.update(extra=[1]), "'extra'"),
    (lambda d: d["optimizer"]["param_groups"][0].update(params=[0, 0]), "indices"),
    (lambda d: d["optimizer"]["state"].update({"99": {"tensors": [], "values": {}}}),
     "no group holds"),
    (lambda d: d["optimizer"]["state"].update({"01": {"tensors": [], "values": {}}}),
     "no group holds"),
    (lambda d: d["numpy_rng"].update(bit_generator="os.system"), "bit generator"),
    (lambda d: d["numpy_rng"]["state"].update(state="-1"), "numpy rejects"),
    (lambda d: d.update(scaler={"scale": "big"}), "scaler"),
    (lambda d: d.update(cuda_rng_devices=[0]), "CUDA generator"),
    (lambda d: d.update(has_best=True), "best weights"),
])
def test_ill_typed_fields_warn_and_are_ignored(tmp_path, edit, match):
    folder = _saved(tmp_path)
    _rewrite(folder, edit_doc=edit)
    _load_warns(folder, match)


def test_a_state_written_before_the_digests_is_ignored(tmp_path):
    """security.rst: a training state of format 1 (no digests) warns and is not resumed."""
    def older(doc):
        doc.update(format=1)
        doc.pop("tensors_sha256", None)
        doc.pop("state_sha256", None)

    folder = _saved(tmp_path)
    _rewrite(folder, edit_doc=older, reseal=False)
    _load_warns(folder, "format 1")


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.update({"pickle/payload": torch.zeros(1)}), "unexpected tensor"),
    (lambda t: t.pop("rng/torch_cpu"), "torch CPU generator"),
    (lambda t: t.update({"rng/torch_cpu": torch.zeros(3)}), "torch CPU generator"),
    (lambda t: t.pop("optim/0/exp_avg"), "optimizer tensors"),
    (lambda t: t.update({"optim/0/exp_avg": torch.zeros(2, dtype=torch.int64)}),
     "not floating point"),
])
def test_bad_tensors_warn_and_are_ignored(tmp_path, edit, match):
    folder = _saved(tmp_path)
    _rewrite(folder, edit_tensors=edit)
    _load_warns(folder, match)


def test_extra_rejected_by_the_loop_is_damage(tmp_path):
    folder = _saved(tmp_path)

    def check(extra):
        if not isinstance(extra.get("no_improve"), int) or extra["no_improve"] > 0:
            raise ValueError(f"no_improve={extra.get('no_improve')!r}")

    assert load_state(folder, FP, check_extra=check) is not None
    _rewrite(folder, edit_doc=lambda d: d["extra"].update(no_improve=1))  # <= the epoch
    _load_warns(folder, "no_improve=1", check_extra=check)


def test_links_and_folders_are_not_read(tmp_path):
    folder = _saved(tmp_path)
    target = tmp_path / "elsewhere.safetensors"
    os.replace(folder / FILE_NAME, target)
    os.symlink(target, folder / FILE_NAME)
    _load_warns(folder, "regular file")
    os.remove(folder / FILE_NAME)
    os.mkdir(folder / FILE_NAME)
    _load_warns(folder, "regular file")


def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.update({"model/0.weight": torch.zeros(16, 9)}), r"shape \(16, 9\)"),
    (lambda t: t.update({"model/0.bias": torch.zeros(16, dtype=torch.float64)}), "dtype"),
    (lambda t: t.update({"model/extra.weight": torch.zeros(1)}), "unexpected"),
    (lambda t: t.update({"optim/0/exp_avg": torch.zeros(3, 3)}), r"shape \(3, 3\)"),
])
def test_wrong_shapes_warn_and_change_nothing(tmp_path, edit, match):
    folder = _saved(tmp_path)
    _rewrite(folder, edit_tensors=edit)
    state = load_state(folder, FP)  # sound on its own; wrong only for this model
    model, optimizer, scheduler = _build(False)
    before, rng_before = _params(model), torch.get_rng_state()
    with pytest.warns(SkbertWarning, match=match):
        assert restore(state, model=model, optimizer=optimizer, scheduler=scheduler) is None
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert optimizer.state_dict()["state"] == {}
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_other_optimizer_layout_or_scheduler_warns(tmp_path):
    folder = _saved(tmp_path)
    model, _, scheduler = _build(False)
    one_group = torch.optim.AdamW(model.parameters(), lr=1e-2)
    with pytest.warns(SkbertWarning, match="parameter groups"):
        assert restore(load_state(folder, FP), model=model, optimizer=one_group,
                       scheduler=scheduler) is None
    model, optimizer, _ = _build(False)
    with pytest.warns(SkbertWarning, match="uses no scheduler"):
        assert restore(load_state(folder, FP), model=model, optimizer=optimizer,
                       scheduler=None) is None
    _rewrite(folder, edit_doc=lambda d: d["optimizer"]["param_groups"][0].update(
        lr=0.5, initial_lr=0.5))  # sound on its own, but not this fit's learning rate
    with pytest.warns(SkbertWarning, match=r"initial_lr'\]=0.5; this fit's optimizer has 0.01"):
        assert restore(load_state(folder, FP), model=model, optimizer=optimizer,
                       scheduler=_build(False)[2]) is None
    _rewrite(folder, edit_doc=lambda d: d["optimizer"]["param_groups"][0].update(lr="0.1"))
    _load_warns(folder, r"param_groups\[0\]\['lr'\]='0.1'")


# ------------------------------------------------------------------ pickle
class _Boom:
    def __reduce__(self):
        return (Path.write_text, (Path(os.environ["SKBERT_TEST_MARKER"]), "pwned"))


def test_planted_pickle_never_loads(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("SKBERT_TEST_MARKER", str(marker))
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / FILE_NAME).write_bytes(pickle.dumps({"model": _Boom()}))
    _load_warns(folder, "header|bytes long")
    assert not marker.exists()


def test_module_has_no_pickle_or_torch_load():
    tree = ast.parse(Path(_checkpoint.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Attribute):
            assert node.attr not in {"load", "loads"} or not (
                isinstance(node.value, ast.Name) and node.value.id in {"torch", "pickle"})
    assert not imported & {"pickle", "cloudpickle", "dill", "joblib", "marshal", "shelve"}


# --------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_generator_state_is_saved_and_restored(tmp_path):
    model, optimizer, scheduler = _build(True)
    model.cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    with torch.random.fork_rng(devices=[0]):
        torch.cuda.manual_seed(3)
        model(torch.randn(4, D, device="cuda")).sum().backward()
        optimizer.step()
        save_state(tmp_path, FP, epoch=1, model=model, optimizer=optimizer,
                   scheduler=scheduler, np_rng=np.random.default_rng(0), history=[{}])
        expected = torch.rand(4, device="cuda")
        torch.cuda.manual_seed(0)
        state = load_state(tmp_path, FP)
        assert sorted(state.cuda_rng_states) == [0]
        assert restore(state, model=model, optimizer=optimizer, scheduler=scheduler)
        assert torch.equal(torch.rand(4, device="cuda"), expected)
        assert optimizer.state[next(iter(model.parameters()))]["exp_avg"].is_cuda


def test_each_tensor_is_brought_to_the_cpu_once(tmp_path, monkeypatch):
    """Its digest and its bytes in the file come from one copy (from a GPU: one transfer
    per tensor, not two); the file reads back as before."""
    model, optimizer, scheduler = _build(False)
    extra = {"logits": torch.randn(6, L), "empty": torch.zeros(0, 4),
             "transposed": torch.arange(12.0).reshape(3, 4).t()}
    moves = []
    cpu, to = torch.Tensor.cpu, torch.Tensor.to

    def counted_cpu(self, *args, **kwargs):
        moves.append(tuple(self.shape))
        return cpu(self, *args, **kwargs)

    def counted_to(self, *args, **kwargs):
        target = args[0] if args else kwargs.get("device")
        if isinstance(target, (str, torch.device)) and torch.device(target).type == "cpu":
            moves.append(tuple(self.shape))
        return to(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(torch.Tensor, "cpu", counted_cpu)
        m.setattr(torch.Tensor, "to", counted_to)
        save_state(tmp_path, FP, epoch=1, model=model, optimizer=optimizer,
                   scheduler=scheduler, np_rng=np.random.default_rng(0), history=[{}],
                   extra_tensors=extra)
    written = load_file(tmp_path / FILE_NAME)
    assert len(moves) == len(written)
    state = load_state(tmp_path, FP)
    assert all(torch.equal(state.extra_tensors[k], v) for k, v in extra.items())
