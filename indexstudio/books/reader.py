"""Books in: .txt, .md and .epub become one Book of titled chapters of plain text.

Inputs are bounded before they are parsed: a file over `Limits.max_file_bytes`,
an EPUB whose members would unpack beyond `Limits.max_unpacked_bytes` (a zip
bomb) or hold too many members, and a book with no speakable text are refused
with an InputError naming the file and the limit.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from indexstudio.books import gutenberg
from indexstudio.errors import InputError

log = logging.getLogger(__name__)

_SPEAKABLE = re.compile(r"[^\W_]", re.UNICODE)
_NUMBER_WORD = (r"(?i:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six"
                r"|seven|eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
                r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|hundred|first|second|third|fourth|fifth"
                r"|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|last)")
# "Chapter 3", "CHAPTER IV. The Storm", "Part Two: Home", "Book 1 The Return" - a number, then nothing, a
# separator or a capitalised title (so prose such as "part of the town" or "Chapter 3 of it" is no heading)
_TXT_HEADING = re.compile(
    r"^\s*(?:(?i:chapter|part|book)\s+(?:\d+|[IVXLC]+|" + _NUMBER_WORD + r")"
    r"(?:\s*[.:\u2014\u2013-].*|\s+[A-Z\"'\u201c\u2018].*)?"
    r"|(?i:prologue|epilogue|introduction|preface|foreword|afterword)[.:]?)\s*$")
_BARE_HEADING = re.compile(r"^\s*(?i:chapter|part|book)\s+\S+[.:]?\s*$")
# "第三章", "第十回 风起", "第一节：开端" (a 节 or 部 heading needs a break after it: "第一节课" is prose)
_CJK_HEADING = re.compile(r"^\s*第[一二三四五六七八九十百千零〇\d]+(?:[章回卷].{0,30}|[节部](?:[\s：:、.·].{0,30})?)\s*$")
_CONTENTS = re.compile(r"^\s*(?:(?:table of )?contents|目\s*录)[.:]?\s*$", re.IGNORECASE)
_MAX_CONTENTS_LINES = 400
_FOOTNOTE_REF = re.compile(r"\[\^[^\]]+\]")
_FOOTNOTE_DEF = re.compile(r"^\[\^[^\]]+\]:.*(?:\n(?: {2,}|\t).*)*", re.MULTILINE)


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 200 * 1024 * 1024
    max_unpacked_bytes: int = 500 * 1024 * 1024
    max_members: int = 10_000


@dataclass
class Chapter:
    title: str                  # its name in the chapter marks
    text: str
    read_title: bool = True     # False for a title the book does not give (from its file name, or numbered)
    heading: str = ""           # the heading as the book prints it, spoken in place of the title where given


@dataclass
class Book:
    title: str
    chapters: list[Chapter]
    author: str = ""
    narrator: str = ""
    language: str = ""
    cover: bytes | None = None
    cover_type: str = ""          # MIME type of `cover`
    source: str = ""
    extra: dict = field(default_factory=dict)


def has_speech(text: str) -> bool:
    return bool(_SPEAKABLE.search(text))


# ISO 639-2 codes that books carry (Calibre writes "eng") -> ISO 639-1
_LANGUAGE_CODES = {"eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "ita": "it",
                   "por": "pt", "nld": "nl", "dut": "nl", "zho": "zh", "chi": "zh", "jpn": "ja", "rus": "ru",
                   "pol": "pl", "swe": "sv", "fin": "fi", "dan": "da", "nor": "no", "lat": "la", "hin": "hi",
                   "kor": "ko", "ara": "ar", "ell": "el", "gre": "el", "ces": "cs", "cze": "cs", "hun": "hu"}


def language_code(tag: str) -> str:
    """A book's language tag with its language as two letters where it has them: "eng" -> "en", "en-GB" kept."""
    primary, sep, region = tag.strip().partition("-")
    return _LANGUAGE_CODES.get(primary.lower(), primary) + sep + region


def title_from_path(path: Path) -> str:
    return re.sub(r"[_-]+", " ", path.stem).strip().title() or path.name


CP1252_MARGIN = 0.05       # charset_normalizer "chaos" by which cp1252 may trail the best guess and still win


def _decode(data: bytes, path: Path) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad <= max(1, len(text) // 10_000) and any(ord(c) > 127 for c in text.replace("\ufffd", "")):
        # UTF-8 elsewhere (its multi-byte characters decode), but for a stray byte or two
        log.warning("%s: not valid UTF-8 at line %d (%d place(s) in all); read as UTF-8 without those bytes",
                    path, data[:first_bad].count(b"\n") + 1, bad)
        return text.replace("\ufffd", "")
    from charset_normalizer import from_bytes
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise InputError(f"{path}: cannot tell the text encoding (is it a text file?)")
    # Accented Latin text scores nearly alike in several code pages (a cp1252 "naïve" read as Baltic cp1257
    # is "naļve"); Western European is the likeliest for a book, so it wins unless clearly worse.
    western = next((m for m in matches if m.encoding == "cp1252"), None)
    return str(western if western is not None and western.chaos <= best.chaos + CP1252_MARGIN else best)


def _split_front_matter(text: str) -> tuple[dict, str]:
    match = re.match(r"\A---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"front matter is not valid YAML: {exc}") from exc
    return (meta if isinstance(meta, dict) else {}), text[match.end():]


def _heading_like(line: str) -> bool:
    """A line shaped as a chapter heading, wherever it stands (a table of contents lists such lines)."""
    return len(line) < 80 and bool(_CJK_HEADING.match(line) or _TXT_HEADING.match(line))


def _is_heading(lines: list[str], n: int) -> bool:
    """An English heading must stand apart (a blank line before or after it, or nothing but the keyword and its
    number on the line) and not run on into the next line, so a hard-wrapped line of prose is never one."""
    line = lines[n]
    if not _heading_like(line):
        return False
    if _CJK_HEADING.match(line):
        return True
    bare = bool(_BARE_HEADING.match(line))
    if not bare and n + 1 < len(lines) and lines[n + 1].lstrip()[:1].islower():
        return False        # the line runs on into the next one: a sentence ("Part one: we leave at dawn, said")
    alone_before = n == 0 or not lines[n - 1].strip()
    alone_after = n == len(lines) - 1 or not lines[n + 1].strip()
    return alone_before or alone_after or bare


def _lists(entry: str, heading: str) -> bool:
    """Whether a contents entry names this heading ("CHAPTER I. Down the Rabbit-Hole" names "CHAPTER I.")."""
    a, b = re.findall(r"\w+", entry.lower()), re.findall(r"\w+", heading.lower())
    return bool(a and b) and a[:len(b)] == b[:len(a)]


def _contents_end(lines: list[str], n: int, headings: set[int]) -> int | None:
    """Where the table of contents that starts at line `n` ends, or None where none starts there.

    Either two or more heading-shaped lines with nothing else between them ("CHAPTER I. Down the Rabbit-Hole"),
    the first of which names a later heading (a list of chapters, not "BOOK ONE" over "CHAPTER I"), up to that
    heading or to the first other line; or a "Contents" line over short lines that are no headings
    ("I. Down the Rabbit-Hole"), up to the first heading, with no prose on the way: prose is never skipped."""
    titled = bool(_CONTENTS.match(lines[n]))
    first = next((k for k in range(n + 1 if titled else n, len(lines)) if lines[k].strip()), None)
    if first is None:
        return None
    if _heading_like(lines[first]):
        named = min((k for k in headings if k > first and _lists(lines[first], lines[k])), default=None)
        if named is None:
            return None
        k, entries = first, 0
        while k < named and (not lines[k].strip() or _heading_like(lines[k])):
            entries += bool(lines[k].strip())
            k += 1
        return k if entries >= 2 else None
    if not titled:
        return None
    for k in range(first, min(len(lines), first + _MAX_CONTENTS_LINES)):
        if k in headings:
            return k
        line = lines[k].strip()
        if len(line) >= 80 or line and k + 1 < len(lines) and lines[k + 1].lstrip()[:1].islower():
            return None
    return None


def _subtitle(lines: list[str], n: int) -> int:
    """How many lines after the bare heading at `n` are its subtitle ("CHAPTER I." over "Down the Rabbit-Hole"):
    a short line right under it, or an upper-case one a blank line below, each standing alone above the text."""
    def alone(k: int) -> bool:
        line = lines[k].strip() if k < len(lines) else ""
        ends_sentence = line[-1:] in ".!?,;:\"\u201d" and not line.isupper()
        return (0 < len(line) < 60 and not ends_sentence and not _heading_like(line)
                and (k + 1 >= len(lines) or not lines[k + 1].strip()))
    if not _BARE_HEADING.match(lines[n]):
        return 0
    if alone(n + 1):
        return 1
    if n + 2 < len(lines) and not lines[n + 1].strip() and alone(n + 2) and lines[n + 2].isupper():
        return 2
    return 0


def read_text(text: str, title: str) -> Book:
    """Plain text: chapter heading lines ("Chapter 3", "第三章") split it, else one chapter.

    No text is dropped but a table of contents: a heading with nothing under it ("BOOK ONE" above
    "CHAPTER I") joins the next heading's title, and a subtitle under a bare heading joins its own."""
    chapters: list[Chapter] = []
    lines = text.splitlines()
    current_title, body, heading_pending = title, [], False
    headings = {k for k in range(len(lines)) if _is_heading(lines, k)}
    n = 0
    while n < len(lines):
        line = lines[n]
        if _CONTENTS.match(line) or _heading_like(line):
            end = _contents_end(lines, n, headings)
            if end is not None:
                log.info("skipped a table of contents (%d lines, from %r)", end - n, line.strip())
                n = end
                continue
        if n not in headings:
            body.append(line)
            n += 1
            continue
        sub = _subtitle(lines, n)
        heading = f"{line.strip().rstrip('.:')}. {lines[n + sub].strip()}" if sub else line.strip()
        if has_speech("\n".join(body)):
            chapters.append(Chapter(current_title, "\n".join(body).strip(), read_title=heading_pending))
            current_title, heading_pending = heading, True
        elif heading_pending:                       # a heading with nothing under it: one title with the next
            current_title = f"{current_title.rstrip('.:')}. {heading}"
        else:
            current_title, heading_pending = heading, True
        body = []
        n += 1 + sub
    if has_speech("\n".join(body)):
        chapters.append(Chapter(current_title, "\n".join(body).strip(), read_title=heading_pending))
    elif heading_pending and has_speech(current_title):     # a last heading with nothing under it is still said
        if chapters:
            chapters[-1].text += "\n\n" + current_title
        else:
            chapters.append(Chapter(title, current_title, read_title=False))
    return Book(title=title, chapters=chapters)


def read_markdown(text: str, title: str) -> Book:
    """Markdown: headings are chapters (a lone top-level title heading names the book)."""
    from markdown_it import MarkdownIt

    meta, text = _split_front_matter(text)
    text = _FOOTNOTE_REF.sub("", _FOOTNOTE_DEF.sub("", text))
    tokens = MarkdownIt("commonmark").enable("table").enable("strikethrough").parse(text)
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    book_title = meta.get("title")
    chapter_level = min(levels) if levels else 0
    if levels and levels.count(chapter_level) == 1 and tokens[0].type == "heading_open" and len(set(levels)) > 1:
        chapter_level = min(level for level in levels if level > chapter_level)   # "# Book" then "## Chapter"
        book_title = book_title or tokens[1].content.strip()
    chapters: list[Chapter] = []
    current_title, blocks = "", []
    heading_level = 0

    def close() -> None:
        body = "\n\n".join(b for b in blocks if b.strip())
        if has_speech(body):
            chapters.append(Chapter(current_title or str(book_title or title), body,
                                    read_title=bool(current_title or book_title)))

    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            heading_level = int(tok.tag[1])
        elif tok.type == "inline":
            content = "".join(
                child.content if child.type in ("text", "code_inline") else " " if child.type in ("softbreak", "hardbreak") else ""
                for child in tok.children or [])
            if heading_level and heading_level == chapter_level:
                close()
                current_title, blocks = content.strip(), []
            elif heading_level and heading_level < chapter_level:
                pass  # the book title heading
            else:
                blocks.append(content.strip())
        elif tok.type == "heading_close":
            heading_level = 0
    close()
    book = Book(title=str(book_title or title), chapters=chapters)
    book.author, book.narrator, book.language = (str(meta.get(k, "")) for k in ("author", "narrator", "language"))
    book.extra = {k: v for k, v in meta.items() if k not in ("title", "author", "narrator", "language")}
    return book


def _read_plain_text(text: str, path: Path) -> Book:
    """A .txt file; one from Project Gutenberg without its licence and with the title and author it names."""
    unwrapped = gutenberg.unwrap(text)
    if unwrapped is None:
        return read_text(text, title_from_path(path))
    text, meta = unwrapped
    log.info("%s: a Project Gutenberg text: its licence and header are not read", path.name)
    book = read_text(text, meta.get("title") or title_from_path(path))
    book.author, book.language = meta.get("author", ""), meta.get("language", "")
    return book


def read_book(path: str | Path, limits: Limits = Limits()) -> Book:
    """Read a .txt, .md/.markdown or .epub file into a Book."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(f"{path}: {size / 2**20:.1f} MiB is over the input limit of {limits.max_file_bytes / 2**20:.0f} MiB")
    suffix = path.suffix.lower()
    if suffix == ".epub":
        from indexstudio.books.epub import read_epub
        book = read_epub(path, limits)
    elif suffix in (".md", ".markdown"):
        book = read_markdown(_decode(path.read_bytes(), path), title_from_path(path))
    elif suffix in (".txt", ".text", ""):
        book = _read_plain_text(_decode(path.read_bytes(), path), path)
    else:
        raise InputError(f"{path}: unsupported format {suffix!r} (use .txt, .md or .epub)")
    if not book.chapters:
        raise InputError(f"{path}: no speakable text found")
    cover = book.extra.pop("cover", None)
    if cover and book.cover is None:
        cover_path = (path.parent / str(cover)).resolve()
        if not cover_path.is_file():
            raise InputError(f"{path}: cover image {cover_path} not found")
        book.cover = cover_path.read_bytes()
        book.cover_type = "image/png" if cover_path.suffix.lower() == ".png" else "image/jpeg"
    book.source = str(path)
    return book
