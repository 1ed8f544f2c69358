"""Hostile cases for the standalone explanation page (skbert._explain_html.page_html)."""

from __future__ import annotations

import json
import re

from skbert._explain_html import page_html


def _summary(page: str):
    found = re.search(r'<script type="application/json" id="skx-summary">(.*?)</script>', page,
                      re.S)
    assert found
    return found.group(1)


def test_item05_page_summary_is_json_a_reader_can_parse():
    """The embedded summary is JSON as written (on 1adb55c it was HTML-escaped: &quot;)."""
    assert json.loads(_summary(page_html([]))) == {"texts": 0, "labels": []}
