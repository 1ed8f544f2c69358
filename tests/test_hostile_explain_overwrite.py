"""explain's ``_check_overwrite`` reads an existing page through ``_safe_io`` (issue 21 item 5):
a regular file only, never through a link, never blocking on a FIFO, at most 4 KiB."""

from __future__ import annotations

import os
import threading

import pytest

from skbert import _explain

MARK = _explain._HTML_MARK


def check(path):
    _explain._check_overwrite(path, False, MARK, "page")


def test_item05_a_page_skbert_wrote_may_be_replaced(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(f"<html>{MARK}</html>")
    check(page)
    check(tmp_path / "missing.html")


def test_item05_a_file_of_the_user_is_kept(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html>my notes</html>")
    with pytest.raises(FileExistsError, match="not a page that skbert explain.*overwrite=True"):
        check(page)
    _explain._check_overwrite(page, True, MARK, "page")  # asked to replace it


def test_item05_a_link_to_a_skbert_page_is_refused(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(f"<html>{MARK}</html>")
    link = tmp_path / "link.html"
    link.symlink_to(page)
    with pytest.raises(FileExistsError, match="not a page that skbert explain wrote"):
        check(link)
    dangling = tmp_path / "dangling.html"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        check(dangling)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_item05_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "page.html"
    os.mkfifo(fifo)
    outcome = []

    def run():
        try:
            check(fifo)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert outcome, "the check blocked on a FIFO"
    assert isinstance(outcome[0], FileExistsError)


def test_item05_a_folder_is_refused(tmp_path):
    (tmp_path / "page.html").mkdir()
    with pytest.raises(FileExistsError):
        check(tmp_path / "page.html")


def test_item05_only_the_head_is_read(tmp_path, monkeypatch):
    page = tmp_path / "page.html"
    page.write_bytes(b" " * 5000 + MARK.encode())  # the mark after the first 4 KiB
    with pytest.raises(FileExistsError):
        check(page)
    page.write_bytes(MARK.encode() + b" " * (1 << 20))
    read = []
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: read.append(n) or real(fd, n))
    check(page)
    assert sum(read) <= 4096
