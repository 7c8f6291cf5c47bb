"""A book file to a finished audiobook, for a program or the `book` command: the book read, the voice chosen for
its language, its chapters planned as segments, its tags gathered (the book's own, over-ridden by those given),
then rendered resumably through a work folder and written out.

    import indexstudio
    result = indexstudio.make_audiobook("novel.epub", voice="bf_emma")         # novel.m4b, beside the book
    indexstudio.make_audiobook("novel.epub", chapters="1-3")           # "novel (chapters 1-3).m4b"
    indexstudio.make_audiobook("novel.epub", split_chapters=True)      # novel/01 - ....mp3, a file a chapter
    book = indexstudio.open_audiobook("novel.epub")          # look first: nothing is rendered or written
    print(book.plan.chapters, len(book.plan.segments), len(book.finished()))
    book.render(on_progress=lambda p: print(p.done, "of", p.total))
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from indexstudio.audio.output import (SUFFIXES, Metadata, chapter_count, check_bitrate, check_format_rate,
                                      cover_image, format_of, make_output_folder)
from indexstudio.books.reader import Book, Chapter, Limits, book_tags, read_book
from indexstudio.engines import Controls, Engine
from indexstudio.errors import IndexStudioError, InputError
from indexstudio.files import state_root
from indexstudio.pipeline.job import Job, Progress, RenderResult, RenderSettings, render_book
from indexstudio.pipeline.plan import Plan, chapter_ranges, chapter_selection, estimated_seconds, plan_chapters
from indexstudio.pipeline.voicing import (FLAG_OPTIONS, checked_language, choose_voice, engine_controls, engine_of,
                                          lexicon_of, told_lexicon)
from indexstudio.text.language import detect_language, is_language, language_code
from indexstudio.text.lexicon import Lexicon
from indexstudio.text.segment import DEFAULT_MAX_TOKENS

log = logging.getLogger("indexstudio")
ACX_LONGEST_FILE = 120 * 60      # seconds
ACX_MP3 = (44100, "192k")        # ACX's sample rate and least bitrate for MP3
ACX_RMS_DB = (-23, -18)          # ACX's RMS level range, each file whole
ACX_LEAD_MS, ACX_TAIL_MS = (500, 1000), (1000, 5000)     # ACX's room tone before and after a file's words


@dataclass
class Estimate:
    """An audiobook's length before it is rendered (seconds, pauses included)."""
    seconds: float
    chapters: list[float]          # each chapter of the plan's
    paced_by: int                  # the segments rendered whose pace it goes by; 0: estimated from the text alone


@dataclass
class Audiobook:
    """A book ready to render: the plan of the chapters chosen, who speaks it and how, its tags and where it goes."""
    book: Book
    plan: Plan
    chapter_numbers: list[int]     # the plan's chapters' places in the whole book (from 0)
    chapters_in_book: int
    engine: Engine
    voice: str
    controls: Controls
    settings: RenderSettings
    metadata: Metadata
    output: Path                   # the file; a folder where `split`
    fmt: str
    work_dir: Path
    split: bool = False            # a file a chapter, in the folder `output`
    file: Path | None = None       # the book's file (or folder), which notes its work folder for later runs
    _changes_said: bool = field(default=False, repr=False)

    @property
    def job(self) -> Job:
        """The work folder's view of this book: which segments it holds (looking writes nothing)."""
        return Job(self.work_dir, self.plan, self.engine, self.voice, self.controls, self.settings)

    def finished(self) -> dict[int, int]:
        """Segment index -> samples, for the segments the work folder holds already."""
        return self.job.finished()

    def check_ready(self, prune: bool = False) -> None:
        """An InputError now (before a model's weights load) if another run holds the work folder, or if pruning
        is asked for some chapters: it would delete the other chapters' segments."""
        if prune and len(self.chapter_numbers) < self.chapters_in_book:
            raise InputError("--prune needs the whole book: with --chapters it would delete the segments of the "
                             "chapters left out")
        job = self.job
        job.open(note=False)            # (the run's settings are noted when it renders: `changes` reads the last)
        job.close()

    def check_keeps_the_whole_book(self) -> None:
        """An InputError where some chapters would be written over an audiobook of more chapters (`-o book.m4b
        --chapters 1`), as this work folder noted it or as its own chapter marks say: a chapter tried again never
        replaces the finished book."""
        if not self.output.is_file():
            return
        entry = self.job.written_outputs().get(str(self.output.resolve()), {})
        held = entry.get("chapters") or chapter_count(self.output)
        if held > len(self.chapter_numbers):
            raise InputError(f"{self.output} holds {held} chapters: --chapters {chapter_ranges(self.chapter_numbers)} "
                             f"would replace it with fewer; name another file, such as "
                             f"\"{part_output(self.output, self.chapter_numbers)}\"")

    def render(self, on_progress: Callable[[Progress], None] | None = None,
               on_write: Callable[[float, float], None] | None = None, prune: bool = False) -> RenderResult:
        """Render what the work folder lacks and write the audiobook; `on_progress` follows the segments,
        `on_write(seconds, total seconds)` the writing of the file. `prune` then deletes the segment files the
        book no longer uses (`stale`)."""
        self.say_changes()
        self.check_ready(prune)
        if self.file:
            remember_work_dir(self.file, self.work_dir)
        if self.split:
            result = self._render_chapter_files(on_progress, on_write)
        else:
            result = render_book(self.plan, self.engine, self.voice, self.output, self.work_dir, self.controls,
                                 self.settings, self.fmt, self.metadata, on_progress=on_progress, on_write=on_write)
        if prune:
            job = self.job
            job.open()
            try:
                result.pruned, result.pruned_bytes = job.prune(self._shares_work_dir)
            finally:
                job.close()
        return result

    def changes(self) -> list[str]:
        """What this run asks otherwise than the work folder's last run did (another book, voice, speed, seed,
        engine options, engine or model, lexicon, longest segment): why segments rendered then do not serve it.
        Empty where there was none."""
        try:
            before = json.loads((self.work_dir / "job.json").read_text(encoding="utf-8"))
            then = {"voice": before["voice"], "speed": before["controls"]["speed"], "seed": before["controls"]["seed"],
                    "lexicon": before["plan"].get("lexicon", ""), **{_option_label(k): v for k, v in
                                                                      before["controls"]["options"].items()}}
            engine_then, voice_then = str(before["engine"]), before.get("voice_id")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []
        now = {"voice": self.voice, "speed": self.controls.speed, "seed": self.controls.seed,
               "lexicon": self.plan.lexicon, **{_option_label(k): v for k, v in self.controls.options.items()}}
        if "max_tokens" in before["plan"]:        # (a work folder of an earlier release does not note it)
            then["--max-segment-tokens"] = before["plan"]["max_tokens"]
            now["--max-segment-tokens"] = self.plan.max_tokens
        if not self.engine.samples:
            then.pop("seed"), now.pop("seed")
        said = [f"{key} {_shown(then.get(key), key)} -> {_shown(now.get(key), key)}" for key in {**then, **now}
                if str(then.get(key)) != str(now.get(key))]
        job = self.job                   # (built once: it keys every segment)
        if voice_then and then["voice"] == now["voice"] and voice_then != job.voice_id:
            said.append(f"voice {self.voice} (its recording changed)")
        engine_now = job.engine_id
        if engine_then.partition(":")[0] != engine_now.partition(":")[0]:
            said.insert(0, f"engine {engine_then.partition(':')[0]} -> {engine_now.partition(':')[0]}")
        elif engine_then != engine_now and then["voice"] == now["voice"]:
            said.append("the model's files")
        book_then = before["plan"].get("title")
        if isinstance(book_then, str) and book_then != self.plan.title:     # (a work folder shared by name)
            said.insert(0, f"book {book_then!r} -> {self.plan.title!r}")
        return said

    def say_changes(self, finished: dict[int, int] | None = None) -> None:
        """A warning (once) where this run asks otherwise than the work folder's last (`changes`): the segments
        rendered then are kept, and those of this run's settings not yet there are to render."""
        if self._changes_said:
            return
        self._changes_said = True
        changes = self.changes()
        if changes:
            finished = self.finished() if finished is None else finished
            todo, total = len(self.plan.segments) - len(finished), len(self.plan.segments)
            log.warning("this run asks otherwise than the last one in %s: %s; %s", self.work_dir, "; ".join(changes),
                        f"{todo} of {total} segments are to render (what the last run rendered is kept, for its "
                        f"settings)" if todo else f"all {total} segments are there already for these settings")

    def estimate(self, finished: dict[int, int] | None = None) -> Estimate:
        """How long the audiobook will be: each segment with the pause after it, from its text, or at the engine's
        own pace once a few segments are rendered (their lengths exact)."""
        finished = self.finished() if finished is None else finished
        segments = self.plan.segments
        guess = [estimated_seconds(s.text, self.controls.speed) for s in segments]
        rate = self.job.sample_rate if finished else 1      # (the segments' own: an IndexTTS model's would load)
        scale = (sum(finished.values()) / rate / max(sum(guess[i] for i in finished), 1e-9)
                 if len(finished) >= 3 else 1.0)
        seconds = [(finished[i] / rate if i in finished else guess[i] * scale)
                   + self.settings.pause_after_ms(segments, i) / 1000 for i in range(len(segments))]
        lead = self.settings.lead_ms / 1000
        chapters = [lead * (c == 0) + sum(seconds[s.index] for s in segments if s.chapter == c)
                    for c in range(len(self.plan.chapters))]
        return Estimate(lead + sum(seconds), chapters, len(finished) if scale != 1.0 else 0)

    def make_output_folder(self) -> None:
        """Make the folder the audiobook goes in (split: the folder of its files), or an InputError naming why not."""
        make_output_folder(self.output / "chapter" if self.split else self.output)   # (split: the files' folder)

    def chapter_files(self) -> list[Path]:
        """Where `split` writes each chapter of the plan: "07 - The Storm.mp3" in the folder `output`."""
        width = max(2, len(str(self.chapters_in_book)))
        names = []
        for number, title in zip(self.chapter_numbers, self.plan.chapters):
            safe = " ".join(re.sub(r'[\x00-\x1f/\\*?"<>|]', " ", re.sub(r"\s*:\s*", " - ", title)).split())
            safe = safe.strip(". -")
            name = f"{number + 1:0{width}d} - {safe}" if safe else f"{number + 1:0{width}d}"
            names.append(self.output / f"{_cut_at_word(name, _NAME_BYTES - 1 - len(self.fmt))}.{self.fmt}")
        return names

    def _render_chapter_files(self, on_progress: Callable[[Progress], None] | None,
                              on_write: Callable[[float, float], None] | None) -> RenderResult:
        """Every segment first (the engine's calls span chapters), then each chapter into its own file, with the
        book's lead and tail silences, its title, the book as album and its number as track; then, where the
        whole book was written, the chapter files of before that it no longer has are removed."""
        start = time.perf_counter()
        self.make_output_folder()
        job = self.job
        try:
            done, progress = job.render(on_progress)
        finally:
            job.close()
        marks = job.layout(done)[2]
        total = (marks[-1].end if marks else 0) / job.sample_rate
        album = self.metadata.album or self.metadata.title or self.plan.title
        written, results = 0.0, []
        for c, path in enumerate(self.chapter_files()):
            meta = dataclasses.replace(self.metadata, title=self.plan.chapters[c], album=album,
                                       track=(self.chapter_numbers[c] + 1, self.chapters_in_book))
            follow = (lambda seconds, _, offset=written: on_write(min(offset + seconds, total), total)) \
                if on_write else None
            try:
                results.append(render_book(self.plan.only([c]), self.engine, self.voice, path, self.work_dir,
                                           self.controls, self.settings, self.fmt, meta, on_write=follow))
            except IndexStudioError as exc:       # what is kept: the book's segments, not this chapter's
                if not hasattr(exc, "reason"):
                    raise
                raise type(exc)(f"{exc.reason}; {job.kept(done)}") from exc
            written += results[-1].audio_seconds
            self._acx_checks(results[-1])
        removed: list[Path] = []
        if len(self.chapter_numbers) == self.chapters_in_book:
            job.open()
            try:
                removed = self._remove_earlier_files(job, {r.output for r in results})
            finally:
                job.close()
        return RenderResult(self.output, written, progress.audio_seconds, time.perf_counter() - start,
                            len(self.plan.segments) - progress.resumed, progress.resumed, progress.characters, [],
                            progress.synthesized, progress.elapsed,
                            written=any(r.written for r in results) or bool(removed),
                            sample_rate=results[0].sample_rate if results else job.sample_rate, files=results,
                            removed=removed)

    def _acx_checks(self, result: RenderResult) -> None:
        """Warn where a chapter file written as MP3 (for ACX) falls outside ACX's length or RMS level."""
        if self.fmt != "mp3" or not result.written:
            return
        if result.audio_seconds > ACX_LONGEST_FILE:
            log.warning("%s is %.0f minutes long: ACX takes files of up to %d minutes", result.output.name,
                        result.audio_seconds / 60, ACX_LONGEST_FILE // 60)
        low, high = ACX_RMS_DB
        if result.rms_db is not None and not low <= round(result.rms_db, 1) <= high:     # (as it is said: -23.0)
            log.warning("%s: RMS %.1f dB, outside ACX's %d to %d dB%s", result.output.name, result.rms_db, low, high,
                        " (a short file's silences weigh: its lead and tail)" if result.rms_db < low
                        and result.audio_seconds < 30 else "")

    def _remove_earlier_files(self, job: Job, current: set[Path]) -> list[Path]:
        """Delete the files this work folder wrote into the chapters' folder that are no chapter of the book now
        (a chapter renamed, added or dropped renumbers them): an upload of the folder must hold the book alone.
        A file changed since it was written is left, with a warning."""
        removed, current = [], {p.resolve() for p in current}
        for name, entry in job.written_outputs().items():
            path = Path(name)
            if path.parent != self.output.resolve() or path in current or not path.exists():
                continue
            if path.suffix.lstrip(".") in SUFFIXES and job.is_current(path, entry.get("stamp")):
                path.unlink()
                removed.append(path)
            else:
                log.warning("%s is no chapter of the book now, and was changed since it was written: it is left "
                            "in %s", path.name, self.output)
        job.forget_outputs(removed)
        return removed

    def stale(self) -> tuple[int, int]:
        """(files, bytes) of the work folder's segments that this book does not use (edited away, another
        voice's ...): what `render(prune=True)` deletes."""
        if len(self.chapter_numbers) < self.chapters_in_book or not self.work_dir.is_dir():
            return 0, 0
        files = self.job.stale(self._shares_work_dir)
        return len(files), sum(f.stat().st_size for f in files)

    @property
    def _shares_work_dir(self) -> bool:
        """Whether the work folder is one another folder's run used (`book_work_dir`): pruning there leaves the
        segments of every audiobook written from it that is still there, not only those of other books."""
        return self.work_dir.resolve().parent != self.output.resolve().parent


def _shown(value: Any, key: str = "") -> str:
    """A setting's value as `changes` says it: an option left out is the engine's default."""
    return ("default" if key.startswith(("-", "option")) else "none") if value in (None, "") else str(value)


def _option_label(key: str) -> str:
    """An engine option by the flag that gives it ("--emotion"), else as `--option KEY` gives it."""
    return FLAG_OPTIONS.get(key, f"option {key}")


def output_for(file: str | Path, output: str | Path | None = None, fmt: str | None = None) -> Path:
    """Where the audiobook of `file` goes: `output`, the book's name inside `output` where that is a folder, or the
    book's name with the format's extension (default .m4b) beside it."""
    book = Path(file).resolve() if Path(file).is_dir() else Path(file)     # (a folder of chapter files: ".")
    named = book.with_name(f"{book.name}.{fmt or 'm4b'}") if book.is_dir() else book.with_suffix("." + (fmt or "m4b"))
    if output is None:
        return named
    return Path(output) / named.name if names_a_folder(output) else Path(output)


def names_a_folder(output: str | Path) -> bool:
    """Whether `output` is a folder: one that exists, or a name ending in a slash ("books/", made when written)."""
    return Path(output).is_dir() or str(output).endswith(("/", os.sep))


def _say_language_guesses(engine: Engine, book: Book, plan: Plan, options: dict[str, Any] | None) -> None:
    """A warning where an engine that guesses each sentence's language (IndexTTS-2.5, from its script) would read
    sentences of a book that declares its language (front matter, EPUB) as another: "tengo 2.500 euros", without
    an accent, was read as English. --lang reads them all in it (not the default: it renders a book again)."""
    if not engine.language_option or not book.language or "lang" in (options or {}):
        return
    declared = language_code(book.language).partition("-")[0] if is_language(book.language) else book.language
    other = [s for s in plan.segments if engine.guessed_language(s.text) not in ("", declared)]
    if other:
        log.warning("the book says it is in %r, and engine %s guesses each sentence's language from its script: %d "
                    "of %d are read as another (segment %d: %r); --lang %s reads them all as %r", declared, engine.name,
                    len(other), len(plan.segments), other[0].index + 1, engine.guessed_language(other[0].text),
                    declared, declared)


def book_work_dir(file: str | Path, output: Path, split: bool = False) -> Path:
    """The work folder of the book `file` written to `output` (split: the folder of its files): BOOK.work in the
    output's folder, so that every output of a book there (formats, some chapters, a file a chapter, any name)
    renders each segment once. An existing one of an earlier run is used instead: the output's name with .work
    (the rule before), BOOK.work beside the book (a run without -o), or the one a run writing elsewhere used."""
    own = output_for(file).with_suffix(".work")
    rule = output.parent / own.name
    earlier = ([] if split else [output.with_suffix(".work")]) + [rule, own]
    found = next((folder for folder in earlier if folder.is_dir()), None)
    if found:
        return found
    elsewhere = next((folder for folder in _noted_work_dirs(file) if _free_to_share(folder)), None)
    if elsewhere:
        log.info("the segments of %s rendered for %s are in %s: they are reused", Path(file).name, elsewhere.parent,
                 elsewhere)
        return elsewhere
    return rule


_WORK_DIRS_NOTE = "work_folders.json"     # in the state folder: a book -> the work folders its runs used
_WORK_DIRS_KEPT = 500                     # books noted, the most recent


def _read_work_dirs_note() -> dict:
    try:
        noted = json.loads((state_root() / _WORK_DIRS_NOTE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return noted if isinstance(noted, dict) else {}


def _free_to_share(folder: Path) -> bool:
    """Whether a work folder another run used is there to share: a job's, writable, and not being rendered into
    now (a run writing elsewhere at the same time keeps its own)."""
    import fcntl
    if not (folder / "job.json").is_file() or not os.access(folder, os.W_OK):
        return False
    try:
        with open(folder / "lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock, fcntl.LOCK_UN)
    except OSError:
        return False
    return True


def _noted_work_dirs(file: str | Path) -> list[Path]:
    folders = _read_work_dirs_note().get(str(Path(file).resolve()), [])
    return [Path(f) for f in folders if isinstance(f, str)] if isinstance(folders, list) else []


def remember_work_dir(file: str | Path, folder: Path) -> None:
    """Note in the state folder that `folder` holds the segments of the book `file`, so that a run writing the
    book elsewhere (another folder, another format) reuses them instead of rendering the book again."""
    noted = _read_work_dirs_note()
    key, path = str(Path(file).resolve()), str(folder.resolve())
    earlier = noted.pop(key, [])
    folders = [f for f in earlier if isinstance(f, str) and f != path and Path(f).is_dir()] \
        if isinstance(earlier, list) else []                                 # (a note edited by hand: started anew)
    noted[key] = [path] + folders[:3]
    note = state_root() / _WORK_DIRS_NOTE
    spare = note.with_name(f"{note.name}.{os.getpid()}")
    try:
        note.parent.mkdir(parents=True, exist_ok=True)
        spare.write_text(json.dumps(dict(list(noted.items())[-_WORK_DIRS_KEPT:])), encoding="utf-8")
        os.replace(spare, note)
    except OSError as exc:                 # (only a later run elsewhere would miss it)
        log.debug("cannot note the work folder in %s: %s", note, exc)
        with contextlib.suppress(OSError):
            spare.unlink(missing_ok=True)


_NAME_BYTES = 120      # a chapter file's name (its extension too): room in Windows' paths, and in a player's list


def _cut_at_word(name: str, limit: int) -> str:
    """`name` in at most `limit` UTF-8 bytes, cut after a whole word where one ends in its second half."""
    if len(name.encode()) <= limit:
        return name
    cut = name.encode()[:limit].decode(errors="ignore")
    space = cut.rfind(" ")
    return (cut[:space] if space > len(cut) // 2 else cut).rstrip(" .,;:-–—")


def part_label(numbers: list[int]) -> str:
    return f"chapter{'s' if len(numbers) > 1 else ''} {chapter_ranges(numbers)}"


def part_output(whole: Path, numbers: list[int]) -> Path:
    """Where some chapters of a book go when no file is named: beside the whole book's file, named after them
    ("novel (chapters 1-3).m4b"), so that trying a chapter never replaces the finished book."""
    part = whole.with_name(f"{whole.stem} ({part_label(numbers)}){whole.suffix}")
    if len(part.name.encode()) > 255:
        raise InputError(f"{part.name[:40]}...: a name too long for a file: give the chapters' file with -o")
    return part


def _chapters_folder(file: str | Path, output: str | Path | None, fmt: str | None) -> tuple[Path, str]:
    """The folder a book's chapter files go to (the book's name beside it unless `output` names one), and their
    format (default MP3)."""
    book = Path(file).resolve() if Path(file).is_dir() else Path(file)
    folder = Path(output) if output is not None else book.with_name(f"{book.name} audiobook") if book.is_dir() \
        else book.with_suffix("")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file: --split-chapters writes a folder, a file a chapter; give -o a folder")
    if not folder.exists() and folder.suffix.lower().lstrip(".") in SUFFIXES:
        raise InputError(f"--split-chapters writes a folder, a file a chapter, not {folder.name}: give -o a folder "
                         "(and --format for the files' format)")
    return folder, format_of(folder / "chapter", fmt or "mp3")


def _acx_mp3(settings: RenderSettings) -> RenderSettings:
    """A book's chapter files in MP3 are for ACX: its 44.1 kHz and 192 kb/s unless said otherwise (a warning where
    what is said falls short of them), and each file's RMS level inside its window (unless levels are kept)."""
    rate, bitrate = ACX_MP3
    settings = dataclasses.replace(settings, sample_rate=settings.sample_rate or rate,
                                   bitrate=settings.bitrate or bitrate,
                                   rms_window=ACX_RMS_DB if settings.loudness is not None else None)
    kbps = float(check_bitrate("mp3", settings.bitrate, settings.sample_rate).rstrip("k"))
    if settings.sample_rate != rate or kbps < float(bitrate.rstrip("k")):
        log.warning("ACX takes chapter files as MP3 at %d Hz and %s or more; these are %d Hz, %gk", rate, bitrate,
                    settings.sample_rate, kbps)
    (lead_low, lead_high), (tail_low, tail_high) = ACX_LEAD_MS, ACX_TAIL_MS
    if not (lead_low <= settings.lead_ms <= lead_high and tail_low <= settings.tail_ms <= tail_high):
        log.warning("ACX asks for %g-%g s of silence before a chapter file's words and %g-%g s after them; these have "
                    "%g s and %g s (--lead-ms, --tail-ms)", *(ms / 1000 for ms in ACX_LEAD_MS + ACX_TAIL_MS),
                    settings.lead_ms / 1000, settings.tail_ms / 1000)
    return settings


# opening and closing credits by language: the opening, who wrote it, who reads it, a digital voice, the closing,
# and the two chapters' marks
_CREDITS = {
    "en": ("{title}{by}.", ", by {author}", "Read by {narrator}.", "Read by a digital voice.", "This was {title}{by}. "
           "The end.", "Opening Credits", "Closing Credits"),
    "zh": ("《{title}》{by}。", "，作者：{author}", "朗读：{narrator}。", "由数字语音朗读。", "《{title}》{by}。全书完。",
           "片头", "片尾"),
    "ja": ("「{title}」{by}。", "、{author}著", "朗読、{narrator}。", "デジタル音声による朗読です。", "「{title}」{by}。おわり。",
           "オープニング", "エンディング"),
    "es": ("{title}{by}.", ", de {author}", "Narrado por {narrator}.", "Narrado por una voz digital.",
           "Esto fue {title}{by}. Fin.", "Créditos iniciales", "Créditos finales"),
    "fr": ("{title}{by}.", ", de {author}", "Lu par {narrator}.", "Lu par une voix numérique.",
           "C'était {title}{by}. Fin.", "Générique de début", "Générique de fin"),
    "it": ("{title}{by}.", ", di {author}", "Letto da {narrator}.", "Letto da una voce digitale.",
           "Questo era {title}{by}. Fine.", "Titoli di testa", "Titoli di coda"),
    "pt": ("{title}{by}.", ", de {author}", "Narrado por {narrator}.", "Narrado por uma voz digital.",
           "Este foi {title}{by}. Fim.", "Créditos iniciais", "Créditos finais"),
    "hi": ("{title}{by}।", ", लेखक {author}", "वाचक: {narrator}।", "एक डिजिटल आवाज़ ने पढ़ा।", "यह थी {title}{by}। समाप्त।",
           "आरंभिक परिचय", "समापन"),
}


def _add_credits(book: Book, title: str, author: str, narrator: str | None, language: str) -> None:
    """Opening and closing credits as chapters of their own, in the book's language (English where it has none
    here), as ACX and the stores want them: the title, the author, the narrator - a digital voice where none is
    named (None), no line where the narrator is left out ("")."""
    primary = language.partition("-")[0].lower()
    opening, by, read_by, digital, closing, opening_mark, closing_mark = _CREDITS.get(primary, _CREDITS["en"])
    by = by.format(author=author) if author else ""
    if primary == "fr":
        by = re.sub(r"\bde (?=[AEIOUYÀÂÉÈÊÎÏÔÙÛaeiouyàâéèêîïôùû])", "d'", by)          # d'Émile Zola
    said = read_by.format(narrator=narrator) if narrator else digital if narrator is None else ""
    book.chapters.insert(0, Chapter(opening_mark, " ".join(filter(None, [opening.format(title=title, by=by), said])),
                                    read_title=False))
    book.chapters.append(Chapter(closing_mark, closing.format(title=title, by=by), read_title=False))


def _year(year: str | int | None) -> str | None:
    year = None if year is None else str(year)
    if year and not re.fullmatch(r"[12]\d{3}(-\d\d(-\d\d)?)?", year.strip()):
        raise InputError(f"--year {year}: give a year (2024) or a date (2024-05-01)")
    return year.strip() if year else None


def _chapter_spec(chapters: str | int | Sequence[int] | None) -> str | None:
    """`chapters` as `--chapters` takes them: "1-3,7", or a number, or numbers (from 1); none given (None) is the
    whole book, but an empty choice ("" or []: nothing ticked) is an InputError."""
    if chapters is None:
        return None
    if isinstance(chapters, str) and not chapters.strip() or isinstance(chapters, Sequence) and not chapters:
        raise InputError("--chapters: no chapter given (leave it out for the whole book)")
    if isinstance(chapters, str):
        return chapters
    if isinstance(chapters, int) and not isinstance(chapters, bool):
        return str(chapters)
    if isinstance(chapters, Sequence) and all(isinstance(c, int) and not isinstance(c, bool) for c in chapters):
        return ",".join(map(str, chapters))
    raise InputError(f"--chapters: give chapter numbers from 1 (\"1-3,7\", 2 or [1, 2]), not {chapters!r}")


def open_audiobook(file: str | Path, output: str | Path | None = None, *, engine: Engine | str | None = None,
                   voice: str | None = None, lang: str | None = None, speed: float = 1.0, seed: int | None = None,
                   options: dict[str, Any] | None = None,
                   lexicon: Lexicon | str | Path | dict[str, str] | None = None,
                   chapters: str | int | Sequence[int] | None = None, read_titles: bool = True,
                   max_segment_tokens: int = DEFAULT_MAX_TOKENS, fmt: str | None = None,
                   settings: RenderSettings | None = None, title: str | None = None, author: str | None = None,
                   narrator: str | None = None, year: str | int | None = None, publisher: str | None = None,
                   description: str | None = None, cover: str | Path | None = None,
                   work_dir: str | Path | None = None, limits: Limits = Limits(),
                   split_chapters: bool = False, credits: bool = False) -> Audiobook:
    """Read `file` (.txt, .md or .epub, or a folder of chapter files) and make it ready to render into `output` (default: beside it, .m4b): every
    setting checked now, an InputError naming what is wrong. `chapters` picks some ("1-3,7"; unless `output` names
    a file they go to "book (chapters 1-3, 7).m4b", and share the whole book's work folder), `narrator=""` leaves
    the tag out, `settings` holds the pauses, mode, bucket size, bitrate and sample rate. `split_chapters` writes
    a file a chapter (default MP3, as ACX wants them) into the folder `output` (default: the book's name beside
    it), sharing the whole book's work folder. `credits` adds opening and closing credits as chapters of their own
    (title, author, narrator - a digital voice where none is named). `work_dir` defaults to `book_work_dir`'s.
    Nothing is rendered or written, and an IndexTTS model's weights are not loaded."""
    if not isinstance(file, (str, os.PathLike)):
        raise InputError(f"the book to read is a file or folder's path, not {type(file).__name__}")
    if not isinstance(limits, Limits):
        raise InputError(f"limits must be a Limits (indexstudio.Limits(max_file_bytes=...)), not {limits!r}")
    settings = settings or RenderSettings()
    if not isinstance(settings, RenderSettings):
        raise InputError(f"settings must be a RenderSettings (indexstudio.RenderSettings(bitrate=...)), not "
                         f"{type(settings).__name__}")
    chapters = _chapter_spec(chapters)
    if chapters:                                  # its form checked now, before a big book is read and planned
        chapter_selection(chapters, max([int(n) for n in re.findall(r"\d+", chapters)] or [1]))
    if split_chapters:
        output, fmt = _chapters_folder(file, output, fmt)
        named = True
        if fmt == "mp3":
            settings = _acx_mp3(settings)
    else:
        named = output is not None and not names_a_folder(output)
        output = output_for(file, output, fmt)
        fmt = format_of(output, fmt)
        if output.resolve() == Path(file).resolve():
            raise InputError(f"the output {output} is the book itself: give another -o")
    check_bitrate(fmt, settings.bitrate, settings.sample_rate or 24000)   # (the engines speak at 22-24 kHz)
    check_format_rate(fmt, settings.sample_rate)
    if fmt == "wav" and settings.bitrate:
        log.warning("--bitrate has no effect on WAV output (uncompressed 16-bit PCM)")
    year = _year(year)
    lexicon = lexicon_of(lexicon)
    cover_file = Path(cover) if cover else None
    if cover_file and not cover_file.is_file():
        raise InputError(f"cover image {cover_file} not found")
    book = read_book(file, limits)
    engine = engine_of(engine)
    lang = checked_language(engine, lang)
    opening = "\n".join(chapter.text for chapter in book.chapters[:3])
    voice = choose_voice(engine, voice, opening, lang or book.language)
    controls = engine_controls(engine, speed, seed, options, lang)
    if credits:
        _add_credits(book, title or book.title, author or book.author,
                     narrator if narrator is not None else book.narrator or None,
                     lang or book.language or detect_language(opening))
    plan, numbers, chapters_in_book = plan_chapters(book, engine, voice, chapters, max_segment_tokens,
                                                    read_titles=read_titles, lexicon=lexicon)
    part = len(numbers) < chapters_in_book
    if not lang:
        _say_language_guesses(engine, book, plan, options)
    told_lexicon(lexicon, f"{'chapters' if len(numbers) > 1 else 'chapter'} {chapter_ranges(numbers)}" if part
                 else "the text")
    tags = book_tags(book.extra)
    meta = Metadata(title=title or (f"{plan.title} ({part_label(numbers)})" if part and not split_chapters else ""),
                    author=author or "", narrator=narrator or "",
                    language=lang or book.language or detect_language(opening), year=year or tags["year"],
                    publisher=publisher or tags["publisher"], description=description or tags["description"])
    if cover_file:
        meta.cover, meta.cover_type = cover_image(cover_file.read_bytes(), str(cover_file))
    elif book.cover:
        try:
            meta.cover, meta.cover_type = cover_image(book.cover, f"of {file}")
        except InputError as exc:           # the book's own cover: the audiobook goes on without it
            log.warning("%s; the audiobook gets no cover", exc)
    if narrator is None:
        meta.narrator = plan.narrator or f"{engine.name} voice {Path(voice).stem if Path(voice).is_file() else voice}"
    audiobook = Audiobook(book, plan, numbers, chapters_in_book, engine, voice, controls, settings, meta,
                          part_output(output, numbers) if part and not named else output, fmt,
                          Path(work_dir) if work_dir else book_work_dir(file, output, split_chapters), split_chapters,
                          Path(file))
    if part and not split_chapters:
        audiobook.check_keeps_the_whole_book()
    return audiobook


def make_audiobook(file: str | Path, output: str | Path | None = None, *,
                   on_progress: Callable[[Progress], None] | None = None,
                   on_write: Callable[[float, float], None] | None = None, prune: bool = False,
                   **settings: Any) -> RenderResult:
    """Render `file` into the audiobook `output` (default: beside it, .m4b), resuming whatever an earlier run of
    the same book left in the work folder (`prune`: then delete the segments it no longer uses); `settings` as
    `open_audiobook` takes them."""
    return open_audiobook(file, output, **settings).render(on_progress, on_write, prune)
