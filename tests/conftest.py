"""Shared fixtures: a tiny random BERT and WordLevel tokenizer, saved to disk.

Nothing here touches the network: the estimator runs its real loading code on
a local folder built at session start.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

LABELS = ["sports", "politics", "food", "tech"]
KEYWORDS = {
    "sports": ["football", "goal", "match", "team"],
    "politics": ["election", "vote", "senate", "policy"],
    "food": ["pizza", "recipe", "dinner", "cheese"],
    "tech": ["laptop", "software", "robot", "code"],
}
FILLER = ["the", "a", "today", "we", "saw", "great", "news", "about", "and", "very", "new"]


def make_corpus(n: int = 32, seed: int = 0):
    """Short texts whose keywords decide their labels (1 or 2 labels each)."""
    rng = random.Random(seed)
    texts, Y = [], np.zeros((n, len(LABELS)), dtype=np.int64)
    for i in range(n):
        k = 1 if i % 3 else 2
        chosen = rng.sample(range(len(LABELS)), k)
        words = rng.sample(FILLER, 3)
        for j in chosen:
            words += rng.sample(KEYWORDS[LABELS[j]], 2)
            Y[i, j] = 1
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts, Y


def damaged_copy(folder, tmp_path, edit):
    """A copy of the model ``folder`` in ``tmp_path/damaged`` whose ``skbert.json`` (a dict)
    was changed in place by ``edit``."""
    import shutil

    copy = tmp_path / "damaged"
    shutil.copytree(folder, copy)
    settings = json.loads((copy / "skbert.json").read_text())
    edit(settings)
    (copy / "skbert.json").write_text(json.dumps(settings))
    return copy


def build_tiny_bert(folder, *, sentence_transformers: bool = False, vocab_extra=()):
    """Save a random 2-layer BERT and a whitespace WordLevel tokenizer into ``folder``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = sorted({w for ws in KEYWORDS.values() for w in ws} | set(FILLER) | set(vocab_extra))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {tok: i for i, tok in enumerate(specials + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=37, max_position_embeddings=512,
                        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    if sentence_transformers:
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"},
        ]
        (folder / "modules.json").write_text(json.dumps(modules))
    return str(folder)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Path of a tiny random BERT without a sentence-transformers config (cls pooling)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_st_model(tmp_path_factory):
    """Path of a tiny random BERT that looks like a sentence-embedding checkpoint."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_st"), sentence_transformers=True)


@pytest.fixture(scope="session")
def corpus():
    return make_corpus(48, seed=0)


@pytest.fixture(scope="session", autouse=True)
def _private_cache_home(tmp_path_factory):
    """skbert's per-user files (the ONNX signing key) go to a temporary folder, not ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The tiny model runs 5-10x faster on one thread than on two contended ones."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


#: Steps of ``contrastive_steps="auto"`` in the tests (and their worker processes).
TEST_AUTO_STEPS = 2


def short_contrastive_warm_up():
    """``contrastive_steps="auto"`` warms up every small mean-pooling fit, which nearly every
    test fit is, for 100 steps (seconds each on the tiny model): 2 keep the path in every such
    fit at a fraction of the cost. tests/test_contrastive.py tests the warm-up itself; worker
    processes that tests start call this too, so that their fits match the tests'."""
    from skbert import _contrastive

    before = _contrastive.AUTO_STEPS
    _contrastive.AUTO_STEPS = TEST_AUTO_STEPS
    return before


@pytest.fixture(scope="session", autouse=True)
def _short_contrastive_warm_up():
    from skbert import _contrastive

    before = short_contrastive_warm_up()  # session scope: before any module fixture fits
    yield
    _contrastive.AUTO_STEPS = before


@pytest.fixture(autouse=True)
def _empty_fit_cache():
    import skbert

    skbert.clear_fit_cache()
    yield
    skbert.clear_fit_cache()


@pytest.fixture
def train_calls(monkeypatch):
    """Count the fine-tuning runs: calls of the training loop made by the fit runner."""
    from skbert import _runner

    calls = []
    real = _runner.train

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_runner, "train", counting)
    return calls


@pytest.fixture
def interrupt_at_epoch(monkeypatch):
    """``interrupt_at_epoch(n)``: the n-th training epoch from then on raises KeyboardInterrupt
    (Ctrl-C); ``interrupt_at_epoch(None)`` puts back the ``_training.run_epoch`` it wrapped."""
    from skbert import _training

    wrapped = []

    def arm(n):
        if not wrapped:
            wrapped.append(_training.run_epoch)
        real = wrapped[0]
        if n is None:
            monkeypatch.setattr(_training, "run_epoch", real)
            return
        calls = []

        def interrupted(*args, **kwargs):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(_training, "run_epoch", interrupted)

    return arm


def pytest_terminal_summary(terminalreporter):
    """Print the input-fuzzing tallies of test_inputs_fuzz.py (issue 11) when it ran."""
    import sys

    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) and module.__file__.endswith("test_inputs_fuzz.py"):
            lines = module.tally_lines()
            if lines:
                terminalreporter.write_sep("=", "input fuzzing tallies (test_inputs_fuzz.py)")
                for line in lines:
                    terminalreporter.write_line(line)
            return


@pytest.fixture
def cache_hits(monkeypatch):
    """The outcome of every fit-cache look-up of the test (True: a hit); ``sum()`` counts hits."""
    from skbert import _cache

    outcomes = []
    real = _cache.get

    def counting(*args, **kwargs):
        fitted = real(*args, **kwargs)
        outcomes.append(fitted is not None)
        return fitted

    monkeypatch.setattr(_cache, "get", counting)
    return outcomes
