"""Orders in which training draws its slices.

A prepared set holds as many slices of an instrument as it has recordings of it: in the
built-in database the piano has 17 % of the training slices and the English horn 5.8 %.
Trained on the plain shuffle, a model sees each instrument as often as the set holds it.
:class:`BalancedSampler` instead gives every instrument the same share of each epoch, so
that a user's set with an hour of one instrument and ten minutes of another still trains
both (``move train --balance instruments``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


class BalancedSampler(torch.utils.data.Sampler[int]):
    """Slice numbers of an epoch, each label (instrument) drawn equally often.

    An epoch has as many draws as there are slices, ``ceil(n / K)`` for each of the ``K``
    labels present (then cut to ``n``, in a random order). Within a label the draws go
    through a random permutation of its slices, again and again for a label with fewer
    slices than its share, so a label's slices are each drawn ``share / count`` times,
    give or take one; a label with more slices than its share has a different subset in
    each epoch.

    The order depends only on ``seed`` and the epoch (:meth:`set_epoch`, which Lightning
    calls before every epoch), so that every process of a distributed run lists the same
    order and takes its own part of it (Lightning's ``DistributedSamplerWrapper``).

    Parameters
    ----------
    labels : array of int, shape [n]
        Each slice's label (instrument index); negative labels are never drawn.
    seed : int
        Seed of the draws.

    Examples
    --------
    >>> s = BalancedSampler(np.array([0] * 6 + [1] * 2), seed=0)
    >>> order = list(s)
    >>> len(order), sorted(np.bincount(np.array([0] * 6 + [1] * 2)[order]).tolist())
    (8, [4, 4])
    """

    def __init__(self, labels: np.ndarray | torch.Tensor, seed: int = 0) -> None:
        labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64)
        if labels.ndim != 1:
            raise ValueError(f"BalancedSampler: labels must be one-dimensional, got shape {labels.shape}")
        order = np.argsort(labels, kind="stable")
        present, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
        keep = present >= 0
        if not keep.any():
            raise ValueError("BalancedSampler: no slice has a label")
        self._groups = [order[s : s + c] for s, c in zip(starts[keep], counts[keep], strict=True)]
        self.n = int(sum(len(g) for g in self._groups))
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of epoch ``epoch`` next."""
        self.epoch = int(epoch)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The slice numbers of epoch ``epoch``, int64 ``[n]``."""
        rng = np.random.default_rng((self.seed, epoch))
        share = -(-self.n // len(self._groups))
        draws = []
        for group in self._groups:
            rounds = -(-share // len(group))
            perms = [group[rng.permutation(len(group))] for _ in range(rounds)]
            draws.append(np.concatenate(perms)[:share])
        everything = np.concatenate(draws)
        return everything[rng.permutation(len(everything))[: self.n]]

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_order(self.epoch).tolist())
