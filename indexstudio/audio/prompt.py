"""Loading reference (prompt) audio the way each IndexTTS version does.

2.x reads prompts with `librosa.load(path, sr=...)`: mono by channel mean,
resampled by soxr at 'HQ' quality, length fixed to ceil(N * new / old), then
cut to 15 s.  1.5 reads with torchaudio, averages channels and resamples to
24 kHz with the windowed-sinc filter of `indexstudio.audio.resample`.  Both
read 16-bit PCM as int / 32768, which is what soundfile gives us here.
"""
from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from indexstudio.audio.resample import resample
from indexstudio.errors import InputError

V2_SAMPLE_RATE = 22050
V2_MAX_PROMPT_SECONDS = 15.0
V1_5_SAMPLE_RATE = 24000
V1_5_MAX_PROMPT_SECONDS = 50.0


SHORT_PROMPT_SECONDS = 1.0     # below this a prompt is warned about (the golden cases' prompts are 1.1-1.2 s)
MIN_PROMPT_SECONDS = 0.5       # below this no engine clones a voice from it: refused before any model loads
QUIET_PROMPT_DB = -50.0        # RMS below this (speech is -30 to -15 dBFS): warned about, no voice is in it
log = logging.getLogger(__name__)


class AudioError(InputError, ValueError):
    """Prompt audio that cannot be used: missing, unreadable, empty or not finite."""


@functools.lru_cache(maxsize=256)
def warn_once(message: str) -> None:
    """Log a warning once: a reference file's (the voice check, the speaker and the emotion stages all read it), or
    one every segment of a book would repeat."""
    log.warning(message)


def read_audio(path: str | Path, warn_short: bool = True, what: str = "audio file") -> tuple[np.ndarray, int]:
    """(channels, samples) float32 in [-1, 1] and the file's sample rate; AudioError naming the file (as `what`:
    "emotion reference") otherwise."""
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{what} {path} is a folder: give an audio file")
    if not path.is_file():
        raise AudioError(f"{what} not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as exc:
        decoded = _decoded_by_ffmpeg(path)
        if decoded is None:
            raise AudioError(f"cannot read {what} {path}: {exc} (neither libsndfile - WAV, FLAC, MP3, Ogg - nor "
                             f"ffmpeg could decode it)") from exc
        data, sr = decoded
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError(f"{what} {path} contains no samples")
    if not np.isfinite(data).all():
        raise AudioError(f"{what} {path} contains NaN or infinite samples")
    if not np.abs(data).max() > 0:
        raise AudioError(f"{what} {path} is {data.shape[0] / sr:.2f} s of silence (every sample is zero): a voice "
                         "needs recorded speech")
    if warn_short and data.shape[0] < SHORT_PROMPT_SECONDS * sr:
        _warn_short(path, data.shape[0] / sr)
    return np.ascontiguousarray(data.T), int(sr)


def _decoded_by_ffmpeg(path: Path) -> tuple[np.ndarray, int] | None:
    """A recording libsndfile cannot read - a phone's M4A voice memo, AAC, WMA, a video's sound - decoded by the
    ffmpeg the outputs are encoded with, at its own rate and channels; None where ffmpeg cannot either."""
    import subprocess
    import tempfile

    from indexstudio.audio.output import ffmpeg_exe
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "decoded.wav"
        try:
            done = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-vn", "-acodec",
                                   "pcm_f32le", str(wav)], capture_output=True, timeout=300)
            if done.returncode or not wav.is_file():
                return None
            data, sr = sf.read(str(wav), dtype="float32", always_2d=True)
        except (OSError, subprocess.SubprocessError, sf.SoundFileError, RuntimeError):
            return None
    return data, int(sr)


def _warn_short(path: Path, seconds: float) -> None:
    warn_once(f"reference audio {path} is {seconds:.2f} s long; a voice is cloned best from 3-15 s of clean speech")


def check_reference(path: Path, what: str = "reference audio") -> None:
    """Refuse a recording no voice can be cloned from (unreadable, silent, under MIN_PROMPT_SECONDS) before any
    model loads, the same on every engine (a short one is warned about as it is read)."""
    data, sr = read_audio(path, warn_short=False, what=what)
    seconds = data.shape[-1] / sr
    if seconds < MIN_PROMPT_SECONDS:
        raise AudioError(f"{what} {path} is {seconds:.2f} s long: too short to clone a voice from (at least "
                         f"{MIN_PROMPT_SECONDS:g} s; 3-15 s of clean speech is best)")
    if seconds < SHORT_PROMPT_SECONDS:
        _warn_short(Path(path), seconds)
    level = 10 * np.log10(max(float(np.mean(np.square(data, dtype=np.float64))), 1e-20))
    if level < QUIET_PROMPT_DB:
        warn_once(f"{what} {path} is very quiet (RMS {level:.0f} dBFS): is it a recording of speech? A muted "
                  f"microphone's hiss clones no voice")


def _cut(audio: torch.Tensor, sample_rate: int, max_seconds: float | None, path: Path) -> torch.Tensor:
    if max_seconds is None:
        return audio
    limit = int(max_seconds * sample_rate)
    if audio.shape[-1] > limit:
        warn_once(f"reference audio {path} is {audio.shape[-1] / sample_rate:.1f} s long; only the first "
                  f"{max_seconds:g} s are used")
        audio = audio[..., :limit]
    return audio


def soxr_resample(mono: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """librosa's default resampler (soxr HQ), with librosa's output length ceil(N * new / orig)."""
    if orig_sr == new_sr:
        return mono
    out = soxr.resample(mono, orig_sr, new_sr, quality="HQ")
    size = int(math.ceil(mono.shape[-1] * float(new_sr) / orig_sr))
    if out.shape[-1] < size:
        out = np.pad(out, (0, size - out.shape[-1]))
    return np.asarray(out[:size], dtype=mono.dtype)


def load_prompt_v2(
    path: str | Path,
    sample_rate: int = V2_SAMPLE_RATE,
    max_seconds: float | None = V2_MAX_PROMPT_SECONDS,
) -> torch.Tensor:
    """2.x prompt: (1, N) float32 mono at `sample_rate`, cut to `max_seconds` (with a warning)."""
    data, file_sr = read_audio(path)
    mono = data.mean(axis=0) if data.shape[0] > 1 else data[0]
    mono = soxr_resample(mono, file_sr, sample_rate)
    return _cut(torch.from_numpy(np.ascontiguousarray(mono)).unsqueeze(0), sample_rate, max_seconds, Path(path))


def load_prompt_v1_5(
    path: str | Path,
    sample_rate: int = V1_5_SAMPLE_RATE,
    max_seconds: float | None = V1_5_MAX_PROMPT_SECONDS,
) -> torch.Tensor:
    """1.5 prompt: channel mean, sinc resampling to `sample_rate`, cut to `max_seconds`; (1, N) float32."""
    data, file_sr = read_audio(path)
    audio = torch.from_numpy(data).mean(dim=0, keepdim=True)
    audio = resample(audio, file_sr, sample_rate)
    return _cut(audio, sample_rate, max_seconds, Path(path))
