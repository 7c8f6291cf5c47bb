"""Cut text into speakable segments and group segments into length buckets.

A segment is one sentence, or a piece of one when the sentence is longer than
`max_tokens`: then it is cut at clause punctuation first and between words
last, never inside a word (Chinese words as jieba finds them where it is installed, else each CJK character
is a word).  Very short
sentences ("Yes.") ride along with the next one of their paragraph so they
keep natural prosody; paragraphs keep their own segments.
"""
from __future__ import annotations

import functools
import re
from typing import Callable, Sequence

from indexstudio.errors import InputError

DEFAULT_MAX_TOKENS = 120
DEFAULT_BUCKET_SIZE = 6
_SHORT_SENTENCE = 3              # tokens; a CJK sentence of fewer than 6 ("是吗？", "他笑了。") is short too
_SHORT_CJK_SENTENCE = 6

CJK_RANGES = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Where a sentence may end: after . ! ? … (and closing quotes/brackets) before a space or CJK text, or after
# CJK enders anywhere; `_ends_sentence` then rules out abbreviations, initials and dialogue tags.
# (French sets its closing guillemet apart: « Où es-tu ? » demanda-t-elle)
_SENTENCE_END = re.compile(rf"[.!?…]+[\"'”’)\]»]*(?:\s»)?(?=\s|$|[{CJK_RANGES}])|[。！？]+[”’」』）\"']*")
_LEADING_PAUSE = re.compile(r"^[\s,;:]+|\s+$")      # a dash turned into a pause, left at a sentence's start
# a number written out, which opens a sentence in lower case ("The war ended. nineteen forty-five was ...")
_NUMBER_WORD = re.compile(r"(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
                          r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|"
                          r"sixty|seventy|eighty|ninety|a hundred|a thousand)\b")
# a dialogue tag that names its speaker, after a quotation that ends in ! or ? ("No!" Harry shouted.)
_NAMED_TAG = re.compile(r"(?:[A-Z][\w'’.-]*\s+){1,3}(?:said|asked|shouted|cried|replied|whispered|called|yelled|"
                        r"screamed|answered|muttered|exclaimed|added|demanded|snapped|gasped|sighed|laughed|"
                        r"growled|murmured|breathed|insisted|roared|hissed|bellowed|wondered|protested)\b")
# a Chinese dialogue tag after a quotation: 他说。/ 她哭着喊道！/ 老人低声问道，(but not 我知道。)
_DIALOGUE_TAG = re.compile(rf"[{CJK_RANGES}]{{0,10}}?(?:[说說问問喊叫答嚷吼叹嘆呼骂罵]|(?<![知味难難])道)[道了着著]?[。！？，：]")
_CLAUSE_END = re.compile(r"(?<=[,;:—，；：、])\s*")
# a pronunciation annotation, <word|PRON> (IndexTTS-2.5), is one word: "<going|G OW1 . IH0 NG>" ends no sentence
_CJK_TEXT = re.compile(rf"[{CJK_RANGES}，。！？；：、「」『』（）《》【】“”‘’]")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\r\n\s*\r\n")
ANNOTATION = re.compile(r"<[^|<>\n]+\|[^<>\n]+>")
_WORD = re.compile(rf"{ANNOTATION.pattern}\S*|[{CJK_RANGES}][，。！？；：、”’」』）]*|[^\s{CJK_RANGES}]+")
_TOKEN = re.compile(rf"[{CJK_RANGES}]|[^\W_{CJK_RANGES}]+(?:['’][^\W_{CJK_RANGES}]+)*|[^\w\s]")
# abbreviations that stand before a name or a number ("Mr. Smith", "No. 5", "Roe v. Wade")
_BEFORE_NAMES = {"Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Mt", "Lt", "Col", "Gen", "Capt", "Sgt", "Rev", "Hon", "Gov",
                 "Sen", "Rep", "Fr", "Mme", "Mlle", "Messrs", "v", "vs", "pp", "p", "No", "Nos", "Vol", "vol", "Ch", "Fig",
                 "Figs", "Eq", "cf", "al", "approx", "ca", "c",
                 "Sr", "Sra", "Srta", "Sres", "Dra", "Lic", "Ing", "Avda", "Av", "Ud", "Uds", "pág", "págs", "EE",  # (es)
                 "Pr", "Mgr", "chap", "env", "fig", "av", "apr", "sig", "dott", "prof", "avv", "pag", "cap", "Profa",
                 "séc", "डॉ", "प्रो", "पृ"}      # (fr, it, pt, hi)
# words that open sentences: after one of them a full stop behind an initial or an abbreviation ends a sentence
# ("We went with Plan B. The rest failed."), before a name it does not ("George W. Bush")
SENTENCE_OPENERS = {"A", "After", "All", "An", "And", "As", "At", "Before", "Both", "But", "Each", "Even", "Every", "Everyone",
             "Few", "For", "He", "Her", "His", "How", "However", "I", "If", "In", "It", "Its", "Later", "Many",
             "Maybe", "Meanwhile", "Most", "My", "No", "Nobody", "Not", "Nothing", "Now", "On", "One", "Or", "Our",
             "Perhaps", "She", "So", "Some", "Someone", "Soon", "Still", "That", "The", "Their", "Then", "There",
             "These", "They", "This", "Those", "We", "What", "When", "Where", "While", "Who", "Why", "Yes", "Yet",
             "You", "Your"}


def _ends_sentence(text: str, end: re.Match) -> bool:
    """Whether the punctuation `end` closes a sentence: not before a lower-case word ("Stop!" he cried; I...
    I know), nor after an initial (J. R. R. Tolkien), a dotted abbreviation (the U.S. Army) or a title
    (Mr. Smith) - unless a word that opens sentences follows (Plan B. The rest; the U.S. Then)."""
    mark = end.group()
    following = text[end.end():end.end() + 80].lstrip()        # (bounded: a long paragraph stays linear)
    if mark.startswith(("...", "…")) and (following[:1].islower() or re.match(r"I\b", following)):
        return False                                            # (I... I know)
    if following[:1].islower() and not _NUMBER_WORD.match(following):
        return False                                            # ("Stop!" he cried; said "你好！" and left)
    if mark[-1] in "」』”’\"'" and (_DIALOGUE_TAG.match(following) or "." not in mark and _NAMED_TAG.match(following)):
        return False                                            # 「你走吧。」他说。, "No!" Harry shouted.
    if mark[0] in "。！？":
        return True
    if mark.rstrip("\"'”’)]» ") != ".":
        return True
    word = re.search(r"(\S*)$", text[max(0, end.start() - 80):end.start()]).group(1).lstrip("\"'“‘([")
    if not (re.fullmatch(r"[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]", word) or word in _BEFORE_NAMES):
        return True
    next_word = re.match(r"[\"'“‘(]*([\w’']+)", following)
    return bool(next_word) and next_word.group(1) in SENTENCE_OPENERS


def count_tokens(text: str) -> int:
    """Generic length measure: one per word, per CJK character and per punctuation mark."""
    return len(_TOKEN.findall(text))


def split_paragraphs(text: str) -> list[list[str]]:
    """The sentences of each paragraph of `text`. Paragraph breaks always end a sentence, with a full stop where
    the paragraph has none (a heading, a list item: "MARLEY'S GHOST. Marley was dead"), and a paragraph with no
    word in it (a scene break, "* * *") is not read."""
    out = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = " ".join(paragraph.split())
        if not re.search(r"[^\W_]", paragraph):
            continue
        if re.search(r"[^\W_]$", paragraph):
            paragraph += "。" if re.match(f"[{CJK_RANGES}]", paragraph[-1]) else "."
        sentences = [s for s in (_LEADING_PAUSE.sub("", s) for s in sentences_of(paragraph)) if s]
        if sentences:
            out.append(sentences)
    return out


def sentences_of(paragraph: str) -> list[str]:
    """`paragraph` (one line) cut where its sentences end; joined, they are the paragraph again."""
    sentences = []
    start = quotes = 0                  # quotes: the straight double quotes before `start`
    inside = [(m.start(), m.end()) for m in ANNOTATION.finditer(paragraph)] if "|" in paragraph else []
    for end in _SENTENCE_END.finditer(paragraph):
        if _ends_sentence(paragraph, end) and not any(a < end.start() < b for a, b in inside):
            stop = end.end()
            if paragraph[stop - 1] == '"' and (quotes + paragraph.count('"', start, stop)) % 2:
                stop -= 1          # an odd straight quote here opens the next sentence: 她问道。"进来吧。"
            quotes += paragraph.count('"', start, stop)      # (counted once: a long paragraph stays linear)
            sentences.append(paragraph[start:stop])
            start = stop
    return sentences + [paragraph[start:]]


def split_scenes(text: str) -> list[str]:
    """`text` cut where a paragraph holds no word: a scene break ("* * *", "#", "~"), which is not read."""
    scenes, current = [], []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        if re.search(r"[^\W_]", paragraph):
            current.append(paragraph)
        elif current and paragraph.strip():
            scenes.append("\n\n".join(current))
            current = []
    return scenes + ["\n\n".join(current)] if current else scenes


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, paragraph after paragraph (see `split_paragraphs`)."""
    return [sentence for paragraph in split_paragraphs(text) for sentence in paragraph]


def _join(parts: Sequence[str]) -> str:
    """Join pieces with a space, except between CJK characters and marks (他说。「走吧。」)."""
    text = ""
    for part in parts:
        if text and not (_CJK_TEXT.match(part[:1]) and _CJK_TEXT.match(text[-1:])):
            text += " "
        text += part
    return text


def _pack(pieces: list[str], max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Join consecutive pieces into texts of at most max_tokens, as few as the pieces allow and of even lengths (a
    sentence of 180 tokens is cut 90/90, not 120/60: a short tail sounded like an afterthought).

    Each piece is counted once and the counts summed (recounting the growing text after every piece made a
    long unpunctuated sentence quadratic: minutes through an IndexTTS normaliser); a joined text whose own
    count still comes out longer (normalisation can lengthen a join) is packed again exactly."""
    counts = [count(piece) for piece in pieces]
    fewest = max(1, -(-sum(counts) // max_tokens))
    for parts in range(fewest, fewest + 3):       # (pieces too coarse for `parts` even texts: try one more)
        groups = _groups(counts, max_tokens, -(-sum(counts) // parts))
        if len(groups) <= parts:
            break
    out: list[str] = []
    for first, last in groups:
        out.extend(_checked(pieces[first:last], max_tokens, count))
    return out


def _groups(counts: list[int], max_tokens: int, target: int) -> list[tuple[int, int]]:
    """(first, last) ranges of consecutive counts, each closed where it comes nearest `target` (never past
    `max_tokens`)."""
    groups, first, total = [], 0, 0
    for i, n in enumerate(counts):
        if i > first and (total + n > max_tokens or total + n > target and target - total <= total + n - target):
            groups.append((first, i))
            first, total = i, 0
        total += n
    return groups + [(first, len(counts))] if counts else groups


def _checked(parts: list[str], max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """`parts` joined, or where their joined count is over `max_tokens`, packed by recounting each join."""
    joined = _join(parts)
    if len(parts) == 1 or count(joined) <= max_tokens:
        return [joined]
    out: list[str] = []
    current: list[str] = []
    for part in parts:
        if current and count(_join(current + [part])) > max_tokens:
            out.append(_join(current))
            current = []
        current.append(part)
    return out + [_join(current)]


def _split_long(sentence: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    if count(sentence) <= max_tokens:
        return [sentence]
    clauses = [c for c in _CLAUSE_END.split(sentence) if c.strip()]
    out: list[str] = []
    for clause in _pack(clauses, max_tokens, count):
        if count(clause) <= max_tokens:
            out.append(clause)
        else:  # one clause alone is too long: cut between words
            out.extend(_pack(_words(clause), max_tokens, count))
    return out


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CLOSING_MARKS = re.compile(r"[，。！？；：、”’」』）]+")


@functools.cache
def chinese_words() -> Callable[[str], list[str]] | None:
    """jieba's word cutter (installed with the `zh` extra), its loading notes quieted; None without it."""
    try:
        import jieba
    except ImportError:
        return None
    import logging
    jieba.setLogLevel(logging.WARNING)          # (its dictionary's loading notes)
    return jieba.lcut


def _words(clause: str) -> list[str]:
    """The words of `clause`: an annotation, a word of spaced text, a CJK character with the marks that close on it
    - Chinese characters grouped into jieba's words where it is installed, so that no cut falls inside 中国."""
    words = _WORD.findall(clause)
    cut = chinese_words()
    if cut is None:
        return words
    out: list[str] = []
    run = ""                     # consecutive Chinese characters (with their closing marks)
    for word in words + [""]:
        if _HAN.match(word):
            run += word
            continue
        for piece in cut(run) if run else ():
            if out and _CLOSING_MARKS.fullmatch(piece) and _HAN.match(out[-1][-1:]):
                out[-1] += piece
            else:
                out.append(piece)
        run = ""
        if word:
            out.append(word)
    return out


def _is_short(sentence: str, count: Callable[[str], int]) -> bool:
    """Whether `sentence` is too short to say alone with natural prosody."""
    n = count(sentence)
    return n < _SHORT_SENTENCE or n < _SHORT_CJK_SENTENCE and bool(re.match(rf"\W*[{CJK_RANGES}]", sentence))


def segment_paragraphs(text: str, max_tokens: int = DEFAULT_MAX_TOKENS,
                       count: Callable[[str], int] = count_tokens) -> list[list[str]]:
    """Speakable segments of each paragraph of `text`, each at most `max_tokens` by `count` (unless one word is
    longer). A very short sentence rides along with the next one of its paragraph ("Yes. I will come."); a
    paragraph keeps its own segments, so that the pause between paragraphs can be longer than between sentences."""
    if max_tokens < 1:
        raise InputError(f"--max-segment-tokens must be at least 1, got {max_tokens}")
    count = functools.lru_cache(maxsize=1024)(count)        # a long sentence is measured at several steps
    out = []
    for sentences in split_paragraphs(text):
        segments: list[str] = []
        pending = ""
        for sentence in sentences:
            if pending:
                merged = _join([pending, sentence])
                if count(merged) <= max_tokens:
                    sentence = merged
                else:
                    segments.append(pending)
                pending = ""
            if _is_short(sentence, count):
                pending = sentence
                continue
            segments.extend(_split_long(sentence, max_tokens, count))
        if pending:
            segments.append(pending)
        out.append(segments)
    return out


def segment_text(text: str, max_tokens: int = DEFAULT_MAX_TOKENS, count: Callable[[str], int] = count_tokens) -> list[str]:
    """Speakable segments of `text`, paragraph after paragraph (see `segment_paragraphs`)."""
    return [segment for paragraph in segment_paragraphs(text, max_tokens, count) for segment in paragraph]


def bucket_segments(lengths: Sequence[int], bucket_size: int = DEFAULT_BUCKET_SIZE, window: int | None = None) -> list[list[int]]:
    """Group segment indices into batches of similar length, at most `bucket_size` each.

    Sorting happens within windows of `window` consecutive segments (default
    8 buckets' worth), so a long book still finishes roughly front to back.
    """
    if bucket_size < 1:
        raise ValueError("bucket_size must be at least 1")
    window = window or bucket_size * 8
    batches: list[list[int]] = []
    for start in range(0, len(lengths), window):
        order = sorted(range(start, min(start + window, len(lengths))), key=lambda i: (lengths[i], i))
        batches.extend(order[i:i + bucket_size] for i in range(0, len(order), bucket_size))
    return batches
