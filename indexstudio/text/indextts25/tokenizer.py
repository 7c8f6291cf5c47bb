"""IndexTTS-2.5's multilingual byte-level BPE (a Whisper-style tiktoken vocabulary) and its language table.

The model folder ships only the mergeable ranks
(`multilingual_zh_ja_yue_char_del.tiktoken`: one base64 token and its rank per
line).  The special tokens are not in the file: they are appended after the
ranks in a fixed order (Whisper's layout plus IndexTTS's SPECIAL_TOKEN_n and
TTS tokens), so their ids depend on the size of the rank table.  Everything is
built from the local file; nothing is downloaded.
"""
from __future__ import annotations

import base64
import binascii
from pathlib import Path

import tiktoken

from indexstudio.errors import EngineError

# Language codes in table order: Whisper's 100 languages, then IndexTTS's
# dialect / code-switch / fallback entries.  A code's position is its row in
# the GPT's language embedding.
LANGUAGE_CODES: tuple[str, ...] = tuple("""
    en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs
    ro da hu ta no th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk
    br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc ka be tg sd gu
    am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue
    minnan wuyu dialect zh/en en/zh common
""".split())
FALLBACK_LANGUAGE = "common"
_LANGUAGE_ROWS = {code: row for row, code in enumerate(LANGUAGE_CODES)}

# How many language codes get a <|xx|> special token (Whisper's default, used by IndexTTS-2.5).
SPECIAL_LANGUAGES = 99
_AUDIO_EVENTS = ("ASR", "AED", "SER", "Speech", "/Speech", "BGM", "/BGM", "Laughter", "/Laughter",
                 "Applause", "/Applause")
_EMOTIONS = ("HAPPY", "SAD", "ANGRY", "NEUTRAL")
_TASKS = ("translate", "transcribe", "startoflm", "startofprev", "nospeech", "notimestamps")
_TTS_MARKS = ("TTS/B", "TTS/O", "TTS/Q", "TTS/A", "TTS/CO", "TTS/CL", "TTS/H",
              *(f"TTS/SP{n:02d}" for n in range(1, 14)))
_PRONUNCIATION_MARKS = 30     # <|SPECIAL_TOKEN_1|> .. <|SPECIAL_TOKEN_30|>
_TIMESTAMPS = 1501            # <|0.00|> .. <|30.00|> in 20 ms steps

# Pre-tokenisation regex of Whisper's multilingual encoding.
_SPLIT_PATTERN = (r"""'s|'t|'re|'ve|'m|'ll|'d"""
                  r"""| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"""
                  r"""|\s+(?!\S)|\s+""")


def language_row(lang: str) -> int:
    """Row of `lang` in the language embedding; unknown codes (e.g. "zhen") use the "common" row."""
    return _LANGUAGE_ROWS.get(lang.lower(), _LANGUAGE_ROWS[FALLBACK_LANGUAGE])


def special_token_names() -> list[str]:
    """Special tokens in id order; the first gets id len(ranks)."""
    wrap = "<|{}|>".format
    names = ["endoftext", "startoftranscript", *LANGUAGE_CODES[:SPECIAL_LANGUAGES], *_AUDIO_EVENTS,
             *_EMOTIONS, *_TASKS, *(f"SPECIAL_TOKEN_{n}" for n in range(1, _PRONUNCIATION_MARKS + 1)),
             *_TTS_MARKS, *(f"{step * 0.02:.2f}" for step in range(_TIMESTAMPS))]
    return [wrap(name) for name in names]


def read_ranks(path: Path) -> dict[bytes, int]:
    """The mergeable ranks of a .tiktoken file ("<base64 token> <rank>" per line)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineError(f"cannot read the BPE ranks {path}: {exc}") from exc
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error) as exc:
            raise EngineError(f"{path}:{number}: expected '<base64 token> <rank>', got {line[:60]!r}") from exc
    if not ranks:
        raise EngineError(f"{path}: no BPE ranks")
    return ranks


def build_encoding(path: Path) -> tiktoken.Encoding:
    """tiktoken encoding of the folder's ranks with IndexTTS-2.5's special tokens appended."""
    ranks = read_ranks(path)
    first_special = len(ranks)
    specials = {name: first_special + i for i, name in enumerate(special_token_names())}
    try:
        return tiktoken.Encoding(name=Path(path).name, pat_str=_SPLIT_PATTERN, mergeable_ranks=ranks,
                                 special_tokens=specials, explicit_n_vocab=first_special + len(specials))
    except (AssertionError, ValueError) as exc:
        raise EngineError(f"{path}: not a usable BPE rank table ({exc})") from exc
