"""HTML views of explanations: a notebook snippet and one standalone offline page.

Every piece of text (the texts, the label names) is escaped; the page carries
its CSS and script inline and a Content-Security-Policy that forbids loading
anything, so it opens offline and cannot reach the network.
"""

from __future__ import annotations

import html
import json

import numpy as np

#: Colour of words that push a label on (red) and off (blue), as RGB.
POSITIVE = (214, 39, 40)
NEGATIVE = (31, 119, 180)

#: Texts shown by a notebook's rich display of many explanations.
NOTEBOOK_TEXTS = 50

_CSS = """
.skx{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:14px;
 line-height:1.9;color:#222;max-width:60em}
.skx-row{display:flex;gap:.8em;align-items:baseline;padding:.25em 0;
 border-top:1px solid #eee}
.skx-meta{flex:0 0 14em;font-size:12px;line-height:1.4}
.skx-label{font-weight:600;word-break:break-word}
.skx-on{color:#0a0}
.skx-off{color:#888}
.skx-text{flex:1;white-space:pre-wrap;word-break:break-word}
.skx-w{border-radius:3px;padding:0 1px}
.skx-unseen{color:#aaa}
.skx-legend{font-size:12px;color:#555;margin:.3em 0}
.skx-legend span{padding:0 .4em;border-radius:3px}
.skx-card{border:1px solid #ddd;border-radius:6px;padding:.4em .8em;margin:.6em 0}
.skx-head{font-size:12px;color:#666}
.skx-hidden{display:none}
"""


def _colour(value: float, scale: float) -> str:
    """Background of a word: red for positive, blue for negative, opacity by size."""
    if scale <= 0 or not np.isfinite(value) or value == 0:
        return "transparent"
    alpha = min(1.0, abs(value) / scale)
    r, g, b = POSITIVE if value > 0 else NEGATIVE
    return f"rgba({r},{g},{b},{alpha * 0.85:.3f})"


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _highlighted_text(e, row: int) -> str:
    """The text of ``e`` with its words coloured by their attribution to label ``row``."""
    a = np.asarray(e.attributions[row], dtype=float)
    finite = a[np.isfinite(a)]
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    parts, pos = [], 0
    for k, (s, t) in enumerate(e.offsets):
        s, t = int(s), int(t)
        parts.append(_esc(e.text[pos:s]))
        parts.append(f'<span class="skx-w" style="background:{_colour(a[k], scale)}" '
                     f'title="{a[k]:+.4f}">{_esc(e.text[s:t])}</span>')
        pos = t
    tail = e.text[pos:]
    if tail.strip():  # past the last word read: truncated, or past max_chunks windows
        parts.append(f'<span class="skx-unseen" title="not read by the model">{_esc(tail)}'
                     "</span>")
    else:
        parts.append(_esc(tail))
    return "".join(parts)


def _meta(e, row: int) -> str:
    p, t = float(e.probabilities[row]), float(e.threshold[row])
    on = bool(e.predicted[row])
    mark = ('<span class="skx-on">&#10003; predicted</span>' if on
            else '<span class="skx-off">not predicted</span>')
    gap = ""
    if e.completeness_gap is not None:
        gap = f"<br>completeness gap {100 * float(e.completeness_gap[row]):.1f}%"
    return (f'<div class="skx-meta"><div class="skx-label">{_esc(e.labels[row])}</div>'
            f"p = {p:.3f} (threshold {t:.3g}) {mark}{gap}</div>")


def _rows(e, label_ids: dict | None = None) -> str:
    out = []
    for row in range(len(e.labels)):
        data = ""
        if label_ids is not None:
            data = f' data-label="{label_ids[str(e.labels[row])]}"'
        out.append(f'<div class="skx-row"{data}>{_meta(e, row)}'
                   f'<div class="skx-text">{_highlighted_text(e, row)}</div></div>')
    return "".join(out)


def _legend(method: str) -> str:
    pos = "rgba({},{},{},.7)".format(*POSITIVE)
    neg = "rgba({},{},{},.7)".format(*NEGATIVE)
    name = "integrated gradients" if method == "integrated_gradients" else method
    return (f'<div class="skx-legend"><span style="background:{pos}">pushes the label on</span> '
            f'<span style="background:{neg}">pushes it off</span> '
            f"(darker: stronger; {name}; hover a word for its value)</div>")


def explanation_html(e) -> str:
    """One explanation: one row per label, the text highlighted for that label."""
    return f'<div class="skx"><style>{_CSS}</style>{_legend(e.method)}{_rows(e)}</div>'


def explanations_html(explanations) -> str:
    """Many explanations for a notebook (the first ``NOTEBOOK_TEXTS``)."""
    items = list(explanations)
    if not items:
        return '<div class="skx">no texts</div>'
    cards = "".join(f'<div class="skx-card">{_rows(e)}</div>' for e in items[:NOTEBOOK_TEXTS])
    more = ""
    if len(items) > NOTEBOOK_TEXTS:
        more = (f'<div class="skx-head">{len(items) - NOTEBOOK_TEXTS} more texts: write them '
                "all with .to_html(path)</div>")
    return (f'<div class="skx"><style>{_CSS}</style>{_legend(items[0].method)}{cards}{more}'
            "</div>")


_SCRIPT = r"""
(function () {
  var select = document.getElementById("skx-select");
  function show() {
    var want = select.value;
    var cards = document.querySelectorAll(".skx-card");
    var shown = 0;
    for (var i = 0; i < cards.length; i++) {
      var rows = cards[i].querySelectorAll(".skx-row");
      var any = false;
      for (var j = 0; j < rows.length; j++) {
        var on = want === "" || rows[j].getAttribute("data-label") === want;
        rows[j].classList.toggle("skx-hidden", !on);
        any = any || on;
      }
      cards[i].classList.toggle("skx-hidden", !any);
      if (any) { shown++; }
    }
    document.getElementById("skx-count").textContent = shown + " of " + cards.length + " texts";
  }
  select.addEventListener("change", show);
  var hash = /^#label=(\d+)$/.exec(window.location.hash);
  if (hash && select.querySelector('option[value="' + hash[1] + '"]')) {
    select.value = hash[1];
  }
  show();
})();
"""


def page_html(explanations, title: str = "Why this label") -> str:
    """One standalone page for many texts, with a label selector (no network).

    The selector starts on label ``i`` of its list when the address ends in
    ``#label=i``.
    """
    from ._explain import _HTML_MARK

    items = list(explanations)
    names: list[str] = []
    for e in items:
        for lab in e.labels:
            if str(lab) not in names:
                names.append(str(lab))
    label_ids = {n: str(i) for i, n in enumerate(names)}
    options = "".join(f'<option value="{label_ids[n]}">{_esc(n)}</option>' for n in names)
    cards = "".join(
        f'<div class="skx-card"><div class="skx-head">text {i + 1}</div>'
        f"{_rows(e, label_ids)}</div>" for i, e in enumerate(items))
    method = items[0].method if items else "integrated_gradients"
    csp = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
           "img-src data:")
    # JSON inside <script> is not HTML-decoded: html.escape would leave &quot; in it, so
    # escape only what could end the element, as JSON escapes JSON.parse reads back.
    summary = (json.dumps({"texts": len(items), "labels": names}, ensure_ascii=True)
               .replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"{_HTML_MARK}\n"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_esc(title)}</title><style>{_CSS}\nbody{{margin:1em 2em}}</style></head>\n"
        f'<body><div class="skx"><h1 style="font-size:20px">{_esc(title)}</h1>\n'
        '<label for="skx-select">Label </label><select id="skx-select">'
        f'<option value="">every label explained</option>{options}</select> '
        f'<span id="skx-count" class="skx-head"></span>{_legend(method)}\n'
        f"{cards}</div>\n"
        f'<script type="application/json" id="skx-summary">{summary}</script>\n'
        f"<script>{_SCRIPT}</script>\n</body></html>\n")
