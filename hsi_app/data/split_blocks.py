"""The block assignment of the ``disjoint`` split protocol (:func:`hsi_app.data.splits.make_split`).

:class:`BlockProblem` groups the labelled pixels by square block, counts per block and class what
the test buffer would drop next to a training block, scores an assignment of blocks to training by
the cost that :mod:`hsi_app.data.splits` documents, and finds a locally optimal assignment (a seeded
greedy pass, then single-block toggles and train/test swaps). Split objects, the buffer itself
and the warnings stay in :mod:`hsi_app.data.splits`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MAX_SWAPS = 2_000  # swap moves examined per local-search step (a seeded sample beyond)
DROP_WEIGHT = 0.1  # cost per unit share of a class lost to the buffer
UNTRAINED_WEIGHT = 1.0  # cost per class without a training pixel (> any class's deviation term)

# the 8 neighbouring blocks, in the order of a pixel's neighbour bitmask
_DIRS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


class BlockProblem:
    """Labelled pixels grouped by block, with what the buffer would drop (see :mod:`hsi_app.data.splits`).

    For every labelled pixel, an 8-bit mask says which of the 8 neighbouring blocks hold a
    labelled pixel within ``radius`` (Chebyshev) of it: if any of those blocks is a training
    block and the pixel's own block is not, the buffer drops the pixel. Exact while
    ``radius < block``; the buffer itself is always applied exactly afterwards.
    """

    def __init__(
        self, labels: np.ndarray, block: int, radius: int, offset: tuple[int, int], untrained_weight: float
    ) -> None:
        self.labels, self.block, self.offset, self.untrained_weight = labels, block, offset, untrained_weight
        h, w = labels.shape
        oy, ox = offset  # block (i, j) covers rows [i b - oy, (i + 1) b - oy), columns likewise
        nby, nbx = -(-(h + oy) // block), -(-(w + ox) // block)
        rows, cols = np.nonzero(labels > 0)
        grid_id = ((rows + oy) // block) * nbx + (cols + ox) // block
        active, self.pixel_block = np.unique(grid_id, return_inverse=True)
        self.rows, self.cols = rows, cols
        k = int(labels.max())
        cls = labels[rows, cols] - 1
        counts = np.zeros((active.size, k), dtype=np.float64)
        np.add.at(counts, (self.pixel_block, cls), 1.0)
        lookup = np.full(nby * nbx, -1, dtype=np.int64)
        lookup[active] = np.arange(active.size)
        by, bx = active // nbx, active % nbx
        nbr = np.full((active.size, len(_DIRS)), -1, dtype=np.int64)
        for d, (dy, dx) in enumerate(_DIRS):
            ny, nx = by + dy, bx + dx
            ok = (ny >= 0) & (ny < nby) & (nx >= 0) & (nx < nbx)
            nbr[ok, d] = lookup[ny[ok] * nbx + nx[ok]]
        self.counts, self.nbr = counts, nbr
        masks = (
            self._pixel_masks(radius, by, bx) if radius > 0 else np.zeros(rows.size, dtype=np.int64)
        )
        keep = masks > 0  # group droppable pixels by (block, mask, class)
        key = (self.pixel_block[keep] * 256 + masks[keep]) * k + cls[keep]
        uniq, n = np.unique(key, return_counts=True)
        groups, self.g_class = np.unique(uniq // k, return_inverse=True)
        self.g_block, self.g_mask = groups // 256, groups % 256
        self.g_counts = np.zeros((groups.size, k), dtype=np.float64)
        np.add.at(self.g_counts, (self.g_class, uniq % k), n.astype(np.float64))
        present = self.counts.sum(axis=0) > 0  # ids with no pixel (1, 5, 9; a crop without class 1) have no share
        self.counts, self.g_counts = self.counts[:, present], self.g_counts[:, present]

    def _pixel_masks(self, radius: int, by: np.ndarray, bx: np.ndarray) -> np.ndarray:
        """(N,) int neighbour bitmask of every labelled pixel."""
        h, w = self.labels.shape
        b, masks = self.block, np.zeros(self.rows.size, dtype=np.int64)
        oy, ox = self.offset
        owner = np.full((h, w), -1, dtype=np.int64)
        owner[self.rows, self.cols] = self.pixel_block
        order = np.argsort(self.pixel_block, kind="stable")
        bounds = np.searchsorted(self.pixel_block[order], np.arange(by.size + 1))
        for i in range(by.size):
            r0, r1 = max(by[i] * b - oy - radius, 0), min((by[i] + 1) * b - oy + radius, h)
            c0, c1 = max(bx[i] * b - ox - radius, 0), min((bx[i] + 1) * b - ox + radius, w)
            crop = owner[r0:r1, c0:c1]
            mine = order[bounds[i] : bounds[i + 1]]
            pr, pc = self.rows[mine] - r0, self.cols[mine] - c0
            for d in range(len(_DIRS)):
                j = self.nbr[i, d]
                if j < 0:
                    continue
                near = ndimage.maximum_filter(
                    (crop == j).astype(np.uint8), size=2 * radius + 1, mode="constant"
                )
                masks[mine] |= near[pr, pc].astype(np.int64) << d
        return masks

    def cost(self, chosen: np.ndarray, fraction: float) -> np.ndarray:
        """Cost of candidate assignments ``chosen`` (M, B) bool -> (M,)."""
        total = self.counts.sum(axis=0)
        t = chosen @ self.counts
        padded = np.concatenate([chosen, np.zeros((chosen.shape[0], 1), dtype=bool)], axis=1)
        near_train = np.zeros((chosen.shape[0], self.g_block.size), dtype=bool)
        for d in range(len(_DIRS)):  # some neighbour in the group's mask is a training block
            near_train |= padded[:, self.nbr[self.g_block, d]] & (((self.g_mask >> d) & 1) == 1)
        dropped = ~chosen[:, self.g_block] & near_train
        d = dropped @ self.g_counts
        multi = (self.counts > 0).sum(axis=0) >= 2
        viol = multi & ((t <= 0) | (total - t - d <= 0))
        dev = (((t - fraction * total) / total) ** 2).sum(axis=1)
        untrained = self.untrained_weight * (t <= 0).sum(axis=1)
        penalty = (total.size * (1 + self.untrained_weight) + 1) * viol.sum(axis=1)
        return dev + DROP_WEIGHT * (d / total).sum(axis=1) + untrained + penalty

    def assign(self, fraction: float, rng: np.random.Generator) -> np.ndarray:
        """(B,) bool training blocks: seeded greedy pass, then best-improvement local search."""
        n = self.counts.shape[0]
        chosen = np.zeros(n, dtype=bool)
        best = float(self.cost(chosen[None], fraction)[0])
        for b in rng.permutation(n):
            cand = chosen.copy()
            cand[b] = True
            c = float(self.cost(cand[None], fraction)[0])
            if c < best - 1e-12:
                chosen, best = cand, c
        for _ in range(4 * n + 10):
            cands = np.repeat(chosen[None], n, axis=0)
            cands[np.arange(n), np.arange(n)] ^= True  # every single-block toggle
            tr, te = np.flatnonzero(chosen), np.flatnonzero(~chosen)
            pairs = np.stack(np.meshgrid(tr, te, indexing="ij"), axis=-1).reshape(-1, 2)
            if pairs.shape[0] > MAX_SWAPS:
                pairs = pairs[rng.choice(pairs.shape[0], MAX_SWAPS, replace=False)]
            if pairs.size:
                swaps = np.repeat(chosen[None], pairs.shape[0], axis=0)
                idx = np.arange(pairs.shape[0])
                swaps[idx, pairs[:, 0]], swaps[idx, pairs[:, 1]] = False, True
                cands = np.concatenate([cands, swaps])
            costs = self.cost(cands, fraction)
            i = int(np.argmin(costs))
            if costs[i] >= best - 1e-12:
                break
            chosen, best = cands[i], float(costs[i])
        return chosen

    def train_map(self, chosen: np.ndarray) -> np.ndarray:
        """(H, W) int32 labels of the pixels in the chosen blocks."""
        train = np.zeros_like(self.labels)
        sel = chosen[self.pixel_block]
        train[self.rows[sel], self.cols[sel]] = self.labels[self.rows[sel], self.cols[sel]]
        return train
