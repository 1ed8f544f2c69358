"""After the warm-up and the logistic start, train only the head (issue 22 probe).

As ``head_start_probe.py`` (same sample, hook and scores), but the hook also
freezes the encoder right after the head starts, so the BCE epochs train the
head alone on the warmed vectors: does BCE keep the start's ranking when the
encoder cannot move? Prints one JSON line per variant. Runs on 1 torch thread.

    python bench/quality/probes/frozen_head_probe.py 8 0 '{"frozen10": {"max_epochs": 10}}'
"""

from __future__ import annotations

import sys

import head_start_probe


def freezing_hook(hook, part: str = "backbone"):
    """``hook`` (a stand-in for ``_runner._init_head``), then the model's ``part`` frozen
    (``"backbone"``: the encoder; ``"head"``: the head, as ``fixed_head_probe`` does)."""
    def run(est, model, *args, **kwargs):
        hook(est, model, *args, **kwargs)
        for p in getattr(model, part).parameters():
            p.requires_grad_(False)
    return run


if __name__ == "__main__":
    head_start_probe.main(sys.argv[1:], wrap=freezing_hook, extra={"frozen_encoder": True})
