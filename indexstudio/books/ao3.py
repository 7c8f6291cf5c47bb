"""Archive of Our Own plain-text downloads: the work without the archive's tags, notes and footer.

An AO3 .txt opens with the work's title, "Posted originally on the Archive of Our Own at URL" and a block of
tags (rating, warnings, fandom, stats); each chapter has "Chapter Text" and may have notes; the work
ends with "Please drop by the archive and comment...".  `unwrap` keeps the title, the by-line, the summary
and the chapters' text, and reads the title, author and language from the header.
"""
from __future__ import annotations

import re

_POSTED = re.compile(r"^Posted originally on the Archive of Our Own at \S+", re.MULTILINE)
_BY_LINE = re.compile(r"^by (.+)$", re.MULTILINE)
_LANGUAGE = re.compile(r"^Language:\s*\n?\s*(.+)$", re.MULTILINE)
_FOOTER = re.compile(r"^Please drop by the archive and comment\b.*", re.MULTILINE | re.DOTALL)
# section labels: the text under these is read, the label is not ...
_READ = {"Summary", "Chapter Summary", "Chapter Text"}
# ... and these hold the author's notes, which are not the work
_NOT_READ = {"Notes", "Chapter Notes", "Chapter End Notes", "End Notes", "Afterword"}


def unwrap(text: str, is_heading) -> tuple[str, dict[str, str]] | None:
    """(the work's text, its title / author / language) for an AO3 download, None for any other text;
    `is_heading(line)` tells the chapter headings, which end a notes section."""
    posted = _POSTED.search(text[:2000])
    if posted is None:
        return None
    title = text[:posted.start()].strip()
    by = _BY_LINE.search(text, posted.end())
    language = _LANGUAGE.search(text, posted.end(), by.start() if by else len(text))
    body = _FOOTER.sub("", text[by.start() if by else posted.end():])
    kept, reading = [], True
    for line in body.splitlines():
        label = line.strip()
        if label in _READ or label in _NOT_READ:
            reading = label in _READ
            continue
        if is_heading(line):
            reading = True
        if reading:
            kept.append(line)
    meta = {"title": title, "author": by.group(1).strip() if by else "",
            "language": language.group(1).strip() if language else ""}
    return f"{title}\n\n" + "\n".join(kept), meta
