"""Hostile model folders (issue 20, items 5, 6, 13 and 20; issue 21's one model-path check).

Every case is a folder generated here from the tiny BERT fixture, then planted: a
config that picks code (``auto_map`` in each file that honours it, a Hub attention
kernel), pickled weights only, sizes that do not match the weights, truncated or
forged safetensors, token ids past the embedding rows, links to devices. Each must
be refused before anything heavy is built, with an error naming the file, the key
and the fix; the same loaders keep working on honest folders (links as in the
Hugging Face cache included).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import LABELS
from safetensors.torch import load_file, save_file

from skbert import (
    TransformerEmbedder,
    TransformerMultiLabelClassifier,
    _load_errors,
    _modeling,
    _sources,
)

FAST = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)


def make_est(path, **kwargs):
    return TransformerMultiLabelClassifier(str(path), **{**FAST, **kwargs})


def loaders(folder):
    """Every public way a folder reaches transformers: fit (both poolings) and the embedder."""
    return {
        "fit cls": lambda X, Y: make_est(folder, pooling="cls").fit(X, Y),
        "fit mean": lambda X, Y: make_est(folder, pooling="mean").fit(X, Y),
        "embedder": lambda X, Y: TransformerEmbedder(str(folder), device="cpu").fit(X),
    }


@pytest.fixture
def folder(tiny_model, tmp_path):
    """A private copy of the tiny BERT checkpoint, to plant things in."""
    return shutil.copytree(tiny_model, tmp_path / "planted")


@pytest.fixture(scope="module")
def saved_mean(tiny_st_model, corpus, tmp_path_factory):
    """A mean-pooling folder skbert saved (from_pretrained's input)."""
    X, Y = corpus
    est = make_est(tiny_st_model).fit(X, pd.DataFrame(Y, columns=LABELS))
    folder = tmp_path_factory.mktemp("saved") / "mean"
    est.save_pretrained(folder)
    return folder


@pytest.fixture
def saved_copy(saved_mean, tmp_path):
    return shutil.copytree(saved_mean, tmp_path / "saved")


def edit_json(path, **changes):
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


@pytest.fixture
def no_weights_loaded(monkeypatch):
    """Fail the test if transformers is asked to build or load a model."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built before the folder was checked")

    for cls in (transformers.AutoModel, transformers.AutoModelForSequenceClassification):
        monkeypatch.setattr(cls, "from_pretrained", refuse)


def refused_everywhere(folder, corpus, match, error=ValueError):
    X, Y = corpus
    for name, load in loaders(folder).items():
        with pytest.raises(error, match=match):
            load(X, Y)


# ------------------------------------------------------------ 5. a folder can choose code
@pytest.mark.parametrize("key", ["attn_implementation", "_attn_implementation"])
def test_item05_attention_kernel_from_the_hub_is_refused(folder, corpus, key,
                                                         no_weights_loaded):
    edit_json(folder / "config.json", **{key: "attacker/evil-kernel"})
    refused_everywhere(folder, corpus, rf"config\.json sets {key}='attacker/evil-kernel'")


def test_item05_attention_kernel_in_a_saved_folder_is_refused(saved_copy, no_weights_loaded):
    edit_json(saved_copy / "config.json", attn_implementation="kernels-community/x:y")
    with pytest.raises(ValueError, match="config.json sets attn_implementation"):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)


def test_item05_a_folder_never_picks_the_attention(folder, corpus):
    """A built-in attention in config.json is allowed but skbert passes its own choice."""
    X, Y = corpus
    edit_json(folder / "config.json", attn_implementation="eager")
    est = make_est(folder).fit(X, Y)
    assert est.model_.backbone.config._attn_implementation == "sdpa"
    emb = TransformerEmbedder(str(folder), device="cpu").fit(X)
    assert emb.model_.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("file", ["config.json", "tokenizer_config.json"])
def test_item05_auto_map_is_refused_in_each_file(folder, corpus, file, no_weights_loaded):
    # model_type stays "bert": transformers would load its own class and ignore the map
    edit_json(folder / file, auto_map={"AutoModel": "evil.EvilModel",
                                       "AutoTokenizer": ["evil.EvilTokenizer", None]})
    (folder / "evil.py").write_text("raise SystemExit('ran the folder code')\n")
    refused_everywhere(folder, corpus, rf"{file} sets 'auto_map'.*never runs code")


@pytest.mark.parametrize("file", ["config.json", "tokenizer_config.json"])
def test_item05_auto_map_in_a_saved_folder_is_refused(saved_copy, file, no_weights_loaded):
    edit_json(saved_copy / file, auto_map={"AutoModel": "evil.EvilModel"})
    with pytest.raises(ValueError, match=rf"{file} sets 'auto_map'"):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)


def test_item05_auto_map_in_a_cached_hub_config_is_refused(folder, corpus, monkeypatch):
    edit_json(folder / "config.json", auto_map={"AutoModel": "evil.EvilModel"})
    monkeypatch.setattr(_sources, "_cached_hub_file",
                        lambda repo, name: str(folder / name) if repo == "org/evil" else None)
    X, Y = corpus
    with pytest.raises(ValueError, match="org/evil/config.json sets 'auto_map'"):
        make_est("org/evil").fit(X, Y)


def test_item05_hub_configs_are_checked_as_they_are_downloaded(folder, monkeypatch):
    """A hub name's config.json and tokenizer_config.json are fetched and checked first."""
    from transformers import AutoModel

    fetched = []

    def hub_file(repo, name, revision=None):
        fetched.append((repo, name, revision))
        return str(folder / name)

    monkeypatch.setattr(_sources, "_hub_file", hub_file)
    assert _sources.pretrained_kwargs("org/fine", AutoModel)["attn_implementation"] == "sdpa"
    edit_json(folder / "config.json", attn_implementation="attacker/evil-kernel")
    with pytest.raises(ValueError, match="org/evil/config.json sets attn_implementation"):
        _sources.pretrained_kwargs("org/evil", AutoModel, {"revision": "v1"})
    assert ("org/evil", "config.json", "v1") in fetched
    edit_json(folder / "tokenizer_config.json", auto_map={"AutoTokenizer": ["x.Y", None]})
    with pytest.raises(ValueError, match="org/evil/tokenizer_config.json sets 'auto_map'"):
        _modeling.load_tokenizer("org/evil")


def test_item05_pickled_weights_are_never_loaded(folder, corpus, monkeypatch):
    state = load_file(folder / "model.safetensors")
    torch.save(state, folder / "pytorch_model.bin")
    os.remove(folder / "model.safetensors")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("unpickled the weights"))
    refused_everywhere(folder, corpus,
                       r"pytorch_model\.bin.*safetensors.*save_pretrained\(folder\)")


def test_item05_saved_folder_with_pickled_weights_only_is_refused(saved_copy, monkeypatch):
    torch.save(load_file(saved_copy / "model.safetensors"), saved_copy / "pytorch_model.bin")
    os.remove(saved_copy / "model.safetensors")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("unpickled the weights"))
    with pytest.raises(ValueError, match=r"pytorch_model\.bin.*convert"):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)


def test_item05_model_kwargs_cannot_turn_pickles_on(tiny_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match="use_safetensors=False.*safetensors weights only"):
        make_est(tiny_model, model_kwargs={"use_safetensors": False}).fit(X, Y)


def test_item05_every_load_asks_for_safetensors_and_its_own_attention(tiny_model,
                                                                      monkeypatch):
    from transformers import AutoModel

    monkeypatch.setattr(_sources, "_hub_file", lambda *a: None)  # offline, not cached
    for path in (tiny_model, "org/not-cached"):
        kwargs = _sources.pretrained_kwargs(path, AutoModel)
        assert kwargs["use_safetensors"] is True and kwargs["trust_remote_code"] is False
        assert kwargs["attn_implementation"] in ("sdpa", "eager")
    assert _sources.pretrained_kwargs(tiny_model, AutoModel, {"attn_implementation": "eager"})[
        "attn_implementation"] == "eager"


@pytest.mark.parametrize("name, target", [("model.safetensors", "/dev/zero"),
                                          ("tokenizer.json", "/dev/null"),
                                          ("config.json", "/dev/null"),
                                          ("vocab.txt", "/")])
def test_item05_files_linked_to_devices_are_refused(folder, corpus, name, target):
    if not os.path.exists(target):
        pytest.skip(f"no {target} here")
    path = folder / name
    if path.exists():
        os.remove(path)
    os.symlink(target, path)
    refused_everywhere(folder, corpus, rf"{name} is not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "model.safetensors"])
def test_item05_fifo_files_are_refused_without_being_opened(folder, corpus, name):
    os.remove(folder / name)
    os.mkfifo(folder / name)  # reading it would block for ever
    refused_everywhere(folder, corpus, rf"{name} is not a regular file")


@pytest.mark.parametrize("text, match", [("[" * 100_000, "is not valid JSON"),
                                         ("[1, 2]", "holds list, not a JSON object"),
                                         ('{"model_type": "evil-arch"}', "does not ship")])
def test_item05_config_that_is_not_a_config_is_named(folder, corpus, text, match):
    (folder / "config.json").write_text(text)
    refused_everywhere(folder, corpus, rf"config\.json.*{match}")


def test_item05_folder_of_links_like_the_hub_cache_still_loads(tiny_model, corpus, tmp_path):
    """The Hugging Face cache stores every file as a link to a blob: that must keep working."""
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / "abc"
    blobs.mkdir()
    snapshot.mkdir(parents=True)
    for i, name in enumerate(sorted(os.listdir(tiny_model))):
        shutil.copy(os.path.join(tiny_model, name), blobs / str(i))
        os.symlink(os.path.join("..", "..", "blobs", str(i)), snapshot / name)
    X, Y = corpus
    proba = make_est(snapshot).fit(X, Y).predict_proba(X[:3])
    assert proba.shape == (3, len(LABELS))


# ---------------------------------------------------------------- 6. memory before checks
def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@pytest.mark.parametrize("changes, match", [
    ({"hidden_size": 4096},
     r"config\.json does not describe the weights in .*model\.safetensors: tensor "
     r"'embeddings\.word_embeddings\.weight' is \[\d+, 32\] there, but the config "
     r"\(hidden_size=4096.*\) makes it \[\d+, 4096\]"),
    ({"vocab_size": 100_000}, r"tensor 'embeddings\.word_embeddings\.weight'.*vocab_size=100000"),
    ({"intermediate_size": 8192}, r"intermediate\.dense\.weight.*intermediate_size=8192"),
    ({"max_position_embeddings": 100_000}, r"position_embeddings.*max_position_embeddings"),
    ({"num_hidden_layers": 48}, r"describes a model of .* holds only"),
    ({"vocab_size": 10_000_000}, r"vocab_size=10000000, outside \[0, 2,000,000\]"),
    ({"num_hidden_layers": 10**9}, r"num_hidden_layers=1000000000, outside"),
    ({"hidden_size": "4096"}, r"hidden_size=4096, outside"),
    ({"hidden_size": 30}, r"builds no model"),  # not a multiple of num_attention_heads
])
def test_item06_config_sizes_are_checked_against_the_weights_first(folder, corpus, changes,
                                                                   match, no_weights_loaded):
    edit_json(folder / "config.json", **changes)
    before, start = _peak_rss_mb(), time.perf_counter()
    refused_everywhere(folder, corpus, match)
    assert time.perf_counter() - start < 30  # 12 s and 2.1 GB each on 1adb55c
    assert _peak_rss_mb() - before < 500


def test_item06_saved_folder_with_a_bigger_config_is_refused(saved_copy, no_weights_loaded):
    edit_json(saved_copy / "config.json", hidden_size=4096)
    with pytest.raises(ValueError, match="does not describe the weights"):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)


@pytest.fixture(scope="module")
def saved_cls(tiny_model, corpus, tmp_path_factory):
    X, Y = corpus
    folder = tmp_path_factory.mktemp("saved") / "cls"
    make_est(tiny_model, pooling="cls").fit(X, Y).save_pretrained(folder)
    return folder


def test_item06_saved_head_with_other_labels_than_the_config_is_refused(saved_cls, corpus,
                                                                          tmp_path,
                                                                          no_weights_loaded):
    shutil.copytree(saved_cls, tmp_path / "cls")
    labels = {str(i): f"l{i}" for i in range(100_000)}  # 4 rows saved: 100,000 to build
    edit_json(tmp_path / "cls" / "config.json", id2label=labels,
              label2id={v: int(k) for k, v in labels.items()})
    with pytest.raises(ValueError, match=r"'classifier\.weight' is \[4, 32\] there, but the "
                                         r"config \(id2label of 100000 labels\)"):
        TransformerMultiLabelClassifier.from_pretrained(tmp_path / "cls")
    refused_everywhere(tmp_path / "cls", corpus, "id2label of 100000 labels")


def test_item13_saved_folder_tokenizer_past_the_embedding_rows(saved_copy):
    doc = json.loads((saved_copy / "tokenizer.json").read_text())
    doc["added_tokens"].append({"id": 10**6, "content": "[EVIL]", "single_word": False,
                                "lstrip": False, "rstrip": False, "normalized": False,
                                "special": True})
    (saved_copy / "tokenizer.json").write_text(json.dumps(doc))
    clf = None
    with pytest.raises(ValueError, match=r"token .\[EVIL\]. the id \d+, but the model has 32 "):
        clf = TransformerMultiLabelClassifier.from_pretrained(saved_copy)
    assert clf is None


def test_item06_sharded_weights_are_checked_too(folder, corpus, no_weights_loaded):
    state = load_file(folder / "model.safetensors")
    names = sorted(state)
    half = len(names) // 2
    save_file({k: state[k] for k in names[:half]}, folder / "model-00001-of-00002.safetensors")
    save_file({k: state[k] for k in names[half:]}, folder / "model-00002-of-00002.safetensors")
    os.remove(folder / "model.safetensors")
    index = {"metadata": {}, "weight_map": {
        k: f"model-0000{1 if i < half else 2}-of-00002.safetensors" for i, k in enumerate(names)}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    edit_json(folder / "config.json", hidden_size=4096)
    refused_everywhere(folder, corpus, "does not describe the weights")


def test_item06_sharded_index_cannot_point_outside_the_folder(folder, corpus):
    os.remove(folder / "model.safetensors")
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "../../elsewhere.safetensors"}}))
    refused_everywhere(folder, corpus, "has no valid weight_map")


def _real_shapes(tiny_model, pooling, n_labels):
    config = json.loads(open(os.path.join(tiny_model, "config.json")).read())
    config.update(id2label={str(i): f"l{i}" for i in range(n_labels)})
    model = _modeling.model_from_config(config, pooling, n_labels)
    return config, {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_item06_model_from_config_checks_the_tensor_shapes_first(tiny_model, pooling,
                                                                 monkeypatch):
    config, shapes = _real_shapes(tiny_model, pooling, 3)
    model = _modeling.model_from_config(config, pooling, 3, shapes=shapes)  # honest: builds
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == shapes

    import transformers

    auto = (transformers.AutoModelForSequenceClassification if pooling == "cls"
            else transformers.AutoModel)
    real = auto.from_config
    built = []

    def spy(*args, **kwargs):  # building on the meta device (the check) takes no memory
        if torch.get_default_device().type != "meta":
            built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(auto, "from_config", spy)
    with pytest.raises(ValueError, match=r"hidden_size=4096.*makes it \[\d+, 4096\]"):
        _modeling.model_from_config({**config, "hidden_size": 4096}, pooling, 3,
                                    shapes=shapes, source="a cache entry")
    assert not built


def test_item06_model_from_config_refuses_code_and_absurd_sizes(tiny_model):
    config, shapes = _real_shapes(tiny_model, "mean", 3)
    with pytest.raises(ValueError, match="sets 'auto_map'"):
        _modeling.model_from_config({**config, "auto_map": {"AutoModel": "x.Y"}}, "mean", 3)
    with pytest.raises(ValueError, match="sets attn_implementation='evil/kernel'"):
        _modeling.model_from_config({**config, "attn_implementation": "evil/kernel"}, "mean", 3)
    with pytest.raises(ValueError, match="num_hidden_layers=100000, outside"):
        _modeling.model_from_config({**config, "num_hidden_layers": 100_000}, "mean", 3)
    with pytest.raises(ValueError, match="lacks tensor"):
        _modeling.model_from_config(config, "mean", 3, shapes={})
    with pytest.raises(ValueError, match="has no place for"):
        _modeling.model_from_config(config, "mean", 3, shapes={**shapes, "extra": (1,)})
    # a recorded attention that is a Hub kernel is never passed to transformers
    model = _modeling.model_from_config(config, "mean", 3, "evil/kernel")
    assert model.backbone.config._attn_implementation in ("sdpa", "eager")


# ------------------------------------------------------------------ 13. errors, not tracebacks
@pytest.mark.parametrize("cut", ["half", "header", "tiny"])
def test_item13_truncated_safetensors_names_the_file(folder, corpus, cut):
    path = folder / "model.safetensors"
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    keep = {"half": len(data) // 2, "header": 8 + n // 2, "tiny": 5}[cut]
    path.write_bytes(data[:keep])
    refused_everywhere(folder, corpus, r"model\.safetensors is damaged or truncated.*again")


def test_item13_forged_safetensors_header_names_the_file(folder, corpus):
    path = folder / "model.safetensors"
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [10**6, 10**6]  # far more bytes than its offsets hold
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + n:])
    refused_everywhere(folder, corpus, rf"damaged or truncated \(tensor '{name}' has")


def test_item13_saved_folder_with_truncated_weights(saved_copy):
    path = saved_copy / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"model\.safetensors is damaged or truncated"):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)


def test_item13_raw_safetensor_errors_are_explained():
    from safetensors import SafetensorError

    with pytest.raises(ValueError, match="'m' are damaged or truncated.*save_pretrained"):
        with _load_errors.explain_load_errors("m"):
            raise SafetensorError("Error while deserializing header: MetadataIncompleteBuffer")


def test_item13_token_ids_past_the_embedding_rows_are_refused_at_load(folder, corpus):
    doc = json.loads((folder / "tokenizer.json").read_text())
    rows = json.loads((folder / "config.json").read_text())["vocab_size"]
    doc["model"]["vocab"]["football"] = rows + 5
    (folder / "tokenizer.json").write_text(json.dumps(doc))
    refused_everywhere(folder, corpus,
                       rf"gives token 'football' the id {rows + 5}, but the model has {rows} "
                       r"embedding rows")


# ---------------------------------------------- 20. loaders that cannot use a mean folder
def test_item20_sequence_classification_loaders_are_told_what_the_folder_is(saved_mean, caplog,
                                                                          capfd):
    import transformers
    from transformers import AutoModel, AutoModelForSequenceClassification

    keys = load_file(saved_mean / "model.safetensors")
    assert keys[_modeling.GUARD_NOTE].numel() == 0
    assert "TransformerMultiLabelClassifier.from_pretrained" in _modeling.GUARD_NOTE
    assert "SentenceTransformer" in _modeling.GUARD_NOTE
    with pytest.raises((RuntimeError, ValueError, OSError)):
        AutoModelForSequenceClassification.from_pretrained(saved_mean)
    if int(transformers.__version__.split(".")[0]) >= 5:  # 5.x prints its load report
        said = caplog.text + capfd.readouterr().err
        assert "TransformerMultiLabelClassifier.from_pretrained" in said
    AutoModel.from_pretrained(saved_mean)  # the encoder still loads
    clf = TransformerMultiLabelClassifier.from_pretrained(saved_mean)
    assert clf.pooling_ == "mean"


# ------------------------------------------------------------- issue 21: one model-path check
def test_one_model_path_check_names_the_argument(tmp_path, tiny_model, monkeypatch):
    check = _sources.check_model_source
    check(tiny_model)  # an honest folder passes
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match="--model .*is a file"):
        check(str(tmp_path / "file"), label="--model")
    with pytest.raises(FileNotFoundError, match=r"does not exist.*hub name"):
        check(str(tmp_path / "missing"), label="--model")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check("not a/valid repo!!", label="--model", hub_check=True)
    check("not a/valid repo!!")  # left to transformers, which names it
    monkeypatch.setattr(_sources, "in_hub_cache", lambda name: False)
    monkeypatch.setattr(_sources, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(FileNotFoundError, match="not in the Hugging Face cache"):
        check("org/name", label="--model", hub_check=True)
    check("org/name")  # without hub_check, the hub decides
    assert _sources.looks_like_hub_name("org/name-v2.1")
    assert not _sources.looks_like_hub_name("./here")
    assert not _sources.looks_like_hub_name("/abs/path")


def test_a_folder_without_weights_says_what_it_needs(folder, corpus):
    os.remove(folder / "model.safetensors")
    refused_everywhere(folder, corpus, r"holds no weights \(model\.safetensors\)",
                       FileNotFoundError)


def test_honest_folders_still_give_the_same_model(tiny_model, corpus):
    X, Y = corpus
    a = make_est(tiny_model).fit(X, Y).predict_proba(X)
    b = make_est(tiny_model).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_item05_hub_repo_without_safetensors_says_how_to_convert():
    text = ("org/old does not appear to have a file named model.safetensors or "
            "model.safetensors.index.json and thus cannot be loaded with `safetensors`. Please "
            "do not set `use_safetensors=True`.")
    with pytest.raises(ValueError, match=r"not safetensors.*save_pretrained\(folder\)"):
        with _load_errors.explain_load_errors("org/old"):
            raise OSError(text)


# ------------------------- fresh-eye trial: a saved folder whose parts do not agree
@pytest.fixture(params=["mean", "cls"])
def saved_any(request, saved_mean, saved_cls, tmp_path):
    """A private copy of a folder skbert saved, with each pooling."""
    source = saved_mean if request.param == "mean" else saved_cls
    return shutil.copytree(source, tmp_path / request.param)


def edit_weights(folder, change):
    path = folder / "model.safetensors"
    state = load_file(path)
    change(state)
    save_file(state, path, metadata={"format": "pt"})


def test_item06_saved_folder_whose_config_has_fewer_layers_is_refused(saved_any):
    """Weights of 2 layers under num_hidden_layers=1 loaded silently (probabilities moved)."""
    edit_json(saved_any / "config.json", num_hidden_layers=1)
    with pytest.raises(ValueError, match=r"model\.safetensors holds 16 tensor\(s\) that the model "
                                         r".*config\.json describes has no place for \(first: "
                                         r"'(bert\.)?encoder\.layer\.1\.[^']+'; config\.json sets "
                                         r"num_hidden_layers=1\)"):
        TransformerMultiLabelClassifier.from_pretrained(saved_any)


def test_item06_checkpoint_whose_config_has_fewer_layers_is_refused_first(folder, corpus,
                                                                           no_weights_loaded):
    """Fit and the embedder too, from the safetensors header, before anything is built."""
    edit_json(folder / "config.json", num_hidden_layers=1)
    refused_everywhere(folder, corpus, r"model\.safetensors holds 16 tensor\(s\) .*\(first: "
                                       r"'encoder\.layer\.1\.[^']+'; config\.json sets "
                                       r"num_hidden_layers=1\)")


def test_item06_plain_checkpoint_with_a_pretraining_head_still_fits(folder, corpus):
    """Tensors of a head the fit does not use (BERT's cls.predictions.*) are not layers."""
    edit_weights(folder, lambda state: state.update(
        {"cls.predictions.bias": torch.zeros(32),
         "cls.predictions.transform.dense.weight": torch.zeros(32, 32)}))
    X, Y = corpus
    assert make_est(folder).fit(X, Y).predict_proba(X[:2]).shape == (2, 4)


def test_item06_saved_folder_with_extra_tensors_is_refused(saved_any):
    edit_weights(saved_any, lambda state: state.update({"planted.extra": torch.zeros(10)}))
    with pytest.raises(ValueError, match=r"model\.safetensors holds 1 tensor\(s\) .* \(first: "
                                         r"'planted\.extra'; no part of the model config\.json "
                                         r"describes \(model_type=bert, num_hidden_layers=2"):
        TransformerMultiLabelClassifier.from_pretrained(saved_any)


def test_item13_saved_folder_with_nan_weights_is_refused_at_load(saved_any):
    """It loaded, then predict advised a lower learning_rate: the folder is what is wrong."""
    def poison(state):
        name = next(k for k in state if k.endswith("word_embeddings.weight"))
        state[name][3, 5] = float("nan")

    edit_weights(saved_any, poison)
    match = (r"model\.safetensors holds weights that are not finite "
             r".*'(bert\.)?embeddings\.word_embeddings\.weight'")
    with pytest.raises(ValueError, match=match) as info:
        TransformerMultiLabelClassifier.from_pretrained(saved_any)
    assert "learning_rate" not in str(info.value)


def test_item10_saved_folder_with_labels_equal_as_text_is_refused(saved_copy):
    """skbert.json classes [1, "1", ...] loaded; the CLI then wrote two proba_1 columns."""
    edit_json(saved_copy / "skbert.json", classes=[1, "1", "food", "tech"])
    with pytest.raises(ValueError, match=r"skbert\.json is damaged or was not written by skbert: "
                                         r"its 'classes' 1 \(int\) and '1' \(str\) are the same "
                                         r"name once written as text.*save_pretrained"):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)


def test_item10_saved_folder_with_look_alike_labels_still_loads(saved_copy):
    """Nothing is lost with look-alike names: folders saved before fit refused them load."""
    names = ["a", "a ", "caf\u00e9", "cafe\u0301"]
    edit_json(saved_copy / "skbert.json", classes=names)
    edit_json(saved_copy / "config.json", id2label={str(i): n for i, n in enumerate(names)},
              label2id={n: i for i, n in enumerate(names)})  # as save_pretrained wrote them
    assert list(TransformerMultiLabelClassifier.from_pretrained(saved_copy).classes_) == names


def test_item05_attention_given_as_a_list_is_named(saved_copy, folder, corpus,
                                                   no_weights_loaded):
    """A list gave a raw TypeError (unhashable) naming no file."""
    value = ["sdpa", "kernels-community/flash"]
    for where in (saved_copy, folder):
        edit_json(where / "config.json", attn_implementation=value)
    match = r"config\.json sets attn_implementation=.*kernels-community/flash.*not an attention"
    with pytest.raises(ValueError, match=match):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)
    refused_everywhere(folder, corpus, match)


def test_item05_quantization_config_is_refused(saved_copy, folder, corpus, no_weights_loaded):
    """It gave a raw ImportError asking to pip install bitsandbytes: the folder chose a backend."""
    quant = {"quant_method": "bitsandbytes", "load_in_8bit": True}
    for where in (saved_copy, folder):
        edit_json(where / "config.json", quantization_config=quant)
    match = (r"config\.json sets 'quantization_config' \(quant_method='bitsandbytes'\).*delete "
             r"'quantization_config'")
    with pytest.raises(ValueError, match=match):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)
    refused_everywhere(folder, corpus, match)


def test_item05_settings_file_linked_to_a_device_is_named(saved_copy, corpus):
    """It said the folder "holds no skbert.json" (and fit took it for a plain checkpoint)."""
    os.remove(saved_copy / "skbert.json")
    os.symlink("/dev/zero", saved_copy / "skbert.json")
    match = r"skbert\.json is not a regular file \(a folder, FIFO, device, or a link to one\)"
    with pytest.raises(ValueError, match=match):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)
    X, Y = corpus
    with pytest.raises(ValueError, match=match):
        make_est(saved_copy).fit(X, Y)


def test_item05_missing_settings_file_still_says_what_the_folder_is(saved_copy):
    os.remove(saved_copy / "skbert.json")
    with pytest.raises(FileNotFoundError, match="holds no skbert.json, so it is not a folder"):
        TransformerMultiLabelClassifier.from_pretrained(saved_copy)
