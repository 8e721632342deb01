"""KeyTable: array lookups give the same ids as a dict, including colliding and absent keys."""

import numpy as np
import pytest

from nlp.keytable import KeyTable


def test_lookup_matches_a_dict():
    rng = np.random.default_rng(3)
    keys = np.unique(rng.integers(0, 2**62, 5000))
    ids = rng.permutation(len(keys))
    table = KeyTable(keys, ids)
    expected = dict(zip(keys.tolist(), ids.tolist(), strict=True))
    queries = np.concatenate([keys, rng.integers(0, 2**62, 5000), [0, 2**62 - 1]])
    got = table.lookup(queries)
    assert got.tolist() == [expected.get(k, -1) for k in queries.tolist()]


def test_small_dense_keys_and_empty_tables():
    table = KeyTable(np.arange(100), np.arange(100)[::-1])
    assert table.lookup(np.array([0, 99, 100, 5])).tolist() == [99, 0, -1, 94]
    empty = KeyTable(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert empty.lookup(np.array([1, 2])).tolist() == [-1, -1]
    assert table.lookup(np.array([], dtype=np.int64)).tolist() == []


def test_bad_keys_are_refused():
    with pytest.raises(ValueError):
        KeyTable(np.array([1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError):
        KeyTable(np.array([-1]), np.array([0]))


@pytest.mark.parametrize("load", [0.25, 0.5, 0.97])
def test_crowded_tables_wrap_round_and_still_find_every_key(load):
    rng = np.random.default_rng(int(load * 100))
    for size in (1, 7, 30, 2000):
        keys = np.unique(rng.integers(0, 2**40, size))
        ids = rng.permutation(len(keys))
        table = KeyTable(keys, ids, load=load)
        assert table.lookup(keys).tolist() == ids.tolist()
        assert (table.lookup(keys + 2**41) == -1).all()
        copy = KeyTable.from_slots(table.keys, table.ids, table.max_probe)
        assert copy.lookup(keys).tolist() == ids.tolist()
    with pytest.raises(ValueError):
        KeyTable.from_slots(np.zeros(24, np.int64), np.zeros(24, np.int64), 0)


def test_keys_that_all_hash_to_the_last_slot_wrap_round():
    probe = KeyTable(np.arange(12), np.arange(12), load=0.97)  # 16 slots
    assert len(probe.keys) == 16
    candidates = np.arange(200_000)
    last = candidates[probe._slots(candidates) == 15][:12]
    table = KeyTable(last, np.arange(12) + 100, load=0.97)
    assert table.max_probe == 11
    assert table.lookup(last).tolist() == list(range(100, 112))
    assert table.lookup(np.array([last.max() + 1, 0])).tolist() == [-1, -1]
