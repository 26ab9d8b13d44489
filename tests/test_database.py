"""Note databases: SOL name parsing, NSynth / CSV / SOL layouts, errors, summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from move.data.database import (
    NoteRecord,
    format_summary,
    scan_database,
    summarize,
)
from move.data.instruments import NoteLabel
from move.data.naming import fold_dynamics, is_ordinario, parse_sol_name, split_sol_name
from move.errors import AudioError, ConfigError, LabelError, MoveError

# --------------------------------------------------------------------------- helpers


def touch(root: Path, *names: str) -> list[Path]:
    """Create empty files (audio is never read by scanning)."""
    out = []
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
        out.append(p)
    return out


def write_sine(path: Path, freq: float = 440.0, sr: int = 22050, dur: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * dur)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)
    return path


class Warnings(list):
    def __call__(self, message: str) -> None:
        self.append(message)


# --------------------------------------------------------------------------- naming

PARSES = [
    ("ASax-ord-D#5-mf.wav", "Alto-Sax", 75, "mf", "ord"),
    ("Corf-ordinario-C4-f.wav", "French-Horn", 60, "f", "ordinario"),
    ("trbt-ordinario-E3-pp.wav", "Tenor-Trombone", 52, "pp", "ordinario"),
    ("Vc-ord-B5-pp.wav", "Violoncello", 83, "pp", "ord"),
    ("Vn-ord-A#3-ff-4c-N.wav", "Violin", 58, "ff", "ord"),
    ("ASax-ord-A#3-ff-N-N.wav", "Alto-Sax", 58, "ff", "ord"),
    ("TbTb-ord-A#1-ff-N-N.wav", "Tenor-Trombone", 34, "ff", "ord"),
    ("Hn-ord-A2-ff-N-N.wav", "French-Horn", 45, "ff", "ord"),
    ("Vn-ord-G4-mf-4c-N-R100u.wav", "Violin", 67, "mf", "ord"),
    ("ClBb-ord-C4-pp-N-N-alt1.wav", "Clarinet-Bb", 60, "pp", "ord"),
    ("Fl-ord-C4-ff-N-T10d.wav", "Flute", 60, "ff", "ord"),
    ("Tbn-ord-F#4-pp-N-T10u.wav", "Tenor-Trombone", 66, "pp", "ord"),  # OrchideaSOL trombone
    ("BTb-ord-A#1-ff.wav", None, 34, "ff", "ord"),  # first TinySOL release, bass tuba
    ("Ob+S-ord-C4-mf-N-N.wav", "Oboe", 60, "mf", "ord+S"),  # OrchideaSOL mute
    ("Fl-flatt-C4-ppp-N-N.flac", "Flute", 60, "pp", "flatt"),  # ppp folded to pp
    ("TpC-ord-Eb4-fff.aiff", "Trumpet-C", 63, "ff", "ord"),  # flat, fff folded to ff
    ("Bn-ord-C3.wav", "Bassoon", 48, None, "ord"),  # no dynamics
    ("Pno-C4-mf.wav", "Piano", 60, "mf", "ord"),  # no technique field: ordinario
    ("asax-ORD-d#5-MF.WAV", "Alto-Sax", 75, "mf", "ORD"),  # case-insensitive
    ("Alto_Sax-ord-D#5-mf.wav", "Alto-Sax", 75, "mf", "ord"),
    ("Alto-Sax-ord-D#5-mf.wav", "Alto-Sax", 75, "mf", "ord"),  # separator in instrument
    ("English Horn-ord-E4-p.wav", "English-Horn", 64, "p", "ord"),
    ("cello-pizz-lv-G2-f-1c-N.wav", "Violoncello", 43, "f", "pizz-lv"),
    ("EH-ord-F4-mp.wav", "English-Horn", 65, "mf", "ord"),  # mp folded to mf
    ("Vn-ord-A4-mf", "Violin", 69, "mf", "ord"),  # no extension
]


@pytest.mark.parametrize(("name", "instrument", "pitch", "dynamics", "technique"), PARSES)
def test_parse_sol_name(name, instrument, pitch, dynamics, technique):
    parsed = parse_sol_name(name)
    parts = split_sol_name(name)
    assert parts is not None
    assert (parts.instrument, parts.pitch, parts.dynamics, parts.technique) == (
        instrument, pitch, dynamics, technique
    )
    if instrument is None:
        assert parsed is None
    else:
        assert parsed == (NoteLabel(instrument, pitch, dynamics), technique)


def test_parse_sol_name_accepts_paths():
    assert parse_sol_name(Path("Brass/Horn/ordinario/Hn-ord-A2-ff-N-N.wav")) == (
        NoteLabel("French-Horn", 45, "ff"), "ord"
    )


@pytest.mark.parametrize(
    "name",
    [
        "README.txt",
        "foo.wav",
        "",
        "-",
        "Vn-ord-A4-mf.txt",  # not an audio file
        "notes-final.wav",  # no pitch field
        "C4-mf.wav",  # no instrument before the pitch
        "Fl-ord-N-mf-N-N.wav",  # unpitched
        "Fl-multi-A#4_C5-mf-N-N.wav",  # multiphonic
        "Fl-ord-C4+-mf-N-N.wav",  # quarter tone
        "Vn-ord-H4-mf.wav",  # not a note name
        "Vn-ord-C10-mf.wav",  # octave out of range
        "._ASax-ord-D#5-mf.wav",  # macOS resource fork
        "12-ord-C4-mf.wav",  # instrument must start with a letter
    ],
)
def test_parse_sol_name_rejects(name):
    assert parse_sol_name(name) is None
    assert split_sol_name(name) is None


def test_unknown_instruments_are_split_but_not_parsed():
    for name, abbr in [("Cb-ord-C#3-pp-1c-N.wav", "Cb"), ("Acc-ord-C6-mf-alt2-N.wav", "Acc"),
                       ("Va-ord-C4-mf-3c-N.wav", "Va")]:
        parts = split_sol_name(name)
        assert parts is not None and parts.abbr == abbr and parts.instrument is None
        assert parse_sol_name(name) is None


def test_parse_sol_name_never_raises():
    for junk in [None, 3, "----", "A-B-C", "X-" * 200, "Vn-ord-" + "C4-" * 50]:
        parse_sol_name(junk)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("technique", "expected"),
    [("ord", True), ("ordinario", True), ("ORD", True), ("Ordinary", True), ("normal", True),
     ("ord+S", False), ("nonvib", False), ("pizz", False), ("flatt", False), ("ord-hi", False)],
)
def test_is_ordinario(technique, expected):
    assert is_ordinario(technique) is expected


def test_fold_dynamics():
    assert [fold_dynamics(d) for d in ["ppp", "pp", "P", "mp", "mf", "f", "FF", "fff", "sfz"]] == [
        "pp", "pp", "p", "mf", "mf", "f", "ff", "ff", None
    ]


# --------------------------------------------------------------------------- SOL layout


def test_scan_sol_layout_sorted_with_ids(tmp_path):
    touch(tmp_path, "Winds/Vn-ord-A4-ff.wav", "ASax-ord-D#5-mf.wav", "ASax-ord-C4-pp.wav",
          "Brass/Hn-ord-A2-ff-N-N.flac", "README.txt", "labels.json")
    records = scan_database(tmp_path, warn=Warnings())
    assert [r.note_id for r in records] == [
        "ASax-ord-C4-pp", "ASax-ord-D#5-mf", "Brass/Hn-ord-A2-ff-N-N", "Winds/Vn-ord-A4-ff"
    ]
    assert records[2].label == NoteLabel("French-Horn", 45, "ff")
    assert records[2].path == tmp_path.absolute() / "Brass" / "Hn-ord-A2-ff-N-N.flac"
    assert records[2].relpath == "Brass/Hn-ord-A2-ff-N-N.flac"
    assert all(r.path.is_file() for r in records)
    # deterministic
    assert scan_database(tmp_path, warn=Warnings()) == records


def test_scan_skips_with_one_summary_warning(tmp_path):
    touch(tmp_path, "ASax-ord-D#5-mf.wav", "foo.wav", "bar.wav", "take 3.flac",
          "Cb-ord-C#3-pp-1c-N.wav", "Cb-ord-D3-pp-1c-N.wav", "Acc-ord-C6-mf-alt2-N.wav",
          ".hidden/Vn-ord-A4-mf.wav", "._ASax-ord-C4-mf.wav")
    warns = Warnings()
    records = scan_database(tmp_path, warn=warns)
    assert [r.label.instrument for r in records] == ["Alto-Sax"]
    assert len(warns) == 1
    msg = warns[0]
    assert "skipped 6 of 7" in msg and str(tmp_path) in msg
    assert "3 whose names could not be parsed" in msg and "'bar.wav'" in msg
    assert "3 with instruments other than the 12: Cb (2), Acc (1)" in msg and "Cb (2)" in msg and "Acc (1)" in msg


def test_scan_default_warning_uses_warnings_module(tmp_path):
    touch(tmp_path, "ASax-ord-D#5-mf.wav", "foo.wav")
    with pytest.warns(UserWarning, match="skipped 1 of 2"):
        scan_database(tmp_path)


def test_scan_no_warning_when_everything_parses(tmp_path):
    touch(tmp_path, "ASax-ord-D#5-mf.wav")
    warns = Warnings()
    scan_database(tmp_path, warn=warns)
    assert warns == []


def test_techniques_filter(tmp_path):
    touch(tmp_path, "Fl-ord-C4-ff-N-N.wav", "Fl-flatt-C4-ff-N-N.wav", "Fl+S-ord-D4-ff.wav",
          "Fl-ordinario-E4-ff.wav")
    ords = scan_database(tmp_path, warn=Warnings())
    assert [r.technique for r in ords] == ["ord", "ordinario"]
    every = scan_database(tmp_path, techniques="all", warn=Warnings())
    assert len(every) == 4
    with pytest.raises(ConfigError, match="techniques"):
        scan_database(tmp_path, techniques="pizz")


def test_no_ordinario_notes(tmp_path):
    touch(tmp_path, "Fl-flatt-C4-ff-N-N.wav")
    with pytest.raises(LabelError, match=r"no ordinario notes.*techniques='all'"):
        scan_database(tmp_path, warn=Warnings())


def test_instruments_filter(tmp_path):
    touch(tmp_path, "ASax-ord-D#5-mf.wav", "Vn-ord-A4-ff.wav", "Fl-ord-C5-p.wav")
    got = scan_database(tmp_path, instruments=["alto_sax", "VIOLIN"], warn=Warnings())
    assert sorted(r.label.instrument for r in got) == ["Alto-Sax", "Violin"]
    got = scan_database(tmp_path, instruments=["fl"], warn=Warnings())
    assert [r.label.instrument for r in got] == ["Flute"]
    with pytest.raises(LabelError, match=r"unknown instrument 'kazoo'; known instruments: Alto-Sax"):
        scan_database(tmp_path, instruments=["kazoo"], warn=Warnings())
    with pytest.raises(LabelError, match=rf"{tmp_path}: no Piano notes; instruments found"):
        scan_database(tmp_path, instruments=["Piano"], warn=Warnings())


# --------------------------------------------------------------------------- errors


def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=f"{missing}: note database folder does not exist"):
        scan_database(missing)
    f = touch(tmp_path, "x.wav")[0]
    with pytest.raises(ConfigError, match="not a folder"):
        scan_database(f)


def test_empty_folder(tmp_path):
    touch(tmp_path, "README.txt", "notes.json")
    with pytest.raises(AudioError, match=f"{tmp_path}: no audio files found"):
        scan_database(tmp_path)


def test_no_parseable_names(tmp_path):
    touch(tmp_path, "xyz.wav", "take2.wav")
    with pytest.raises(LabelError) as err:
        scan_database(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"no note file names could be parsed in {tmp_path} (e.g. 'take2.wav')" in msg
    assert "'ASax-ord-D#5-mf.wav', NSynth examples.json, or a CSV of labels" in msg


def test_only_unknown_instruments(tmp_path):
    touch(tmp_path, "Cb-ord-C#3-pp-1c-N.wav", "Acc-ord-C6-mf-alt2-N.wav")
    with pytest.raises(LabelError, match=r"no notes of the 12 known instruments \(found only"):
        scan_database(tmp_path)


def test_errors_are_move_errors(tmp_path):
    for cls in (AudioError, ConfigError, LabelError):
        assert issubclass(cls, MoveError)


# --------------------------------------------------------------------------- NSynth


def make_nsynth(root: Path, examples: dict, audio: bool = True) -> Path:
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "examples.json").write_text(json.dumps(examples))
    if audio:
        for key in examples:
            write_sine(root / "audio" / f"{key}.wav", dur=0.05)
    return root


def nsynth_example(key: str, pitch: int, velocity: int, family: str, source: str) -> dict:
    return {
        "note_str": key, "pitch": pitch, "velocity": velocity, "sample_rate": 16000,
        "instrument_family_str": family, "instrument_source_str": source,
        "instrument_str": key.rsplit("-", 2)[0], "qualities_str": [],
    }


def test_nsynth_layout(tmp_path):
    keys = {
        "brass_acoustic_006-060-100": (60, 100, "brass", "acoustic"),
        "flute_synthetic_000-072-025": (72, 25, "flute", "synthetic"),
        "brass_acoustic_006-062-064": (62, 64, "brass", "acoustic"),
        "string_acoustic_012-040-127": (40, 127, "string", "acoustic"),
    }
    make_nsynth(tmp_path, {k: nsynth_example(k, *v) for k, v in keys.items()})
    (tmp_path / "stray.csv").write_text("a,b\n1,2\n")  # examples.json wins over a lone CSV
    records = scan_database(tmp_path)
    assert [r.note_id for r in records] == sorted(f"audio/{k}" for k in keys)
    by_id = {r.note_id: r.label for r in records}
    assert by_id["audio/brass_acoustic_006-060-100"] == NoteLabel("brass_acoustic", 60, "f")
    assert by_id["audio/brass_acoustic_006-062-064"].dynamics == "mf"  # 64: nearest is 75
    assert by_id["audio/flute_synthetic_000-072-025"] == NoteLabel("flute_synthetic", 72, "pp")
    assert by_id["audio/string_acoustic_012-040-127"].dynamics == "ff"
    assert all(r.path.is_file() and r.technique == "ord" for r in records)
    only = scan_database(tmp_path, instruments=["Brass-Acoustic"])
    assert {r.label.instrument for r in only} == {"brass_acoustic"}
    with pytest.raises(LabelError, match="unknown instrument 'Kazoo'; known instruments: brass_acoustic"):
        scan_database(tmp_path, instruments=["Kazoo"])


def test_nsynth_malformed_json(tmp_path):
    make_nsynth(tmp_path, {}, audio=False)
    (tmp_path / "examples.json").write_text('{"a": {"pitch": 60,')
    with pytest.raises(LabelError, match=r"examples.json: malformed NSynth JSON \(line 1"):
        scan_database(tmp_path)
    (tmp_path / "examples.json").write_text("[1, 2]")
    with pytest.raises(LabelError, match="examples.json: malformed NSynth JSON"):
        scan_database(tmp_path)
    key = "brass_acoustic_006-060-100"
    ex = nsynth_example(key, 60, 100, "brass", "acoustic")
    del ex["velocity"]
    make_nsynth(tmp_path, {key: ex})
    with pytest.raises(LabelError, match=f"example '{key}': malformed NSynth JSON: no velocity"):
        scan_database(tmp_path)


def test_nsynth_bad_pitch_and_missing_audio(tmp_path):
    key = "brass_acoustic_006-060-100"
    make_nsynth(tmp_path, {key: nsynth_example(key, 130, 100, "brass", "acoustic")})
    with pytest.raises(LabelError, match=f"'{key}': pitch 130 is outside the MIDI range"):
        scan_database(tmp_path)
    make_nsynth(tmp_path, {key: nsynth_example(key, 60, 100, "brass", "acoustic"),
                           "other-061-100": nsynth_example("other-061-100", 61, 100, "a", "b")},
                audio=False)
    with pytest.raises(AudioError, match="example 'other-061-100': audio file .*other-061-100.wav not found"):
        scan_database(tmp_path)


# --------------------------------------------------------------------------- CSV


def test_csv_layout_names_and_midi(tmp_path):
    write_sine(tmp_path / "a.wav")
    write_sine(tmp_path / "sub" / "b.flac")
    touch(tmp_path, "c.wav", "d.wav")
    (tmp_path / "labels.csv").write_text(
        "File,Instrument,Pitch,Dynamics\n"
        "a.wav,alto sax,C#4,mf\n"
        "sub/b.flac,Kalimba,72,\n"
        "c.wav,Tenor Trombone,40,100\n"
        "\n"
        "d.wav,Flute,60.0,fff\n"
    )
    records = scan_database(tmp_path)
    assert [r.note_id for r in records] == ["a", "c", "d", "sub/b"]
    labels = [r.label for r in records]
    assert labels == [
        NoteLabel("Alto-Sax", 61, "mf"),
        NoteLabel("Tenor-Trombone", 40, "f"),  # velocity 100 -> f
        NoteLabel("Flute", 60, "ff"),
        NoteLabel("Kalimba", 72, None),  # unknown instruments are kept as written
    ]
    assert records[3].path == tmp_path.absolute() / "sub" / "b.flac"


def test_csv_explicit_semicolons_and_aliases(tmp_path):
    data = tmp_path / "notes"
    touch(data, "x1.wav", "x2.wav")
    labels = tmp_path / "meta" / "my labels.csv"
    labels.parent.mkdir()
    labels.write_text("PATH;instrument;note;velocity;technique\n"
                      "x1.wav;Vn;A4;30;ord\nx2.wav;Vn;B4;;pizz\n")
    records = scan_database(data, csv=labels)
    assert [(r.label, r.technique) for r in records] == [
        (NoteLabel("Violin", 69, "pp"), "ord")
    ]
    assert len(scan_database(data, csv=labels, techniques="all")) == 2


def test_csv_tinysol_metadata_header(tmp_path):
    touch(tmp_path, "Strings/Violin/ordinario/Vn-ord-G3-pp-4c-N.wav",
          "Brass/Bass Tuba/ordinario/BTb-ord-A#1-ff-N-N.wav")
    (tmp_path / "TinySOL_metadata.csv").write_text(
        "Path,Fold,Family,Instrument (abbr.),Instrument (in full),Technique (abbr.),"
        "Technique (in full),Pitch,Pitch ID,Dynamics,Dynamics ID,Instance ID,String ID,"
        "Needed digital retuning\n"
        "Strings/Violin/ordinario/Vn-ord-G3-pp-4c-N.wav,0,Strings,Vn,Violin,ord,ordinario,"
        "G3,55,pp,0,0,4.0,FALSE\n"
        "Brass/Bass Tuba/ordinario/BTb-ord-A#1-ff-N-N.wav,1,Brass,BTb,Bass Tuba,ord,ordinario,"
        "A#1,34,ff,4,0,,FALSE\n"
    )
    records = scan_database(tmp_path)
    assert [r.label for r in records] == [
        NoteLabel("BTb", 34, "ff"), NoteLabel("Violin", 55, "pp")
    ]


def test_csv_missing_column(tmp_path):
    touch(tmp_path, "a.wav")
    (tmp_path / "labels.csv").write_text("file,pitch\na.wav,60\n")
    with pytest.raises(LabelError) as err:
        scan_database(tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'labels.csv'}: no 'instrument' column (columns: file, pitch)")
    assert "\n" not in msg


def test_csv_missing_file_names_row(tmp_path):
    touch(tmp_path, "a.wav")
    (tmp_path / "labels.csv").write_text("file,instrument,pitch\na.wav,Flute,60\ngone.wav,Flute,62\n")
    with pytest.raises(LabelError, match=r"labels.csv: line 3: file 'gone.wav' not found"):
        scan_database(tmp_path)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("a.wav,Flute,128", "line 2: pitch 128 is outside the MIDI range 0-127"),
        ("a.wav,Flute,-1", "line 2: pitch -1 is outside the MIDI range"),
        ("a.wav,Flute,C#12", "line 2: pitch 'C#12' is neither a note name"),
        ("a.wav,Flute,60.5", "line 2: pitch '60.5' is not a whole MIDI number"),
        ("a.wav,Flute,", "line 2: empty pitch"),
        ("a.wav,,60", "line 2: empty instrument"),
        ("a.wav,Flute,60,loud", "line 2: unknown dynamics 'loud'"),
        ("a.txt,Flute,60,mf", "line 2: 'a.txt' is not an audio file"),
    ],
)
def test_csv_bad_rows(tmp_path, row, match):
    touch(tmp_path, "a.wav")
    (tmp_path / "labels.csv").write_text(f"file,instrument,pitch,dynamics\n{row}\n")
    with pytest.raises(LabelError, match=match):
        scan_database(tmp_path)


def test_csv_duplicate_and_empty(tmp_path):
    touch(tmp_path, "a.wav")
    (tmp_path / "labels.csv").write_text("file,instrument,pitch\na.wav,Flute,60\na.wav,Flute,61\n")
    with pytest.raises(LabelError, match="line 3: file 'a.wav' is listed twice"):
        scan_database(tmp_path)
    (tmp_path / "labels.csv").write_text("file,instrument,pitch\n")
    with pytest.raises(LabelError, match="labels.csv: no rows"):
        scan_database(tmp_path)
    with pytest.raises(ConfigError, match="elsewhere.csv: CSV of labels does not exist"):
        scan_database(tmp_path, csv=tmp_path / "elsewhere.csv")


def test_several_csvs_fall_back_to_names(tmp_path):
    touch(tmp_path, "ASax-ord-D#5-mf.wav")
    (tmp_path / "a.csv").write_text("x\n")
    (tmp_path / "b.csv").write_text("y\n")
    assert len(scan_database(tmp_path)) == 1


# --------------------------------------------------------------------------- records & summary


def test_note_record_id_without_relpath():
    rec = NoteRecord(Path("/x/y/Vn-ord-A4-mf.wav"), NoteLabel("Violin", 69, "mf"))
    assert rec.note_id == "Vn-ord-A4-mf" and rec.technique == "ord"


def test_summarize_and_format(tmp_path):
    touch(tmp_path, "ASax-ord-C4-pp.wav", "ASax-ord-D#5-mf.wav", "ASax-ord-C5-mf.wav",
          "Vn-ord-G3-ff.wav", "Vn-ord-B3.wav")
    s = summarize(scan_database(tmp_path))
    assert s["notes"] == 5
    assert s["instruments"] == {"Alto-Sax": 3, "Violin": 2}
    assert s["octaves"] == {3: 2, 4: 1, 5: 2}
    assert s["dynamics"] == {"pp": 1, "mf": 2, "ff": 1, "unknown": 1}
    assert s["pitch_range"] == {"Alto-Sax": [60, 75], "Violin": [55, 59]}
    text = format_summary(s)
    assert text.splitlines()[0] == "5 notes, 2 instruments"
    assert "Alto-Sax" in text and "C4-D#5" in text and "G3-B3" in text
    assert "pp: 1" in text
    # survives a JSON round trip (string keys)
    assert format_summary(json.loads(json.dumps(s))).splitlines()[0] == "5 notes, 2 instruments"
    assert summarize([]) == {"notes": 0, "instruments": {}, "octaves": {}, "dynamics": {},
                             "pitch_range": {}, "techniques": {}}
    assert format_summary(summarize([])) == "0 notes, 0 instruments"


def test_scan_reads_many_files_in_nested_folders(tmp_path):
    names = [f"I{i}/ASax-ord-{n}{o}-{d}-N-N.wav"
             for i in range(3) for n in ("C", "D#", "F") for o in range(2, 7)
             for d in ("pp", "p", "mf", "f", "ff")]
    names += [f"Vn/{j % 10}/Vn-ord-A{j % 8}-mf-{j}c-N.wav" for j in range(1000)]
    touch(tmp_path, *names)
    records = scan_database(tmp_path, warn=Warnings())
    assert len(records) == 225 + 1000
    assert sum(r.label.instrument == "Violin" for r in records) == 1000
