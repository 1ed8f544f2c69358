"""Issue 14, models that travel: saved folders outside skbert, model cards, the Hub, ONNX, refits.

Every fit uses the tiny fixtures (tiny_st_model: mean pooling, tiny_model: cls) at
precision="fp32". The standard-library checks run in a subprocess that never imports
skbert. Nothing here touches the network: push_to_hub's HfApi calls are stubbed.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import LABELS
from safetensors.torch import load_file, save_file
from sklearn.base import clone

from skbert import SkbertWarning, TransformerMultiLabelClassifier, _export

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)
SENTENCE_FILES = ["modules.json", "sentence_bert_config.json",
                  "config_sentence_transformers.json", "1_Pooling", "2_Dense"]


def make_est(path, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, **kwargs})


def fit_named(path, corpus, **kwargs):
    X, Y = corpus
    return make_est(path, **kwargs).fit(X, pd.DataFrame(Y, columns=LABELS))


@pytest.fixture(scope="module")
def saved(tiny_st_model, tiny_model, corpus, tmp_path_factory):
    """One saved folder per pooling, with the fitted estimator's fp32 probabilities."""
    X, _ = corpus
    root = tmp_path_factory.mktemp("export")
    out = {}
    for pooling, base in (("mean", tiny_st_model), ("cls", tiny_model)):
        est = fit_named(base, corpus, threshold=[0.3, 0.4, 0.5, 0.6])
        assert est.pooling_ == pooling
        est.save_pretrained(root / pooling)
        out[pooling] = (root / pooling, est.predict_proba(X))
    return out


def copy_of(folder, tmp_path, name="m"):
    return shutil.copytree(folder, tmp_path / name)


# ------------------------------------------------- 1. the folder outside skbert
STANDALONE = textwrap.dedent("""
    import json, sys
    import numpy as np
    mean, cls, texts_file, out = sys.argv[1:5]
    texts = json.loads(open(texts_file).read())
    result = {}

    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(mean, device="cpu")
    np.save(out + "/st.npy", st.encode(texts, batch_size=7))

    from transformers import AutoModel, AutoModelForSequenceClassification, pipeline
    AutoModel.from_pretrained(mean)
    for name, load in [
            ("auto_mean", lambda: AutoModelForSequenceClassification.from_pretrained(mean)),
            ("pipeline_mean", lambda: pipeline("text-classification", model=mean))]:
        try:
            load()
            result[name] = "loaded"
        except Exception as exc:
            result[name] = type(exc).__name__ + ": " + str(exc)[:300]

    pipe = pipeline("text-classification", model=cls, top_k=None, device="cpu")
    labels = list(pipe.model.config.id2label.values())
    rows = pipe(texts, truncation=True, max_length=int(sys.argv[5]), batch_size=5)
    np.save(out + "/pipe.npy",
            np.array([[{d["label"]: d["score"] for d in r}[k] for k in labels] for r in rows]))
    result["labels"] = labels
    result["skbert_imported"] = any(m == "skbert" or m.startswith("skbert.")
                                    for m in sys.modules)
    json.dump(result, open(out + "/result.json", "w"))
""")


@pytest.fixture(scope="module")
def standalone(saved, corpus, tmp_path_factory):
    """Load both saved folders with sentence-transformers and transformers only."""
    pytest.importorskip("sentence_transformers")
    X, _ = corpus
    out = tmp_path_factory.mktemp("standalone")
    (out / "texts.json").write_text(json.dumps(X))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    res = subprocess.run(
        [sys.executable, "-c", STANDALONE, str(saved["mean"][0]), str(saved["cls"][0]),
         str(out / "texts.json"), str(out), "128"],
        capture_output=True, text=True, env=env, timeout=600, cwd=out)
    assert res.returncode == 0, res.stderr[-3000:]
    return out, json.loads((out / "result.json").read_text())


def test_standalone_run_never_imported_skbert(standalone):
    assert standalone[1]["skbert_imported"] is False


def test_mean_folder_is_a_sentence_transformer_giving_the_probabilities(saved, standalone):
    got = np.load(standalone[0] / "st.npy")
    expected = saved["mean"][1]
    assert got.shape == expected.shape == (48, len(LABELS))
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_mean_folder_layout(saved):
    folder = saved["mean"][0]
    assert json.loads((folder / "modules.json").read_text())[2]["path"] == "2_Dense"
    assert json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"] == 128
    dense = json.loads((folder / "2_Dense" / "config.json").read_text())
    assert dense["activation_function"] == "torch.nn.modules.activation.Sigmoid"
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    head = load_file(folder / "skbert_head.safetensors")
    weights = load_file(folder / "2_Dense" / "model.safetensors")
    assert torch.equal(weights["linear.weight"], head["weight"])
    assert "architectures" not in json.loads((folder / "config.json").read_text())
    assert load_file(folder / "model.safetensors")["classifier.weight"].numel() == 0
    assert not any(p.suffix in (".bin", ".pkl", ".pt") for p in folder.rglob("*"))


def test_mean_folder_is_refused_by_sequence_classification_loaders(standalone):
    result = standalone[1]
    # transformers 5 raises on the guard's shape, transformers 4 calls the checkpoint corrupted
    assert ("ignore_mismatched_sizes" in result["auto_mean"]
            or "corrupted" in result["auto_mean"]), result["auto_mean"]
    assert result["pipeline_mean"].startswith("ValueError"), result["pipeline_mean"]


def test_cls_folder_is_reproduced_by_the_pipeline(saved, standalone):
    assert standalone[1]["labels"] == LABELS
    np.testing.assert_allclose(np.load(standalone[0] / "pipe.npy"), saved["cls"][1],
                               atol=1e-4, rtol=0)


def test_cls_folder_has_no_sentence_transformers_files(saved):
    assert not any((saved["cls"][0] / name).exists() for name in SENTENCE_FILES)


def test_cls_model_saved_over_a_mean_one_removes_its_sentence_files(saved, tiny_model, corpus,
                                                                    tmp_path):
    folder = copy_of(saved["mean"][0], tmp_path)
    est = fit_named(tiny_model, corpus, max_epochs=1)
    est.save_pretrained(folder)
    assert not any((folder / name).exists() for name in SENTENCE_FILES)
    assert not (folder / "skbert_head.safetensors").exists()
    loaded = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    np.testing.assert_array_equal(loaded.predict_proba(corpus[0]), est.predict_proba(corpus[0]))


def test_a_users_own_modules_json_is_left_alone(saved, tiny_model, corpus, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "modules.json").write_text('[{"mine": true}]')
    fit_named(tiny_model, corpus, max_epochs=1).save_pretrained(folder)
    assert (folder / "modules.json").read_text() == '[{"mine": true}]'


def old_layout(folder):
    """Turn a saved mean folder into the layout skbert wrote before issue 14."""
    for name in SENTENCE_FILES + ["README.md"]:
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    weights = {k: v for k, v in load_file(folder / "model.safetensors").items()
               if not k.startswith("classifier.")}
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["BertModel"]
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_folders_in_the_old_layout_still_load(saved, corpus, tmp_path):
    folder = old_layout(copy_of(saved["mean"][0], tmp_path))
    loaded = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    assert loaded.pooling_ == "mean"
    np.testing.assert_allclose(loaded.predict_proba(corpus[0]), saved["mean"][1], atol=1e-6)


def test_edited_sentence_transformers_head_is_refused(saved, tmp_path):
    folder = copy_of(saved["mean"][0], tmp_path)
    path = folder / "2_Dense" / "model.safetensors"
    weights = load_file(path)
    weights["linear.bias"] = weights["linear.bias"] + 1.0
    save_file(weights, path)
    with pytest.raises(ValueError, match=r"2_Dense.*sentence-transformers would compute other"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


def test_edited_max_seq_length_is_refused(saved, tmp_path):
    folder = copy_of(saved["mean"][0], tmp_path)
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 512}')
    with pytest.raises(ValueError, match="sentence_bert_config.json.*save the model again"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


# ----------------------------------------------------------------- 2. model card
def card_of(folder):
    return (folder / "README.md").read_text()


def test_model_card_follows_the_hub_conventions(saved):
    text = card_of(saved["mean"][0])
    header = text.split("---")[1]
    assert "library_name: sentence-transformers" in header
    assert "pipeline_tag: text-classification" in header
    assert "- skbert" in header and "- multi-label-classification" in header
    assert "base_model" not in header  # a local fixture folder is not a Hub id
    local = json.loads((saved["mean"][0] / "skbert.json").read_text())["base_model"]
    assert local not in text and "(a local folder)" in text  # no local path in a shared card
    assert _export.CARD_MARKER in text
    for i, (label, threshold) in enumerate(zip(LABELS, [0.3, 0.4, 0.5, 0.6])):
        assert f"| {i} | {label} | {threshold} |" in text
    assert "| `learning_rate` | 0.003 |" in text and "| `max_length` | 128 |" in text
    assert "SentenceTransformer(" in text and "from_pretrained(folder)" in text
    assert "No validation split" in text
    cls_text = card_of(saved["cls"][0])
    assert "library_name: transformers" in cls_text
    assert 'pipeline("text-classification"' in cls_text and "max_length=128" in cls_text


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_model_card_shows_validation_metrics_and_tuned_thresholds(tiny_st_model, corpus,
                                                                  tmp_path):
    est = fit_named(tiny_st_model, corpus, threshold="auto", validation_fraction=0.25,
                    early_stopping=True, max_epochs=3, n_iter_no_change=3)
    est.save_pretrained(tmp_path / "m")
    text = card_of(tmp_path / "m")
    assert "| epoch | train_loss | valid_loss | valid_f1 |" in text
    assert f"| {est.best_epoch_} (kept) |" in text
    loss = est.history_[est.best_epoch_ - 1]["valid_loss"]
    assert f"{loss:.4g}" in text
    for i, t in enumerate(est.thresholds_):
        assert f"| {i} | {LABELS[i]} | {t:.4g} |" in text
    assert "tuned on the validation split" in text


def test_model_card_names_a_hub_base_model(saved, tmp_path):
    folder = copy_of(saved["cls"][0], tmp_path)
    settings = json.loads((folder / "skbert.json").read_text())
    settings["base_model"] = "google-bert/bert-base-uncased"
    (folder / "skbert.json").write_text(json.dumps(settings))
    _export.write_model_card(str(folder), name="me/my-model", hub=True)
    text = card_of(folder)
    assert 'base_model: "google-bert/bert-base-uncased"' in text.split("---")[1]
    assert 'folder = "me/my-model"' in text and "snapshot_download" not in text
    assert text.count("# me/my-model") == 1


def test_a_readme_the_user_wrote_is_never_overwritten(tiny_st_model, corpus, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "README.md").write_text("# My notes\n")
    est = fit_named(tiny_st_model, corpus, max_epochs=1)
    with pytest.warns(SkbertWarning, match="README.md was not written by skbert.*delete"):
        est.save_pretrained(folder)
    assert (folder / "README.md").read_text() == "# My notes\n"
    TransformerMultiLabelClassifier.from_pretrained(folder)  # the model itself was saved


def test_skbert_card_is_replaced_on_the_next_save(tiny_st_model, corpus, tmp_path):
    est = fit_named(tiny_st_model, corpus, max_epochs=1)
    est.save_pretrained(tmp_path / "m")
    est.set_params(threshold=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.save_pretrained(tmp_path / "m")
    assert "| 0 | sports | 0.25 |" in card_of(tmp_path / "m")


# --------------------------------------------------------------------- 3. the Hub
class FakeHub:
    """Stands in for the network calls of huggingface_hub.HfApi."""

    def __init__(self, tmp_path, remote_readme=None):
        self.calls, self.uploaded = [], tmp_path / "uploaded"
        self.remote_readme = remote_readme
        self.tmp_path = tmp_path

    def install(self, monkeypatch):
        from huggingface_hub import HfApi

        hub = self

        def create_repo(self, repo_id, **kw):
            hub.calls.append(("create_repo", repo_id, kw))
            return f"https://huggingface.co/{repo_id}"

        def file_exists(self, repo_id, filename, **kw):
            hub.calls.append(("file_exists", repo_id, filename))
            return filename == "README.md" and hub.remote_readme is not None

        def hf_hub_download(self, repo_id, filename, **kw):
            path = hub.tmp_path / "remote_README.md"
            path.write_text(hub.remote_readme)
            return str(path)

        def upload_folder(self, *, repo_id, folder_path, **kw):
            hub.calls.append(("upload_folder", repo_id, kw))
            shutil.copytree(folder_path, hub.uploaded)
            return "commit-info"

        for name, fn in [("create_repo", create_repo), ("file_exists", file_exists),
                         ("hf_hub_download", hf_hub_download), ("upload_folder", upload_folder)]:
            monkeypatch.setattr(HfApi, name, fn)
        return self


def test_push_to_hub_uploads_the_saved_folder(saved, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    est = TransformerMultiLabelClassifier.from_pretrained(saved["mean"][0], device="cpu")
    hub = FakeHub(tmp_path).install(monkeypatch)
    assert est.push_to_hub("me/tiny", private=True, commit_message="first") == "commit-info"
    create, upload = hub.calls[0], hub.calls[-1]
    assert create[:2] == ("create_repo", "me/tiny")
    assert create[2]["private"] is True and create[2]["exist_ok"] is True
    assert upload[2]["commit_message"] == "first" and upload[2]["ignore_patterns"] is None
    assert upload[2]["delete_patterns"] is None
    files = {p.relative_to(hub.uploaded).as_posix() for p in hub.uploaded.rglob("*")}
    assert {"config.json", "model.safetensors", "skbert.json", "README.md", "modules.json",
            "2_Dense/model.safetensors", "tokenizer.json"} <= files
    text = (hub.uploaded / "README.md").read_text()
    assert "# me/tiny" in text and 'SentenceTransformer("me/tiny")' in text
    back = TransformerMultiLabelClassifier.from_pretrained(hub.uploaded, device="cpu")
    np.testing.assert_allclose(back.predict_proba(["football match"]),
                               est.predict_proba(["football match"]), atol=1e-6)


def test_push_to_hub_keeps_a_readme_the_user_wrote_on_the_hub(saved, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    est = TransformerMultiLabelClassifier.from_pretrained(saved["cls"][0], device="cpu")
    hub = FakeHub(tmp_path, remote_readme="# Hand-written\n").install(monkeypatch)
    with pytest.warns(SkbertWarning, match="README.md that skbert did not write"):
        est.push_to_hub("me/tiny")
    upload = hub.calls[-1][2]
    assert upload["ignore_patterns"] == ["README.md"]
    assert "modules.json" in upload["delete_patterns"]  # a cls model: no stale mean layout


def test_push_to_hub_replaces_skbert_own_card(saved, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    est = TransformerMultiLabelClassifier.from_pretrained(saved["cls"][0], device="cpu")
    hub = FakeHub(tmp_path, remote_readme=card_of(saved["cls"][0])).install(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.push_to_hub("me/tiny")
    assert hub.calls[-1][2]["ignore_patterns"] is None


@pytest.mark.parametrize("repo_id", ["", "a/b/c", "../x", "me/has space"])
def test_push_to_hub_rejects_a_bad_repo_id(saved, repo_id, tmp_path, monkeypatch):
    est = TransformerMultiLabelClassifier.from_pretrained(saved["cls"][0], device="cpu")
    hub = FakeHub(tmp_path).install(monkeypatch)
    with pytest.raises(ValueError, match="user/name"):
        est.push_to_hub(repo_id)
    assert hub.calls == []


# --------------------------------------------------------------------------- 4. ONNX
@pytest.fixture(scope="module", autouse=True)
def _own_onnx_key(tmp_path_factory):
    """This module's ONNX key lives in a private cache folder, never in the user's own."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="module")
def onnx_saved(saved, tmp_path_factory):
    """The saved folders, each exported to ONNX once (copies, so ``saved`` stays clean)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    root = tmp_path_factory.mktemp("onnx")
    out = {}
    for pooling, (folder, proba) in saved.items():
        dst = shutil.copytree(folder, root / pooling)
        est = TransformerMultiLabelClassifier.from_pretrained(dst, backend="onnx")
        out[pooling] = (dst, proba, est)
    return out


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_onnx_backend_gives_torch_probabilities(onnx_saved, corpus, pooling):
    folder, proba, est = onnx_saved[pooling]
    assert isinstance(est.model_, _export.OnnxModel)
    np.testing.assert_allclose(est.predict_proba(corpus[0]), proba, atol=1e-4, rtol=0)
    assert est.precision_ == "fp32" and est.device_ == torch.device("cpu")
    assert est.model_name_or_path == str(folder)
    assert (folder / "onnx" / "model.onnx").is_file()
    np.testing.assert_array_equal(est.predict(corpus[0]),
                                  (proba >= np.array([0.3, 0.4, 0.5, 0.6])).astype(np.int64))


def test_onnx_axes_are_dynamic(onnx_saved, corpus):
    folder, proba, est = onnx_saved["mean"]
    session = est.model_.session
    assert [i.shape for i in session.get_inputs()] == [["batch", "sequence"]] * 2
    X = corpus[0]
    long = [" ".join(X[:20])]  # longer than any text the export was checked on
    torch_est = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    for texts in (X[:1], X[:5], long):
        np.testing.assert_allclose(est.predict_proba(texts), torch_est.predict_proba(texts),
                                   atol=1e-4, rtol=0)


def test_onnx_export_is_reused(onnx_saved, corpus, monkeypatch):
    folder = onnx_saved["cls"][0]
    stamp = os.stat(folder / "onnx" / "model.onnx").st_mtime_ns
    from skbert import _export_onnx

    monkeypatch.setattr(_export_onnx, "_torch_export",
                        lambda *a: pytest.fail("exported again although the file matches"))
    monkeypatch.setattr(_export_onnx, "load_folder",  # signed here: the torch model stays unread
                        lambda *a: pytest.fail("loaded the torch model for a trusted export"))
    meta = json.loads((folder / "onnx" / "skbert_onnx.json").read_text())
    assert set(meta) == {"files", "skbert_version", "mac"}
    est = TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")
    assert os.stat(folder / "onnx" / "model.onnx").st_mtime_ns == stamp
    np.testing.assert_allclose(est.predict_proba(corpus[0]), onnx_saved["cls"][1], atol=1e-4)


def test_onnx_file_skbert_did_not_write_is_never_overwritten(onnx_saved, corpus, tmp_path):
    folder = copy_of(onnx_saved["cls"][0], tmp_path)
    (folder / "onnx" / "model.onnx").write_bytes(b"my own model")
    with pytest.raises(FileExistsError, match="overwrite_onnx=True"):
        TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")
    assert (folder / "onnx" / "model.onnx").read_bytes() == b"my own model"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # replaced as asked, without a word
        est = TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx",
                                                              overwrite_onnx=True)
    np.testing.assert_allclose(est.predict_proba(corpus[0]), onnx_saved["cls"][1], atol=1e-4)


def test_onnx_export_of_older_weights_is_replaced(onnx_saved, tiny_model, corpus, tmp_path):
    folder = copy_of(onnx_saved["cls"][0], tmp_path)
    other = fit_named(tiny_model, corpus, max_epochs=1, random_state=1)
    other.save_pretrained(folder)  # new weights; skbert's own export is now stale
    est = TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")
    np.testing.assert_allclose(est.predict_proba(corpus[0]), other.predict_proba(corpus[0]),
                               atol=1e-4)


def test_onnx_int8_option(onnx_saved, corpus):
    folder, proba, _ = onnx_saved["mean"]
    est = TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx", quantize=True)
    assert est.model_.path == str(folder / "onnx" / "model_int8.onnx")
    got = est.predict_proba(corpus[0])
    assert np.abs(got - proba).max() < 0.05
    meta = json.loads((folder / "onnx" / "skbert_onnx.json").read_text())
    assert set(meta["files"]) == {"model.onnx", "model_int8.onnx"}
    size = os.path.getsize(folder / "onnx" / "model_int8.onnx")
    assert size < os.path.getsize(folder / "onnx" / "model.onnx")


def test_onnx_estimator_pickles_with_its_model(onnx_saved, corpus, tmp_path):
    folder = copy_of(onnx_saved["mean"][0], tmp_path)
    est = TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")
    blob = pickle.dumps(est)
    shutil.rmtree(folder)  # the pickle carries the ONNX model
    back = pickle.loads(blob)
    assert isinstance(back.model_, _export.OnnxModel)
    np.testing.assert_allclose(back.predict_proba(corpus[0]), onnx_saved["mean"][1], atol=1e-4)


def test_onnx_estimator_cannot_be_saved_as_torch_weights(onnx_saved, tmp_path):
    est = onnx_saved["mean"][2]
    with pytest.raises(TypeError, match="backend='torch'"):
        est.save_pretrained(tmp_path / "again")


def test_onnx_refit_trains_with_torch(onnx_saved, corpus):
    X, Y = corpus
    est = clone(onnx_saved["cls"][2]).set_params(max_epochs=1, fit_cache=False)
    est.fit(X, pd.DataFrame(Y, columns=LABELS))
    assert type(est.model_).__name__ == "MultiLabelModel" and est.model_.trained_head


@pytest.mark.parametrize("kwargs, match", [
    ({"backend": "tensorrt"}, "backend='torch'"),
    ({"quantize": True}, "backend='onnx'"),
    ({"overwrite_onnx": True}, "backend='onnx'"),
    ({"backend": "onnx", "precision": "bf16"}, "precision=None"),
    ({"backend": "onnx", "quantize": "yes"}, "True or False"),
])
def test_backend_options_are_checked(saved, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerMultiLabelClassifier.from_pretrained(saved["cls"][0], **kwargs)


@pytest.mark.parametrize("missing", ["onnxruntime", "onnxscript"])
def test_missing_onnx_packages_name_the_extra(saved, tmp_path, monkeypatch, missing):
    folder = copy_of(saved["cls"][0], tmp_path)
    monkeypatch.setitem(sys.modules, missing, None)  # import raises ImportError
    with pytest.raises(ImportError, match=r'pip install "skbert\[onnx\]"'):
        TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")


def test_onnx_export_into_a_read_only_folder_says_what_to_do(saved, tmp_path):
    pytest.importorskip("onnxruntime")
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = copy_of(saved["cls"][0], tmp_path)
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(PermissionError, match="somewhere writable"):
            TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")
    finally:
        os.chmod(folder, 0o755)


# ------------------------------------------------------------- 5. back into training
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_refit_from_a_saved_folder_keeps_pooling_and_head(saved, corpus, pooling):
    folder, proba = saved[pooling]
    X, Y = corpus
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkbertWarning)
        est = make_est(str(folder), max_epochs=1, learning_rate=1e-12,
                       head_learning_rate=1e-12).fit(X, pd.DataFrame(Y, columns=LABELS))
    assert est.pooling_ == pooling
    assert est.model_.trained_head
    # (almost) no training: the fit starts exactly where the saved model ended
    np.testing.assert_allclose(est.predict_proba(X), proba, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_refit_with_other_labels_warns_and_starts_a_new_head(saved, corpus, pooling):
    folder, _ = saved[pooling]
    X, Y = corpus
    with pytest.warns(SkbertWarning, match=r"starts a new classification head \(head_init\)"):
        est = make_est(str(folder), max_epochs=1).fit(X, Y[:, :3])
    assert est.pooling_ == pooling and not est.model_.trained_head
    assert est.predict_proba(X).shape == (len(X), 3)
    with pytest.warns(SkbertWarning, match="the same names"):  # renamed labels
        make_est(str(folder), max_epochs=1).fit(X, pd.DataFrame(Y, columns=list("abcd")))


def test_cls_pooling_on_a_mean_folder_keeps_the_encoder_and_starts_a_new_head(saved, corpus):
    X, Y = corpus
    folder = saved["mean"][0]
    with pytest.warns(SkbertWarning, match="trained with mean pooling and this fit uses cls"):
        est = make_est(str(folder), pooling="cls", max_epochs=1, learning_rate=1e-12,
                       head_learning_rate=1e-12).fit(X, Y)
    assert est.pooling_ == "cls" and not est.model_.trained_head
    saved_weights = load_file(folder / "model.safetensors")
    got = est.model_.backbone.base_model.state_dict()
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.1.output.dense.weight"):
        torch.testing.assert_close(got[key], saved_weights[key], atol=1e-6, rtol=0)


def test_refit_of_an_old_layout_folder_keeps_mean_pooling(saved, corpus, tmp_path):
    folder = old_layout(copy_of(saved["mean"][0], tmp_path))
    X, Y = corpus
    est = make_est(str(folder), max_epochs=1, learning_rate=1e-12, head_learning_rate=1e-12)
    est.fit(X, pd.DataFrame(Y, columns=LABELS))
    assert est.pooling_ == "mean" and est.model_.trained_head
    np.testing.assert_allclose(est.predict_proba(X), saved["mean"][1], atol=1e-5)


def test_loaded_estimator_refits_without_its_base_checkpoint(tiny_st_model, corpus, tmp_path):
    base = shutil.copytree(tiny_st_model, tmp_path / "base")
    fit_named(str(base), corpus, max_epochs=1).save_pretrained(tmp_path / "m")
    shutil.rmtree(base)
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m", device="cpu")
    assert loaded.model_name_or_path == str(tmp_path / "m")
    X, Y = corpus
    for est in (loaded, clone(loaded)):
        est.set_params(fit_cache=False, max_epochs=1).fit(X, pd.DataFrame(Y, columns=LABELS))
        assert est.pooling_ == "mean"
    settings = json.loads((tmp_path / "m" / "skbert.json").read_text())
    assert settings["base_model"] == "./base"  # a local path is recorded by its name only
    loaded.save_pretrained(tmp_path / "m2")  # the card still names the first checkpoint
    assert json.loads((tmp_path / "m2" / "skbert.json").read_text())["base_model"] == "./base"


# -------------------------------------------------------- the command line (predict)
def test_cli_predict_with_the_onnx_backend(onnx_saved, corpus, tmp_path, capsys):
    from skbert.cli import main

    folder = onnx_saved["mean"][0]
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(corpus[0][:6]) + "\n")
    out = {}
    for backend in ("torch", "onnx"):
        path = tmp_path / f"{backend}.jsonl"
        assert main(["predict", str(folder), str(texts), "--output", str(path),
                     "--backend", backend, "--device", "cpu"]) == 0
        out[backend] = [json.loads(line) for line in path.read_text().splitlines()]
    for a, b in zip(out["torch"], out["onnx"]):
        assert a["labels"] == b["labels"]
        np.testing.assert_allclose(list(a["probabilities"].values()),
                                   list(b["probabilities"].values()), atol=1e-4)
    assert main(["predict", str(folder), str(texts), "--quantize"]) == 2
    assert "--backend onnx" in capsys.readouterr().err
