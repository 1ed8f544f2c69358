"""How much longer a ``tokenizer.json`` can make a text before it is cut: refuse a bomb.

A fast tokenizer's ``tokenizer.json`` is data, but its normalizer,
pre-tokenizer and post-processor are a small pipeline the file chooses. A
chain of ``Replace`` steps that each double a letter turns one ``"o"`` into
2**40 of them: a 4 KB file that makes the first text tokenised allocate
gigabytes inside the Rust library, which aborts the process (no Python
exception to catch). The length is multiplied before truncation, so
``max_length`` does not bound it.

:func:`check_tokenizer_json` bounds, from the JSON alone (before the library
reads it), the factor by which every step can lengthen a text, and refuses a
file whose steps together could lengthen it more than :data:`MAX_GROWTH`
times. The bounds are per step and worst case (each ``Replace`` as if every
character matched, NFKC's longest expansion, a ``Precompiled`` map's longest
replacement), so real tokenizers stay below the limit: BERT's normalizer is
at most 12, RoBERTa's byte-level step 4, ALBERT's and XLNet's whole pipeline
648. :func:`check_loaded_tokenizer` applies it to the tokenizer transformers
actually built (whatever files it came from: ``tokenizer.json``, a
SentencePiece model, a subfolder, the Hub), then measures the growth on a
probe text, which a bomb on a common character cannot pass.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
import warnings

#: The most a tokenizer.json's steps may multiply a text's length, in the worst case.
MAX_GROWTH = 1024
#: The deepest nesting of ``Sequence`` steps read.
MAX_DEPTH = 16
#: The most a loaded tokenizer may lengthen :data:`PROBE` (normaliser and
#: pre-tokenizer); real ones stay near 1 (byte-level ones about 2).
PROBE_GROWTH = 8
#: The most token ids a loaded tokenizer may add to an empty text (BERT adds 2).
MAX_SPECIAL_IDS = 64
#: Everyday text of several scripts, digits, punctuation and spaces.
PROBE = ("The quick brown fox jumps over 13 lazy dogs! Isn't it: deja vu? Ça coûte 5 € - "
         "naïve façade. 東京で会いましょう。 مرحبا بالعالم. Привет, мир! 👍🏽 \t(end)\n"
         "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789 "
         "\"'#$%&*+,-./:;<=>?@[\\]^_`{|}~ ") * 4

#: Worst-case length factor of the steps that take no settings of their own.
#: Unicode's longest decompositions: 18 characters for NFKC/NFKD (U+FDFA), 4
#: for NFC/NFD; lowercasing at most 2 (U+0130, which NFD and NFKD take apart
#: first); bytes as characters at most 4 per character; a word's marker 2.
_FIXED = {"NFKC": 18, "NFKD": 18, "NFC": 4, "NFD": 4, "Lowercase": 2, "ByteLevel": 4,
          "Metaspace": 2}
#: Steps after which no character lowercases into two (U+0130 is taken apart) ...
_DECOMPOSING = ("NFD", "NFKD")
#: ... and the steps that keep it so: every other step may put such a character back.
_KEEP_DECOMPOSED = ("Strip", "StripAccents", "Lowercase", "Nmt")


class TokenizerBomb(ValueError):
    """A tokenizer.json whose steps could lengthen a text beyond :data:`MAX_GROWTH` times."""


def check_tokenizer_json(doc, where: str) -> None:
    """Refuse a parsed ``tokenizer.json`` that could multiply a text's length too much.

    Parameters
    ----------
    doc : object
        The parsed JSON document.
    where : str
        The file or checkpoint, named in the error.

    Raises
    ------
    TokenizerBomb
        A ValueError naming the factor and the step that makes it.

    Examples
    --------
    >>> check_tokenizer_json({"normalizer": {"type": "Lowercase"}}, "t.json")
    >>> step = {"type": "Replace", "pattern": {"String": "o"}, "content": "oo"}
    >>> bomb = {"normalizer": {"type": "Sequence", "normalizers": [step] * 40}}
    >>> check_tokenizer_json(bomb, "t.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    skbert._tokenizer_growth.TokenizerBomb: t.json's ... could make a text 1.1e+12 times as long ...
    """
    if not isinstance(doc, dict):
        return  # transformers reports a file that is not a tokenizer
    worst: list[str] = []
    total, state = 1.0, {"decomposed": False}
    for key, children in (("normalizer", "normalizers"), ("pre_tokenizer", "pretokenizers"),
                          ("post_processor", "processors")):
        total *= _growth(doc.get(key), children, where, worst, 0, state)
    if total > MAX_GROWTH:
        step = f" ({worst[0]}, and chained steps multiply)" if worst else ""
        raise TokenizerBomb(
            f"{where}'s normalizer, pre-tokenizer and post-processor could make a text "
            f"{total:.2g} times as long before it is cut{step}; skbert refuses more than "
            f"{MAX_GROWTH} times, which no real tokenizer comes near: a step or a chain of "
            "steps that can blow one text up to gigabytes. Use the tokenizer.json saved with "
            "the model, or one from a source you trust.")


def _growth(step, children: str, where: str, worst: list[str], depth: int,
            state: dict) -> float:
    """The worst-case length factor of one step (a ``Sequence``'s: the product of its own).

    ``state["decomposed"]``: an NFD or NFKD step ran and no step has added
    characters since, so lowercasing lengthens nothing.
    """
    if step is None or not isinstance(step, dict):
        return 1.0
    if depth > MAX_DEPTH:
        raise TokenizerBomb(f"{where} nests its tokenizer steps over {MAX_DEPTH} levels deep; "
                            "no real tokenizer does. Use the tokenizer.json saved with the model.")
    kind = step.get("type")
    if kind == "Sequence":
        factor = 1.0
        for child in _list(step.get(children)):
            factor *= _growth(child, children, where, worst, depth + 1, state)
        return factor
    if kind == "Lowercase":
        return 1.0 if state["decomposed"] else float(_FIXED["Lowercase"])
    if kind in _KEEP_DECOMPOSED:
        return 1.0
    if kind in _DECOMPOSING:
        state["decomposed"] = True
        return float(_FIXED[kind])
    if kind == "BertNormalizer":  # CJK spacing, then NFD (strip accents), then lowercase
        lower = step.get("lowercase") is not False
        strip = step.get("strip_accents")
        strip = lower if strip is None else bool(strip)
        state["decomposed"] = state["decomposed"] or strip
        return ((3.0 if step.get("handle_chinese_chars") is not False else 1.0)
                * (_FIXED["NFD"] if strip else 1.0)
                * (_FIXED["Lowercase"] if lower and not state["decomposed"] else 1.0))
    if children == "processors":  # after the tokens are made: only the template adds ids
        return _adding(step, kind, where, worst) if kind == "TemplateProcessing" else 1.0
    state["decomposed"] = False  # it may have put back a character that lowercases into two
    if kind == "ByteLevel" and step.get("add_prefix_space"):
        return _FIXED["ByteLevel"] + 1.0  # a space before every piece, one character long
    return _adding(step, kind, where, worst)


def _adding(step: dict, kind, where: str, worst: list[str]) -> float:
    """The factor of a step that may add characters of its own choosing."""
    if kind == "Replace":
        return _replace(step, worst)
    if kind == "Precompiled":
        return _precompiled(step.get("precompiled_charsmap"), where)
    if kind == "Prepend":  # before every piece between added tokens: one character long
        text = step.get("prepend")
        return 1.0 + (len(text) if isinstance(text, str) else 0)
    if kind == "TemplateProcessing":
        copies = max(_template_copies(step.get("single")), _template_copies(step.get("pair")))
        if copies > 1:  # each copy multiplies the overflowing windows: exponential
            raise TokenizerBomb(
                f"{where}'s post-processor repeats a text {copies} times in its template; "
                "each copy multiplies the windows of a long text, and no real tokenizer "
                "repeats one. Use the tokenizer saved with the model.")
        return 1.0
    return float(_FIXED.get(kind, 1))


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _replace(step: dict, worst: list[str]) -> float:
    pattern, content = step.get("pattern"), step.get("content")
    content = content if isinstance(content, str) else ""
    if isinstance(pattern, dict) and isinstance(pattern.get("String"), str):
        found = pattern["String"]
        factor = (len(content) / len(found) if found else len(content) + 1.0)
    else:  # a regex: as if it matched at every shortest match (or between characters)
        found = pattern.get("Regex") if isinstance(pattern, dict) else None
        # Python's parser may read a class or a case-folded run wider than Oniguruma
        # does (``[[:alpha:]]``, ``(?i)ss`` matching one "ß"): never count on more than one
        factor = len(content) + 1.0 if _shortest_match(found) == 0 else float(len(content))
    factor = max(factor, 1.0)
    if factor > 1 and not worst:
        worst.append(f"a Replace of {str(found)[:20]!r} by {content[:20]!r} makes it "
                     f"{factor:g} times as long")
    return factor


#: Oniguruma reads an interval followed by ``?`` (``a{2}?``) as optional, ``(?:a{2})?``,
#: where Python reads a lazy interval of at least that many characters.
_ONIG_OPTIONAL = re.compile(r"\{\d*,?\d*\}\?")


def _shortest_match(regex) -> int:
    """The fewest characters ``regex`` can match, as Python's parser reads it; 0 where it
    may match the empty string (a lookaround, ``\\b``, ``x*``) or cannot be read.

    The tokenizer library's regexes are Oniguruma's: a construct Python reads
    otherwise or not at all counts as matching the empty string.
    """
    if not isinstance(regex, str) or _ONIG_OPTIONAL.search(regex):
        return 0
    try:
        import re._parser as parser  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse as parser
    try:
        with warnings.catch_warnings():  # "possible set intersection" and the like
            warnings.simplefilter("ignore")
            return int(parser.parse(regex).getwidth()[0])
    except Exception:  # noqa: BLE001 - any failure to read it is the worst case
        return 0


def _precompiled(charsmap, where: str) -> float:
    """The longest replacement of a SentencePiece ``Precompiled`` map (its normalised strings).

    The map is base64: a 32-bit little-endian size of the trie in bytes, the
    trie, then the replacement strings, each ended by a NUL byte. Each
    replaces at least one character, so the longest bounds the factor.
    """
    blob = None
    if isinstance(charsmap, list):  # older files: the bytes as a list of ints
        try:
            blob = bytes(charsmap)
        except (TypeError, ValueError):
            pass
    elif isinstance(charsmap, str):  # the library also reads it without its padding
        text = "".join(charsmap.split())
        try:
            blob = base64.b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            pass
    if blob is None:
        raise TokenizerBomb(f"{where} has a Precompiled normaliser whose map skbert cannot "
                            "read, so it cannot bound how much longer it makes a text. Use "
                            "the tokenizer.json saved with the model.")
    if len(blob) < 4:
        return 1.0
    (trie,) = struct.unpack("<I", blob[:4])
    strings = blob[4 + trie:] if 4 + trie <= len(blob) else blob[4:]
    longest = max((len(s.decode("utf-8", "replace")) for s in strings.split(b"\0")),
                  default=1)
    return float(max(longest, 1))


def _template_copies(template) -> int:
    """How many times a ``TemplateProcessing`` template repeats one input sequence."""
    counts: dict[str, int] = {}
    for piece in _list(template):
        sequence = piece.get("Sequence") if isinstance(piece, dict) else None
        if isinstance(sequence, dict):
            key = str(sequence.get("id"))
            counts[key] = counts.get(key, 0) + 1
    return max(counts.values(), default=1)


def check_loaded_tokenizer(tokenizer, where: str) -> None:
    """Refuse a loaded fast tokenizer that could blow a text up, before it reads one.

    Its pipeline as the library holds it (``backend_tokenizer.to_str()``:
    whatever files it was built from) must pass :func:`check_tokenizer_json`;
    then :data:`PROBE` may grow at most :data:`PROBE_GROWTH` times through its
    normaliser and pre-tokenizer (its first 64 characters first, so that a
    step the bound misjudges costs little), and an empty text may get at most
    :data:`MAX_SPECIAL_IDS` ids.

    Raises
    ------
    TokenizerBomb
        A ValueError naming ``where`` and what grew.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return
    check_tokenizer_json({key: _state(getattr(backend, key, None))
                          for key in ("normalizer", "pre_tokenizer", "post_processor")}, where)
    try:
        for probe in (PROBE[:64], PROBE):  # a short one first: a miscount costs little
            text = _through(backend, probe)
            if len(text) > PROBE_GROWTH * len(probe):
                break
        ids = len(tokenizer("")["input_ids"])
    except BaseException as exc:  # the library's panic is a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise TokenizerBomb(f"{where}'s tokenizer fails on everyday text "
                            f"({type(exc).__name__}: {str(exc)[:200]}). Use the tokenizer "
                            "saved with the model.") from None
    if len(text) > PROBE_GROWTH * len(probe):
        raise TokenizerBomb(
            f"{where}'s tokenizer makes everyday text {len(text) / len(probe):.3g} times as "
            f"long before it is cut (skbert allows {PROBE_GROWTH}; real tokenizers stay near "
            "1): its normaliser or pre-tokenizer would blow texts up. Use the tokenizer saved "
            "with the model, or one from a source you trust.")
    if ids > MAX_SPECIAL_IDS:
        raise TokenizerBomb(
            f"{where}'s tokenizer gives an empty text {ids} token ids (skbert allows "
            f"{MAX_SPECIAL_IDS}; BERT's gives 2): its special tokens would fill every window. "
            "Use the tokenizer saved with the model, or one from a source you trust.")


def _through(backend, text: str) -> str:
    """``text`` after the normaliser and the pre-tokenizer of ``backend``, pieces joined."""
    normalizer = backend.normalizer  # a Sequence is falsy in some releases: test None
    if normalizer is not None:
        text = normalizer.normalize_str(text)
    if backend.pre_tokenizer is not None:
        text = "".join(piece for piece, _ in backend.pre_tokenizer.pre_tokenize_str(text))
    return text


def _state(step):
    """A step of a loaded tokenizer as the JSON ``tokenizer.json`` holds (None: no step)."""
    if step is None:
        return None
    try:
        return json.loads(step.__getstate__())
    except Exception as exc:  # noqa: BLE001 - a step that cannot say what it is
        raise TokenizerBomb(f"a tokenizer step ({type(step).__name__}) that cannot be read "
                            f"({exc}), so how much longer it makes a text is not known. Use "
                            "the tokenizer saved with the model.") from None
