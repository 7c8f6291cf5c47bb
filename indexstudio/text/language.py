"""Languages: the one a text is written in, for a book that does not say, and the codes that name them.

Scripts decide for CJK text (kana: Japanese, Hangul: Korean, Han alone: Chinese); for the rest py3langid's
classifier (langid.py's model) decides, and only when it is sure and the sample is long enough -
a few English words with foreign names must not turn an English book into a Latvian one. A book's own tag
("eng", "English", "en-GB") becomes a two-letter code; ID3 tags want three letters.
"""
from __future__ import annotations

import functools
import re
import threading
import unicodedata

_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_OTHER_WORD = re.compile(r"[^\W\d_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# the languages books are written in, so that a Spanish page is not shared out among Spanish, Aragonese and
# Extremaduran (the model knows 140 languages and dialects)
BOOK_LANGUAGES = ("af ar az be bg bn ca cs cy da de el en eo es et eu fa fi fr ga gl gu he hi hr hu hy id is it ja "
                  "ka kk km kn ko la lo lt lv mk ml mn mr ms my ne nl no pa pl pt ro ru si sk sl sq sr sv sw ta te th "
                  "tl tr uk ur vi zh").split()
MIN_LETTERS = 40            # below this a guess is a coin toss: the caller's default stands
MIN_CONFIDENCE = 0.9
SAMPLE_CHARACTERS = 20000
_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(BOOK_LANGUAGES)
    return identifier


# scripts that name their language well enough where the classifier cannot tell (a short text): by the first
# word of the Unicode names of their letters
_SCRIPT_LANGUAGES = {"CYRILLIC": "ru", "GREEK": "el", "ARABIC": "ar", "HEBREW": "he", "DEVANAGARI": "hi",
                     "BENGALI": "bn", "THAI": "th", "TAMIL": "ta", "TELUGU": "te", "GEORGIAN": "ka", "ARMENIAN": "hy",
                     "GUJARATI": "gu", "GURMUKHI": "pa", "KANNADA": "kn", "MALAYALAM": "ml", "SINHALA": "si",
                     "KHMER": "km", "LAO": "lo", "MYANMAR": "my", "ETHIOPIC": "am"}


def han_share(text: str) -> float:
    """The share of Chinese characters among the words of `text`, a Chinese character being a word and so a run of
    other letters ("iPhone"; 0 for text without letters): Chinese that names a few products is still Chinese."""
    sample = text[:SAMPLE_CHARACTERS]
    han = len(_HAN.findall(sample))
    words = han + len(_OTHER_WORD.findall(sample))
    return han / words if words else 0.0


def latin_share(text: str) -> float:
    """The share of Latin letters among the letters of `text` (1 for text without letters)."""
    letters = [ch for ch in text[:SAMPLE_CHARACTERS] if ch.isalpha()]
    return sum(ch < "\u0250" for ch in letters) / len(letters) if letters else 1.0


def _script_language(text: str) -> str:
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha() and ch >= "\u0250":
            script = unicodedata.name(ch, "").partition(" ")[0]
            counts[script] = counts.get(script, 0) + 1
    script = max(counts, key=counts.get, default="")
    return _SCRIPT_LANGUAGES.get(script, "")


def detect_language(text: str) -> str:
    """The two-letter language of `text` ("fr", "ja" ...), or "" when it is too short to tell or no language
    is clearly ahead. Text mostly in another script than Latin is told by the classifier where it is sure, else
    by its script (Cyrillic: ru, Arabic: ar ...), however short: an English voice would spell it out."""
    text = text[:SAMPLE_CHARACTERS]
    letters = sum(ch.isalpha() for ch in text)
    if not letters:
        return ""
    kana, hangul = (len(p.findall(text)) for p in (_KANA, _HANGUL))
    if kana > 0.15 * letters:         # (Japanese prose is 30-60 % kana; Chinese may quote a Japanese title)
        return "ja"
    if hangul > 0.3 * letters:
        return "ko"
    if han_share(text) > 0.5:
        return "zh"
    other_script = latin_share(text) < 0.5
    if letters < MIN_LETTERS and not other_script:
        return ""
    with _lock:                         # (the classifier is one shared object)
        language, confidence = _identifier().classify(text)
    if confidence >= MIN_CONFIDENCE:
        return language
    return _script_language(text) if other_script else ""


def likely_language(text: str) -> str:
    """For a text too short for `detect_language` ("Où est la gare ?"), the language the classifier is all but
    certain of, or "": a hint worth a word, not a choice."""
    if sum(ch.isalpha() for ch in text) < 12 or latin_share(text) < 0.5:
        return ""
    with _lock:
        language, confidence = _identifier().classify(text[:SAMPLE_CHARACTERS])
    return language if confidence >= 0.95 else ""


# ISO 639-2 codes that books carry (Calibre writes "eng") and language names (Gutenberg and AO3 headers write
# "English") -> ISO 639-1
_LANGUAGE_CODES = {"english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it",
                   "portuguese": "pt", "dutch": "nl", "finnish": "fi", "swedish": "sv", "danish": "da",
                   "norwegian": "no", "latin": "la", "greek": "el", "russian": "ru", "polish": "pl",
                   "hungarian": "hu", "czech": "cs", "chinese": "zh", "中文": "zh", "japanese": "ja", "日本語": "ja",
                   "esperanto": "eo", "español": "es", "français": "fr", "deutsch": "de", "русский": "ru",
                   "eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "ita": "it",
                   "por": "pt", "nld": "nl", "dut": "nl", "zho": "zh", "chi": "zh", "jpn": "ja", "rus": "ru",
                   "pol": "pl", "swe": "sv", "fin": "fi", "dan": "da", "nor": "no", "lat": "la", "hin": "hi",
                   "kor": "ko", "ara": "ar", "ell": "el", "gre": "el", "ces": "cs", "cze": "cs", "hun": "hu"}


def language_code(tag: str) -> str:
    """A book's language tag with its language as two letters where it has them: "eng" -> "en", "English" ->
    "en", "en-GB" kept."""
    if tag.strip().lower() in _LANGUAGE_CODES:
        return _LANGUAGE_CODES[tag.strip().lower()]
    primary, sep, region = tag.strip().partition("-")
    return _LANGUAGE_CODES.get(primary.lower(), primary) + sep + region


def iso639_2(tag: str) -> str:
    """The three-letter (ISO 639-2) code of a language tag, as ID3 tags want it ("en-GB" -> "eng"); "" if unknown."""
    primary = language_code(tag).partition("-")[0].lower()
    return next((code for code, two in _LANGUAGE_CODES.items() if two == primary and len(code) == 3 and code.isascii()),
                "")


def is_language(tag: str) -> bool:
    """Whether `tag` names a language this package knows ("en", "en-GB", "English", "fra"; not "xx")."""
    primary = language_code(tag).partition("-")[0].lower()
    return primary in BOOK_LANGUAGES or primary in _LANGUAGE_CODES.values()
