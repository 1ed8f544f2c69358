"""The command line's paths: what it may read and where it may write, checked before any work.

An output (``--out`` model folder, ``--output`` file) may never be, contain or
sit inside an input file, the ``--model`` folder, the model folder being used,
the ``--checkpoint-dir`` or the current folder; it may not be a link; and
``--overwrite`` replaces only a folder skbert wrote (a valid ``skbert.json``, and
nothing but the files ``save_pretrained`` writes: :func:`foreign_entries`). An
output file is never written inside any model folder (one holding a model
as skbert saves it: :func:`is_model_folder`, :func:`model_folder_of`), and
replaces an existing file only with ``--overwrite``; a refusal suggests a path
that would be accepted (:func:`suggest_file`). Every write goes through :mod:`skbert._safe_io`.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat

from ._safe_io import (
    TMP_TAG,
    DamagedFile,
    KeptAside,
    TargetExists,
    UnsafePath,
    atomic_writer,
    read_json,
    staging_folder,
)

#: Most bytes of a ``skbert.json`` read to tell whether its folder holds a model.
MAX_SETTINGS_BYTES = 16_000_000
#: The backbone's configuration, saved beside ``skbert.json`` in every model folder.
CONFIG_NAME = "config.json"
#: Most characters of a saved file's complaint quoted in an ``--out`` refusal.
REASON_CHARS = 200


class FolderRefused(FileExistsError):
    """``--out`` is refused: a folder skbert did not write. The message quotes the
    folder's files and its ``skbert.json`` keys as they are, so the command line
    prints it without turning names into flags (as a
    :class:`~skbert._load_errors.SavedFileError`)."""


# ------------------------------------------------------------------ relations
def relation(path: str, other: str) -> str | None:
    """How ``path`` stands to ``other`` after resolving links: "is", "is inside", "contains"."""
    a, b = os.path.realpath(path), os.path.realpath(other)
    if a == b:
        return "is"
    try:
        common = os.path.commonpath([a, b])
    except ValueError:  # other drives (Windows): unrelated
        return None
    if common == b:
        return "is inside"
    if common == a:
        return "contains"
    return None


def _refuse_link(path: str, flag: str) -> None:
    if os.path.islink(path):
        raise UnsafePath(
            f"{flag} {path!r} is a link; skbert does not write through links (it could "
            "replace what the link points to). Give the real path, or remove the link.")


def shown_path(path: str) -> str:
    """``path`` relative to the current folder when it lies inside it, else absolute."""
    rel = os.path.relpath(path)
    return path if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def is_model_folder(folder: str) -> bool:
    """Whether ``folder`` holds a model as skbert saves one.

    Its ``skbert.json`` must be a regular file (a link is not followed) holding
    a JSON object with skbert's keys (``classes``, and ``format`` or
    ``pooling``), read with :func:`skbert._safe_io.read_json` (size-bounded),
    and a ``config.json`` must lie beside it. A file of the user's that happens
    to be called ``skbert.json`` (metrics written by ``skbert evaluate --output
    skbert.json``, say) does not make a model folder.
    """
    from ._persistence import SETTINGS_FILE

    settings = os.path.join(folder, SETTINGS_FILE)
    if not (os.path.isfile(settings) and os.path.lexists(os.path.join(folder, CONFIG_NAME))):
        return False
    try:  # a settings file is small: a planted large one is not read whole on every check
        found = read_json(settings, what=SETTINGS_FILE, max_bytes=MAX_SETTINGS_BYTES)
    except (OSError, DamagedFile):
        return False
    return isinstance(found, dict) and "classes" in found and (
        "format" in found or "pooling" in found)


def model_folder_of(path: str) -> str | None:
    """The nearest folder that is or holds ``path`` and holds a saved model, or None.

    Such a folder (:func:`is_model_folder`) is a model (this one or another):
    an output written into it, or into one of its sub-folders (``MODEL/onnx``),
    could replace a file the model needs. The path is followed as given and
    with its links resolved.
    """
    starts = dict.fromkeys((os.path.abspath(path), os.path.realpath(path)))  # once if equal
    for start in starts:
        folder = start
        while True:
            if is_model_folder(folder):
                return folder
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return None


def protected_folders(*, model: str | None = None, folder: str | None = None,
                      ckpt: str | None = None) -> list[tuple[str, str]]:
    """The folders no output may touch, each with how messages name it."""
    out = [(os.getcwd(), "the current folder")]
    if model is not None and os.path.isdir(model):
        out.append((model, f"the --model folder {model!r}"))
    if folder is not None and os.path.isdir(folder):
        out.append((folder, f"the model folder {folder!r}"))
    if ckpt is not None:
        out.append((ckpt, f"the --checkpoint-dir {ckpt!r}"))
    return out


# ------------------------------------------------------------- model folders
#: The file ``save_pretrained`` keeps in an existing folder while it replaces the files
#: there, removed once ``skbert.json`` is written: where it remains, a save was interrupted
#: (:func:`skbert._persistence.read_save_marker`).
SAVE_MARKER = ".skbert-save.json"
#: Top-level files a saved model folder may hold: what ``save_pretrained`` writes (skbert,
#: transformers, sentence-transformers, the model card) and every tokenizer file name
#: transformers' tokenizers save (their ``VOCAB_FILES_NAMES``, special tokens, chat template).
SAVED_FILES = frozenset({
    "skbert.json", "skbert_head.safetensors", "README.md", SAVE_MARKER,
    "config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
    "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "chat_template.jinja", "chat_template.json", "vocab.txt", "vocab.json", "merges.txt",
    "spiece.model", "sentencepiece.bpe.model", "sentencepiece.model", "spm.model",
    "spm_char.model", "tokenizer.model", "source.spm", "target.spm", "bpe.codes", "dict.txt",
    "emoji.json", "entity_vocab.json", "normalizer.json", "prophetnet.tokenizer",
    "byte_maps.json", "target_vocab.json", "vocab-src.json", "vocab-tgt.json",
    "word_pronunciation.json", "word_shape.json",
})
#: Sub-folders a saved model folder may hold, and the files skbert writes in each.
SAVED_FOLDERS = {
    "1_Pooling": frozenset({"config.json"}),
    "2_Dense": frozenset({"config.json", "model.safetensors"}),
    "adapter": frozenset({"adapter_config.json", "adapter_model.safetensors", "README.md"}),
    "onnx": frozenset({"model.onnx", "model_int8.onnx", "skbert_onnx.json"}),
}
_BESIDES = "besides the model it holds "
#: Weight shards transformers writes for a large model.
_SHARD = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")


def _written_by_skbert(name: str, allowed=SAVED_FILES) -> bool:
    """Whether a file ``name`` is one skbert writes (or a temporary file of its writer)."""
    return (name in allowed or (allowed is SAVED_FILES and bool(_SHARD.match(name)))
            or (name.startswith(".") and name.endswith(TMP_TAG)))


def foreign_entries(folder: str) -> list[str]:
    """The entries of the model folder ``folder`` that skbert does not write, sorted.

    Every entry must be a file (not a link) named as :func:`save_pretrained
    <skbert.TransformerMultiLabelClassifier.save_pretrained>` names its files, or
    one of its sub-folders (:data:`SAVED_FOLDERS`) holding only the files skbert
    writes there. A sub-folder is shown as ``name/`` (or ``name/file``).
    """
    out = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        st = os.lstat(path)
        if name in SAVED_FOLDERS and stat.S_ISDIR(st.st_mode):
            for sub in sorted(os.listdir(path)):
                if not (_written_by_skbert(sub, SAVED_FOLDERS[name])
                        and stat.S_ISREG(os.lstat(os.path.join(path, sub)).st_mode)):
                    out.append(f"{name}/{sub}")
        elif not (stat.S_ISREG(st.st_mode) and _written_by_skbert(name)):
            out.append(name + ("/" if stat.S_ISDIR(st.st_mode) else ""))
    return out


def is_skbert_folder(folder: str) -> str | None:
    """None when ``folder`` is a model folder skbert wrote, else why not.

    It must hold a valid ``skbert.json`` and nothing but the files skbert
    writes (:func:`foreign_entries`): ``--overwrite`` replaces the whole folder,
    so a file of the user's in it (notes, results) refuses the replacement.
    """
    from ._persistence import SETTINGS_FILE, check_settings, written_by_marker

    path = os.path.join(folder, SETTINGS_FILE)
    try:
        check_settings(read_json(path, what=SETTINGS_FILE), path)
    except FileNotFoundError:
        # an interrupted save of this user's: its signed marker lists every file there
        owned = written_by_marker(folder)
        if not owned:
            return f"it holds no {SETTINGS_FILE}"
        tops = {name.split("/")[0] for name in owned} | {SAVE_MARKER}
        foreign = sorted(set(foreign_entries(folder))
                         | {name for name in os.listdir(folder) if name not in tops})
        if not foreign:
            return None
        return (f"{_BESIDES}{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''} (beside "
                "the files of an interrupted save), which replacing the folder would delete")
    except Exception as exc:  # a planted file of any shape: not a folder skbert wrote
        return f"its {SETTINGS_FILE} is not one skbert wrote ({_reason(exc)})"
    foreign = foreign_entries(folder)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        return f"{_BESIDES}{shown}, which replacing the folder would delete"
    return None


def _reason(exc: BaseException, limit: int = REASON_CHARS) -> str:
    """The first sentence of ``exc``'s message (what is wrong, not the Python fix after it),
    cut at a word, never inside one, when longer than ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    end = re.search(r"[.!?]\s+(?=[A-Z])", text)
    if end:
        text = text[:end.start()]
    if len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        text = text[:cut if cut > 0 else limit].rstrip(" ,;:") + " ..."
    return text


def check_out_folder(out: str, *, inputs=(), model: str | None = None,
                     ckpt: str | None = None, overwrite: bool = False) -> None:
    """Check ``--out`` before training (see the module docstring).

    Parameters
    ----------
    out : str
        The folder to save the model in.
    inputs : sequence of str
        Input files (the training data) that ``out`` may not be or contain.
    model, ckpt : str, optional
        Folders ``out`` may not be, sit inside or contain.
    overwrite : bool
        Whether a non-empty ``out`` may be replaced (only if skbert wrote it).
    """
    if out == "-":  # elsewhere '-' is standard output; a model is a folder
        raise ValueError(
            "--out - would save the model in a folder named '-': a model is a folder of "
            "files, not a stream. Name the folder, e.g. --out my-model (or --out ./- if you "
            "mean that name).")
    from ._persistence import check_folder_name

    check_folder_name(out)  # before training: the save would fail after it
    if os.path.lexists(out) and not os.path.isdir(out):
        raise FileExistsError(
            f"--out {out!r} is an existing file; give a folder path for the model.")
    for folder, what in protected_folders(model=model, ckpt=ckpt):
        how = relation(out, folder)
        if how and not (how == "is inside" and what == "the current folder"):
            harm = ("destroy the checkpoint training starts from" if "--model" in what
                    else "delete the training state" if "--checkpoint" in what
                    else "delete your files")
            raise ValueError(
                f"--out {out!r} {how} {what}; saving there would {harm}, so choose "
                "another --out (--overwrite does not allow this).")
    around = model_folder_of(os.path.dirname(os.path.abspath(out)))
    if around is not None:  # out is not itself a model, but sits in one (MODEL/sub)
        instead = os.path.join(os.path.dirname(around),
                               f"{os.path.basename(around)}-{os.path.basename(os.path.abspath(out))}")
        raise ValueError(
            f"--out {out!r} is inside the model folder {shown_path(around)!r}; saving a model "
            "there would mix two models' files, so choose a folder outside it, such as "
            f"{shown_path(instead)!r} (--overwrite does not allow this).")
    for path in inputs:
        if os.path.exists(path) and relation(out, path) == "contains":
            raise ValueError(
                f"--out {out!r} contains the input file {path!r}; saving there would "
                "delete it, so choose another --out (--overwrite does not allow this).")
    _refuse_link(out, "--out")
    if os.path.isdir(out):
        entries = sorted(os.listdir(out))
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        why = is_skbert_folder(out) if entries else None
        if why:  # first: --overwrite would not allow it either, so do not suggest it
            raise FolderRefused(_not_ours(out, why, shown))
        if entries and not overwrite:
            raise FileExistsError(
                f"--out {out!r} already holds {len(entries)} file(s) ({shown}); pass "
                "--overwrite to replace that folder once training has finished, or choose a "
                "new --out.")
    check_writable(os.path.abspath(out), "--out", out)


def _not_ours(out: str, why: str, shown: str) -> str:
    foreign = why.startswith(_BESIDES)
    return (f"--out {out!r} holds files skbert did not write{'' if foreign else f' ({shown})'}: "
            f"{why}. --overwrite replaces only a model folder skbert saved; choose a new --out, "
            + ("or move those files out of that folder." if foreign
               else "or empty that folder yourself."))


def check_checkpoint_dir(ckpt: str | None, *, model: str | None,
                         inputs=()) -> None:
    """``--checkpoint-dir`` may not be, sit inside or contain the ``--model`` folder or an input."""
    if ckpt is None:
        return
    if model is not None and os.path.isdir(model):
        how = relation(ckpt, model)
        if how:
            raise ValueError(
                f"--checkpoint-dir {ckpt!r} {how} the --model folder {model!r}; "
                "training state written there would change the checkpoint training starts "
                "from (and resuming would never match it again). Choose a separate folder.")
    for path in inputs:
        if os.path.exists(path) and relation(ckpt, path) in ("is", "contains"):
            raise ValueError(
                f"--checkpoint-dir {ckpt!r} is or contains the input file "
                f"{path!r}; choose a separate folder for the training state.")
    if os.path.lexists(ckpt) and not os.path.isdir(ckpt):
        raise FileExistsError(
            f"--checkpoint-dir {ckpt!r} is an existing file; give a folder path.")
    check_writable(os.path.abspath(ckpt), "--checkpoint-dir", ckpt)


def check_output_file(path: str | None, flag: str, *, inputs=(), folder: str | None = None,
                      overwrite: bool | None = False, example: str = "predictions.jsonl"
                      ) -> None:
    """Check an output file (``--output``) before any work is done.

    It may not be a folder, a link, an input file, or sit inside the model
    ``folder`` (or be one of its files) or any other model folder (one holding
    a saved model: :func:`model_folder_of`), with or without ``--overwrite``;
    its folder must be creatable and writable. Each refusal of a folder or of a
    path in a model folder suggests one that is accepted (:func:`suggest_file`).

    Parameters
    ----------
    path : str or None
        The file; None or ``-`` (standard output) is not checked.
    flag : str
        How messages name it (``--output``, ``--html``).
    inputs : sequence of str
        Input files ``path`` may not be.
    folder : str, optional
        The model folder in use.
    overwrite : bool or None, default=False
        Whether an existing file may be replaced (``--overwrite``); None leaves
        that to the caller (``skbert explain`` replaces the files it wrote).
    example : str, default="predictions.jsonl"
        The file name a message suggests when ``path`` is a folder.
    """
    if path is None or path == "-":
        return
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"{flag} {path!r} is a folder; give a file path such as "
            f"{suggest_file(path, example, folder)!r}.")
    for other in inputs:
        if other != "-" and os.path.exists(other) and relation(path, other) == "is":
            raise ValueError(
                f"{flag} {path!r} is the input file {other!r}; writing there would replace "
                "it, so choose another file name.")
    if folder is not None and os.path.isdir(folder) and relation(path, folder):
        what = ("a file of" if os.path.lexists(path) else "inside")
        raise ValueError(
            f"{flag} {path!r} is {what} the model folder {folder!r}; writing there would "
            f"change the model, so choose a file outside it, such as "
            f"{suggest_file(path, example, folder)!r} (--overwrite does not allow this).")
    owner = model_folder_of(path)
    if owner is not None:
        raise ValueError(
            f"{flag} {path!r} is inside the model folder {shown_path(owner)!r} (it holds a "
            f"saved model); writing there could break that model, so choose a file outside "
            f"it, such as {suggest_file(path, example, folder)!r} (--overwrite does not allow "
            "this).")
    _refuse_link(path, flag)
    if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
        raise ValueError(
            f"{flag} {path!r} is not a regular file (a device, FIFO or socket); skbert would "
            "replace it with a file, so it writes only to a file path"
            + (" (--output - writes to standard output)." if flag == "--output" else "."))
    if overwrite is False and os.path.lexists(path):
        raise FileExistsError(
            f"{flag} {path!r} already exists; pass --overwrite to replace it, or choose "
            "another file.")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise PermissionError(
            f"{flag} {path!r} is read-only; make it writable or choose another file.")
    check_writable(os.path.realpath(path), flag, path)


def suggest_file(path: str, name: str, folder: str | None = None) -> str:
    """A file path to suggest for an output given as ``path`` (a folder, or a file inside a
    model folder), one :func:`check_output_file` accepts: ``name`` inside that folder, else
    next to it (``FOLDER-name``), else next to the model folder that holds it, else
    ``name`` in the current folder, else (the current folder is in a model folder) next
    to the outermost model folder around it, by its absolute path when that lies
    outside the current folder. A path that does not exist yet is chosen (numbered,
    ``FOLDER-name-2``, when every one exists), so no ``--overwrite`` is needed.

    Parameters
    ----------
    path : str
        The output as given.
    name : str
        The file name to suggest (``predictions.jsonl``).
    folder : str, optional
        The model folder in use: no suggestion lies in it.

    Examples
    --------
    >>> suggest_file(os.path.join("results", "old.json"), "metrics.json")
    'results/metrics.json'
    """
    base = os.path.normpath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
    candidates = [os.path.join(base, name)]
    owner = model_folder_of(path)
    for above in (base, None if owner is None else shown_path(owner)):
        stem = os.path.basename(above or "")
        if stem not in ("", os.curdir, os.pardir):
            candidates.append(os.path.join(os.path.dirname(above), f"{stem}-{name}"))
    candidates.append(name)

    def blocker(candidate: str) -> str | None:  # the model folder that would refuse it
        if folder is not None and os.path.isdir(folder) and relation(candidate, folder):
            return os.path.abspath(folder)
        return model_folder_of(candidate)

    fine = [c for c in candidates if blocker(c) is None]
    if not fine:  # all in a model folder: next to the outermost model folder around them
        around = blocker(candidates[-1])
        for _ in range(around.count(os.sep) if around else 0):  # each step: one folder up or more
            if os.path.dirname(around) == around:
                break
            beside = os.path.join(os.path.dirname(around), f"{os.path.basename(around)}-{name}")
            around = blocker(beside)
            if around is None:
                fine = [shown_path(beside)]
                break
        fine = fine or [name]
    free = next((c for c in fine if not os.path.lexists(c)), None)
    if free is None:  # every one exists: a numbered one that does not
        stem, ext = os.path.splitext(fine[0])
        free = next((f"{stem}-{i}{ext}" for i in range(2, 1000)
                     if not os.path.lexists(f"{stem}-{i}{ext}")), fine[0])
    return free


def check_writable(target: str, flag: str, shown: str) -> None:
    """Check that ``target`` (an absolute path) can be created next to its siblings.

    Walks up to the nearest existing folder and tests it with
    :func:`skbert._persistence.probe_writable` (creates, then removes, a folder
    holding a file), which also catches read-only file systems and pseudo
    file systems such as /proc.
    """
    probe = os.path.dirname(target)
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise NotADirectoryError(
            f"{flag} {shown!r} cannot be created: {probe!r} is a file, not a folder; choose a "
            "path inside a folder.")
    from ._persistence import probe_writable

    try:
        probe_writable(probe)
    except OSError as exc:
        raise PermissionError(
            f"{flag} {shown!r} cannot be written: creating a folder in {probe!r} failed "
            f"({exc.strerror or exc}); choose a folder you can write to.") from None


# --------------------------------------------------------------------- writing
def is_main_process() -> bool:
    """False on the ranks other than 0 of a torchrun / accelerate launch."""
    from ._distributed import env_rank

    return env_rank() == 0


def save_model(clf, out: str, *, overwrite: bool = False) -> str:
    """Save ``clf`` to ``out`` through :func:`skbert._safe_io.staging_folder`; returns its path.

    The model is built in a private sibling folder and renamed in when complete;
    an existing ``out`` is replaced only with ``overwrite`` and only if skbert
    wrote it (checked again at the rename). A folder filled by something else
    while training keeps its files; the model is then kept in a sibling folder
    that the error names.
    """
    from ._export import is_skbert_card, write_model_card
    from ._modeling import quiet_transformers

    target = os.path.abspath(out)
    if not is_main_process():  # under torchrun only rank 0 writes
        return target

    def may_replace(folder):
        why = is_skbert_folder(folder)
        return _not_ours(out, why, ", ".join(sorted(os.listdir(folder))[:3])) if why else None

    try:
        with staging_folder(target, replace=overwrite, may_replace=may_replace,
                            keep=True) as tmp:
            with quiet_transformers():
                clf.save_pretrained(tmp)
            # save_pretrained's card names the folder it was written in, the staging folder
            if is_skbert_card(os.path.join(tmp, "README.md")):
                write_model_card(tmp, name=os.path.basename(target))
    except KeptAside as exc:
        raise FolderRefused(  # the reason the folder was refused, then where the model is
            f"--out {out!r} was filled by something else while training and is not "
            f"replaced: {exc} Move the model "
            "where you want it.") from None
    except FileExistsError as exc:  # refused before saving: the folder's files, as they are
        if type(exc) is FileExistsError and str(exc).startswith(f"--out {out!r} holds files"):
            raise FolderRefused(str(exc)) from None
        raise
    return target


@contextlib.contextmanager
def output_file(path: str | None, stdout, *, overwrite: bool = True, flag: str = "--output"):
    """A text file to write an output to: ``stdout`` for None or ``-``, else atomically.

    Without ``overwrite``, a file that appeared at ``path`` since it was checked
    (:func:`check_output_file`) is refused rather than replaced.
    """
    if path is None or path == "-":
        yield stdout
    elif not is_main_process():  # under torchrun only rank 0 writes
        yield open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - nothing is kept
    else:
        try:  # without --overwrite, published only while the name is free (never replaced)
            with atomic_writer(path, text=True, replace=overwrite) as fh:
                yield fh
        except TargetExists:
            raise FileExistsError(
                f"{flag} {path!r} appeared while skbert was working and is kept; pass "
                "--overwrite to replace it, or choose another file.") from None


# ---------------------------------------------------------------------- --model
def check_model_arg(model: str | None) -> None:
    """Fail fast, before anything is loaded, on a ``--model`` that cannot work.

    The one model-path check, :func:`skbert._modeling.check_model_source`, with
    its messages naming ``--model`` and a hub name that can be neither found in
    the cache nor downloaded refused at once.
    """
    if model is None:
        return
    from ._modeling import check_model_source, resolve_model_path

    check_model_source(resolve_model_path(str(model)), label="--model", hub_check=True)
