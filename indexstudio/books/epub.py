"""EPUB 2 / 3 books: the spine's documents as chapters of plain text, as a listener should hear them.

Chapters start where the table of contents points: at a document, or at an anchor inside one (a file
that holds several chapters is split there).  What is read is the text of the linear spine documents
in order; what is not: a Project Gutenberg book's licence, title / copyright / imprint / colophon
pages, tables of contents, page numbers, footnotes and their markers, ruby readings and hidden text.
A chapter's heading as the book prints it ("Chapter I" over "Introduction") is what is spoken before
it; the table of contents names its chapter mark.  Inputs are bounded before they are parsed (a zip
bomb is refused), and DRM-protected books are named as such.
"""
from __future__ import annotations

import functools
import html
import io
import logging
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from indexstudio.books.reader import (CONTENTS_LINE, SCENE_BREAK, Book, Chapter, Limits, has_speech,
                                      is_chapter_label, is_scene_break, joined_titles, numbered_words,
                                      title_from_path)
from indexstudio.errors import InputError
from indexstudio.text.language import language_code

log = logging.getLogger(__name__)

_BLOCKS = {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "div", "dl",
           "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr",
           "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead",
           "tr", "ul"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6", "hgroup"}
_UNSPOKEN_TAGS = {"head", "script", "style", "svg", "math", "nav", "rt", "rp", "template", "object", "audio", "video"}
# epub:type / role values of what is not read: front and back matter pages, contents, notes and their markers
_UNSPOKEN_TYPES = {"titlepage", "halftitlepage", "imprint", "colophon", "copyright-page", "toc", "landmarks", "loi",
                   "lot", "page-list", "index", "cover", "pagebreak", "doc-toc", "doc-pagebreak", "doc-colophon",
                   "doc-index", "doc-pagelist", "doc-cover", "doc-backlink"}
_NOTE_TYPE = re.compile(r"(?:^|-)(?:foot|end|rear)?notes?(?:ref)?$")
_NOTE_CLASS = re.compile(r"^(?:foot|end)notes?$|^page-?(?:num|no|number|break|marker)s?$|^pg-?num$", re.IGNORECASE)
_DROP_CAP_CLASS = re.compile(r"drop-?cap|^initial$|first-?letter", re.IGNORECASE)
# headings set as styled paragraphs (InDesign, Sigil): <p class="chapter-title">CHAPTER ONE</p>
_HEADING_CLASS = re.compile(r"^(?:chapter|part|book|section)[-_]?(?:title|head|heading|number|num|no)s?$"
                            r"|^(?:title|heading|chaptertitle|chapterhead)$", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# a link's text that marks a note ("[12]", "*"; a bare "12" where the link says it leads to a note) or leads
# back from one ("↩", "^", "Return to text")
_NOTE_MARK = re.compile(r"^[\[(]\s*(?:\d{1,4}|[*†‡§¶]+|[a-z])\s*[\])]$|^[*†‡§¶]+$", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"^\d{1,4}$")
_NOTE_TARGET = re.compile(r"note|fn|ftn|foot", re.IGNORECASE)
_BACKLINK = re.compile(r"^[\[(]?\s*(?:↩\ufe0e?|↑|\^|back|return(?: to text)?)\s*[\])]?$", re.IGNORECASE)
# contents entries of what is not read when the book does not mark it (epub:type): front and back matter
_UNREAD_ENTRY = re.compile(r"^(?:copyright(?: page)?|colophon|imprint|index|(?:end|foot)?notes|about the publisher|"
                           r"also by\b.*|other books by\b.*|(?:table of )?contents|title ?page|half ?title(?: page)?|"
                           r"奥付|版[权權](?:页|頁|信息)?|目\s*[录錄次])$", re.IGNORECASE)
# ... and entries that name a page without being a heading of it: not spoken where the book prints no heading
_LABEL_ENTRY = re.compile(r"^(?:dedication|epigraph|cover|frontispiece|start|begin reading|page \d+)$", re.IGNORECASE)
_RIGHTS = re.compile(r"all rights reserved|\bISBN\b|版[权權]所有", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^[\[{(]?\s*(?:p(?:g|age)?\.?\s*)?\d{1,4}\s*[\]})]?$", re.IGNORECASE)
_MARKED_PAGE_NUMBER = re.compile(r"^(?:[\[{(]\s*(?:p(?:g|age)?\.?\s*)?\d{1,4}\s*[\]})]|(?:pg|page)\.?\s*\d{1,4})$",
                                 re.IGNORECASE)      # "[Pg 5]", "{12}", "Page 7"; a bare "12" may be a table's
_PG_START = re.compile(r"\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_PG_END = re.compile(r"\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG", re.IGNORECASE)
_PG_BOILERPLATE = re.compile(r"^pg-(?:header|footer)$|^pg-boilerplate$")
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_LIGATURES = {chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}
_BREAK = "\x00"          # a <br/> while whitespace is folded
# font obfuscation is no DRM: the text can be read
_FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
_OPF = "{http://www.idpf.org/2007/opf}"


@dataclass
class Block:
    """One paragraph of a document: its text, whether it is a heading, and the anchors (ids) at its start."""
    text: str
    heading: bool = False
    anchors: set[str] = field(default_factory=set)


def _classes(el) -> list[str]:
    return (el.get("class") or "").split()


def _types(el) -> set[str]:
    values = " ".join(v for k, v in el.attrib.items() if k in ("role", "epub:type") or k.endswith("}type"))
    return {v.split(":")[-1].lower() for v in values.split()}


def _unspoken(el, tag: str) -> bool:
    """Elements whose text is no part of the reading."""
    if tag in _UNSPOKEN_TAGS or el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    if _HIDDEN_STYLE.search(el.get("style") or ""):
        return True
    types = _types(el)
    if types & _UNSPOKEN_TYPES or any(_NOTE_TYPE.search(t) for t in types):
        return True
    if any(_NOTE_CLASS.match(c) for c in _classes(el)) or _PG_BOILERPLATE.match(el.get("id") or ""):
        return True
    if tag == "sup" and el.find(".//a") is not None:
        return True                                                # a note marker: <sup><a href="#n1">1</a></sup>
    if tag == "a" and el.get("href"):
        text = " ".join(el.text_content().split())
        target = el.get("href", "").partition("#")[2] + " " + " ".join(_classes(el))
        superscript = len(el) == 1 and el[0].tag == "sup" and not (el.text or "").strip()   # <a><sup>2</sup></a>
        if (_NOTE_MARK.match(text) or _BACKLINK.match(text)
                or _BARE_NUMBER.match(text) and (superscript or _NOTE_TARGET.search(target))):
            return True
    if tag in ("table", "ul", "ol", "dl") and _lists_contents(el):
        return True
    return any(_PG_BOILERPLATE.match(c) for c in _classes(el))


def _lists_contents(el) -> bool:
    """A table or list that is mostly links into the book: a table of contents printed in the text."""
    links = [a for a in el.iter("a") if a.get("href") and not a.get("href").startswith(("http:", "https:", "mailto:"))]
    if len(links) < 3:
        return False
    def length(node) -> int:
        return len(" ".join(node.text_content().split()))
    headings = sum(length(h) for h in el.iter("h1", "h2", "h3", "h4", "h5", "h6"))   # "Contents" itself
    return sum(length(a) for a in links) >= 0.6 * (length(el) - headings)


_HEADING_IMAGE = re.compile("\x02[^\x03]*\x03")     # the alt text of an image inside a heading


class _Paragraphs:
    """Walks a document in reading order: block elements end paragraphs, inline ones run on, <br/> breaks."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._text: list[str] = []
        self._anchors: set[str] = set()
        self._in_heading = 0

    def walk(self, el) -> None:
        tag = el.tag.rsplit("}", 1)[-1].lower() if isinstance(el.tag, str) else ""
        if not tag or _unspoken(el, tag):            # comments, processing instructions, what is not read
            self._text.append(el.tail or "")
            return
        for name in ("id", "name"):
            if el.get(name) and (name == "id" or tag == "a"):
                self._anchors.add(el.get(name))
        if tag == "br":
            self._text.append(_BREAK + (el.tail or ""))
            return
        if tag == "hr":                                  # a rule between paragraphs: a scene break
            self.flush()
            self.blocks.append(Block(SCENE_BREAK))
            self._text.append(el.tail or "")
            return
        if tag == "img":         # an illustrated initial is a letter of the first word, a heading set as an image
            alt = (el.get("alt") or "").strip()   # says its alt text; other images say nothing
            if len(alt) == 1 and alt.isalpha() or alt and any(_DROP_CAP_CLASS.search(c) for c in _classes(el)):
                self._text.append(alt)
            elif alt and self._in_heading:         # (only where the heading has no words of its own: not a
                self._text.append(f"\x02{alt}\x03")   # "decorative flourish" beside "Chapter One")
            self._text.append(el.tail or "")
            return
        block = tag in _BLOCKS and not any(_DROP_CAP_CLASS.search(c) for c in _classes(el))
        heading = tag in _HEADINGS or block and any(_HEADING_CLASS.match(c) for c in _classes(el))
        if block:
            self.flush(opening=True)
        self._in_heading += heading
        self._text.append(el.text or "")
        for child in el:
            self.walk(child)
        if block:
            self.flush()
        self._in_heading -= heading
        self._text.append(el.tail or "")

    def flush(self, opening: bool = False) -> None:
        """End the paragraph gathered so far; at the opening of a block, a lone letter is a drop cap that
        begins the block's first word ("T" + "he day began")."""
        text = "".join(self._text)
        without_images = _HEADING_IMAGE.sub("", text)
        text = tidy(without_images if has_speech(without_images) else text.replace("\x02", " ").replace("\x03", " "))
        self._text = [text] if opening and len(text) == 1 and text.isalpha() else []
        if self._text:
            return
        if not self._in_heading:           # a page number on a line of its own
            lines = text.split("\n")
            text = "\n".join(line for line in lines if not (_PAGE_NUMBER if len(lines) > 1 else _MARKED_PAGE_NUMBER)
                              .match(line))
        if not self._in_heading and is_scene_break(text):     # "* * *" set as a paragraph
            self.blocks.append(Block(SCENE_BREAK))
            return
        if not has_speech(text) or self._in_heading and CONTENTS_LINE.match(text):
            return
        self.blocks.append(Block(text, self._in_heading > 0, self._anchors))
        self._anchors = set()


def tidy(text: str) -> str:
    """Whitespace folded (a no-break space kept: it joins "10 000"), <br/> as a line break, soft hyphens and
    zero-width characters dropped, ligatures (ﬁ) spelled out."""
    text = re.sub(r"[ \t\n\r\f\v]+", " ", text.translate(_INVISIBLE))
    text = re.sub(rf"(?<=[^\W\d_])-\s*{_BREAK}\s*(?=[a-z])", "", text)   # "tor-<br/>rents": one word, set on two lines
    text = "".join(_LIGATURES.get(c, c) for c in text) if "\ufb00" <= max(text, default=" ") else text
    return "\n".join(line.strip() for line in text.split(_BREAK) if line.strip())


def parse_document(content: bytes):
    """An XHTML document's tree (lxml), or None for one that holds nothing to parse."""
    from lxml import etree, html

    try:
        return html.fromstring(content) if content.strip() else None
    except (etree.ParserError, ValueError):
        return None


def document_blocks(root) -> tuple[list[Block], set[str]]:
    """The paragraphs of a parsed document as they are read aloud, and every anchor (id) the document has."""
    body = root.find(".//body")
    reader = _Paragraphs()
    reader.walk(body if body is not None else root)
    reader.flush()
    return reader.blocks, {str(v) for v in root.xpath("//@id | //a/@name")}


def check_zip(path: Path, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path}: not a valid EPUB (not a zip archive)") from exc
    if len(members) > limits.max_members:
        raise InputError(f"{path}: EPUB holds {len(members)} files, more than the limit of {limits.max_members}")
    unpacked = sum(m.file_size for m in members)
    if unpacked > limits.max_unpacked_bytes:
        raise InputError(f"{path}: EPUB would unpack to {unpacked / 2**20:.0f} MiB, over the limit of "
                         f"{limits.max_unpacked_bytes / 2**20:.0f} MiB (possible zip bomb; --max-unpacked-mb raises the limit)")


def _check_drm(path: Path) -> None:
    """Refuse a DRM-protected book by name (its encrypted text would otherwise read as nothing, or as garbage)."""
    from lxml import etree

    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if {"META-INF/rights.xml", "META-INF/sinf.xml"} & names:
            raise InputError(f"{path}: the EPUB is DRM-protected ({'META-INF/rights.xml' if 'META-INF/rights.xml' in names else 'META-INF/sinf.xml'}); "
                             "only a DRM-free EPUB can be read")
        if "META-INF/encryption.xml" not in names:
            return
        try:
            tree = etree.fromstring(zf.read("META-INF/encryption.xml"))
        except etree.XMLSyntaxError:
            return
    encrypted = [data for data in tree.iter("{*}EncryptedData")
                 if (data.find("{*}EncryptionMethod") is None
                     or data.find("{*}EncryptionMethod").get("Algorithm") not in _FONT_OBFUSCATION)]
    if encrypted:
        raise InputError(f"{path}: the EPUB is DRM-protected ({len(encrypted)} encrypted file(s) in "
                         "META-INF/encryption.xml); only a DRM-free EPUB can be read")


_TEXT_FILES = (".xhtml", ".html", ".htm", ".xml", ".opf", ".ncx")


def _open(path: Path):
    """The book through ebooklib.  A file the manifest lists but the zip lacks is named; an image, style or
    font among them is let go with a warning (the text is whole without it)."""
    from ebooklib import epub

    missing: list[str] = []
    replaced: dict[str, bytes] = {}
    source: str | io.BytesIO = str(path)
    while True:
        try:
            book = epub.read_epub(source, options={"ignore_ncx": False})
            break
        except AttributeError as exc:            # a navigation document ebooklib cannot walk (no <ol>)
            package = _without_navigation(path)
            if replaced or package is None:
                raise InputError(f"{path}: cannot read EPUB ({exc})") from exc
            log.warning("%s: its navigation document is broken: chapters come from the NCX or the headings",
                        path.name)
            replaced.update(package)
            source = _copy_with(path, {**dict.fromkeys(missing, b""), **replaced})
        except KeyError as exc:                  # zipfile: "There is no item named 'OEBPS/x.jpg' in the archive"
            match = re.search(r"no item named '([^']+)'", str(exc))
            if not match or match.group(1) in missing or len(missing) >= 1000:
                raise InputError(f"{path}: cannot read EPUB ({exc})") from exc
            if match.group(1) == "META-INF/container.xml":
                raise InputError(f"{path}: not a valid EPUB (it lacks META-INF/container.xml)") from exc
            if match.group(1).lower().endswith(_TEXT_FILES):
                raise InputError(f"{path}: the EPUB lacks {match.group(1)}, a file of its text that its manifest "
                                 "lists") from exc
            missing.append(match.group(1))
            source = _copy_with(path, {**dict.fromkeys(missing, b""), **replaced})
        except Exception as exc:  # ebooklib raises many kinds on broken files
            message = str(exc)
            with zipfile.ZipFile(path) as zf:
                if "container" in message.lower() and "META-INF/container.xml" in zf.namelist():
                    message = "the package file (.opf) that META-INF/container.xml names is missing or unreadable"
            raise InputError(f"{path}: cannot read EPUB ({message})") from exc
    if missing:
        log.warning("%s: the EPUB lacks %d file(s) its manifest lists (%s); read without them", path.name,
                    len(missing), ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else ""))
    return book


def _copy_with(path: Path, members: dict[str, bytes]) -> io.BytesIO:
    """The EPUB in memory with `members` (name -> bytes) put in: an empty stand-in for a missing file, a
    mended package file."""
    copy = io.BytesIO()
    with zipfile.ZipFile(path) as zf, zipfile.ZipFile(copy, "w") as out:
        for info in zf.infolist():
            if info.filename not in members:
                out.writestr(info, zf.read(info))
        for name, data in members.items():
            out.writestr(name, data)
    copy.seek(0)
    return copy


def _without_navigation(path: Path) -> dict[str, bytes] | None:
    """{package file: its text with the "nav" property taken off}: read so, the navigation document is a page
    like any other (skipped as a contents page) and chapters come from the NCX or the headings."""
    with zipfile.ZipFile(path) as zf:
        container = zf.read("META-INF/container.xml").decode("utf-8", errors="replace")
        found = re.search(r'full-path="([^"]+)"', container)
        if not found or found.group(1) not in zf.namelist():
            return None
        package = zf.read(found.group(1)).decode("utf-8", errors="replace")
    mended = re.sub(r'(properties="[^"]*?)\bnav\b', r"\1", package)
    return {found.group(1): mended.encode("utf-8")} if mended != package else None


def _toc_targets(doc) -> list[tuple[str, str, str]]:
    """(document name, anchor or "", title) of each table-of-contents entry, in order; the title of a part that
    points nowhere ("Part One" over its chapters) joins its first chapter's ("Part One. Chapter 1")."""
    targets: list[tuple[str, str, str]] = []
    part = ""                    # a part's title, waiting for its first chapter

    def walk(entries) -> None:
        nonlocal part
        if not isinstance(entries, (list, tuple)):      # ebooklib gives an empty navigation map as one Link
            entries = [entries]
        for entry in entries:
            section, children = entry if isinstance(entry, tuple) else (entry, [])
            href = getattr(section, "href", None)
            name, _, anchor = unquote(href or "").partition("#")
            title = " ".join(str(getattr(section, "title", "") or "").split())
            if name and title:
                targets.append((name, anchor, joined_titles(part, title) if part else title))
                part = ""
            elif title and children:
                part = joined_titles(part, title) if part else title
            walk(children)
    walk(doc.toc)
    return targets


def _said_heading(text: str) -> str:
    """A heading's lines as said: a pause after a line that numbers the chapter ("Chapter I<br/>The Gate" is
    "Chapter I. The Gate"), none inside a title set on two lines."""
    lines = text.split("\n")
    return "".join(line.rstrip(".:") + ". " if is_chapter_label(line) and n < len(lines) - 1 else line + " "
                   for n, line in enumerate(lines)).strip()


def _heading_count(blocks: list[Block], title: str) -> int:
    """How many of a chapter's first paragraphs are its heading: heading elements, or a line that says the title."""
    n = 0
    while n < len(blocks) and n < 4 and (blocks[n].heading or _same_words(blocks[n].text, title)):
        n += 1
    return n


def _same_words(a: str, b: str) -> bool:
    """Whether a line says the title ("CHAPTER ONE" says "Chapter 1")."""
    return bool(b) and numbered_words(a) == numbered_words(b)


def _creators(doc) -> str:
    """The authors (creators without a role, or with the role "aut"): "A", "A & B", "A, B & C"."""
    roles = {attrs.get("refines", "").lstrip("#"): (value or "").strip()
             for value, attrs in doc.get_metadata("OPF", "meta") if attrs.get("property") == "role"}
    names = []
    for value, attrs in doc.get_metadata("DC", "creator"):
        role = attrs.get(f"{_OPF}role") or roles.get(attrs.get("id", ""), "")
        if value and value.strip() and role in ("", "aut"):
            name = " ".join(value.split())
            inverted = re.fullmatch(r"([^,\d]+), ([^,\d]+)", name)     # "Austen, Jane" (a sort key) -> "Jane Austen"
            names.append(f"{inverted.group(2)} {inverted.group(1)}" if inverted else name)
    return " & ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " & " + names[-1]


def _cover(doc) -> tuple[bytes, str] | None:
    import ebooklib

    cover = next((i for i in doc.get_items() if i.get_type() == ebooklib.ITEM_COVER), None)
    if cover is None:        # EPUB 2: <meta name="cover" content="ITEM-ID"/>
        ids = [attrs.get("content") for _, attrs in doc.get_metadata("OPF", "meta") if attrs.get("name") == "cover"]
        ids += [attrs.get("content") for _, attrs in doc.get_metadata("OPF", "cover")]
        cover = next((doc.get_item_with_id(i) for i in ids if i and doc.get_item_with_id(i) is not None), None)
    if cover is None or not cover.get_content():
        return None
    return cover.get_content(), cover.media_type


def read_epub(path: Path, limits: Limits) -> Book:
    """EPUB 2/3: the linear spine in order, chapters where the navigation document / NCX points."""
    import ebooklib
    from ebooklib import epub

    check_zip(path, limits)
    _check_drm(path)
    doc = _open(path)
    documents = [doc.get_item_with_id(idref) for idref, linear in doc.spine if str(linear).lower() != "no"]
    documents = [item for item in documents if item is not None and item.get_type() == ebooklib.ITEM_DOCUMENT
                 and not isinstance(item, epub.EpubNav)]
    targets = _toc_targets(doc)
    entries_of: dict[str, list[tuple[str, str]]] = {}
    for name, anchor, title in targets:
        entries_of.setdefault(PurePosixPath(name).name, []).append((anchor, title))

    chapters: list[Chapter] = []
    gathered: list[Block] = []           # the paragraphs of the chapter being gathered, and its title
    title = ""

    def close() -> None:
        if not gathered:
            return
        if _UNREAD_ENTRY.match(title):
            log.info("%s: %r is not read (front or back matter)", path.name, title)
            gathered.clear()
            return
        heads = _heading_count(gathered, title)
        heading = ". ".join(_said_heading(b.text).rstrip(".:") for b in gathered[:heads])
        body = "\n\n".join(b.text for b in gathered[heads:])
        spoken = bool(heading or title and not _LABEL_ENTRY.match(title))
        name = title or heading or f"Chapter {len(chapters) + 1}"
        if not has_speech(body):              # a heading alone (a part's title page): said once, as the text
            body, heading, spoken = "\n\n".join(b.text for b in gathered[:heads]), "", False
        chapters.append(Chapter(name, body, read_title=spoken, heading=heading))
        gathered.clear()

    for item in documents:
        name = unquote(item.get_name())
        content = item.content or b""     # as the book has it: get_content() re-serialises it, spaces added
        if not content.strip():
            log.warning("%s: %s, a document of the book, is empty", path.name, name)
            continue
        root = parse_document(content)
        if root is None:
            continue
        if _lists_contents(root):           # a page that is mostly links into the book: contents in the text
            log.info("%s: %s is a table of contents: not read", path.name, name)
            continue
        blocks, anchors = document_blocks(root)
        if _RIGHTS.search(" ".join(b.text for b in blocks)) and sum(len(b.text) for b in blocks) < 2000:
            log.info("%s: %s is a copyright page: not read", path.name, name)
            continue
        opens: dict[int, list[str]] = {}          # paragraph -> titles of the contents entries that open there
        for anchor, entry_title in entries_of.get(PurePosixPath(name).name, []):
            at = next((n for n, b in enumerate(blocks) if anchor in b.anchors), None) if anchor else 0
            if at is None and anchor not in anchors:      # a broken link: the entry opens the document
                at = 0
            if at is not None:                            # (None: the anchor is in what is not read)
                opens.setdefault(at, []).append(entry_title)
        first_heading = next((n for n, b in enumerate(blocks) if b.heading), None)
        for n, block in enumerate(blocks):
            if _PG_START.search(block.text):          # an older Gutenberg EPUB: its licence header is text
                gathered.clear()
                continue
            if _PG_END.search(block.text):
                close()
                return _book(doc, path, chapters)
            if n in opens or not targets and n == first_heading:
                close()
                title = functools.reduce(joined_titles, dict.fromkeys(opens[n])) if n in opens else ""  # (a part
                # and its first chapter, both pointing here: "Book One. Chapter 1")
            gathered.append(block)
    close()
    return _book(doc, path, chapters)


def _book(doc, path: Path, chapters: list[Chapter]) -> Book:
    def meta(name: str) -> str:
        values = doc.get_metadata("DC", name)
        return " ".join(str(values[0][0]).split()) if values and values[0][0] else ""

    book = Book(title=meta("title") or title_from_path(path), chapters=chapters, author=_creators(doc),
                language=language_code(meta("language")))
    values = doc.get_metadata("DC", "description")
    blurb = html.unescape(str(values[0][0])) if values and values[0][0] else ""     # (often escaped HTML)
    blurb = " ".join(blurb.split())                                                  # its paragraphs kept
    blurb = re.sub(r"<[^>]+>", " ", re.sub(r"(?i)<br\s*/?>", "\n", re.sub(r"(?i)</p\s*>", "\n\n", blurb)))
    book.extra = {k: v for k, v in (("date", meta("date")), ("publisher", meta("publisher")),
                                    ("description", blurb.strip())) if v}
    cover = _cover(doc)
    if cover:
        book.cover, book.cover_type = cover
    return book
