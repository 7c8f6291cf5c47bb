"""IndexStudio: long-form, cloned-voice text to speech (IndexTTS 1.5 / 2 / 2.5 and an embedded Kokoro voice).

From a program, as from the command line:

    import indexstudio
    indexstudio.speak("Hello there.", "hello.mp3")                        # the embedded voice
    indexstudio.make_audiobook("novel.epub", "novel.m4b", chapters="1")   # resumable, like `indexstudio book`
    engine = indexstudio.get_engine("indextts2", model_dir="checkpoints/", device="cuda")
    indexstudio.speak("Welcome back.", "out.wav", engine=engine, voice="me.wav")
"""

import logging
from typing import TYPE_CHECKING

__version__ = "0.1.0"
logging.getLogger("indexstudio").addHandler(logging.NullHandler())    # (the application chooses where notes go)

# name -> the module that holds it, imported on first use (`import indexstudio` loads neither torch nor a model)
_API = {
    "speak": "indexstudio.pipeline.speech", "prepare_speech": "indexstudio.pipeline.speech",
    "Speech": "indexstudio.pipeline.speech", "SpeechResult": "indexstudio.pipeline.speech",
    "make_audiobook": "indexstudio.pipeline.audiobook", "open_audiobook": "indexstudio.pipeline.audiobook",
    "Audiobook": "indexstudio.pipeline.audiobook", "Estimate": "indexstudio.pipeline.audiobook",
    "RenderSettings": "indexstudio.pipeline.job", "RenderResult": "indexstudio.pipeline.job",
    "Progress": "indexstudio.pipeline.job", "ChapterMark": "indexstudio.audio.output",
    "Limits": "indexstudio.books.reader", "Engine": "indexstudio.engines.base", "Voice": "indexstudio.engines.base",
    "get_engine": "indexstudio.engines", "engine_names": "indexstudio.engines",
    "release_engines": "indexstudio.engines", "Lexicon": "indexstudio.text.lexicon",
    "IndexStudioError": "indexstudio.errors", "InputError": "indexstudio.errors", "EngineError": "indexstudio.errors",
}
__all__ = sorted(_API)

if TYPE_CHECKING:        # what type checkers and editors see (at run time each is imported on first use)
    from indexstudio.audio.output import ChapterMark
    from indexstudio.books.reader import Limits
    from indexstudio.engines import engine_names, get_engine, release_engines
    from indexstudio.engines.base import Engine, Voice
    from indexstudio.errors import EngineError, IndexStudioError, InputError
    from indexstudio.pipeline.audiobook import Audiobook, Estimate, make_audiobook, open_audiobook
    from indexstudio.pipeline.job import Progress, RenderResult, RenderSettings
    from indexstudio.pipeline.speech import Speech, SpeechResult, prepare_speech, speak
    from indexstudio.text.lexicon import Lexicon


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'indexstudio' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(_API[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
