"""Per-segment clean-up so a book sounds even: edge trimming and loudness matching."""
from __future__ import annotations

import functools

import numpy as np

DEFAULT_LOUDNESS = -20.0      # LUFS; inside the ACX audiobook window (-18 to -23 dB RMS)
_MAX_GAIN_DB = 12.0
_PEAK = 10 ** (-1.0 / 20)     # -1 dBFS ceiling
_MIN_GATED_SECONDS = 0.4      # BS.1770 needs at least one 400 ms block


@functools.lru_cache(maxsize=8)
def _meter(sample_rate: int):
    import pyloudnorm
    return pyloudnorm.Meter(sample_rate)


def trim_silence(audio: np.ndarray, sample_rate: int, threshold_db: float = -50.0, pad_ms: float = 20.0) -> np.ndarray:
    """Cut leading/trailing near-silence so the gaps between segments are the ones we choose."""
    if audio.size == 0:
        return audio
    loud = np.flatnonzero(np.abs(audio) > 10 ** (threshold_db / 20))
    if loud.size == 0:
        return audio[:0]
    pad = int(sample_rate * pad_ms / 1000)
    return audio[max(0, loud[0] - pad): loud[-1] + 1 + pad]


def loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) for long enough audio, RMS level in dBFS - 3 dB otherwise."""
    if audio.size >= _MIN_GATED_SECONDS * sample_rate:
        value = _meter(sample_rate).integrated_loudness(audio.astype(np.float64))
        if np.isfinite(value):
            return float(value)
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20 * np.log10(rms) - 3.0 if rms > 0 else float("-inf")


def match_loudness(audio: np.ndarray, sample_rate: int, target: float = DEFAULT_LOUDNESS) -> np.ndarray:
    """Scale `audio` towards `target` loudness (at most +/-12 dB), never past -1 dBFS peak."""
    level = loudness(audio, sample_rate)
    if not np.isfinite(level):
        return audio
    gain = 10 ** (float(np.clip(target - level, -_MAX_GAIN_DB, _MAX_GAIN_DB)) / 20)
    peak = float(np.max(np.abs(audio))) * gain
    if peak > _PEAK:
        gain *= _PEAK / peak
    return (audio * gain).astype(np.float32)
