"""IndexStudio: long-form, cloned-voice text to speech (IndexTTS 1.5 / 2 / 2.5 and an embedded Kokoro voice)."""

__version__ = "0.1.0"
