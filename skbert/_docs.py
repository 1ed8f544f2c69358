"""Docstring parts written once and put into several docstrings (stdlib only).

Parameters that several public functions share (``Y_true``, ``y_score``, the
``X`` of the predict methods) are described in one place; :func:`fill_doc`
puts the text in at import time, so ``help()``, Sphinx and doctests see whole
numpydoc docstrings.
"""

from __future__ import annotations

import re
import textwrap


def fill_doc(parts: dict[str, str]):
    """A decorator that puts docstring texts written once into several docstrings.

    A line of a docstring that holds only ``%(name)s`` is replaced by
    ``parts[name]`` (written without indentation), indented as that line.

    Parameters
    ----------
    parts : dict of str to str
        The shared texts by name, e.g. a parameter's numpydoc entry.

    Returns
    -------
    callable
        The decorator; it returns the function it is given, its ``__doc__`` filled.

    Examples
    --------
    >>> def f(X):
    ...     '''Do f.
    ...
    ...     Parameters
    ...     ----------
    ...     %(X)s
    ...     '''
    >>> f = fill_doc({"X": "X : list of str\\n    The texts."})(f)
    >>> print(f.__doc__.splitlines()[4:6])
    ['    X : list of str', '        The texts.']
    """
    def fill(func):
        if func.__doc__:  # None under python -OO
            func.__doc__ = re.sub(
                r"^( *)%\(([^)]+)\)s$",
                lambda m: textwrap.indent(parts[m.group(2)], m.group(1)), func.__doc__,
                flags=re.MULTILINE)
        return func

    return fill
