"""Instrument-balanced training order (``move train --balance instruments``)."""

from __future__ import annotations

import shutil
import warnings
from collections import Counter

import lightning as L
import numpy as np
import pytest
from lightning.fabric.utilities.distributed import DistributedSamplerWrapper
from lightning.fabric.utilities.rank_zero import rank_zero_only

from move.data.prepare import PreparedDataset
from move.data.sampling import BalancedSampler
from move.errors import ConfigError
from move.train import RunConfig, SliceData, TrainConfig, _warn_if_lopsided, train

LABELS = np.array([0] * 50 + [1] * 7 + [2] * 23 + [-1] * 4)  # -1: a slice of no chosen instrument


def test_every_label_gets_the_same_share_of_an_epoch():
    s = BalancedSampler(LABELS, seed=3)
    order = s.epoch_order(0)
    assert len(s) == len(order) == 80  # the labelled slices
    counts = np.bincount(LABELS[order], minlength=3)
    assert counts.sum() == 80 and counts.max() - counts.min() <= 1  # 27 draws each, one cut
    # the 7 slices of label 1 are each drawn 3 or 4 times (27 draws); no unlabelled slice is drawn
    per_slice = Counter(order[LABELS[order] == 1].tolist())
    assert set(per_slice) == set(np.flatnonzero(LABELS == 1).tolist())
    assert set(per_slice.values()) <= {3, 4}
    # label 0 has more slices than its share: 27 of its 50, none twice
    zeros = order[LABELS[order] == 0]
    assert len(set(zeros.tolist())) == len(zeros)


def test_the_order_depends_on_seed_and_epoch_only():
    a, b = BalancedSampler(LABELS, seed=1), BalancedSampler(LABELS, seed=1)
    assert list(a) == list(b)  # epoch 0 by default
    b.set_epoch(1)
    assert list(a) != list(b)
    a.set_epoch(1)
    assert list(a) == list(b)
    assert list(BalancedSampler(LABELS, seed=2)) != list(BalancedSampler(LABELS, seed=1))


def test_distributed_ranks_share_out_one_order():
    """Each process builds its own sampler; Lightning's wrapper gives each a part of the same order."""
    parts = []
    for rank in range(2):
        wrapper = DistributedSamplerWrapper(BalancedSampler(LABELS, seed=5), num_replicas=2, rank=rank, shuffle=True)
        wrapper.set_epoch(4)  # forwarded to the balanced sampler
        parts.append(list(wrapper))
    assert len(parts[0]) == len(parts[1]) == 40
    assert sorted(parts[0] + parts[1]) == sorted(BalancedSampler(LABELS, seed=5).epoch_order(4).tolist())


def test_bad_labels_and_choice_are_refused():
    with pytest.raises(ValueError, match="no slice has a label"):
        BalancedSampler(np.array([-1, -1]))
    with pytest.raises(ValueError, match="one-dimensional"):
        BalancedSampler(np.zeros((2, 2), dtype=int))
    with pytest.raises(ConfigError, match="--balance notes: must be one of none, instruments"):
        TrainConfig(balance="notes")


class _RecordBatches(L.Callback):
    def __init__(self) -> None:
        self.instruments: list[int] = []

    def on_train_batch_start(self, trainer, task, batch, batch_idx: int) -> None:
        self.instruments += task.data.train["instrument"][batch.cpu()].tolist()


@pytest.fixture(scope="module")
def lopsided_prepared(tiny_notes, tmp_path_factory):
    """The tiny notes without four of the six violin notes: the violin has a third of the others' slices."""
    from move.data.prepare import PrepareConfig, prepare_dataset

    folder = tmp_path_factory.mktemp("lopsided")
    for path in sorted(tiny_notes.glob("*.wav")):
        if not (path.name.startswith("Vn-") and path.name[7:9] in ("C4", "D4", "E4", "G4")):
            shutil.copy(path, folder / path.name)
    out = tmp_path_factory.mktemp("prepared_lopsided") / "set"
    prepare_dataset(folder, out, PrepareConfig(slice_hop=4, split=(1.0, 0.0, 0.0)), progress=False)
    return out


@pytest.mark.parametrize("balance", ["none", "instruments"])
def test_training_draws_instruments_as_balanced(lopsided_prepared, tmp_path, balance):
    record = _RecordBatches()
    cfg = TrainConfig(max_epochs=2, batch_size=16, texture=False, balance=balance, mmd_weight=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(lopsided_prepared, tmp_path / "run", cfg, RunConfig(accelerator="cpu", progress=False),
              extra_callbacks=[record])
    hints = [str(w.message) for w in caught if "--balance instruments" in str(w.message)]
    # the plain shuffle on a lopsided set suggests the option (flute and alto sax: 3 times the violin's slices)
    assert hints == ([] if balance == "instruments" else
                     [f"{lopsided_prepared}: Alto-Sax has 3.0 times the training slices of Violin; "
                      "--balance instruments draws every instrument equally often"])
    shares = np.bincount(record.instruments, minlength=3) / len(record.instruments)
    if balance == "instruments":
        assert shares == pytest.approx([1 / 3] * 3, abs=0.04)
    else:  # the plain shuffle: the violin (2 of 14 notes) is drawn as rarely as the set holds it
        assert shares.min() < 0.2


@pytest.mark.parametrize(("rank", "said"), [(0, 1), (1, 0)])
def test_the_lopsided_hint_comes_from_the_first_process_only(lopsided_prepared, monkeypatch, rank, said):
    # under DDP every process runs train(); Lightning tells each its rank before it does
    ds = PreparedDataset(lopsided_prepared)
    data = SliceData(ds, ds.instruments)
    monkeypatch.setattr(rank_zero_only, "rank", rank)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warn_if_lopsided(ds, data)
    assert [str(w.message) for w in caught] == [
        f"{lopsided_prepared}: Alto-Sax has 3.0 times the training slices of Violin; "
        "--balance instruments draws every instrument equally often"] * said
