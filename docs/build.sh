#!/usr/bin/env bash
# Build the HTML documentation with warnings as errors (offline).
# The figures in docs/generated/ are drawn first if missing (docs/make_plots.py).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m sphinx -W --keep-going -b html docs docs/_build/html "$@"
echo "Open docs/_build/html/index.html"
