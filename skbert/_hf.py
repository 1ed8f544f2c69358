"""transformers' public names, fetched under one lock.

``from transformers import AutoModel`` goes through transformers' lazy module,
which is not safe on first use from two threads at once: the second thread
can get ``ImportError: cannot import name ...`` while the first is still
importing the submodule. That happens when two fits start together in one
process (``GridSearchCV(n_jobs=2)`` under joblib's threading backend, or two
threads each calling ``fit``). skbert fetches every such name here, one thread
at a time; after the first use each fetch is a dictionary lookup.
"""

from __future__ import annotations

import importlib
import threading

_lock = threading.Lock()


def transformers_names(*names: str):
    """The objects ``transformers`` exports under ``names``: one object for one name,
    else a tuple in the order given.

    Examples
    --------
    >>> AutoConfig = transformers_names("AutoConfig")
    >>> AutoConfig.__name__
    'AutoConfig'
    """
    with _lock:
        module = importlib.import_module("transformers")
        found = tuple(getattr(module, name) for name in names)
    return found[0] if len(found) == 1 else found
