"""Issue 21's shape table: lines of code of the estimator class and of large modules,
where a parameter is named, and how many parameters cli and export code name.

Usage: python tools/shape.py [PACKAGE_DIR]   (default: skbert). Lines of code leave out
blank lines, comments and docstrings.
"""

import ast
import io
import os
import re
import sys
import tokenize


def docstrings(tree: ast.AST) -> list:
    """The docstring statements (string ``ast.Expr``) of every module, class and function."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(
                    body[0].value.value, str):
                out.append(body[0])
    return out


def code_lines(source: str, start: int = 1, end: int | None = None) -> int:
    """Lines in [start, end] holding code that is not a comment or a docstring."""
    doc_lines = set()
    for doc in docstrings(ast.parse(source)):
        doc_lines.update(range(doc.lineno, doc.end_lineno + 1))
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                        tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER):
            continue
        for ln in range(tok.start[0], tok.end[0] + 1):
            if ln not in doc_lines:
                lines.add(ln)
    end = end or max(lines, default=0)
    return sum(1 for ln in lines if start <= ln <= end)


def main(pkg: str = "skbert") -> None:
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(pkg) for f in fs if f.endswith(".py"))
    src = {f: open(f, encoding="utf-8").read() for f in files}
    est = os.path.join(pkg, "_estimator.py")
    tree = ast.parse(src[est])
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef)
               and n.name == "TransformerMultiLabelClassifier")
    print(f"estimator class: {code_lines(src[est], cls.lineno, cls.end_lineno)} lines of code")
    big = [(code_lines(s), f) for f, s in src.items()]
    for n, f in sorted(big, reverse=True):
        if n > 500:
            print(f"module over 500: {f} {n}")
    hits = {f: len(re.findall(r"\bwarmup_ratio\b", s)) for f, s in src.items()}
    hits = {f: n for f, n in hits.items() if n}
    print(f"warmup_ratio: {sum(hits.values())} occurrences in {len(hits)} files {sorted(hits)}")
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    params = [a.arg for a in init.args.args[1:] + init.args.kwonlyargs]
    for group in ("cli", "_cli", "_export"):
        named = set()
        for f, s in src.items():
            base = os.path.basename(f)
            if base.startswith(group) or f.startswith(os.path.join(pkg, group) + os.sep):
                named |= python_names(s) & set(params)
        print(f"parameters named in {group}*: {len(named)} of {len(params)} {sorted(named)}")


def python_names(source: str) -> set:
    """Names used as code: variables, attributes, keywords, arguments and string
    constants (dict keys, getattr names), but not docstrings, comments or help text
    that merely mention a name inside a longer string."""
    tree = ast.parse(source)
    docs = {id(doc.value) for doc in docstrings(tree)}
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            out.add(node.arg)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docs):
            out.add(node.value)
    return out


if __name__ == "__main__":
    main(*sys.argv[1:])
