"""IndexStudio: long-form, cloned-voice text to speech (IndexTTS 1.5 / 2 / 2.5 and an embedded Kokoro voice).

From a program, as from the command line:

    import indexstudio
    indexstudio.speak("Hello there.", "hello.mp3")                        # the embedded voice
    indexstudio.make_audiobook("novel.epub", "novel.m4b", chapters="1")   # resumable, like `indexstudio book`
    engine = indexstudio.get_engine("indextts2", model_dir="checkpoints/", device="cuda")
    indexstudio.speak("Welcome back.", "out.wav", engine=engine, voice="me.wav")
"""

__version__ = "0.1.0"

# name -> the module that holds it, imported on first use (`import indexstudio` loads neither torch nor a model)
_API = {
    "speak": "indexstudio.pipeline.speech", "prepare_speech": "indexstudio.pipeline.speech",
    "Speech": "indexstudio.pipeline.speech", "SpeechResult": "indexstudio.pipeline.speech",
    "make_audiobook": "indexstudio.pipeline.audiobook", "open_audiobook": "indexstudio.pipeline.audiobook",
    "Audiobook": "indexstudio.pipeline.audiobook", "RenderSettings": "indexstudio.pipeline.job",
    "RenderResult": "indexstudio.pipeline.job", "Progress": "indexstudio.pipeline.job",
    "get_engine": "indexstudio.engines", "engine_names": "indexstudio.engines", "Lexicon": "indexstudio.text.lexicon",
    "IndexStudioError": "indexstudio.errors", "InputError": "indexstudio.errors", "EngineError": "indexstudio.errors",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'indexstudio' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(_API[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
