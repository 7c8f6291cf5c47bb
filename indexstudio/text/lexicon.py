"""A pronunciation lexicon: the user's own spoken forms for names and words the engines misread.

One entry a line, `written = spoken` ("Hermione = Her-my-oh-nee", "SQL = sequel", "C# = C sharp");
a line that starts with `#` is a comment.  Entries match whole words, in their letter case, the
longest first; CJK text has no spaces between words, so a side that is CJK matches inside a run of
it, and a Latin word matches where CJK touches it ("她的朋友John是").  The spoken form is text as the
engine reads it (IndexTTS-2.5's `<word|PRON>` annotations included) and goes through the normaliser
like the rest.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from indexstudio.errors import InputError
from indexstudio.text.segment import CJK_RANGES

_CJK = re.compile(f"[{CJK_RANGES}]")
_LETTER = f"[^\\W{CJK_RANGES}]"          # a word character that is not CJK: what a Latin word cannot touch


class Lexicon:
    """Entries {written: spoken}, checked (an InputError naming a bad one); `uses` counts the replacements made,
    for `summary`."""
    def __init__(self, entries: dict[str, str], source: str = "lexicon"):
        if not isinstance(entries, dict):
            raise InputError(f"a lexicon is a file or {{written: spoken}}, not {type(entries).__name__}")
        for written, spoken in entries.items():
            if not isinstance(written, str) or not isinstance(spoken, str):
                raise InputError(f"lexicon entry {written!r}: {spoken!r}: both sides are text")
            if not written.strip() or not spoken.strip():
                raise InputError(f"lexicon entry {written!r}: {spoken!r}: " + (
                    "nothing to say there: respell the word, do not leave it out" if written.strip()
                    else "nothing written to match"))
        self.entries = entries
        self.source = source
        self.uses: Counter[str] = Counter()
        alternatives = []
        for written in sorted(entries, key=len, reverse=True):
            before = f"(?<!{_LETTER})" if re.match(r"\w", written) and not _CJK.match(written) else ""
            after = f"(?!{_LETTER})" if re.search(r"\w$", written) and not _CJK.search(written[-1]) else ""
            alternatives.append(before + re.escape(written) + after)
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None
        # the same words in any case and inside longer ones: what an entry that never matched nearly met
        self._loose = re.compile("|".join(map(re.escape, sorted(entries, key=len, reverse=True))), re.IGNORECASE) \
            if entries else None
        self._by_lower = {written.lower(): written for written in entries}
        self.near: dict[str, str] = {}

    @classmethod
    def load(cls, path: str | Path) -> "Lexicon":
        """The lexicon in `path` (UTF-8), or an InputError naming the file and the line at fault."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except FileNotFoundError:
            raise InputError(f"lexicon {path} not found") from None
        except UnicodeDecodeError:
            raise InputError(f"lexicon {path} is not UTF-8 text") from None
        except OSError as exc:
            raise InputError(f"cannot read lexicon {path}: {exc.strerror}") from None
        entries: dict[str, str] = {}
        where: dict[str, int] = {}
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            written, sep, spoken = line.replace("＝", "=").partition("=")       # (a Chinese keyboard's ＝)
            written, spoken = " ".join(written.split()), " ".join(spoken.split())
            if not sep or not written or not spoken or "=" in spoken:
                raise InputError(f"{path}, line {number}: expected `written = spoken`, got {line!r}"
                                 + (" (nothing to say there: respell the word, do not leave it out)" if sep and written
                                    and not spoken else ""))
            if written in entries:
                raise InputError(f"{path}, line {number}: {written!r} is in the lexicon already (line {where[written]})")
            entries[written], where[written] = spoken, number
        return cls(entries, str(path))

    def apply(self, text: str) -> str:
        """`text` with every entry's written form replaced by its spoken form (counted in `uses`)."""
        if self._pattern is None:
            return text

        def spoken(match: re.Match) -> str:
            self.uses[match.group()] += 1
            return self.entries[match.group()]
        for match in self._loose.finditer(text):
            written = self._by_lower[match.group().lower()]
            if written not in self.near and (match.group() != written or not self._whole(text, match)):
                before = re.search(r"\w*$", text[max(0, match.start() - 40):match.start()]).group()
                self.near[written] = before + match.group() + re.match(r"\w*", text[match.end():]).group()
        return self._pattern.sub(spoken, text)

    @staticmethod
    def _whole(text: str, match: re.Match) -> bool:
        return not (re.match(_LETTER, text[match.start() - 1:match.start()] or " ")
                    or re.match(_LETTER, text[match.end():match.end() + 1] or " "))

    def summary(self, where: str = "the text") -> str:
        """How the lexicon served a text (`where`: "chapters 1-3"): replacements made, and the entries never
        found (typos?)."""
        unused = [w for w in self.entries if not self.uses[w]]
        made = sum(self.uses.values())
        line = (f"lexicon {self.source}: {made} replacement{'s' if made != 1 else ''} by "
                f"{len(self.entries) - len(unused)} of {len(self.entries)} entries")
        if unused:
            shown = ", ".join(f"{w} ({where} has {self.near[w]!r}: entries match whole words in their case)"
                              if w in self.near else w for w in unused[:5]) + (", ..." if len(unused) > 5 else "")
            line += f"; not found in {where}: {shown}"
        return line
