"""Drawing merchants by popularity, optionally within a country or a set of MCCs.

Draws use Walker's alias method (O(1) per draw: one bucket, one coin), with one alias table
per group (country) laid end to end.

>>> from payloom_sim.world import build_world
>>> world = build_world(seed=1, days=5)
>>> pool = MerchantPool(world, mccs=None, by_country=True)
>>> merchants = pool.draw(np.array([0, 1, 1]), np.random.default_rng(0))
>>> world.merchant_country[merchants].tolist()
[0, 1, 1]
"""

from __future__ import annotations

import numpy as np

from payloom_sim.constants import COUNTRIES, MCC_CODES
from payloom_sim.sampling import alias_table
from payloom_sim.world import World

__all__ = ["MerchantPool"]


class MerchantPool:
    """Merchants (all, or those of some MCCs), drawn by weight, per country or across countries."""

    def __init__(self, world: World, *, mccs: tuple[str, ...] | None, by_country: bool) -> None:
        members = np.arange(len(world.merchant_ids))
        if mccs is not None:
            members = members[np.isin(world.merchant_mcc, [MCC_CODES.index(code) for code in mccs])]
        group = world.merchant_country[members] if by_country else np.zeros(len(members), np.int64)
        groups = len(COUNTRIES) if by_country else 1
        self._offset = np.zeros(groups, np.int64)
        self._size = np.zeros(groups, np.int64)
        members_out: list[np.ndarray] = []
        probability: list[np.ndarray] = []
        alias: list[np.ndarray] = []
        placed = 0
        for g in range(groups):
            in_group = members[group == g]
            if not len(in_group):
                raise ValueError(f"merchant pool has no merchant in group {g}")
            p, a = alias_table(world.merchant_weight[in_group])
            self._offset[g], self._size[g] = placed, len(in_group)
            placed += len(in_group)
            members_out.append(in_group)
            probability.append(p)
            alias.append(a + self._offset[g])
        self._members = np.concatenate(members_out).astype(np.int32)
        self._probability = np.concatenate(probability)
        self._alias = np.concatenate(alias)

    def draw(self, group: np.ndarray | None, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
        """Merchant indices: one per entry of `group` (a country), or `n` across the pool (group 0)."""
        count = len(group) if group is not None else int(n or 0)
        g = np.zeros(count, np.int64) if group is None else np.asarray(group)
        bucket = self._offset[g] + (rng.random(count) * self._size[g]).astype(np.int64)
        keep = rng.random(count) < self._probability[bucket]
        return self._members[np.where(keep, bucket, self._alias[bucket])]
