"""The one file layer: reading skbert's files as data only, and every write skbert makes.

Both files may sit in folders other people can write. They are read as plain
bytes (never followed through a link, never a FIFO or device), their header
is parsed and bounded by hand, and the JSON document skbert stored in the
metadata is handed back for the caller to validate field by field. Nothing
here unpickles or imports anything.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import stat

#: safetensors' own limit on the JSON header.
MAX_HEADER = 100_000_000


#: Every character :func:`skbert._validation.unsafe_char` refuses, as one class: the C0
#: and C1 controls and DEL, the line and paragraph separators, the lone surrogates and the
#: bidi embeddings, overrides and isolates.
UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                          "\ud800-\udfff]")


def terminal_safe(cell: str) -> str:
    r"""``cell`` with each character a terminal would act on shown as its code point.

    For CSV written to a terminal only: CSV has no escapes, so a file or a pipe
    gets the text exactly as read.

    Examples
    --------
    >>> terminal_safe("\x1b]0;title\x07 hi")
    'U+001B]0;titleU+0007 hi'
    """
    return UNSAFE_CHARS.sub(  # tab and newline lay a cell out; they change no screen
        lambda m: m.group() if m.group() in "\t\n" else f"U+{ord(m.group()):04X}", cell)


def shown(text, most: int = 200) -> str:
    r"""``text`` (or an exception's message) on one line for a message: at most ``most``
    characters, each a terminal would act on as its code point (:func:`terminal_safe`).

    >>> shown("bad\x1b[31m value\n here")
    'badU+001B[31m value here'
    """
    return terminal_safe(" ".join(str(text).split()))[:most]


class DamagedFile(Exception):
    """A file that cannot be used; the message says why (it reads after "the file ...")."""


def need(ok: bool, what: str) -> None:
    """Raise :class:`DamagedFile` saying the file has ``what`` unless ``ok``."""
    if not ok:
        raise DamagedFile(f"has {what}")


def is_int(x) -> bool:
    """An int that is not a bool."""
    return isinstance(x, int) and not isinstance(x, bool)


def is_sha256(x) -> bool:
    """A SHA-256 digest as skbert writes one: a str of 64 lowercase hex digits.

    Examples
    --------
    >>> is_sha256("0" * 64), is_sha256("0" * 63), is_sha256("A" * 64), is_sha256(None)
    (True, False, False, False)
    """
    return isinstance(x, str) and len(x) == 64 and re.fullmatch(r"[0-9a-f]{64}", x) is not None


def is_number(x) -> bool:
    """An int or float that is not a bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def read_regular_file(path: str, max_bytes: int | None = None) -> tuple[bytes, tuple]:
    """The bytes of ``path`` and its identity (device, inode, size, mtime).

    ``O_NOFOLLOW`` and ``O_NONBLOCK`` keep a planted symlink (to ``/dev/zero``,
    say) or FIFO from being read forever or blocking the caller. With
    ``max_bytes``, a larger file is refused from its size, before any of it
    is read into memory.

    Raises
    ------
    FileNotFoundError
        If there is no file (a plain miss).
    DamagedFile
        If it is a link, a folder, a FIFO, a device, or cannot be read.
    """
    fd, info = open_regular(path)
    try:
        if max_bytes is not None and info.st_size > max_bytes:
            raise DamagedFile(f"is {info.st_size} bytes, more than the {max_bytes} allowed")
        data = read_upto(fd, info.st_size)
    except OSError as exc:
        raise DamagedFile(f"cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)
    return data, (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


class TooLarge(DamagedFile):
    """A file whose contents would not fit in the memory free now: skipped, not damaged."""


def memory_available() -> int | None:
    """Bytes of memory free for a new allocation now (Linux ``MemAvailable``), or None."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def check_safetensors_extent(path: str) -> tuple:
    """Check from its header alone that the safetensors file ``path`` is whole and fits in memory.

    Reads the header only (:func:`safetensors_header`), never the tensors. A file whose size
    is not exactly what its header describes (a sparse or padded file planted
    to exhaust memory, a truncated copy) is :class:`DamagedFile`; one whose
    tensors would need more memory than is free now is :class:`TooLarge`.

    Returns
    -------
    tuple
        The file's identity (device, inode, size, mtime), as
        :func:`read_regular_file` gives it.

    Raises
    ------
    FileNotFoundError
        If there is no file.
    DamagedFile
        As :func:`read_regular_file`, and as above.
    """
    fd, info = open_regular(path)
    identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    try:
        _check_extent(fd, info)
    except OSError as exc:  # not read: nothing to judge it by
        raise DamagedFile(f"cannot be read ({exc.strerror or exc})") from exc
    except DamagedFile as exc:
        if not isinstance(exc, TooLarge):
            exc.identity = identity  # read and refused: the caller may remove it
        raise
    finally:
        os.close(fd)
    return identity


def _check_extent(fd: int, info: os.stat_result) -> None:
    """The checks of :func:`check_safetensors_extent` on an open file (OSError passes)."""
    n, header = safetensors_header(lambda k: read_upto(fd, k), info.st_size)
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(x) is int and x >= 0 for x in offsets)):
            raise DamagedFile(f"has unreadable tensors ({name!r:.80} has no valid "
                              "data_offsets)")
        end = max(end, offsets[1])
    if info.st_size != 8 + n + end:
        raise DamagedFile(f"is {info.st_size} bytes, but its header describes "
                          f"{8 + n + end}: unreadable tensors (a truncated, padded or "
                          "sparse copy)")
    free = memory_available()
    # reading takes the file's bytes and the tensors built from them, and more: measured
    # 2.4 times the tensors' bytes at the peak
    if free is not None and 3 * end > free:
        raise TooLarge(f"holds {end / 2**30:.1f} GiB of tensors, which reading needs about "
                       f"three times of, more than the {free / 2**30:.1f} GiB of memory free now")


def open_regular(path: str) -> tuple[int, os.stat_result]:
    """A read descriptor of the regular file ``path`` (never a link, FIFO or device), and its stat.

    Raises FileNotFoundError for a plain miss, :class:`DamagedFile` otherwise.
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
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def file_sha256(path: str) -> str:
    """The sha256 of the regular file ``path``, read in 1 MiB blocks (weights can be large).

    Refuses what :func:`read_regular_file` refuses; an ``OSError`` while
    reading is :class:`DamagedFile`.
    """
    fd, _ = open_regular(path)
    digest = hashlib.sha256()
    try:
        for block in iter(lambda: os.read(fd, 1 << 20), b""):
            digest.update(block)
    except OSError as exc:
        raise DamagedFile(f"cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)
    return digest.hexdigest()


def read_upto(fd: int, n: int) -> bytes:
    """Up to ``n`` bytes from ``fd`` (fewer if the file ends first), read in 16 MiB steps."""
    chunks, left = [], n
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def safetensors_header(read, size: int) -> tuple[int, dict]:
    """The header of a safetensors file of ``size`` bytes: its length and the JSON object.

    ``read(k)`` gives the next ``k`` bytes (of an open file, or of bytes in
    memory); only the 8-byte length and the header (at most
    :data:`MAX_HEADER` bytes) are read, never the tensors.

    Raises
    ------
    DamagedFile
        If the file is shorter than a header, declares a header longer than
        the file or :data:`MAX_HEADER`, or its header is not a JSON object.
    """
    head = read(8)
    if len(head) < 8:
        raise DamagedFile(f"is {size} bytes long, shorter than a safetensors header")
    n = int.from_bytes(head, "little")
    if n > min(size - 8, MAX_HEADER):
        raise DamagedFile(f"declares a {n}-byte header in a {size}-byte file (truncated?)")
    try:
        header = json.loads(read(n).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DamagedFile(f"has an unreadable safetensors header ({exc})") from exc
    if not isinstance(header, dict):
        raise DamagedFile(f"has a safetensors header that is {type(header).__name__}, not an "
                          "object")
    return n, header


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
    _, header = safetensors_header(io.BytesIO(data).read, len(data))
    metadata = header.get("__metadata__")
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


def tensors_sha256(tensors: dict) -> str:
    """The SHA-256 of named tensors: every tensor's name, dtype, shape and bytes, by name.

    What a fit-cache entry and a training state record of their tensors, and
    what reading them checks. It guards against accidents (a flipped bit, a
    truncated or partly overwritten copy, an edit), not tampering: anyone who
    can write the file can compute it.

    Parameters
    ----------
    tensors : dict of str to torch.Tensor
        Tensors on any device (each is copied to the CPU in turn).

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        update_tensors_sha256(digest, name, tensors[name])
    return digest.hexdigest()


def update_tensors_sha256(digest, name: str, tensor):
    """Add one named tensor to a :func:`tensors_sha256` digest, copying it to the CPU once.

    Feeding a fresh ``hashlib.sha256()`` the tensors in sorted name order gives
    :func:`tensors_sha256`; a writer that also needs the bytes (a training
    state, written tensor by tensor) gets them back, so a tensor on a GPU is
    copied to the CPU once for both.

    Parameters
    ----------
    digest : hashlib sha256 object
    name : str
    tensor : torch.Tensor
        On any device.

    Returns
    -------
    numpy.ndarray
        The tensor's bytes on the CPU: a flat ``uint8`` array.
    """
    import torch

    t = tensor.detach()
    head = json.dumps([name, str(t.dtype), list(t.shape)]).encode("utf-8")
    digest.update(len(head).to_bytes(8, "little") + head)
    raw = t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
    digest.update(raw.size.to_bytes(8, "little"))
    digest.update(raw.data)
    return raw


def document_sha256(doc: dict, tag: str, leave_out: str) -> str:
    """The SHA-256 of a metadata document less its own digest field ``leave_out``.

    Taken over the canonical JSON of the parsed document (sorted keys, no
    spaces, ASCII), so it depends on the values, not on how the text spells
    them; ``tag`` (a line of its own) keeps one kind of file's digest from
    matching another's. The document records :func:`tensors_sha256`, so this
    digest covers the whole file. Like it, a guard against accidents only.

    Examples
    --------
    >>> a = document_sha256({"x": 1, "own": "?"}, "demo", "own")
    >>> a == document_sha256({"own": "other", "x": 1}, "demo", "own"), len(a)
    (True, 64)
    """
    rest = {k: v for k, v in doc.items() if k != leave_out}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(tag.encode("ascii") + b"\n" + text.encode("ascii")).hexdigest()


# ------------------------------------------------------------------ writing
# The one writer of the package. Every file skbert writes (model folders,
# ONNX exports and their metadata, fit-cache entries, training states, CLI
# outputs) goes through :func:`atomic_writer` or :func:`staging_folder`:
#
# * atomic: the bytes go to a fresh temporary sibling that is renamed over the
#   target only when complete (and fsynced), so a reader never sees half a file
#   (``replace=False``: linked to the target's name only while it is still free);
# * never through a link: the temporary file is created with ``O_EXCL |
#   O_NOFOLLOW`` in a folder opened with ``O_NOFOLLOW``, every folder between
#   ``root`` and the file is checked the same way, and the rename replaces a
#   link at the target instead of writing where it points;
# * one mode policy: files ``0o666``, folders ``0o777``, both less the umask
#   (what ``open`` and ``mkdir`` give), never the ``0o600`` of ``mkstemp``;
# * clean on Ctrl-C: any exception, KeyboardInterrupt included, removes the
#   temporary file or folder and leaves the target as it was.

TMP_TAG = ".skbert-tmp"
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_NEW_FILE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                   | getattr(os, "O_BINARY", 0))


class UnsafePath(OSError):
    """A path skbert refuses to write through (a link, or a non-folder where a folder must be)."""


class TargetExists(FileExistsError):
    """:func:`atomic_writer` with ``replace=False`` found something at its target; it is kept.

    ``path`` is the target. A caller says how to get it replaced in its own
    words (``--overwrite`` on the command line).
    """

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


#: ``link`` errors that mean the file system has no hard links (FAT, some network and
#: FUSE file systems, sandboxes), not that the target exists.
_NO_HARD_LINKS = frozenset(getattr(errno, name) for name in (
    "EPERM", "EACCES", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK", "EXDEV")
    if hasattr(errno, name))


def umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # pragma: no cover - systems without /proc
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode of every file skbert creates: ``0o666`` less the umask."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    """The mode of every folder skbert creates: ``0o777`` less the umask."""
    return 0o777 & ~umask()


def _open_folder(path: str, root: str | None, create: bool) -> int:
    """A descriptor of folder ``path``, reached from ``root`` without following links.

    ``root`` itself (a folder the caller chose) may be a link; no component
    below it may be. Missing components are created when ``create``.
    """
    path = os.path.abspath(os.fspath(path))
    if root is None:
        root = path
    root = os.path.abspath(os.fspath(root))
    rel = os.path.relpath(path, root)
    if rel == os.curdir:
        parts = []
    elif rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise UnsafePath(f"{path!r} is not inside {root!r}")
    else:
        parts = rel.split(os.sep)
    if create:
        os.makedirs(root, mode=0o777, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for i, part in enumerate(parts):
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                where = os.path.join(root, *parts[:i + 1])
                if os.path.islink(where):
                    raise UnsafePath(f"{where!r} is a link; skbert does not write through "
                                     "links. Remove it or choose another folder.") from exc
                raise
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_file(path, *, root=None, links: bool = False) -> bool:
    """Remove the regular file at ``path``, reached from ``root`` without following links.

    Parameters
    ----------
    path : str or path-like
        The file to remove.
    root : str or path-like, optional
        The folder the caller chose (it may itself be a link); no folder
        between it and ``path`` may be a link (:class:`UnsafePath`).
        Defaults to the folder holding ``path``.
    links : bool, default=False
        Also remove a link at ``path`` (the link, never what it points to).

    Returns
    -------
    bool
        True if a file was removed; False if there was none of that kind
        (missing, a folder, a FIFO, a device, or a link without ``links``).
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    try:
        fd = _open_folder(folder, folder if root is None else root, create=False)
    except (FileNotFoundError, NotADirectoryError):  # no such folder: no such file
        return False
    try:
        mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        if not (stat.S_ISREG(mode) or (links and stat.S_ISLNK(mode))):
            return False
        os.unlink(name, dir_fd=fd)
        return True
    except FileNotFoundError:
        return False
    finally:
        os.close(fd)


def make_folders(path, *, root=None) -> str:
    """Create folder ``path`` (and those above it, up to ``root``) without following links.

    A file (or anything but a folder) where a folder of the path should be is
    a :class:`FileExistsError` that names it, not the system's bare message.

    >>> import tempfile
    >>> base = tempfile.mkdtemp()
    >>> open(os.path.join(base, "notes"), "w").close()
    >>> try:
    ...     make_folders(os.path.join(base, "notes", "model"))
    ... except FileExistsError as exc:
    ...     print(str(exc).replace(base, "BASE")[:60])
    'BASE/notes' is a file, not a folder, so the folder 'BASE/no
    """
    try:
        os.close(_open_folder(path, root, create=True))
    except (FileExistsError, FileNotFoundError, NotADirectoryError) as exc:
        blocker = _first_non_folder(os.path.abspath(os.fspath(path)))
        if blocker is None:
            raise
        what = "a link that leads to no folder" if os.path.islink(blocker) else "a file"
        raise FileExistsError(
            f"{blocker!r} is {what}, not a folder, so the folder "
            f"{os.path.abspath(os.fspath(path))!r} cannot be created there. Move it away, "
            "or choose another folder.") from exc
    return os.fspath(path)


def _first_non_folder(path: str) -> str | None:
    """The first component of absolute ``path`` that exists and is not a folder (links to
    folders count as folders here), or None."""
    current = os.sep
    for part in path.split(os.sep):
        if not part:
            continue
        current = os.path.join(current, part)
        if not os.path.lexists(current):
            return None
        if not os.path.isdir(current):
            return current
    return None


@contextlib.contextmanager
def atomic_writer(path, *, root=None, text: bool = False, encoding: str = "utf-8",
                  private: bool = False, replace: bool = True):
    """Open ``path`` for writing through a temporary sibling; rename into place on success.

    Parameters
    ----------
    path : str or path-like
        The file to write. An existing file is replaced only when the block
        ends without an exception; an existing link is replaced, never
        written through; an existing folder is an error.
    root : str or path-like, optional
        The folder the caller chose (a model folder, a cache folder). Folders
        between ``root`` and ``path`` are created as needed and may not be
        links. ``None`` checks only the folder that holds ``path``.
    text : bool, default=False
        Yield a text file (``encoding``, ``newline=""``) instead of a binary one.
    private : bool, default=False
        Create the file ``0o600`` (readable by its owner only) instead of the
        mode policy's ``0o666`` less the umask: only for secrets (a key), which
        are then never readable by others, not even while written.
    replace : bool, default=True
        Replace an existing file (or link) at ``path``. With False nothing at
        ``path`` is ever replaced: one there before the block is
        :class:`TargetExists` before the block runs, and one that appears
        while it runs (another process) is :class:`TargetExists` at the end,
        the file kept as it is and the temporary removed. The file is then
        published with a hard link, which fails if the name is taken; where
        the file system has no hard links, the name is claimed with an
        exclusive create and the finished file renamed over that empty claim.

    Yields
    ------
    file object
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    dfd = _open_folder(folder, root if root is not None else folder, create=True)
    try:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
                raise IsADirectoryError(f"{path!r} is a folder; skbert writes a file there "
                                        "only in place of a file.")
            if not replace:
                raise TargetExists(f"{path!r} already exists and is kept (skbert was not "
                                   "asked to replace it); choose another file, or remove it "
                                   "first.", path)
        tmp = f".{name[:100]}.{secrets.token_hex(6)}{TMP_TAG}"
        fd = os.open(tmp, _NEW_FILE_FLAGS, 0o600 if private else 0o666, dir_fd=dfd)
        try:
            with os.fdopen(fd, "w" if text else "wb", closefd=True,
                           **({"encoding": encoding, "newline": ""} if text else {})) as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            if replace:
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            else:
                _publish_new(tmp, name, dfd, path)
        except BaseException:  # Ctrl-C included: no temporary file left behind
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
        with contextlib.suppress(OSError):
            os.fsync(dfd)
    finally:
        os.close(dfd)


def _publish_new(tmp: str, name: str, dfd: int, path: str) -> None:
    """Give the finished ``tmp`` the name ``name`` (both in folder ``dfd``) only if that name
    is free; :class:`TargetExists` if something took it meanwhile. ``tmp`` is left for the
    caller to remove."""
    appeared = (f"{path!r} appeared while skbert was writing it and is kept (skbert was "
                "not asked to replace it); choose another file, or remove it first.")
    try:
        os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except FileExistsError:
        raise TargetExists(appeared, path) from None
    except (OSError, NotImplementedError) as exc:  # no hard links here: claim the name
        if isinstance(exc, OSError) and exc.errno not in _NO_HARD_LINKS:
            raise
        try:
            fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=dfd)
        except FileExistsError:
            raise TargetExists(appeared, path) from None
        claim = os.fstat(fd)
        os.close(fd)
        try:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):  # the empty claim, never another's file
                now = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if (now.st_dev, now.st_ino) == (claim.st_dev, claim.st_ino):
                    os.unlink(name, dir_fd=dfd)
            raise
        return
    os.unlink(tmp, dir_fd=dfd)


def write_bytes(path, data: bytes, *, root=None, replace: bool = True) -> str:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`, also for
    ``replace``); returns the path."""
    with atomic_writer(path, root=root, replace=replace) as fh:
        fh.write(data)
    return os.fspath(path)


def write_text(path, text: str, *, root=None, replace: bool = True) -> str:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_writer`)."""
    return write_bytes(path, text.encode("utf-8"), root=root, replace=replace)


def write_json(path, doc, *, root=None, indent: int | None = 2) -> str:
    """Write ``doc`` as UTF-8 JSON (ending in a newline) to ``path`` atomically."""
    return write_text(path, json.dumps(doc, indent=indent, ensure_ascii=False) + "\n", root=root)


def read_json(path, *, what: str = "file", max_bytes: int = 50_000_000):
    """Read a JSON document from a regular file (never a link, FIFO or device).

    The one JSON reader: UTF-8 with an optional byte-order mark, bounded size,
    no recursion error escaping. Raises :class:`DamagedFile` with the reason,
    or FileNotFoundError when there is no file.
    """
    try:
        data, _ = read_regular_file(os.fspath(path), max_bytes)
    except DamagedFile as exc:
        if "allowed" in str(exc):
            raise DamagedFile(f"{exc} for a {what}") from None
        raise
    try:
        return json.loads(data.decode("utf-8-sig"), object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DamagedFile(f"is not valid JSON ({exc})") from exc


def unique_keys(pairs: list) -> dict:
    """``object_pairs_hook`` of :func:`json.loads` that refuses a key given twice.

    Python's JSON reader keeps the last of two equal keys silently, so a file
    could show a reviewer one value and hand skbert another.
    """
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object; keep one")
        out[key] = value
    return out


def fix_modes(folder) -> None:
    """Give every file and folder under ``folder`` (links untouched) skbert's mode policy."""
    fmode, dmode = file_mode(), folder_mode()
    for here, dirs, files in os.walk(folder):
        os.chmod(here, dmode)
        for name in files:
            p = os.path.join(here, name)
            if not os.path.islink(p):
                os.chmod(p, fmode)


class KeptAside(FileExistsError):
    """The target of :func:`staging_folder` was refused at the rename; the work is in ``kept``."""

    def __init__(self, message: str, kept: str):
        super().__init__(message)
        self.kept = kept


@contextlib.contextmanager
def staging_folder(target, *, replace: bool = False, may_replace=None, keep: bool = False):
    """Build a folder next to ``target`` and rename it into place when the block succeeds.

    Parameters
    ----------
    target : str or path-like
        The folder to create. Its parent is created if needed.
    replace : bool, default=False
        Replace an existing non-empty ``target``. Without it, a non-empty
        ``target`` is :class:`FileExistsError` (before or after the block).
    may_replace : callable, optional
        ``may_replace(target) -> str or None``: called before an existing
        non-empty ``target`` is replaced; a returned message refuses it
        (:class:`FileExistsError`), so only what the caller recognises is replaced.
    keep : bool, default=False
        When ``target`` is refused only at the rename (filled meanwhile by
        something ``replace`` / ``may_replace`` does not allow to replace), rename
        the finished staging folder to a fresh hidden sibling instead of deleting
        it, and raise :class:`KeptAside` naming it.

    Yields
    ------
    str
        The staging folder (private while written; given the mode policy
        before the rename). A failure, Ctrl-C included, removes it and leaves
        ``target`` as it was.
    """
    target = os.path.abspath(os.fspath(target))
    parent, name = os.path.split(target)
    make_folders(parent)
    if os.path.islink(target):
        raise UnsafePath(f"{target!r} is a link; skbert does not write through links. "
                         "Remove it or choose another folder.")

    def check_target():
        if os.path.lexists(target):
            if not os.path.isdir(target):
                raise FileExistsError(f"{target!r} exists and is not a folder.")
            if os.listdir(target):
                if not replace:
                    raise FileExistsError(f"{target!r} exists and is not empty.")
                if may_replace is not None:
                    why = may_replace(target)
                    if why:
                        raise FileExistsError(why)

    check_target()
    tmp = os.path.join(parent, f".{name[:100]}.{secrets.token_hex(6)}{TMP_TAG}")
    os.mkdir(tmp, 0o700)
    try:
        yield tmp
        fix_modes(tmp)
        try:
            check_target()
        except FileExistsError as exc:
            if not keep:
                raise
            kept = os.path.join(parent, f".{name[:100]}.{secrets.token_hex(6)}.skbert-kept")
            os.rename(tmp, kept)
            raise KeptAside(f"{exc} The finished folder is kept in {kept!r}.", kept) from None
        if os.path.lexists(target):
            aside = os.path.join(parent, f".{name[:100]}.{secrets.token_hex(6)}.skbert-old")
            os.rename(target, aside)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(aside, target)
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
