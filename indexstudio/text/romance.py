"""French, Italian and Portuguese numbers as eSpeak cannot read them, put in a form it can.

eSpeak reads plain numbers in these languages well, but says "deux romain" for "Chapitre II", "vu" for
"Carlo V", "deux e" for "2e", "dix ache trente" for "10h30", "barra" in "15/08/1990", "uno gradi" for
"1° gennaio", "dois. quinhentos" for "2.500" and "real dólar um vírgula cinquenta" for "R$ 1,50". Ordinals,
dates, times, sums of money, common fractions and units are written out, and a thousands point is dropped.
A Roman numeral after a king's, queen's or pope's name or a heading's word becomes the number as a person of
that language says it there (Louis quatorze, François premier; Carlo quinto, Elisabetta seconda; Dom Pedro
segundo, João vinte e três, capítulo cinco); Spanish takes that rule too (`spanish`), and NeMo's grammar for
the rest.
"""
from __future__ import annotations

import re

from num2words import num2words

from indexstudio.text.normalize import roman_value
from indexstudio.text.regnal import KINGS, QUEENS

_LANGUAGES = {"fr": "fr", "it": "it", "pt": "pt_BR", "es": "es"}
# a Roman numeral is a number after a king's, queen's or pope's name (`regnal`) or a heading's word, and nowhere else
# ("Malcolm X", "MI madre", "Mon CV", "Taglia XL", "Via XX Settembre" keep their letters)
_HEADING_WORDS = set("""chapitre tome livre acte partie scène volume canto article titre section capitolo libro atto
parte scena tomo secolo articolo titolo capítulo livro ato cena século artigo título acto escena volumen siglo
artículo""".split())
# (a lone letter with a full stop before a name is an initial: "Jean V. Martin")
_NUMERAL_AFTER = re.compile(r"(?<![\w.])(\w[\w'’-]*) ([IVXLC]{2,}|[IVX](?!\.\s+[A-Z]))(?![\w'’-])")
_FRENCH_ROMAN_ORDINAL = re.compile(r"\b([IVXLC]{2,}|[IVX])(?:e|ème)\b")         # le XIXe siècle, la Ve République
_FRENCH_FIRST = re.compile(r"\b(?:1|I)(er|re|ère)\b")                          # 1er, Ier, 1re
_FRENCH_ORDINAL = re.compile(r"\b(\d{1,4})(e|ème|nde?)\b")                     # 2e, 3ème, 2nd
_HOURS = re.compile(r"\b([01]?\d|2[0-3]) ?h ?([0-5]\d)?\b(?!\w)")              # 10h30, 14 h 15, 9h (fr, pt)
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3})+(?!\.?\d)")             # 2.500, 1.299.000,00
# money: "12,50 €", "€ 12,50", "R$ 1299,00", "US$ 5" (after the thousands points are dropped)
_AMOUNT = r"(?P<whole>\d+)(?:,(?P<part>\d{2}))?"
_MONEY = {"fr": [(r"€", "euro", "euros", "centime", "centimes")],
          "it": [(r"€", "euro", "euro", "centesimo", "centesimi")],
          "pt": [(r"R\$", "real", "reais", "centavo", "centavos"), (r"US\$", "dólar", "dólares", "centavo", "centavos"),
                 (r"€", "euro", "euros", "centavo", "centavos")]}
_AND = {"fr": " ", "it": " e ", "pt": " e "}
_DATE = re.compile(r"\b(0?[1-9]|[12]\d|3[01])/(0?[1-9]|1[0-2])/(\d{4})\b")             # 15/08/1990, day first
# 10:30, but not a verse ("Jean 3:16": after a capitalised word, see `read_romance_numbers`) nor a scale ("1:25 000")
_CLOCK = re.compile(r"(\b\w[\w'’-]* )?(?<![\d:])\b([01]?\d|2[0-3]):([0-5]\d)\b(?!:\d|\s?\d)")
_ITALIAN_CLOCK = re.compile(r"\b((?i:alle|ore|dalle|delle|verso le|entro le|fino alle) )([01]?\d|2[0-3])\.([0-5]\d)\b"
                            r"(?!\.\d)")                                                   # alle 14.30
# the common fractions and units, which eSpeak reads as digits and letters
_FRACTIONS = {"fr": {"1/2": "un demi", "1/3": "un tiers", "1/4": "un quart", "3/4": "trois quarts"},
              "it": {"1/2": "un mezzo", "1/3": "un terzo", "1/4": "un quarto", "3/4": "tre quarti"},
              "pt": {"1/2": "meio", "1/3": "um terço", "1/4": "um quarto", "3/4": "três quartos"}}
_UNITS = {"fr": {"km/h": "kilomètres heure", "km": "kilomètres", "kg": "kilos", "cm": "centimètres",
                 "mm": "millimètres"},
          "it": {"km/h": "chilometri orari", "km": "chilometri", "kg": "chili", "cm": "centimetri", "mm": "millimetri"},
          "pt": {"km/h": "quilômetros por hora", "km": "quilômetros", "kg": "quilos", "cm": "centímetros",
                 "mm": "milímetros"}}
_FRACTION = re.compile(r"(?<![\d/])([13]/[234])(?![\d/])")
_UNIT = re.compile(r"(?<=\d)\s?(km/h|km|kg|cm|mm)\b(?!/)")
_MONTHS = {"fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
           "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
           "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro"}
_ITALIAN_DEGREE_ORDINAL = re.compile(r"\b(\d{1,2})[°º](?=\s+(?:gennaio|febbraio|marzo|aprile|maggio|giugno|luglio"
                                     r"|agosto|settembre|ottobre|novembre|dicembre|piano|posto|anno|secolo)\b)")


def _ordinal(value: int, language: str) -> str:
    return num2words(value, lang=_LANGUAGES[language], to="ordinal")


def _numeral(m: re.Match, language: str) -> str:
    """A Roman numeral after a king's or queen's name or a heading's word as its language says it there: French
    "Louis 14" (a cardinal; the first "premier"), Italian ordinals ("Carlo quinto", "Elisabetta seconda"),
    Spanish and Portuguese ordinals up to ten ("Isabel segunda", "Dom Pedro primeiro") and cardinals after, a
    Portuguese heading a cardinal ("capítulo 5"); anything else as it was."""
    word, numeral = m.group(1), m.group(2)
    value, heading = roman_value(numeral), word.lower() in _HEADING_WORDS
    if not value or not heading and word not in KINGS and word not in QUEENS:
        return m.group()
    queen = word in QUEENS
    if language == "fr" or language == "pt" and heading or language in ("es", "pt") and value > 10:
        said = ("première" if queen else "premier") if value == 1 and language == "fr" else str(value)
    else:
        said = _ordinal(value, language)
        said = said[:-1] + "a" if queen and said.endswith("o") else said
    return f"{word} {said}"


def read_roman_numerals(text: str, language: str) -> str:
    """`text` with the Roman numerals of kings, queens, popes and headings in words or digits (`_numeral`), for
    a language of `_LANGUAGES` ("fr", "es" ...)."""
    return _NUMERAL_AFTER.sub(lambda m: _numeral(m, language), text)


def _money(text: str, language: str) -> str:
    """Amounts said as people say them: "12,50 €" -> "12 euros 50" (fr), "€ 12,50" -> "12 euro e 50 centesimi"
    (it), "R$ 1299,00" -> "1299 reais" (pt), "0,50 €" -> "50 centimes"."""
    for symbol, one, many, cent, cents in _MONEY[language]:
        def said(m: re.Match) -> str:
            whole, part = m.group("whole"), (m.group("part") or "00").lstrip("0")
            if whole.strip("0") == "" and part:
                return f"{part} {cent if part == '1' else cents}"
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


def _time(hour: str, minutes: str | None, language: str, hours_said: bool = False) -> str:
    """A time of day as it is said: "10 heures 5" (fr), "10 e 5" (it, pt), "10 horas e 5" (pt's "10h05")."""
    h, m = int(hour), int(minutes or 0)
    if language == "fr":
        return f"{h} heure{'s' if h > 1 else ''}" + (f" {m}" if m else "")
    if language == "pt" and hours_said:
        return f"{h} hora{'s' if h > 1 else ''}" + (f" e {m}" if m else "")
    return f"{h}" + (f" e {m}" if m else "")


def read_romance_numbers(text: str, language: str) -> str:
    """`text` with what eSpeak misreads in French, Italian or Portuguese ("fr-fr", "it", "pt-br") written out."""
    primary = language.split("-")[0]
    if primary not in _MONEY:
        return text
    text = _money(_THOUSANDS.sub(lambda m: m.group().replace(".", ""), text), primary)
    text = re.sub(r"(?<=\d)\.(?=[ºª])", "", text)                      # "3.º andar": eSpeak reads "3º"
    text = _CLOCK.sub(lambda m: m.group() if m.group(1) and m.group(1)[0].isupper()
                      else (m.group(1) or "") + _time(m.group(2), m.group(3), primary),
                      _DATE.sub(lambda m: _date(m, primary), text))
    text = _FRACTION.sub(lambda m: _FRACTIONS[primary][m.group(1)] if m.group(1) in _FRACTIONS[primary]
                         else m.group(), text)
    text = _UNIT.sub(lambda m: " " + _UNITS[primary][m.group(1)], text)
    if primary == "fr":
        text = _FRENCH_FIRST.sub(lambda m: "premier" if m.group(1) == "er" else "première", text)
        text = _FRENCH_ROMAN_ORDINAL.sub(lambda m: _ordinal(roman_value(m.group(1)), "fr") if roman_value(m.group(1))
                                         else m.group(), text)
        text = _FRENCH_ORDINAL.sub(lambda m: ("second" + m.group(2)[2:] if m.group(2).startswith("nd") and
                                               m.group(1) == "2" else _ordinal(int(m.group(1)), "fr")), text)
    if primary in ("fr", "pt"):
        text = _HOURS.sub(lambda m: _time(m.group(1), m.group(2), primary, hours_said=True), text)
    if primary == "it":
        text = _ITALIAN_CLOCK.sub(lambda m: m.group(1) + _time(m.group(2), m.group(3), "it"), text)
        text = _ITALIAN_DEGREE_ORDINAL.sub(lambda m: _ordinal(int(m.group(1)), "it"), text)
    return read_roman_numerals(text, primary)
