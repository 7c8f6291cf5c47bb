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
from typing import Sequence

from num2words import num2words

from indexstudio.text.abbreviations import expand_abbreviations
from indexstudio.text.hindi import read_hindi
from indexstudio.text.segment import SENTENCE_OPENERS

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_MONTH_RE = "|".join(_MONTHS + [m[:3] for m in _MONTHS] + ["Sept"])
# a month as dates write it: in full, or cut short with or without its full stop ("Mar. 3"); "in March. 3 days
# later" is no date, nor is "May." (never a short form)
_DATE_MONTH = "(?:" + "|".join(_MONTHS) + "|(?:" + "|".join([m[:3] for m in _MONTHS if m != "May"] + ["Sept"]) + r")\.?)"
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "", "")}
_SCALES = r"(?:thousand|million|billion|trillion)"
_SCALE_LETTERS = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion", "tn": "trillion"}
_DOLLAR_PREFIXES = {"A": "Australian", "AU": "Australian", "C": "Canadian", "CA": "Canadian", "NZ": "New Zealand",
                    "HK": "Hong Kong", "S": "Singapore", "US": "US"}
_FRACTIONS = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5), "⅗": (3, 5),
              "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8), "⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8)}
# unit -> (singular, plural); after a number only ("5 km", "5km"); those attached only when glued to it ("65W")
_UNITS = {"km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
          "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"), "lb": ("pound", "pounds"),
          "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"), "ft": ("foot", "feet"), "mi": ("mile", "miles"),
          "mph": ("mile per hour", "miles per hour"), "km/h": ("kilometer per hour", "kilometers per hour"),
          "kph": ("kilometer per hour", "kilometers per hour"), "ml": ("milliliter", "milliliters"),
          "mL": ("milliliter", "milliliters"), "kWh": ("kilowatt hour", "kilowatt hours"), "kW": ("kilowatt", "kilowatts"),
          "GHz": ("gigahertz", "gigahertz"), "MHz": ("megahertz", "megahertz"), "Hz": ("hertz", "hertz"),
          "KB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"),
          "TB": ("terabyte", "terabytes"), "°C": ("degree Celsius", "degrees Celsius"),
          "°F": ("degree Fahrenheit", "degrees Fahrenheit"), "°": ("degree", "degrees"),
          "m/s": ("meter per second", "meters per second"), "km/s": ("kilometer per second", "kilometers per second"),
          "m/s²": ("meter per second squared", "meters per second squared"),
          "kg/m³": ("kilogram per cubic meter", "kilograms per cubic meter"),
          "m³/s": ("cubic meter per second", "cubic meters per second"),
          "m²": ("square meter", "square meters"), "km²": ("square kilometer", "square kilometers"),
          "m³": ("cubic meter", "cubic meters"),
          "m": ("meter", "meters"), "g": ("gram", "grams"), "tsp": ("teaspoon", "teaspoons"),
          "tbsp": ("tablespoon", "tablespoons"),
          "fl oz": ("fluid ounce", "fluid ounces"), "kcal": ("kilocalorie", "kilocalories"), "yd": ("yard", "yards"),
          "μm": ("micrometer", "micrometers"), "µm": ("micrometer", "micrometers"),
          "ms": ("millisecond", "milliseconds"), "mA": ("milliamp", "milliamps"), "mAh": ("milliamp hour",
          "milliamp hours"), "kHz": ("kilohertz", "kilohertz"), "dB": ("decibel", "decibels"), "ppm": ("part per "
          "million", "parts per million"), "rpm": ("revolution per minute", "revolutions per minute"),
          "psi": ("pound per square inch", "pounds per square inch"), "hp": ("horsepower", "horsepower"),
          "kbps": ("kilobit per second", "kilobits per second"), "Mbps": ("megabit per second", "megabits per second"),
          "Gbps": ("gigabit per second", "gigabits per second"), "MB/s": ("megabyte per second",
          "megabytes per second"), "GB/s": ("gigabyte per second", "gigabytes per second")}
_ATTACHED_UNITS = {"W": ("watt", "watts"), "V": ("volt", "volts"), "fps": ("frame per second", "frames per second")}
_MONEY = re.compile(rf"(?:\b({'|'.join(_DOLLAR_PREFIXES)})(?=\$))?([$£€¥])\s?(\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)"
                    rf"(?:(?i:(k|m|mn|bn|b|tn))\b|\s*({_SCALES})\b)?")
_UNIT_RE = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_ROMAN = re.compile(r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
# words after which a Roman numeral is a number ("Chapter IV", "World War II")
_NUMBERED_WORDS = ("Chapter", "Part", "Book", "Volume", "Vol.", "Act", "Scene", "Section", "Article", "Appendix", "Canto",
                   "Psalm", "Phase", "Episode", "Season", "Level", "Stage", "World War", "Super Bowl", "volume",
                   "Chapters", "Parts", "Books", "Volumes", "Acts", "Scenes", "Sections", "Articles",
                   "Type", "Class", "Category", "Grade", "Mark", "Title", "Tier", "Division", "Schedule", "Vatican",
                   "Apollo", "Gemini", "Saturn", "Rocky", "Fantasy", "Civilization")
# ... and those after which a lone I is a number even before a word ("Type I diabetes", "World War I ended")
_ALWAYS_NUMBERED_WORDS = ("World War", "Type", "Grade", "Class", "Category", "Tier", "Schedule", "Title")


def _either_case(words: Sequence[str]) -> str:
    return "(?:" + "|".join(re.escape(w) + "|" + re.escape(w.upper()) for w in words) + ")"


_NUMBERED, _ALWAYS_NUMBERED = _either_case(_NUMBERED_WORDS), _either_case(_ALWAYS_NUMBERED_WORDS)
# names that monarchs and popes share, numbered with Roman numerals ("Henry VIII", "Pius XII", "Elizabeth I")
_REGNAL_NAMES = {"Alexander", "Alfonso", "Alfred", "Amenhotep", "Anne", "Antiochus", "Augustus", "Benedict",
                 "Boniface", "Carlos", "Catherine", "Charles", "Christian", "Clement", "Constantine", "Darius", "David",
                 "Edmund", "Edward", "Elizabeth", "Ferdinand", "Francis", "Franz", "Frederick", "George", "Gregory",
                 "Gustav", "Gustavus", "Haakon", "Harald", "Henry", "Herod", "Innocent", "Isabella", "Ivan", "James",
                 "John", "Joseph", "Juan", "Julius", "Leo", "Leopold", "Louis", "Ludwig", "Manuel", "Mary",
                 "Napoleon", "Nicholas", "Olaf", "Otto", "Paul", "Pedro", "Peter", "Philip", "Pius", "Ptolemy",
                 "Ramesses", "Richard", "Robert", "Rudolf", "Sixtus", "Stephen", "Thutmose", "Umberto", "Urban",
                 "Victor", "Wilhelm", "William", "Xerxes",
                 "Abdullah", "Adrian", "Afonso", "Alexios", "Andrew", "Andronikos", "Basil", "Bayezid", "Canute",
                 "Carl", "Casimir", "Celestine", "Cleopatra", "Cnut", "Duncan", "Edgar", "Emmanuel", "Eric", "Erik",
                 "Ethelred", "Eugene", "Faisal", "Farouk", "Felipe", "Frederik", "Fuad", "Gustaf", "Harold", "Hassan",
                 "Henri", "Honorius", "Hussein", "Isaac", "Justinian", "Karl", "Kenneth", "Magnus", "Mahmud",
                 "Martin", "Matthias", "Maximilian", "Mehmed", "Michael", "Mohammed", "Muhammad", "Murad",
                 "Nebuchadnezzar", "Olav", "Oscar", "Osman", "Philippe", "Rama", "Ramses", "Romanos", "Rudolph",
                 "Sancho", "Seleucus", "Selim", "Seti", "Sigismund", "Sigurd", "Suleiman", "Theodosius", "Valdemar",
                 "Vladimir", "Waldemar", "Wenceslaus", "Albert", "Artaxerxes", "Baldwin", "Claudius", "Conrad",
                 "Cosimo", "Cyrus", "Lorenzo", "Mswati", "Nicolas", "Nikolai", "Rainier", "Sobhuza",
                 "Aegon", "Aenys", "Aerys", "Baelor", "Daeron", "Jaehaerys", "Maegor", "Viserys"}      # (and fiction's)
# numerals that follow a full name as an heir's ("Henry Ford II", "Davis Love III"); higher ones, and those after
# one word, follow a name only where it is a king's or has a title ("England XV" is a team, "Alaska II" a ship)
_NAME_SUFFIXES = {"II", "III", "IV", "VI", "VII", "VIII", "IX"}
# capitalised words that start sentences or address people rather than name a king or a street
_NOT_NAMES = SENTENCE_OPENERS | {
    "Of", "To", "From", "By", "With", "Oh", "Dear", "Hello", "Hi", "Thanks", "Thank", "Said", "Asked", "Good", "Poor",
    "Old", "Young", "Is", "Was", "Did", "Do", "Does", "Can", "Could", "Will", "Would", "Should", "Shall", "May", "Might",
    "Must", "Have", "Had", "Am", "Are", "Were", "Let", "Call", "Ask", "Tell", "Meet", "Visit", "Sir", "Madam", "Lady",
    "Lord", "Mister", "Missus", "Miz", "Doctor", "Hey"}

# Titles before a name, and fixed Latin abbreviations; "St." is resolved by context below.
_ABBREVIATIONS = {
    "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Dr.": "Doctor", "Prof.": "Professor",
    "Jr.": "Junior", "Sr.": "Senior", "Capt.": "Captain", "Gen.": "General", "Lt.": "Lieutenant",
    "Col.": "Colonel", "Sgt.": "Sergeant", "Rev.": "Reverend", "Mt.": "Mount", "Ave.": "Avenue",
    "vs.": "versus", "etc.": "et cetera", "e.g.": "for example", "i.e.": "that is", "approx.": "approximately",
    "Fig.": "Figure", "Vol.": "Volume", "Ch.": "Chapter", "Jan.": "January", "Feb.": "February",
    "Aug.": "August", "Sept.": "September", "Oct.": "October", "Nov.": "November", "Dec.": "December",
    "Gov.": "Governor", "Sen.": "Senator", "Rep.": "Representative", "Hon.": "Honorable", "Mme.": "Madame",
    "Mlle.": "Mademoiselle", "Messrs.": "Messieurs", "Esq.": "Esquire", "Bros.": "Brothers", "Inc.": "Incorporated",
    "Ltd.": "Limited", "Corp.": "Corporation", "cf.": "compare", "vol.": "volume",
}
# ... and those that are words too ("a fig.", "a sect.", "said Jun."): expanded before a number only
_BEFORE_NUMBERS = {"ch": "chapter", "fig": "figure", "figs": "figures", "Figs": "Figures", "Sect": "Section",
                   "sect": "section", "Eq": "Equation", "eq": "equation", "para": "paragraph", "Mar": "March",
                   "Apr": "April", "Jun": "June", "Jul": "July", "Sep": "September"}
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


# pictographs, dingbats, flags, and the selectors that build emoji: nothing a narrator says
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\U000E0020-\U000E007F]")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'", "′": "'", "″": '"'})
# a footnote's number: after punctuation, or after a word of three lower-case letters or more that is no unit or
# function ("cm²", "sin²θ")
_WEEKDAYS = {"Mon": "Monday", "Tue": "Tuesday", "Tues": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday",
             "Thur": "Thursday", "Thurs": "Thursday", "Fri": "Friday", "Sat": "Saturday", "Sun": "Sunday"}
_DAY_OR_MONTH = "(?:" + "|".join(sorted({*_MONTHS, *_WEEKDAYS.values(), *_WEEKDAYS}, key=lambda w: (-len(w), w))) + ")"
_DAY_OR_MONTH_SPAN = re.compile(rf"\b({_DAY_OR_MONTH})\s*[-\u2013]\s*({_DAY_OR_MONTH})\b")
_SUPERSCRIPTS, _SUBSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹", "₀-₉"
_NOTE_SUPERSCRIPT = re.compile(rf"((?<![\w{_SUPERSCRIPTS}{_SUBSCRIPTS}])"
                               rf"(?!(?:sin|cos|tan|cot|sec|csc|log|exp|sinh|cosh|tanh)[{_SUPERSCRIPTS}])"
                               rf"[^\W\d_A-Z{_SUPERSCRIPTS}{_SUBSCRIPTS}]{{3,}}|[.,;:!?\"'”’])"
                               rf"([{_SUPERSCRIPTS}]+)(?![⁺⁻])")
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


def _before_its_noun(match: re.Match) -> bool:
    """Whether the amount `match` describes the noun after it ("a $5 million deal", "a 2 TB drive"): its unit is
    then said in the singular."""
    return bool(re.search(r"\b[Aa]n?\s+$", match.string[max(0, match.start() - 4):match.start()])
                and re.match(r"\s+[a-z]", match.string[match.end():]))


def _money(match: re.Match) -> str:
    prefix, symbol, amount = match.group(1), match.group(2), match.group(3).replace(",", "")
    scale = match.group(5) or _SCALE_LETTERS.get((match.group(4) or "").lower())
    one, many, sub_one, sub_many = _CURRENCIES[symbol]
    if re.match(rf"\s+(?:{one}|{many})\b", match.string[match.end():]):      # "a $12 million dollar ransom"
        one = many = ""
    if prefix:      # "A$10" -> "ten Australian dollars"
        one, many = f"{_DOLLAR_PREFIXES[prefix]} {one}", f"{_DOLLAR_PREFIXES[prefix]} {many}"
    if _before_its_noun(match):
        many = one                                   # "a five million dollar deal"
    if scale:  # "$5 million", "$5.5m" -> "five million dollars", "five point five million dollars"
        return f"{_cardinal(amount)} {scale} {many}"
    whole, _, cents = amount.partition(".")
    units = int(whole or "0")
    c = int(cents[:2].ljust(2, "0")) if cents and sub_one else 0
    if c and not units:       # "$0.99" -> "ninety-nine cents"
        return f"{_words(c)} {sub_one if c == 1 else sub_many}"
    spoken = f"{_words(units)} {one if units == 1 else many}"
    if c:
        spoken += f" and {_words(c)} {sub_one if c == 1 else sub_many}"
    return spoken


def _fraction(numerator: int, denominator: int, mixed: bool = False) -> str:
    """3/4 -> "three quarters"; in a mixed number 1/2 -> "a half" ("three and a half")."""
    if denominator == 2:
        name = "half" if numerator == 1 else "halves"
    elif denominator == 4:
        name = "quarter" if numerator == 1 else "quarters"
    else:
        name = _words(denominator, to="ordinal") + ("" if numerator == 1 else "s")
    return f"{'a' if mixed and numerator == 1 else _words(numerator)} {name}"


def _fraction_of(whole: str | None, numerator: int, denominator: int, unit: str | None) -> str:
    """A fraction, mixed with a `whole` number or not, before its unit: "one and a half teaspoons", "a half
    teaspoon", "three quarters of a cup"."""
    spoken = (f"{_words(int(whole))} and " if whole else "") + _fraction(numerator, denominator, mixed=bool(whole))
    if not unit:
        return spoken
    one, many = _UNITS[unit]
    if whole:
        return f"{spoken} {many}"
    if numerator == 1 and denominator in (2, 4):
        return f"a {spoken.split()[-1]} {one}"
    return f"{spoken} of a {one}"


def _roman(numeral: str) -> int:
    values = [_ROMAN_VALUES[c] for c in numeral]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def roman_value(numeral: str) -> int | None:
    """The value of a Roman numeral in either case ("xiv" -> 14), None for a word that is not one."""
    upper = numeral.upper()
    return _roman(upper) if upper and _ROMAN.fullmatch(upper) else None


# what follows the pronoun I, not a king's numeral ("Peter I love you", but "Henry I was crowned")
_PRONOUN_FOLLOWS = re.compile(r"\s+(?:am|love|hope|think|know|want|need|will|can|must|shall|feel|see|wish|promise|"
                              r"swear|guess|mean|do|don't|can't|won't|didn't|just|really|never|always|believe|"
                              r"beg|understand|have to|miss|hate|like)\b")
# shouting set in capitals: its short words are words, not letters to spell ("ALL OF US!", "STOP IT!")
_SHOUTED = re.compile(r"\b[A-Z]{2,}(?:[ ,!'’-]+[A-Z]{2,})+\b")
_SHOUTED_SHORT = re.compile(r"\b(?:IT|US(?!\s+(?:ARMY|NAVY|AIR FORCE|MARINES?|GOVERNMENT|PRESIDENT|SENATE|CONGRESS|"
                            r"EMBASSY|MILITARY)\b)|AS|IS|AT|ON|IN|OF|TO|NO|SO|DO|GO|WE|HE|ME|BE|MY|BY|OR|AN|UP|IF|AM)\b")


# video lines as they are said: "1080p" ten-eighty p
_RESOLUTIONS = {"480": "four-eighty", "720": "seven-twenty", "1080": "ten-eighty", "1440": "fourteen-forty",
                "2160": "twenty-one-sixty"}
# a time written with a full stop, as British English writes it ("at 10.30 in the morning", "the 9.15 train"):
# after a word that says a time follows and before one that says it was one, or closing a sentence after "at"
# where it could be nothing else (an hour without a leading 0, minutes by fives: "Come at 8.05."); "traded at
# 1.25, its lowest", "significant at 0.05" stay numbers
_TIME_FOLLOWS = (r"in the (?:morning|afternoon|evening|night)|tonight|this (?:morning|afternoon|evening)|sharp|"
                 r"precisely|exactly|on the dot|o'clock|hrs|hours|GMT|BST|UTC|CET|last night|tomorrow|train|bus|"
                 r"coach|ferry|flight|boat|service|express|departure|show|performance|mass|news")
_DOTTED_TIME = re.compile(
    rf"\b((?:(?i:at|until|till|before|after|around|about|by)|[Tt]he(?=\s+\d{{1,2}}\.\d\d\s+(?:{_TIME_FOLLOWS}|from)\b))"
    rf"\s+)([1-9]|1\d|2[0-3])\.([0-5]\d)(?!\d|[.,]\d)(?=\s+(?:{_TIME_FOLLOWS}|from)\b)"
    rf"|\b((?i:at)\s+)([1-9]|1[0-2])\.([0-5][05])(?=\.(?:\s|$))")

_CLOCK = r"([1-9]|1\d|2[0-3])\.([0-5]\d)(?!\d|[.,]\d)"
_NOT_A_PRICE = (rf"(?!\s+(?:each|a|an|per|apiece|the (?:pair|dozen|lot)|percent|per cent|dollars?|euros?|pounds?|cents?|"
                rf"pence|yen|yuan|rupees?|francs?|points?)\b|\s*(?:%|(?:{_UNIT_RE})(?![\w/])))")
# more written times: a sentence that opens "At 10.30 the doors opened", "It was 8.20 when ...", and a span that
# runs past noon, "from 9.30 to 5.30" (a span of prices or measures rises: "from 1.25 to 1.50")
_OPENING_TIME = re.compile(rf"(?:(?<=^)|(?<=[.!?][\s\"'“”‘’])|(?<=[.!?]\s[\"'“‘])|(?<=\n))"
                           rf"((?:At|By|Until|Till|Before|After|Around)\s+){_CLOCK}{_NOT_A_PRICE}(?=,|\s+[a-z])")
# "He arrived at 7.45, late", "the train leaves at 9.10 and": a verb of coming and going says the time
_VERB_AT_TIME = re.compile(rf"\b((?:arrived?|arrives|arriving|left|leaves?|leaving|departed|departs?|came|comes|"
                           rf"returned|returns?|woke|wakes?|got up|gets up|rose|set off|sets off|started|starts?|"
                           rf"began|begins?|ended|ends|finished|finishes|closed|closes|opened|opens|met|meet|"
                           rf"home|there|here)\s+(?:at|by|until|till|before|after|around)\s+){_CLOCK}"
                           rf"{_NOT_A_PRICE}(?![\w/])")
_TIME_WAS = re.compile(rf"\b([Ii]t\s+(?:was|is|had been|would be)\s+(?:nearly\s+|almost\s+|just\s+|past\s+)?){_CLOCK}"
                       rf"(?=[.,;!?]|\s+(?:when|and|before|by|now|already|in the|at night)\b)")
_TIME_SPAN = re.compile(rf"\b((?i:from)\s+){_CLOCK}(\s*(?:to|till|until|-|–)\s*){_CLOCK}{_NOT_A_PRICE}(?![\w/])")


def _dotted_times(text: str) -> str:
    """Times written with a full stop, where their context says a time is meant (see _DOTTED_TIME and the above)."""
    text = _DOTTED_TIME.sub(lambda m: (m.group(1) or m.group(4)) + _clock(int(m.group(2) or m.group(5)),
                                                                       int(m.group(3) or m.group(6))), text)
    text = _OPENING_TIME.sub(lambda m: m.group(1) + _clock(int(m.group(2)), int(m.group(3))), text)
    text = _VERB_AT_TIME.sub(lambda m: m.group(1) + _clock(int(m.group(2)), int(m.group(3))), text)
    text = _TIME_WAS.sub(lambda m: m.group(1) + _clock(int(m.group(2)), int(m.group(3))), text)

    def span(m: re.Match) -> str:
        start, end = (int(m.group(2)), int(m.group(3))), (int(m.group(5)), int(m.group(6)))
        if not end < start:
            return m.group(0)
        return f"{m.group(1)}{_clock(*start)} to {_clock(*end)}"
    return _TIME_SPAN.sub(span, text)


def _romans(text: str) -> str:
    """Roman numerals that are numbers: after "Chapter", "Part", "World War" ... (cardinal) and after a name,
    as kings and popes are numbered ("Henry VIII" -> "Henry the Eighth"); the pronoun "I" stays a word."""
    def numbered(m: re.Match, numeral: str = "") -> str:
        numeral = numeral or m.group(2)
        return f"{m.group(1)}{_words(_roman(numeral))}" if _ROMAN.fullmatch(numeral) else m.group(0)

    def regnal(m: re.Match) -> str:
        title, name, numeral = m.group(1) or "", m.group(2), m.group(3)
        first = re.search(r"\b([A-Z][a-z]+) $", m.string[max(0, m.start(2) - 30):m.start(2)])
        heir = numeral in _NAME_SUFFIXES and first and first.group(1) not in _NOT_NAMES and name not in _NOT_NAMES
        if not _ROMAN.fullmatch(numeral) or not (title or name in _REGNAL_NAMES or heir):
            return m.group(0)
        if numeral == "I" and (_PRONOUN_FOLLOWS.match(m.string, m.end()) or not (title or m.group(4))
                               and re.match(r"\s+\w", m.string[m.end():])):
            return m.group(0)               # "Oh, Peter I love you", "When I told Michael I was": "Henry I." is a king
        return f"{title}{name} the {_words(_roman(numeral), to='ordinal').capitalize()}{m.group(4) or ''}"
    # "Chapter XIV", "PART IV", "World War II": two letters or more, or a lone I, V or X not followed by a word in
    # lower case or capitals ("the best Part I ever played", "MARK I DON'T"); a lone C, D, L or M is a letter
    # ("Appendix C", "Part D"); after "Type", "World War" ... a lone I is a number whatever follows
    text = re.sub(rf"\b({_ALWAYS_NUMBERED}\s+)I\b(?![\w'’-])", r"\1one", text)
    text = re.sub(rf"\b({_NUMBERED}\s+)([IVXLCDM]{{2,}}\b(?![\w'’-])|[IVX]\b(?![\w'’-])(?!\s+[a-z]|\s+[A-Z]{{2}}))",
                  numbered, text)
    for _ in range(4):                                       # "Chapters II and III", "Acts I, II and V"
        text = re.sub(rf"(\b{_NUMBERED}\s+(?:[a-z]+(?:-[a-z]+)?(?:,| and| or| to)\s+)+)([IVXLC]{{2,}}|[IVX])\b"
                      r"(?![\w'’-])", numbered, text)
    text = re.sub(r"\b((?i:chapter|part|book|volume|act|scene|section|canto|article)\s+)([ivxlc]{2,}(?![\w'’-])|"
                  r"[ivx](?![\w'’-])(?!\s+(?!of\b|and\b)[a-z]))", lambda m: numbered(m, m.group(2).upper()),
                  text)                                                   # "chapter xii", "chapter v of the report"
    text = re.sub(rf"\b((?:{_NUMBERED}|(?i:chapter|part|book|volume))\s+)0+(?=[1-9])", r"\1", text)  # Chapter 005
    text = re.sub(r"\b((?:King|Queen|Emperor|Empress|Pope|Prince|Princess|Tsar|Czar|Sultan|Pharaoh)\s+)?"
                  r"([A-Z][a-z]+) ([IVX]{1,5})\b(?:(['’]s)\b)?(?![\w'’-])", regnal, text)    # King Aldric III
    for _ in range(4):                                       # "Edward I, II and III": the Second, the Third
        text = re.sub(r"(\bthe [A-Z][a-z]+(?:-[a-z]+)?(?:,| and| or| to)\s+)([IVX]{2,5})\b(?![\w'’-])",
                      lambda m: f"{m.group(1)}the {_words(_roman(m.group(2)), to='ordinal').capitalize()}"
                      if _ROMAN.fullmatch(m.group(2)) else m.group(0), text)
    return text


def _unit(match: re.Match) -> str:
    number, unit = match.group(1), match.group(2)
    one, many = _UNITS.get(unit) or _ATTACHED_UNITS[unit]
    return f"{_cardinal(number)} {one if number == '1' or _before_its_noun(match) else many}"


def _days_of_a_month(m: re.Match) -> str:
    """ "March 3-5, 2024" -> "March third to fifth, twenty twenty-four" (not when the days run backwards)."""
    first, last = int(m.group(2)), int(m.group(3))
    if not first < last <= 31:
        return m.group(0)
    year = f", {_year(int(m.group(4)))}" if m.group(4) else ""
    return (f"{_MONTHS[_month_index(m.group(1)) - 1]} {_words(first, to='ordinal')} to "
            f"{_words(last, to='ordinal')}{year}")


def _inches(m: re.Match) -> str:
    """A number with an inch mark ("6.1\""), unless the mark closes a quotation its paragraph opened ("Room 5")."""
    before = m.string[m.string.rfind("\n\n", 0, m.start()) + 1:m.start()]
    if len(re.findall(r'(?<![\d\'])"', before)) % 2:
        return m.group(0)
    return f"{_cardinal(m.group(1))} inch{'' if m.group(1) == '1' or _before_its_noun(m) else 'es'}"


def _stopwatch(at: str | None, hours: str | None, minutes: str, seconds: str, fraction: str | None) -> str:
    """A time with seconds as said: after "at" a time of day ("at ten thirty and fifteen seconds"), else a
    stopwatch's reading, "1:45:30" (hours, minutes, seconds) or "1:23.456" (minutes, seconds)."""
    if at:
        return f"{at}{_clock(int(hours), int(minutes))}" + (f" and {_words(int(seconds))} seconds"
                                                             if int(seconds) else "")
    parts = [(n, unit) for n, unit in ((hours, "hour"), (minutes, "minute"), (seconds, "second")) if n]
    said = [f"{_words(int(n))} {unit}{'' if int(n) == 1 else 's'}" for n, unit in parts[:-1] if int(n)]
    last, unit = parts[-1]
    if fraction:
        said.append(f"{_words(int(last))} point {' '.join(_words(int(d)) for d in fraction)} {unit}s")
    elif int(last) or not said:
        said.append(f"{_words(int(last))} {unit}{'' if int(last) == 1 else 's'}")
    return ", ".join(said[:-1]) + (" and " if len(said) > 1 else "") + said[-1]


def _duration(match: re.Match) -> str:
    parts = zip(match.groups(), ("hour", "minute", "second"))
    return " ".join(f"{_words(int(n))} {unit}{'' if n == '1' else 's'}" for n, unit in parts if n)


def _spell_address(match: re.Match) -> str:
    """An email or web address as it is read out: "john dot doe at example dot com"."""
    address = re.sub(r"^(?:https?://)", "", match.group(0)).rstrip("/")
    address = address.replace(".", " dot ").replace("@", " at ").replace("/", " slash ")
    return re.sub(r"[_-]", " ", address)


def _digits(match: re.Match) -> str:
    """A phone number digit by digit, its groups apart: "555-123-4567"."""
    groups = re.findall(r"\d+", match.group(0))
    return ", ".join(" ".join(_words(int(d)) for d in group) for group in groups)


def _military_time(match: re.Match) -> str:
    """"0600 hours": oh six hundred; "2330": twenty-three thirty."""
    hour, minute = match.group(1), int(match.group(2))
    spoken = ("oh " if hour[0] == "0" else "") + _words(int(hour))
    return f"{spoken} {'hundred' if minute == 0 else ('oh ' if minute < 10 else '') + _words(minute)}"


def _clock(hour: int, minute: int) -> str:
    if minute == 0:
        return f"{_words(hour)} hundred" if hour > 12 else f"{_words(hour)} o'clock"       # 15:00 fifteen hundred
    if minute < 10:
        return f"{_words(hour)} oh {_words(minute)}"
    return f"{_words(hour)} {_words(minute)}"


# a ratio, 3:1 or 16:9: a time's minutes have two digits, and a ratio may say it is one; after a capitalised name
# it is a verse (John 3:5, "John three five")
_RATIO = re.compile(r"(?<![\w:.])(?:((?:ratio|odds|scale) of)\s+|([A-Z][a-z]+)\s+)?(\d{1,3}):(\d{1,5})(?![\w:]|\.\d)"
                    r"(\s+(?:ratio|scale|aspect|odds|majority|mix)\b)?")
_OPENING_WORDS = {"A", "An", "The", "At", "In", "By", "With", "Of", "On"}


def _ratio(match: re.Match) -> str:
    said, name, first, second, named = match.groups()
    if not (said or named or len(second) == 1):
        return match.group(0)
    if name and name not in _OPENING_WORDS and not said and not named:
        return f"{name} {_words(int(first))} {_words(int(second))}"
    before = f"{said or name} " if said or name else ""
    return f"{before}{_words(int(first))} to {_words(int(second))}{named or ''}"


_TIME_ZONE = re.compile(r"\s+(?:[ECMP][SD]T|GMT|UTC|BST|CET|CEST|IST|JST|AEST|AEDT)\b")      # 10 a.m. EST


def _time(match: re.Match) -> str:
    hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if meridiem:
        spoken = _words(hour) if minute == 0 else _clock(hour, minute)
        spoken = f"{spoken} {'AM' if meridiem.lower().startswith('a') else 'PM'}"       # (espeak: "A M" is "uh em")
        rest = match.string[match.end():]
        if meridiem.endswith(".") and (not rest.strip() or rest[:1] == "\n" or rest.lstrip()[:1].isupper()) \
                and not _TIME_ZONE.match(rest):
            spoken += "."  # "a.m." also closed the sentence
        return spoken
    return _clock(hour, minute)


def _year(value: int) -> str:
    return _words(value, to="year")


def _shillings(match: re.Match) -> str:
    """Pre-decimal British money: "£3 10s. 6d." -> "three pounds ten shillings and six pence"."""
    pounds, shillings, pence, lone_pence = match.groups()
    if lone_pence:
        spoken = f"{_words(int(lone_pence))} pence"
    else:
        spoken = f"{_cardinal(pounds)} pound{'s' if pounds != '1' else ''} " if pounds else ""
        spoken += f"{_words(int(shillings))} shilling{'s' if shillings != '1' else ''}"
        spoken += f" and {_words(int(pence))} pence" if pence else ""
    ends_sentence = not re.match(r"\s*[a-z0-9,;]", match.string[match.end():])
    return spoken + ("." if ends_sentence else "")                # ("d." was the abbreviation's full stop too)


def _decade(match: re.Match) -> str:
    spoken = _year(int(match.group(1) or match.group(2)))   # "nineteen ninety" -> "nineteen nineties"
    return spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"


def _date(month: int, day: int, year: int | None, day_first: bool = False) -> str:
    """ "March fifth, twenty twenty-four", or as British English says it, "the fifth of March, ..." """
    spoken = f"{_MONTHS[month - 1]} {_words(day, to='ordinal')}"
    if day_first:
        spoken = f"the {_words(day, to='ordinal')} of {_MONTHS[month - 1]}"
    return f"{spoken}, {_year(year)}" if year else spoken


def _month_index(name: str) -> int:
    return next(i for i, m in enumerate(_MONTHS) if m.lower().startswith(name.lower()[:3])) + 1


def _saint_or_street(m: re.Match) -> str:
    """ "St." / "Dr." before a name is Saint / Doctor ("St. Paul", "Dr. Smith"); after a name, and not before
    another, Street / Drive ("Baker St.", "Mulholland Dr. The house"), its full stop kept where it ended a
    sentence."""
    before, kind, dotted = m.group(1) or "", m.group(2), m.group(3) == "."
    after = re.match(r"\s+([A-Z][\w'’]*)(\.?)", m.string[m.end():])
    if after and after.group(2) and after.group(1) in ("Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Rev", "Capt"):
        return f"{before}{'Street' if kind == 'St' else 'Drive'}{'.' * dotted}"   # "Baker St. Dr. Jones"
    if after and after.group(1) not in _NOT_NAMES:
        return f"{before}{'Saint' if kind == 'St' else 'Doctor'}"
    name = before.strip()
    if not name or (kind == "Dr" and (not name[0].isupper() or name in _NOT_NAMES)):
        return f"{before}{'Saint' if kind == 'St' else 'Doctor'}"
    ends = after or re.match(r"\s*(?:$|[\"'])", m.string[m.end():])
    return f"{before}{'Street' if kind == 'St' else 'Drive'}{'.' if ends and dotted else ''}"


# abbreviations that may end a sentence: keep its full stop
_SENTENCE_FINAL = {"etc.", "Jr.", "Sr.", "Ave.", "Esq.", "Bros.", "Inc.", "Ltd.", "Corp."}


def _abbreviation(m: re.Match) -> str:
    word = _ABBREVIATIONS[m.group(1)]
    if m.group(1) in _SENTENCE_FINAL and re.match(r"\s*(?:$|[A-Z\"])", m.string[m.end():]):
        word += "."
    return word


# titles written without a full stop (British style) that eSpeak spells: "Ms Adler" was "M S Adler"
_UNDOTTED_TITLES = {"Ms": "Miz", "Revd": "Reverend", "Sgt": "Sergeant", "Lt": "Lieutenant", "Capt": "Captain",
                    "Col": "Colonel", "Prof": "Professor"}


def _expand_abbreviations(text: str) -> str:
    text = re.sub(r"(\b[A-Za-z]+ |\b\d+(?:st|nd|rd|th) )?\b(St|Dr)(\.|\b(?![.'’&-]))", _saint_or_street,
                  text)                                                  # St. Paul, Baker St, 5th St, Dr.
    text = re.sub(rf"\b({'|'.join(_UNDOTTED_TITLES)})(?= (?:[A-Z]\. )?[A-Z][a-z])",
                  lambda m: _UNDOTTED_TITLES[m.group(1)], text)                   # Ms Adler, Sgt Pepper
    text = re.sub(r"\bvs\b\.?(?=\s)", "versus", text)                             # Arsenal vs Chelsea
    text = re.sub(rf"(?<!\bThe )\b({'|'.join(_WEEKDAYS)})\b\.?(?=,?\s+(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_DATE_MONTH}\b|"
                  rf"{_DATE_MONTH}\s+\d|the\s+\d{{1,2}}(?:st|nd|rd|th)\b))",
                  lambda m: _WEEKDAYS[m.group(1)], text)                         # Fri 14 June, Mon., Jan. 3
    text = re.sub(rf"\b({'|'.join(_BEFORE_NUMBERS)})\.\s*(?=\d)", lambda m: _BEFORE_NUMBERS[m.group(1)] + " ",
                  text)                                                            # fig. 2, Apr. 2020
    text = re.sub(r"\bNo\.\s*(?=\d)", "number ", text)          # No. 5
    text = re.sub(r"\bpp\.\s*(?=\d)", "pages ", text)            # pp. 12-15
    text = re.sub(r"\bp\.\s*(?=\d)", "page ", text)              # p. 7
    text = re.sub(r"(?<![\w.])c\.\s*(?=\d{3,4}\b)", "circa ", text)  # c. 1850
    return _ABBR_RE.sub(_abbreviation, text)


# a four-digit number that counts a plural ("1347 passengers", "2024 votes"; "in 1347 ships", "the 1992 riots"
# and "1500 men" stay years and hundreds, which read well either way), and the words ending in s that are no
# plural (census, status: -us)
_NO_PLURAL = ("this thus was has his its does plus always perhaps besides sometimes whereas unless across towards "
              "afterwards nevertheless yes").split()
_COUNTED = re.compile(r"(?<![\w,.$£€¥#-])(1[1-9]\d[1-9]|1[1-9][1-9]\d|20\d[1-9]|20[1-9]\d)"
                      rf"(?=\s+(?:(?!(?:{'|'.join(_NO_PLURAL)})\b)[a-z]+[^su\W]s|people|men|women|children)\b)")
# before a year, or before a number that names a thing ("Flight 1347", read as a year is: thirteen forty-seven)
_YEAR_CUE = re.compile(r"(?i:\b(?:the|in|by|of|to|since|until|circa|from|year|c\.|flight|room|route|bus|gate|train|"
                       r"platform|no\.|number|model|suite|unit|highway|track|channel))\s+$")


def _counted(text: str) -> str:
    return _COUNTED.sub(lambda m: m.group(0) if _YEAR_CUE.search(text[max(0, m.start() - 10):m.start()])
                        else _cardinal(m.group(1)), text)


# currency codes before an amount: as the sign (which the money rule reads), or their words after it
_CODE_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "C$", "AUD": "A$", "NZD": "NZ$",
               "HKD": "HK$", "SGD": "S$"}
_CODE_WORDS = {"CHF": "Swiss francs", "INR": "rupees", "Rs.": "rupees", "Rs": "rupees", "CNY": "yuan", "RMB": "yuan"}
_VERSIONED = ("version|Version|Python|iOS|iPadOS|macOS|Android|Windows|Ubuntu|Debian|Fedora|Java|Node|Perl|PHP|"
              "Ruby|Firefox|Chrome|Linux|kernel|firmware")


def _names_with_numbers(text: str) -> str:
    """Numbers a name reads its own way: 192.168.1.1 (dot by dot), Python 3.11 ("three point eleven"), a Boeing 747
    ("seven forty-seven"), an Airbus A320, C# ("C sharp"), USD 20 million and Rs. 500."""
    def address(m: re.Match) -> str:
        parts = m.group(0).split(".")
        return " dot ".join(_words(int(p)) for p in parts) if all(int(p) < 256 for p in parts) else m.group(0)
    text = re.sub(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.]|\.\d)", address, text)
    text = re.sub(rf"\b((?:{_VERSIONED})\s+|\bv)(\d+(?:\.\d+)+)\b(?!\.\d)",
                  lambda m: m.group(1).rstrip() + " " + " point ".join(_words(int(p)) for p in m.group(2).split(".")),
                  text)
    text = re.sub(r"\b(Boeing |Airbus A)([3-7])(\d\d)(?=s?\b|-\d)", lambda m: f"{m.group(1).rstrip()} "
                  f"{_words(int(m.group(2)))} {_words(int(m.group(3))) if m.group(3) != '00' else 'hundred'}", text)
    text = re.sub(r"\b([A-G])#(?![\w#])", r"\1 sharp", text)
    text = re.sub(rf"\b({'|'.join(re.escape(c) for c in _CODE_SIGNS)})\s?(?=\d)", lambda m: _CODE_SIGNS[m.group(1)],
                  text)
    return re.sub(rf"(?<!\w)({'|'.join(re.escape(c) for c in _CODE_WORDS)})\s?(\d[\d,]*(?:\.\d+)?)(\s*{_SCALES})?\b",
                  lambda m: f"{_cardinal(m.group(2))}{m.group(3) or ''} {_CODE_WORDS[m.group(1)]}", text)


_PER = {"year": "year", "yr": "year", "month": "month", "mo": "month", "week": "week", "wk": "week", "day": "day",
        "hour": "hour", "hr": "hour"}


def normalize_english(text: str, day_first: bool = False) -> str:
    """Spell out what an English reader would say aloud."""
    text = re.sub(r"(?:https?://|www\.)[\w./-]*\w|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+", _spell_address, text)
    text = _names_with_numbers(text)
    text = _expand_abbreviations(text)
    text = _SHOUTED.sub(lambda m: _SHOUTED_SHORT.sub(lambda w: w.group().lower(), m.group())
                        if sum(c.isalpha() for c in m.group()) >= 5 else m.group(), text)
    text = _romans(text)
    text = re.sub(r"(?<![\w+.-])(?:1[-. ])?(?:(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}|\d{3}-\d{4})\b(?![-.]\d)",
                  _digits, text)                                                   # (1-)555-123-4567, 555-1234
    text = re.sub(r"\b911\b", "nine one one", text)
    text = re.sub(r"\b([01]\d|2[0-3])([0-5]\d)(?=\s+hours\b)", _military_time, text)    # 0600 hours
    text = re.sub(r"(?<![\w.,])[1-9]\d{0,2}(?:(?:[\u00a0\u202f]\d{3})+|(?: \d{3}){2,})\b(?![ ,.]?\d)",
                  lambda m: re.sub(r"\s", "", m.group(0)), text)                    # 3 000 000 (SI thousands)
    text = re.sub(r"(?<![\w.+])(?:\+\d{1,3}(?:\s\d{2,4}){2,4}|0\d{1,4}(?:\s\d{3,4}){1,2})\b(?![\s-]?\d)",
                  lambda m: ("plus " if m.group(0).startswith("+") else "") + _digits(m), text)  # 020 7946 0958
    text = re.sub(r"(?<=\b[Tt]he )(\d*[23])d\b", lambda m: _words(int(m.group(1)), to="ordinal"), text)  # the 3d of May
    text = re.sub(r"(?:£\s?(\d[\d,]*)\s+)?(?<!\d[hm] )\b(1?\d|[2-9][1-9])s\.(?:\s*(\d{1,2})d\.)?|\b(\d{1,2})d\.",
                  _shillings, text)                              # £3 10s. 6d., a guinea's 21s. (the 90s. is a decade)
    text = re.sub(r"([$£€])(\d[\d,]*(?:\.\d+)?)\s?-\s?(?=[$£€]\d)", r"\1\2 to ", text)       # $12-$15
    text = re.sub(r"(\d[\d,]*(?:\.\d+)?\s?%?)\s?-\s?(?=\d[\d,]*(?:\.\d+)?\s?%)", r"\1 to ", text)   # 5.25%-5.5%
    text = re.sub(r"(?<![\w.,-])-(?=[$£€¥]\d|\d[\d,]*(?:\.\d+)?\s?%)", "minus ", text)          # -$2.3m, -0.5%
    text = _MONEY.sub(_money, text)                             # $3.50, $5m, £1.5bn, A$10, $2 million
    text = re.sub(r"(?<=\d|s)/(year|yr|month|mo|week|wk|day|hour|hr)\b",
                  lambda m: " per " + _PER[m.group(1)], text)                       # $45,000/year
    text = re.sub(r"\b(\d{1,2})p\b", lambda m: f"{m.group(1)} {'penny' if m.group(1) == '1' else 'pence'}", text)  # 50p
    text = re.sub(r"\b(480|720|1080|1440|2160)([pi])\b", lambda m: f"{_RESOLUTIONS[m.group(1)]} {m.group(2)}", text)
    text = re.sub(r"(?<![\w~])~\s?(?=[$£€]?\d)", "about ", text)                  # ~20%
    text = text.replace("±", " plus or minus ").replace("≤", " less than or equal to ").replace(
        "≥", " greater than or equal to ")
    text = re.sub(r"(?<=\s)<(?=\s)", "less than", re.sub(r"(?<=\s)>(?=\s)", "greater than", text))   # p < 0.05
    text = re.sub(r"(\d)\^(\d+)", r"\1 to the power of \2", text)                   # 10^6
    text = re.sub(r"(?<![\d/])(\d[\d,]*(?:\.\d+)?)(W|V|fps)\b", lambda m: m.group(0) if re.search(
        r"\b(?:Route|Form|Highway|Interstate|Rte\.?|I-?)\s*$", text[max(0, m.start() - 12):m.start()]) else _unit(m),
        text)                                                             # 65W, 230V, 60fps; not Route 9W
    text = re.sub(r"(?<=\d)(?=[A-Z]\b)", " ", text)              # 221B, 4K: the number, then the letter
    text = re.sub(r"(?<=[A-Za-z])(?=\d)", " ", text)            # "ABC123" -> "ABC 123"
    text = re.sub(rf"\b({_DATE_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?\s?-\s?(\d{{1,2}})(?:st|nd|rd|th)?\b"
                  r"(?:,?\s+(\d{4}))?", _days_of_a_month, text)                              # March 3-5
    # ISO dates and slash dates (month first in US English, day first elsewhere).
    text = re.sub(r"\b(\d{4})-(\d{2})-(\d{2})\b",
                  lambda m: _date(int(m.group(2)), int(m.group(3)), int(m.group(1)), day_first)
                  if 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31 else m.group(0), text)

    def slash_date(m: re.Match) -> str:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        month, day = (b, a) if day_first else (a, b)
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return m.group(0)
        return _date(month, day, y if y >= 100 else 2000 + y, day_first)
    text = re.sub(r"\b(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b", slash_date, text)
    # "March 5, 2024", "March 5th", "5 March 2024"
    text = re.sub(rf"\b({_DATE_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b",
                  lambda m: _date(_month_index(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None), text)
    text = re.sub(rf"\b((?:[Tt]he\s+)?)(\d{{1,2}})(?:st|nd|rd|th)?\s+({_DATE_MONTH})(?:,?\s+(\d{{4}}))?\b",
                  lambda m: f"{m.group(1) or 'the '}{_words(int(m.group(2)), to='ordinal')} of "
                  f"{_MONTHS[_month_index(m.group(3)) - 1]}" + (f", {_year(int(m.group(4)))}" if m.group(4) else ""), text)
    text = re.sub(r"(\b(?i:at)\s+)?(?<![\w:.])(\d{1,2}):([0-5]\d):([0-5]\d)(?:\.(\d{1,3}))?(?![\w:]|\.\d)",
                  lambda m: _stopwatch(*m.groups()), text)                               # ran 1:45:30, at 10:30:15
    text = re.sub(r"(?<![\w:.])(\d{1,2}):([0-5]\d)\.(\d{1,3})(?![\w:]|\.\d)",
                  lambda m: _stopwatch(None, None, *m.groups()), text)                    # a lap of 1:23.456
    text = re.sub(r"(?<![\w:.])\d{1,3}(?::\d{1,3}){2,}(?![\w:]|\.\d)",
                  lambda m: " to ".join(_words(int(n)) for n in m.group(0).split(":")), text)     # a 1:2:3 mix
    text = _RATIO.sub(_ratio, text)                                                     # 3:1, 16:9
    # Times: 10:30, 7:05 pm, 5pm, 11 a.m., 6.45pm
    text = re.sub(r"\b(\d{1,2}):(\d{2})(?:\s*([aApP]\.?[mM]\.?))?(?![\w:])", _time, text)
    text = re.sub(r"\b(\d{1,2})\.(\d{2})\s*([aApP]\.[mM]\.|[aApP][mM]\b)", _time, text)
    text = re.sub(r"\b(\d{1,2})()\s*([aApP]\.[mM]\.|[aApP][mM]\b)", _time, text)
    text = _dotted_times(text)                                                          # at 10.30
    # Measures: 5'10", 5 km, 10kg, 72°F, 4x4, 3½, 1/2, 3 1/2.
    text = re.sub(r"\b(\d)'\s?(\d{1,2})(?:\"|'')", lambda m: f"{_words(int(m.group(1)))} foot {_words(int(m.group(2)))}", text)
    text = re.sub(r"\b(?:(\d+)h\s?)?(\d+)m\s?(\d+)s\b", _duration, text)                     # 5m 30s
    text = re.sub(rf"(?<![\d.,-])(\d[\d,]*(?:\.\d+)?)\s?[-–]\s?(?=\d[\d,]*(?:\.\d+)?\s?(?:{_UNIT_RE})(?![\w/]))",
                  r"\1 to ", text)                                                      # 10-15kg
    text = re.sub(rf"((?:(?<![\w.])-)?(?<![\d/])\d[\d,]*(?:\.\d+)?)\s?({_UNIT_RE})(?![\w/'’]|\s*[-+=×*/<>^]\s)"
                  r"(?:\.(?=\s+[a-z]+\b))?", _unit, text)     # -5°C; "5 lbs. and": no full stop; not "2 m + 1"
    text = re.sub(r"\b(\d+(?:\.\d+)?)[x×](?=\s+(?:faster|slower|more|less|better|worse|bigger|smaller|larger|"
                  r"higher|lower|greater|cheaper|longer|shorter|the|as|that|what)\b)", r"\1 times", text)   # 3x faster
    text = re.sub(r"\b(\d+)x\b(?=\s+[a-z])", r"\1 x", text)                                  # a 10x lens
    text = re.sub(r"(?<![\d.'])(\d+(?:\.\d+)?)\"", _inches, text)                  # a 6.1" screen (not "Room 5")
    text = re.sub(r"(?<=\d)\s?[x×]\s?(?=\d)", " by ", re.sub(r"(?<=\d) ?\* ?(?=\d)", " times ", text))   # 4x4, 2 * 3
    vulgar = "".join(_FRACTIONS)
    unit = rf"(?:\s?({_UNIT_RE})(?![\w/]))?"
    text = re.sub(rf"(?:(\d+)\s?)?([{vulgar}]){unit}", lambda m: _fraction_of(m.group(1), *_FRACTIONS[m.group(2)],
                                                                           m.group(3)), text)

    def fraction(m: re.Match) -> str:
        whole, numerator, denominator = m.group(1), int(m.group(2)), int(m.group(3))
        if not 0 < numerator < denominator or denominator not in (2, 3, 4, 5, 8, 16):    # (9/11, 6/15: a date)
            return m.group(0)
        return _fraction_of(whole, numerator, denominator, m.group(4))
    text = re.sub(rf"(?<![\d/.,])(?:(\d{{1,3}}) )?(\d{{1,2}})/(\d{{1,2}})(?![\d/]){unit}", fraction, text)
    text = re.sub(r"(?<=\d)/(?=\d)", " ", text)                    # 24/7, 50/50
    # Ranges: 1990-1995, pages 12-15 (dashes between numbers; dates and phone numbers are read by now).
    text = re.sub(r"(?<![\d.,-])(\d[\d,]*)\s?(?:--?)\s?(\d[\d,]*)(?![\d-])",
                  lambda m: m.group(0) if m.group(1) == m.group(2) else f"{m.group(1)} to {m.group(2)}", text)  # 50-50
    # Percentages, ordinals, numbered things.
    text = re.sub(r"(\d[\d,]*(?:\.\d+)?)\s?%", lambda m: f"{_cardinal(m.group(1))} percent", text)
    text = re.sub(r"\b(\d{1,3}(?:,\d{3})+|\d+)(st|nd|rd|th)\b",
                  lambda m: _words(int(m.group(1).replace(",", "")), to="ordinal"), text)
    text = re.sub(r"#(?=\d)", "number ", text)
    # Decades and years: the 1990s, in 1984, in 1066.
    text = re.sub(r"\b(1[1-9]\d0|20\d0)s\b", _decade, text)
    text = re.sub(r"(?<!\w)['’]([1-9]0)s\b|(?<=\b[Tt]he )([2-9]0)s\b", _decade, text)     # the '90s, the 90s
    text = _counted(text)                                           # 1347 passengers: a count, not a year
    text = re.sub(r"(?<![\d,.])(1[1-9]\d\d|20\d\d)(?!\d|,\d|\.\d)", lambda m: _year(int(m.group(1))), text)
    text = re.sub(r"(?i:\b(in|since|circa|year)\s)(10\d\d)(?!\d|,\d|\.\d)",
                  lambda m: f"{m.group(1)} {_year(int(m.group(2)))}", text)
    # Remaining numbers, with sign, thousands separators and decimals; section numbers 3.2.1.
    text = re.sub(r"\b\d+(?:\.\d+){2,}\b", lambda m: " point ".join(_cardinal(p) for p in m.group(0).split(".")), text)
    text = re.sub(r"(?<![\w.])\.(?=\d)", "0.", text)               # .5 -> 0.5
    text = re.sub(r"(?<![\d.,])0\d+(?!\d|[.,]\d)", _digits, text)           # 007: zero zero seven
    text = re.sub(r"(?<![\w.])-(\d)", r"minus \1", text)
    text = re.sub(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", lambda m: _cardinal(m.group(0)), text)
    return text


_CJK_MARKS = "，。！？；：、（）「」『』《》【】～“”‘’…—"
_SENTENCE_ENDS = re.compile(r"[.!?。！？\n]")
_CJK_OR_MARK = re.compile(rf"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff{_CJK_MARKS}]")
_CURLY = re.compile("[“”‘’]")
_FULL_WIDTH_LETTERS = re.compile("[０-９Ａ-Ｚａ-ｚ]+")


def _beside_cjk(text: str, match: re.Match) -> bool:
    """Whether CJK text or punctuation stands right before or after `match` in `text`."""
    return bool(_CJK_OR_MARK.search(text[max(0, match.start() - 1):match.start()] + text[match.end():match.end() + 1]))


def _dash(match: re.Match) -> str:
    """An em dash is a pause (他——没有: 他，没有), or nothing where a sentence has just ended (French dialogue:
    « Où ? » demanda-t-elle. — Nulle part)."""
    text = match.string
    before = text[max(0, match.start() - 8):match.start()].rstrip()[-1:]
    if before and before in ".!?…»。！？,;:，":                   # (a pause is there already: "Lo so, — rispose")
        return " "
    if text[match.end():match.end() + 1] in tuple(".,;:，。"):     # a dialogue tag closed ("—dijo Juan—, ¿cómo"):
        return ""                                                 # the punctuation after it is the pause
    return "，" if _beside_cjk(text, match) else ", "


def tidy_cjk(text: str) -> str:
    """Full-width letters and digits to ASCII; CJK punctuation kept where CJK text or punctuation surrounds it:
    the next character, or anything back to the sentence's start ("我爱Python。" keeps its full stop)."""
    out = []
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch) if "\uff01" <= ch <= "\uff5e" else ch
        if ch in "，。！？；：、（）「」『』《》【】～":
            clause = _SENTENCE_ENDS.split(text[max(0, i - 80):i])[-1]
            cjk = _CJK_OR_MARK.search(text[i - 1:i] + text[i + 1:i + 2]) or _CJK.search(clause)
            folded = ch if cjk else ch.translate(_CJK_TO_ASCII)
            if folded != ch and text[i + 1:i + 2].isalnum():
                folded += " "
        out.append(folded)
    return "".join(out)


def normalize_text(text: str, language: str = "en-us") -> str:
    """The spoken form of `text` for a voice of `language`."""
    text = _EMOJI.sub("", unicodedata.normalize("NFC", strip_control(text)))
    text = _CURLY.sub(lambda m: m.group() if _beside_cjk(text, m) else m.group().translate(_QUOTES), text)
    text = re.sub(r"(?m)^[ \t]*[\u2014\u2013]+[ \t]*", "", text)  # a dash opening a line ("—Hamlet") is no pause
    text = re.sub(r"[ \t]*\u2014+[ \t]*", _dash, text)
    if language.startswith("en"):                       # "Monday – Friday", "May-June": a span, not a pause
        text = _DAY_OR_MONTH_SPAN.sub(lambda m: " to ".join(_WEEKDAYS.get(d, d) for d in m.groups()), text)
    text = re.sub(r"(?:(?<=\w\w)|(?<=[^\w\s]))[ \t]+\u2013[ \t]+(?=[^\W\d]{2}|[\"'“‘(])", _dash,
                  text)                                                               # a spaced dash – a pause
    text = text.replace("\u2026", "...").replace("\u2013", "-")
    text = re.sub(r"(\S?)\s*--+\s*(?=(\S?))",                         # a typed dash: a pause, or a range
                  lambda m: m.group(0) if m.group(1).isdigit() and m.group(2).isdigit()
                  else f"{m.group(1)} " if m.group(1) in (":", ";", ",") else f"{m.group(1)}, ", text)   # manner:--
    text = re.sub(r"(?<=[^\s\[])\[\d{1,3}\]", "", text)                 # footnote markers: "left.[1]"
    text = _NOTE_SUPERSCRIPT.sub(r"\1", text)                            # "left.¹", "a marker²"; not "m²", "(x+1)²"
    text = re.sub(r"(?<=[^\W\d]|[.,;:!?\"'”’)\]])[*†‡]+(?![\w*†‡])", "", text)   # "a dagger.*", "Footnote†:"
    text = re.sub(r"[ \t]*[\u0964\u0965]+", ".", text)       # the danda ends a Hindi sentence (eSpeak drops it)
    if language.startswith("zh"):            # (before the punctuation beside the digits is judged: 比分3:2。)
        from indexstudio.text.chinese import read_numbers, to_simplified   # (here: its grammar imports this module)
        text = read_numbers(to_simplified(_FULL_WIDTH_LETTERS.sub(lambda m: unicodedata.normalize("NFKC", m.group()),
                                                                  text)))
    if language.startswith("hi"):
        text = read_hindi(text)           # (before its abbreviations: "रु. 500")
    text = expand_abbreviations(text, language)
    if language.startswith("es"):
        from indexstudio.text.spanish import read_spanish     # (here: it imports this module)
        text = read_spanish(text)
    if language.startswith(("fr", "it", "pt")):
        from indexstudio.text.romance import read_romance_numbers     # (here: it imports this module)
        text = read_romance_numbers(text, language)
    text = tidy_cjk(text)
    if language.startswith("en"):
        text = normalize_english(text, day_first=language != "en-us")
    return re.sub(r"[ \t\u00a0]+", " ", text).strip()
