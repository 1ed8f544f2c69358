#!/bin/bash
# Moved to bench/gpu/gpu_session.sh (bench/ is in sub-folders by purpose); this name is kept
# because the project brief names it. Run from the repository root, as before.
exec bash "$(dirname "$0")/gpu/gpu_session.sh" "$@"
