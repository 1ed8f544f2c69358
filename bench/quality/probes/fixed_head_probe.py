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

import functools
import sys

import head_start_probe
from frozen_head_probe import freezing_hook

if __name__ == "__main__":
    head_start_probe.main(sys.argv[1:], wrap=functools.partial(freezing_hook, part="head"),
                          extra={"fixed_head": True})
