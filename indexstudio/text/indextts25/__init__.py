"""Text front-end of IndexTTS-2.5 (multilingual tiktoken BPE, per-language normalisation, token-budget segments)."""
from indexstudio.text.indextts25.frontend import (
    IndexTTS25TextFrontend, PreparedText, TextStages, apply_annotations, detect_language, load_text_frontend_v2_5,
    split_by_punctuation,
)
from indexstudio.text.indextts25.tokenizer import LANGUAGE_CODES, language_row

__all__ = [
    "IndexTTS25TextFrontend", "LANGUAGE_CODES", "PreparedText", "TextStages", "apply_annotations",
    "detect_language", "language_row", "load_text_frontend_v2_5", "split_by_punctuation",
]
