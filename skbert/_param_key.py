"""What a training parameter computes, for the fit-cache key: :func:`by_code`.

Pickle keys a function by its module and name: a lambda cannot be pickled, and
two versions of one function (a notebook cell run again after an edit) would
key alike. :func:`by_code` turns a parameter value into one pickle reads the
same way in every process and that changes when what it computes changes.
"""

from __future__ import annotations

import functools
import os
import sys
import types

import numpy as np


def by_code(value):
    """``value`` with every Python function in it replaced by what it computes.

    Pickle, and so ``joblib.hash``, takes a function by its module and name:
    a lambda or a function defined inside another cannot be pickled at all,
    and two versions of one function (a notebook cell run again after an
    edit) would hash alike. A function (in a list, tuple, dict or set,
    ``functools.partial``, a bound method, or a callable object such as
    ``make_scorer``'s scorer) becomes its compiled code (not where it is
    written: :func:`_code_key`), its defaults, its attributes and the values
    its closure holds; an object becomes its own state (and, for a class
    of the user's code rather than an installed package, the code and
    attributes of its class: :func:`_user_class`), and the value of a
    builtin base it extends (a ``dict`` or ``float`` subclass). So a lambda
    ``scoring`` keys the fit cache like any other value, and an edited one
    is another key. What the code reads from module globals is not part of
    it. Each object is walked once (a second meeting is a reference to the
    first), so shared and cyclic structures take linear time.

    Examples
    --------
    >>> import joblib
    >>> def scorer(weight):
    ...     return lambda est, X, Y: weight * est.score(X, Y)
    >>> key = lambda f: joblib.hash(by_code(f))
    >>> key(scorer(0.5)) == key(scorer(0.5)), key(scorer(0.5)) == key(scorer(0.25))
    (True, False)
    """
    return _Walk().key(value)


class _Walk:
    """One :func:`by_code` walk: objects met so far (by id, kept alive so that no id
    is reused), so a shared object is keyed once and a cycle is a reference."""

    def __init__(self):
        self.index: dict[int, int] = {}
        self.alive: list = []

    def key(self, value):
        if type(value) in _PLAIN:
            return value
        if id(value) in self.index:
            return ("ref", self.index[id(value)])
        self.index[id(value)] = len(self.index)
        self.alive.append(value)
        return self._key(value)

    def _key(self, value):
        kind = type(value)
        if kind is types.FunctionType:
            cells = []
            for cell in value.__closure__ or ():
                try:
                    cells.append(self.key(cell.cell_contents))
                except ValueError:  # an empty cell (a name assigned after the function)
                    cells.append(("empty",))
            return ("function", value.__module__, _code_key(value.__code__),
                    self.key(value.__defaults__), self.key(value.__kwdefaults__),
                    tuple(cells), self.key(dict(getattr(value, "__dict__", {}))))
        if kind is types.MethodType:  # a bound method: its function and its object
            return ("method", self.key(value.__func__), self.key(value.__self__))
        if kind is functools.partial:
            return ("partial", self.key(value.func), self.key(value.args),
                    self.key(value.keywords))
        if kind in (list, tuple):
            return (kind.__name__, *(self.key(v) for v in value))
        if kind is dict:
            return ("dict", *((self.key(k), self.key(v)) for k, v in value.items()))
        if kind in (set, frozenset):  # in a fixed order: hash order varies by process
            return ("set", *sorted((self.key(v) for v in value), key=repr))
        if isinstance(value, type):  # a class (held by a closure, say): what it defines
            return self._class(value) if _user_class(value) else value
        if not _python_class(kind):
            return value  # a builtin or C type's object: pickled as it is
        user = _user_class(kind)
        if not (user or callable(value)):
            return value  # an installed package's object: pickled by its class's name
        # a callable object (make_scorer's scorer, a class with __call__) or an object of
        # the user's code: its state, the builtin value it extends and, for the user's own
        # classes, their code and class attributes: an edited method is another key
        return ("object", kind.__module__, kind.__qualname__,
                self._class(kind) if user else None,
                self.key(_state(value)), self.key(_builtin_part(value)))

    def _class(self, cls: type) -> tuple:
        """A class of the user's code as what it defines: every Python class of its MRO
        with its methods (by code), properties, class and static methods and class
        attributes."""
        parts = []
        for klass in cls.__mro__:
            if klass is object or not _python_class(klass):
                continue
            items = []
            for name, attr in sorted(vars(klass).items()):
                if name in _CLASS_BOOKKEEPING or isinstance(attr, _C_DESCRIPTORS):
                    continue
                if isinstance(attr, (staticmethod, classmethod)):
                    attr = attr.__func__
                elif isinstance(attr, property):
                    attr = (attr.fget, attr.fset, attr.fdel)
                elif isinstance(attr, functools.cached_property):
                    attr = attr.func
                elif isinstance(attr, functools.partialmethod):
                    attr = (attr.func, attr.args, attr.keywords)
                items.append((name, self.key(attr)))
            parts.append((klass.__module__, klass.__qualname__, tuple(items)))
        return ("class", tuple(parts))


#: Types keyed as their value (never walked): the immutable plain values.
_PLAIN = frozenset({str, bytes, int, float, complex, bool, type(None)})


def _python_class(cls: type) -> bool:
    """Whether ``cls`` is written in Python: a heap type (not a static builtin type) of
    a module that is neither built into the interpreter (``_thread``) nor a compiled
    extension (``.so``/``.pyd``), whose C types are heap types too."""
    if not getattr(cls, "__flags__", 0) & _HEAP_TYPE:
        return False
    if cls.__module__ in sys.builtin_module_names:
        return False
    path = getattr(sys.modules.get(cls.__module__), "__file__", None) or ""
    return not path.endswith((".so", ".pyd"))


#: ``Py_TPFLAGS_HEAPTYPE``: set on classes created by a ``class`` statement.
_HEAP_TYPE = 1 << 9


def _installed_roots() -> tuple[str, ...]:
    """Where installed packages and the standard library live (their code changes only
    with a reinstall)."""
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib")
             if paths.get(k)}
    return tuple(sorted(root + os.sep for root in roots))


_INSTALLED = _installed_roots()


def _user_class(cls: type) -> bool:
    """Whether ``cls`` is a Python class of the user's own code: the running script or
    notebook (``__main__``), or a module outside the installed packages and the standard
    library (a project's module, which may be edited and reloaded)."""
    if not _python_class(cls):
        return False
    if cls.__module__ == "__main__":
        return True
    path = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return not path or not os.path.realpath(path).startswith(_INSTALLED)


#: Entries of a class's namespace that are bookkeeping, not behaviour.
_CLASS_BOOKKEEPING = frozenset({"__dict__", "__weakref__", "__doc__", "__module__",
                                "__qualname__", "__slotnames__", "__annotations__",
                                "__static_attributes__", "__firstlineno__", "__slots__",
                                "__match_args__", "__dataclass_fields__",
                                "__dataclass_params__", "__parameters__", "__orig_bases__",
                                "__abstractmethods__", "_abc_impl"})

_C_DESCRIPTORS = (types.MemberDescriptorType, types.GetSetDescriptorType,
                  types.WrapperDescriptorType, types.MethodDescriptorType,
                  types.BuiltinFunctionType, types.ClassMethodDescriptorType)


def _state(value) -> dict:
    """An object's own attributes: its ``__dict__`` and the slots its classes declare."""
    state = dict(getattr(value, "__dict__", {}))
    for klass in type(value).__mro__:
        slots = vars(klass).get("__slots__", ())
        for name in ([slots] if isinstance(slots, str) else slots):
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                state[f"slot:{name}"] = getattr(value, name)
    return state


def _builtin_part(value):
    """The value of the builtin (or NumPy array) base a Python class extends: a ``dict``
    subclass's items, a ``float`` subclass's number; None when it extends none."""
    for klass in type(value).__mro__:
        if klass is object or _python_class(klass):
            continue
        if issubclass(klass, np.ndarray):
            return np.asarray(value).view(np.ndarray)
        # through the base's own methods: the subclass's overrides are its code, keyed apart
        if klass in (str, bytes, int, float, complex):
            own = getattr(klass, f"__{klass.__name__}__", None)  # bytes': Python 3.11+
            return own(value) if own is not None else klass(value)
        if klass is dict:
            return dict(dict.items(value))
        if klass in (list, tuple, set, frozenset):
            return klass(klass.__iter__(value))
        return ("base", klass.__module__, klass.__qualname__)
    return None


def _code_key(code: types.CodeType) -> tuple:
    """What a code object computes: its bytecode, constants (nested code too), names and
    variables; not its file, line numbers or name, so the same lambda written on another
    line (or after an inserted line) keys alike."""
    consts = tuple(_code_key(c) if isinstance(c, types.CodeType) else
                   # a set constant (`x in {"a", "b"}`) pickles in hash order, which
                   # changes from process to process: sorted, the key does not
                   ("frozenset", tuple(sorted(map(repr, c)))) if isinstance(c, frozenset)
                   else c for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars,
            code.co_cellvars, code.co_argcount, code.co_kwonlyargcount, code.co_flags)
