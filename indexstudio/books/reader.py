"""Books in: .txt, .md and .epub become one Book of titled chapters of plain text.

Inputs are bounded before they are parsed: a file over `Limits.max_file_bytes`,
an EPUB whose members would unpack beyond `Limits.max_unpacked_bytes` (a zip
bomb) or hold too many members, and a book with no speakable text are refused
with an InputError naming the file and the limit.
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path


from indexstudio.books import ao3, gutenberg
from indexstudio.errors import InputError
from indexstudio.text.language import han_share, language_code
from indexstudio.text.normalize import roman_value

log = logging.getLogger(__name__)

_SPEAKABLE = re.compile(r"[^\W_]", re.UNICODE)
_NUMBER_WORD = (r"(?i:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six"
                r"|seven|eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
                r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|hundred|first|second|third|fourth|fifth"
                r"|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|last"
                # Spanish and Portuguese: "Capítulo tercero", "Parte dos", "Capítulo Um"
                r"|uno|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|primer[oa]?|segund[oa]"
                r"|tercer[oa]?|cuart[oa]|quint[oa]|sext[oa]|s[ée]ptim[oa]|octav[oa]|noven[oa]|d[ée]cim[oa]|[úu]ltim[oa]"
                r"|um|uma|dois|duas|tr[êe]s|sete|oito|dez|onze|doze|primeir[oa]|terceir[oa]|vig[ée]sim[oa]"
                # French: "Chapitre premier", "Livre deuxième"
                r"|une?|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|premi[eè]re?|second[e]?|deuxi[eè]me|troisi[eè]me"
                r"|quatri[eè]me|cinqui[eè]me|sixi[eè]me|septi[eè]me|huiti[eè]me|neuvi[eè]me|dixi[eè]me|derni[eè]re?"
                # Italian: "Capitolo primo", "Parte seconda"
                r"|due|tre|quattro|cinque|sei|sette|otto|nove|dieci|prim[oa]|second[oa]|terz[oa]|sest[oa]|settim[oa]"
                r"|ultim[oa]"
                # Hindi: "अध्याय एक"
                r"|एक|दो|तीन|चार|पाँच|पांच|छह|सात|आठ|नौ|दस)")
_HEADING_WORD = (r"(?i:chapter|part|book|stave|letter|act|canto|volume|cap[íi]tulo|parte|libro|tomo|acto"
                 r"|chapitre|partie|livre|acte|capitolo|atto|livro|ato|अध्याय|भाग)")
# "Chapter 3", "CHAPTER IV. The Storm", "Part Two: Home", "Book 1 The Return", "STAVE I.", "Chapter the Last" - a
# number, then nothing, a separator or a capitalised title (so prose such as "part of the town" or "Chapter 3
# of it" is no heading)
_TXT_HEADING = re.compile(
    r"^\s*(?:" + _HEADING_WORD + r"\s+(?:(?i:the)\s+)?(?:\d+|[IVXLC]+|" + _NUMBER_WORD + r")"
    r"(?:\s*[.:\u2014\u2013-].*|\s+[A-Z\"'\u201c\u2018].*)?"
    r"|(?i:prologue|epilogue|introduction|preface|foreword|afterword|pr[óo]logo|ep[íi]logo|introducci[óo]n"
    r"|prefacio|[ée]pilogue|pr[ée]face|avant-propos|postface|prefazione|introduzione|premessa|postfazione"
    r"|pref[áa]cio|introdu[çc][ãa]o|posf[áa]cio|प्रस्तावना|भूमिका|उपसंहार)[.:]?)\s*$")
_BARE_HEADING = re.compile(r"^\s*" + _HEADING_WORD + r"\s+(?:(?i:the)\s+)?\S+[.:]?\s*$")
# "第三章", "第三章风起", "第 3 章", "正文 第一章", "第十回 风起", "第一节：开端", "卷一 江湖", "上卷", "番外一 重逢",
# "后记" (and their traditional forms: 第一節, 後記, 尾聲) - a 回, 卷, 节 or 部 heading needs a break after it
# ("第一回合，" and "第一节课" are prose), and no heading ends a sentence
_CJK_NUMBER = r"[一二三四五六七八九十百千零〇两兩\d]+"
_CJK_HEADING = re.compile(r"^\s*[【\[]?(?:(?:正文\s*)?第\s*" + _CJK_NUMBER + r"\s*(?:章.{0,30}|[回卷节節部集篇](?:[\s：:、.·].{0,30})?)"
                          r"|(?:番外[篇一二三四五六七八九十\d]*|[后後]记|[后後]記|序章|楔子|尾[声聲]|引子|序言|前言|[终終]章"
                          r"|完本感言|卷" + _CJK_NUMBER + r"|[上中下]卷)"
                          r"(?:[\s：:、.·].{0,30})?)(?<![。！？，；…])\s*$")
CONTENTS_LINE = re.compile(r"^\s*(?:(?:table of )?contents|[íi]ndice|table des mati[èe]res|sommaire|sum[áa]rio"
                           r"|अनुक्रमणिका|विषय[- ]सूची|目\s*[录錄次])[.:]?\s*$", re.IGNORECASE)
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


def book_tags(extra: dict) -> dict[str, str]:
    """The date, publisher and description a book's metadata gives (EPUB's, Markdown front matter's), as the
    audiobook's tags take them: a year, a month or a day ("2004-12-19T00:00:00" -> "2004-12-19"); the
    description's paragraphs and lines kept, each with its spaces folded."""
    year = re.search(r"\b[12]\d{3}(?:-[01]\d(?:-[0-3]\d)?)?(?!\d)", str(extra.get("date") or extra.get("year") or ""))
    description = extra.get("description") or extra.get("summary") or extra.get("abstract") or ""
    paragraphs = ("\n".join(" ".join(line.split()) for line in paragraph.splitlines() if line.strip())
                  for paragraph in re.split(r"\n\s*\n", str(description)))
    return {"year": year.group() if year else "", "publisher": str(extra.get("publisher") or ""),
            "description": "\n\n".join(p for p in paragraphs if p)}


SCENE_BREAK = "* * *"       # a scene break in a chapter's text: a paragraph of its own, not read, a longer pause
_SCENE_MARK = re.compile(r"\s*(?:[*#~•·◆◇✻❦⁂※§=_—–-]\s*){1,12}")


def is_scene_break(text: str) -> bool:
    """Whether a paragraph is a scene break as books print one ("* * *", "#", "⁂", "~~~")."""
    return bool(_SCENE_MARK.fullmatch(text))


def has_speech(text: str) -> bool:
    return bool(_SPEAKABLE.search(text))


def _title(name: str) -> str:
    """A file or folder name as a title: "the_keeper's-tale" -> "The Keeper's Tale" (a word in capitals stays so)."""
    return " ".join(w[:1].upper() + w[1:] if w.islower() else w for w in re.sub(r"[_-]+", " ", name).split())


def title_from_path(path: Path) -> str:
    return _title(path.stem) or path.name


def _chapter_title_from_path(path: Path) -> str:
    """A chapter file's name as its title: its number in front left out ("03 - the_keeper.txt": The Keeper), a
    number alone a chapter's ("07.txt": Chapter 7, "10.5.txt": Chapter 10.5, "ch_4.txt": Chapter 4)."""
    short = re.fullmatch(r"(?i)(?:ch|chap)[\s._-]*(\d+(?:\.\d+)?)", path.stem)     # "ch_4.txt", "chap10.txt"
    if short:
        return f"Chapter {short.group(1).lstrip('0') or '0'}"
    stem = re.sub(r"^\d+(?:\.\d+)?(?:[\s._-]+|$)", "", path.stem)
    number = re.match(r"(\d+)(\.\d+)?", path.stem)
    if stem.strip(" ._-") or not number:
        return _title(stem) or _title(path.stem)
    return f"Chapter {int(number.group(1))}{number.group(2) or ''}"


_FIRST_FILES = re.compile(r"(?i)^(?:\d+[\s._-]*)?(?:prologue|preface|foreword|introduction|intro|pr[óo]logo|pr[ée]face"
                          r"|prefacio|pref[áa]cio|prefazione|avant-propos|introducci[óo]n|introduzione|introdu[çc][ãa]o"
                          r"|序章?|楔子|前言|引子)\b")
_LAST_FILES = re.compile(r"(?i)^(?:\d+[\s._-]*)?(?:epilogue|[ée]pilogue|ep[íi]logo|afterword|postface|postfazione"
                         r"|posf[áa]cio|appendix|acknowledg|author.?s.?note|尾声|后记|後記|完本感言)")
_NOT_CHAPTERS = re.compile(r"(?i)^(?:readme|read me|license|licence|notes?|todo|changelog|contents|toc|index"
                           r"|table[ _-]des[ _-]mati[èe]res|sommaire|[íi]ndice|sum[áa]rio)$")
_HAN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千万]+")


def _natural(path: Path) -> list:
    """Sort key of a chapter file or folder, as a person orders them: a prologue first and an epilogue last, then
    by the numbers in the name as numbers ("2" before "10", "10" before "10.5", 第二章 before 第十章), separators
    alike ("Chapter 1" and "chapter_0002")."""
    stem = path.stem if path.suffix.lower() in _CHAPTER_FILES else path.name
    place = 0 if _FIRST_FILES.match(stem) else 2 if _LAST_FILES.match(stem) else 1
    name = _HAN_NUMBER.sub(lambda m: f" {_han_value(m.group())} " if _han_value(m.group()) is not None
                           else m.group(), stem.lower())
    name = " ".join(re.sub(r"[\s_-]+", " ", name).split())
    name = _CHAPTER_WORD.sub("", name)      # ("1.txt", "ch_4.txt", "Chapter 10.txt": a chapter's number alike)
    return [place, *[(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]]


_CHAPTER_WORD = re.compile(r"^(?:chapter|chap|ch|cap[íi]tulo|capitolo|chapitre|cap|part|partie|parte|episode|ep)\.? ?"
                           r"(?=\d)")


def _han_value(numeral: str) -> int | None:
    """第十二章's 十二 as 12 (for ordering chapter files), None where it is not one number."""
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
    total, section, number = 0, 0, None
    for char in numeral:
        if char in digits:
            number = digits[char] if number is None else number * 10 + digits[char]
        elif char in "十百千":
            section += (1 if number is None else number) * {"十": 10, "百": 100, "千": 1000}[char]
            number = None
        elif char == "万":
            total, section, number = (total + section + (number or 0)) * 10000, 0, None
    return total + section + (number or 0)


_CHAPTER_FILES = (".txt", ".text", ".md", ".markdown")
_COVERS = ("cover.jpg", "cover.jpeg", "cover.png", "folder.jpg", "folder.png")


def _chapter_files(folder: Path, depth: int = 0) -> list[Path]:
    """The chapter files of a folder in order, those of its folders (volumes) in their place among them."""
    found = []
    for entry in sorted((e for e in folder.iterdir() if not e.name.startswith(".")), key=_natural):
        if entry.is_dir() and depth < 2:
            found += _chapter_files(entry, depth + 1)
        elif entry.is_file() and entry.suffix.lower() in _CHAPTER_FILES:
            if _NOT_CHAPTERS.match(entry.stem):
                log.warning("%s: left out, a name that is no chapter's (rename it to read it)", entry.name)
            else:
                found.append(entry)
    return found


def _read_folder(path: Path, limits: Limits) -> Book:
    """A book kept as a folder of chapter files (.txt, .md), read in the order a person numbers them, a folder in
    it (a volume) in its place: each file's chapters in turn, a file without a heading one chapter named after
    it. The folder names the book (the files' front matter or headers give its author and language); a cover.jpg
    or cover.png in it is its cover."""
    files = _chapter_files(path)
    epubs = sorted(p.name for p in path.iterdir() if p.suffix.lower() == ".epub")
    if not files:
        hint = f" (it holds {epubs[0]}: give that file)" if epubs else ""
        raise InputError(f"{path} is a folder without .txt or .md files: give the book's file, or a folder of its "
                         f"chapters' files{hint}")
    if epubs:
        log.warning("%s: left out of the book of %s's .txt and .md files (give it alone to read it)",
                    ", ".join(epubs), path.name)
    size = sum(f.stat().st_size for f in files)
    if size > limits.max_file_bytes:
        raise InputError(f"{path}: {size / 2**20:.2f} MiB of chapter files is over the input limit of "
                         f"{limits.max_file_bytes / 2**20:.0f} MiB (--max-input-mb raises it)")
    book = Book(title=_title(path.resolve().name) or "Audiobook", chapters=[])
    for file in files:
        try:
            part = read_book(file, limits)
        except InputError as exc:
            if "no speakable text" not in str(exc):
                raise
            log.warning("%s: no speakable text, left out", file.name)
            continue
        for chapter in part.chapters:
            if not chapter.read_title and chapter.title == part.title == title_from_path(file):
                chapter.title = _chapter_title_from_path(file)
        book.chapters += part.chapters
        book.author, book.language = book.author or part.author, book.language or part.language
        book.narrator = book.narrator or part.narrator
        for key, value in part.extra.items():
            book.extra.setdefault(key, value)
    if not book.chapters:
        raise InputError(f"{path}: no speakable text in its {len(files)} chapter files")
    covers = {p.name.lower(): p for p in path.iterdir() if p.is_file()}
    cover = next((covers[name] for name in _COVERS if name in covers), None)
    if cover:
        book.cover = cover.read_bytes()
        book.cover_type = "image/png" if cover.suffix.lower() == ".png" else "image/jpeg"
    book.source = str(path)
    return book


CP1252_MARGIN = 0.05       # charset_normalizer "chaos" by which cp1252 may trail the best guess and still win
SHORT_TEXT_BYTES = 200     # below this charset_normalizer guesses wildly ("Café." came back as "Cafﻠ.")


# the commonest Chinese characters, simplified and traditional: the right reading of a few legacy-encoded lines
# holds many of them, a wrong one (Big5 bytes read as GB18030, Shift-JIS ones as either) next to none
_COMMON_HAN = set("的一是不了在人有我他这這个個们們中来來上大为為和国國地到以说說时時要就出会會也你对對生能而子那得"
                  "于着著下自之年过過发發后後作里裡用道行所然家种種事成方多经經么麼去法学學如都同现現当當没沒动動"
                  "面起看定天分还還进進好小部其些主样樣理心她本前开開但因只从從想实實日明今")
_KANA = re.compile(r"[\u3040-\u30ff]")


def _short_legacy_text(data: bytes) -> str:
    """A few lines that are not UTF-8 (too few for charset-normalizer to judge): Chinese (GB18030 or Big5) or
    Japanese (Shift-JIS) where one of those readings holds the commonest characters and kana - a cp1252
    "Mädchen" reads in GB18030 as one stray Han character -, else Russian or Ukrainian (cp1251) where that
    reading is nearly all Cyrillic letters, else Chinese of rarer characters, else Western European (cp1252)."""
    best, score, chinese = "", 0, ""
    for encoding in ("gb18030", "big5", "shift_jis"):
        try:
            reading = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        hits = sum(c in _COMMON_HAN for c in reading) + (len(_KANA.findall(reading)) if encoding == "shift_jis" else 0)
        if han_share(reading) >= 0.5 or hits and encoding == "shift_jis":
            chinese = chinese or reading
            if hits > score:
                best, score = reading, hits
    if best:
        return best
    cyrillic = data.decode("cp1251")
    letters = [c for c in cyrillic if c.isalpha()]
    symbols = [c for c in cyrillic if ord(c) > 127 and not c.isalpha() and c not in "«»—–…№„“”‘’\xa0"]
    if letters and not symbols and sum("\u0410" <= c <= "\u044f" or c in "Ёё" for c in letters) > 0.85 * len(letters):
        return cyrillic            # (GB18030 bytes read as cp1251 hold symbols and rare letters: "Бъ·піКПй")
    return chinese or data.decode("cp1252", errors="replace").replace("\ufffd", "")    # (rare characters only)


def decode_text(data: bytes, path: Path | str) -> str:
    """Text in whatever encoding it came (UTF-8 or -16, cp1252, GB18030 ...), `path` naming it in messages."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    for mark, encoding in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
                           (b"\xfe\xff", "utf-16")):          # (Notepad's "Unicode": UTF-16 with its mark)
        if data.startswith(mark):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}: marked as {encoding.upper()} but not valid {encoding.upper()} at byte "
                                 f"{exc.start}") from None
    if len(data) >= 4 and data.count(0) > len(data) // 4:      # UTF-16 without its byte-order mark (NULs are UTF-8)
        try:
            return data.decode("utf-16-be" if data[0::2].count(0) > data[1::2].count(0) else "utf-16-le").lstrip("\ufeff")
        except UnicodeDecodeError:
            pass
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
    if len(data) < SHORT_TEXT_BYTES:
        return _short_legacy_text(data)
    from charset_normalizer import from_bytes
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise InputError(f"{path}: cannot tell the text encoding (is it a text file?)")
    # Accented Latin text scores nearly alike in several code pages (a cp1252 "naïve" read as Baltic cp1257
    # is "naļve"); Western European is the likeliest for a book, so it wins unless clearly worse.
    western = next((m for m in matches if m.encoding == "cp1252"), None)
    return str(western if western is not None and western.chaos <= best.chaos + CP1252_MARGIN else best)


def _heading_like(line: str) -> bool:
    """A line shaped as a chapter heading, wherever it stands (a table of contents lists such lines)."""
    return len(line) < 80 and bool(_CJK_HEADING.match(line) or _TXT_HEADING.match(line))


def is_chapter_label(line: str) -> bool:
    """A line that only numbers a chapter ("Chapter I", "PART TWO", "IV.", "12"), which a title may follow."""
    return bool(_BARE_HEADING.match(line) or re.fullmatch(r"\s*(?:\d{1,4}|[IVXLC]+)[.:]?\s*", line))


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
    if n > 0 and re.search(r"[a-z,;:—-]\s*$", lines[n - 1]):
        return False        # the line ends a wrapped sentence ("... because it was told in" / "Chapter 12.")
    alone_before = n == 0 or not lines[n - 1].strip()
    alone_after = n == len(lines) - 1 or not lines[n + 1].strip()
    return alone_before or alone_after or bare


_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_ORDINALS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
             "eleventh", "twelfth"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}


@functools.lru_cache(maxsize=4096)          # (a contents entry is compared with every later heading)
def numbered_words(text: str) -> tuple[str, ...]:
    """The words of a heading with its number as digits, however written ("STAVE I" and "STAVE ONE" -> 1)."""
    words: list[str] = []
    for word in re.findall(r"\w+", text.lower()):
        if word in _UNITS or word in _ORDINALS[1:]:
            value = _UNITS.index(word) if word in _UNITS else _ORDINALS.index(word)
            if words and words[-1].isdigit() and int(words[-1]) in _TENS.values():
                words[-1] = str(int(words[-1]) + value)           # "twenty one"
                continue
            word = str(value)
        elif word in _TENS:
            word = str(_TENS[word])
        elif roman_value(word) and len(word) > 1 or word in ("v", "x") or word == "i" and words:   # "I think" stays
            word = str(roman_value(word))
        words.append(word)
    return tuple(words)


def _lists(entry: str, heading: str) -> bool:
    """Whether a contents entry names this heading ("CHAPTER I. Down the Rabbit-Hole" names "CHAPTER I.", "STAVE I.
    MARLEY'S GHOST" names "STAVE ONE.")."""
    a, b = numbered_words(entry), numbered_words(heading)
    return bool(a and b) and a[:len(b)] == b[:len(a)]


def _contents_end(lines: list[str], n: int, headings: set[int]) -> int | None:
    """Where the table of contents that starts at line `n` ends, or None where none starts there.

    Either two or more heading-shaped lines with nothing else between them ("CHAPTER I. Down the Rabbit-Hole"),
    the first of which names a later heading (a list of chapters, not "BOOK ONE" over "CHAPTER I"), up to that
    heading or to the first other line; or a "Contents" line over short lines that are no headings
    ("I. Down the Rabbit-Hole"), up to the first heading, with no prose on the way: prose is never skipped."""
    titled = bool(CONTENTS_LINE.match(lines[n]))
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
        shouted = line.isupper() and not re.search(r"[\u3040-\u9fff]", line)   # ("银<行|HANG2>" is no capital)
        ends_sentence = line[-1:] in ".!?,;:\"\u201d。！？，；：…」』" and not shouted
        return (0 < len(line) < 60 and not ends_sentence and not _heading_like(line)
                and (k + 1 >= len(lines) or not lines[k + 1].strip()))
    if not _BARE_HEADING.match(lines[n]):
        return 0
    if alone(n + 1):
        return 1
    if n + 2 < len(lines) and not lines[n + 1].strip() and alone(n + 2) and lines[n + 2].isupper():
        return 2
    return 0


def joined_titles(first: str, second: str) -> str:
    """"BOOK ONE. CHAPTER I"; "第一卷 山，第一节" (a Chinese title gets a Chinese pause)."""
    if han_share(first[-1:] + second[:1]):
        return f"{first.rstrip('。.:：')}，{second}"
    return f"{first.rstrip('.:')}. {second}"


def _lines_as_paragraphs(text: str) -> str:
    """A Chinese text's lines are its paragraphs (web novels indent each with 　　 and leave no blank lines); an
    English one's lines are wrapped and only blank lines part its paragraphs."""
    if han_share(text) < 0.5:
        return text
    return re.sub(r"[ \t\u3000]*\n\s*", "\n\n", text)


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
        if CONTENTS_LINE.match(line) or _heading_like(line):
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
        heading = " ".join(f"{line.strip().rstrip('.:')}. {lines[n + sub]}".split() if sub
                           else re.sub(r"[【】]", " ", line).split())                # 【第三章】 夜雨: 第三章 夜雨
        if has_speech("\n".join(body)):
            chapters.append(Chapter(current_title, _lines_as_paragraphs(_list_items_apart("\n".join(body)).strip()),
                                    read_title=heading_pending))
            current_title, heading_pending = heading, True
        elif heading_pending:                       # a heading with nothing under it: one title with the next
            current_title = joined_titles(current_title, heading)
        else:
            current_title, heading_pending = heading, True
        body = []
        n += 1 + sub
    if has_speech("\n".join(body)):
        chapters.append(Chapter(current_title, _lines_as_paragraphs(_list_items_apart("\n".join(body)).strip()),
                                read_title=heading_pending))
    elif heading_pending and has_speech(current_title):     # a last heading with nothing under it is still said
        if chapters:
            chapters[-1].text += "\n\n" + current_title
        else:
            chapters.append(Chapter(title, current_title, read_title=False))
    return Book(title=title, chapters=chapters)


# what plain-text editions (Project Gutenberg's above all) print for the eye: illustration and transcriber's
# notes, footnotes ("[Footnote 1: ...]") and their markers ("word.[A]"), _italics_ and =bold= marks, rules
_EDITORS_NOTE = re.compile(r"\[(?:Illustration|Transcriber[’']?s? Notes?|Footnote\s*[\w*†]*\s*:)[^\]]{0,3000}\]"
                           r"|^[ \t]*Transcriber[’']?s? Notes?\b.*\n(?:.+\n)*", re.IGNORECASE | re.MULTILINE)
_NOTE_MARKER = re.compile(r"(?<=[\w.,;:!?”\"’'])\[(?:\d{1,3}|[A-Z*†])\]")
_EMPHASIS = re.compile(r"(?<![\w_=*])(\*{1,2}|[_=])(?=\S)([^_=*\n]+?)(?<=\S)\1(?![\w_=*])")
_RULE = re.compile(r"[ \t]*[-+=|*#_~. \t]{3,}[ \t]*")
_TABLE_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.MULTILINE)
# a list item's mark at a line's start ("• Passport", "* Toothbrush", "1) Open the box", "a) Check the seal")
_LIST_MARK = re.compile(r"[ \t]*(?:([•◦▪‣●○■□➢➤►*+–-])|\(?(\d{1,2})\)|\(?[a-z]\))[ \t]+"
                        r"(?=[^\W_]|[\"'“‘(])")


def without_emphasis(text: str) -> str:
    """`text` without the marks plain text sets for italics and bold: _word_, *word*, **word**, =word=."""
    return _EMPHASIS.sub(r"\2", text)


def _rules_as_breaks(text: str) -> str:
    """Lines that are rules ("-----", "* * *"): a scene break where one stands apart, else nothing."""
    lines = text.split("\n")
    for n, line in enumerate(lines):
        if _RULE.fullmatch(line):
            apart = (n == 0 or not lines[n - 1].strip()) and (n == len(lines) - 1 or not lines[n + 1].strip())
            lines[n] = SCENE_BREAK if apart else ""
    return "\n".join(lines)


def _without_print_marks(text: str) -> str:
    """`text` without what is printed for the eye."""
    text = _NOTE_MARKER.sub("", _EDITORS_NOTE.sub("", text))
    return _TABLE_ROW.sub(r"\1", _rules_as_breaks(without_emphasis(text)))


def _list_items_apart(text: str) -> str:
    """Each item of a chapter's list a paragraph of its own (they ran together into one breathless sentence,
    "Things to pack: • Passport • Charger * Toothbrush"), a bullet not read and a number said ("1) Open" is
    "1. Open"):
    a line is an item where its mark opens a list - after a blank line, a line ending in ":" or another item -
    else (a wrapped line that starts with "- at last -" or "(b)") it goes on the sentence above."""
    lines = text.split("\n")
    listing = False
    for n, line in enumerate(lines):
        mark = _LIST_MARK.match(line)
        above = lines[n - 1].rstrip() if n else ""
        if mark and (not above or above.endswith(":") or listing):
            lines[n] = "\n" + (f"{mark.group(2)}. " if mark.group(2) else "") + line[mark.end():]
            listing = True
        elif not line.strip():
            listing = False
    return "\n".join(lines)


_BOOK_TITLE_LINE = re.compile(r"^\s*(?:《([^》\n]{1,40})》|[书書]\s*名\s*[:：]\s*《?([^《》\n]{1,40}?)》?)\s*$")   # 《书名》, 书名：书名
_AUTHOR_LINE = re.compile(r"^\s*作\s*者\s*[:：]\s*(\S[^\n]{0,30}?)\s*$")
_SHORT_LINE = re.compile(r"^\s*([^。！？，；\n]{1,30}?)\s*$")


def _web_novel_header(text: str) -> tuple[str, str, str]:
    """A Chinese web novel's text without the header it opens with, its title and its author: 《斗破苍穹》 (or the
    title alone on the first line, where an 作者：天蚕土豆 line follows it) - neither is read as the book's text."""
    lines = text.split("\n", 8)
    title = author = ""
    header = []
    for n, line in enumerate(lines[:8]):
        if not line.strip():
            continue
        if not title and _BOOK_TITLE_LINE.match(line):
            title = next(filter(None, _BOOK_TITLE_LINE.match(line).groups()))
        elif not author and _AUTHOR_LINE.match(line):
            author = _AUTHOR_LINE.match(line).group(1)
            if not title and header == [] and n and _SHORT_LINE.match(first := next(x for x in lines if x.strip())):
                title = _SHORT_LINE.match(first).group(1).strip()
                header.append(lines.index(first))
        elif title or author or header:
            break
        else:
            continue
        header.append(n)
    if not (title or author):
        return text, "", ""
    return "\n".join(line for n, line in enumerate(lines) if n not in header), title, author


_BYLINE = re.compile(r"^\s*(?:(?:written\s+)?by|por|de|par|di|लेखक\s*:?)\s+(\S[^\n]{0,60}?)\s*$", re.IGNORECASE)
_MINOR_WORDS = {"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with",
                # (Spanish, French, Italian, Portuguese: "A Casa da Rua das Flores")
                "de", "del", "della", "delle", "dei", "degli", "des", "du", "da", "das", "do", "dos", "la", "las", "le",
                "les", "los", "el", "et", "y", "e", "em", "en", "no", "na", "nos", "nas", "con", "com", "per", "por",
                "para", "sur", "dans", "au", "aux"}


def _byline_header(text: str) -> tuple[str, str, str]:
    """A text without the title and byline it opens with ("THE MILLER'S DAUGHTER" over "by Rosa Vell"), its
    title (in title case where it was set in capitals) and its author; the text as it is where it has none."""
    lines = text.split("\n", 12)
    filled = [n for n, line in enumerate(lines[:12]) if line.strip()][:2]
    if len(filled) < 2 or not _BYLINE.match(lines[filled[1]]):
        return text, "", ""
    title = lines[filled[0]].strip()
    if len(title) > 80 or title[-1] in ".!?,;" or _heading_like(title) or not has_speech(title):
        return text, "", ""
    if title.isupper():
        words = title.lower().split()
        title = " ".join(w if n and w in _MINOR_WORDS else w[:1].upper() + w[1:] for n, w in enumerate(words))
    rest = "\n".join(line for n, line in enumerate(lines) if n not in filled)
    return rest, title, _BYLINE.match(lines[filled[1]]).group(1)


def _read_plain_text(text: str, path: Path) -> Book:
    """A .txt file, without the marks printed for the eye; one from Project Gutenberg without its licence, one
    from the Archive of Our Own without its tags and notes, each with the title and author it names."""
    unwrapped = gutenberg.unwrap(text)
    source = "a Project Gutenberg text: its licence and header are"
    if unwrapped is None:
        unwrapped = ao3.unwrap(text, lambda line: bool(_TXT_HEADING.match(line)))
        source = "an Archive of Our Own work: its tags, notes and footer are"
    if unwrapped is None:
        text, title, author = _web_novel_header(text)
        if not title:
            text, title, author = _byline_header(text)
        book = read_text(_without_print_marks(text), title or title_from_path(path))
        book.author = author
        return book
    text, meta = unwrapped
    log.info("%s: %s not read", path.name, source)
    book = read_text(_without_print_marks(text), meta.get("title") or title_from_path(path))
    book.author, book.language = meta.get("author", ""), language_code(meta.get("language", ""))
    return book


def read_book(path: str | Path, limits: Limits = Limits()) -> Book:
    """Read a .txt, .md/.markdown or .epub file, or a folder of chapter files, into a Book."""
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, limits)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise InputError(f"{path}: {size / 2**20:.2f} MiB is over the input limit of "
                         f"{limits.max_file_bytes / 2**20:.0f} MiB (--max-input-mb raises it)")
    suffix = path.suffix.lower()
    if suffix == ".epub":
        from indexstudio.books.epub import read_epub
        book = read_epub(path, limits)
    elif suffix in (".md", ".markdown"):
        from indexstudio.books.markdown import read_markdown
        book = read_markdown(decode_text(path.read_bytes(), path), title_from_path(path), path.name)
    elif suffix in (".txt", ".text", ""):
        book = _read_plain_text(decode_text(path.read_bytes(), path), path)
    else:
        raise InputError(f"{path}: unsupported format {suffix!r} (use .txt, .md or .epub)")
    if not book.chapters:
        raise InputError(f"{path}: no speakable text found")
    cover = book.extra.pop("cover", None)
    if cover and book.cover is None:
        cover_path = (path.parent / str(cover)).resolve()
        if cover_path.is_file():
            book.cover = cover_path.read_bytes()
            book.cover_type = "image/png" if cover_path.suffix.lower() == ".png" else "image/jpeg"
        else:
            log.warning("%s: its cover image %s is not there: the audiobook gets none", path.name, cover_path)
    book.source = str(path)
    return book
