"""Sphinx configuration of the skbert documentation.

Build (warnings are errors): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
or ``docs/build.sh``. The figures come from ``make_plots.py``, run here when one
is missing or older than its sources (set ``SKBERT_DOCS_PLOTS=0`` to skip).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import skbert  # noqa: E402

project = "skbert"
author = "the skbert developers"
copyright = "the skbert developers"
release = skbert.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "numpydoc",
]
# The performance page is written separately and may not exist yet: build it
# (with MyST for Markdown) only when it does.
HAS_PERFORMANCE = (HERE / "performance.md").is_file() or (HERE / "performance.rst").is_file()
if (HERE / "performance.md").is_file():
    extensions.append("myst_parser")
source_suffix = {".rst": "restructuredtext"}
if "myst_parser" in extensions:
    source_suffix[".md"] = "markdown"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# index.rst includes this file: a toctree entry for the performance page if present.
(HERE / "generated").mkdir(exist_ok=True)
_toc = (".. toctree::\n   :maxdepth: 1\n   :caption: Performance\n\n   performance\n"
        if HAS_PERFORMANCE else "")
_inc = HERE / "generated" / "performance_toc.inc"
if not _inc.is_file() or _inc.read_text() != _toc:
    _inc.write_text(_toc)

autodoc_default_options = {"exclude-members": "set_score_request, set_fit_request"}
autodoc_typehints = "none"  # numpydoc docstrings carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"skbert {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False


def _make_plots() -> None:
    if os.environ.get("SKBERT_DOCS_PLOTS", "1") == "0":
        return
    sys.path.insert(0, str(HERE))
    from make_plots import FIGURES, OUT

    sources = [HERE / "make_plots.py", ROOT / "skbert" / "plotting.py"]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    targets = [OUT / name for name in FIGURES]
    if all(t.is_file() and t.stat().st_mtime >= newest for t in targets):
        return
    subprocess.run([sys.executable, str(HERE / "make_plots.py")], check=True, cwd=ROOT)


_make_plots()
