"""TEST HELPER ONLY: a fast, deterministic engine that makes tones instead of speech.

It lets pipeline tests render thousands of segments in seconds.  Each segment
is a tone whose length follows the text length and whose level varies from
segment to segment (so loudness matching has something to fix).  It counts
what it was asked to render and can be told to fail at a given call, to test
resuming.
"""
from __future__ import annotations

import zlib
from typing import Iterator, Sequence

import numpy as np

from indexstudio.engines.base import Controls, Engine, SegmentAudio, Voice


class SyntheticEngine(Engine):
    name = "synthetic"
    sample_rate = 16000
    default_voice = "tone"

    def __init__(self, seconds_per_char: float = 0.01, fail_at_call: int | None = None,
                 fail_with: type[Exception] = RuntimeError):
        self.seconds_per_char = seconds_per_char
        self.fail_at_call, self.fail_with = fail_at_call, fail_with
        self.rendered: list[str] = []
        self.batches: list[int] = []

    def voices(self) -> list[Voice]:
        return [Voice("tone", "en-us", "female", "test tone"), Voice("low", "en-us", "male", "lower test tone")]

    def synthesize(self, segments: Sequence[str], voice: str, controls: Controls = Controls()) -> Iterator[SegmentAudio]:
        self.batches.append(len(segments))
        for i, text in enumerate(segments):
            if self.fail_at_call is not None and len(self.rendered) == self.fail_at_call:
                raise self.fail_with("synthetic failure")
            self.rendered.append(text)
            n = max(1, int(len(text) * self.seconds_per_char * self.sample_rate / controls.speed))
            freq = 220.0 if voice == "low" else 440.0
            level = 0.05 + 0.5 * (zlib.crc32(text.encode()) % 100) / 100      # varies per segment
            t = np.arange(n, dtype=np.float32) / self.sample_rate
            yield SegmentAudio(i, (level * np.sin(2 * np.pi * freq * t)).astype(np.float32))
