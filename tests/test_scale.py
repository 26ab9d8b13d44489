"""Datasets that outgrow memory: the column note table and memory-mapped training slices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from move.data.notetable import NoteTable
from move.data.prepare import PreparedDataset, select_notes
from move.train import MappedSlices, SliceData


def test_note_table_reads_what_the_csv_holds(tiny_prepared, tmp_path):
    import csv

    with open(tiny_prepared / "notes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    table = NoteTable.read_csv(tiny_prepared / "notes.csv")
    assert len(table) == len(rows)
    for got, want in zip(table, rows):
        assert {k: str(v) for k, v in got.items()} == want
    assert table.column("pitch").dtype == np.int16 and table.codes("instrument").dtype == np.int16
    table.write_csv(tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text() == (tiny_prepared / "notes.csv").read_text()
    with pytest.raises(IndexError, match="out of range"):
        table[len(rows)]


def test_vectorised_labels_and_selection_match_a_loop_over_notes(tiny_prepared):
    ds = PreparedDataset(tiny_prepared)
    notes = list(ds.notes)
    for split in ("train", "valid", "test"):
        for insts in (None, ["Flute"], ["Violin", "Alto-Sax"]):
            want = [i for i, (r, _) in enumerate(ds.slices)
                    if notes[r]["split"] == split and (insts is None or notes[r]["instrument"] in insts)]
            assert ds.select(split, insts).tolist() == want
    index = np.arange(0, len(ds.slices), 3)
    labels = ds.labels(index)
    for k in ("instrument", "pitch", "pitch_class", "octave", "dynamics"):
        assert labels[k].tolist() == [notes[r][k] for r in ds.slices[index, 0]], k
    summary = ds.summary()
    assert sum(e["slices"] for e in summary["instruments"].values()) == len(ds.slices)
    assert sum(e["notes"] for e in summary["splits"].values()) == len(notes)
    rows = select_notes(ds, ["Flute"], "test", None)["Flute"]
    assert [notes[r]["pitch"] for r in rows] == sorted(notes[r]["pitch"] for r in rows)


def test_mapped_slices_give_the_same_batches_as_slices_in_memory(tiny_prepared):
    ds = PreparedDataset(tiny_prepared)
    loaded = SliceData(ds, ds.instruments)
    mapped = SliceData(ds, ds.instruments, memory_gb=0.0)
    assert not loaded.mapped and mapped.mapped and isinstance(mapped.train["x"], MappedSlices)
    assert len(mapped.train["x"]) == len(loaded.train["x"]) and mapped.pitch_range == loaded.pitch_range
    idx = torch.randperm(len(loaded.train["x"]), generator=torch.Generator().manual_seed(0))[:40]
    a, b = loaded.batch(loaded.train, idx), mapped.batch(mapped.train, idx)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert a["instrument"].dtype == torch.long
    inst, pitch = a["instrument"], a["pitch"]
    ga, gb = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(loaded.matched(inst, pitch, ga), mapped.matched(inst, pitch, gb))


@pytest.mark.slow
def test_training_runs_on_memory_mapped_slices(tiny_prepared, tmp_path):
    from move.model.checkpoint import load_model_file
    from move.train import train
    from move.train_config import RunConfig, TrainConfig

    path = train(tiny_prepared, tmp_path / "run", TrainConfig(max_epochs=1, batch_size=32),
                 RunConfig(accelerator="cpu", progress=False, data_memory_gb=0.0))
    assert load_model_file(path).model is not None


def test_instruments_the_dataset_lacks_are_left_out_and_said(tiny_prepared):
    from types import SimpleNamespace

    from move.data.instruments import INSTRUMENT_NAMES
    from move.errors import ConfigError, MoveWarning
    from move.train import _resolve_instruments

    ds = PreparedDataset(tiny_prepared)
    with pytest.warns(MoveWarning, match=r"no notes of Piano, Oboe; training on the 2 others: Flute, Violin"):
        assert _resolve_instruments(ds, ["flute", "piano", "Violin", "oboe"]) == ["Flute", "Violin"]
    with pytest.raises(ConfigError, match="at least two instruments"), pytest.warns(MoveWarning):
        _resolve_instruments(ds, ["flute", "piano"])
    ten = SimpleNamespace(root="notes10", instruments=[i for i in INSTRUMENT_NAMES if i not in ("Piano", "Oboe")])
    with pytest.warns(MoveWarning, match="training on the 10 instruments it has; it has no notes of Piano, Oboe"):
        assert len(_resolve_instruments(ten, [])) == 10
