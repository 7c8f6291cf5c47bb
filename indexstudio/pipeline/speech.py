"""A text to speech, for a program or the `speak` command: checked, normalised and cut into segments by paragraph
up front; then spoken segment after segment, with pauses between them, as audio pieces that come as soon as each
segment exists (streaming), into an audio file, or into one array.

    import indexstudio
    indexstudio.speak("Hello there. It is 5 p.m.", "hello.mp3", voice="bm_george")
    engine = indexstudio.get_engine("indextts2", model_dir="checkpoints/")
    speech = indexstudio.prepare_speech("A longer text ...", engine=engine, voice="me.wav")
    for piece in speech.pieces():   # float32 mono at speech.sample_rate, a segment at a time
        ...
"""
from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from indexstudio.books.reader import has_speech, without_emphasis
from indexstudio.engines import Controls, Engine
from indexstudio.errors import InputError
from indexstudio.pipeline.job import RenderSettings
from indexstudio.pipeline.voicing import (checked_language, choose_voice, engine_controls, engine_of, lexicon_of,
                                          told_lexicon)
from indexstudio.text.lexicon import Lexicon
from indexstudio.text.segment import DEFAULT_MAX_TOKENS, segment_paragraphs

log = logging.getLogger("indexstudio")


@dataclass
class SpeechResult:
    output: Path
    audio_seconds: float
    wall_seconds: float
    first_audio_seconds: float   # from the call to the first segment's audio: what a listener waits
    segments: int
    sample_rate: int             # the engine's (the file's may differ: `sample_rate` of `save`)


class Speech:
    """A text ready to be spoken: its segments (normalised for the engine), where its paragraphs start, the engine,
    the voice and the controls. Speaking it holds one segment's audio at a time, however long the text."""

    def __init__(self, engine: Engine, voice: str, controls: Controls, paragraphs: list[list[str]],
                 pauses: RenderSettings = RenderSettings()):
        self.engine, self.voice, self.controls, self.pauses = engine, voice, controls, pauses
        self.segments = [segment for paragraph in paragraphs for segment in paragraph]
        self._paragraph_starts = set(itertools.accumulate(map(len, paragraphs)))

    @property
    def sample_rate(self) -> int:
        return self.engine.sample_rate

    def pieces(self) -> Iterator[np.ndarray]:
        """The speech as float32 mono pieces, a segment each, in order, each as soon as its segment (and those before
        it) exist: the pause after the sentence or paragraph before it, then its audio."""
        waiting: dict[int, np.ndarray] = {}      # (an engine may finish a later segment first)
        n = 0
        for result in self.engine.synthesize(self.segments, self.voice, self.controls):
            waiting[result.index] = result.audio
            while n in waiting:
                ms = 0 if n == 0 else \
                    self.pauses.paragraph_gap_ms if n in self._paragraph_starts else self.pauses.segment_gap_ms
                yield np.concatenate([np.zeros(self.sample_rate * ms // 1000, np.float32),
                                      np.asarray(waiting.pop(n), np.float32)])
                n += 1
        if n < len(self.segments):
            raise RuntimeError(f"engine {self.engine.name} gave {n} of {len(self.segments)} segments")

    def audio(self) -> np.ndarray:
        """The whole speech as one array (for a short text: a long one is better written by `save`)."""
        return np.concatenate(list(self.pieces()))

    def save(self, output: str | Path, fmt: str | None = None, bitrate: str | None = None,
             sample_rate: int | None = None, on_segment: Callable[[], None] | None = None) -> SpeechResult:
        """Write the speech to `output` (.wav, .mp3, .m4b/.m4a, .opus/.ogg, or `fmt`) at `sample_rate` (default: the
        engine's); `on_segment()` follows each segment written. The file appears complete or not at all."""
        from indexstudio.audio.output import AudioWriter, naming_a_full_disk
        fmt = checked_output(output, fmt, bitrate, sample_rate)
        if fmt == "wav" and bitrate:
            log.warning("--bitrate has no effect on WAV output (uncompressed 16-bit PCM)")
        start = time.perf_counter()
        first_audio = None
        with naming_a_full_disk(Path(output).parent), \
                AudioWriter(output, self.sample_rate, fmt, bitrate=bitrate, output_rate=sample_rate) as writer:
            for piece in self.pieces():
                first_audio = first_audio or time.perf_counter() - start
                writer.write(piece)
                if on_segment:
                    on_segment()
        return SpeechResult(Path(output), writer.samples / self.sample_rate, time.perf_counter() - start,
                            first_audio or 0.0, len(self.segments), self.sample_rate)


def checked_output(output: str | Path, fmt: str | None, bitrate: str | None, sample_rate: int | None) -> str:
    """The format of `output`, its bitrate and sample rate checked for it and its folder made: an InputError before
    any work."""
    from indexstudio.audio.output import (check_bitrate, check_format_rate, check_sample_rate, format_of,
                                          make_output_folder)
    fmt = format_of(Path(output), fmt)
    check_sample_rate(sample_rate)
    check_format_rate(fmt, sample_rate)
    check_bitrate(fmt, bitrate, sample_rate or 24000)       # (the engines speak at 22-24 kHz: one range)
    make_output_folder(Path(output))
    return fmt


def prepare_speech(text: str, *, engine: Engine | str | None = None, voice: str | None = None,
                   lang: str | None = None, speed: float = 1.0, seed: int | None = None,
                   options: dict[str, Any] | None = None, lexicon: Lexicon | str | Path | dict[str, str] | None = None,
                   gap_ms: int = 400, paragraph_gap_ms: int = 900,
                   max_segment_tokens: int = DEFAULT_MAX_TOKENS) -> Speech:
    """`text` checked and made ready for `engine` (an Engine, or its name; default the embedded one) to speak with
    `voice` (default: the engine's choice for the text's language, or `lang`): its lexicon's spoken forms put in
    (a `Lexicon` or its file), normalised and cut into segments of at most `max_segment_tokens`. Nothing is spoken
    yet; a bad voice, option or text is an InputError now."""
    if not isinstance(text, str):
        raise InputError(f"the text to speak must be a str, not {type(text).__name__} (a book's file: "
                         "open_audiobook / make_audiobook)")
    if not has_speech(text):
        raise InputError("no speakable text given")
    pauses = RenderSettings(segment_gap_ms=gap_ms, paragraph_gap_ms=paragraph_gap_ms)
    lexicon = lexicon_of(lexicon)
    engine = engine_of(engine)
    lang = checked_language(engine, lang)
    text = without_emphasis(text)
    voice = choose_voice(engine, voice, text, lang or "")
    controls = engine_controls(engine, speed, seed, options, lang)
    if lexicon:
        text = lexicon.apply(text)
        told_lexicon(lexicon)
    paragraphs = segment_paragraphs(engine.normalize(text, engine.language_of(voice)), max_segment_tokens,
                                    engine.count_tokens)
    return Speech(engine, voice, controls, paragraphs, pauses)


def speak(text: str, output: str | Path, *, fmt: str | None = None, bitrate: str | None = None,
          sample_rate: int | None = None, **settings: Any) -> SpeechResult:
    """Speak `text` into the audio file `output`; `settings` as `prepare_speech` takes them."""
    return prepare_speech(text, **settings).save(output, fmt, bitrate, sample_rate)
