"""Why this label (issue 23): explanations are correct on a planted task, complete,
mapped to the text's characters, mapped back from chunk windows, and rendered safely.

The planted task: label k is switched on by one keyword (football, election,
pizza, laptop) among neutral words; a tiny BERT learns it in about two seconds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import FILLER, KEYWORDS, build_tiny_bert

from skbert import TransformerMultiLabelClassifier
from skbert._explain import Explanations, _merge_words, _tokenise, explain

KEY = ["football", "election", "pizza", "laptop"]
NEUTRAL = FILLER + [w for ws in KEYWORDS.values() for w in ws if w not in KEY]
METHODS = ["integrated_gradients", "occlusion"]


def planted(n, seed):
    """Texts of 4-8 neutral words with the keywords of 1 or 2 labels inserted."""
    rng = random.Random(seed)
    texts, Y = [], np.zeros((n, len(KEY)), dtype=int)
    for i in range(n):
        words = rng.sample(NEUTRAL, rng.randint(4, 8))
        for k in rng.sample(range(len(KEY)), rng.choice([1, 1, 2])):
            words.insert(rng.randrange(len(words) + 1), KEY[k])
            Y[i, k] = 1
        texts.append(" ".join(words))
    return texts, Y


@pytest.fixture(scope="module", params=["cls", "mean"])
def planted_clf(request, tmp_path_factory):
    import torch

    folder = build_tiny_bert(tmp_path_factory.mktemp(f"planted_{request.param}"),
                             sentence_transformers=request.param == "mean")
    X, Y = planted(300, 0)
    with torch.random.fork_rng(devices=[]):
        clf = TransformerMultiLabelClassifier(
            folder, max_epochs=15, learning_rate=3e-3, batch_size=16, max_length=32,
            precision="fp32", device="cpu", random_state=0, fit_cache=False)
        clf.fit(X, Y)
    Xt, Yt = planted(100, 1)
    assert (clf.predict(Xt) == Yt).all(axis=1).mean() >= 0.95  # the task was learned
    return clf


@pytest.fixture(scope="module")
def test_set():
    return planted(100, 1)


@pytest.mark.parametrize("method", METHODS)
def test_planted_keyword_gets_top_attribution(planted_clf, test_set, method):
    X, Y = test_set
    ex = explain(planted_clf, X, method=method)
    hits = total = 0
    for e, y in zip(ex, Y):
        for row, lab in enumerate(e.labels):
            if y[lab]:
                total += 1
                hits += e.words[int(np.argmax(e.attributions[row]))] == KEY[lab]
    assert total >= 100
    assert hits / total >= 0.95, (method, hits, total)


def test_completeness_gap_small_and_reported(planted_clf, test_set):
    X = test_set[0][:30]
    ex = explain(planted_clf, X, n_steps=32)
    for e in ex:
        target = e.logit - e.baseline_logit
        gap = np.abs(e.attributions.sum(1) - target) / np.maximum(np.abs(target), 1e-6)
        np.testing.assert_allclose(e.completeness_gap, gap, rtol=1e-9, atol=1e-12)
    assert ex.completeness_gaps().max() < 0.05
    coarse = explain(planted_clf, X, n_steps=1).completeness_gaps()
    assert coarse.max() > ex.completeness_gaps().max()  # one point: a visible gap, reported


@pytest.mark.parametrize("method", METHODS)
def test_logit_is_the_models(planted_clf, test_set, method):
    X = test_set[0][:20]
    logits = planted_clf.decision_function(X)
    for e, row in zip(explain(planted_clf, X, method=method), logits):
        np.testing.assert_allclose(e.logit, row[e.label_index], atol=1e-4)
        np.testing.assert_allclose(e.probabilities,
                                   planted_clf.predict_proba([e.text])[0, e.label_index])


def test_offsets_map_to_the_text(planted_clf):
    X = ["  pizza   today\tthe  laptop ", "football"]
    for method in METHODS:
        for e in explain(planted_clf, X, method=method):
            assert e.words == [e.text[s:t] for s, t in e.offsets]
            assert e.words == e.text.split()
            assert e.attributions.shape == (len(e.labels), len(e.words))


def test_subword_pieces_merge_into_words():
    """With a WordPiece tokenizer, pieces and split punctuation join into the text's words."""
    from skbert._modeling import load_tokenizer, resolve_model_path

    class Fitted:
        tokenizer_ = load_tokenizer(resolve_model_path("all-MiniLM-L6-v2"))
        max_length, long_text, stride, max_chunks = 128, "truncate", 0, None

    text = "Unbelievably wonderful pizzas! I don't know (really)."
    docs, windows = _tokenise(Fitted, [text])
    words = [text[s:e] for s, e in docs[0].spans]
    assert words == ["Unbelievably", "wonderful", "pizzas", "!", "I", "don't", "know", "(",
                     "really", ")", "."]
    assert len(windows[0].ids) > len(words)  # pieces were merged
    assert (windows[0].word[[0, -1]] == -1).all()  # [CLS] and [SEP] belong to no word


def test_merge_keeps_cjk_characters_apart():
    text = "我爱披萨"
    spans, owner = _merge_words(text, [(i, i + 1) for i in range(4)])
    assert spans == [(0, 1), (1, 2), (2, 3), (3, 4)] and owner == [0, 1, 2, 3]


@pytest.mark.parametrize("pooling", ["max", "mean"])
@pytest.mark.parametrize("method", METHODS)
def test_chunk_windows_map_back_to_the_text(planted_clf, pooling, method):
    rng = random.Random(3)
    words = rng.choices(["the", "a", "today", "we", "saw", "news", "about"], k=40)
    words[33] = "pizza"
    text = " ".join(words)
    saved = planted_clf.get_params()
    clf = planted_clf.set_params(long_text="chunk", max_length=12, stride=3, max_chunks=None,
                                 chunk_pooling=pooling)
    try:
        (e,) = explain(clf, [text], labels=[2], method=method)
        logit = clf.decision_function([text])[0, 2]
    finally:
        clf.set_params(**saved)
    assert len(e.windows) > 3
    assert e.words == words  # every window's words, each once, in order
    assert e.words[int(np.argmax(e.attributions[0]))] == "pizza"
    s, t = e.offsets[33]
    assert text[s:t] == "pizza"
    np.testing.assert_allclose(e.logit[0], logit, atol=1e-4)
    if method == "integrated_gradients":
        assert e.completeness_gap[0] < 0.05


def test_truncated_words_are_left_out(planted_clf):
    text = " ".join(["the"] * 40 + ["pizza"])
    (e,) = explain(planted_clf, [text], labels=[2])
    assert len(e.words) == 30  # max_length=32 less [CLS] and [SEP]
    assert e.seen_chars < len(text)


def test_default_labels_are_predicted_else_the_top_one(planted_clf):
    (e,) = explain(planted_clf, ["football and pizza"])
    assert e.labels == [0, 2] and e.predicted.all()
    np.testing.assert_allclose(e.threshold, [0.5, 0.5])
    P = planted_clf.predict_proba(["football and pizza"])[0]
    above = float(np.nextafter(P.max(), 2.0))  # no label reaches it
    clf = planted_clf.set_params(threshold=min(1.0, above), min_labels=0)
    try:
        (e,) = explain(clf, ["football and pizza"])
        (all_labels,) = explain(clf, ["football and pizza"], labels="all")
        clf.set_params(min_labels=2)  # predict adds the two most probable labels
        (e2,) = explain(clf, ["football and pizza"])
        (all2,) = explain(clf, ["football and pizza"], labels="all")
        pred2 = clf.predict(["football and pizza"])[0]
    finally:
        clf.set_params(threshold=0.5, min_labels="auto")
    assert P.max() < 1.0  # else no threshold in [0, 1] leaves every label out
    assert e.labels == [int(np.argmax(P))] and not e.predicted.any()
    assert not all_labels.predicted.any()
    np.testing.assert_allclose(e.threshold, [above])
    # "predicted" marks what predict gives, min_labels included
    assert pred2.sum() == 2 and e2.labels == list(np.flatnonzero(pred2)) and e2.predicted.all()
    np.testing.assert_array_equal(all2.predicted, pred2.astype(bool))


def test_label_choice_and_errors(planted_clf):
    X = ["football today"]
    assert explain(planted_clf, X, labels="all")[0].labels == [0, 1, 2, 3]
    # in the order asked, once each (trial 23: rows in classes_ order were misread)
    assert explain(planted_clf, X, labels=[3, 1, 3])[0].labels == [3, 1]
    assert explain(planted_clf, X, labels=2)[0].labels == [2]
    (top,) = explain(planted_clf, X, top_k=2)
    assert len(top.labels) == 2 and top.probabilities[0] >= top.probabilities[1]
    everything = planted_clf.predict_proba(X)[0]
    assert list(top.label_index) == list(np.argsort(-everything, kind="stable")[:2])
    with pytest.raises(ValueError, match=r"labels holds 7.*classes_"):
        explain(planted_clf, X, labels=[7])
    with pytest.raises(ValueError, match="labels or top_k"):
        explain(planted_clf, X, labels=[1], top_k=1)
    with pytest.raises(ValueError, match="top_k=0"):
        explain(planted_clf, X, top_k=0)
    with pytest.raises(ValueError, match="method='shap'"):
        explain(planted_clf, X, method="shap")
    with pytest.raises(ValueError, match="n_steps=0"):
        explain(planted_clf, X, n_steps=0)
    with pytest.raises(TypeError):
        explain(planted_clf, "football today")  # a bare string, not a list of texts


def test_threshold_in_force_is_reported(planted_clf):
    clf = planted_clf.set_params(threshold=[0.9, 0.5, 0.2, 0.5])
    try:
        (e,) = explain(clf, ["football"], labels="all")
    finally:
        clf.set_params(threshold=0.5)
    np.testing.assert_allclose(e.threshold, [0.9, 0.5, 0.2, 0.5])
    np.testing.assert_array_equal(e.predicted, e.probabilities >= e.threshold)


def test_top_words_and_dict(planted_clf):
    (e,) = explain(planted_clf, ["we saw the election today"])
    assert e.top_words(1, k=1)[0][0] == "election"
    with pytest.raises(KeyError, match="labels=\\[3\\]"):
        e.top_words(3)
    d = json.loads(json.dumps(e.to_dict()))
    assert d["format"] == "skbert-explain-1" and d["words"] == e.words
    assert d["labels"][0]["label"] == 1 and len(d["labels"][0]["attributions"]) == 5


# ----------------------------------------------------------------------- html
def test_repr_html_highlights_each_label(planted_clf):
    (e,) = explain(planted_clf, ["football and pizza <b>&"])
    page = e._repr_html_()
    assert page.count('class="skx-row"') == 2
    assert "&lt;" in page and "&gt;&amp;" in page and "<b>" not in page  # escaped
    assert "rgba(214,39,40," in page  # a word pushed a label on (red)
    assert f"p = {e.probabilities[0]:.3f} (threshold 0.5)" in page
    many = explain(planted_clf, ["pizza"] * 3)._repr_html_()
    assert many.count('class="skx-card"') == 3


def test_to_html_is_one_offline_page(planted_clf, tmp_path):
    X = ["football and pizza", "election <script>alert(1)</script>", "laptop " * 3]
    ex = explain(planted_clf, X)
    path = tmp_path / "why.html"
    ex.to_html(path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page  # nothing may be loaded
    assert "http://" not in page and "https://" not in page and " src=" not in page
    assert page.count("<script") == 2 and page.count("&lt;") == 2  # the page's own two
    assert page.count('class="skx-card"') == 3
    assert page.count("<option") == 1 + len({lab for e in ex for lab in e.labels})
    ex.to_html(path)  # its own page: replaced


def test_outputs_never_replace_a_users_file(planted_clf, tmp_path):
    ex = explain(planted_clf, ["pizza"])
    for name, write in (("a.html", ex.to_html), ("a.jsonl", ex.to_jsonl)):
        mine = tmp_path / name
        mine.write_text("my notes\n")
        with pytest.raises(FileExistsError, match="overwrite=True"):
            write(mine)
        assert mine.read_text() == "my notes\n"
        write(mine, overwrite=True)
        write(mine)  # now skbert's: replaced without asking


def test_to_jsonl_round_trips(planted_clf, tmp_path):
    ex = explain(planted_clf, ["pizza today", "vote laptop"], method="occlusion")
    ex.to_jsonl(tmp_path / "e.jsonl")
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert [json.loads(x)["text"] for x in lines] == ["pizza today", "vote laptop"]
    assert json.loads(lines[0])["labels"][0]["completeness_gap"] is None


def test_to_jsonl_dash_is_standard_output_as_in_the_cli(planted_clf, tmp_path, monkeypatch,
                                                         capsys):
    # before: to_jsonl("-") wrote a file named "-"; skbert explain --json - is standard output
    monkeypatch.chdir(tmp_path)
    ex = explain(planted_clf, ["pizza today", "vote laptop"], method="occlusion")
    capsys.readouterr()
    assert ex.to_jsonl("-") == "-"
    assert not (tmp_path / "-").exists()
    out = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["text"] for x in out] == ["pizza today", "vote laptop"]
    ex.to_jsonl("./-")  # a file of that name
    assert (tmp_path / "-").read_text().splitlines() == out


def test_empty_result_type(planted_clf):
    assert isinstance(explain(planted_clf, ["pizza"]), Explanations)


# ------------------------------------------------------------------------ cli
def _cli(argv):
    import argparse

    from skbert._cli_explain import add_parser

    parser = argparse.ArgumentParser(prog="skbert")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def saved_model(planted_clf, tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "model"
    planted_clf.save_pretrained(folder)
    return str(folder)


def test_cli_explain_writes_page_and_json_lines(saved_model, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("we saw the football match\n\nvote pizza today\n", encoding="utf-8")
    html, jsonl = tmp_path / "out.html", tmp_path / "out.jsonl"
    assert _cli(["explain", saved_model, str(texts), "--html", str(html),
                 "--json", str(jsonl), "--device", "cpu"]) == 0
    records = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert [r["text"] for r in records] == ["we saw the football match", "vote pizza today"]
    assert records[0]["labels"][0]["label"] == 0
    assert "completeness gap max" in capsys.readouterr().err
    assert 'content="skbert explain"' in html.read_text()
    # stdout when no file is named; occlusion; a label chosen by name; a .jsonl input
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"body": "pizza and laptop"}) + "\n")
    assert _cli(["explain", saved_model, str(src), "--text-column", "body", "--method",
                 "occlusion", "--labels", "3", "--device", "cpu"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    rec = json.loads(line)
    assert rec["method"] == "occlusion" and [x["label"] for x in rec["labels"]] == [3]
    # --min-labels and --threshold as in 'skbert predict': 'predicted' marks predict's labels
    assert _cli(["explain", saved_model, str(src), "--text-column", "body", "--method",
                 "occlusion", "--labels", "all", "--threshold", "1", "--min-labels", "2",
                 "--device", "cpu"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert sum(x["predicted"] for x in rec["labels"]) == 2
    assert _cli(["explain", saved_model, str(src), "--text-column", "body", "--method",
                 "occlusion", "--labels", "all", "--threshold", "1", "--min-labels", "0",
                 "--device", "cpu"]) == 0
    assert not any(x["predicted"] for x in json.loads(capsys.readouterr().out)["labels"])


def test_cli_explain_errors_name_the_fix(saved_model, tmp_path, capsys):
    texts = tmp_path / "t.txt"
    texts.write_text("pizza\n")
    with pytest.raises(ValueError, match="--labels holds 'cake'"):
        _cli(["explain", saved_model, str(texts), "--labels", "cake", "--device", "cpu"])
    mine = tmp_path / "mine.html"
    mine.write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        _cli(["explain", saved_model, str(texts), "--html", str(mine)])
    assert mine.read_text() == "mine"
    with pytest.raises(FileNotFoundError, match="TEXTS"):
        _cli(["explain", saved_model, str(tmp_path / "missing.txt")])
    with pytest.raises(SystemExit):  # the table's parser, as skbert predict's
        _cli(["explain", saved_model, str(texts), "--threshold", "2"])
    err = capsys.readouterr().err
    assert "invalid threshold '2' for --threshold" in err and "not a bool" not in err, err
    for bad in ("-1", "1.5", "some"):  # the parameter table's parser, as skbert predict's
        with pytest.raises(SystemExit):
            _cli(["explain", saved_model, str(texts), "--min-labels", bad])
        err = capsys.readouterr().err
        assert f"--min-labels: invalid min labels '{bad}'" in err and "auto" in err, err
    (tmp_path / "bad.jsonl").write_text('{"text": 3}\n')
    with pytest.raises(ValueError, match="Record 0 of 'bad.jsonl' has 3 as its text"):
        _cli(["explain", saved_model, str(tmp_path / "bad.jsonl")])


def test_engines_agree(planted_clf, test_set, monkeypatch):
    """Captum's LayerIntegratedGradients (when installed) and skbert's batched path agree."""
    pytest.importorskip("captum")
    from skbert import _explain

    X = test_set[0][:12]
    monkeypatch.setattr(_explain, "ENGINE", "skbert")
    ours = explain(planted_clf, X, labels="all")
    monkeypatch.setattr(_explain, "ENGINE", "captum")
    theirs = explain(planted_clf, X, labels="all")
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.attributions, b.attributions, atol=1e-5)
        np.testing.assert_allclose(a.logit, b.logit, atol=1e-5)
        np.testing.assert_allclose(a.baseline_logit, b.baseline_logit, atol=1e-5)


def test_cli_text_reader_refuses_a_key_given_twice(tmp_path):
    from skbert._cli_explain import read_texts

    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "real text", "text": "pizza"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="Line 1 .*the key 'text' twice"):
        read_texts(str(path))
    path.write_text('{"text": "real text"}\n', encoding="utf-8")
    assert read_texts(str(path)) == ["real text"]


def test_cli_explain_json_dash_is_standard_output(saved_model, tmp_path, capsys, monkeypatch):
    """``--json -`` wrote a file named '-'; it means standard output, as predict's --output -."""
    monkeypatch.chdir(tmp_path)
    texts = tmp_path / "t.txt"
    texts.write_text("pizza today\n")
    html = tmp_path / "why.html"
    assert _cli(["explain", saved_model, str(texts), "--method", "occlusion", "--json", "-",
                 "--html", str(html), "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["text"] == "pizza today"
    assert not (tmp_path / "-").exists() and html.is_file()
    assert "wrote " + str(html) in err and "-," not in err
    with pytest.raises(ValueError, match="--html - : the HTML page needs a file name"):
        _cli(["explain", saved_model, str(texts), "--html", "-", "--device", "cpu"])


def test_cli_explain_takes_thresholds_per_label_as_predict_does(saved_model, tmp_path, capsys):
    """``--threshold 0.3,0.5,...`` was refused by explain while predict took it."""
    texts = tmp_path / "t.txt"
    texts.write_text("pizza today\n")
    n = len(json.loads((Path(saved_model) / "skbert.json").read_text())["classes"])
    per_label = ",".join(["1"] * (n - 1) + ["0"])  # only the last label passes
    assert _cli(["explain", saved_model, str(texts), "--method", "occlusion", "--labels", "all",
                 "--threshold", per_label, "--min-labels", "0", "--device", "cpu"]) == 0
    marks = [x["predicted"] for x in json.loads(capsys.readouterr().out)["labels"]]
    assert marks == [False] * (n - 1) + [True]
    with pytest.raises(SystemExit):  # the table's parser: exit code 2 and the flag's name
        _cli(["explain", saved_model, str(texts), "--threshold", "1.5", "--device", "cpu"])
    assert "--threshold" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--n-steps", "--top-k"])
def test_cli_explain_counts_are_checked_in_the_flags_words(saved_model, tmp_path, flag):
    texts = tmp_path / "t.txt"
    texts.write_text("pizza\n")
    with pytest.raises(ValueError, match=rf"^{flag} 0 must be a positive whole number"):
        _cli(["explain", saved_model, str(texts), flag, "0", "--device", "cpu"])


def test_a_file_that_appears_while_the_page_is_made_is_kept(planted_clf, tmp_path,
                                                             monkeypatch):
    """The path is free when checked, then someone else creates it before skbert writes:
    theirs is kept (no replace), and no temporary file is left."""
    from skbert import _explain_html

    ex = explain(planted_clf, ["pizza"])
    mine = tmp_path / "why.html"
    real = _explain_html.page_html

    def slow_page(explanations):
        mine.write_text("my notes\n")  # appears after the check
        return real(explanations)

    monkeypatch.setattr(_explain_html, "page_html", slow_page)
    with pytest.raises(FileExistsError, match="is kept .skbert was not asked to replace it"):
        ex.to_html(mine)
    assert mine.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["why.html"]


def test_cli_explain_reads_inputs_as_predict_does(saved_model, tmp_path, capsys, monkeypatch):
    """CSV and stdin (``-``), as ``skbert predict`` reads them (trial 23)."""
    import io

    (tmp_path / "t.csv").write_text("text,other\npizza today,1\nfootball,2\n")
    assert _cli(["explain", saved_model, str(tmp_path / "t.csv"), "--method", "occlusion",
                 "--json", "-", "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["pizza today", "football"]

    class Piped(io.TextIOWrapper):
        def isatty(self):
            return False

    monkeypatch.setattr("sys.stdin", Piped(io.BytesIO(b"pizza today\n\nfootball\n")))
    assert _cli(["explain", saved_model, "-", "--method", "occlusion", "--json", "-",
                 "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["pizza today", "football"]
