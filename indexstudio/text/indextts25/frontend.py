"""The IndexTTS-2.5 text front-end: per-language normalisation, annotations, segments, BPE ids.

Text goes through these stages, each kept in `TextStages` so callers (and the
conformance check) can see every intermediate form:

1. punctuation folded onto the BPE's small set (the IndexTTS 1.5/2 table);
2. written-to-spoken normalisation: WeTextProcessing for zh / zhen / en (the
   IndexTTS 2 normaliser), NeMo for ja / es (no grammar for ja: unchanged),
   nothing for other languages;
3. case: zh / zhen / en / ja lower-cased, es upper-cased, others kept;
4. pronunciation annotations `<word|PRON>`: a kana reading becomes " PRON ",
   any other reading is wrapped in <|SPECIAL_TOKEN_2|> (word with Han
   characters) or <|SPECIAL_TOKEN_1|>, upper-cased;
5. Japanese only: words separated by spaces (MeCab via fugashi, unidic-lite);
6. the name inside every `<|...|>` upper-cased, so it hits a special token.

Segments are cut so that "<|lang|> " + segment fits the GPT's text budget in
BPE tokens, at clause punctuation first and between characters last, never
inside a <|SPECIAL_TOKEN_n|>...<|SPECIAL_TOKEN_n|> pair.  A segment's ids are
the BPE of "<|lang|> " + segment followed by id 1.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from indexstudio.errors import EngineError, InputError
from indexstudio.text.indextts import IndexTextNormalizer, read_glossary, replace_punctuation
from indexstudio.text.nemo import nemo_normalize
from indexstudio.text.normalize import strip_control
from indexstudio.text.indextts25.tokenizer import build_encoding, language_row

if TYPE_CHECKING:
    from indexstudio.models.folder import ModelFolder

DEFAULT_MAX_TOKENS = 120
# Appended after every segment's ids; the official code writes the literal 1
# here, whatever gpt.stop_text_token says.
SEGMENT_END_ID = 1
# Low-VRAM pre-splitting of the official engine: characters per piece.
DEFAULT_MAX_CHARS = 40

# Which normaliser reads which language.
WETEXT_LANGUAGES = frozenset({"zh", "zhen", "en"})
NEMO_ROUTED_LANGUAGES = frozenset({"ja", "es"})
NEMO_GRAMMARS = frozenset({"ar", "zh", "es", "en"})     # (its table has no Japanese grammar: passed through)
LOWER_CASE_LANGUAGES = frozenset({"zh", "zhen", "en", "ja"})
UPPER_CASE_LANGUAGES = frozenset({"es"})

_ANNOTATION = re.compile(r"<([^|>\n]+)\|([^>\n]+)>")   # <word|pronunciation>
_HAN = re.compile(r"[\u4e00-\u9fff]")
_ALL_HIRAGANA = re.compile(r"[\u3040-\u309f]+")
_ALL_KATAKANA = re.compile(r"[\u30a0-\u30ff]+")
_SPECIAL_NAME = re.compile(r"<\|([^|]+)\|>")
_MARKED_READING = re.compile(r"(<\|SPECIAL_TOKEN_\d+\|>.*?<\|SPECIAL_TOKEN_\d+\|>)")
# Clause ends a segment may be cut after (CJK and ASCII forms, and newlines).
_CLAUSE_CUT = re.compile(r"(?<=[，。！？、；：,.!?;:\n])")
_NON_SPACE = re.compile(r"[^ ]+")

# Scripts used to guess a language when the caller gives none.
_KANA = re.compile(r"[\u3040-\u30ff]")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
_SPANISH_MARKS = re.compile(r"[¿¡ñÑáíóúÁÍÓÚ]")


def mark_reading(match: re.Match[str]) -> str:
    """One `<word|pronunciation>` annotation in the form the GPT was trained on."""
    word, reading = match.group(1), match.group(2).upper()
    if _ALL_HIRAGANA.fullmatch(reading) or _ALL_KATAKANA.fullmatch(reading):
        return f" {reading} "
    mark = "<|SPECIAL_TOKEN_2|>" if _HAN.search(word) else "<|SPECIAL_TOKEN_1|>"
    return f"{mark}{reading}{mark}"


def apply_annotations(text: str) -> str:
    return _ANNOTATION.sub(mark_reading, text)


def upper_special_names(text: str) -> str:
    """"<|special_token_1|>" -> "<|SPECIAL_TOKEN_1|>" (lower-casing the text also hit these)."""
    return _SPECIAL_NAME.sub(lambda m: f"<|{m.group(1).upper()}|>", text)


def detect_language(text: str) -> str:
    """A guess at `text`'s language among those IndexTTS-2.5 offers (zh, en, ja, es, ar), by script.

    Our own heuristic (the official engine always takes the language from the
    caller): kana -> ja, Arabic script -> ar, Han -> zh, Latin with Spanish
    punctuation / letters -> es, else en.
    """
    if _KANA.search(text):
        return "ja"
    if _ARABIC.search(text):
        return "ar"
    if _HAN.search(text):
        return "zh"
    if _SPANISH_MARKS.search(text):
        return "es"
    return "en"


def greedy_join(items: Iterable[str], fits: Callable[[str], bool]) -> list[str]:
    """Concatenate consecutive items while the result `fits`; an item that fits nowhere stands alone."""
    out: list[str] = []
    current = ""
    for item in items:
        if current and not fits(current + item):
            out.append(current)
            current = item
        else:
            current += item
    if current:
        out.append(current)
    return out


def split_by_punctuation(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Pieces of at most `max_chars` characters cut after clause punctuation (a longer clause stays whole).

    The official engine's pre-splitting of long texts on GPUs with little memory.
    """
    return greedy_join((p for p in _CLAUSE_CUT.split(text) if p), lambda s: len(s) <= max_chars)


@dataclass(frozen=True)
class TextStages:
    """Every intermediate form of one text on its way to the BPE."""
    lang: str                   # lower-cased language code
    prefix: str                 # "<|lang|> ", tokenised in front of every segment
    after_char_map: str
    normalizer: str             # "wetext", "nemo", "nemo-passthrough" (routed to NeMo, no grammar) or "none"
    after_normalization: str
    after_case: str
    after_annotations: str
    after_japanese: str
    final: str


@dataclass(frozen=True)
class PreparedText:
    """What the GPT needs for one text: its segments, their ids and the language row."""
    lang: str
    language_id: int
    segments: list[str]
    segment_ids: list[list[int]]


class IndexTTS25TextFrontend:
    """Text to GPT-ready segments for IndexTTS-2.5.

    `text_capacity` is the GPT's text position table size (gpt.max_text_tokens + 2);
    a segment plus its language prefix never exceeds it minus 2.
    """

    def __init__(self, ranks_file: str | Path, text_capacity: int, glossary: Mapping[str, Any] | None = None):
        self.encoding = build_encoding(Path(ranks_file))
        self.text_capacity = int(text_capacity)
        self.glossary = dict(glossary or {})
        self._wetext: IndexTextNormalizer | None = None
        self._tagger: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ tokens

    @property
    def n_vocab(self) -> int:
        return self.encoding.n_vocab

    def encode(self, text: str) -> list[int]:
        """BPE ids of `text`; `<|...|>` names of special tokens become those tokens."""
        return self.encoding.encode(text, allowed_special="all")

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def special_token_id(self, name: str) -> int:
        try:
            return self.encoding.encode_single_token(name)
        except KeyError:
            raise InputError(f"{name!r} is not a special token of this vocabulary") from None

    @staticmethod
    def prefix(lang: str) -> str:
        return f"<|{lang.lower()}|> "

    @staticmethod
    def language_id(lang: str) -> int:
        """Row of the GPT's language embedding for `lang` ("common" for codes it does not know)."""
        return language_row(lang)

    detect_language = staticmethod(detect_language)
    split_by_punctuation = staticmethod(split_by_punctuation)

    # ------------------------------------------------------------------ normalisation

    @staticmethod
    def normalizer_kind(lang: str, normalize: bool = True) -> str:
        lang = lang.lower()
        if not normalize:
            return "none"
        if lang in WETEXT_LANGUAGES:
            return "wetext"
        if lang in NEMO_ROUTED_LANGUAGES:
            return "nemo" if lang in NEMO_GRAMMARS else "nemo-passthrough"
        return "none"

    def _wetext_normalizer(self) -> IndexTextNormalizer:
        with self._lock:
            if self._wetext is None:
                self._wetext = IndexTextNormalizer(self.glossary)
            return self._wetext

    def _space_japanese(self, text: str) -> str:
        """Japanese words separated by spaces (existing runs of spaces kept as they are)."""
        with self._lock:
            if self._tagger is None:
                self._tagger = _japanese_tagger()
            tagger = self._tagger

            def words(match: re.Match[str]) -> str:
                run = match.group(0)
                return " ".join(w.surface for w in tagger(run)) if run.strip() else run
            return _NON_SPACE.sub(words, text)

    def stages(self, text: str, lang: str, normalize: bool = True) -> TextStages:
        """Run the text path step by step (see the module docstring)."""
        lang = lang.lower()
        mapped = replace_punctuation(strip_control(text))
        kind = self.normalizer_kind(lang, normalize)
        if kind == "wetext":
            spoken = self._wetext_normalizer().normalize(mapped)
        elif kind == "nemo":
            spoken = nemo_normalize(mapped, lang)
        else:
            spoken = mapped
        if lang in LOWER_CASE_LANGUAGES:
            cased = spoken.lower()
        elif lang in UPPER_CASE_LANGUAGES:
            cased = spoken.upper()
        else:
            cased = spoken
        annotated = apply_annotations(cased)
        spaced = self._space_japanese(annotated) if lang == "ja" else annotated
        return TextStages(lang=lang, prefix=self.prefix(lang), after_char_map=mapped, normalizer=kind,
                          after_normalization=spoken, after_case=cased, after_annotations=annotated,
                          after_japanese=spaced, final=upper_special_names(spaced))

    def prepare(self, text: str, lang: str, normalize: bool = True) -> str:
        """`text` as the BPE reads it (without the language prefix)."""
        return self.stages(text, lang, normalize).final

    # ------------------------------------------------------------------ segments

    def segment_budget(self, lang: str, max_tokens: int = DEFAULT_MAX_TOKENS) -> int:
        """BPE tokens a segment may have once the language prefix is counted."""
        limit = min(int(max_tokens), self.text_capacity - 2) - self.count_tokens(self.prefix(lang))
        return max(1, limit)

    def split_segments(self, text: str, lang: str, max_tokens: int = DEFAULT_MAX_TOKENS) -> list[str]:
        """Cut prepared `text` into segments of at most `segment_budget` tokens each."""
        budget = self.segment_budget(lang, max_tokens)

        def fits(piece: str) -> bool:
            return self.count_tokens(piece) <= budget

        if fits(text):
            return [text]
        chunks: list[str] = []
        for i, piece in enumerate(_MARKED_READING.split(text)):
            if i % 2:                       # a marked reading: never cut
                chunks.append(piece)
                continue
            for clause in _CLAUSE_CUT.split(piece):
                if not clause:
                    continue
                chunks.extend([clause] if fits(clause) else greedy_join(clause, fits))
        return greedy_join(chunks, fits) or [text]

    def segment_ids(self, segment: str, lang: str) -> list[int]:
        """GPT text ids of one segment: BPE of prefix + segment, then SEGMENT_END_ID."""
        return [*self.encode(self.prefix(lang) + segment), SEGMENT_END_ID]

    def quick_segments(self, segments: list[str], lang: str, max_tokens: int, quick_tokens: int) -> list[str]:
        """The segments that start within the first `quick_tokens` tokens cut again at half `max_tokens`,
        so that a stream's first audio comes sooner (IndexTTS-2's `quick_streaming_tokens`)."""
        out, seen = [], 0
        for segment in segments:
            out.extend(self.split_segments(segment, lang, max_tokens // 2) if seen < quick_tokens else [segment])
            seen += self.count_tokens(segment)
        return out

    def process(self, text: str, lang: str | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
                normalize: bool = True, quick_streaming_tokens: int = 0) -> PreparedText:
        """Everything the engine needs: prepare, segment and encode `text` (language guessed if None)."""
        if not isinstance(text, str):
            raise InputError(f"text must be a string, got {type(text).__name__}")
        lang = (lang or detect_language(text)).lower()
        segments = self.split_segments(self.prepare(text, lang, normalize), lang, max_tokens)
        if quick_streaming_tokens:
            segments = self.quick_segments(segments, lang, max_tokens, quick_streaming_tokens)
        return PreparedText(lang=lang, language_id=self.language_id(lang), segments=segments,
                            segment_ids=[self.segment_ids(s, lang) for s in segments])


def _japanese_tagger() -> Any:
    """MeCab (fugashi) with the unidic-lite dictionary, the one IndexTTS-2.5 was run with."""
    try:
        import fugashi
        import unidic_lite
    except ImportError as exc:
        raise EngineError("IndexTTS-2.5 Japanese text needs fugashi and unidic-lite: "
                          "pip install 'indexstudio[indextts]'") from exc
    dicdir = Path(unidic_lite.DICDIR)
    return fugashi.Tagger(f'-d "{dicdir}" -r "{dicdir / "mecabrc"}"')


def load_text_frontend_v2_5(folder: "ModelFolder") -> IndexTTS25TextFrontend:
    """The folder's IndexTTS-2.5 text front-end, built once per folder."""
    def build() -> IndexTTS25TextFrontend:
        gpt = folder.config.get("gpt") or {}
        if "max_text_tokens" not in gpt:
            raise EngineError(f"{folder.root / 'config.yaml'}: gpt.max_text_tokens is missing")
        frontend = IndexTTS25TextFrontend(folder.path("tokenizer"), int(gpt["max_text_tokens"]) + 2,
                                          read_glossary(folder.root / "glossary.yaml"))
        table = gpt.get("number_text_tokens")
        if table is not None and frontend.n_vocab > int(table):
            raise EngineError(f"{folder.path('tokenizer')}: {frontend.n_vocab} tokens with specials, "
                              f"but gpt.number_text_tokens is only {table}")
        return frontend
    return folder.component("indextts25_text_frontend", build)
