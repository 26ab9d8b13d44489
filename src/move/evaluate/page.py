"""Small static HTML pages with figures and audio players (no external assets)."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from urllib.parse import quote

from move.config import atomic_write_bytes

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; } td, th { padding: 4px 10px; border: 1px solid #ddd; }
th { background: #f4f4f4; } figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; } img { max-width: 100%; }
audio { width: 260px; display: block; } .note { color: #666; font-size: 0.9em; }
"""


@dataclass
class Section:
    """One section of a page: a title, paragraphs, a table, images and audio clips."""

    title: str
    text: Sequence[str] = ()
    table: Sequence[Sequence[str]] = ()  # first row is the header
    images: Sequence[tuple[str, str]] = ()  # (relative path, caption)
    audio: Sequence[tuple[str, str]] = ()  # (relative path, caption)
    extra_html: str = ""  # raw HTML: its links must go through :func:`url`
    _: dict = field(default_factory=dict, repr=False)


def url(path: str | PurePath) -> str:
    """The link to a file at relative ``path``, as an HTML attribute value or Markdown link.

    Every character but letters, digits, ``_.-~`` and ``/`` is percent-encoded, so a ``#``
    or ``?`` in a file name (``ASax-ord-D#5-f.png``) is not read as the start of a fragment
    or a query, and the value needs no further HTML escaping.
    """
    return html.escape(quote(path.as_posix() if isinstance(path, PurePath) else path))


def link(path: str | PurePath, text: str) -> str:
    """An HTML ``<a>`` to the file at relative ``path``; ``text`` is escaped."""
    return f"<a href='{url(path)}'>{html.escape(text)}</a>"


def slug(name: str) -> str:
    """``name`` with every character but letters, digits, ``-`` and ``_`` replaced by ``_``
    (file names of figures and clips)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def table_html(table: Sequence[Sequence[object]]) -> str:
    """An HTML table; the first row is the header, every cell is escaped."""
    esc = html.escape
    head, *rows = table
    lines = ["<table><tr>" + "".join(f"<th>{esc(str(h))}</th>" for h in head) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join([*lines, "</table>"])


def render_page(title: str, sections: Sequence[Section], intro: str = "") -> str:
    """HTML of a page with ``sections`` (paths relative to the page, linked with :func:`url`)."""
    esc = html.escape
    parts = [
        "<!doctype html>", "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if intro:
        parts.append(f"<p class='note'>{esc(intro)}</p>")
    for sec in sections:
        parts.append(f"<section><h2>{esc(sec.title)}</h2>")
        parts.extend(f"<p>{esc(t)}</p>" for t in sec.text)
        if sec.table:
            parts.append(table_html(sec.table))
        for src, caption in sec.audio:
            parts.append(
                f"<figure><audio controls preload='none' src='{url(src)}'></audio>"
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
        for src, caption in sec.images:
            parts.append(
                f"<figure><img src='{url(src)}' alt='{esc(caption)}'>"
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
        if sec.extra_html:
            parts.append(sec.extra_html)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_page(path: str | os.PathLike, title: str, sections: Sequence[Section], intro: str = "") -> Path:
    """Write :func:`render_page` to ``path`` atomically."""
    atomic_write_bytes(path, render_page(title, sections, intro).encode())
    return Path(path)
