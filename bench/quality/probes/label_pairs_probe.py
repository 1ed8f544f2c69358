"""Label names as members of the contrastive warm-up's batches (issue 22 probe).

The issue lists "label-text pairs as extra training signal" among the levers to
measure alone. Here each warm-up step (``skbert._contrastive._steps``, patched in
this process only) adds to its batch of 8 labels x 4 texts the readable names of
the labels its texts carry, each as one more member whose only label is its own:
SetFit's cosine loss then pulls every text toward its labels' names as well as
toward the texts sharing a label, and pushes it from other labels' names. The
rest of ``fit`` is the defaults'. Otherwise as ``head_start_probe.py``; a variant
is a JSON object of estimator parameters plus ``"names": true|false``. Runs on
1 torch thread.

    python bench/quality/probes/label_pairs_probe.py 8 0 '{"base": {"names": false},
        "names": {"names": true}}'
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from fewshot_probe import probe_fit, probe_sample
from head_start_probe import scores, start_hook

import skbert._contrastive as contrastive
from skbert import _runner
from skbert._batches import collate
from skbert._label_init import readable
from skbert._training import autocast

REAL_STEPS = contrastive._steps


def steps_with_names(label_enc, n_labels: int):
    """A stand-in for ``_contrastive._steps`` that adds the drawn labels' names to each
    batch (``label_enc``: the names encoded, one per label, in column order)."""
    def run(model, encoded, Y, Yt, config, pad_id, steps, rng, optimizer, params, losses):
        eye = torch.eye(n_labels)
        for _ in range(steps):
            docs = contrastive.balanced_batch(Y, rng)
            if docs.size < 2:
                break
            groups = contrastive._forward_groups(encoded, docs, config.device)
            order = np.concatenate(groups)
            labels = np.flatnonzero(Y[order].sum(axis=0) > 0)
            with autocast(config.device, config.precision):
                vectors = [contrastive._text_vectors(model, collate(encoded, g, pad_id),
                                                     config.device) for g in groups]
                vectors.append(contrastive._text_vectors(
                    model, collate(label_enc, labels, pad_id), config.device))
            targets = torch.cat([Yt[order], eye[labels]]).to(config.device)
            loss = contrastive.pair_loss(torch.cat(vectors), targets)
            contrastive.optimizer_step(loss, optimizer, params, config, losses)
    return run


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed, variants = int(argv[0]), int(argv[1]), json.loads(argv[2])
    X, Yd, texts, Yt = probe_sample(k, seed, int(argv[3]) if len(argv) > 3 else 2000)
    names = [readable(c) or str(c) for c in Yd.columns]
    real_tokenise = _runner.encode_texts
    for name, params in variants.items():
        params = dict(params)
        use_names = bool(params.pop("names"))
        seen, holder = {}, {}

        def encode_and_keep(est, tokenizer, batch, offset=0):  # the names, once per fit
            if "labels" not in holder:
                holder["labels"] = real_tokenise(est, tokenizer, names)
                contrastive._steps = steps_with_names(holder["labels"], len(names))
            return real_tokenise(est, tokenizer, batch, offset)

        patches = [(_runner, "_init_head", start_hook(_runner._init_head, texts, Yt, seen))]
        if use_names:
            patches.append((_runner, "encode_texts", encode_and_keep))
        try:
            clf, fit_s = probe_fit(X, Yd, seed, params, patches)
        finally:
            contrastive._steps = REAL_STEPS
        print(json.dumps(dict(name=name, K=k, seed=seed, params=params, names=use_names,
                              fit_s=round(fit_s, 1), **seen, **scores(clf, texts, Yt))),
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
