"""Project Gutenberg plain-text files: the book between the licence header and footer.

Gutenberg's .txt files wrap the book in a licence (the full one runs to some 20 minutes of speech) and
in transcribers' notes.  `unwrap` keeps the text between the START and END markers, drops the
producers' credits that open it and `[Illustration]` marks, and reads the title, author and language
from the header, so an audiobook of a Gutenberg text is the book and nothing else.
"""
from __future__ import annotations

import re

# "*** START OF THE PROJECT GUTENBERG EBOOK X ***", "***START OF THIS PROJECT GUTENBERG EBOOK X***", and the
# oldest files' "*END*THE SMALL PRINT! ... *END*" that closes their licence
_START = re.compile(r"^[ \t]*\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG E(?:-?BOOK|TEXT)\b.*$"
                    r"|^[ \t]*\*END\*[ \t]*THE SMALL PRINT!.*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"^[ \t]*\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG E(?:-?BOOK|TEXT)\b.*$"
                  r"|^[ \t]*End of (?:the |this )?Project Gutenberg(?:'s|’s)? .*$", re.IGNORECASE | re.MULTILINE)
_FIELD = re.compile(r"^(Title|Author|Language):[ \t]*(.*(?:\n[ \t]+\S.*)*)", re.MULTILINE)
# the producers' credits that open the text: "Produced by ...", "E-text prepared by ...", up to a blank line
_CREDITS = re.compile(r"\A\s*(?:Produced by|E-?text prepared by|This e-?book was produced by|Transcribed from)\b"
                      r".*?(?:\n[ \t]*\n|\Z)", re.IGNORECASE | re.DOTALL)
_ILLUSTRATION = re.compile(r"\[(?:Illustration|Transcriber[’']?s? Notes?)\b[^\]]{0,2000}\]", re.IGNORECASE)

_LANGUAGE_NAMES = {"english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it",
                   "portuguese": "pt", "dutch": "nl", "finnish": "fi", "swedish": "sv", "danish": "da",
                   "norwegian": "no", "latin": "la", "greek": "el", "russian": "ru", "polish": "pl",
                   "hungarian": "hu", "czech": "cs", "chinese": "zh", "japanese": "ja", "esperanto": "eo"}


def unwrap(text: str) -> tuple[str, dict[str, str]] | None:
    """(the book's text, its title / author / language) for a Gutenberg file, None for any other text."""
    starts = list(_START.finditer(text))    # a re-issued old file: the new marker, then the old licence's own
    if not starts:
        return None
    start = starts[-1]
    end = _END.search(text, start.end())
    header = text[:start.start()]
    body = text[start.end():end.start() if end else len(text)]
    body = _ILLUSTRATION.sub("", _CREDITS.sub("", body, count=1))
    meta = {key.lower(): " ".join(value.split()) for key, value in _FIELD.findall(header)}
    if "language" in meta:
        meta["language"] = _LANGUAGE_NAMES.get(meta["language"].lower(), meta["language"])
    return body, meta
