"""Issue 15: LoRA adapters through peft_config; the frozen base does not move."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from skbert import TransformerMultiLabelClassifier

peft = pytest.importorskip("peft")

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            fit_cache=False, precision="fp32")


def lora():
    return peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"])


def base_weights(path):
    return load_file(f"{path}/model.safetensors")


@pytest.mark.parametrize("fixture", ["tiny_st_model", "tiny_model"])
def test_lora_leaves_the_base_weights_equal_to_the_checkpoints(request, corpus, fixture):
    path = request.getfixturevalue(fixture)
    X, Y = corpus
    est = TransformerMultiLabelClassifier(path, peft_config=lora(), **FAST).fit(X, Y)
    base = est.model_.backbone.get_base_model()
    encoder = getattr(base, "bert", base)  # cls: the encoder inside the classifier
    state = {k.replace("base_layer.", ""): v for k, v in encoder.state_dict().items()
             if "lora_" not in k}
    checkpoint = base_weights(path)
    compared = [k for k in checkpoint if k in state and not k.startswith("pooler")]
    assert len(compared) >= 20
    for name in compared:
        torch.testing.assert_close(state[name], checkpoint[name], rtol=0, atol=0)
    lora_params = [n for n, p in est.model_.named_parameters() if "lora_" in n]
    assert lora_params and all(est.model_.get_parameter(n).requires_grad for n in lora_params)
    head = est.model_.output_layer()
    assert head.weight.requires_grad
    assert est.history_[-1]["train_loss"] < est.history_[0]["train_loss"] + 1e-6


def test_lora_trains_fewer_parameters_and_learns(tiny_st_model, corpus):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, peft_config=lora(),
                                          **{**FAST, "max_epochs": 6}).fit(X, Y)
    trainable = sum(p.numel() for p in est.model_.parameters() if p.requires_grad)
    total = sum(p.numel() for p in est.model_.parameters())
    assert trainable < total / 4
    from sklearn.metrics import f1_score

    assert f1_score(Y, est.predict(X), average="micro") > 0.3


def test_lora_model_pickles_and_saves_merged_with_the_adapter(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, peft_config=lora(), **FAST).fit(X, Y)
    proba = est.predict_proba(X)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(back.predict_proba(X), proba, atol=1e-5)
    est.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "adapter" / "adapter_config.json").is_file()
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m", precision="fp32")
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=1e-5)
    assert loaded.peft_config is None  # never taken from a folder
    assert est.peft_config.r == 4  # the user's config object is not changed by fit


def test_bad_peft_config_is_named(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    with pytest.raises(ValueError, match="not a peft configuration.*LoraConfig"):
        TransformerMultiLabelClassifier(tiny_st_model, peft_config={"r": 8}, **FAST).fit(X, Y)
    assert train_calls == []


def test_adapter_files_of_a_folder_skbert_did_not_save_are_kept(tiny_st_model, corpus, tmp_path):
    # before: the foreign-folder check covered the model files only, and adapter/ was
    # written after it, over a checkpoint's own adapter files
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, peft_config=lora(), **FAST).fit(X, Y)
    theirs = tmp_path / "checkpoint"
    (theirs / "adapter").mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (theirs / "adapter" / name).write_text("theirs")
    with pytest.raises(FileExistsError, match=r"did not write \(adapter/adapter_config.json"):
        est.save_pretrained(theirs)
    assert sorted(p.name for p in theirs.iterdir()) == ["adapter"]
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (theirs / "adapter" / name).read_text() == "theirs"
    est.save_pretrained(tmp_path / "m")  # a second save over skbert's own folder replaces it
    est.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "adapter" / "adapter_model.safetensors").is_file()


def test_a_save_without_peft_removes_the_adapter_an_earlier_peft_save_wrote(
        tiny_st_model, corpus, tmp_path):
    """Attacker trial 24: a model fitted without peft_config saved over a folder a peft
    model was saved to left the other model's adapter/ beside its weights."""
    X, Y = corpus
    folder = tmp_path / "m"
    TransformerMultiLabelClassifier(tiny_st_model, peft_config=lora(), **FAST).fit(
        X, Y).save_pretrained(folder)
    assert (folder / "adapter" / "adapter_config.json").exists()
    (folder / "adapter" / "my-notes.txt").write_text("mine")  # not peft's: kept
    TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y).save_pretrained(folder)
    assert sorted(p.name for p in (folder / "adapter").iterdir()) == ["my-notes.txt"]
    (folder / "adapter" / "my-notes.txt").unlink()
    TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y).save_pretrained(folder)
    assert not (folder / "adapter").exists()


def test_a_linked_adapter_kept_beside_a_model_saved_without_peft_warns(
        tiny_st_model, corpus, tmp_path):
    """Retrial of attacker trial 24: a link at adapter/ (or at one of peft's files in it)
    was kept, never followed, without a word."""
    import os

    X, Y = corpus
    folder = tmp_path / "m"
    est = TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y)
    est.save_pretrained(folder)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "adapter_config.json").write_text("{}")
    os.symlink(theirs, folder / "adapter")
    with pytest.warns(UserWarning, match=r"adapter' is a link, which skbert neither follows"):
        est.save_pretrained(folder)
    assert (theirs / "adapter_config.json").read_text() == "{}"
