"""Numbers in Chinese text read as Chinese, for the embedded engine's Mandarin voices.

misaki's pinyin G2P reads plain numbers (123, 2024年, 3.14) but not times (10:30), scores (3:2), phone numbers,
dates with dashes (2024-03-05), grouped digits (1,000,000), currencies (¥100, HK$5, RMB 500万) or units (5kg,
16GB). Each stretch of the text that holds a digit goes through WeTextProcessing's Chinese grammar - the one
the IndexTTS front-end uses - instead: 十点三十分, 三比二, 二零二四年三月五日, 一百万, 一百元, 五千克. What the
grammar misses is prepared for it (full-width signs, units it leaves in letters, 第IV卷) or read here
(telephone numbers and codes digit by digit), and its 两 / 二 mended where Mandarin says the other (三月二日,
第二天, 下午两点). Without WeTextProcessing (the `indextts` extra, which `make setup` installs) the text is left
to misaki as before.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import re
import unicodedata
from pathlib import Path

from indexstudio.errors import EngineError
from indexstudio.text.indextts.normalizer import chinese_grammar, hide, reveal, run_grammar
from indexstudio.text.normalize import roman_value

log = logging.getLogger(__name__)
_BREAK = r"\s，。！？；：、“”‘’「」『』（）《》【】…—"
_STRETCH = re.compile(rf"[^{_BREAK}]*\d[^{_BREAK}]*")
_NAME_WITH_DIGITS = re.compile(r"[A-Za-z]*[A-Z][A-Za-z]*\d\w*|(?<![\d.])\d+[A-Z]\w*")   # 5G, 3D, H2O, A380: as written
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
_AMOUNT = r"\d[\d,]*(?:\.\d+)?[万亿]*"                                  # (五百万元人民币, not 五百元人民币万)
_CURRENCY = re.compile(rf"(?<![A-Za-z])(?:({_CODES})\s*({_AMOUNT})|({_AMOUNT})\s*({_CODES})(?![A-Za-z]))")
_SIGN_NAMES = {"$": "美元", "¥": "元", "￥": "元", "€": "欧元", "£": "英镑"}
_SIGN_MYRIADS = re.compile(r"([$¥￥€£])\s*(\d[\d,]*(?:\.\d+)?[万亿]+)")             # $1,000万: 一千万美元
# units written in capitals after a number (16GB, 3.5GHz): the number read, the unit left as written
_UNIT = re.compile(r"(?<=\d)\s?(?:[KMGTP]i?B|[kMGT]?Hz|[KMG]bps|mAh|kWh|kW|MW)(?![A-Za-z])")
# metric units the grammar leaves in letters: said in Chinese (500g 五百克, 1.5L 一点五升, 220V 二百二十伏)
_METRIC_NAMES = {"mg": "毫克", "g": "克", "mL": "毫升", "ml": "毫升", "L": "升", "W": "瓦", "V": "伏"}
_METRIC = re.compile(r"(?<=\d)\s?(mg|g|mL|ml|L|W|V)(?![A-Za-z])")
# full-width signs beside digits, which the grammar does not read (１５％, １２．５, ３：３０, －５℃)
_WIDE_SIGNS = re.compile(r"(?<=\d)[％．：]|[．：－＋](?=\d)")
_ENCLOSED = re.compile("[\u2460-\u2473\u2160-\u216b\u2170-\u217b]")            # circled numbers, Roman numerals
_ORDINAL_ROMAN = re.compile(r"(?<=第)([IVXLC]+)(?=[章卷部回节節集篇课課季])")           # 第IV卷: 第四卷
_PERCENT_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*[-~～]\s*(?=\d+(?:\.\d+)?\s*%)")        # 3-5%: 百分之三到百分之五
_SIGNED_PERCENT = re.compile(r"(?<![\d.])([+-])(?=\d[\d.]*\s*%)")                 # -3.5%: 负百分之三点五
_CHAPTER_ZEROS = re.compile(r"(?<=第)0+(?=\d)")                                 # 第004章: 第四章
_DIGIT_WORDS = str.maketrans("0123456789", "零一二三四五六七八九")
# digit strings read digit by digit: telephone numbers, and numbers named as codes, rooms, trains, plates
_DIGITS_ONE_BY_ONE = re.compile(
    r"\+?\d{2,3}[-\s]1[3-9]\d[-\s]?\d{4}[-\s]?\d{4}"          # +86-138 1234 5678
    r"|(?<!\d)1[3-9]\d(?:[-\s]?\d{4}){2}(?!\d)"                 # 138 1234 5678, 13812345678
    r"|[（(]0\d{2,3}[）)]\s?\d{3,4}[-\s]?\d{4}(?!\d)"             # （010）12345678
    r"|(?<!\d)0\d{2,3}-\d{3,4}[-\s]?\d{4}(?!\d)"                  # 0755-8888 6666
    r"|(?<!\d)\d{3,4}(?=室|房间|号房)"                                # 501室
    r"|(?<![A-Za-z])[GDCZTK]\d{1,4}(?=次)"                           # G1234次
    r"|(?<=[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼])[A-Z][A-Z0-9]{4,5}(?![A-Za-z0-9])")  # 京A12345
_NAMED_CODE = re.compile(r"(验证码|邮政编码|邮编|身份证号|手机号|电话号码?|银行卡号|编号|尾号|卡号|账号|车次|航班|房间|房号|"
                         r"门牌号?|密码|工号|学号)([是为：:]?\s*)(\d+)")                   # 验证码385920, 邮编100080
_TWO = [(re.compile(r"第两"), "第二"), (re.compile(r"(?<=月)两(?=[日号])"), "二"),     # the grammar's 两 for 2
        (re.compile(r"(?<=[上下中]午|早上|晚上|凌晨|傍晚)二(?=点)"), "两")]                # and its 二 o'clock
_missing_said = False


@functools.cache
def _simplified() -> dict[int, str]:
    """Traditional -> Simplified characters, as WeTextProcessing's own table has them (one character each;
    those whose reading the context decides, 乾 and 著, are not in it); empty where it is not installed."""
    spec = importlib.util.find_spec("tn")
    table = Path(spec.origin).parent / "chinese" / "data" / "char" / "traditional_to_simple.tsv" if spec else None
    if table is None or not table.is_file():
        return {}
    pairs = (line.split("\t") for line in table.read_text(encoding="utf-8").splitlines())
    return {ord(pair[0]): pair[1] for pair in pairs if len(pair) == 2 and len(pair[0]) == 1 and pair[1]}


def to_simplified(text: str) -> str:
    """Traditional Chinese in Simplified characters, for the Mandarin phonemiser: it reads 銀行 as yín-xíng and
    睡覺 as shuì-jué, but 银行 and 睡觉 right."""
    return text.translate(_simplified())


def read_numbers(text: str) -> str:
    """`text` with the digits of its Chinese written out as they are read."""
    global _missing_said
    text = _ENCLOSED.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)     # ① 1, Ⅲ III
    text = _ORDINAL_ROMAN.sub(lambda m: str(roman_value(m.group(1)) or m.group(1)), text)
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

    text = _WIDE_SIGNS.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    text = _CHAPTER_ZEROS.sub("", text)
    text = _PERCENT_RANGE.sub(r"\1%到", text)
    text = _SIGNED_PERCENT.sub(lambda m: "负" if m[1] == "-" else "", text)
    text = _DIGITS_ONE_BY_ONE.sub(lambda m: re.sub(r"[-\s（）()]", "", m.group()).replace("+", "加")
                                  .translate(_DIGIT_WORDS), text)
    text = _NAMED_CODE.sub(lambda m: m[1] + m[2] + m[3].translate(_DIGIT_WORDS), text)
    text = _CURRENCY.sub(lambda m: (m[2] or m[3]) + _CURRENCY_NAMES[m[1] or m[4]], text)
    text = _SIGN_MYRIADS.sub(lambda m: m[2] + _SIGN_NAMES[m[1]], text)
    text = _METRIC.sub(lambda m: _METRIC_NAMES[m[1]], text)
    text = _STRETCH.sub(read, text)
    for pattern, said in _TWO:
        text = pattern.sub(said, text)
    return text
