"""Text-normalisation grammars (WeTextProcessing, NeMo) compiled once into a cache folder.

Compiling takes up to a minute, so the result is kept; it is built in a
staging folder beside the cache and renamed into place, so a concurrent
process never loads a half-written grammar.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

from indexstudio.errors import EngineError

log = logging.getLogger(__name__)
Grammar = TypeVar("Grammar")


def compile_into(cache: Path, build: Callable[[Path], Grammar], what: str) -> Grammar:
    """`build(staging folder)`, then publish that folder as `cache` (unless another process did first)."""
    log.warning("compiling the %s once (up to a minute) into %s", what, cache)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=cache.parent))
    except OSError as exc:
        raise EngineError(f"cannot write the text-normalisation cache {cache.parent} ({exc}); "
                          "point INDEXSTUDIO_CACHE at a writable folder") from exc
    try:
        grammar = build(staging)
        staging.chmod(0o755)
        try:
            staging.rename(cache)   # atomic; a concurrent process may have published it first
        except OSError:
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return grammar
