"""Versions of the nlp models that a county retrains, and the active one that serving reads.

A store is a directory the core names (`[nlp] model_dir`, var/nlp by default):

    <root>/active                   the active version's name on one line (absent: shipped)
    <root>/history.json             the versions activated so far, oldest first (rollback)
    <root>/models/<version>/        the version's artifacts and manifest.json: when it was
                                    made, from how much data, its cross-validated scores and
                                    the sha256 of every file
    <root>/retrain.jsonl            one line per retrain attempt, refused ones too

A version is never changed once written. Activating one checks every file against its
manifest first, so a corrupt or unreadable version never becomes active; serving
(`ActiveModels`) checks again before it switches and keeps what it has when the check fails.
The artifacts shipped in nlp/artifacts are the fallback for anything a version lacks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ACTIVE_FILE = "active"
HISTORY_FILE = "history.json"
MODELS_DIR = "models"
MANIFEST = "manifest.json"
LOG_FILE = "retrain.jsonl"
SHIPPED = "shipped"
SHIPPED_DIR = Path(__file__).resolve().parent / "artifacts"
_VERSION = re.compile(r"v(\d{4,})")
# How often serving looks at the active pointer (one stat), in seconds.
CHECK_SECONDS = 5.0


class StoreError(Exception):
    """A refusal of the store, in Chinese and English (the core prints both)."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    # Readers see the old content or the new one, never half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class VersionInfo:
    """One stored version as `minyi nlp models` lists it."""

    name: str
    manifest: dict | None
    problem: tuple[str, str] | None  # (zh, en) when the version fails its check
    active: bool


class ModelStore:
    """The versions under one root directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @property
    def models_dir(self) -> Path:
        return self.root / MODELS_DIR

    def path(self, name: str) -> Path:
        """The directory of version `name` (which must look like v0001)."""
        if not _VERSION.fullmatch(name or ""):
            raise StoreError(f"没有模型版本 {name!r}", f"no model version {name!r}")
        return self.models_dir / name

    def versions(self) -> list[str]:
        """Names of the stored versions, oldest first."""
        if not self.models_dir.is_dir():
            return []
        names = [p.name for p in self.models_dir.iterdir() if _VERSION.fullmatch(p.name)]
        return sorted(names, key=lambda n: int(n[1:]))

    # -- the active pointer ---------------------------------------------------------------
    def active_name(self) -> str | None:
        """The active version's name, None when the shipped artifacts are active."""
        try:
            name = (self.root / ACTIVE_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return None if name in ("", SHIPPED) else name

    def history(self) -> list[str]:
        try:
            data = json.loads((self.root / HISTORY_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return []
        return [n for n in data if isinstance(n, str)] if isinstance(data, list) else []

    def activate(self, name: str) -> None:
        """Make a verified version the active one (serving picks it up within seconds)."""
        if name != SHIPPED:
            self.verify(name)
        self.root.mkdir(parents=True, exist_ok=True)
        history = [n for n in self.history() if n != name] + [name]
        _write_atomically(self.root / HISTORY_FILE, json.dumps(history))
        _write_atomically(self.root / ACTIVE_FILE, name + "\n")

    def rollback(self, to: str | None = None) -> tuple[str, str]:
        """Activate the version active before the current one (or `to`); (from, to) names.

        The target is checked first: a corrupt one is refused and nothing changes.
        """
        current = self.active_name() or SHIPPED
        history = self.history()
        if to is None:
            if current == SHIPPED:
                raise StoreError(
                    "当前使用的是随程序发布的模型，没有可回退的版本",
                    "the shipped models are active: there is no earlier version to go back to",
                )
            earlier = history[: history.index(current)] if current in history else history
            to = earlier[-1] if earlier else SHIPPED
        if to != SHIPPED:
            self.verify(to)
        kept = history[: history.index(to) + 1] if to in history else [*history, to]
        if to == SHIPPED:
            kept = []
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.root / HISTORY_FILE, json.dumps(kept))
        _write_atomically(self.root / ACTIVE_FILE, to + "\n")
        return current, to

    # -- versions ---------------------------------------------------------------------------
    def manifest(self, name: str) -> dict:
        """The manifest of version `name`; StoreError when it is missing or unreadable."""
        path = self.path(name) / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(
                f"模型版本 {name} 不存在或缺少清单 {MANIFEST}",
                f"model version {name} does not exist or has no {MANIFEST}",
            ) from None
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"模型版本 {name} 的清单无法读取：{exc}",
                f"the manifest of model version {name} cannot be read: {exc}",
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise StoreError(
                f"模型版本 {name} 的清单格式不对",
                f"the manifest of model version {name} is malformed",
            )
        return data

    def verify(self, name: str) -> dict:
        """The manifest of `name` after checking every listed file's size and sha256."""
        manifest = self.manifest(name)
        folder = self.path(name)
        for file, expected in manifest["files"].items():
            path = folder / file
            if Path(file).name != file:
                raise StoreError(
                    f"模型版本 {name} 的清单列出了目录外的文件 {file}",
                    f"the manifest of model version {name} names a file outside it: {file}",
                )
            try:
                digest = sha256_of(path)
            except OSError as exc:
                raise StoreError(
                    f"模型版本 {name} 的文件 {file} 无法读取（{exc.strerror or exc}），版本已损坏",
                    f"model version {name} is corrupt: {file} cannot be read "
                    f"({exc.strerror or exc})",
                ) from None
            if digest != expected.get("sha256"):
                raise StoreError(
                    f"模型版本 {name} 的文件 {file} 校验值不符，版本已损坏",
                    f"model version {name} is corrupt: the sha256 of {file} does not match "
                    "its manifest",
                )
        return manifest

    def describe(self) -> list[VersionInfo]:
        """Every stored version with its manifest (or why it fails its check)."""
        active = self.active_name()
        out = []
        for name in self.versions():
            try:
                manifest, problem = self.verify(name), None
            except StoreError as err:
                problem = (err.message_zh, err.message_en)
                try:
                    manifest = self.manifest(name)
                except StoreError:
                    manifest = None
            out.append(VersionInfo(name, manifest, problem, name == active))
        return out

    def add_version(self, staging: Path, manifest: dict) -> str:
        """Move a staging directory in as the next version, with `manifest` (files hashed
        here); returns its name. The version is not activated."""
        files = {}
        for path in sorted(staging.iterdir()):
            if path.is_file() and path.name != MANIFEST:
                files[path.name] = {"sha256": sha256_of(path), "bytes": path.stat().st_size}
        self.models_dir.mkdir(parents=True, exist_ok=True)
        number = max((int(n[1:]) for n in self.versions()), default=0) + 1
        while True:
            name = f"v{number:04d}"
            manifest = {**manifest, "version": name, "files": files}
            (staging / MANIFEST).write_text(
                json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
            )
            try:
                os.rename(staging, self.models_dir / name)  # fails if the name is taken
            except OSError:
                if not (self.models_dir / name).exists():
                    raise
                number += 1
                continue
            return name

    def staging_dir(self) -> Path:
        """A new empty directory on the store's file system for building a candidate."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        path = self.models_dir / f".staging-{os.getpid()}-{time.time_ns()}"
        path.mkdir()
        return path

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One retrain, rollback or activation at a time (POSIX advisory lock)."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; atomic renames still hold
            yield
            return
        with open(self.root / ".lock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(
                    "另一个模型训练或回退正在进行，请稍后再试",
                    "another retrain or rollback is running: try again later",
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def log_attempt(self, entry: dict) -> None:
        """Append one retrain attempt to retrain.jsonl."""
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": now_iso(), **entry}, ensure_ascii=False)
        with open(self.root / LOG_FILE, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def attempts(self) -> list[dict]:
        """The retrain attempts logged so far, oldest first (unreadable lines skipped)."""
        try:
            lines = (self.root / LOG_FILE).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- serving ----------------------------------------------------------------------------------
class ActiveModels:
    """Where serving reads each artifact: the active version when there is one, else shipped.

    `get(artifact, load)` returns the loaded model; at most every `check_seconds` it stats
    the active pointer, and when that changed it checks the new version's hashes and loads
    the artifacts already in use from it before switching, so a process never serves half a
    version or a corrupt file. Any failure keeps the models it has.
    """

    def __init__(self, shipped_dir: Path = SHIPPED_DIR) -> None:
        self.shipped_dir = Path(shipped_dir)
        self._store: ModelStore | None = None
        self.check_seconds = CHECK_SECONDS
        self._next_check = 0.0
        self._pointer_key: object = None
        self._version: str | None = None
        self._dir: Path | None = None  # the active version's directory
        self._loaded: dict[str, tuple[Path, Callable[[Path], Any], Any]] = {}
        self._lock = threading.Lock()

    @property
    def version(self) -> str | None:
        """The version serving reads (None: shipped)."""
        return self._version

    def configure(self, root: Path | str | None, check_seconds: float = CHECK_SECONDS) -> None:
        """Read versions from `root` (None: the shipped artifacts only); checks at once.

        The same root and interval again change nothing (every process's service context
        calls this)."""
        resolved = Path(root).resolve() if root is not None else None
        if resolved == self.root and float(check_seconds) == self.check_seconds:
            return
        with self._lock:
            self._store = ModelStore(resolved) if resolved is not None else None
            self.check_seconds = float(check_seconds)
            self._next_check = 0.0
            self._pointer_key = None
            if self._store is None:
                self._switch(None, None)

    @property
    def root(self) -> Path | None:
        return self._store.root if self._store is not None else None

    def get(self, artifact: str, load: Callable[[Path], Any]) -> Any:
        """The model in `artifact` (e.g. topic.npz), loaded by `load(path)` once per version;
        None when neither the active version nor the package has that file."""
        if self._store is not None and time.monotonic() >= self._next_check:
            self._check()
        entry = self._loaded.get(artifact)
        if entry is None:
            with self._lock:
                entry = self._loaded.get(artifact)
                if entry is None:
                    entry = self._load(artifact, load, self._dir)
                    self._loaded = {**self._loaded, artifact: entry}
        return entry[2]

    def _path(self, artifact: str, folder: Path | None) -> Path:
        if folder is not None and (folder / artifact).is_file():
            return folder / artifact
        return self.shipped_dir / artifact

    def _load(self, artifact, load, folder):
        path = self._path(artifact, folder)
        try:
            return path, load, _read(path, load)
        except Exception:
            if path.parent == self.shipped_dir:
                raise
            # A verified file that still does not load: serve the shipped one.
            log.exception("nlp: %s does not load; using the shipped artifact", path)
            shipped = self.shipped_dir / artifact
            return shipped, load, _read(shipped, load)

    def _check(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is checking; serve what is loaded
        try:
            store = self._store
            if store is None:
                return
            self._next_check = time.monotonic() + self.check_seconds
            pointer = store.root / ACTIVE_FILE
            try:
                st = pointer.stat()
                key = (st.st_mtime_ns, st.st_size, st.st_ino)
            except OSError:
                key = None
            if key == self._pointer_key:
                return
            self._pointer_key = key
            name = store.active_name() if key is not None else None
            if name == self._version:
                return
            if name is None:
                self._switch(None, None)
                return
            try:
                store.verify(name)
            except StoreError as err:
                log.error(
                    "nlp：模型版本 %s 未启用，继续使用当前模型：%s / nlp: model version %s not "
                    "loaded, keeping the current models: %s",
                    name,
                    err.message_zh,
                    name,
                    err.message_en,
                )
                return
            self._switch(name, store.path(name))
        finally:
            self._lock.release()

    def _switch(self, name: str | None, folder: Path | None) -> None:
        # Reload what is in use from the new directory first; swap only when all of it loads.
        fresh = {}
        try:
            for artifact, (path, load, value) in self._loaded.items():
                new_path = self._path(artifact, folder)
                fresh[artifact] = (
                    (path, load, value)
                    if new_path == path
                    else (new_path, load, _read(new_path, load))
                )
        except Exception:
            log.exception(
                "nlp：模型版本 %s 无法加载，继续使用当前模型 / nlp: model version %s does not "
                "load, keeping the current models",
                name,
                name,
            )
            return
        self._loaded, self._dir, self._version = fresh, folder, name
        if name is not None:
            log.info("nlp: serving model version %s", name)


def _read(path: Path, load: Callable[[Path], Any]) -> Any:
    # An artifact neither the version nor the package has (the learned department model
    # before any retrain) is None: its module then does without it.
    return load(path) if path.is_file() else None


# The one instance the model modules (topic, sentiment, request type, department) read through.
ACTIVE = ActiveModels()


def use_model_dir(root: Path | str | None, check_seconds: float | None = None) -> None:
    """Serve the active version under `root` (the core passes [nlp] model_dir), looking at
    its pointer every `check_seconds` (default CHECK_SECONDS)."""
    ACTIVE.configure(root, CHECK_SECONDS if check_seconds is None else check_seconds)
