"""Written text to its spoken form, for engines without a normaliser of their own.

English: currency, percentages, times, dates, ordinals, years, plain numbers
and common abbreviations.  Chinese and Japanese: full-width forms and CJK
punctuation are tidied, digits are left to the engine's G2P.  Rules run from
the most specific pattern (a date, an amount of money) to the most general (a
number), so each piece of text is read once.
"""
from __future__ import annotations

import re
import unicodedata

from num2words import num2words

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_MONTH_RE = "|".join(_MONTHS + [m[:3] for m in _MONTHS] + ["Sept"])
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "", "")}
_SCALES = r"(?:thousand|million|billion|trillion)"

# Titles before a name, and fixed Latin abbreviations; "St." is resolved by context below.
_ABBREVIATIONS = {
    "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Dr.": "Doctor", "Prof.": "Professor",
    "Jr.": "Junior", "Sr.": "Senior", "Capt.": "Captain", "Gen.": "General", "Lt.": "Lieutenant",
    "Col.": "Colonel", "Sgt.": "Sergeant", "Rev.": "Reverend", "Mt.": "Mount", "Ave.": "Avenue",
    "vs.": "versus", "etc.": "et cetera", "e.g.": "for example", "i.e.": "that is", "approx.": "approximately",
    "Fig.": "Figure", "Vol.": "Volume", "Ch.": "Chapter", "Jan.": "January", "Feb.": "February",
    "Aug.": "August", "Sept.": "September", "Oct.": "October", "Nov.": "November", "Dec.": "December",
}
_ABBR_RE = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in sorted(_ABBREVIATIONS, key=len, reverse=True)) + r")(?=\s|$|[,;:)])")

# CJK punctuation and its plain counterpart, used when the text around it is not CJK.
_CJK_TO_ASCII = str.maketrans({"，": ",", "。": ".", "！": "!", "？": "?", "；": ";", "：": ":", "、": ",",
                               "（": "(", "）": ")", "「": '"', "」": '"', "『": '"', "』": '"', "《": '"', "》": '"',
                               "【": "(", "】": ")", "～": "~"})
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")             # terminal colours and the like
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")           # control characters but tab and newlines


def strip_control(text: str) -> str:
    """`text` without terminal escape sequences and control characters (tabs and line breaks stay): else the
    normalisers read "\x1b[0m" as "zero minutes" and the tokenizers get bytes no voice can say."""
    return _CONTROL.sub(" ", _ESCAPE_SEQUENCE.sub("", text))


_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'", "′": "'", "″": '"'})
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _words(n: float | int, **kw) -> str:
    """num2words without the commas it puts between groups (they would be read as pauses)."""
    return num2words(n, **kw).replace(",", "")


def _cardinal(text: str) -> str:
    text = text.replace(",", "")
    value: float | int = float(text) if "." in text else int(text)
    if isinstance(value, float) and "." in text:
        whole, frac = text.split(".")
        head = _words(int(whole or "0"))
        return f"{head} point {' '.join(_words(int(d)) for d in frac)}"
    return _words(value)


def _money(match: re.Match) -> str:
    symbol, amount, scale = match.group(1), match.group(2).replace(",", ""), match.group(3)
    one, many, sub_one, sub_many = _CURRENCIES[symbol]
    if scale:  # "$5 million" -> "five million dollars"
        return f"{_cardinal(amount)} {scale} {many}"
    whole, _, cents = amount.partition(".")
    units = int(whole or "0")
    spoken = f"{_words(units)} {one if units == 1 else many}"
    if cents and sub_one and int(cents[:2].ljust(2, "0")):
        c = int(cents[:2].ljust(2, "0"))
        spoken += f" and {_words(c)} {sub_one if c == 1 else sub_many}"
    return spoken


def _clock(hour: int, minute: int) -> str:
    if minute == 0:
        return f"{_words(hour)} o'clock"
    if minute < 10:
        return f"{_words(hour)} oh {_words(minute)}"
    return f"{_words(hour)} {_words(minute)}"


def _time(match: re.Match) -> str:
    hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if meridiem:
        spoken = _words(hour) if minute == 0 else _clock(hour, minute)
        spoken = f"{spoken} {'A M' if meridiem.lower().startswith('a') else 'P M'}"
        rest = match.string[match.end():]
        if meridiem.endswith(".") and (not rest.strip() or rest[:1] == "\n" or rest.lstrip()[:1].isupper()):
            spoken += "."  # "a.m." also closed the sentence
        return spoken
    return _clock(hour, minute)


def _year(value: int) -> str:
    return _words(value, to="year")


def _decade(match: re.Match) -> str:
    spoken = _year(int(match.group(1)))               # "nineteen ninety" -> "nineteen nineties"
    return spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"


def _date(month: int, day: int, year: int | None) -> str:
    spoken = f"{_MONTHS[month - 1]} {_words(day, to='ordinal')}"
    return f"{spoken}, {_year(year)}" if year else spoken


def _month_index(name: str) -> int:
    return next(i for i, m in enumerate(_MONTHS) if m.lower().startswith(name.lower()[:3])) + 1


def _expand_abbreviations(text: str) -> str:
    text = re.sub(r"\bSt\.(?=\s+[A-Z])", "Saint", text)          # St. Paul
    text = re.sub(r"(?<=[a-z] )St\.", "Street", text)           # Baker St.
    text = re.sub(r"\bNo\.\s*(?=\d)", "number ", text)          # No. 5
    return _ABBR_RE.sub(lambda m: _ABBREVIATIONS[m.group(1)], text)


def normalize_english(text: str, day_first: bool = False) -> str:
    """Spell out what an English reader would say aloud."""
    text = _expand_abbreviations(text)
    text = re.sub(r"(?<=[A-Za-z])(?=\d)", " ", text)            # "ABC123" -> "ABC 123"
    # ISO dates and slash dates (month first in US English, day first elsewhere).
    text = re.sub(r"\b(\d{4})-(\d{2})-(\d{2})\b",
                  lambda m: _date(int(m.group(2)), int(m.group(3)), int(m.group(1))) if 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31 else m.group(0), text)

    def slash_date(m: re.Match) -> str:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        month, day = (b, a) if day_first else (a, b)
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return m.group(0)
        return _date(month, day, y if y >= 100 else 2000 + y)
    text = re.sub(r"\b(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b", slash_date, text)
    # "March 5, 2024", "March 5th", "5 March 2024"
    text = re.sub(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b",
                  lambda m: _date(_month_index(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None), text)
    text = re.sub(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?(?:,?\s+(\d{{4}}))?\b",
                  lambda m: f"the {_words(int(m.group(1)), to='ordinal')} of {_MONTHS[_month_index(m.group(2)) - 1]}"
                  + (f", {_year(int(m.group(3)))}" if m.group(3) else ""), text)
    # Times: 10:30, 7:05 pm, 5pm, 11 a.m.
    text = re.sub(r"\b(\d{1,2}):(\d{2})(?:\s*([aApP]\.?[mM]\.?))?(?![\w:])", _time, text)
    text = re.sub(r"\b(\d{1,2})()\s*([aApP]\.[mM]\.|[aApP][mM]\b)", _time, text)
    # Money, percentages, ordinals.
    text = re.sub(rf"([$£€¥])\s?(\d[\d,]*(?:\.\d+)?)(?:\s+({_SCALES}))?\b", _money, text)
    text = re.sub(r"(\d[\d,]*(?:\.\d+)?)\s?%", lambda m: f"{_cardinal(m.group(1))} percent", text)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: _words(int(m.group(1)), to="ordinal"), text)
    # Decades and years: the 1990s, in 1984.
    text = re.sub(r"\b(1[1-9]\d0|20\d0)s\b", _decade, text)
    text = re.sub(r"(?<![\d,.])(1[1-9]\d\d|20\d\d)(?!\d|,\d|\.\d)", lambda m: _year(int(m.group(1))), text)
    # Remaining numbers, with sign, thousands separators and decimals.
    text = re.sub(r"(?<![\w.])-(\d)", r"minus \1", text)
    text = re.sub(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", lambda m: _cardinal(m.group(0)), text)
    return text


def tidy_cjk(text: str) -> str:
    """Full-width letters and digits to ASCII; CJK punctuation kept where CJK text surrounds it."""
    out = []
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch) if "\uff01" <= ch <= "\uff5e" else ch
        if ch in "，。！？；：、（）「」『』《》【】～":
            neighbours = text[max(0, i - 1):i] + text[i + 1:i + 2]
            folded = ch if _CJK.search(neighbours) else ch.translate(_CJK_TO_ASCII)
            if folded != ch and text[i + 1:i + 2].isalnum():
                folded += " "
        out.append(folded)
    return "".join(out)


def normalize_text(text: str, language: str = "en-us") -> str:
    """The spoken form of `text` for a voice of `language`."""
    text = unicodedata.normalize("NFC", strip_control(text)).translate(_QUOTES)
    text = text.replace("\u2026", "...").replace("\u2014", ", ").replace("\u2013", "-")
    text = tidy_cjk(text)
    if language.startswith("en"):
        text = normalize_english(text, day_first=language != "en-us")
    return re.sub(r"[ \t\u00a0]+", " ", text).strip()
