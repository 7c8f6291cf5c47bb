"""Spanish written forms spoken: dates, times, money, ordinals, percentages, measures and Roman numerals.

eSpeak reads Spanish digits as written: "2.500" as "dos. quinientos", "15/08/1990" with "barra", "1.º" as
"uno o", "10:30" with its colon. NeMo's Spanish grammar (the `es` extra, as IndexTTS-2.5 uses it) spells them
out. It takes tens of milliseconds a sentence, so it is given only the sentences that hold such a form; and it
is given only those forms: a plain number ("Capítulo 1", "tenía 1 hermana", "2-1", a phone number) is hidden
from it, since it reads "1" as "un" and "2-1" as a date, and eSpeak reads plain numbers well. Roman numerals
are read by `romance.read_roman_numerals` (kings, queens and headings: "Isabel segunda"), abbreviations by
`abbreviations`; anything else in capitals ("MI madre", "la vitamina C") is left to eSpeak.
"""
from __future__ import annotations

import logging
import re

from indexstudio.text.nemo import has_nemo, nemo_normalize
from indexstudio.text.romance import read_roman_numerals
from indexstudio.text.segment import sentences_of

log = logging.getLogger(__name__)

_LINE = re.compile(r"(\n)")
# what eSpeak misreads and NeMo reads well: thousands points, dates, clock times, sums, ordinals, percentages and
# measures
_FORMS = (r"\d{1,3}(?:\.\d{3})+(?:,\d+)?(?:\s?(?:[€$£%]|km/h|km|kg|cm|mm)(?!\w))?"
          r"|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}:\d{2}(?![:\d])"
          r"|[€$£]\s?\d+(?:[.,]\d+)*|\d+(?:[.,]\d+)?\s?(?:[€$£%]|km/h|km|kg|cm|mm)(?!\w)"
          r"|\d+\.?[ºª]|\d+\.(?:er|os?|as?)\b")
_TO_SPELL = re.compile(_FORMS)
# what NeMo is shown (a form) or not: a verse ("Juan 3:16", hidden whole: NeMo read it as a time), a plain number,
# a word in capitals
_SHOWN_OR_HIDDEN = re.compile(rf"\b[A-ZÁÉÍÓÚÑ][\wáéíóúñü]* \d{{1,3}}:\d{{1,3}}\b|({_FORMS})|\d+|\b[A-ZÁÉÍÓÚÑ]{{1,4}}\b")
_missing_said = False


def read_spanish(text: str) -> str:
    """`text` with its written forms in words, sentence by sentence where NeMo's grammar is installed (else as
    it is, said once); its lines and paragraphs as they were."""
    global _missing_said
    text = read_roman_numerals(text, "es")
    if not _TO_SPELL.search(text):
        return text
    if not has_nemo():
        if not _missing_said:
            _missing_said = True
            log.warning("nemo_text_processing is not installed: numbers, dates and money in Spanish text are read "
                        "by eSpeak as written (pip install 'indexstudio[es]')")
        return text
    return "".join(line if line == "\n" else "".join(_spoken(s) for s in sentences_of(line))
                   for line in _LINE.split(text))


def _spoken(sentence: str) -> str:
    if not _TO_SPELL.search(sentence):
        return sentence
    hidden: dict[str, str] = {}

    def hide(m: re.Match) -> str:
        if m.group(1):
            return m.group()
        key = f"Zq{len(hidden)}qZ".translate(str.maketrans("0123456789", "abcdefghij"))
        hidden[key] = m.group()
        return key
    spoken = nemo_normalize(_SHOWN_OR_HIDDEN.sub(hide, sentence), "es", tidy=True)
    for key, original in hidden.items():
        spoken = spoken.replace(key, original, 1)
    lead = sentence[:len(sentence) - len(sentence.lstrip())]
    return lead + spoken
