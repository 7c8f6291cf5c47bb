"""Files known by their contents, and where IndexStudio keeps what it may rebuild (compiled grammars, hashes).

A model folder is known by what its files hold, not by where it lies or when it was touched: moving a checkpoint
folder, or copying it without keeping the times, must not make a book render again, and a file replaced in place
must. Hashing gigabytes takes seconds, so each file's hash is kept, by its path, size, modification time and inode,
in `file-hashes.json` of the cache folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

_lock = threading.Lock()


def cache_root() -> Path:
    """$INDEXSTUDIO_CACHE, else $XDG_CACHE_HOME/indexstudio (~/.cache/indexstudio)."""
    return Path(os.environ.get("INDEXSTUDIO_CACHE")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "indexstudio")


def state_root() -> Path:
    """$XDG_STATE_HOME/indexstudio (~/.local/state/indexstudio): what runs note for later ones (not a cache: it
    cannot be rebuilt)."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "indexstudio"


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: conditioning is cached by what the audio is, not where it lives."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_content_hash(path: Path) -> str:
    """`content_hash(path)`, hashed again only when the file's size, time or inode changed since it last was."""
    path = Path(path).resolve()
    info = path.stat()
    stamp = [info.st_size, info.st_mtime_ns, info.st_ino]
    store = cache_root() / "file-hashes.json"
    with _lock:
        try:
            known = json.loads(store.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        entry = known.get(str(path))
        if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
            return entry["sha256"]
        digest = content_hash(path)
        known[str(path)] = {"stamp": stamp, "sha256": digest}
        try:                                    # a cache that cannot be written costs time, nothing else
            store.parent.mkdir(parents=True, exist_ok=True)
            tmp = store.with_name(f"{store.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known), encoding="utf-8")
            os.replace(tmp, store)
        except OSError:
            pass
        return digest
