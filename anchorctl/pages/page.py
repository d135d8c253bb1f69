"""The shell every page shares: one HTML file with its style, script and data inline.

Data for a page's script is embedded as JSON in ``<script type="application/json">``, with
``<``, ``>`` and ``&`` written as ``\\u003c`` etc. so no value can close the element; text
put into the markup is HTML-escaped. The pages load nothing from anywhere: no CDN, no fonts,
no images by URL (a test checks every ``src``/``href`` is a ``data:`` URI or a fragment).
"""

from __future__ import annotations

import base64
import json
from html import escape
from importlib import resources
from typing import Any

from anchorctl import __version__


def asset(name: str) -> str:
    """A stylesheet or script shipped beside this module (``page.css``, ``viewer.js``...)."""
    return resources.files("anchorctl.pages").joinpath(name).read_text(encoding="utf-8")


def json_script(element_id: str, data: Any) -> str:
    """``data`` as JSON inside a ``<script type="application/json">`` that nothing can close."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{escape(element_id)}">{text}</script>'


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def html_page(title: str, body: str, scripts: tuple[str, ...] = (), data: str = "") -> str:
    """A complete HTML document: ``body`` markup, the shared stylesheet, then ``scripts``
    (asset names) inline after ``data`` (from :func:`json_script`)."""
    code = "\n".join(asset(name) for name in scripts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="anchorctl {escape(__version__)}">'
        # Nothing may load from elsewhere: the page is one file that works offline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{asset('page.css')}</style></head>"
        f"<body>{body}{data}" + (f"<script>{code}</script>" if code else "") + "</body></html>\n"
    )
