"""Project Gutenberg plain-text files: the book between the licence header and footer.

Gutenberg's .txt files wrap the book in a licence (the full one runs to some 20 minutes of speech) and
in transcribers' notes.  `unwrap` keeps the text between the START and END markers, drops the
producers' credits that open it, and reads the title, author and language
from the header, so an audiobook of a Gutenberg text is the book and nothing else.
"""
from __future__ import annotations

import re

# "*** START OF THE PROJECT GUTENBERG EBOOK X ***", "***START OF THIS PROJECT GUTENBERG EBOOK X***", and the
# oldest files' "*END*THE SMALL PRINT! ... *END*" that closes their licence
_START = re.compile(r"^[ \t]*\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG E(?:-?BOOK|TEXT)\b.*$"
                    r"|^[ \t]*\*END\*?[ \t]*THE SMALL PRINT!.*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"^[ \t]*\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG E(?:-?BOOK|TEXT)\b.*$"
                  r"|^[ \t]*End of (?:the |this )?Project Gutenberg(?:'s|’s)? .*$", re.IGNORECASE | re.MULTILINE)
_FIELD = re.compile(r"^(Title|Author|Language):[ \t]*(.*(?:\n[ \t]+\S.*)*)", re.MULTILINE)
# the producers' credits that open the text: "Produced by ...", "E-text prepared by ...", up to a blank line
_CREDITS = re.compile(r"\A\s*(?:Produced by|E-?text prepared by|This e-?book was produced by|Transcribed from)\b"
                      r".*?(?:\n[ \t]*\n|\Z)", re.IGNORECASE | re.DOTALL)



def unwrap(text: str) -> tuple[str, dict[str, str]] | None:
    """(the book's text, its title / author / language) for a Gutenberg file, None for any other text."""
    end = _END.search(text)
    # the last start marker before the end: a re-issued old file has the new marker, then the old licence's
    # own; one whose licence follows the book has its marker after the end, and the book starts the file
    starts = [m for m in _START.finditer(text) if end is None or m.end() <= end.start()]
    if not starts and end is None:
        return None
    header = text[:starts[-1].start()] if starts else ""
    body = text[starts[-1].end() if starts else 0:end.start() if end else len(text)]
    body = _CREDITS.sub("", body, count=1)
    return body, {key.lower(): " ".join(value.split()) for key, value in _FIELD.findall(header)}
