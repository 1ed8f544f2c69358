"""After the warm-up and the logistic start, train only the encoder (issue 22 probe).

As ``head_start_probe.py`` (same sample, hook and scores), but the hook also
freezes the head right after it starts (SetFit's logistic regression on the
warmed vectors), so the BCE epochs move the encoder alone toward the fixed
label directions: does the start's ranking survive when the head cannot move?
The mirror of ``frozen_head_probe.py``. Prints one JSON line per variant.
Runs on 1 torch thread.

    python bench/quality/probes/fixed_head_probe.py 8 0 '{"fixed_head": {}}'
"""

from __future__ import annotations

import sys

import head_start_probe


def fixing_hook(hook):
    """``hook`` (a stand-in for ``_runner._init_head``), then the head frozen."""
    def run(est, model, *args, **kwargs):
        hook(est, model, *args, **kwargs)
        for p in model.head.parameters():
            p.requires_grad_(False)
    return run


if __name__ == "__main__":
    head_start_probe.main(sys.argv[1:], wrap=fixing_hook, extra={"fixed_head": True})
