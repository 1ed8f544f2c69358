"""Issue 11 ("Trust"): property-based fuzzing of everything fit and predict accept.

Every generated case must either work or be refused clearly:

* **works**: ``fit`` returns, ``predict_proba`` returns finite float64 values strictly
  inside (0, 1) of shape ``(n_samples, n_labels)``, and ``predict`` returns 0/1 of Y's
  dtype with the same shape;
* **clear error**: a ``ValueError`` or ``TypeError`` (or a subclass: sklearn's
  ``InvalidParameterError``, skbert's ``TrainingDivergedError``) raised by Python,
  scikit-learn or skbert itself (not by numpy, torch or tokenizers, and not a
  ``UnicodeError``) whose message

  - **names the problem**: it contains one of the case's *needles*: the offending
    index (``X[3]``), parameter name, column name, type name or shape; and
  - **names the fix**: it contains an imperative fix phrase at the start of a sentence or
    clause (``Use``, ``Pass``, ``Set``, ``Convert``, ``Encode``, ``Fill``, ``Recode``,
    ``Rename``, ``Flatten``, ``Lower``, ``Repair``, ``Select``, ``Wrap``, ``Drop``,
    ``Refit``, ...), or such a verb anywhere when code follows it (``use
    precision='bf16'``), or ``e.g.``, or ``such as``; or it is sklearn's
    ``InvalidParameterError`` ("... must be <the accepted values>. Got <value> instead."),
    the house form for constructor parameters (STYLE.md 1.1).

Each case also knows whether it *must* work (valid input), *must* be refused
(e.g. an unordered X, a one-column Y, a 2 in Y), or may go either way (``device="cuda"``
on a machine without one). Anything else fails the test: an unexpected exception type
(KeyError, IndexError, RuntimeError from torch, ...), an unclear message, a valid input
refused or an invalid one silently accepted.

Bugs found in skbert (which this file does not edit) are listed in ``KNOWN_BUGS``: a case
that hits one is tallied as "known bug" instead of failing, and each bug has a
``strict=True`` xfail test at the end of the file, so fixing the bug turns that test into
an XPASS failure that asks for the entry to be removed.

Categories (one test each, parametrized over the kind so every kind gets examples):

* ``X predict``: every container (13 ordered, 14 refused: set, dict views, bare str, ...)
  holding special texts (empty, whitespace, 100k characters, emoji, CJK/Arabic/Cyrillic,
  combining marks, NUL, lone surrogates) and non-texts (None, NaN, pd.NA, bytes, numbers,
  nested lists), predicted by a fitted model with ``PREDICT_CHUNK=3``;
* ``X fit``: the same, fitted;
* ``Y fit``: 24 encodings of 0/1 (lists, bool/int/float arrays, sparse, DataFrames with
  nullable dtypes) with all-0 and all-1 columns and 1-8 samples, and 17 ways to get Y
  wrong (one column, 1-D, row count, {0, 2}, 0.5, NaN, strings, MultiIndex, 3-D, ...);
* ``params fit``: each constructor parameter set to a valid or invalid value, with up to
  two others, on 1-6 texts (validation splits of tiny data, thresholds, pos_weight, ...);
* ``params predict``: parameters read at predict time, changed by ``set_params`` after fit;
* ``hostile fit``: values built to break the checks themselves (issue 20 items 9, 10, 13):
  lists nested 100,000 deep as a text, as Y, as sample_weight and as a column name, label
  names equal as text (``1`` and ``"1"``), and weights of 1e300, 1e-300, inf, -1 or all 0.

Tallies (tried / worked / clear error / known bug, per category) are printed at the end of
the pytest run by the ``pytest_terminal_summary`` hook in conftest.py.
"""

from __future__ import annotations

import collections
import math
import re
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from conftest import FILLER, KEYWORDS, make_corpus
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.utils._param_validation import InvalidParameterError

from skbert import TransformerMultiLabelClassifier, _estimator

#: Training settings of every fit here: one epoch of the tiny model, on the CPU, in fp32.
BASE = dict(max_epochs=1, device="cpu", precision="fp32", fit_cache=False, random_state=0)

HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
          HealthCheck.data_too_large, HealthCheck.large_base_example]


def fuzz(max_examples: int, key: str):
    """Hypothesis settings with a fixed seed per ``key`` and no example database.

    CI runs the same examples every time; each parametrized kind gets its own seed (with
    ``derandomize=True`` the inner test functions would all share one, and so one sequence
    of draws).
    """
    def decorate(test):
        test = settings(max_examples=max_examples, deadline=None, database=None,
                        suppress_health_check=HEALTH, print_blob=False)(test)
        return seed(zlib.crc32(key.encode()))(test)

    return decorate


# --------------------------------------------------------------------------- tallies
#: TALLY[category][outcome]: outcomes "tried", "worked", "clear error", "known bug".
TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
#: How often each entry of KNOWN_BUGS was hit.
KNOWN_HITS: collections.Counter = collections.Counter()


def tally_lines() -> list[str]:
    """The tallies as text; read by the pytest_terminal_summary hook in conftest.py."""
    if not TALLY:
        return []
    lines = [f"{'category':<16}{'tried':>7}{'worked':>8}{'clear error':>13}{'known bug':>11}"]
    total = collections.Counter()
    for cat in sorted(TALLY):
        c = TALLY[cat]
        total.update(c)
        lines.append(f"{cat:<16}{c['tried']:>7}{c['worked']:>8}{c['clear error']:>13}"
                     f"{c['known bug']:>11}")
    lines.append(f"{'total':<16}{total['tried']:>7}{total['worked']:>8}"
                 f"{total['clear error']:>13}{total['known bug']:>11}")
    for bug, n in sorted(KNOWN_HITS.items()):
        lines.append(f"  known bug {bug}: {n} case(s) -- {KNOWN_BUGS[bug].summary}")
    return lines


# ----------------------------------------------------------- what a clear error is
FIX_VERBS = ("use", "pass", "set", "convert", "encode", "fill", "recode", "rename", "flatten",
             "lower", "raise", "increase", "repair", "select", "wrap", "drop", "refit", "remove",
             "change", "merge", "add", "save")
_IMPERATIVE = re.compile(
    r"(?:^|[.;:!?]\s*|\n\s*|\b(?:or|and|then)\s+)(?:" + "|".join(FIX_VERBS) + r")\b", re.I)
# ... or anywhere, when it is followed by the code to write: "on the CPU use precision='bf16'"
_CODE_FIX = re.compile(r"\b(?:" + "|".join(FIX_VERBS) + r")\s+[\w.\[\]]+\s*(?:=|<=|>=|<|>)",
                       re.I)
_SKLEARN_FORM = re.compile(r"parameter of \w+ must be .+\. Got .+ instead", re.S)
_OWN_MODULES = ("builtins", "sklearn", "skbert")


def names_a_fix(exc: BaseException) -> bool:
    """Whether the message of ``exc`` says what to do (see the module docstring)."""
    msg = str(exc)
    if isinstance(exc, InvalidParameterError) and _SKLEARN_FORM.search(msg):
        return True
    return (bool(_IMPERATIVE.search(msg) or _CODE_FIX.search(msg)) or "e.g." in msg
            or "such as" in msg)


def error_problem(exc: BaseException, needles) -> str | None:
    """What makes ``exc`` an unclear refusal, or None when it is a clear one."""
    if not isinstance(exc, (ValueError, TypeError)) or isinstance(exc, UnicodeError):
        return f"{type(exc).__name__} is not a ValueError/TypeError from skbert's checks"
    if type(exc).__module__.split(".")[0] not in _OWN_MODULES:
        return f"raised by {type(exc).__module__}, not by skbert's checks"
    msg = str(exc).lower()
    if needles and not any(n.lower() in msg for n in needles):
        return f"the message names none of {list(needles)} (the offending thing)"
    if not names_a_fix(exc):
        return "the message names no fix (no imperative fix phrase, 'e.g.' or 'such as')"
    return None


def test_clarity_rule_accepts_and_rejects_what_it_should():
    good = ValueError("X[3] is float (nan), but ... Convert or drop it, e.g. [str(x) ...].")
    assert error_problem(good, ["X[3]"]) is None
    assert error_problem(ValueError("X is empty: pass at least one text."), ["empty"]) is None
    assert "names none" in error_problem(good, ["X[4]"])
    assert "no fix" in error_problem(ValueError("X[3] is bad."), ["X[3]"])
    assert "not a ValueError" in error_problem(KeyError("X[3]"), ["X[3]"])
    assert "not a ValueError" in error_problem(
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed. Use"), [])
    axis_error = getattr(np, "exceptions", np).AxisError  # numpy < 1.25: np.AxisError
    assert "numpy" in error_problem(axis_error("Use e.g."), [])
    sk = InvalidParameterError("The 'batch_size' parameter of Est must be an int in the range "
                               "[1, inf). Got 0 instead.")
    assert error_problem(sk, ["batch_size"]) is None
    assert not names_a_fix(ValueError("Y must be 2-D, got shape ()."))  # sklearn form: sklearn only
    assert not names_a_fix(ValueError("see dataset.rename_column and np.nan_to_num"))
    assert names_a_fix(ValueError("fp16 needs a GPU; on the CPU use precision='bf16'."))


# ----------------------------------------------------------------------- the cases
@dataclass
class Case:
    """One generated input: how to build it, and what must happen."""

    category: str
    label: str
    expect: str = "ok"  # "ok", "error" or "either"
    needles: tuple = ()  # an error must name one of these
    triggers: frozenset = frozenset()  # KNOWN_BUGS ids this case may hit
    make_X: Callable[[], Any] | None = None  # a fresh X each call (generators are consumed)
    Y: Any = None
    params: dict = field(default_factory=dict)
    n: int = 0
    k: int = 0
    y_dtype: Any = None
    classes: Any = None

    def __repr__(self) -> str:
        return f"<{self.category}: {self.label} | expect={self.expect}>"


@dataclass(frozen=True)
class KnownBug:
    summary: str
    observed: str  # regex on "ExcType: message", or on "WORKED" for a silent acceptance


KNOWN_BUGS = {
}


def run_case(case: Case, action: Callable[[], Any]):
    """Run ``action`` (fit and/or predict), check the outcome against ``case``, tally it.

    Returns what ``action`` returned when it worked, else None.
    """
    tally = TALLY[case.category]
    tally["tried"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = action()
    except AssertionError:
        raise
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
        problem = ("the input is valid, so it must work" if case.expect == "ok"
                   else error_problem(exc, case.needles))
        if problem is None:
            tally["clear error"] += 1
            return None
        if _known(case, outcome):
            return None
        raise AssertionError(f"{case!r}\nraised {outcome[:800]}\n-> {problem}") from exc
    if case.expect == "error":
        if _known(case, "WORKED"):
            return None
        raise AssertionError(f"{case!r} was accepted, but it must be refused")
    tally["worked"] += 1
    return result


def _known(case: Case, outcome: str) -> bool:
    for bug in sorted(case.triggers):
        if bug in KNOWN_BUGS and re.search(KNOWN_BUGS[bug].observed, outcome, re.S):
            TALLY[case.category]["known bug"] += 1
            KNOWN_HITS[bug] += 1
            return True
    return False


def check_outputs(proba, pred, n: int, k: int, y_dtype, where: str = ""):
    """The multi-label output contract (sklearn ec.py:3285-3414)."""
    assert isinstance(proba, np.ndarray) and proba.dtype == np.float64, where
    assert proba.shape == (n, k), (proba.shape, (n, k), where)
    assert np.isfinite(proba).all(), where
    assert ((proba > 0) & (proba < 1)).all(), where
    assert isinstance(pred, np.ndarray) and pred.shape == (n, k), where
    assert pred.dtype == y_dtype, (pred.dtype, y_dtype, where)
    assert np.isin(pred, (0, 1)).all(), where


def fit_and_predict(case: Case, model_path: str):
    est = TransformerMultiLabelClassifier(model_path, **{**BASE, **case.params})
    assert est.fit(case.make_X(), case.Y) is est
    return est, est.predict_proba(case.make_X()), est.predict(case.make_X())


# --------------------------------------------------------------------- texts (X)
SPECIAL_TEXTS = {
    "empty": "",
    "space": " ",
    "whitespace": " \t\n\r\x0b\x0c\u00a0\u3000",
    "100k_one_token": "a" * 100_000,
    "100k_words": ("pizza goal " * 9091)[:100_000],
    "100k_emoji": "\U0001f600" * 100_000,
    "emoji": "\U0001f600\U0001f389 \U0001f44d\U0001f3fd \U0001f1fa\U0001f1f3 "
             "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "cjk": "\u6f22\u5b57\u304b\u306a\u4ea4\u3058\u308a\u6587 \ud55c\uad6d\uc5b4",
    "arabic": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "cyrillic": "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440",
    "combining": "e\u0301 n\u0303 a\u0308\u0332\u0336",
    "mixed_scripts": "football \u6f22\u5b57 \U0001f600 \u0645\u0631\u062d\u0628\u0627 "
                     "\u041f\u0440\u0438\u0432\u0435\u0442 e\u0301 pizza",
    "nul_inside": "pizza\x00goal",
    "only_nul": "\x00",
    "invisible": "\ufeff\u200b\u200d\u2060",
    "bidi_override": "\u202egoal\u202c",
    "crlf": "\r\n\r\n",
    "keywords": "pizza recipe election vote",
    "np.str_": np.str_("match team"),
}
SURROGATE_TEXTS = {"lone_high": "\ud800", "lone_low_inside": "goal \udfff pizza",
                   "reversed_pair": "\udc00\ud800"}
NON_TEXTS = {"None": None, "nan": float("nan"), "np.float64(nan)": np.float64("nan"),
             "pd.NA": pd.NA, "bytes": b"pizza", "int": 3, "float": 2.5, "bool": True,
             "list": ["pizza"], "tuple": ("pizza",), "dict": {"text": "pizza"},
             "np.int64": np.int64(7)}
VOCAB = sorted({w for ws in KEYWORDS.values() for w in ws} | set(FILLER))

valid_texts = st.one_of(
    st.sampled_from(sorted(SPECIAL_TEXTS)).map(lambda k: (k, SPECIAL_TEXTS[k])),
    st.text(max_size=30).map(lambda s: (repr(s), s)),
    st.lists(st.sampled_from(VOCAB), max_size=8).map(" ".join).map(lambda s: (repr(s), s)),
)
bad_elements = st.one_of(
    st.sampled_from(sorted(NON_TEXTS)).map(lambda k: (k, NON_TEXTS[k])),
    st.sampled_from(sorted(SURROGATE_TEXTS)).map(lambda k: (k, SURROGATE_TEXTS[k])),
)


def _obj_array(values, shape=None):
    a = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        a[i] = v
    return a if shape is None else a.reshape(shape)


def _hashable(values) -> bool:
    try:
        hash(tuple(values))
    except TypeError:
        return False
    return True


#: Ordered containers: accepted when every element is a valid str.
ORDERED = {
    "list": list,
    "tuple": tuple,
    "ndarray[object]": _obj_array,
    "ndarray[str]": lambda v: np.array(v, dtype=str),  # only built when every element is str
    "ndarray(n, 1)": lambda v: _obj_array(v, (len(v), 1)),
    "Series": lambda v: pd.Series(_obj_array(v), dtype=object),
    "Series[str]": lambda v: pd.Series(v, dtype="string"),  # str or None only
    "Series[category]": lambda v: pd.Series(_obj_array(v), dtype="category"),  # hashable only
    "Series(shuffled index)": lambda v: pd.Series(_obj_array(v), dtype=object,
                                                  index=np.arange(len(v))[::-1] * 7),
    "DataFrame(1 col)": lambda v: pd.DataFrame({"text": pd.Series(_obj_array(v), dtype=object)}),
    "generator": lambda v: (x for x in v),
    "iterator": iter,
    "deque": collections.deque,
}


def _unordered_texts(n):
    return [f"pizza {i}" for i in range(max(n, 1))]


#: Containers refused whatever they hold: (builder from n, a needle of the message).
REFUSED = {
    "set": (lambda n: set(_unordered_texts(n)), "set"),
    "frozenset": (lambda n: frozenset(_unordered_texts(n)), "frozenset"),
    "dict": (lambda n: dict.fromkeys(_unordered_texts(n), 1), "dict"),
    "dict.keys()": (lambda n: dict.fromkeys(_unordered_texts(n)).keys(), "dict_keys"),
    "dict.values()": (lambda n: {t: t for t in _unordered_texts(n)}.values(), "dict_values"),
    "dict.items()": (lambda n: dict.fromkeys(_unordered_texts(n)).items(), "dict_items"),
    "bare str": (lambda n: "pizza recipe", "string"),
    "bare bytes": (lambda n: b"pizza recipe", "string"),
    "None": (lambda n: None, "NoneType"),
    "int": (lambda n: 5, "int"),
    "float nan": (lambda n: float("nan"), "float"),
    "DataFrame(2 cols)": (lambda n: pd.DataFrame({"a": ["x"] * n, "b": ["y"] * n}), "2 columns"),
    "ndarray(n, 2)": (lambda n: np.full((n, 2), "pizza", dtype=object), "shape ("),
    "ndarray 0-d": (lambda n: np.array("pizza recipe"), "shape ()"),
}


@st.composite
def text_cases(draw, category: str, container: str, max_texts: int, chunk: int | None = None):
    """X cases: special texts and non-texts in an ordered or a refused ``container``.

    ``chunk``: predict's PREDICT_CHUNK, to mark a surrogate beyond the first chunk.
    """
    n = draw(st.integers(0, max_texts))
    slots = [draw(valid_texts) for _ in range(n)]
    if n and draw(st.booleans()):
        slots[draw(st.integers(0, n - 1))] = draw(bad_elements)
    names, values = [s[0] for s in slots], [s[1] for s in slots]
    if container in REFUSED:
        build, needle = REFUSED[container]
        if container == "ndarray(n, 2)":
            needle = f"shape ({n}, 2)"
        return Case(category, f"{container} of {n}", "error", (needle,),
                    make_X=lambda: build(n), n=n)
    name = container
    if name == "ndarray[str]" and not all(isinstance(v, str) for v in values):
        name = "ndarray[object]"
    if name == "Series[str]" and not all(isinstance(v, str) or v is None for v in values):
        name = "Series"
    if name == "Series[category]" and not _hashable(values):
        name = "Series"
    try:  # pandas' str/category dtypes cannot hold a lone surrogate (pyarrow refuses it)
        ORDERED[name](values)
    except UnicodeError:
        name = "Series"
    build = ORDERED[name]
    case = Case(category, f"{name}{names}", make_X=lambda: build(values), n=n)
    bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
    broken = [i for i, v in enumerate(values)
              if isinstance(v, str) and any("\ud800" <= c <= "\udfff" for c in v)]
    if n == 0:
        case.expect, case.needles = "error", ("empty",)
    elif bad:  # a Series not indexed 0..n-1: its position and its index label
        label = (n - 1 - bad[0]) * 7 if name == "Series(shuffled index)" else bad[0]
        case.expect, case.needles = "error", (
            f"X[{bad[0]}]" if label == bad[0] else f"X.iloc[{bad[0]}] (index label {label})",)
    elif broken:
        case.expect, case.needles = "error", (f"X[{broken[0]}]",)
        if chunk is not None and broken[0] >= chunk:
            case.triggers = frozenset({"predict-surrogate-index"})
    return case


@pytest.fixture(scope="module")
def fitted(tiny_model):
    """A fitted estimator (int64 Y, 4 labels) and one fitted with threshold='auto'."""
    X, Y = make_corpus(16, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = TransformerMultiLabelClassifier(tiny_model, **BASE).fit(X, Y)
        auto = TransformerMultiLabelClassifier(tiny_model, threshold="auto",
                                               validation_fraction=0.25, **BASE).fit(X, Y)
    assert hasattr(auto, "thresholds_") and not hasattr(plain, "thresholds_")
    return plain, auto


PREDICT_CHUNK = 3  # predict* tokenise and predict this many texts at a time here


@pytest.mark.parametrize("container", sorted(ORDERED) + sorted(REFUSED))
def test_predict_accepts_any_ordered_texts_and_names_every_bad_one(fitted, monkeypatch,
                                                                   container):
    # A small chunk so that a few texts already cross chunk boundaries.
    monkeypatch.setattr(_estimator, "PREDICT_CHUNK", PREDICT_CHUNK)

    @fuzz(14 if container in ORDERED else 4, f"predict {container}")
    @given(case=text_cases("X predict", container, max_texts=8, chunk=PREDICT_CHUNK))
    def check(case):
        predict_texts(fitted[0], case)

    check()


def predict_texts(est, case):
    out = run_case(case, lambda: (est.predict_proba(case.make_X()), est.predict(case.make_X()),
                                  est.decision_function(case.make_X())))
    if out is not None:
        proba, pred, logits = out
        check_outputs(proba, pred, case.n, 4, np.int64, repr(case))
        np.testing.assert_allclose(1 / (1 + np.exp(-logits.astype(float))), proba, rtol=1e-6)


@pytest.mark.parametrize("container", sorted(ORDERED) + sorted(REFUSED))
def test_fit_accepts_any_ordered_texts_and_names_every_bad_one(tiny_model, container):
    @fuzz(5 if container in ORDERED else 1, f"fit {container}")
    @given(case=text_cases("X fit", container, max_texts=5))
    def check(case):
        fit_texts(tiny_model, case)

    check()


def fit_texts(tiny_model, case):
    n = case.n
    case.Y = np.array([[1, 0, 1], [0, 1, 1]] * n, dtype=np.int64)[:max(n, 1)]
    out = run_case(case, lambda: fit_and_predict(case, tiny_model))
    if out is not None:
        est, proba, pred = out
        check_outputs(proba, pred, n, 3, np.int64, repr(case))
        np.testing.assert_array_equal(est.classes_, np.arange(3))


# ------------------------------------------------------------------- targets (Y)
def _df_dtype(frame: pd.DataFrame):
    return np.result_type(*[np.dtype(getattr(d, "numpy_dtype", d)) for d in frame.dtypes])


def _py(name):
    """A column name as pandas shows it in messages: np.int64(3) -> 3."""
    return name if isinstance(name, str) else int(name)


def _names(kind: str, k: int):
    if kind == "str":
        return [f"label_{j}" for j in range(k)]
    if kind == "int":
        return list(range(k))[::-1]
    return list(np.arange(10, 10 + k))  # np.int64


def encode_Y(M: np.ndarray, enc: str, names):
    """Y in encoding ``enc``, the dtype predict must return, and the classes_ fit must set."""
    k = M.shape[1] if M.ndim == 2 else 1
    classes = np.arange(k)
    if enc.startswith("DataFrame"):
        dt = enc[len("DataFrame["):-1]
        if dt == "mixed":
            kinds = ["int64", "bool", "Int64", "float32", "boolean"]
            frame = pd.DataFrame({n: pd.Series(M[:, j]).astype(kinds[j % len(kinds)])
                                  for j, n in enumerate(names)})
        else:
            frame = pd.DataFrame(M, columns=names).astype(dt)
        return frame, _df_dtype(frame), np.array([int(n) if not isinstance(n, str) else n
                                                  for n in names], dtype=object)
    if enc.startswith(("csr", "csc", "coo", "lil")):
        fmt, dt = enc[:-1].split("[")
        Y = getattr(sp, fmt)(M.astype(dt))
        return Y, Y.dtype, classes
    if enc.startswith("ndarray"):
        Y = M.astype(enc[len("ndarray["):-1])
        return Y, Y.dtype, classes
    py = {"list[int]": int, "list[bool]": bool, "list[float]": float, "tuple[tuple]": int}[enc]
    rows = [[py(v) for v in row] for row in M.tolist()]
    Y = tuple(map(tuple, rows)) if enc == "tuple[tuple]" else rows
    return Y, np.asarray(Y).dtype if len(rows) else np.dtype(float), classes


ENCODINGS = ["list[int]", "list[bool]", "list[float]", "tuple[tuple]", "ndarray[bool]",
             "ndarray[int8]", "ndarray[uint8]", "ndarray[int64]", "ndarray[float16]",
             "ndarray[float32]", "ndarray[float64]", "csr_matrix[int64]", "csc_matrix[float32]",
             "coo_matrix[bool]", "csr_array[int8]", "lil_matrix[float64]", "DataFrame[int64]",
             "DataFrame[bool]", "DataFrame[float32]", "DataFrame[Int64]", "DataFrame[boolean]",
             "DataFrame[Float64]", "DataFrame[UInt8]", "DataFrame[mixed]"]
#: Encodings that hold any number (non-0/1 values must survive encoding unchanged).
NUMERIC = ["list[float]", "ndarray[float64]", "csr_matrix[float64]", "DataFrame[float64]",
           "DataFrame[Float64]"]
FLOAT = ["list[float]", "ndarray[float32]", "ndarray[float64]", "csr_matrix[float64]",
         "DataFrame[float64]"]
CORRUPTIONS = ["single column", "1-D", "rows", "values", "nan", "string column", "object",
               "category column", "column names", "3-D", "not an array", "ragged",
               "label lists", "no columns", "empty frame", "complex", "list of sets"]


@st.composite
def target_cases(draw, how: str, enc: str | None = None):
    """Y cases: a random 0/1 matrix (all-0 and all-1 columns too), encoded as ``enc`` or
    corrupted as ``how`` says."""
    n, k = draw(st.integers(1, 8)), draw(st.integers(2, 5))
    M = draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, 1)))
    for j in range(k):  # all-zero and all-one columns
        fill = draw(st.sampled_from([None, None, None, 0, 1]))
        if fill is not None:
            M[:, j] = fill
    names = _names(draw(st.sampled_from(["str", "int", "np.int64"])), k)
    case = Case("Y fit", how, n=n, k=k)
    enc = enc or draw(st.sampled_from(ENCODINGS))

    def error(needles, *triggers):
        case.expect, case.needles, case.triggers = "error", tuple(needles), frozenset(triggers)

    if how == "none":
        case.Y, case.y_dtype, case.classes = encode_Y(M, enc, names)
        case.label = f"valid {enc} {M.tolist()}"
    elif how == "single column":
        case.Y = encode_Y(M[:, :1], enc, names[:1])[0]
        case.label = f"{enc} with one column"
        error([f"({n}, 1)", "one label"])
    elif how == "1-D":
        case.Y = draw(st.sampled_from([M[:, 0], M[:, 0].tolist(), pd.Series(M[:, 0])]))
        case.label = f"1-D {type(case.Y).__name__}"
        error([f"({n},)"])
    elif how == "rows":
        m = draw(st.sampled_from([0, n - 1, n + 1, n + 3]))
        M2 = np.resize(M, (max(m, 0), k))
        case.Y = encode_Y(M2, enc, names)[0]
        case.label = f"{enc} with {m} rows for {n} texts"
        error([f"{m} rows", f"({m},"], "Y-rows")
    elif how == "values":
        v = draw(st.sampled_from([2, -1, 3, 7, 100, 0.5, 1.5, 0.25, 1e-9]))
        mode = draw(st.sampled_from(["cell", "positives", "negatives"]))
        Mv = M.astype(float)
        if mode == "cell":
            Mv[draw(st.integers(0, n - 1)), draw(st.integers(0, k - 1))] = v
        else:
            Mv[M == (1 if mode == "positives" else 0)] = v
        enc = draw(st.sampled_from(NUMERIC + (["ndarray[int64]", "list[int]", "DataFrame[Int64]"]
                                              if float(v).is_integer() else [])))
        if enc in ("ndarray[int64]", "list[int]", "DataFrame[Int64]"):
            Mv = Mv.astype(np.int64)
        case.Y, case.y_dtype, case.classes = encode_Y(Mv, enc, names)
        case.label = f"{enc} {Mv.tolist()}"
        if not np.isin(Mv, (0, 1)).all():
            error(["holds the values", "continuous", "multiclass"])
    elif how == "nan":
        v = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        r, c = draw(st.integers(0, n - 1)), draw(st.integers(0, k - 1))
        Mv = M.astype(float)
        Mv[r, c] = v
        enc = draw(st.sampled_from(FLOAT + ["DataFrame[Float64]"]))
        case.Y = encode_Y(Mv, enc, names)[0]
        case.label = f"{enc} with {v} at ({r}, {c})"
        error(["nan", "inf", "missing"])
    elif how == "string column":
        form = draw(st.sampled_from(["yes/no", "'0'/'1'", "ndarray[str]", "list[str]"]))
        if form.startswith("ndarray"):
            case.Y, needles = M.astype(str), ["dtype"]
        elif form.startswith("list"):
            case.Y, needles = M.astype(str).tolist(), ["label lists", "dtype"]
        else:
            frame = pd.DataFrame(M, columns=names)
            j = draw(st.integers(0, k - 1))
            frame[names[j]] = frame[names[j]].map(
                {0: "no", 1: "yes"} if form == "yes/no" else {0: "0", 1: "1"})
            case.Y, needles = frame, [repr(_py(names[j]))]
        case.label = f"string labels ({form})"
        error(needles)
    elif how == "object":
        Mo = M.astype(object)
        Mo[draw(st.integers(0, n - 1)), draw(st.integers(0, k - 1))] = None
        case.Y = draw(st.sampled_from([Mo, Mo.tolist()]))
        case.label = f"{type(case.Y).__name__} holding None"
        error(["object"])
    elif how == "category column":
        frame = pd.DataFrame(M, columns=names)
        j = draw(st.integers(0, k - 1))
        frame[names[j]] = frame[names[j]].astype("category")
        case.Y, case.label = frame, f"DataFrame with category column {names[j]!r}"
        error([repr(_py(names[j]))])
    elif how == "column names":
        form = draw(st.sampled_from(["MultiIndex", "tuples", "duplicate", "float", "None",
                                     "bool", "same text"]))
        names = _names("str", k)
        cols = {"MultiIndex": pd.MultiIndex.from_tuples([(nm, "x") for nm in names]),
                "tuples": pd.Index([(nm, 1) for nm in names], tupleize_cols=False),
                "duplicate": names[:-1] + names[:1], "float": [j + 0.5 for j in range(k)],
                "None": [None] + names[1:], "bool": [True, False] + names[2:],
                # 1 and "1" are distinct columns but one label2id key (issue 20 item 10)
                "same text": [1, "1"] + names[2:]}[form]
        needle = {"MultiIndex": "MultiIndex", "tuples": repr((names[0], 1)),
                  "duplicate": repr(names[0]), "float": "0.5",
                  "None": "None|nan",  # pandas' str Index holds None as NaN
                  "bool": "True", "same text": "'1' (str)"}[form]
        case.Y = pd.DataFrame(M, columns=cols)
        case.label = f"DataFrame with {form} column names"
        error(needle.split("|"))
    elif how == "3-D":
        case.Y, case.label = np.repeat(M[:, :, None], 2, axis=2), f"shape ({n}, {k}, 2)"
        error(["shape ("], "Y-not-2d")
    elif how == "not an array":
        name = draw(st.sampled_from(["None", "5", "0.5", "'01'", "dict", "set", "generator"]))
        case.Y = {"None": None, "5": 5, "0.5": 0.5, "'01'": "01", "dict": {"a": [0, 1]},
                  "set": {0, 1}, "generator": (row for row in M.tolist())}[name]
        case.label = f"Y = {name}"
        error(["shape"], "Y-not-2d")
    elif how == "ragged":
        rows = M.tolist()
        rows[draw(st.integers(0, n - 1))].append(1)
        case.Y, case.label = rows, "ragged rows"
        error(["label lists", "could not be read"])
        if n == 1:  # one row: a plain 1 x (k + 1) matrix
            case.expect, case.y_dtype, case.k = "ok", np.dtype(np.int64), k + 1
    elif how == "label lists":
        case.Y = [[f"label_{j}" for j in range(k) if M[i, j]] for i in range(n)]
        case.label = f"label lists {case.Y}"
        error(["label lists", "shape", "dtype"], "Y-no-columns")  # all rows [] -> (n, 0)
    elif how == "no columns":
        form = draw(st.sampled_from(["ndarray", "DataFrame", "csr_matrix"]))
        case.Y = {"ndarray": np.zeros((n, 0)), "DataFrame": pd.DataFrame(index=range(n)),
                  "csr_matrix": sp.csr_matrix((n, 0))}[form]
        case.label = f"{form} with 0 columns"
        error([f"({n}, 0)", "0 columns", "no label", "no column"], "Y-no-columns")
    elif how == "empty frame":
        dt = draw(st.sampled_from(["int64", "string", "object", "category"]))
        case.Y = pd.DataFrame({nm: pd.Series([], dtype=dt) for nm in names})
        case.label = f"DataFrame with 0 rows of {dt}"
        error(["0 rows", repr(_py(names[0]))], "Y-empty-frame", "Y-rows")
    elif how == "complex":
        case.Y, case.label = M.astype(complex), "complex"
        error(["complex"])
    elif how == "list of sets":
        case.Y = [set(np.flatnonzero(row).tolist()) for row in M]
        case.label = f"list of sets {case.Y}"
        error(["shape", "label lists"])
    return case


@pytest.mark.parametrize("enc", ENCODINGS)
def test_fit_takes_every_0_1_encoding(tiny_model, corpus, enc):
    @fuzz(3, f"encoding {enc}")
    @given(case=target_cases("none", enc), pos_weight=st.sampled_from([None, "balanced"]))
    def check(case, pos_weight):
        fit_targets(tiny_model, corpus, case, pos_weight)

    check()


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_fit_names_every_bad_target(tiny_model, corpus, how):
    @fuzz(16 if how == "values" else 8, f"target {how}")
    @given(case=target_cases(how))
    def check(case):
        fit_targets(tiny_model, corpus, case, None)

    check()


def fit_targets(tiny_model, corpus, case, pos_weight):
    texts = corpus[0][:case.n]
    case.make_X, case.params = (lambda: texts), {"pos_weight": pos_weight}
    out = run_case(case, lambda: fit_and_predict(case, tiny_model))
    if out is not None:
        est, proba, pred = out
        k = case.k
        check_outputs(proba, pred, case.n, k, case.y_dtype, repr(case))
        if case.classes is not None:
            assert list(est.classes_) == list(case.classes)


# -------------------------------------------------------------- fit parameters
OK, BAD, EITHER, SPLIT = "ok", "bad", "either", "split"


def _per_label(values):
    return lambda k: (list(values) * k)[:k]


#: name -> [(label, value or value-of-k, status, known-bug trigger)]
FIT_PARAMS = {
    "threshold": [
        ("0.5", 0.5, OK, None), ("0.0", 0.0, OK, None), ("1.0", 1.0, OK, None),
        ("np.float32(0.3)", np.float32(0.3), OK, None),
        ("per-label list", _per_label([0.2, 0.9, 0.5]), OK, None),
        ("per-label ndarray", lambda k: np.linspace(0, 1, k), OK, None),
        ("per-label tuple", lambda k: tuple([0.5] * k), OK, None),
        ("per-label Series", lambda k: pd.Series([0.4] * k), OK, None),
        ("auto", "auto", SPLIT, None),
        ("1.5", 1.5, BAD, None), ("-0.1", -0.1, BAD, None), ("nan", float("nan"), BAD, None),
        ("inf", float("inf"), BAD, None), ("'0.5'", "0.5", BAD, None), ("None", None, BAD, None),
        ("k-1 values", lambda k: [0.5] * (k - 1), BAD, None),
        ("k+1 values", lambda k: [0.5] * (k + 1), BAD, None), ("[]", [], BAD, None),
        ("per-label NaN", _per_label([0.5, float("nan")]), BAD, None),
        ("per-label 1.5", _per_label([1.5, 0.5]), BAD, "threshold-range"),
        ("per-label -3", _per_label([0.5, -3]), BAD, "threshold-range"),
        ("2-D", lambda k: [[0.5] * k], BAD, None), ("dict", {"a": 0.5}, BAD, None),
        ("np.array(0.5)", np.array(0.5), EITHER, None), ("True", True, EITHER, None),
    ],
    "pos_weight": [
        ("None", None, OK, None), ("balanced", "balanced", OK, None),
        ("ones", lambda k: np.ones(k), OK, None), ("list", _per_label([0.1, 10.0, 3.0]), OK, None),
        ("NaN", _per_label([1.0, float("nan")]), BAD, "pos_weight"),
        ("inf", _per_label([float("inf"), 1.0]), BAD, "pos_weight"),
        ("zero", _per_label([0.0, 1.0]), BAD, "pos_weight"),
        ("negative", _per_label([1.0, -2.0]), BAD, "pos_weight"),
        ("k+1 values", lambda k: [1.0] * (k + 1), BAD, "pos_weight"),
        ("2-D", lambda k: [[1.0] * k], BAD, "pos_weight"),
        ("strings", lambda k: ["a"] * k, BAD, "pos_weight"),
        ("2.0", 2.0, BAD, None), ("'Balanced'", "Balanced", BAD, None),
    ],
    "batch_size": [("1", 1, OK, None), ("2", 2, OK, None), ("64", 64, OK, None),
                   ("np.int64(3)", np.int64(3), OK, None), ("True", True, EITHER, None),
                   ("0", 0, BAD, None), ("-1", -1, BAD, None), ("2.5", 2.5, BAD, None),
                   ("None", None, BAD, None), ("'8'", "8", BAD, None)],
    "max_length": [("8", 8, OK, None), ("9", 9, OK, None), ("512", 512, OK, None),
                   ("7", 7, BAD, None), ("0", 0, BAD, None), ("513", 513, BAD, None),
                   ("10**6", 10**6, BAD, None), ("16.0", 16.0, BAD, None)],
    "long_text": [("truncate", "truncate", OK, None), ("chunk", "chunk", OK, None),
                  ("'window'", "window", BAD, None)],
    "stride": [("0", 0, OK, None), ("3", 3, OK, None), ("40", 40, OK, None),
               ("-1", -1, BAD, None)],
    "max_chunks": [("None", None, OK, None), ("1", 1, OK, None), ("0", 0, BAD, None)],
    "early_stopping": [("True", True, SPLIT, None), ("False", False, OK, None),
                       ("'yes'", "yes", BAD, None)],
    "validation_fraction": [(str(v), v, OK, None) for v in (0.0, 0.01, 0.5, 0.99)]
    + [("1.0", 1.0, BAD, None), ("-0.1", -0.1, BAD, None), ("nan", float("nan"), BAD, None)],
    "learning_rate": [("1e-3", 1e-3, OK, None), ("1e3", 1e3, EITHER, None),
                      ("0", 0, BAD, None), ("nan", float("nan"), BAD, None),
                      ("inf", float("inf"), BAD, None), ("'fast'", "fast", BAD, None)],
    "head_learning_rate": [("1e-2", 1e-2, OK, None), ("0", 0.0, BAD, None)],
    "warmup_ratio": [("0", 0.0, OK, None), ("1", 1.0, OK, None), ("1.5", 1.5, BAD, None)],
    "weight_decay": [("0", 0.0, OK, None), ("-1", -1.0, BAD, None),
                     ("nan", float("nan"), BAD, None)],
    "n_iter_no_change": [("1", 1, OK, None), ("0", 0, BAD, None)],
    "tol": [("0", 0.0, OK, None), ("-1", -1.0, BAD, None)],
    "pooling": [("cls", "cls", OK, None), ("mean", "mean", OK, None), ("'max'", "max", BAD, None)],
    "threshold_metric": [("f1_micro", "f1_micro", OK, None), ("'accuracy'", "accuracy", BAD, None)],
    "chunk_pooling": [("mean", "mean", OK, None), ("'median'", "median", BAD, None)],
    "precision": [("bf16", "bf16", OK, None), ("fp16", "fp16", EITHER, None),
                  ("'fp8'", "fp8", BAD, None), ("'FP32'", "FP32", BAD, None)],
    "device": [("cpu:0", "cpu:0", OK, None), ("torch.device('cpu')", torch.device("cpu"), OK, None),
               ("cuda", "cuda", EITHER, None), ("'gpu'", "gpu", BAD, None),
               ("'CPU'", "CPU", BAD, None), ("''", "", BAD, None),
               ("'meta'", "meta", BAD, "device"), ("'xpu'", "xpu", BAD, "device"),
               ("'lazy'", "lazy", BAD, "device")],
    "random_state": [("7", 7, OK, None), ("None", None, OK, None),
                     ("RandomState", np.random.RandomState(0), OK, None),
                     ("-1", -1, BAD, None), ("'seed'", "seed", BAD, None),
                     ("2**33", 2**33, BAD, None)],
    "predict_batch_size": [("1", 1, OK, None), ("0", 0, BAD, None)],
    "max_epochs": [("0", 0, BAD, None), ("1.5", 1.5, BAD, None)],
    "model_kwargs": [("{}", {}, OK, None),
                     ("attn eager", {"attn_implementation": "eager"}, OK, None),
                     ("{'foo': 1}", {"foo": 1}, BAD, "model_kwargs"),
                     ("{'num_labels': 3}", {"num_labels": 3}, BAD, "model_kwargs"),
                     ("trust_remote_code", {"trust_remote_code": True}, BAD, None)],
    "tokenizer_kwargs": [("{}", {}, OK, None),
                         ("trust_remote_code", {"trust_remote_code": True}, BAD, None)],
    "compile": [("False", False, OK, None), ("{'bogus': 1}", {"bogus": 1}, BAD, None)],
    "verbose": [("'loud'", "loud", BAD, None)],
}


@st.composite
def fit_param_cases(draw, first: str):
    """``first`` set to one of its values, and up to two other parameters too."""
    n = draw(st.integers(1, 6))
    k = 4
    names = [first] + draw(st.lists(st.sampled_from(sorted(set(FIT_PARAMS) - {first})),
                                    max_size=2, unique=True))
    params, labels, statuses, triggers = {}, [], [], set()
    for name in names:
        label, value, status, trigger = draw(st.sampled_from(FIT_PARAMS[name]))
        params[name] = value(k) if callable(value) else value
        labels.append(f"{name}={label}")
        statuses.append(status)
        if trigger:
            triggers.add(trigger)
    case = Case("params fit", ", ".join(labels) + f" (n={n})", n=n, k=k, params=params,
                y_dtype=np.dtype(np.int64), triggers=frozenset(triggers))
    case.needles = tuple(names) + ("validation_fraction", "stride")
    if BAD in statuses:
        case.expect = "error"
    elif EITHER in statuses:
        case.expect = "either"
    split = (SPLIT in statuses or params.get("early_stopping") is True)
    vf = params.get("validation_fraction", 0.1)
    if split and case.expect != "error":
        n_valid = math.ceil(vf * n)
        if not 1 <= n_valid <= n - 1:
            case.expect = "error"
    max_length = params.get("max_length", 128)
    if (params.get("long_text") == "chunk" and case.expect != "error"
            and params.get("stride", 32) >= max_length - 2):
        case.expect = "error"
    if case.expect == "error":
        case.needles = tuple(names)  # the message must name a parameter that was changed
        if split:
            case.needles += ("validation_fraction",)
        if params.get("long_text") == "chunk":
            case.needles += ("stride",)
    return case


@pytest.mark.parametrize("name", sorted(FIT_PARAMS))
def test_fit_parameters_work_or_are_refused_clearly(tiny_model, corpus, name):
    @fuzz(8, f"fit {name}")
    @given(case=fit_param_cases(name))
    def check(case):
        fit_params(tiny_model, corpus, case)

    check()


def fit_params(tiny_model, corpus, case):
    texts, Y = corpus
    case.make_X, case.Y = (lambda: texts[:case.n]), Y[:case.n]
    out = run_case(case, lambda: fit_and_predict(case, tiny_model))
    if out is not None:
        est, proba, pred = out
        check_outputs(proba, pred, case.n, 4, np.int64, repr(case))


# ----------------------------------------------------- parameters set after fit
PREDICT_PARAMS = {
    "threshold": [e for e in FIT_PARAMS["threshold"] if not isinstance(e[1], str)]
    + [("auto", "auto", EITHER, None), ("'bogus'", "bogus", BAD, "predict-params"),
       ("'0.5'", "0.5", BAD, "predict-params")],
    "predict_batch_size": [("1", 1, OK, None), ("2", 2, OK, None), ("1000", 1000, OK, None),
                           ("0", 0, BAD, "predict-params"), ("-1", -1, BAD, "predict-params"),
                           ("2.5", 2.5, BAD, "predict-params"),
                           ("None", None, BAD, "predict-params")],
    "precision": [("fp32", "fp32", OK, None), ("bf16", "bf16", OK, None),
                  ("auto", "auto", OK, None), ("fp16", "fp16", OK, None),
                  ("'fp8'", "fp8", BAD, "predict-params")],
    "max_length": [("8", 8, OK, None), ("64", 64, OK, None), ("512", 512, OK, None),
                   ("4", 4, BAD, "predict-params"), ("513", 513, BAD, "predict-params"),
                   ("10**6", 10**6, BAD, "predict-params")],
    "long_text": [("chunk", "chunk", OK, None), ("'window'", "window", BAD, None)],
    # stride 1000 is refused only with long_text="chunk" (the rule below); unused otherwise
    "stride": [("0", 0, OK, None), ("10", 10, OK, None), ("-1", -1, BAD, "predict-params"),
               ("1000", 1000, EITHER, None)],
    "max_chunks": [("None", None, OK, None), ("1", 1, OK, None),
                   ("0", 0, BAD, "predict-params"), ("-1", -1, BAD, "predict-params")],
    "chunk_pooling": [("mean", "mean", OK, None), ("'median'", "median", BAD, "predict-params")],
}
#: Texts for the predict-time cases: one is longer than the model's 512 positions.
PREDICT_TEXTS = make_corpus(4, seed=2)[0] + ["pizza goal " * 300]


@st.composite
def predict_param_cases(draw, first: str):
    """``first`` set after fit to one of its values, and up to two other parameters too."""
    names = [first] + draw(st.lists(st.sampled_from(sorted(set(PREDICT_PARAMS) - {first})),
                                    max_size=2, unique=True))
    auto = draw(st.booleans())
    params, labels, statuses, triggers = {}, [], [], set()
    for name in names:
        label, value, status, trigger = draw(st.sampled_from(PREDICT_PARAMS[name]))
        params[name] = value(4) if callable(value) else value
        labels.append(f"{name}={label}")
        statuses.append(status)
        if trigger:
            triggers.add(trigger)
    fitted_with = "threshold='auto'" if auto else "threshold=0.5"
    case = Case("params predict", f"fitted with {fitted_with}; set_params({', '.join(labels)})",
                params=params, n=len(PREDICT_TEXTS), k=4, y_dtype=np.dtype(np.int64),
                triggers=frozenset(triggers), needles=tuple(names))
    case.make_X = lambda: PREDICT_TEXTS
    case.Y = auto  # which fitted estimator
    if BAD in statuses:
        case.expect = "error"
    elif EITHER in statuses:
        case.expect = "either"
    if (params.get("long_text") == "chunk" and case.expect != "error"
            and params.get("stride", 32) >= params.get("max_length", 128) - 2):
        case.expect = "error"
        case.triggers |= {"predict-params"}
    threshold = params.get("threshold")
    if isinstance(threshold, str) and threshold == "auto" and not auto:
        case.expect = "error"  # no thresholds_ to use: 'Refit with threshold='auto''
    if isinstance(params.get("threshold"), str) and params["threshold"] != "auto":
        # a wrong str must be named by its value ('bogus'), not mistaken for 'auto'
        case.needles = tuple(n for n in names if n != "threshold") + (
            repr(params["threshold"]),)
    return case


@pytest.mark.parametrize("name", sorted(PREDICT_PARAMS))
def test_parameters_set_after_fit_work_or_are_refused_clearly(fitted, name):
    @fuzz(20, f"predict {name}")
    @given(case=predict_param_cases(name))
    def check(case):
        predict_params(fitted, case)

    check()


def predict_params(fitted, case):
    est = fitted[1] if case.Y else fitted[0]
    before = est.get_params()

    def predict():
        est.set_params(**case.params)
        try:
            return est.predict_proba(case.make_X()), est.predict(case.make_X())
        finally:
            est.set_params(**{name: before[name] for name in case.params})

    out = run_case(case, predict)
    if out is not None:
        check_outputs(*out, case.n, 4, np.int64, repr(case))
        proba, pred = out
        threshold = case.params.get("threshold", est.threshold)
        t = est.thresholds_ if isinstance(threshold, str) else threshold
        np.testing.assert_array_equal(pred, (proba >= np.asarray(t, dtype=float)).astype(int))


# ------------------------------------------------------------------ known bugs
# One strict xfail per entry of KNOWN_BUGS: each asserts the behaviour the bug breaks, so
# a fix makes it XPASS (a failure under strict=True) and asks for the entry to be removed.
# ---------------------------------------------- hostile values (issue 20 items 9, 10, 13)
def _deep(depth: int = 100_000):
    """A list nested ``depth`` deep: its plain repr raises RecursionError."""
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def _hostile_cases(n: int, k: int) -> dict:
    """label -> (X, Y, sample_weight, expect, needles), on ``n`` texts and ``k`` labels."""
    X, Y = make_corpus(n, seed=3)
    Y = Y[:, :k]
    deep = _deep()
    return {
        "X holds a deeply nested list": (X[:-1] + [deep], Y, None, "error", (f"X[{n - 1}]",)),
        "Y is a deeply nested list": (X, deep, None, "error", ("shape", "2-D")),
        "Y rows hold deep lists": (X, [[deep] * k] * n, None, "error",
                                   ("could not be read", "dtype", "shape")),
        "sample_weight is a deeply nested list": (X, Y, deep, "error", ("sample_weight",)),
        "column name is a deep tuple": (
            X, pd.DataFrame(Y, columns=pd.Index([tuple(_deep(2000))] + list(range(1, k)),
                                                tupleize_cols=False)),
            None, "error", ("column name",)),
        "columns 1 and '1'": (X, pd.DataFrame(Y, columns=[1, "1"] + [f"c{j}" for j in
                                                                     range(2, k)]),
                              None, "error", ("'1' (str)",)),
        "columns np.int64(2) and '2'": (X, pd.DataFrame(Y, columns=[np.int64(2), "2"] + [
            f"c{j}" for j in range(2, k)]), None, "error", ("'2' (str)",)),
        "sample_weight 1e300": (X, Y, np.full(n, 1e300), "ok", ()),
        "sample_weight 1e-300": (X, Y, np.full(n, 1e-300), "ok", ()),
        "sample_weight 1e300 and 1": (X, Y, np.r_[1e300, np.ones(n - 1)], "ok", ()),
        "sample_weight inf": (X, Y, np.r_[np.ones(n - 1), np.inf], "error",
                              (f"sample_weight[{n - 1}]",)),
        "sample_weight negative": (X, Y, np.r_[-1.0, np.ones(n - 1)], "error",
                                   ("sample_weight[0]",)),
        "sample_weight all zero": (X, Y, np.zeros(n), "error", ("zero",)),
    }


HOSTILE = sorted(_hostile_cases(6, 3))


@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_values_work_or_are_refused_clearly(tiny_model, label):
    X, Y, w, expect, needles = _hostile_cases(6, 3)[label]
    case = Case("hostile fit", label, expect, needles, n=6, k=3, make_X=lambda: X, Y=Y)

    def fit():
        est = TransformerMultiLabelClassifier(tiny_model, **BASE)
        est.fit(X, Y, sample_weight=w)
        return est, est.predict_proba(X), est.predict(X)

    out = run_case(case, fit)
    if out is not None:
        est, proba, pred = out
        check_outputs(proba, pred, 6, 3, np.asarray(Y).dtype, label)


def assert_clear(exc_info, *needles):
    problem = error_problem(exc_info.value, needles)
    assert problem is None, f"{type(exc_info.value).__name__}: {exc_info.value}\n-> {problem}"


def est_for(path, **params):
    return TransformerMultiLabelClassifier(path, **{**BASE, **params})


def test_bug_empty_frame_with_string_column_is_named(tiny_model):
    Y = pd.DataFrame({"a": pd.Series([], dtype="string"), "b": pd.Series([], dtype="int64")})
    with pytest.raises((ValueError, TypeError)) as info:
        est_for(tiny_model).fit(["pizza"], Y)
    assert_clear(info, "'a'", "0 rows")


@pytest.mark.parametrize("Y", [pd.DataFrame(index=range(3)), np.zeros((3, 0))],
                         ids=["DataFrame", "ndarray"])
def test_bug_Y_without_columns_is_named(tiny_model, Y):
    with pytest.raises(ValueError) as info:
        est_for(tiny_model).fit(["a", "b", "c"], Y)
    assert_clear(info, "(3, 0)", "0 columns", "no label", "no column")


@pytest.mark.parametrize("Y", [None, 5, np.zeros((2, 2, 2))], ids=["None", "scalar", "3-D"])
def test_bug_Y_that_is_not_2d_gets_a_fix(tiny_model, Y):
    with pytest.raises(ValueError) as info:
        est_for(tiny_model).fit(["a", "b"], Y)
    assert_clear(info, "shape")


def test_bug_row_mismatch_gets_a_fix(tiny_model):
    with pytest.raises(ValueError) as info:
        est_for(tiny_model).fit(["a", "b", "c"], [[0, 1], [1, 0]])
    assert_clear(info, "2 rows")


def test_bug_per_label_threshold_out_of_range_gets_a_fix(tiny_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError) as info:
        est_for(tiny_model, threshold=[1.5, 0.5, 0.5, 0.5]).fit(X, Y)
    assert_clear(info, "threshold", "label index 0")
    assert "np.float64" not in str(info.value)  # show 1.5, not numpy's repr


def test_bug_bad_pos_weight_gets_a_fix(tiny_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError) as info:
        est_for(tiny_model, pos_weight=[1.0, np.nan, 1.0, 1.0]).fit(X, Y)
    assert_clear(info, "pos_weight")


@pytest.mark.parametrize("device", ["meta", "xpu", "lazy"])
def test_bug_unavailable_device_types_are_refused(tiny_model, corpus, device, train_calls):
    X, Y = corpus
    with pytest.raises(ValueError) as info:
        est_for(tiny_model, device=device).fit(X[:4], Y[:4])
    assert_clear(info, "device")
    assert train_calls == []


@pytest.mark.parametrize("kwargs", [{"foo": 1}, {"num_labels": 3}], ids=["foo", "num_labels"])
def test_bad_model_kwargs_are_named(tiny_model, corpus, kwargs):
    X, Y = corpus
    with pytest.raises(ValueError) as info:
        est_for(tiny_model, model_kwargs=kwargs).fit(X[:4], Y[:4])
    assert_clear(info, "model_kwargs")
    assert "checkpoint folder" not in str(info.value)


@pytest.mark.parametrize("params", [
    {"threshold": "bogus"}, {"threshold": "0.5"}, {"predict_batch_size": 0},
    {"predict_batch_size": -1}, {"predict_batch_size": None}, {"precision": "fp8"},
    {"max_length": 513}, {"max_length": 4}, {"max_chunks": 0}, {"max_chunks": -1},
    {"long_text": "chunk", "stride": -1}, {"long_text": "chunk", "stride": 1000},
    {"long_text": "chunk", "chunk_pooling": "median"},
], ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
@pytest.mark.parametrize("auto", [False, True], ids=["fitted-0.5", "fitted-auto"])
def test_bug_parameters_set_after_fit_are_validated_at_predict(fitted, params, auto):
    est = fitted[1] if auto else fitted[0]
    before = est.get_params()
    est.set_params(**params)
    try:
        with pytest.raises((ValueError, TypeError)) as info:
            est.predict(PREDICT_TEXTS)
    finally:
        est.set_params(**{name: before[name] for name in params})
    # a wrong threshold str must be named by its value, not mistaken for 'auto'
    assert_clear(info, *[repr(v) if k == "threshold" else k for k, v in params.items()])


def test_bug_predict_names_a_surrogate_by_its_index_in_X(fitted, monkeypatch):
    monkeypatch.setattr(_estimator, "PREDICT_CHUNK", 4)
    X = ["pizza"] * 5 + ["goal \ud800"]
    with pytest.raises(ValueError) as info:
        fitted[0].predict_proba(X)
    assert_clear(info, "X[5]")


def test_a_surrogate_in_x_val_is_named_by_its_index_in_x_val(tiny_model):
    X, Y = make_corpus(16, seed=1)
    X_val = list(X[:4])
    X_val[2] = "goal \ud800"
    with pytest.raises(ValueError) as info:
        est_for(tiny_model).fit(X, Y, X_val=X_val, Y_val=Y[:4])
    assert_clear(info, "X_val[2]")


@pytest.mark.parametrize("Y, value", [
    ([[0, 1], [1, 0.5]], "0.5"), ([[0, 1], [2, 1]], None), ([[0, 1], [1, 1.5]], "1.5"),
], ids=["0.5", "0-1-2", "1.5"])
def test_non_binary_targets_name_the_offending_value(tiny_model, Y, value):
    # {0, 2} or {-1, 1} already get "Y holds the values {...}"; these reach type_of_target first.
    with pytest.raises(ValueError) as info:
        est_for(tiny_model).fit(["a", "b"], Y)
    assert_clear(info, "Y holds the values")
    if value is not None:
        assert value in str(info.value)
