"""The static pages: every link to a file is URL-quoted."""

from __future__ import annotations

from pathlib import PurePosixPath

from browser import page_refs, ref_file
from move.evaluate.page import Section, link, render_page, url, write_page


def test_links_are_quoted(tmp_path):
    name = "a#b c.png"
    (tmp_path / "sub").mkdir()
    for rel in (name, "sub/d?e&f.wav", "g'h.html"):
        (tmp_path / rel).write_bytes(b"x")
    other = link(PurePosixPath("g'h.html"), "a <page>")
    sec = Section("files", images=[(name, "an image")], audio=[("sub/d?e&f.wav", "a clip")],
                  extra_html=f"<p>{other}</p>")
    page = render_page("t", [sec])
    assert "src='a%23b%20c.png'" in page and name not in page
    assert "src='sub/d%3Fe%26f.wav'" in page  # '/' is kept
    assert "href='g%27h.html'>a &lt;page&gt;</a>" in page
    assert url("a#b c.png") == "a%23b%20c.png"
    path = write_page(tmp_path / "index.html", "t", [sec])
    refs = page_refs(path)
    assert refs == ["sub/d%3Fe%26f.wav", "a%23b%20c.png", "g%27h.html"]
    assert all(ref_file(tmp_path, r).is_file() for r in refs)
