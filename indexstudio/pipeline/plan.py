"""A book as the engine will speak it: chapters of numbered segments."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass

from indexstudio.books.reader import Book, Chapter, has_speech
from indexstudio.engines.base import Engine
from indexstudio.errors import InputError
from indexstudio.text.lexicon import Lexicon
from indexstudio.text.normalize import roman_value
from indexstudio.text.segment import CJK_RANGES, DEFAULT_MAX_TOKENS, segment_paragraphs, split_scenes

_CJK = re.compile(f"[{CJK_RANGES}]")
# speaking rates at speed 1, for a plan's length before any audio exists (Kokoro read 589 characters of English
# in 33 s, 58 Chinese ones in 12.8 s, pauses included)
CHARACTERS_PER_SECOND = 17.5
CJK_CHARACTERS_PER_SECOND = 4.5


@dataclass
class Segment:
    index: int
    chapter: int
    text: str
    tokens: int
    paragraph_end: bool = False     # the last of a paragraph or a spoken title: a longer pause follows
    scene_end: bool = False         # the last before a scene break ("* * *"): longer still


@dataclass
class Plan:
    title: str
    chapters: list[str]
    segments: list[Segment]
    author: str = ""
    narrator: str = ""
    language: str = ""
    opening: bool = True        # whether its first segment opens the book (not so for chapters picked further in)
    lexicon: str = ""           # the lexicon its text was respelled by (its file), for the next run to compare
    max_tokens: int = DEFAULT_MAX_TOKENS      # the longest segment it was cut into (likewise)

    def to_json(self) -> dict:
        return asdict(self)

    def only(self, chapters: list[int]) -> "Plan":
        """The plan of some of its chapters (numbered from 0), in book order, segments numbered anew."""
        keep = {c: n for n, c in enumerate(sorted(set(chapters)))}
        kept = [s for s in self.segments if s.chapter in keep]
        return Plan(self.title, [self.chapters[c] for c in keep], [Segment(i, keep[s.chapter], s.text, s.tokens,
                    s.paragraph_end, s.scene_end) for i, s in enumerate(kept)], self.author, self.narrator, self.language,
                    opening=self.opening and 0 in keep, lexicon=self.lexicon, max_tokens=self.max_tokens)


_ROMAN_HEADING = re.compile(r"^([IVXLC]+)(?=$|[.:](?:\s|$))")


def _numbered(heading: str) -> str:
    """A heading that opens with a Roman numeral says its number ("II" -> "2", "I: Introduction" -> "1: ..."),
    so that a chapter "I" is not read as the pronoun."""
    match = _ROMAN_HEADING.match(heading.strip())
    if not match or match.group(1) in ("C", "L") or not roman_value(match.group(1)):   # a section "C" is a letter
        return heading
    return str(roman_value(match.group(1))) + heading.strip()[match.end():]


def estimated_seconds(text: str, speed: float = 1.0) -> float:
    """About how long saying `text` takes (for planning: no engine is asked)."""
    cjk = len(_CJK.findall(text))
    other = len(" ".join(text.split())) - cjk
    return (other / CHARACTERS_PER_SECOND + cjk / CJK_CHARACTERS_PER_SECOND) / speed


def chapter_selection(spec: str, count: int) -> list[int]:
    """Chapter numbers from 1 as a user writes them ("1-3,7", "10-", "-2") -> indexes from 0."""
    chosen: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d*)(-?)(\d*)", part)
        if not part or not match or not (match.group(1) or match.group(3)) or (match.group(3) and not match.group(2)):
            raise InputError(f"--chapters: {part!r} is not a chapter number or range (e.g. 1-3,7,10-)")
        first = int(match.group(1) or 1)
        last = int(match.group(3) or (count if match.group(2) else first))
        if first > count or last > count and match.group(3):
            raise InputError(f"--chapters: {part!r} goes past the last chapter: the book has {count}")
        if not 1 <= first <= last:
            raise InputError(f"--chapters: {part!r}: chapters count from 1, and a range runs from low to high")
        chosen.update(range(first - 1, last))
    return sorted(chosen)


def chapter_ranges(indexes: list[int]) -> str:
    """Chapter indexes (from 0) as a user writes their numbers: [0, 1, 2, 6] -> "1-3, 7"."""
    runs: list[list[int]] = []
    for i in indexes:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(f"{r[0] + 1}-{r[-1] + 1}" if len(r) > 1 else f"{r[0] + 1}" for r in runs)


def _speaks(chapter: Chapter, read_titles: bool) -> bool:
    """Whether `chapter` has words to say: its text, or its title where titles are read (quick: not normalised)."""
    return (read_titles and chapter.read_title and has_speech(chapter.heading or chapter.title)
            or has_speech(chapter.text))


def make_plan(book: Book, engine: Engine, voice: str, max_tokens: int = DEFAULT_MAX_TOKENS,
              read_titles: bool = True, lexicon: Lexicon | None = None) -> Plan:
    """Normalise and segment every chapter for `engine` speaking with `voice`, the `lexicon`'s spoken forms
    put in first."""
    language = engine.language_of(voice)
    respell = lexicon.apply if lexicon else str
    segments: list[Segment] = []
    titles: list[str] = []
    for chapter in book.chapters:
        scenes = [[[t for t in p if has_speech(t)] for p in segment_paragraphs(engine.normalize(scene, language),
                                                                               max_tokens, engine.count_tokens)]
                  for scene in split_scenes(respell(chapter.text))]
        spoken = respell(_numbered(chapter.heading or chapter.title))
        if read_titles and chapter.read_title and has_speech(spoken):
            title = engine.normalize(spoken, language).rstrip()
            title = title if title[-1:] in ".!?。！？" else title + ("。" if _CJK.match(title[-1:]) else ".")
            scenes = [[[title]] + (scenes[0] if scenes else [])] + scenes[1:]         # (a paragraph of its own)
        texts = []          # (text, ends a paragraph, ends a scene that another follows)
        for s, scene in enumerate(scenes):
            for p, paragraph in enumerate(scene):
                for n, text in enumerate(paragraph):
                    last = n == len(paragraph) - 1
                    texts.append((text, last, last and p == len(scene) - 1 and s < len(scenes) - 1))
        if not texts:
            continue
        ci = len(titles)
        titles.append(chapter.title)
        segments += [Segment(len(segments) + i, ci, t, engine.count_tokens(t), end, scene_end)
                     for i, (t, end, scene_end) in enumerate(texts)]
    if not segments:
        raise InputError(f"{book.source or book.title}: no speakable text")
    return Plan(book.title, titles, segments, book.author, book.narrator, book.language,
                lexicon=lexicon.source if lexicon else "", max_tokens=max_tokens)


def plan_chapters(book: Book, engine: Engine, voice: str, chapters: str | None = None,
                  max_tokens: int = DEFAULT_MAX_TOKENS, read_titles: bool = True,
                  lexicon: Lexicon | None = None) -> tuple[Plan, list[int], int]:
    """The plan of the chapters `chapters` picks ("1-3,7"; None: all of them), their places in the whole book
    (from 0) and how many chapters it has. Only the chapters picked are normalised: trying chapter 1 of a long
    novel does not wait for the rest. (The others are counted by their words unnormalised: the engines'
    normalisation keeps a text's words, so a chapter with words has segments.)"""
    if chapters:
        speaking = [c for c in book.chapters if _speaks(c, read_titles)]
        numbers = chapter_selection(chapters, len(speaking))
        try:
            plan = make_plan(dataclasses.replace(book, chapters=[speaking[n] for n in numbers]), engine, voice,
                             max_tokens, read_titles, lexicon)
        except InputError:
            plan = None
        if plan and len(plan.chapters) == len(numbers):
            plan.opening = 0 in numbers
            return plan, numbers, len(speaking)
        # a chapter picked had nothing to say once normalised: number the chapters as the whole plan does
    plan = make_plan(book, engine, voice, max_tokens, read_titles, lexicon)
    numbers = chapter_selection(chapters, len(plan.chapters)) if chapters else list(range(len(plan.chapters)))
    return (plan.only(numbers) if len(numbers) < len(plan.chapters) else plan), numbers, len(plan.chapters)
