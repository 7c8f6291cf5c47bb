"""The one interface every speech engine implements.

An engine turns a batch of text segments into audio for one voice.  It yields
each segment as soon as it is ready (possibly out of order for engines that
batch), so the pipeline can write, encode and stream without waiting.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from indexstudio.errors import InputError
from indexstudio.text.normalize import normalize_text
from indexstudio.text.segment import count_tokens

@dataclass(frozen=True)
class Voice:
    id: str
    language: str          # BCP-47-ish code, e.g. "en-us", "en-gb", "zh"
    gender: str            # "female", "male" or "" when unknown
    description: str = ""


@dataclass(frozen=True)
class Controls:
    """How to speak: shared by every engine; `options` carries engine-specific settings."""
    speed: float = 1.0
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentAudio:
    index: int             # position in the batch passed to `synthesize`
    audio: np.ndarray      # float32 mono in [-1, 1], at the engine's sample rate


class Engine(abc.ABC):
    name: str = ""
    sample_rate: int = 24000
    default_voice: str = ""
    speed_range: tuple[float, float] = (1.0, 1.0)     # the speaking rates it offers; (1, 1): no speed control
    samples: bool = True                              # draws at random (so `Controls.seed` matters)
    language_option: bool = False                     # reads the text's language from the option "lang" (--lang)

    @abc.abstractmethod
    def voices(self) -> list[Voice]:
        """The voices this engine offers (for cloning engines: the bundled prompts)."""

    @abc.abstractmethod
    def synthesize(self, segments: Sequence[str], voice: str, controls: Controls = Controls()) -> Iterator[SegmentAudio]:
        """Speak every segment; yield each one as soon as its audio exists."""

    def continuing(self, controls: Controls) -> Controls:
        """The controls for a call that continues work begun by an earlier call (a book's later engine calls):
        without the options that only shape how a stream opens, so that a segment's audio does not depend
        on which call renders it."""
        return controls

    def voice_for(self, text: str, language: str = "") -> str:
        """The voice for `text` (in `language`, a book's language tag, where known) when none is asked for: the
        default (an engine whose voices each speak one language picks one that speaks the text's)."""
        return self.default_voice

    def audio_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options that decide the audio, as a finished segment is known by them: an engine drops those that
        change only the speed and fills in defaults, so that neither makes a book render again."""
        return options

    def guessed_language(self, text: str) -> str:
        """The language an engine that reads it from the text (`language_option` unset by the run) takes `text` to
        be in; "" where it does not guess."""
        return ""

    def spoken_form(self, text: str, options: dict[str, Any] | None = None) -> str:
        """`text` as the engine reads it with `options` (a run's), for showing (`book --show-text`); the plan's
        text is already normalised for engines that normalise before segmenting."""
        return text

    def prepare(self) -> None:
        """Load what the first segment needs (an IndexTTS model's weights) now, so that work that shows
        progress starts with the rendering itself."""

    def close(self) -> None:
        """Let go of what it loaded (weights, sessions, threads); a later call loads them again."""

    def identity(self, voice: str) -> str:
        """What, besides the text and the controls, decides this engine's audio for `voice` (its model's and the
        voice's files, by size or contents), so that a book's finished segments are not mixed with those of an
        upgraded model; "" where the caller names the model (an IndexTTS folder)."""
        return ""

    def earlier_identities(self, voice: str) -> list[str]:
        """What earlier releases took as `identity(voice)`, so that the segments they rendered are found."""
        return []

    def check_voice(self, voice: str) -> str:
        """The voice as this engine will use it (a reference engine: the audio file behind a library name), or an
        InputError naming the problem: called before any work starts."""
        return voice

    def check_speed(self, speed: float) -> None:
        """Refuse a speaking rate this engine does not offer (before any work starts)."""
        low, high = self.speed_range
        if low == high and speed != low:
            raise InputError(f"engine {self.name} has no speed control: leave --speed at {low:g}")
        if not low <= speed <= high:
            raise InputError(f"--speed {speed:g} is outside what engine {self.name} offers ({low:g} to {high:g})")

    def check_options(self, options: dict[str, Any]) -> None:
        """Reject engine options this engine does not understand (before any work starts)."""
        if options:
            raise InputError(f"engine {self.name} takes no engine options (got {', '.join(sorted(options))})")

    def normalize(self, text: str, language: str) -> str:
        """Spoken form of written text (numbers, dates, abbreviations...); IndexTTS engines use their own."""
        return normalize_text(text, language)

    def count_tokens(self, text: str) -> int:
        """Length measure used to cut segments; engines with a tokenizer override it."""
        return count_tokens(text)

    def language_of(self, voice: str) -> str:
        for v in self.voices():
            if v.id == voice:
                return v.language
        return "en-us"
