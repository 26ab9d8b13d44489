"""Prepared datasets: slices, note-level split, reuse, atomicity, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TIMBRES, harmonic_note, write_note
from move.data.prepare import (
    PrepareConfig,
    PreparedDataset,
    assign_splits,
    prepare_dataset,
    slice_starts,
)
from move.errors import AudioError, ConfigError


def test_prepared_layout_and_labels(tiny_prepared):
    ds = PreparedDataset(tiny_prepared)
    fe = ds.frontend()
    assert len(ds.notes) == 18
    assert ds.instruments == ["Alto-Sax", "Flute", "Violin"]
    assert isinstance(ds.frames, np.memmap)
    assert ds.frames.dtype == np.float16 and ds.frames.shape[1] == fe.n_bins
    assert ds.frames.shape[0] == sum(n["n_frames"] for n in ds.notes)
    # every slice lies inside its note
    for row, start in ds.slices:
        note = ds.notes[row]
        assert note["start"] <= start and start + ds.slice_frames <= note["start"] + note["n_frames"]
    x = ds.slice_tensor(np.arange(5))
    assert tuple(x.shape) == (5, 16, fe.n_bins)
    lab = ds.labels(np.arange(len(ds.slices)))
    a4 = [i for i, n in enumerate(ds.notes) if n["note_id"].endswith("Fl-ord-A4-ff")]
    assert ds.notes[a4[0]]["pitch"] == 69 and ds.notes[a4[0]]["pitch_class"] == 9
    assert ds.notes[a4[0]]["octave"] == 4
    assert set(lab["instrument"]) == {"Alto-Sax", "Flute", "Violin"}


def test_split_is_by_note_and_stratified(tiny_prepared):
    ds = PreparedDataset(tiny_prepared)
    per_instr = {}
    for n in ds.notes:
        per_instr.setdefault(n["instrument"], set()).add(n["split"])
    for splits in per_instr.values():
        assert splits == {"train", "valid", "test"}
    train, test = ds.select("train"), ds.select("test")
    assert set(ds.slices[train, 0]).isdisjoint(set(ds.slices[test, 0]))
    assert len(train) + len(ds.select("valid")) + len(test) == len(ds.slices)


def test_normalisation_fitted_on_training_frames(tiny_prepared):
    ds = PreparedDataset(tiny_prepared)
    fe = ds.frontend()
    rows = [i for i, n in enumerate(ds.notes) if n["split"] == "train"]
    frames = np.concatenate([ds.note_frames(r) for r in rows])
    import torch

    z = fe.normalize(torch.from_numpy(frames)).numpy()
    assert np.abs(z.mean(axis=0)).max() < 0.05
    assert np.median(z.std(axis=0)) == pytest.approx(1.0, abs=0.05)


def test_split_deterministic_and_seeded(tiny_notes):
    from move.data.database import scan_database

    records = scan_database(tiny_notes)
    a = assign_splits(records, seed=0)
    assert a == assign_splits(list(reversed(records))[::-1], seed=0)
    assert a != assign_splits(records, seed=1)
    assert a.count("train") == 12


def test_added_notes_keep_the_earlier_sets_splits(tiny_notes, tiny_prepared, tmp_path):
    """--splits-from: the earlier notes keep their splits; the added ones are split among themselves."""
    import shutil

    notes = tmp_path / "more"
    shutil.copytree(tiny_notes, notes)
    for j, (midi, name) in enumerate(((61, "C#4"), (63, "D#4"), (66, "F#4"), (68, "G#4"), (70, "A#4"))):
        write_note(notes, f"Fl-ord-{name}-mf.wav", harmonic_note(midi, TIMBRES["Fl"], seed=70 + j))
    earlier = {n["note_id"]: n["split"] for n in PreparedDataset(tiny_prepared).notes}
    cfg = PrepareConfig(slice_hop=4, split=(0.6, 0.2, 0.2))
    prepare_dataset(notes, tmp_path / "kept", cfg, progress=False, splits_from=tiny_prepared)
    kept = PreparedDataset(tmp_path / "kept")
    splits = {n["note_id"]: n["split"] for n in kept.notes}
    assert len(splits) == len(earlier) + 5
    assert {k: splits[k] for k in earlier} == earlier
    added = sorted(splits[k] for k in splits if k not in earlier)
    assert added == ["test", "train", "train", "train", "valid"]  # 5 notes at 0.6 / 0.2 / 0.2
    assert kept.meta["splits_from"] == str(tiny_prepared.resolve())
    # without it the old notes are split again, with the new ones
    prepare_dataset(notes, tmp_path / "fresh", cfg, progress=False)
    fresh = {n["note_id"]: n["split"] for n in PreparedDataset(tmp_path / "fresh").notes}
    assert {k: fresh[k] for k in earlier} != earlier
    with pytest.raises(ConfigError, match="nowhere: not a prepared dataset"):
        prepare_dataset(notes, tmp_path / "bad", cfg, progress=False, splits_from=tmp_path / "nowhere")


def test_slice_starts_drop_silent_tail():
    lm = np.full((64, 8), np.log(1e-5), dtype=np.float32)
    lm[:30] = 0.0
    assert slice_starts(lm, 16, 16, 60.0) == [0, 16]
    assert slice_starts(lm, 16, 16, 0.0) == [0, 16, 32, 48]
    assert slice_starts(lm[:10], 16, 16, 60.0) == []


def test_reuse_and_rebuild(tiny_notes, tmp_path):
    out = tmp_path / "p"
    first = prepare_dataset(tiny_notes, out, progress=False)
    assert not first.reused and first.notes == 18
    again = prepare_dataset(tiny_notes, out, progress=False)
    assert again.reused
    changed = prepare_dataset(tiny_notes, out, PrepareConfig(slice_hop=8), progress=False)
    assert not changed.reused and changed.slices > first.slices
    assert not (tmp_path / ".p.partial").exists()


def test_prepare_in_parallel_processes_writes_the_same_set(tiny_notes, tmp_path, capsys):
    from move.cli import main

    prepare_dataset(tiny_notes, tmp_path / "one", progress=False)
    assert main(["data", "prepare", str(tiny_notes), "--out", str(tmp_path / "two"), "--jobs", "2"]) == 0
    for name in ("frames.npy", "slices.npy", "notes.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    capsys.readouterr()
    assert main(["data", "prepare", str(tiny_notes), "--out", str(tmp_path / "three"), "--jobs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "move: error: --jobs 0: must be 1 or more"


def test_interrupted_prepare_resumes_from_partial(tiny_notes, tmp_path, monkeypatch):
    import move.data.prepare as prep

    out = tmp_path / "p"
    calls = {"n": 0}
    real = prep._analyse

    def flaky(record, fe, min_samples):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(record, fe, min_samples)

    monkeypatch.setattr(prep, "_analyse", flaky)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(tiny_notes, out, progress=False)
    assert not out.exists()  # no half-written set
    assert len(list((tmp_path / ".p.partial" / "notes").glob("*.npy"))) == 4
    calls["n"] = 100
    report = prepare_dataset(tiny_notes, out, progress=False)
    assert report.notes == 18
    assert calls["n"] == 100 + 14  # only the 14 missing notes were analysed again


def test_silent_note_skipped_with_warning(tmp_path):
    for midi, note in ((60, "C4"), (62, "D4"), (64, "E4")):
        for abbr in ("Fl", "Vn"):
            write_note(tmp_path, f"{abbr}-ord-{note}-mf.wav", harmonic_note(midi, TIMBRES[abbr]))
    write_note(tmp_path, "Fl-ord-G4-mf.wav", np.zeros(22050, dtype=np.float32))
    warnings = []
    report = prepare_dataset(tmp_path, tmp_path / "out", progress=False, warn=warnings.append)
    assert report.notes == 6 and report.skipped["silent"] == 1
    assert any("1 silent" in w and "Fl-ord-G4-mf.wav" in w for w in warnings)


def test_corrupt_file_names_the_file(tmp_path):
    write_note(tmp_path, "Fl-ord-C4-mf.wav", harmonic_note(60, TIMBRES["Fl"]))
    (tmp_path / "Vn-ord-C4-mf.wav").write_bytes(b"RIFF\x00\x00not really audio")
    with pytest.raises(AudioError, match="Vn-ord-C4-mf.wav"):
        prepare_dataset(tmp_path, tmp_path / "out", progress=False)


def test_refuses_to_overwrite_foreign_folder(tiny_notes, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("do not delete")
    with pytest.raises(ConfigError, match="not a prepared dataset"):
        prepare_dataset(tiny_notes, out, progress=False)
    assert (out / "thesis.tex").read_text() == "do not delete"


def test_open_non_prepared_folder(tmp_path):
    with pytest.raises(ConfigError, match="move data prepare"):
        PreparedDataset(tmp_path)
