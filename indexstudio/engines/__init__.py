"""Engines by name.  Each engine is built once per process and shared (models load once)."""
from __future__ import annotations

import importlib
import inspect
import threading
from pathlib import Path
from typing import Any, Callable

from indexstudio.engines.base import Controls, Engine, SegmentAudio, Voice
from indexstudio.errors import EngineError

DEFAULT_ENGINE = "kokoro"

# name -> "module:Class" (imported on first use, so `indexstudio voices` never loads torch)
_BUILTIN = {
    "kokoro": "indexstudio.engines.kokoro:KokoroEngine",
    "indextts2": "indexstudio.engines.indextts2:IndexTTS2Engine",
    "indextts1_5": "indexstudio.engines.indextts1_5:IndexTTS15Engine",
    "indextts2_5": "indexstudio.engines.indextts2_5:IndexTTS25Engine",
}
# the built-in engines that load an IndexTTS checkpoint folder, by its version (a missing folder is said before torch
# is imported, which takes seconds)
_CHECKPOINT_VERSIONS = {"indextts2": "2", "indextts1_5": "1.5", "indextts2_5": "2.5"}
_factories: dict[str, Callable[..., Engine]] = {}
_instances: dict[tuple, Engine] = {}
_lock = threading.Lock()


def register_engine(name: str, factory: Callable[..., Engine]) -> None:
    """Add an engine under `name` (used by plug-ins and by the test suite's synthetic engine)."""
    with _lock:
        _factories[name] = factory
        for key in [k for k in _instances if k[0] == name]:
            del _instances[key]


def engine_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_factories))


def _factory(name: str) -> Callable[..., Engine]:
    if name in _factories:
        return _factories[name]
    if name not in _BUILTIN:
        raise EngineError(f"unknown engine {name!r}; available: {', '.join(engine_names())}")
    module, cls = _BUILTIN[name].split(":")
    return getattr(importlib.import_module(module), cls)


def require_model_dir(name: str, model_dir: Any, version: str = "") -> None:
    """Raise when engine `name` (IndexTTS-`version`; a built-in one's is known) loads a checkpoint folder and none
    is named."""
    version = version or (_CHECKPOINT_VERSIONS.get(name, "") if name not in _factories else "")
    if version and not model_dir:
        raise EngineError(f"engine {name} needs --model-dir: an IndexTTS-{version} checkpoint folder "
                          f"(from Python: get_engine({name!r}, model_dir=...))")


def clones_voices(name: str) -> bool:
    """Whether engine `name` speaks with a recorded voice (a reference file) rather than voices of its own."""
    return not getattr(_factory(name), "default_voice", "built-in")


def engine_settings(name: str) -> set[str] | None:
    """The settings engine `name` is built with (`get_engine`'s keywords), or None when it takes any."""
    params = inspect.signature(_factory(name)).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return set(params)


def _same(value: Any) -> str:
    """A setting as the shared instances are told apart: a folder named two ways ("models/", "./models") is one."""
    if isinstance(value, (str, Path)) and str(value) and Path(value).exists():
        return str(Path(value).resolve())
    return str(value)


def engine_for_folder(model_dir: str | Path) -> str:
    """The engine of the IndexTTS version the checkpoint folder `model_dir` holds (its config.yaml says)."""
    from indexstudio.errors import InputError
    from indexstudio.models.folder import detect_version
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        raise InputError(f"--model-dir {model_dir}: " + ("a file, not a folder (give the checkpoint folder)"
                                                         if folder.exists() else "no such folder"))
    return "indextts" + detect_version(folder).replace(".", "_")


def get_engine(name: str | None = None, **options: Any) -> Engine:
    """The shared instance of engine `name` built with `options` (e.g. model_dir=...); without a name, the engine
    of the IndexTTS version `model_dir` holds, else the embedded one."""
    options = {k: v for k, v in options.items() if v is not None}
    if name is None:
        name = engine_for_folder(options["model_dir"]) if isinstance(options.get("model_dir"), (str, Path)) \
            and str(options["model_dir"]) else DEFAULT_ENGINE
    key = (name, tuple(sorted((k, _same(v)) for k, v in options.items())))
    with _lock:
        if key not in _instances:
            require_model_dir(name, options.get("model_dir"))
            factory = _factory(name)
            params = inspect.signature(factory).parameters
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                unknown = sorted(set(options) - set(params))
                if unknown:
                    raise EngineError(f"engine {name} does not take {', '.join(unknown)}; "
                                      f"it takes {', '.join(params) or 'no settings'}")
            _instances[key] = factory(**options)
        return _instances[key]


def release_engines() -> None:
    """Close and forget the shared engines `get_engine` built (an application switching models frees the last
    one's memory); the next `get_engine` builds anew."""
    with _lock:
        engines = list(_instances.values())
        _instances.clear()
    for engine in engines:
        engine.close()


__all__ = ["Controls", "Engine", "SegmentAudio", "Voice", "DEFAULT_ENGINE", "clones_voices", "engine_for_folder",
           "engine_names", "engine_settings", "get_engine", "register_engine", "release_engines", "require_model_dir"]
