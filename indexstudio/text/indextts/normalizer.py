"""IndexTTS text normalisation: WeTextProcessing grammars plus IndexTTS's own protections.

The official front-end runs the WeTextProcessing (`tn` package) Chinese or
English grammar over the text, after hiding the pieces those grammars would
mangle behind placeholders: `<字|读音>` pronunciation annotations, pinyin with a
tone digit ("xuan4"), hyphenated names ("克里斯托弗·诺兰") and technical terms
("GPT-5-Nano").  Punctuation is then folded onto the small set the BPE
vocabulary knows.  This module reproduces that behaviour on top of the same
grammars, so normalised text matches the official one character for character.

The Chinese grammar is compiled with interjections and erhua kept, which is
not what WeTextProcessing ships pre-built; compiling takes up to a minute, so
the result is cached on disk (see `wetext_cache_dir`) and shared by every
normaliser in the process.
"""
from __future__ import annotations

import importlib.metadata
import logging
import re
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

from indexstudio.errors import EngineError
from indexstudio.files import cache_root
from indexstudio.text.grammar_cache import compile_into
from indexstudio.text.normalize import strip_control

log = logging.getLogger(__name__)

# Punctuation folded onto what the BPE vocabulary knows.  A single left-to-right
# alternation in this order: "，" comes before "，，，", so the latter never
# applies (the official table has the same shadowing), hence it is left out.
PUNCTUATION_MAP: dict[str, str] = {
    "：": ",", "；": ",", ";": ",", "，": ",", "。": ".", "！": "!", "？": "?",
    "\n": " ", "·": "-", "、": ",", "...": "…", ",,,": "…", "……": "…",
    "“": "'", "”": "'", '"': "'", "‘": "'", "’": "'", "（": "'", "）": "'",
    "(": "'", ")": "'", "《": "'", "》": "'", "【": "'", "】": "'", "[": "'", "]": "'",
    "—": "-", "～": "-", "~": "-", "「": "'", "」": "'", ":": ",",
}
# After the Chinese grammar a stray "$" (one it did not read as money) becomes a pause.
PUNCTUATION_MAP_ZH: dict[str, str] = {"$": ".", **PUNCTUATION_MAP}


def _alternation(table: Mapping[str, str]) -> Callable[[str], str]:
    pattern = re.compile("|".join(re.escape(k) for k in table))
    return lambda text: pattern.sub(lambda m: table[m.group(0)], text)


replace_punctuation = _alternation(PUNCTUATION_MAP)
_replace_punctuation_zh = _alternation(PUNCTUATION_MAP_ZH)

_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[a-zA-Z]")
_EMAIL = re.compile(r"^[a-zA-Z0-9]+@[a-zA-Z0-9]+\.[a-zA-Z]+$")

# Pinyin syllable followed by a tone digit 1-5 (5 = neutral): "xuan4", "zhong4", "er2";
# not "beta1" (the lookbehind rejects a syllable glued to a preceding letter).
_PINYIN_INITIAL = r"(?:[bpmfdtnlgkhjqxzcsryw]|[zcs]h)"
_PINYIN_FINAL = (r"(?:[aeiouüv]|[ae]i|u[aio]|ao|ou|i[aue]|[uüv]e|[uvü]ang?|uai"
                 r"|[aeiuv]n|[aeio]ng|ia[no]|i[ao]ng)")
PINYIN_WITH_TONE = re.compile(rf"(?<![a-z])({_PINYIN_INITIAL}?{_PINYIN_FINAL}|ng|er)([1-5])", re.IGNORECASE)
# j/q/x + u/ü is written with "v" in the BPE vocabulary: "xuan4" -> "XVAN4".
_JQX_U = re.compile(r"([jqx])[uü](n|e|an)*(\d)", re.IGNORECASE)
# Transliterated names joined by a middle dot or hyphen: "约瑟夫·高登-莱维特".
_HAN_NAME = re.compile(r"[\u4e00-\u9fff]+(?:[-·—][\u4e00-\u9fff]+){1,2}")
# Letter-initial hyphenated terms ("GPT-5-Nano", "F5-TTS"); the hyphen must not be read as minus.
_TECH_TERM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+")
_HYPHEN_MARK = "<H>"
_HYPHEN_MARK_SPACED = re.compile(r"\s*<H>\s*")
# Only these "'s" are expanded ("let's" stays).
_IS_CONTRACTION = re.compile(r"(what|where|who|which|how|t?here|it|s?he|that|this)'s", re.IGNORECASE)
_PRONUNCIATION = re.compile(r"<([^|>\n]+)\|([^>\n]+)>")


def _letters(index: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'aa': placeholder tags the grammars leave alone."""
    tag = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        tag = chr(ord("a") + rest) + tag
    return tag


def hide(text: str, found: list[str], placeholder: Callable[[str], str]) -> tuple[str, dict[str, str]]:
    """Replace each distinct string of `found` (longest first) by a placeholder."""
    hidden: dict[str, str] = {}
    for i, original in enumerate(sorted(set(found), key=lambda s: (-len(s), s))):
        key = placeholder(_letters(i))
        hidden[key] = original
        text = text.replace(original, key)
    return text, hidden


def reveal(text: str, hidden: Mapping[str, str]) -> str:
    for key, original in hidden.items():
        text = text.replace(key, original)
    return text


def _pinyin_spelling(syllable: str) -> str:
    if syllable[0] not in "jqxJQX":
        return syllable
    return _JQX_U.sub(r"\1v\2\3", syllable).upper()


def reads_as_chinese(text: str) -> bool:
    """Whether the Chinese grammar handles `text` (the English one only gets Latin-only text)."""
    if _HAN.search(text) or not _LATIN.search(text) or _EMAIL.match(text):
        return True
    return PINYIN_WITH_TONE.search(text) is not None


# --------------------------------------------------------------------------- grammars

_ZH_OPTIONS = {"remove_interjections": False, "remove_erhua": False}
_zh: Any = None
_en: Any = None
_grammar_lock = threading.Lock()   # guards building and every use of the shared FSTs


def wetext_cache_dir() -> Path:
    """Where the compiled Chinese grammar lives: $INDEXSTUDIO_CACHE, else $XDG_CACHE_HOME/indexstudio."""
    try:
        version = importlib.metadata.version("WeTextProcessing")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return cache_root() / f"wetext-{version}" / "zh_tn_keep_interjections_erhua"


def _chinese_grammar(cache: Path) -> Any:
    from tn.chinese.normalizer import Normalizer

    logging.getLogger("wetext").setLevel(logging.WARNING)   # it logs every cache hit at INFO (its import sets INFO)
    if (cache / "zh_tn_tagger.fst").is_file() and (cache / "zh_tn_verbalizer.fst").is_file():
        return Normalizer(cache_dir=str(cache), overwrite_cache=False, **_ZH_OPTIONS)
    return compile_into(cache, lambda staging: Normalizer(cache_dir=str(staging), overwrite_cache=True, **_ZH_OPTIONS),
                        "Chinese text-normalisation grammar")


def chinese_grammar() -> Any:
    """The process-wide WeTextProcessing Chinese normaliser, built on first use."""
    global _zh
    with _grammar_lock:
        if _zh is None:
            try:
                _zh = _chinese_grammar(wetext_cache_dir())
            except ImportError as exc:
                raise EngineError("IndexTTS text normalisation needs WeTextProcessing and pynini (Linux): "
                                  "pip install 'indexstudio[indextts]'") from exc
        return _zh


def wetext_grammars() -> tuple[Any, Any]:
    """The process-wide (Chinese, English) WeTextProcessing normalisers, built on first use."""
    global _en
    zh = chinese_grammar()
    with _grammar_lock:
        if _en is None:
            from tn.english.normalizer import Normalizer as EnglishNormalizer
            logging.getLogger("wetext").setLevel(logging.WARNING)
            _en = EnglishNormalizer(overwrite_cache=False)   # the English grammar ships pre-compiled
        return zh, _en


def run_grammar(grammar: Any, text: str) -> str:
    with _grammar_lock:
        try:
            return grammar.normalize(text)
        except Exception:   # the official front-end also survives a grammar failure
            log.warning("text normalisation failed, keeping the text as written: %r", text, exc_info=True)
            return text


# --------------------------------------------------------------------------- normaliser

def read_glossary(path: Path) -> dict[str, Any]:
    """A model folder's optional glossary.yaml: {term: reading} or {term: {"zh": ..., "en": ...}}."""
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EngineError(f"{path}: unreadable glossary ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EngineError(f"{path}: a glossary must map terms to readings, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


class IndexTextNormalizer:
    """Written text to the spoken form the IndexTTS 1.5 / 2 (and 2.5) models were trained on.

    Build once (the grammars load in about a second, compile in up to a
    minute the first time); `normalize` may be called from any thread.
    """

    def __init__(self, glossary: Mapping[str, Any] | None = None):
        self._zh, self._en = wetext_grammars()
        # longest term first, so "PCIe 5.0" wins over "PCIe"
        self.glossary = dict(sorted((glossary or {}).items(), key=lambda kv: -len(kv[0])))
        self._glossary_patterns = {term: re.compile(re.escape(term), re.IGNORECASE) for term in self.glossary}

    def _apply_glossary(self, text: str, lang: str) -> str:
        for term, reading in self.glossary.items():
            if isinstance(reading, dict):
                reading = reading.get(lang, term)
            text = self._glossary_patterns[term].sub(lambda _m, r=str(reading): r, text)
        return text

    def normalize(self, text: str) -> str:
        text = strip_control(text)
        text, annotations = hide(text, [m.group(0) for m in _PRONUNCIATION.finditer(text)],
                                  lambda tag: f"PRONPLACEHOLDER{tag}PRONPLACEHOLDER")
        chinese = reads_as_chinese(text)
        text = _IS_CONTRACTION.sub(r"\1 is", text)
        text = self._apply_glossary(text, "zh" if chinese else "en")
        if chinese:
            text = text.rstrip()
        terms = _TECH_TERM.findall(text)
        for term in sorted(set(terms), key=lambda s: (-len(s), s)):
            text = text.replace(term, term.replace("-", _HYPHEN_MARK))
        if chinese:
            text, pinyin = hide(text, ["".join(g) for g in PINYIN_WITH_TONE.findall(text)],
                                 lambda tag: f"<pinyin_{tag}>")
            text, names = hide(text, _HAN_NAME.findall(text), lambda tag: f"<n_{tag}>")
            text = run_grammar(self._zh, text)
            text = reveal(text, names)
            text = reveal(text, {key: _pinyin_spelling(s) for key, s in pinyin.items()})
        else:
            text = run_grammar(self._en, text)
        if terms:
            text = _HYPHEN_MARK_SPACED.sub("-", text)
        text = _replace_punctuation_zh(text) if chinese else replace_punctuation(text)
        return reveal(text, annotations)
