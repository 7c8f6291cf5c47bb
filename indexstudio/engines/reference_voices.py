"""Reference voices of the cloning engines: any audio file, or a named file in the voice library.

The IndexTTS engines clone the voice of a short recording.  A voice is given
as a path, or as the name of a file kept in the voice library folder
(`INDEXSTUDIO_VOICES`, default `~/.local/share/indexstudio/voices`), so that
`--voice narrator` finds `voices/narrator.wav`.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np

from indexstudio.engines.base import Voice
from indexstudio.errors import InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus")      # libsndfile's (an .m4a is taken by its path)


def voice_library() -> Path:
    default = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "indexstudio" / "voices"
    return Path(os.environ.get("INDEXSTUDIO_VOICES") or default)          # (set empty: as if unset, not ".")


def library_voices() -> list[Voice]:
    """The recordings in the voice library, by name (by file name where two share a name), with their length."""
    folder = voice_library()
    if not folder.is_dir():
        return []
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file())
    stems = [f.stem for f in files]
    return [Voice(f.stem if stems.count(f.stem) == 1 else f.name, "", "", f"reference audio {f.name}{_length(f)}")
            for f in files]


def _length(path: Path) -> str:
    import soundfile as sf
    try:
        info = sf.info(str(path))
        silent = not np.abs(sf.read(str(path), frames=info.samplerate * 60, dtype="float32")[0]).max(initial=0) > 0
    except (sf.LibsndfileError, RuntimeError, OSError):
        return " (not readable audio)"
    seconds = info.duration
    return f", {seconds:.1f} s" + (" (silent)" if silent else " (too short: 0.5 s at least)" if seconds < 0.5 else
                                   " (only its first 15 s are used)" if seconds > 15 else "")


def resolve_reference(voice: str, what: str = "voice") -> Path:
    """The audio file behind `voice`: a path, or a recording in the voice library by its name, with or without
    its extension ("narrator", "narrator.wav")."""
    path = Path(voice).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise InputError(f"{what} {voice} is a folder: give an audio file")
    folder = voice_library()
    named = folder / voice
    if named.suffix.lower() in AUDIO_SUFFIXES and named.is_file():
        return named
    found = [folder / f"{voice}{suffix}" for suffix in AUDIO_SUFFIXES if (folder / f"{voice}{suffix}").is_file()]
    if len(found) > 1:
        raise InputError(f"{what} {voice!r} is {' and '.join(f.name for f in found)} in {folder}: give the file name")
    if found:
        return found[0]
    ids = [v.id for v in library_voices()]
    same = [i for i in ids if i.lower() == voice.lower()]         # a name in another letter case
    if len(same) == 1:
        return resolve_reference(same[0], what)
    close = difflib.get_close_matches(voice.lower(), [i.lower() for i in ids], n=3, cutoff=0.6)
    meant = f"did you mean {' or '.join(i for i in ids if i.lower() in close)}? " if close else ""
    raise InputError(f"{what} {voice!r} is neither an audio file nor a voice in {folder} ({meant}library voices: "
                     f"{', '.join(ids) or 'none'})")
