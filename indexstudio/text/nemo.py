"""NeMo text normalisation (nemo_text_processing): written forms spoken in Spanish and other languages.

IndexTTS-2.5 sends Spanish (and Arabic, Chinese, English) text to NeMo's
written-to-spoken grammars with case kept (`input_case="cased"`); the embedded
engine's Spanish voices use the Spanish one too. Numbers, currencies, dates,
times, ordinals, Roman numerals and abbreviations are spelled out.

Building a NeMo grammar takes most of a minute, so the compiled grammars are
kept on disk (next to the WeTextProcessing cache) and shared in the process.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

from indexstudio.errors import EngineError
from indexstudio.files import cache_root
from indexstudio.text.grammar_cache import compile_into

log = logging.getLogger(__name__)

_INPUT_CASE = "cased"

_grammars: dict[str, Any] = {}
_lock = threading.Lock()     # guards building and every use of the shared FSTs


def nemo_cache_dir(lang: str) -> Path:
    """Where the compiled grammar of `lang` lives: $INDEXSTUDIO_CACHE, else $XDG_CACHE_HOME/indexstudio."""
    try:
        version = importlib.metadata.version("nemo_text_processing")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return cache_root() / f"nemo-{version}" / f"{lang}_tn_{_INPUT_CASE}"


def has_nemo() -> bool:
    """Whether nemo_text_processing is installed (the `es` extra)."""
    return importlib.util.find_spec("nemo_text_processing") is not None


def _build(lang: str) -> Any:
    try:
        from nemo_text_processing.text_normalization.normalize import Normalizer
    except ImportError as exc:
        raise EngineError(f"{lang} text normalisation needs nemo_text_processing and pynini (Linux): "
                          "pip install 'indexstudio[es]'") from exc
    logging.getLogger("NeMo-text-processing").setLevel(logging.WARNING)
    cache = nemo_cache_dir(lang)
    if cache.is_dir():
        return Normalizer(input_case=_INPUT_CASE, lang=lang, cache_dir=str(cache))
    return compile_into(cache, lambda staging: Normalizer(input_case=_INPUT_CASE, lang=lang, cache_dir=str(staging),
                                                          overwrite_cache=True),
                        f"NeMo {lang} text-normalisation grammar")


def nemo_normalize(text: str, lang: str, tidy: bool = False) -> str:
    """`text` in spoken form by NeMo's `lang` grammar ("es"); unchanged where the grammar fails. `tidy`: no
    space left before punctuation ("y media ." -> "y media.")."""
    lang = lang.lower()
    if not text:
        return text
    with _lock:
        if lang not in _grammars:
            _grammars[lang] = _build(lang)
        try:
            return _grammars[lang].normalize(text, verbose=False, punct_post_process=tidy)
        except Exception:   # the official front-end also keeps the text when a grammar fails
            log.warning("NeMo's %s grammar failed on %r: it is read as written", lang, text)
            log.debug("NeMo failure", exc_info=True)
            return text
