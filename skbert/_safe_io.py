"""Reading skbert's own safetensors files (fit-cache entries, training states) as data only.

Both files may sit in folders other people can write. They are read as plain
bytes (never followed through a link, never a FIFO or device), their header
is parsed and bounded by hand, and the JSON document skbert stored in the
metadata is handed back for the caller to validate field by field. Nothing
here unpickles or imports anything.
"""

from __future__ import annotations

import json
import os
import stat

#: safetensors' own limit on the JSON header.
MAX_HEADER = 100_000_000


class DamagedFile(Exception):
    """A file that cannot be used; the message says why (it reads after "the file ...")."""


def need(ok: bool, what: str) -> None:
    """Raise :class:`DamagedFile` saying the file has ``what`` unless ``ok``."""
    if not ok:
        raise DamagedFile(f"has {what}")


def is_int(x) -> bool:
    """An int that is not a bool."""
    return isinstance(x, int) and not isinstance(x, bool)


def is_number(x) -> bool:
    """An int or float that is not a bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def read_regular_file(path: str) -> tuple[bytes, tuple]:
    """The bytes of ``path`` and its identity (device, inode, size, mtime).

    ``O_NOFOLLOW`` and ``O_NONBLOCK`` keep a planted symlink (to ``/dev/zero``,
    say) or FIFO from being read forever or blocking the caller.

    Raises
    ------
    FileNotFoundError
        If there is no file (a plain miss).
    DamagedFile
        If it is a link, a folder, a FIFO, a device, or cannot be read.
    """
    flags = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:  # ELOOP for a symlink, EISDIR, ENOTDIR, EACCES, ...
        raise DamagedFile(f"cannot be opened as a regular file ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DamagedFile("is not a regular file")
        chunks, left = [], info.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise DamagedFile(f"cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)
    return b"".join(chunks), (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def metadata_document(data: bytes, key: str, what: str):
    """The JSON document stored under ``key`` in a safetensors file's metadata.

    Parameters
    ----------
    data : bytes
        The whole file.
    key : str
        The metadata key skbert wrote.
    what : str
        What the file should be, for the message ("an skbert fit").

    Raises
    ------
    DamagedFile
        If the header is truncated, oversized or not JSON, the key is
        missing, or its value is not JSON.
    """
    if len(data) < 8:
        raise DamagedFile(f"is {len(data)} bytes long, shorter than a safetensors header")
    n = int.from_bytes(data[:8], "little")
    if n > min(len(data) - 8, MAX_HEADER):
        raise DamagedFile(f"declares a {n}-byte header in a {len(data)}-byte file (truncated?)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DamagedFile(f"has an unreadable safetensors header ({exc})") from exc
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    text = metadata.get(key) if isinstance(metadata, dict) else None
    if not isinstance(text, str):
        raise DamagedFile(f"has no {key!r} metadata, so it is not {what}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise DamagedFile(f"has metadata that is not JSON ({exc})") from exc


def load_tensors(data: bytes) -> dict:
    """The tensors of a safetensors file's bytes; :class:`DamagedFile` if unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise DamagedFile(f"has unreadable tensors ({exc})") from exc
