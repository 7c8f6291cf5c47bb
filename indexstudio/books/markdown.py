"""Markdown books (CommonMark, with what Pandoc, Obsidian and GitHub add): headings are chapters.

A single top-level heading names the book; top-level headings that each hold deeper ones are parts,
whose title joins their first chapter's.  Front matter (YAML between `---` lines, or TOML between
`+++`) gives the title, author(s), narrator, language and cover.  What is written for the eye is not
read: code blocks, footnotes and their markers, HTML comments, heading attributes (`{#id}`), wiki-link
targets, Obsidian comments, tags and callout markers.  Indented text is read (in a book it is verse,
not code), and a fence that never closes is a scene break, not the start of a code block.
"""
from __future__ import annotations

import logging
import re
import tomllib

import yaml

from indexstudio.books.reader import SCENE_BREAK, Book, Chapter, has_speech, joined_titles

log = logging.getLogger(__name__)

_YAML = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_TOML = re.compile(r"\A\+\+\+[ \t]*\n(.*?)\n\+\+\+[ \t]*(?:\n|\Z)", re.DOTALL)
_KEY_LINES = re.compile(r"(?:[ \t]*(?:[\w-]+[ \t]*[:=].*|-[ \t].*|[ \t]+\S.*|#.*|\[.*\])?\n?)+")
_FOOTNOTE_REF = re.compile(r"\[\^[^\]]+\]")
_FOOTNOTE_DEF = re.compile(r"^\[\^[^\]]+\]:.*(?:\n(?: {2,}|\t).*)*", re.MULTILINE)
# Obsidian and Pandoc marks: %%comments%%, ![[embeds]], [[target|label]], ==highlights==, > [!note] callouts,
# #tags, and heading attributes "# Title {#id .class}"
_MARKS = [(re.compile(r"%%.*?%%", re.DOTALL), ""), (re.compile(r"!\[\[[^\]]*\]\]"), ""),
          (re.compile(r"\[\[[^\]|]*\|([^\]]*)\]\]"), r"\1"), (re.compile(r"\[\[([^\]#|]*)(?:#[^\]]*)?\]\]"), r"\1"),
          (re.compile(r"==(?=\S)([^=\n]+?)(?<=\S)=="), r"\1"),
          (re.compile(r"^([ \t]*>[ \t]*)\[![\w-]+\][+-]?[ \t]*", re.MULTILINE), r"\1"),
          (re.compile(r"^(#{1,6}[ \t].*?)[ \t]*\{[#.][^}]*\}[ \t]*$", re.MULTILINE), r"\1"),
          (re.compile(r"(?<![\w&#/{])#[A-Za-z][\w/-]*"), "")]
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")


def front_matter(text: str, source: str) -> tuple[dict, str]:
    """(metadata, the rest) of a Markdown text.  A block between `---` lines that is prose, not keys, stays text;
    front matter that does not parse is let go with a warning that says where."""
    for pattern, parse, errors in ((_YAML, yaml.safe_load, yaml.YAMLError), (_TOML, tomllib.loads, tomllib.TOMLDecodeError)):
        match = pattern.match(text)
        if not match:
            continue
        if not _KEY_LINES.fullmatch(match.group(1) + "\n"):
            return {}, text                      # "---" above prose: a rule, not front matter
        try:
            meta = parse(match.group(1))
        except errors as exc:
            problem = str(exc).strip().splitlines()[0]
            log.warning("%s: its front matter does not parse (%s): the book is read without it", source, problem)
            return {}, text[match.end():]
        return (meta if isinstance(meta, dict) else {}), text[match.end():]
    return {}, text


def _names(value) -> str:
    """An author field as Pandoc and Hugo write it: a name, a list of names, or {name: ...} entries."""
    if isinstance(value, dict):
        return str(value.get("name") or value.get("literal") or "")
    if isinstance(value, (list, tuple)):
        names = [n for n in (_names(v) for v in value) if n]
        return " & ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " & " + names[-1]
    return "" if value is None else str(value).strip()


def _without_marks(text: str) -> str:
    text = _FOOTNOTE_REF.sub("", _FOOTNOTE_DEF.sub("", text))
    for pattern, replacement in _MARKS:
        text = pattern.sub(replacement, text)
    return _unclosed_fences_as_breaks(text)


def _unclosed_fences_as_breaks(text: str) -> str:
    """A fence line (```, ~~~) that nothing closes is a scene break: as an opening it would hide the rest."""
    lines = text.split("\n")
    n, opened, marker = 0, None, ""
    while n < len(lines):
        fence = _FENCE.match(lines[n])
        if fence and opened is None:
            opened, marker = n, fence.group(1)
        elif fence and fence.group(1)[0] == marker[0] and len(fence.group(1)) >= len(marker) \
                and not lines[n].strip().strip(marker[0]):
            opened = None
        n += 1
        if n == len(lines) and opened is not None:
            lines[opened] = ""
            n, opened = opened + 1, None
    return "\n".join(lines)


def _html_text(html: str) -> str:
    """The text of a block of HTML (a comment says nothing)."""
    from lxml import etree
    from lxml import html as lxml_html
    try:
        return " ".join(lxml_html.fromstring(html).text_content().split())
    except (etree.ParserError, ValueError):
        return ""


def read_markdown(text: str, title: str, source: str = "") -> Book:
    """Markdown: headings are chapters (see the module's docstring for parts, the book's title and what is not
    read)."""
    from markdown_it import MarkdownIt

    meta, text = front_matter(text, source or title)
    parser = MarkdownIt("commonmark").enable("table").enable("strikethrough").disable("code")
    tokens = parser.parse(_without_marks(text))
    headings = [(int(t.tag[1]), tokens[n + 1].content.strip()) for n, t in enumerate(tokens)
                if t.type == "heading_open" and has_speech(tokens[n + 1].content)]
    levels = sorted({level for level, _ in headings})
    top = [n for n, (level, _) in enumerate(headings) if level == levels[0]] if levels else []
    book_title = _names(meta.get("title"))
    chapter_level, part_level = (levels[0] if levels else 0), 0
    if len(levels) > 1 and len(top) == 1:                 # "# Book" over "## Chapter"s
        chapter_level = levels[1]
        book_title = book_title or headings[top[0]][1]
    elif len(levels) > 1 and all(n + 1 < len(headings) and headings[n + 1][0] > levels[0] for n in top):
        chapter_level, part_level = levels[1], levels[0]  # "# Part" over "## Chapter"s, each part
    chapters: list[Chapter] = []
    current, blocks, part = "", [], ""
    skipped_code = 0
    empty = ""                   # the titles of headings with nothing under them, for the next one's

    def close() -> None:
        nonlocal empty, part
        body = "\n\n".join(b for b in blocks if b.strip())
        if has_speech(body):
            name = current or book_title or title
            chapters.append(Chapter(joined_titles(empty, name) if empty else name, body,
                                    read_title=bool(current or book_title)))
            empty = ""
            if current == part:                          # a part with words of its own has said its title
                part = ""
        elif current and current != part:                # "## Chapter 1" over "## The Storm": one title
            empty = joined_titles(empty, current) if empty else current

    heading_level = 0
    for n, tok in enumerate(tokens):
        if tok.type == "heading_open":
            heading_level = int(tok.tag[1])
        elif tok.type == "heading_close":
            heading_level = 0
        elif tok.type == "fence":
            skipped_code += 1
        elif tok.type == "hr":                          # ---, ***: a scene break
            blocks.append(SCENE_BREAK)
        elif tok.type == "html_block":
            blocks.append(_html_text(tok.content))
        elif tok.type == "inline":
            content = "".join(child.content if child.type in ("text", "code_inline") else
                              " " if child.type in ("softbreak", "hardbreak") else "" for child in tok.children or [])
            content = content.strip()
            if heading_level and not has_speech(content):
                continue
            if heading_level and heading_level == part_level:
                close()
                current, blocks, part = content, [], content
            elif heading_level and heading_level == chapter_level:
                close()
                current = f"{part.rstrip('.:')}. {content}" if part else content
                blocks, part = [], ""
            elif heading_level and heading_level < chapter_level:
                pass                                       # the book's title
            else:
                blocks.append(content)
    close()
    if skipped_code:
        log.info("%s: %d code block(s) not read", source or title, skipped_code)
    book = Book(title=book_title or title, chapters=chapters, author=_names(meta.get("author")),
                narrator=_names(meta.get("narrator")), language=str(meta.get("language") or meta.get("lang") or ""))
    book.extra = {k: v for k, v in meta.items() if k not in ("title", "author", "narrator", "language", "lang")}
    return book
