"""The report page: one HTML file holding its style, its script and its data (nothing fetched).

The data goes in a `<script type="application/json">` block with `<`, `>`, `&` and the JavaScript
line separators written as `\\u` escapes, so no value (an indicator may be `</script><script>...`)
can end the block; the page script puts every value on the page as text. A Content-Security-Policy
forbids every load from anywhere (`default-src 'none'`): the page works offline, and a value that
slipped through could not call out either. Charts are SVG drawn by the page's own script (no
library: the file is the data plus about 20 KB).
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from importlib import resources
from typing import Any

_MARK = re.compile(r"__(TITLE|CSS|JS|DATA)__")
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_UNSAFE = re.compile("[<>&\u2028\u2029]")


@cache
def _asset(name: str) -> str:
    return resources.files("enrich.report").joinpath("assets", name).read_text(encoding="utf-8")


def embed_json(data: Any) -> str:
    """`data` as JSON that is safe inside a `<script>` element (and valid JSON)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _UNSAFE.sub(lambda m: _ESCAPES[m.group(0)], text)


def render(data: dict[str, Any]) -> str:
    """The whole page for `data` (`Collector.data()`)."""
    parts = {
        "TITLE": html.escape(str(data.get("title", "enrich report"))),
        "CSS": _asset("report.css"),
        "JS": _asset("report.js"),
        "DATA": embed_json(data),
    }
    # one pass: what goes in is never searched for marks again
    return _MARK.sub(lambda m: parts[m.group(1)], _asset("report.html"))
