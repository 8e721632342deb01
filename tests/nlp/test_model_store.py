"""Model versions: manifests with hashes, the active pointer, rollback, and hot reload."""

from __future__ import annotations

import json

import pytest

from nlp.model_store import ActiveModels, ModelStore, StoreError


def add(store: ModelStore, content: str, **manifest) -> str:
    staging = store.staging_dir()
    (staging / "m.txt").write_text(content, encoding="utf-8")
    return store.add_version(staging, {"created": "now", **manifest})


def read_text(path):
    return path.read_text(encoding="utf-8")


@pytest.fixture
def store(tmp_path):
    return ModelStore(tmp_path / "var" / "nlp")


def test_a_version_has_a_manifest_with_every_file_hashed_and_is_not_active_yet(store):
    name = add(store, "one")
    assert name == "v0001" and store.versions() == ["v0001"]
    manifest = json.loads((store.path(name) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == "v0001" and manifest["created"] == "now"
    assert set(manifest["files"]) == {"m.txt"} and len(manifest["files"]["m.txt"]["sha256"]) == 64
    assert store.active_name() is None
    assert not list(store.models_dir.glob(".staging-*"))


def test_activate_and_rollback_walk_the_history(store):
    v1, v2, v3 = add(store, "1"), add(store, "2"), add(store, "3")
    for name in (v1, v2, v3):
        store.activate(name)
    assert store.active_name() == v3
    assert store.rollback() == (v3, v2) and store.active_name() == v2
    assert store.rollback() == (v2, v1)
    assert store.rollback() == (v1, "shipped") and store.active_name() is None
    with pytest.raises(StoreError, match="no earlier version"):
        store.rollback()
    assert store.rollback(to=v3) == ("shipped", v3)


def test_a_corrupt_version_is_never_activated_and_rollback_to_it_changes_nothing(store):
    v1, v2 = add(store, "1"), add(store, "2")
    store.activate(v1)
    store.activate(v2)
    (store.path(v1) / "m.txt").write_text("tampered", encoding="utf-8")
    with pytest.raises(StoreError, match="sha256") as refused:
        store.rollback()
    assert "校验值不符" in refused.value.message_zh
    assert store.active_name() == v2 and store.history() == [v1, v2]
    (store.path(v1) / "m.txt").unlink()
    with pytest.raises(StoreError, match="cannot be read"):
        store.activate(v1)
    assert store.active_name() == v2
    problems = {info.name: info.problem for info in store.describe()}
    assert problems[v2] is None and "损坏" in problems[v1][0]


def test_unknown_and_malformed_versions_are_refused(store):
    with pytest.raises(StoreError, match="no model version"):
        store.activate("../etc")
    with pytest.raises(StoreError, match="does not exist"):
        store.activate("v0042")
    name = add(store, "1")
    (store.path(name) / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(StoreError, match="cannot be read"):
        store.activate(name)


def test_serving_switches_to_the_new_active_version_and_back(store, tmp_path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "m.txt").write_text("shipped", encoding="utf-8")
    active = ActiveModels(shipped)
    active.configure(store.root, check_seconds=0)
    assert active.get("m.txt", read_text) == "shipped" and active.version is None
    assert active.get("absent.npz", read_text) is None  # neither the version nor the package
    v1 = add(store, "one")
    store.activate(v1)
    assert active.get("m.txt", read_text) == "one" and active.version == v1
    store.rollback()
    assert active.get("m.txt", read_text) == "shipped" and active.version is None


def test_serving_keeps_its_models_when_the_new_version_is_corrupt(store, tmp_path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "m.txt").write_text("shipped", encoding="utf-8")
    v1, v2 = add(store, "one"), add(store, "two")
    store.activate(v1)
    active = ActiveModels(shipped)
    active.configure(store.root, check_seconds=0)
    assert active.get("m.txt", read_text) == "one"
    (store.path(v2) / "m.txt").write_text("half-written", encoding="utf-8")
    (store.root / "active").write_text(v2, encoding="utf-8")  # past activate()'s check
    assert active.get("m.txt", read_text) == "one" and active.version == v1


def test_serving_reads_the_pointer_only_every_check_interval(store, tmp_path):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "m.txt").write_text("shipped", encoding="utf-8")
    active = ActiveModels(shipped)
    active.configure(store.root, check_seconds=3600)
    assert active.get("m.txt", read_text) == "shipped"
    store.activate(add(store, "one"))
    assert active.get("m.txt", read_text) == "shipped"  # not looked at again within the hour
    active.configure(store.root, check_seconds=0)
    assert active.get("m.txt", read_text) == "one"


def test_only_one_retrain_or_rollback_at_a_time(store):
    with store.lock():
        with pytest.raises(StoreError, match="another retrain"):
            with store.lock():
                pass
    with store.lock():
        pass
