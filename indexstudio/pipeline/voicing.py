"""Who speaks and how: the engine, the voice, the language and the controls of a request, each checked before any
work starts, so that a mistyped voice or option fails in a second and not after a model's load or a chapter.

Errors name the command line's flag for a setting (`--speed`, `--lang`, `--voice`): the keywords of the Python
functions carry the same names.
"""
from __future__ import annotations

import logging
import numbers
from pathlib import Path
from typing import Any

from indexstudio.engines import DEFAULT_ENGINE, Controls, Engine, engine_names, get_engine
from indexstudio.errors import InputError
from indexstudio.text.language import detect_language, is_language, language_code, likely_language
from indexstudio.text.lexicon import Lexicon

log = logging.getLogger("indexstudio")


# the engine options the command line gives by flags of their own
FLAG_OPTIONS = {"emo_audio": "--emotion-audio", "emo_alpha": "--emotion-alpha", "emo_vector": "--emotion",
                "emo_text": "--emotion-text", "use_emo_text": "--emotion-from-text"}


def engine_of(engine: Engine | str | None) -> Engine:
    """An engine given by name (built once per process, with default settings) or as it is."""
    if engine is None or isinstance(engine, str):
        return get_engine(engine or DEFAULT_ENGINE)
    if not isinstance(engine, Engine):
        raise InputError(f"engine: give an engine's name ({', '.join(engine_names())}) or what get_engine() "
                         f"returns, not {engine!r}")
    return engine


def lexicon_of(lexicon: Lexicon | str | Path | dict[str, str] | None) -> Lexicon | None:
    """A lexicon given as its file (read and checked now), as {written: spoken}, or as a Lexicon: a fresh one, so
    that this text's count of replacements is its own."""
    if lexicon is None:
        return None
    if isinstance(lexicon, (str, Path)):
        return Lexicon.load(lexicon)
    if isinstance(lexicon, Lexicon):
        return Lexicon(lexicon.entries, lexicon.source)
    return Lexicon(lexicon, "given")


def told_lexicon(lexicon: Lexicon | None, where: str = "the text") -> None:
    """Say how the lexicon served the text (`where`: "chapters 1-3", some of a book): a warning where an entry
    never matched (a typo?)."""
    if lexicon:
        (log.warning if any(not lexicon.uses[w] for w in lexicon.entries) else log.info)("%s", lexicon.summary(where))


def checked_language(engine: Engine, language: str | None) -> str | None:
    """`language` as a language code ("English" -> "en"), or an InputError; an engine that reads the language itself
    (IndexTTS-2.5) checks it against its own list, with its options."""
    if language is not None and not isinstance(language, str):
        raise InputError(f"--lang must be a language code such as \"en\" or \"fr\", got {language!r}")
    if language is None:
        return language
    if not engine.default_voice and not engine.language_option:
        log.warning("--lang has no effect on engine %s: it reads the language from the text", engine.name)
    if engine.language_option:           # (IndexTTS-2.5 knows codes without regions: "en-GB" is "en" to it)
        return language_code(language).partition("-")[0] if is_language(language) else language
    if not is_language(language):
        raise InputError(f"--lang {language}: not a language code this knows (two letters, with a region where it "
                         "matters: en, en-GB, fr, de, es, zh, ja, ...)")
    return language_code(language)


def choose_voice(engine: Engine, requested: str | Path | None, text: str, language: str = "") -> str:
    """The voice asked for (an id, or a recording's file), or the engine's choice for `text` in `language` (asked for,
    else the book's tag); a voice asked for that speaks another language than the text's is named in a warning."""
    requested = None if requested is None else str(requested)
    if requested is not None and not requested.strip():
        raise InputError("--voice is empty: leave it out to have one chosen")
    voice = requested or engine.voice_for(text[:20000], language)
    if not voice:
        raise InputError(f"engine {engine.name} needs --voice (a reference audio file)")
    voice = engine.check_voice(voice)
    if not requested and not language and engine.default_voice and not detect_language(text):
        guess = likely_language(text)               # (a short text stays with the default voice: say what it reads as)
        spoken = engine.language_of(voice).partition("-")[0]
        if guess and guess != spoken and any(v.language.partition("-")[0] == guess for v in engine.voices()):
            log.warning("the text looks like language %r, too short to be sure: %s reads it as %r (--lang %s "
                        "chooses a voice of it)", guess, voice, spoken, guess)
    if requested and engine.default_voice:         # (a cloning engine speaks as its recording does)
        written = (language or detect_language(text)).lower().partition("-")[0]
        spoken = engine.language_of(voice)
        if written and written != spoken.partition("-")[0]:
            log.warning("the text %s language %r, and voice %s speaks %r: expect a foreign accent or garbled words "
                        "(leave --voice out to have one chosen)", "is in" if language else "reads as", written, voice,
                        spoken)
    return voice


def engine_controls(engine: Engine, speed: float = 1.0, seed: int | None = None,
                    options: dict[str, Any] | None = None, language: str | None = None) -> Controls:
    """Speed, seed and engine options (IndexTTS: emo_audio, emo_alpha, emo_vector, emo_text, use_emo_text, top_k,
    temperature, num_beams, ...) as `engine` takes them, or an InputError naming what it does not take."""
    if isinstance(speed, bool) or not isinstance(speed, numbers.Real):
        raise InputError(f"--speed must be a number, got {speed!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise InputError(f"--seed must be a whole number, got {seed!r}")
    speed = speed if isinstance(speed, (int, float)) else float(speed)        # (numpy's: JSON takes builtins)
    seed = None if seed is None else int(seed)
    if speed <= 0:
        raise InputError("--speed must be positive")
    options = dict(options or {})
    if language is not None and engine.language_option:
        options["lang"] = language
    engine.check_speed(speed)
    if seed is not None and not engine.samples:
        log.warning("--seed has no effect on engine %s: it does not sample", engine.name)
    engine.check_options(options)
    return Controls(speed, seed, options)
