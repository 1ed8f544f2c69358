"""One writability test (issue 21): ``_persistence.probe_writable`` serves the fit cache,
``checkpoint_dir`` and the CLI's output checks (``_cli_paths.check_writable``)."""

from __future__ import annotations

import os

import pytest

from skbert import _cache, _cli_paths, _persistence


def test_one_probe_serves_the_cache_and_the_cli(tmp_path, monkeypatch):
    seen = []

    def read_only(folder, *, create=False):
        seen.append((folder, create))
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(_cache, "probe_writable", read_only)
    monkeypatch.setattr(_persistence, "probe_writable", read_only)
    with pytest.raises(ValueError, match="fit_cache=.*Read-only file system"):
        _cache.check_writable(str(tmp_path / "fits"))
    with pytest.raises(PermissionError, match=r"--out .*cannot be written: creating a folder in "
                                              r".*\(Read-only file system\)"):
        _cli_paths.check_writable(str(tmp_path / "a" / "model"), "--out", "model")
    assert seen == [(str(tmp_path / "fits"), True), (str(tmp_path), False)]


def test_the_probe_creates_a_folder_and_a_file_and_leaves_nothing(tmp_path, monkeypatch):
    real_open = os.open
    created = []

    def spy(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            created.append(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    _cli_paths.check_writable(str(tmp_path / "model"), "--out", "model")
    assert created and list(tmp_path.iterdir()) == []


def test_a_folder_refusing_files_fails_the_cli_check(tmp_path, monkeypatch):
    """A folder where sub-folders can be made but no file can be written is refused."""
    real_open = os.open

    def no_files(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise OSError(28, "No space left on device", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_files)
    with pytest.raises(PermissionError, match="No space left on device"):
        _cli_paths.check_writable(str(tmp_path / "model"), "--out", "model")
    assert list(tmp_path.iterdir()) == []


def test_clear_fit_cache_removes_a_probe_cut_short(tmp_path):
    leftover = tmp_path / (_persistence.PROBE_PREFIX + "abc")
    leftover.mkdir()
    (leftover / "probe").write_bytes(b"skbert")
    (tmp_path / "mine").mkdir()
    _cache.clear_fit_cache(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
