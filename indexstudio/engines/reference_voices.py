"""Reference voices of the cloning engines: any audio file, or a named file in the voice library.

The IndexTTS engines clone the voice of a short recording.  A voice is given
as a path, or as the name of a file kept in the voice library folder
(`INDEXSTUDIO_VOICES`, default `~/.local/share/indexstudio/voices`), so that
`--voice narrator` finds `voices/narrator.wav`.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from indexstudio.engines.base import Voice
from indexstudio.errors import InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")      # what libsndfile reads (no AAC / .m4a)


def voice_library() -> Path:
    default = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "indexstudio" / "voices"
    return Path(os.environ.get("INDEXSTUDIO_VOICES", default))


def library_voices() -> list[Voice]:
    folder = voice_library()
    if not folder.is_dir():
        return []
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file())
    return [Voice(f.stem, "", "", f"reference audio {f.name}" + ("" if _readable(f) else " (not readable audio)"))
            for f in files]


def _readable(path: Path) -> bool:
    import soundfile as sf
    try:
        return sf.info(str(path)).frames > 0
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False


def resolve_reference(voice: str, what: str = "voice") -> Path:
    """The audio file behind `voice`: a path, or a recording in the voice library by its name, with or without
    its extension ("narrator", "narrator.wav")."""
    path = Path(voice).expanduser()
    if path.is_file():
        return path
    folder = voice_library()
    for candidate in [folder / voice] + [folder / f"{voice}{suffix}" for suffix in AUDIO_SUFFIXES]:
        if candidate.suffix.lower() in AUDIO_SUFFIXES and candidate.is_file():
            return candidate
    names = ", ".join(v.id for v in library_voices()) or "none"
    raise InputError(f"{what} {voice!r} is neither an audio file nor a voice in {folder} (library voices: {names})")


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: conditioning is cached by what the audio is, not where it lives."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
