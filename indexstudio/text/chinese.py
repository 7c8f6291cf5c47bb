"""Numbers in Chinese text read as Chinese, for the embedded engine's Mandarin voices.

misaki's pinyin G2P reads plain numbers (123, 2024年, 3.14) but not times (10:30), scores (3:2), phone numbers,
dates with dashes (2024-03-05), grouped digits (1,000,000), currencies (¥100, HK$5, RMB 500) or units (5kg, 16GB). Each stretch of
the text that holds a digit goes through WeTextProcessing's Chinese grammar - the one the IndexTTS front-end
uses - instead: 十点三十分, 三比二, 二零二四年三月五日, 一百万, 一百元, 五千克. Without WeTextProcessing (the
`indextts` extra, which `make setup` installs) the text is left to misaki as before.
"""
from __future__ import annotations

import logging
import re

from indexstudio.errors import EngineError
from indexstudio.text.indextts.normalizer import chinese_grammar, hide, reveal, run_grammar

log = logging.getLogger(__name__)
_BREAK = r"\s，。！？；：、“”‘’「」『』（）《》【】…—"
_STRETCH = re.compile(rf"[^{_BREAK}]*\d[^{_BREAK}]*")
_NAME_WITH_DIGITS = re.compile(r"[A-Za-z]*[A-Z][A-Za-z]*\d\w*|\d+[A-Z]\w*")   # 5G, 3D, H2O, A380: read as written
_GROUPED = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")                             # 1,299.00 (the grammar misreads it)
_BELOW_ZERO = re.compile(r"-(?=\d+(?:\.\d+)?\s*(?:℃|°C))")                   # -5℃: 零下五摄氏度, not 负五
_TILDE_RANGE = re.compile(r"(?<=\d)\s*[～~]\s*(?=\d)")                        # 3～5天: 三到五天
_NAME_DASH = re.compile(r"(?<=[A-Za-z])-(?=\d)")                              # COVID-19: no minus
_YUAN_TWICE = re.compile(r"[¥￥](?=[\d,.]+\s*元)")                            # ￥88.8元: the sign says it already
# currencies by code or by a sign the grammar does not know (it read HK$100 as HK一百美元): the amount, then the name
_CURRENCY_NAMES = {"US$": "美元", "USD": "美元", "HK$": "港元", "HKD": "港元", "NT$": "新台币", "TWD": "新台币",
                   "A$": "澳元", "AUD": "澳元", "C$": "加元", "CAD": "加元", "S$": "新加坡元", "SGD": "新加坡元",
                   "RMB": "元人民币", "CNY": "元人民币", "JPY": "日元", "EUR": "欧元", "GBP": "英镑"}
_CODES = "|".join(re.escape(code) for code in _CURRENCY_NAMES)
_AMOUNT = r"\d[\d,]*(?:\.\d+)?"
_CURRENCY = re.compile(rf"(?<![A-Za-z])(?:({_CODES})\s*({_AMOUNT})|({_AMOUNT})\s*({_CODES})(?![A-Za-z]))")
# units written in capitals after a number (16GB, 3.5GHz): the number read, the unit left as written
_UNIT = re.compile(r"(?<=\d)\s?(?:[KMGTP]i?B|[kMGT]?Hz|[KMG]bps|mAh|kWh|kW|MW)(?![A-Za-z])")
_missing_said = False


def read_numbers(text: str) -> str:
    """`text` with the digits of its Chinese written out as they are read."""
    global _missing_said
    if not re.search(r"\d", text):
        return text
    try:
        grammar = chinese_grammar()
    except EngineError:
        if not _missing_said:
            log.warning("WeTextProcessing is not installed: numbers in Chinese text are read by misaki alone "
                        "(times, dates with dashes and units may be misread); pip install 'indexstudio[indextts]'")
            _missing_said = True
        return text

    def read(match: re.Match) -> str:
        stretch = _YUAN_TWICE.sub("", _GROUPED.sub("", match.group()))
        stretch = _NAME_DASH.sub(" ", _TILDE_RANGE.sub("-", _BELOW_ZERO.sub("零下", stretch)))
        stretch, units = hide(stretch, _UNIT.findall(stretch), lambda tag: f"<u_{tag}>")
        stretch, names = hide(stretch, _NAME_WITH_DIGITS.findall(stretch), lambda tag: f"<m_{tag}>")
        return reveal(reveal(run_grammar(grammar, stretch), names), units)

    text = _CURRENCY.sub(lambda m: (m[2] or m[3]) + _CURRENCY_NAMES[m[1] or m[4]], text)
    return _STRETCH.sub(read, text)
