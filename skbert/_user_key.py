"""This user's secret key: what skbert signs its own files with, where another user could
plant a look-alike.

One key per user, made on first use (32 random bytes in ``$XDG_CACHE_HOME/skbert/onnx-key``,
mode ``0o600``; the name is that of its first use, the ONNX exports). Its uses, each with its
own prefix in the signed message: the ONNX exports a folder may hold
(:mod:`skbert._export_onnx`), and the marker an interrupted ``save_pretrained`` leaves
(:mod:`skbert._persistence`). A file signed with it was written by skbert for this user;
anything else in a folder may come from a stranger.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat

from ._safe_io import DamagedFile, atomic_writer, read_regular_file

#: Where this user's key lives, under ``$XDG_CACHE_HOME`` (else ``~/.cache``).
KEY_FILE = os.path.join("skbert", "onnx-key")
_KEY_BYTES = 32


def key_path() -> str:
    """This user's ONNX key file: ``$XDG_CACHE_HOME/skbert/onnx-key``.

    ``XDG_CACHE_HOME`` is used where it is an absolute path (the XDG rule),
    else ``~/.cache``.
    """
    return os.path.join(_cache_home(), KEY_FILE)


def _cache_home() -> str:
    base = os.environ.get("XDG_CACHE_HOME", "")
    return base if os.path.isabs(base) else os.path.join(os.path.expanduser("~"), ".cache")


def _read_key(path: str) -> bytes:
    """The key in ``path``: a regular file (never a link) of 32 bytes, this user's and private.

    Raises
    ------
    FileNotFoundError
        If there is none yet.
    ValueError
        If it is a link, not a regular file, unreadable, of another size, owned by
        another user, or readable or writable by others.
    """
    try:
        data, ident = read_regular_file(path, max_bytes=4 * _KEY_BYTES)
        info = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        raise
    except (OSError, DamagedFile) as exc:
        raise ValueError(str(exc)) from None
    if (info.st_dev, info.st_ino) != ident[:2]:
        raise ValueError("it was replaced while it was read")
    if len(data) != _KEY_BYTES:
        raise ValueError(f"it holds {len(data)} bytes, not {_KEY_BYTES}")
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise ValueError(f"it belongs to user id {info.st_uid}, not to this user")
    if os.name == "posix" and stat.S_IMODE(info.st_mode) & 0o077:
        raise ValueError(f"its mode is {stat.S_IMODE(info.st_mode):#o}: others may read or "
                         "write it (skbert makes it 0o600)")
    return data


def user_key() -> tuple[bytes | None, str]:
    """This user's secret ONNX key, made on first use; ``(None, why)`` where it cannot be used.

    The key (``secrets.token_bytes(32)``) is written once to :func:`key_path`
    through :mod:`skbert._safe_io` (never through a link), private to the user
    (mode ``0o600``, set before any byte of it is written). A key file that is
    a link, not a regular file, of the wrong size, another user's or readable
    by others is not used (and not replaced): every export is then made again.
    """
    path = key_path()
    try:
        return _read_key(path), ""
    except FileNotFoundError:
        pass
    except ValueError as exc:
        return None, (f"this user's ONNX key {path} cannot be used ({exc}); delete it and skbert "
                      "makes a new one")
    try:
        with atomic_writer(path, root=_cache_home(), private=True) as fh:
            fh.write(secrets.token_bytes(_KEY_BYTES))
        return _read_key(path), ""  # read back: another process may have written it first
    except (OSError, ValueError) as exc:
        return None, f"this user's ONNX key {path} cannot be made ({exc})"




def signature(purpose: str, *parts: str) -> str | None:
    """HMAC-SHA256 (hex) of ``parts`` for ``purpose`` under this user's key; None without one.

    Parameters
    ----------
    purpose : str
        What is signed (``"skbert-save-1"``): a signature for one purpose never
        verifies for another.
    *parts : str
        The signed values, joined with NUL (none may hold NUL).

    Returns
    -------
    str or None
        64 hex digits, or None where this user's key cannot be made or read
        (:func:`user_key`).
    """
    key, _ = user_key()
    return None if key is None else keyed_signature(key, purpose, *parts)


def keyed_signature(key: bytes, purpose: str, *parts: str) -> str:
    """:func:`signature` under ``key`` (read once by a caller that signs several times):
    the one HMAC-SHA256 skbert signs with, of ``purpose`` and ``parts`` joined with NUL."""
    message = "\0".join((purpose, *parts)).encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verifies(mac, purpose: str, *parts: str) -> bool:
    """Whether ``mac`` is :func:`signature` of ``parts`` for ``purpose`` (in constant time)."""
    want = signature(purpose, *parts)
    return isinstance(mac, str) and want is not None and hmac.compare_digest(want, mac)
