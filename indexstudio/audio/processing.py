"""Per-segment clean-up so a book sounds even: edge trimming and loudness matching."""
from __future__ import annotations

import functools

import numpy as np

DEFAULT_LOUDNESS = -20.0      # LUFS; inside the ACX audiobook window (-18 to -23 dB RMS)
_MAX_GAIN_DB = 12.0
# -3.5 dB true peak: ACX and most audiobook stores allow -3 dB peaks in the file they get, and a lossy encoding
# (resampled to 44.1 kHz) rises ~0.3 dB over the true peak of what it was given
PEAK_CEILING = 10 ** (-3.5 / 20)
_OVERSAMPLE = 4               # true peak: the level between samples, as BS.1770 measures it
_LIMITER_MS = 10.0            # how far ahead of a peak the limiter starts turning down, and how long it recovers
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


def limit_peaks(audio: np.ndarray, sample_rate: int, ceiling: float = PEAK_CEILING) -> np.ndarray:
    """`audio` with the gain turned down smoothly around each true peak (between samples too) over `ceiling`, and
    nowhere else (a look-ahead limiter: one loud syllable no longer turns a whole sentence down)."""
    if audio.size == 0 or float(np.abs(audio).max()) <= ceiling / 2:    # (6 dB: more than speech ever has between
        return audio                                                      # its samples)
    from scipy.ndimage import minimum_filter1d, uniform_filter1d
    from scipy.signal import resample_poly

    between = np.abs(resample_poly(audio.astype(np.float64), _OVERSAMPLE, 1))[:audio.size * _OVERSAMPLE]
    level = np.maximum(np.abs(audio), between.reshape(-1, _OVERSAMPLE).max(axis=1))
    if float(level.max()) <= ceiling:
        return audio

    width = max(1, int(sample_rate * _LIMITER_MS / 1000))
    needed = np.minimum(1.0, ceiling / np.maximum(level, 1e-12))
    # the least gain within `width` either side, averaged over `width`: every average holds only values at most
    # the gain its own sample needs, so no peak passes the ceiling, and the gain glides instead of stepping
    gain = uniform_filter1d(minimum_filter1d(needed, 2 * width + 1, mode="nearest"), width + 1, mode="nearest")
    return np.minimum(np.maximum(audio * gain, -ceiling), ceiling).astype(np.float32)


def match_loudness(audio: np.ndarray, sample_rate: int, target: float = DEFAULT_LOUDNESS) -> np.ndarray:
    """Scale `audio` towards `target` loudness (at most +/-12 dB), its true peaks limited to -3.5 dB."""
    level = loudness(audio, sample_rate)
    if not np.isfinite(level):
        return limit_peaks(audio, sample_rate)
    gain = 10 ** (float(np.clip(target - level, -_MAX_GAIN_DB, _MAX_GAIN_DB)) / 20)
    return limit_peaks((audio * gain).astype(np.float32), sample_rate)
