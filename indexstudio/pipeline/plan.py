"""A book as the engine will speak it: chapters of numbered segments."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from indexstudio.books.reader import Book, has_speech
from indexstudio.engines.base import Engine
from indexstudio.errors import InputError
from indexstudio.text.segment import CJK_RANGES, DEFAULT_MAX_TOKENS, segment_text

_CJK = re.compile(f"[{CJK_RANGES}]")


@dataclass
class Segment:
    index: int
    chapter: int
    text: str
    tokens: int


@dataclass
class Plan:
    title: str
    chapters: list[str]
    segments: list[Segment]
    author: str = ""
    narrator: str = ""
    language: str = ""
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Plan":
        data = dict(data)
        data["segments"] = [Segment(**s) for s in data["segments"]]
        return cls(**data)


def make_plan(book: Book, engine: Engine, voice: str, max_tokens: int = DEFAULT_MAX_TOKENS,
              read_titles: bool = True) -> Plan:
    """Normalise and segment every chapter for `engine` speaking with `voice`."""
    language = engine.language_of(voice)
    segments: list[Segment] = []
    titles: list[str] = []
    for chapter in book.chapters:
        texts = segment_text(engine.normalize(chapter.text, language), max_tokens, engine.count_tokens)
        if read_titles and chapter.read_title and has_speech(chapter.title):
            title = engine.normalize(chapter.title, language).rstrip()
            texts.insert(0, title if title[-1:] in ".!?。！？" else title + ("。" if _CJK.match(title[-1:]) else "."))
        texts = [t for t in texts if has_speech(t)]
        if not texts:
            continue
        ci = len(titles)
        titles.append(chapter.title)
        segments += [Segment(len(segments) + i, ci, t, engine.count_tokens(t)) for i, t in enumerate(texts)]
    if not segments:
        raise InputError(f"{book.source or book.title}: no speakable text")
    return Plan(book.title, titles, segments, book.author, book.narrator, book.language)
