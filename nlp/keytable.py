"""Integer keys to feature ids for whole arrays at once: an open-addressing hash table in numpy.

Topic and sentiment look up every character n-gram of a batch (hundreds per text). A binary
search (`np.searchsorted`) over tens of thousands of keys costs ~16 scattered reads per query;
a sparse hash table costs one or two, which makes the lookup several times faster.
"""

from __future__ import annotations

import numpy as np

_EMPTY = -1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: multiply, keep the top bits


class KeyTable:
    """A read-only map from non-negative int64 keys to int64 ids, queried with arrays."""

    def __init__(self, keys: np.ndarray, ids: np.ndarray, load: float = 0.25):
        keys = np.asarray(keys, dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64)
        if len(keys) != len(ids):
            raise ValueError("KeyTable: keys and ids differ in length")
        if len(keys) and keys.min() < 0:
            raise ValueError("KeyTable: keys must be non-negative")
        ordered = np.sort(keys)  # a sort, not np.unique: its hashing is ~100x slower here
        if np.any(ordered[1:] == ordered[:-1]):
            raise ValueError("KeyTable: duplicate keys")
        # At most `load` full (1/4 by default): most lookups, hits and misses alike, end at
        # the first slot.
        self.bits = max(4, int(max(len(keys), 1) / load - 1).bit_length())
        size = 1 << self.bits
        self.mask = size - 1
        self.keys = np.full(size, _EMPTY, dtype=np.int64)
        self.ids = np.zeros(size, dtype=np.int64)
        # Linear probing, keys inserted in order of their home slot: each lands on its home or
        # one past the key before it, whichever is later (a running maximum). Keys pushed past
        # the last slot wrap round into the first free slots, in order.
        home = self._slots(keys)
        order = np.argsort(home, kind="stable")
        home = home[order]
        rank = np.arange(len(home))
        slot = np.maximum.accumulate(home - rank) + rank if len(home) else home
        probes = slot - home
        over = slot >= size
        if over.any():
            taken = np.zeros(size, dtype=bool)
            taken[slot[~over]] = True
            slot[over] = np.flatnonzero(~taken)[: int(over.sum())]
            probes[over] = slot[over] + size - home[over]
        self.keys[slot] = keys[order]
        self.ids[slot] = ids[order]
        self.max_probe = int(probes.max()) if len(probes) else 0

    @classmethod
    def from_slots(cls, keys: np.ndarray, ids: np.ndarray, max_probe: int) -> KeyTable:
        """A table from the `keys`, `ids` and `max_probe` of a built one (kept on disk)."""
        table = cls.__new__(cls)
        size = len(keys)
        if size < 16 or size & (size - 1) or len(ids) != size:
            raise ValueError("KeyTable: slots must be a power of two, keys and ids alike")
        table.bits = size.bit_length() - 1
        table.mask = size - 1
        table.keys = np.asarray(keys, dtype=np.int64)
        table.ids = np.asarray(ids)
        table.max_probe = int(max_probe)
        return table

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        h = keys.astype(np.uint64) * _GOLDEN  # wraps modulo 2**64, as intended
        return (h >> np.uint64(64 - self.bits)).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The id of each key, -1 where the key is absent."""
        keys = np.asarray(keys, dtype=np.int64)
        out = np.full(len(keys), -1, dtype=np.int64)
        slot = self._slots(keys)
        where = np.arange(len(keys))
        for _ in range(self.max_probe + 1):
            found = self.keys[slot]
            hit = found == keys
            out[where[hit]] = self.ids[slot[hit]]
            more = ~hit & (found != _EMPTY)
            if not more.any():
                break
            where, keys, slot = where[more], keys[more], (slot[more] + 1) & self.mask
        return out
