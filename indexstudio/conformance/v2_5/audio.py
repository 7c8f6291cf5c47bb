"""Audio front end of IndexTTS-2.5: the 2.x handlers, which the 2.5 cases share."""
from __future__ import annotations

from indexstudio.conformance.registry import case
from indexstudio.conformance.v2.audio import fbank_and_style, load_audio, mel_spectrogram, resample_22k_to_16k

case("2.5", "a0_load_audio")(load_audio)
case("2.5", "a1_resample_22k_to_16k")(resample_22k_to_16k)
case("2.5", "a2_mel_spectrogram")(mel_spectrogram)

__all__ = ["fbank_and_style"]  # registered for 2.5 in the 2.x module
