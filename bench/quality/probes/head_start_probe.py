"""How good the head is where it starts, and after training (issue 22 probe).

For one K and seed, samples GoEmotions training texts as ``fewshot_probe`` does
and fits ``TransformerMultiLabelClassifier(threshold="auto", max_length=64,
random_state=SEED, fit_cache=False, **params)`` once per variant (a JSON object
of estimator parameters). A hook on the runner scores the model on the first
N_TEST validation texts right after the head starts (after any contrastive
warm-up, before the first training step): ``start_lrap`` is what the head
alone gives on the warmed, frozen encoder (with ``head_init="logistic"``,
SetFit's classifier). Prints one JSON line per variant with that and the
fitted model's LRAP, micro- and macro-F1. Runs on 1 torch thread.

    python bench/quality/probes/head_start_probe.py 8 0 \\
        '{"labels": {"head_init": "labels"}, "logistic": {"head_init": "logistic"}}'
"""

from __future__ import annotations

import inspect
import json
import sys

import torch
from fewshot_probe import probe_fit, probe_sample
from sklearn.metrics import f1_score
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert import _runner
from skbert._batches import pad_token_id
from skbert._training import predict_logits


def start_hook(real, texts: list[str], Y, seen: dict, logits_out: dict | None = None):
    """A stand-in for ``_runner._init_head`` that calls ``real``, then writes the LRAP of
    the model on ``texts`` (labels ``Y``) right after the head starts to ``seen``, and
    the logits themselves to ``logits_out["start"]`` when given."""
    signature = inspect.signature(real)

    def hook(*args, **kwargs):
        real(*args, **kwargs)
        given = signature.bind(*args, **kwargs).arguments
        est, model, tokenizer = given["est"], given["model"], given["tokenizer"]
        config = _runner.inference_config(est, given["device"], given["precision"])
        encoded = _runner.encode_texts(est, tokenizer, texts)
        logits = predict_logits(model, encoded, pad_token_id(tokenizer), config)
        seen["start_lrap"] = round(lrap(Y, logits), 4)
        if logits_out is not None:
            logits_out["start"] = logits

    return hook


def read_args(argv: list[str]):
    """``K SEED VARIANTS_JSON [N_TEST]`` read, one torch thread set, the sample drawn:
    ``(k, seed, variants, X, Y, test_texts, Y_test)``."""
    torch.set_num_threads(1)
    k, seed, variants = int(argv[0]), int(argv[1]), json.loads(argv[2])
    n_test = int(argv[3]) if len(argv) > 3 else 2000
    return (k, seed, variants, *probe_sample(k, seed, n_test))


def estimator_params(variant: dict) -> dict:
    """A variant's estimator parameters: its keys that do not start with ``_`` (those are
    the probe's own settings)."""
    return {key: value for key, value in variant.items() if not key.startswith("_")}


def main(argv: list[str], wrap=None, extra: dict | None = None) -> None:
    """Fit and print each variant of ``argv``; ``wrap(hook)``, when given, replaces the
    start hook (``frozen_head_probe`` freezes the encoder in it); ``extra`` is added to
    each JSON line."""
    k, seed, variants, X, Yd, test_texts, Yt = read_args(argv)
    real = _runner._init_head
    for name, params in variants.items():
        seen = {}
        hook = start_hook(real, test_texts, Yt, seen)
        clf, fit_s = probe_fit(X, Yd, seed, params, [
            (_runner, "_init_head", hook if wrap is None else wrap(hook))])
        print(json.dumps(dict(
            name=name, K=k, seed=seed, params=params, **(extra or {}),
            fit_s=round(fit_s, 1), **seen, **scores(clf, test_texts, Yt))), flush=True)


def scores(clf, texts: list[str], Y) -> dict:
    """LRAP of ``clf``'s probabilities and micro-/macro-F1 of its predictions on ``texts``."""
    pred = clf.predict(texts)
    return dict(lrap=round(lrap(Y, clf.predict_proba(texts)), 4),
                micro=round(f1_score(Y, pred, average="micro", zero_division=0), 4),
                macro=round(f1_score(Y, pred, average="macro", zero_division=0), 4))


if __name__ == "__main__":
    main(sys.argv[1:])
