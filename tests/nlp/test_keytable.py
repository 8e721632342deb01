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
