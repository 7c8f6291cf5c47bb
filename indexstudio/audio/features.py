"""Spectral features of prompt audio, as each IndexTTS version computes them.

* `s2mel_mel_spectrogram` - the 80-bin log mel of the 2.x S2Mel stage (HiFi-GAN
  style: reflect padding, no centring, librosa's Slaney mel filterbank).
* `kaldi_fbank` - Kaldi-compatible log mel filterbank energies (torchaudio's
  `compliance.kaldi.fbank` defaults) that feed the CAMPPlus speaker encoder.
* `log_mel_100` - 1.5's conditioning / vocoder-reference mel
  (torchaudio `MelSpectrogram`: centred STFT magnitude, HTK mel scale, no filter
  normalisation, log clamped at 1e-7).

Filterbanks are built here with numpy in float64 so neither librosa nor
torchaudio is needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------- mel scales


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear_step = 200.0 / 3
    knee_hz, knee_mel = 1000.0, 1000.0 / linear_step
    log_step = math.log(6.4) / 27.0
    above = hz >= knee_hz
    return np.where(above, knee_mel + np.log(np.maximum(hz, knee_hz) / knee_hz) / log_step, hz / linear_step)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear_step = 200.0 / 3
    knee_hz, knee_mel = 1000.0, 1000.0 / linear_step
    log_step = math.log(6.4) / 27.0
    above = mel >= knee_mel
    return np.where(above, knee_hz * np.exp(log_step * (mel - knee_mel)), mel * linear_step)


def _hz_to_mel_htk(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz_htk(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def _triangles(edges_hz: np.ndarray, bin_hz: np.ndarray) -> np.ndarray:
    """(n_filters, n_bins) triangles, filter k rising on edges[k]..edges[k+1] and falling to edges[k+2]."""
    rise = (bin_hz[None, :] - edges_hz[:-2, None]) / np.diff(edges_hz)[:-1, None]
    fall = (edges_hz[2:, None] - bin_hz[None, :]) / np.diff(edges_hz)[1:, None]
    return np.maximum(0.0, np.minimum(rise, fall))


@lru_cache(maxsize=16)
def slaney_mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft//2+1) float32 filters equal to `librosa.filters.mel` defaults (Slaney scale, area norm)."""
    fmax = sr / 2 if fmax is None else fmax
    bin_hz = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_edges = np.linspace(_hz_to_mel_slaney(fmin), _hz_to_mel_slaney(fmax), n_mels + 2)
    edges_hz = _mel_to_hz_slaney(mel_edges)
    # librosa fills a float32 array before scaling each filter to unit area
    weights = _triangles(edges_hz, bin_hz).astype(np.float32)
    area_norm = 2.0 / (edges_hz[2:] - edges_hz[:-2])
    weights *= area_norm[:, None]
    return weights


@lru_cache(maxsize=16)
def htk_mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft//2+1) unnormalised HTK-scale filters as torchaudio's `melscale_fbanks` builds them."""
    fmax = float(sr // 2) if fmax is None else fmax
    bin_hz = np.linspace(0.0, sr // 2, n_fft // 2 + 1)
    edges_hz = _mel_to_hz_htk(np.linspace(_hz_to_mel_htk(fmin), _hz_to_mel_htk(fmax), n_mels + 2))
    return _triangles(edges_hz, bin_hz)


@lru_cache(maxsize=16)
def kaldi_mel_filterbank(n_mels: int, padded_window: int, sr: float, low_hz: float = 20.0, high_hz: float = 0.0) -> np.ndarray:
    """(n_mels, padded_window//2+1) Kaldi mel banks: triangles linear in mel (1127 ln(1 + f/700)).

    A non-positive `high_hz` counts down from Nyquist, as in Kaldi.  The Nyquist
    bin gets zero weight.
    """
    nyquist = 0.5 * sr
    if high_hz <= 0.0:
        high_hz += nyquist
    if not 0.0 <= low_hz < high_hz <= nyquist:
        raise ValueError(f"bad mel band edges low={low_hz} high={high_hz} for sample rate {sr}")
    to_mel = lambda f: 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)  # noqa: E731
    mel_edges = np.linspace(to_mel(low_hz), to_mel(high_hz), n_mels + 2)
    bin_mel = to_mel(np.arange(padded_window // 2) * (sr / padded_window))
    banks = _triangles(mel_edges, bin_mel)
    return np.pad(banks, ((0, 0), (0, 1)))


# ------------------------------------------------------------ S2Mel (2.x) mel


@dataclass(frozen=True)
class S2MelSpectrogramParams:
    """STFT / mel settings of the S2Mel reference mel (config `s2mel.preprocess_params`)."""

    sampling_rate: int = 22050
    n_fft: int = 1024
    win_size: int = 1024
    hop_size: int = 256
    num_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None

    @classmethod
    def from_config(cls, s2mel_cfg: dict) -> "S2MelSpectrogramParams":
        pre = s2mel_cfg["preprocess_params"]
        spect = pre["spect_params"]
        # the official loader maps any fmax other than the string "None" to 8000 Hz
        fmax = None if spect.get("fmax", "None") == "None" else 8000.0
        return cls(
            sampling_rate=int(pre["sr"]),
            n_fft=int(spect["n_fft"]),
            win_size=int(spect["win_length"]),
            hop_size=int(spect["hop_length"]),
            num_mels=int(spect["n_mels"]),
            fmin=float(spect.get("fmin", 0)),
            fmax=fmax,
        )


def s2mel_mel_spectrogram(wav: torch.Tensor, params: S2MelSpectrogramParams = S2MelSpectrogramParams()) -> torch.Tensor:
    """(B, N) waveform in [-1, 1] -> (B, num_mels, frames) natural-log mel, clamped at 1e-5."""
    if wav.dim() != 2:
        raise ValueError(f"s2mel_mel_spectrogram expects (batch, samples), got shape {tuple(wav.shape)}")
    side = (params.n_fft - params.hop_size) // 2
    padded = F.pad(wav.unsqueeze(1), (side, side), mode="reflect").squeeze(1)
    window = torch.hann_window(params.win_size, dtype=wav.dtype, device=wav.device)
    spec = torch.stft(padded, params.n_fft, hop_length=params.hop_size, win_length=params.win_size,
                      window=window, center=False, normalized=False, onesided=True, return_complex=True)
    magnitude = torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9)
    basis = slaney_mel_filterbank(params.sampling_rate, params.n_fft, params.num_mels, params.fmin, params.fmax)
    mel = torch.from_numpy(basis).to(dtype=wav.dtype, device=wav.device) @ magnitude
    return torch.log(mel.clamp(min=1e-5))


# ------------------------------------------------------------- Kaldi fbank


def kaldi_fbank(
    wav: torch.Tensor,
    num_mel_bins: int = 80,
    sample_frequency: float = 16000.0,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    preemphasis: float = 0.97,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
) -> torch.Tensor:
    """Log mel filterbank energies (frames, num_mel_bins) of the first channel of `wav`.

    Kaldi/torchaudio defaults: edge-snipped frames, DC removal, pre-emphasis,
    Povey window, zero-padded power-of-two FFT, power spectrum, no dither.
    `wav` is (N,) or (channels, N), on the [-1, 1] float scale.
    """
    signal = wav if wav.dim() == 1 else wav[0]
    if not signal.is_floating_point():
        raise TypeError(f"kaldi_fbank expects a floating-point waveform, got {wav.dtype}")
    frame_len = int(sample_frequency * frame_length_ms * 0.001)
    shift = int(sample_frequency * frame_shift_ms * 0.001)
    fft_len = 1 << (frame_len - 1).bit_length()
    if signal.numel() < frame_len:
        return signal.new_zeros(0, num_mel_bins)

    frames = signal.unfold(0, frame_len, shift)  # (1 + (N - frame_len) // shift, frame_len)
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)  # first sample is its own predecessor
    frames = frames - preemphasis * previous
    povey = torch.hann_window(frame_len, periodic=False, dtype=signal.dtype, device=signal.device).pow(0.85)
    frames = F.pad(frames * povey, (0, fft_len - frame_len))
    power = torch.fft.rfft(frames).abs().pow(2)

    banks = kaldi_mel_filterbank(num_mel_bins, fft_len, float(sample_frequency), low_freq, high_freq)
    energies = power @ torch.from_numpy(banks).to(dtype=signal.dtype, device=signal.device).T
    return energies.clamp(min=torch.finfo(signal.dtype).eps).log()


def centered_fbank(wav_16k: torch.Tensor, num_mel_bins: int = 80) -> torch.Tensor:
    """Kaldi fbank at 16 kHz with the per-utterance mean removed: the CAMPPlus input (frames, bins)."""
    fbank = kaldi_fbank(wav_16k, num_mel_bins=num_mel_bins, sample_frequency=16000.0)
    return fbank - fbank.mean(dim=0, keepdim=True)


# ------------------------------------------------------------- 1.5 mel


def log_mel_100(
    wav: torch.Tensor,
    sample_rate: int = 24000,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 100,
) -> torch.Tensor:
    """1.5's `MelSpectrogramFeatures()`: (B, N) 24 kHz audio -> (B, n_mels, 1 + N // hop) log mel."""
    if wav.dim() != 2:
        raise ValueError(f"log_mel_100 expects (batch, samples), got shape {tuple(wav.shape)}")
    window = torch.hann_window(n_fft, dtype=wav.dtype, device=wav.device)
    spec = torch.stft(wav, n_fft, hop_length=hop_length, win_length=n_fft, window=window, center=True,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    basis = torch.from_numpy(htk_mel_filterbank(sample_rate, n_fft, n_mels)).to(dtype=wav.dtype, device=wav.device)
    mel = basis @ spec.abs()
    return torch.log(mel.clamp(min=1e-7))
