"""The one file layer (skbert._safe_io): atomic, never through a link, one mode policy,
clean on Ctrl-C."""

import os
import stat

import pytest

from skbert import _safe_io as sio


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_write_bytes_is_atomic_and_takes_the_mode_policy(tmp_path):
    old = os.umask(0o022)
    try:
        p = sio.write_bytes(tmp_path / "a.bin", b"abc")
    finally:
        os.umask(old)
    assert open(p, "rb").read() == b"abc"
    assert _mode(p) == 0o644  # not mkstemp's 0o600
    assert [f for f in os.listdir(tmp_path) if sio.TMP_TAG in f] == []


def test_existing_link_at_target_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "out").mkdir()
    os.symlink(victim, tmp_path / "out" / "file.json")
    sio.write_json(tmp_path / "out" / "file.json", {"a": 1}, root=tmp_path / "out")
    assert victim.read_bytes() == b"keep"
    assert not os.path.islink(tmp_path / "out" / "file.json")
    assert sio.read_json(tmp_path / "out" / "file.json") == {"a": 1}


def test_planted_links_at_temporary_names_are_never_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    folder = tmp_path / "f"
    folder.mkdir()
    # predictable temporary names cannot be planted: a name collision fails O_EXCL instead
    monkeypatch.setattr(sio.secrets, "token_hex", lambda n: "0" * (2 * n))
    os.symlink(victim, folder / f".x.{'0' * 12}{sio.TMP_TAG}")
    with pytest.raises(FileExistsError):
        sio.write_bytes(folder / "x", b"attack")
    assert victim.read_bytes() == b"keep"


def test_link_between_root_and_file_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "model"
    root.mkdir()
    os.symlink(elsewhere, root / "onnx")
    with pytest.raises(sio.UnsafePath, match="is a link"):
        sio.write_bytes(root / "onnx" / "model.onnx", b"x", root=root)
    assert os.listdir(elsewhere) == []


def test_path_outside_root_is_refused(tmp_path):
    with pytest.raises(sio.UnsafePath, match="not inside"):
        sio.write_bytes(tmp_path / "b" / "x", b"x", root=tmp_path / "a")


def test_folder_at_target_is_an_error(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        sio.write_bytes(tmp_path / "d", b"x")


def test_interrupt_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with sio.atomic_writer(target, text=True) as fh:
            fh.write("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["t.txt"]


def test_make_folders_refuses_a_linked_component(tmp_path):
    os.symlink(tmp_path, tmp_path / "loop")
    with pytest.raises(sio.UnsafePath):
        sio.make_folders(tmp_path / "loop" / "a", root=tmp_path)
    assert sio.make_folders(tmp_path / "ok" / "a", root=tmp_path)
    assert os.path.isdir(tmp_path / "ok" / "a")


def test_staging_folder_publishes_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "m"
    with sio.staging_folder(target) as tmp:
        open(os.path.join(tmp, "f"), "w").write("1")
    assert (target / "f").read_text() == "1"
    with pytest.raises(FileExistsError, match="not empty"):
        with sio.staging_folder(target):
            pass
    with pytest.raises(FileExistsError, match="not ours"):
        with sio.staging_folder(target, replace=True, may_replace=lambda t: "not ours"):
            pass
    with pytest.raises(KeyboardInterrupt):
        with sio.staging_folder(target, replace=True) as tmp:
            open(os.path.join(tmp, "f"), "w").write("2")
            raise KeyboardInterrupt
    assert (target / "f").read_text() == "1"
    with sio.staging_folder(target, replace=True) as tmp:
        open(os.path.join(tmp, "g"), "w").write("2")
    assert sorted(os.listdir(target)) == ["g"]
    assert sorted(os.listdir(tmp_path)) == ["m"]
    assert _mode(target) == sio.folder_mode()


def test_staging_folder_refuses_a_link_target(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "ln")
    with pytest.raises(sio.UnsafePath):
        with sio.staging_folder(tmp_path / "ln"):
            pass


def test_read_json_takes_a_byte_order_mark_and_refuses_links_and_junk(tmp_path):
    p = tmp_path / "c.json"
    p.write_bytes(b"\xef\xbb\xbf{\"a\": 2}")
    assert sio.read_json(p) == {"a": 2}
    os.symlink(p, tmp_path / "l.json")
    with pytest.raises(sio.DamagedFile):
        sio.read_json(tmp_path / "l.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(sio.DamagedFile, match="not valid JSON"):
        sio.read_json(tmp_path / "deep.json")


def test_read_json_refuses_a_key_given_twice(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('{"threshold": 0.5, "threshold": 0.01}')
    with pytest.raises(sio.DamagedFile, match="'threshold' appears twice"):
        sio.read_json(p)


def test_read_json_refuses_an_oversized_file_before_reading_it(tmp_path, monkeypatch):
    p = tmp_path / "big.json"
    with open(p, "wb") as fh:  # sparse: 1.5 GB that takes no disk
        fh.truncate(1_500_000_000)
    reads = []
    real = sio.read_upto
    monkeypatch.setattr(sio, "read_upto", lambda fd, n: reads.append(n) or real(fd, n))
    with pytest.raises(sio.DamagedFile, match="more than the 50000000 allowed for a config"):
        sio.read_json(p, what="config")
    assert reads == []  # refused from its size, nothing read


def test_a_private_file_is_never_readable_by_others(tmp_path):
    old = os.umask(0o000)
    try:
        modes = []
        with sio.atomic_writer(tmp_path / "key", private=True) as fh:
            modes.append(_mode(os.path.join(tmp_path, next(
                f for f in os.listdir(tmp_path) if sio.TMP_TAG in f))))
            fh.write(b"secret")
    finally:
        os.umask(old)
    assert modes == [0o600] and _mode(tmp_path / "key") == 0o600


def test_staging_folder_keep_sets_the_work_aside_when_refused_at_the_rename(tmp_path):
    """A target filled during the block keeps its files, and keep=True keeps the work too."""
    target = tmp_path / "m"
    with pytest.raises(sio.KeptAside) as info:
        with sio.staging_folder(target, keep=True) as tmp:
            open(os.path.join(tmp, "f"), "w").write("mine")
            target.mkdir()
            (target / "theirs.txt").write_text("theirs")
    assert sorted(os.listdir(target)) == ["theirs.txt"]
    kept = info.value.kept
    assert kept in str(info.value) and os.path.dirname(kept) == str(tmp_path)
    assert open(os.path.join(kept, "f")).read() == "mine"
    assert _mode(kept) == sio.folder_mode()
    with pytest.raises(FileExistsError) as info:  # refused before the block: nothing kept
        with sio.staging_folder(target, keep=True):
            pass
    assert not isinstance(info.value, sio.KeptAside)


def test_remove_file_never_follows_a_link(tmp_path):
    """Only a regular file (or, with links=True, the link itself) is removed; never through
    a link."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_text("theirs")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(real, root / "sub")
    with pytest.raises(sio.UnsafePath):
        sio.remove_file(root / "sub" / "f", root=root)
    assert (real / "f").read_text() == "theirs"
    os.symlink(real / "f", root / "ln")
    assert sio.remove_file(root / "ln") is False and os.path.islink(root / "ln")
    assert sio.remove_file(root / "ln", links=True) is True
    assert not os.path.lexists(root / "ln") and (real / "f").read_text() == "theirs"
    (root / "mine").write_text("x")
    assert sio.remove_file(root / "mine", root=root) is True and not (root / "mine").exists()
    assert sio.remove_file(root / "missing", root=root) is False
    assert sio.remove_file(root / "nowhere" / "f", root=root) is False
    (root / "plain").write_text("a file where a folder could be")
    assert sio.remove_file(root / "plain" / "f", root=root) is False
    assert (root / "plain").is_file()
    os.mkfifo(root / "fifo")
    assert sio.remove_file(root / "fifo") is False and os.path.lexists(root / "fifo")


def test_file_sha256_hashes_regular_files_only(tmp_path):
    import hashlib

    p = tmp_path / "w"
    p.write_bytes(b"x" * (3 << 20))
    assert sio.file_sha256(str(p)) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
    os.symlink(p, tmp_path / "ln")
    os.mkfifo(tmp_path / "fifo")
    for bad in ("ln", "fifo"):
        with pytest.raises(sio.DamagedFile):
            sio.file_sha256(str(tmp_path / bad))
    with pytest.raises(FileNotFoundError):
        sio.file_sha256(str(tmp_path / "missing"))
