"""French, Italian and Portuguese numbers as eSpeak cannot read them, put in a form it can.

eSpeak reads plain numbers in these languages well, but says "deux romain" for "Chapitre II", "vu" for
"Carlo V", "deux e" for "2e", "dix ache trente" for "10h30", "barra" in "15/08/1990", "uno gradi" for "1° gennaio" and "dois.
quinhentos" for "2.500", and reads "R$ 1,50" as "real dólar um vírgula cinquenta". Roman numerals after a
name or a heading's word become the number as a person of that language says it (Louis quatorze, François
premier; Carlo quinto; Dom Pedro segundo, João vinte e três), ordinals, dates (15/08/1990), hours (10h30,
10:30) and sums of money are written out, and a thousands point is dropped. (Spanish has NeMo's grammar.)
"""
from __future__ import annotations

import re

from num2words import num2words

from indexstudio.text.normalize import roman_value

_LANGUAGES = {"fr": "fr", "it": "it", "pt": "pt_BR"}
# a Roman numeral after a capitalised word ("Louis XIV", "Capitolo V", "CHAPITRE II"); of the single letters only I, V and X
_AFTER_NAME = re.compile(r"(\b[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þa-zà-öø-ÿ]+ )((?:[IVXLC]{2,}|[IVX]))(?![\w'’-])")
_FRENCH_ROMAN_ORDINAL = re.compile(r"\b([IVXLC]{2,}|[IVX])(?:e|ème)\b")         # le XIXe siècle, la Ve République
_FRENCH_FIRST = re.compile(r"\b(?:1|I)(er|re|ère)\b")                          # 1er, Ier, 1re
_FRENCH_ORDINAL = re.compile(r"\b(\d{1,4})(e|ème|nde?)\b")                     # 2e, 3ème, 2nd
_HOURS = re.compile(r"\b([01]?\d|2[0-3]) ?h ?([0-5]\d)?\b(?!\w)")              # 10h30, 14 h 15, 9h
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3})+(?!\.?\d)")             # 2.500, 1.299.000,00
# money: "12,50 €", "€ 12,50", "R$ 1299,00", "US$ 5" (after the thousands points are dropped)
_AMOUNT = r"(?P<whole>\d+)(?:,(?P<part>\d{2}))?"
_MONEY = {"fr": [(r"€", "euro", "euros", "centime", "centimes")],
          "it": [(r"€", "euro", "euro", "centesimo", "centesimi")],
          "pt": [(r"R\$", "real", "reais", "centavo", "centavos"), (r"US\$", "dólar", "dólares", "centavo", "centavos"),
                 (r"€", "euro", "euros", "cêntimo", "cêntimos")]}
_AND = {"fr": " ", "it": " e ", "pt": " e "}
_DATE = re.compile(r"\b(0?[1-9]|[12]\d|3[01])/(0?[1-9]|1[0-2])/(\d{4})\b")             # 15/08/1990, day first
_CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b(?!:\d)")                        # 10:30
_MONTHS = {"fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
           "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
           "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro"}
_ITALIAN_DEGREE_ORDINAL = re.compile(r"\b(\d{1,2})[°º](?=\s+(?:gennaio|febbraio|marzo|aprile|maggio|giugno|luglio"
                                     r"|agosto|settembre|ottobre|novembre|dicembre|piano|posto|anno|secolo)\b)")


def _ordinal(value: int, language: str) -> str:
    return num2words(value, lang=_LANGUAGES[language], to="ordinal")


def _king(numeral: str, language: str) -> str:
    value = roman_value(numeral)
    if not value:
        return numeral
    if language == "fr":
        return "premier" if value == 1 else str(value)
    if language == "pt" and value > 10:
        return str(value)
    return _ordinal(value, language)


def _money(text: str, language: str) -> str:
    """Amounts said as people say them: "12,50 €" -> "12 euros 50" (fr), "€ 12,50" -> "12 euro e 50 centesimi"
    (it), "R$ 1299,00" -> "1299 reais" (pt)."""
    for symbol, one, many, cent, cents in _MONEY[language]:
        def said(m: re.Match) -> str:
            whole, part = m.group("whole"), (m.group("part") or "00").lstrip("0")
            words = f"{whole} {one if whole == '1' else many}"
            if part:
                words += _AND[language] + part + ("" if language == "fr" else f" {cent if part == '1' else cents}")
            return words
        text = re.sub(rf"(?<![\w$]){symbol}\s?{_AMOUNT}(?!,?\d)", said, text)
        text = re.sub(rf"(?<![\d,]){_AMOUNT}\s?{symbol}", said, text)
    return text


def _date(m: re.Match, language: str) -> str:
    day, month, year = int(m.group(1)), _MONTHS[language].split()[int(m.group(2)) - 1], m.group(3)
    first = {"fr": "premier", "it": "primo", "pt": "primeiro"}[language] if day == 1 else str(day)
    return f"{first} de {month} de {year}" if language == "pt" else f"{first} {month} {year}"


def _clock(m: re.Match, language: str) -> str:
    hour, minutes = int(m.group(1)), m.group(2)
    if language == "fr":
        return f"{hour} heure{'s' if hour > 1 else ''}" + (f" {minutes}" if minutes != "00" else "")
    return f"{hour}" + (f" e {int(minutes)}" if minutes != "00" else "")


def read_romance_numbers(text: str, language: str) -> str:
    """`text` with what eSpeak misreads in French, Italian or Portuguese ("fr-fr", "it", "pt-br") written out."""
    primary = language.split("-")[0]
    if primary not in _LANGUAGES:
        return text
    text = _money(_THOUSANDS.sub(lambda m: m.group().replace(".", ""), text), primary)
    text = _CLOCK.sub(lambda m: _clock(m, primary), _DATE.sub(lambda m: _date(m, primary), text))
    if primary == "fr":
        text = _FRENCH_FIRST.sub(lambda m: "premier" if m.group(1) == "er" else "première", text)
        text = _FRENCH_ROMAN_ORDINAL.sub(lambda m: _ordinal(roman_value(m.group(1)), "fr") if roman_value(m.group(1))
                                         else m.group(), text)
        text = _FRENCH_ORDINAL.sub(lambda m: ("second" + m.group(2)[2:] if m.group(2).startswith("nd") and
                                               m.group(1) == "2" else _ordinal(int(m.group(1)), "fr")), text)
        text = _HOURS.sub(lambda m: f"{m.group(1)} heure{'s' if int(m.group(1)) > 1 else ''}"
                          + (f" {m.group(2)}" if m.group(2) else ""), text)
    elif primary == "pt":
        text = _HOURS.sub(lambda m: f"{m.group(1)} hora{'s' if int(m.group(1)) > 1 else ''}"
                          + (f" e {m.group(2)}" if m.group(2) else ""), text)
    else:
        text = _ITALIAN_DEGREE_ORDINAL.sub(lambda m: _ordinal(int(m.group(1)), "it"), text)
    return _AFTER_NAME.sub(lambda m: m.group(1) + _king(m.group(2), primary), text)
