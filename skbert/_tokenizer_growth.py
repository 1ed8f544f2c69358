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
replacement), so real tokenizers stay far below the limit: BERT's
normalizer is at most 36, RoBERTa's byte-level step 4.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct

#: The most a tokenizer.json's steps may multiply a text's length, in the worst case.
MAX_GROWTH = 1024
#: The deepest nesting of ``Sequence`` steps read.
MAX_DEPTH = 16
#: The longest text a ``Prepend`` step may add.
MAX_PREPEND = 1000

#: Worst-case length factor of the steps that take no settings of their own.
#: Unicode's longest decompositions: 18 characters for NFKC/NFKD (U+FDFA), 4
#: for NFC/NFD; lowercasing at most 3; bytes as characters at most 4 per
#: character; the others do not lengthen a text.
_FIXED = {"NFKC": 18, "NFKD": 18, "NFC": 4, "NFD": 4, "Lowercase": 3, "ByteLevel": 4,
          "Metaspace": 2}


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
    total = 1.0
    for key, children in (("normalizer", "normalizers"), ("pre_tokenizer", "pretokenizers"),
                          ("post_processor", "processors")):
        total *= _growth(doc.get(key), children, where, worst, 0)
    if total > MAX_GROWTH:
        step = f" ({worst[0]}, and chained steps multiply)" if worst else ""
        raise TokenizerBomb(
            f"{where}'s normalizer, pre-tokenizer and post-processor could make a text "
            f"{total:.2g} times as long before it is cut{step}; skbert refuses more than "
            f"{MAX_GROWTH} times, which no real tokenizer comes near: a step or a chain of "
            "steps that can blow one text up to gigabytes. Use the tokenizer.json saved with "
            "the model, or one from a source you trust.")


def _growth(step, children: str, where: str, worst: list[str], depth: int) -> float:
    """The worst-case length factor of one step (a ``Sequence``'s: the product of its own)."""
    if step is None or not isinstance(step, dict):
        return 1.0
    if depth > MAX_DEPTH:
        raise TokenizerBomb(f"{where} nests its tokenizer steps over {MAX_DEPTH} levels deep; "
                            "no real tokenizer does. Use the tokenizer.json saved with the model.")
    kind = step.get("type")
    if kind == "Sequence":
        factor = 1.0
        for child in _list(step.get(children)):
            factor *= _growth(child, children, where, worst, depth + 1)
        return factor
    if kind == "Replace":
        return _replace(step, worst)
    if kind == "Precompiled":
        return _precompiled(step.get("precompiled_charsmap"), where)
    if kind == "BertNormalizer":
        lower = step.get("lowercase") is not False
        strip = step.get("strip_accents")
        strip = lower if strip is None else bool(strip)
        return ((3.0 if step.get("handle_chinese_chars") is not False else 1.0)
                * (_FIXED["NFD"] if strip else 1.0) * (_FIXED["Lowercase"] if lower else 1.0))
    if kind == "Prepend":
        text = step.get("prepend")
        if isinstance(text, str) and len(text) > MAX_PREPEND:
            raise TokenizerBomb(f"{where} prepends {len(text)} characters to every text (at "
                                f"most {MAX_PREPEND} read); use the tokenizer.json saved with "
                                "the model.")
        return 1.0  # once per text: added, not multiplied
    if kind == "TemplateProcessing":
        return float(max(1, _template_copies(step.get("single")),
                         _template_copies(step.get("pair"))))
    return float(_FIXED.get(kind, 1))


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _replace(step: dict, worst: list[str]) -> float:
    pattern, content = step.get("pattern"), step.get("content")
    content = content if isinstance(content, str) else ""
    if isinstance(pattern, dict) and isinstance(pattern.get("String"), str):
        found = pattern["String"]
        factor = (len(content) / len(found) if found else len(content) + 1.0)
    else:  # a regex: as if it matched every character, or between them
        found = pattern.get("Regex") if isinstance(pattern, dict) else None
        factor = float(len(content) + (1 if _may_match_empty(found) else 0))
    factor = max(factor, 1.0)
    if factor > 1 and not worst:
        worst.append(f"a Replace of {str(found)[:20]!r} by {content[:20]!r} makes it "
                     f"{factor:g} times as long")
    return factor


def _may_match_empty(regex) -> bool:
    """Whether ``regex`` may match the empty string (when Python cannot read it: yes)."""
    if not isinstance(regex, str):
        return True
    try:
        return re.fullmatch(regex, "") is not None
    except (re.error, RecursionError, OverflowError):
        return True


def _precompiled(charsmap, where: str) -> float:
    """The longest replacement of a SentencePiece ``Precompiled`` map (its normalised strings).

    The map is base64: a 32-bit little-endian size of the trie in bytes, the
    trie, then the replacement strings, each ended by a NUL byte. Each
    replaces at least one character, so the longest bounds the factor.
    """
    if isinstance(charsmap, list):  # older files: the bytes as a list of ints
        try:
            blob = bytes(charsmap)
        except (TypeError, ValueError):
            return 1.0  # the library refuses it
    elif isinstance(charsmap, str):
        try:
            blob = base64.b64decode(charsmap, validate=True)
        except (binascii.Error, ValueError):
            return 1.0  # the library refuses it
    else:
        return 1.0
    if len(blob) < 4:
        return 1.0
    (trie,) = struct.unpack("<I", blob[:4])
    strings = blob[4 + trie:] if 4 + trie <= len(blob) else blob[4:]
    longest = max((len(s) for s in strings.split(b"\0")), default=1)
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
