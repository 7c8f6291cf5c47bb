"""Spanish written forms spoken: numbers, dates, times, money, ordinals, Roman numerals and abbreviations.

eSpeak reads Spanish digits as written: "2.500" as "dos. quinientos", "15/08/1990" with "barra", "1.º" as
"uno o", "10:30" with its colon. NeMo's Spanish grammar (the `es` extra, as IndexTTS-2.5 uses it) spells them
out. It takes tens of milliseconds a sentence, so it is given only the sentences that hold something to spell
(a digit, a symbol, an abbreviation or a Roman numeral); most sentences of a novel hold none.

A Roman numeral goes to NeMo only after a name or a capitalised word ("Felipe II", "Capítulo IV"). Elsewhere a
capital letter is a letter ("la vitamina C", "la letra I") or a word set in capitals ("MI madre"), which NeMo
would read as an ordinal; eSpeak reads those as they stand.
"""
from __future__ import annotations

import logging
import re

from indexstudio.text.indextts.normalizer import hide, reveal
from indexstudio.text.nemo import has_nemo, nemo_normalize
from indexstudio.text.normalize import roman_value
from indexstudio.text.segment import sentences_of

log = logging.getLogger(__name__)

_PARAGRAPH = re.compile(r"(\n\s*\n)")
_TO_SPELL = re.compile(r"\d|[€$£¥%‰°ºª§]|\b(?:Sra?|Srta|Sres|Dra?|Lic|Ing|Avda|Av|Uds?|págs?|EE)\.|\b[IVXLCDM]+\b")
_ROMAN = re.compile(r"\b[IVXLCDM]+\b")
_AFTER_NAME = re.compile(r"(?:^|\s)[A-ZÁÉÍÓÚÑ][\wÁÉÍÓÚÑáéíóúñü]* $")
_missing_said = False


def read_spanish(text: str) -> str:
    """`text` with its written forms in words, sentence by sentence where NeMo's grammar is installed (else as
    it is, said once)."""
    global _missing_said
    if not _TO_SPELL.search(text):
        return text
    if not has_nemo():
        if not _missing_said:
            _missing_said = True
            log.warning("nemo_text_processing is not installed: numbers, dates and money in Spanish text are read "
                        "by eSpeak as written (pip install 'indexstudio[es]')")
        return text
    return "".join(part if _PARAGRAPH.fullmatch(part) else "".join(_spoken(s) for s in sentences_of(" ".join(
        part.split()))) for part in _PARAGRAPH.split(text))


def _spoken(sentence: str) -> str:
    if not _TO_SPELL.search(sentence):
        return sentence
    letters = [m.group() for m in _ROMAN.finditer(sentence)
               if not roman_value(m.group()) or not _AFTER_NAME.search(sentence[:m.start()])]
    hidden_text, hidden = hide(sentence, letters, lambda tag: f"Zq{tag}qZ") if letters else (sentence, {})
    if not _TO_SPELL.search(hidden_text):
        return sentence
    lead = sentence[:len(sentence) - len(sentence.lstrip())]
    return lead + reveal(nemo_normalize(hidden_text, "es", tidy=True), hidden)
