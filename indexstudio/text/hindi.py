"""Hindi sums of money, dates and clock times as eSpeak can read them.

eSpeak reads Hindi numbers (lakh grouping too) but drops "₹" ("₹12,500" was "twelve thousand five hundred"),
reads "15/08/1947" with "slash" in English, keeps the colon of "10:30" and reads a year "1947" as a number
("ek hazaar nau sau ..."). The amount goes before its unit ("12,500 रुपये"), a date takes its month's name, a
time is said "10 बजकर 30 मिनट", and a number from 1100 to 1999 by its hundreds, as Hindi says years ("19 सौ 47").
"""
from __future__ import annotations

import re

_RUPEES = re.compile(r"(?:₹|\bRs\.?|रु\.?)\s?(\d[\d,]*)(?:\.(\d{2}))?(?!\d)")
_RUPEES_AFTER = re.compile(r"(\d[\d,]*)\s?(?:रु\.|₹)")                                 # "5 रु."
_DATE = re.compile(r"\b(0?[1-9]|[12]\d|3[01])/(0?[1-9]|1[0-2])/(\d{4})\b")
_CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b(?!:\d)(?: ?बजे)?")          # (a "बजे" after it is said once)
_HUNDREDS = re.compile(r"(?<![\d,.:/])(1[1-9])(\d\d)(?![\d,]|[.:/]\d)")         # 1947, not 1,947 or 1947.5
_MONTHS = "जनवरी फ़रवरी मार्च अप्रैल मई जून जुलाई अगस्त सितंबर अक्टूबर नवंबर दिसंबर".split()


def _rupees(m: re.Match) -> str:
    paise = (m.group(2) or "00").lstrip("0")
    return f"{m.group(1)} रुपये" + (f" {paise} पैसे" if paise else "")


def read_hindi(text: str) -> str:
    """`text` with its rupees, dates (day first), years and clock times said in Hindi."""
    text = _RUPEES_AFTER.sub(r"\1 रुपये", _RUPEES.sub(_rupees, text))
    text = _DATE.sub(lambda m: f"{int(m.group(1))} {_MONTHS[int(m.group(2)) - 1]} {m.group(3)}", text)
    text = _HUNDREDS.sub(lambda m: f"{m.group(1)} सौ" + (f" {int(m.group(2))}" if m.group(2) != "00" else ""), text)
    return _CLOCK.sub(lambda m: f"{int(m.group(1))} बजकर {int(m.group(2))} मिनट" if m.group(2) != "00"
                      else f"{int(m.group(1))} बजे", text)
