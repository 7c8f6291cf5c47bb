"""indexstudio: text and books to cloned-voice speech.

    indexstudio speak "Hello there." -o hello.wav [--voice V] [--engine E] [--speed S]
    indexstudio speak "Hello." -o hello.wav --engine indextts2 --model-dir DIR --voice ref.wav [--emotion happy=0.6]
    indexstudio book my_book.epub -o my_book.m4b [--format m4b|mp3|wav|opus] [--mode normal|batch]
    indexstudio voices [--engine E]
    indexstudio bench decode [--segments N] [--tokens T] [--weights fp32|bf16|int8] ...   (GPT decode speed)
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from indexstudio.errors import IndexStudioError, InputError


def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _ConsoleLog(logging.Handler):
    """The package's notes and warnings as `indexstudio: ...` lines on stderr, written above a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm
        try:
            detail = f"\n{self.formatter.formatException(record.exc_info)}" if record.exc_info and _debug() else ""
            tqdm.write(f"indexstudio: {record.getMessage()}{detail}", file=sys.stderr)
        except Exception:           # (a closed stderr must not stop the rendering)
            self.handleError(record)


def _debug() -> bool:
    return bool(os.environ.get("INDEXSTUDIO_DEBUG"))


def _log_to_console() -> None:
    logger = logging.getLogger("indexstudio")
    logger.setLevel(logging.DEBUG if _debug() else logging.INFO)
    if not any(isinstance(h, _ConsoleLog) for h in logger.handlers):
        handler = _ConsoleLog()
        handler.setFormatter(logging.Formatter())
        logger.addHandler(handler)


def _engine_choice(p: argparse.ArgumentParser) -> None:
    from indexstudio.engines import DEFAULT_ENGINE, engine_names
    p.add_argument("--engine", help=f"speech engine: {', '.join(engine_names())} (default: the IndexTTS version of "
                                    f"--model-dir, else {DEFAULT_ENGINE}, embedded: no model download)")
    p.add_argument("--model-dir", help="model folder for IndexTTS engines (an official checkpoint folder)")


def _engine_args(p: argparse.ArgumentParser) -> None:
    _engine_choice(p)
    p.add_argument("--device", help="cuda, mps, xpu or cpu (IndexTTS engines; default: best available)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU cores the embedded engine uses (default: all this process may use; fewer leave the "
                        "machine responsive while a book renders)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"],
                   help="GPT precision of IndexTTS engines (default float32; float16/bfloat16 are faster on GPU)")
    p.add_argument("--gpt-weights", choices=["fp32", "bf16", "int8"],
                   help="CPU decode weights of IndexTTS engines: bf16 / int8 weight-only copies read 2x / 4x fewer "
                        "bytes per code (faster on CPUs with AVX-512, slower on AVX2-only ones; codes differ "
                        "slightly from fp32; default fp32); int8 only pays for up to 4 rows at a time (one segment, "
                        "no beams), bf16 also for books")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the IndexTTS-2 / 2.5 flow-matching estimator (on a GPU replayed from CUDA "
                        "graphs; worth it for long jobs, the first segments wait for the compilation)")
    p.add_argument("--compile-decode", action="store_true",
                   help="torch.compile the GPT decode step of IndexTTS engines (on a GPU the CUDA graphs then replay "
                        "fewer, fused kernels; on a CPU the weights are frozen in pre-packed, +2 GB at full size: 16 "
                        "segments 1.24x eager on an AMD EPYC; a lone segment stays eager there, where it is faster - "
                        "time it with `indexstudio bench decode --compile`; the first request waits for the "
                        "compilation)")
    p.add_argument("--s2mel-dtype", choices=["float32", "float16", "bfloat16"],
                   help="precision of the IndexTTS-2 / 2.5 flow matching (default float32, the official; bfloat16 "
                        "ran 2.6-2.9x faster on a CPU with AMX, 1.6x on an AVX-512 AMD EPYC, float16/bfloat16 use a GPU's "
                        "tensor cores; the audio differs slightly)")
    p.add_argument("--voice", help="voice id (see `indexstudio voices`), a blend of them (af_heart+bf_emma, "
                                   "\"af_heart(2)+bm_george(1)\"), or, for IndexTTS engines, a reference audio file")
    p.add_argument("--speed", type=float, default=1.0, help="speaking rate, 1.0 = normal (kokoro and IndexTTS-2 / "
                                                             "2.5: 0.5 to 2)")
    p.add_argument("--seed", type=int, help="random seed for sampling engines")
    p.add_argument("--max-segment-tokens", type=int, default=120, help="longest segment, in tokens (default 120)")
    p.add_argument("--lexicon", metavar="FILE",
                   help="your pronunciations: a UTF-8 file of `written = spoken` lines (Hermione = Her-my-oh-nee), "
                        "whole words in their case; a book re-renders only the segments they change")
    p.add_argument("--lang", help="the text's language (en, fr, zh, ja, ...): the embedded engine speaks with a voice "
                                  "of it, over the book's own tag and the language its text reads as; IndexTTS-2.5 "
                                  "reads the text as it (default: guessed from the script of each segment)")
    g = p.add_argument_group("emotion (IndexTTS-2 / 2.5)")
    g.add_argument("--emotion-audio", help="reference audio whose emotion to speak with")
    g.add_argument("--emotion-alpha", type=float, help="strength of the emotion reference or vector, 0..1 (default 1)")
    g.add_argument("--emotion", help='emotion weights, e.g. "happy=0.6,surprised=0.2" or 8 numbers '
                                     "(happy, angry, sad, afraid, disgusted, melancholic, surprised, calm)")
    g.add_argument("--emotion-text", help="describe the emotion in words (needs the Qwen emotion model in the folder)")
    g.add_argument("--emotion-from-text", action="store_true",
                   help="detect each segment's emotion from its own text (Qwen emotion model)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="engine option, repeatable (IndexTTS: top_k, top_p, temperature, num_beams, "
                        "repetition_penalty, max_mel_tokens, diffusion_steps, cfg_rate, ...)")


def _format_arg(p: argparse.ArgumentParser) -> None:
    from indexstudio.audio.output import FORMATS
    p.add_argument("--format", choices=FORMATS, help="output format (default: from the file name)")


def _sample_rate_arg(p: argparse.ArgumentParser) -> None:
    from indexstudio.audio.output import SAMPLE_RATES
    p.add_argument("--sample-rate", type=int, choices=SAMPLE_RATES, metavar="HZ",
                   help="the output's sample rate: 22050, 24000, 44100 or 48000 (default: the engine's; ACX wants "
                        "44100 MP3 at 192k or more; opus is always 48000)")


def _sound_args(p: argparse.ArgumentParser, paragraph_end: str) -> None:
    p.add_argument("--gap-ms", type=int, default=400, help="silence between sentences (default 400 ms)")
    p.add_argument("--paragraph-gap-ms", type=int, default=900, help=f"silence {paragraph_end} (default 900 ms)")
    p.add_argument("--bitrate", help="bitrate for mp3/m4b/opus (default 64k, opus 32k; at most 160k for mp3 and "
                                     "96k for m4b at the engines' 22-24 kHz, 320k and 192k with --sample-rate 44100)")


def _options(args: argparse.Namespace) -> dict:
    """The engine options of --option KEY=VALUE and of the emotion flags."""
    from indexstudio.pipeline.voicing import FLAG_OPTIONS
    options: dict = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option expects KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    for key, flag in FLAG_OPTIONS.items():
        value = getattr(args, flag.removeprefix("--").replace("-", "_"))
        if value is not None and value is not False:       # (an alpha of 0.0 is a value)
            if key in options:
                logging.getLogger("indexstudio").warning("--option %s has no effect: %s gives it", key, flag)
            options[key] = value
    return options


def _with_flags(prepare, *args, **settings):
    """`prepare(*args, **settings)`, an option that a flag set and the engine does not take named by its flag."""
    try:
        return prepare(*args, **settings)
    except InputError as exc:
        from indexstudio.pipeline.voicing import FLAG_OPTIONS
        unknown = str(exc).split(";")[0]
        options, engine = settings["options"], settings["engine"]
        flags = [flag for key, flag in FLAG_OPTIONS.items() if key in options and re.search(rf"\b{key}\b", unknown)]
        if flags and (str(exc).startswith("unknown") or "takes no engine options" in str(exc)):
            raise InputError(f"{', '.join(flags)}: not an option of engine {engine.name}") from None
        raise


SETTING_FLAGS = {"model_dir": "--model-dir", "device": "--device", "dtype": "--dtype", "gpt_weights": "--gpt-weights",
                 "compile_s2mel": "--compile", "s2mel_dtype": "--s2mel-dtype", "compile_decode": "--compile-decode",
                 "threads": "--threads"}


def _chosen_engine(args: argparse.Namespace) -> str:
    """--engine, or the engine of the IndexTTS version --model-dir holds (said in a note), or the embedded one."""
    from indexstudio.engines import DEFAULT_ENGINE
    if args.engine or not args.model_dir:
        return args.engine or DEFAULT_ENGINE
    from indexstudio.engines import engine_for_folder
    engine = engine_for_folder(args.model_dir)
    logging.getLogger("indexstudio").info("%s holds an IndexTTS-%s model: engine %s", args.model_dir,
                                          engine.removeprefix("indextts").replace("_", "."), engine)
    return engine


def _load_engine(args: argparse.Namespace):
    from indexstudio.engines import engine_settings, get_engine, require_model_dir
    flags = {key: getattr(args, flag.removeprefix("--").replace("-", "_"), None) for key, flag in SETTING_FLAGS.items()}
    options = {key: value for key, value in flags.items() if value not in (None, False)}
    require_model_dir(args.engine, args.model_dir)
    taken = engine_settings(args.engine)
    if taken is None:                   # (an IndexTTS engine takes its files by role too: the IndexTTS flags)
        taken = set(SETTING_FLAGS) - {"threads"}
    unknown = [SETTING_FLAGS[key] for key in options if key not in taken]
    if unknown:
        owners = sorted({"the embedded engine's" if flag == "--threads" else "the IndexTTS engines'" for flag in unknown})
        raise InputError(f"{', '.join(unknown)}: not a setting of engine {args.engine} ({' and '.join(owners)})")
    if flags["threads"] is not None and flags["threads"] < 1:
        raise InputError(f"--threads must be at least 1, got {flags['threads']}")
    return get_engine(args.engine, **options)


def _lexicon(args: argparse.Namespace):
    from indexstudio.text.lexicon import Lexicon
    return Lexicon.load(args.lexicon) if args.lexicon else None


def _voicing(args: argparse.Namespace, engine, lexicon) -> dict:
    """The settings `prepare_speech` and `open_audiobook` share, from the command line."""
    return dict(engine=engine, voice=args.voice, lang=args.lang, speed=args.speed, seed=args.seed,
                options=_options(args), lexicon=lexicon, max_segment_tokens=args.max_segment_tokens)


# what `voices --listen` has each voice say, in its language (our own lines, the opening of a book)
_SAMPLES = {
    "en": "Chapter One. The rain had stopped by the time she reached the lighthouse, and the keeper was already "
          "waiting at the door.",
    "es": "Capítulo uno. La lluvia había cesado cuando llegó al faro, y el guardián ya la esperaba en la puerta.",
    "fr": "Chapitre un. La pluie avait cessé quand elle arriva au phare, et le gardien l'attendait déjà à la porte.",
    "it": "Capitolo uno. La pioggia era cessata quando arrivò al faro, e il guardiano la aspettava già alla porta.",
    "pt": "Capítulo um. A chuva tinha parado quando ela chegou ao farol, e o guardião já a esperava na porta.",
    "hi": "अध्याय एक। जब वह प्रकाशस्तंभ पहुँची, तब तक बारिश रुक चुकी थी, और रखवाला दरवाज़े पर इंतज़ार कर रहा था।",
    "zh": "第一章。她走到灯塔时，雨已经停了，守塔人早已在门口等着她。",
    "ja": "第一章。彼女が灯台に着いたころには雨はやんでいて、灯台守はもう戸口で待っていた。",
}


def _listen(args: argparse.Namespace, engine, voices) -> int:
    """`voices --listen DIR`: each voice saying a book's opening (or --text) into DIR/<voice>.mp3, to choose by ear."""
    from tqdm import tqdm

    from indexstudio.pipeline.speech import prepare_speech
    from indexstudio.pipeline.voicing import checked_language
    from indexstudio.text.language import detect_language
    lang = checked_language(engine, args.lang) or (detect_language(args.text) if args.text else "")
    wanted = lang.partition("-")[0].lower()
    chosen = [v for v in voices if not wanted or v.language.partition("-")[0] == wanted]
    if not chosen:
        raise InputError(f"engine {engine.name} has no voice that speaks {wanted!r} (see `indexstudio voices`)")
    folder = Path(args.listen)
    speeches = {}
    for voice in chosen:                     # (each checked before the model loads: a broken recording is left out)
        text = args.text or _SAMPLES.get(voice.language.partition("-")[0], _SAMPLES["en"])
        try:
            speeches[voice.id] = prepare_speech(text, engine=engine, voice=voice.id)
        except InputError as exc:
            logging.getLogger("indexstudio").warning("left out: %s", exc)
    if not speeches:
        raise InputError(f"none of engine {engine.name}'s {len(chosen)} voices can speak (see the warnings)")
    engine.prepare()
    stems = [Path(voice).stem for voice in speeches]
    for voice, speech in tqdm(speeches.items(), unit="voice", desc="listening", dynamic_ncols=True,
                              mininterval=0.5 if sys.stderr.isatty() else 10):
        name = Path(voice).stem if stems.count(Path(voice).stem) == 1 else Path(voice).name   # (me.wav, me.flac)
        speech.save(folder / f"{name}.mp3")
    print(f"wrote {len(speeches)} voice{'s' if len(speeches) != 1 else ''} to {folder}{os.sep}"
          + (f" (those that speak {wanted!r})" if wanted else "")
          + (f"; {len(chosen) - len(speeches)} left out" if len(speeches) < len(chosen) else ""))
    return 0


def cmd_voices(args: argparse.Namespace) -> int:
    from indexstudio.engines import clones_voices
    from indexstudio.engines.reference_voices import library_voices, voice_library
    if (args.text or args.lang) and not args.listen:
        raise InputError("--text and --lang go with --listen FOLDER (what the voices say, and which of them)")
    if clones_voices(args.engine) and not args.model_dir:      # its voices are recordings: no model is needed
        if args.listen:
            raise InputError(f"--listen: engine {args.engine} needs --model-dir to speak with its recordings")
        voices, default = library_voices(), ""
    else:
        engine = _load_engine(args)
        voices, default = engine.voices(), engine.default_voice
        if args.listen:
            return _listen(args, engine, voices)
    width = max((len(v.id) for v in voices), default=5)
    for v in voices:
        mark = "*" if v.id == default else " "
        print(f"{mark} {v.id:<{width}}  {v.language:<6} {v.gender:<7} {v.description}")
    print(f"{len(voices)} voices for engine {args.engine}" + (" (* = default)" if default else ""))
    if not default:
        missing = "" if voice_library().is_dir() else ", a folder that does not exist yet,"
        print(f"(this engine clones a recording: give --voice FILE (3-15 s of clean speech), or keep recordings in "
              f"{voice_library()}{missing} and give their names)")
    return 0


def _text_to_speak(given: str) -> str:
    """The text `speak` was given: standard input for "-" (in whatever encoding it comes), else the argument - the
    name of a file or folder that exists is refused, since speaking "notes dot t x t" is never what was meant."""
    from indexstudio.books.reader import decode_text
    if given == "-":
        return decode_text(sys.stdin.buffer.read(), "standard input")
    name = given.strip()
    path = Path(name)
    chapters = (".txt", ".text", ".md", ".markdown")
    if name and len(name.split()) == 1 and path.exists() and (
            "/" in name or "." in name or path.is_dir() and any(p.suffix.lower() in chapters for p in path.iterdir())):
        book = f"`indexstudio book {name}` makes an audiobook of it"
        if path.is_dir():
            raise InputError(f"{name} is a folder: {book} (its .txt and .md files as chapters)")
        if path.suffix.lower() not in (*chapters, ".epub"):
            raise InputError(f"{name} is a file: `indexstudio speak - -o OUT < {name}` speaks it if it is text")
        raise InputError(f"{name} is a file: `indexstudio speak - -o OUT < {name}` speaks its text, {book}")
    return given


def cmd_speak(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from indexstudio.pipeline.speech import checked_output, prepare_speech

    text = _text_to_speak(args.text)
    lexicon = _lexicon(args)
    engine = _load_engine(args)
    speech = _with_flags(prepare_speech, text, gap_ms=args.gap_ms, paragraph_gap_ms=args.paragraph_gap_ms,
                         **_voicing(args, engine, lexicon))
    fmt = checked_output(args.output, args.format, args.bitrate, args.sample_rate)
    engine.prepare()                        # ("loading IndexTTS-2 from ...": before the progress bar)
    bar = tqdm(total=len(speech.segments), unit="seg", desc="speaking", dynamic_ncols=True,
               disable=len(speech.segments) < 2, mininterval=0.5 if sys.stderr.isatty() else 10)
    try:
        result = speech.save(args.output, fmt, args.bitrate, args.sample_rate, on_segment=bar.update)
    finally:
        bar.close()
    print(f"wrote {result.output}: {result.audio_seconds:.1f} s of audio in {result.wall_seconds:.1f} s (RTF "
          f"{result.wall_seconds / max(result.audio_seconds, 1e-9):.2f}, first audio after "
          f"{result.first_audio_seconds:.2f} s)")
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from indexstudio.books.reader import Limits
    from indexstudio.pipeline.audiobook import open_audiobook
    from indexstudio.pipeline.job import RenderSettings

    settings = RenderSettings(mode=args.mode, bucket_size=args.bucket_size, segment_gap_ms=args.gap_ms,
                              paragraph_gap_ms=args.paragraph_gap_ms, scene_gap_ms=args.scene_gap_ms,
                              chapter_gap_ms=args.chapter_gap_ms, lead_ms=args.lead_ms, tail_ms=args.tail_ms,
                              bitrate=args.bitrate, sample_rate=args.sample_rate)
    lexicon = _lexicon(args)
    engine = _load_engine(args)
    audiobook = _with_flags(
        open_audiobook, args.file, args.output, chapters=args.chapters, read_titles=not args.no_titles,
        fmt=args.format, settings=settings, title=args.title, author=args.author, narrator=args.narrator,
        year=args.year, publisher=args.publisher, description=args.description, cover=args.cover,
        work_dir=args.work_dir, split_chapters=args.split_chapters, credits=args.credits, limits=Limits(max_file_bytes=args.max_input_mb * 2**20,
                                             max_unpacked_bytes=args.max_unpacked_mb * 2**20),
        **_voicing(args, engine, lexicon))
    plan = audiobook.plan
    finished = audiobook.finished()
    if args.dry_run or args.show_text:
        _print_plan(audiobook, finished, args)
        return 0
    audiobook.make_output_folder()
    audiobook.say_changes(finished)         # (before the work folder notes this run's settings)
    audiobook.check_ready(args.prune)       # (a work folder another run holds is named before the model loads)
    if len(finished) < len(plan.segments):
        engine.prepare()                   # "loading IndexTTS-2 from ..." before the progress bar, not inside it
    print(f"{args.title or audiobook.book.title}: {_chapters_chosen(audiobook)}, {len(plan.segments)} segments "
          f"({args.mode} mode, {args.bucket_size} at a time); work folder {audiobook.work_dir}",
          file=sys.stderr)
    bar = tqdm(total=len(plan.segments), unit="seg", desc="rendering", smoothing=0.1, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 10)

    def on_progress(p) -> None:
        if bar.n == 0 and p.resumed:        # segments resumed are no pace: the rate and ETA count from here
            bar.initial = bar.n = bar.last_print_n = p.resumed
            bar.write(f"resuming: {p.resumed} of {p.total} segments already rendered", file=sys.stderr)
        if p.elapsed:
            bar.set_postfix_str(f"{p.audio_seconds / 60:.1f} min audio, RTF {p.elapsed / max(p.audio_seconds, 1e-9):.2f}", refresh=False)
        bar.update(p.done - bar.n)

    writing = None

    def on_write(seconds: float, total: float) -> None:
        nonlocal writing
        if writing is None:
            bar.close()
            writing = tqdm(total=round(total), unit="s", desc=f"writing {audiobook.fmt}", dynamic_ncols=True,
                           mininterval=0.5 if sys.stderr.isatty() else 10)
        writing.update(round(seconds) - writing.n)

    try:
        result = audiobook.render(on_progress, on_write, prune=args.prune)
    finally:
        bar.close()
        if writing is not None:
            writing.close()
    speed = (f"{_fmt_duration(result.rendered_seconds)} of speech rendered, RTF {result.rtf:.2f}, "
             f"{result.characters / max(result.rendering_seconds, 1e-9):.0f} chars/s" if result.rtf is not None
             else "nothing new to render")
    repeats = result.rendered - result.synthesized
    rendered = (f"{result.synthesized} segment{'s' if result.synthesized != 1 else ''} rendered"
                + (f" (+{repeats} repeated sentences)" if repeats else ""))
    done = "wrote" if result.written else "unchanged (nothing to render or write):"
    if audiobook.split:
        into = f"{result.output}{os.sep} ({_count(len(result.files), 'chapter')}, a file each, {audiobook.fmt})"
        print(f"{done} {into}: {_fmt_duration(result.audio_seconds)} of audio; {rendered} + {result.resumed} "
              f"resumed in {_fmt_duration(result.wall_seconds)} ({speed})")
        print(f"  {'length':>8}  file")
        for part in result.files:
            print(f"  {_fmt_duration(part.audio_seconds):>8}  {part.output.name}{'' if part.written else '  (unchanged)'}")
        for path in result.removed:
            print(f"  {'':>8}  {path.name}  (removed: no chapter of the book now)")
    else:
        print(f"{done} {result.output} ({audiobook.fmt}): {_fmt_duration(result.audio_seconds)} of audio, "
              f"{_count(len(result.chapters), 'chapter')}; {rendered} + {result.resumed} resumed in "
              f"{_fmt_duration(result.wall_seconds)} ({speed})")
        print(f"  {'start':>8}  chapter")
        for mark in result.chapters:
            print(f"  {_fmt_duration(mark.start / result.sample_rate):>8}  {mark.title}")
        if audiobook.fmt == "wav" and len(result.chapters) > 1:
            print("  (in a WAV file they are cue points, which audio editors show as markers and players do not; "
                  "m4b, mp3 and opus carry chapters)")
    kept = sum(f.stat().st_size for f in audiobook.work_dir.rglob("*") if f.is_file())
    stale, stale_bytes = audiobook.stale()
    pruned = (f"; {_files(result.pruned)} it no longer used ({_size(result.pruned_bytes)}) deleted"
              if result.pruned else "")
    unused = (f"; {_files(stale)} ({_size(stale_bytes)}) of sentences or settings the book no longer has: --prune "
              "deletes them") if stale else ""
    print(f"the work folder {audiobook.work_dir} ({_size(kept)}) keeps the rendered segments, so that re-runs, other "
          f"formats and edits reuse them; delete it once the audiobook is as you want it{pruned}{unused}")
    return 0


def _count(count: int, thing: str) -> str:
    return f"{count} {thing}{'s' if count != 1 else ''}"


def _files(count: int) -> str:
    return _count(count, "segment file")


def _size(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB" if size >= 2**20 else f"{size / 1024:,.0f} KiB"


def _print_plan(audiobook, finished: dict[int, int], args: argparse.Namespace) -> None:
    """What `book` would render: chapters, segments, an estimated length, what the work folder holds already."""
    plan = audiobook.plan
    audiobook.say_changes(finished)
    title, author = audiobook.metadata.title or plan.title, audiobook.metadata.author or plan.author
    estimate = audiobook.estimate(finished)
    basis = (f"at the pace of the {estimate.paced_by} segments rendered" if estimate.paced_by
             else "estimated from the text")
    print(f"{title}{f' by {author}' if author else ''}: {_chapters_chosen(audiobook)}, {len(plan.segments)} segments, "
          f"{sum(len(s.text) for s in plan.segments):,} characters, about {_fmt_duration(estimate.seconds)} of audio "
          f"({basis})")
    width = min(max((_columns(t) for t in plan.chapters), default=7), 48)
    print(f"{'#':>4}  {'chapter':<{width}}  {'segments':>8}  {'characters':>10}  {'~length':>8}  {'rendered':>8}")
    for c, (number, chapter_title) in enumerate(zip(audiobook.chapter_numbers, plan.chapters)):
        mine = [s.index for s in plan.segments if s.chapter == c]
        name = chapter_title
        while _columns(name) > width:
            name = name[:-4] + "..."
        print(f"{number + 1:>4}  {name}{' ' * (width - _columns(name))}  {len(mine):>8}  {sum(len(plan.segments[i].text) for i in mine):>10,}  "
              f"{_fmt_duration(estimate.chapters[c]):>8}  "
              f"{sum(i in finished for i in mine):>8}")
        if args.show_text:
            for i in mine:
                spoken = audiobook.engine.spoken_form(plan.segments[i].text, audiobook.controls.options)
                print(f"      [{i + 1}] {spoken}")
    stale, stale_bytes = audiobook.stale()
    unused = f"; {_files(stale)} ({_size(stale_bytes)}) there the book no longer uses (--prune)" if stale else ""
    if audiobook.split:
        files = audiobook.chapter_files()
        print(f"would write {audiobook.output}{os.sep}: {files[0].name}{' ... ' + files[-1].name if len(files) > 1 else ''}")
    else:
        print(f"would write {audiobook.output}")
    print(f"nothing rendered ({'--show-text' if args.show_text else '--dry-run'}); {len(finished)} of "
          f"{len(plan.segments)} segments are in the work folder {audiobook.work_dir} already{unused}")


def _chapters_chosen(audiobook) -> str:
    """ "12 chapters", or of some chapters "chapters 1-3, 7 of 12"."""
    from indexstudio.pipeline.plan import chapter_ranges
    chapters = audiobook.plan.chapters
    if len(chapters) < audiobook.chapters_in_book:
        some = "chapters" if len(chapters) > 1 else "chapter"
        return f"{some} {chapter_ranges(audiobook.chapter_numbers)} of {audiobook.chapters_in_book}"
    return f"{len(chapters)} chapter{'s' if len(chapters) != 1 else ''}"


def _columns(text: str) -> int:
    """Terminal columns `text` takes (a CJK character takes two)."""
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def cmd_bench(args: argparse.Namespace) -> int:
    from importlib import import_module
    return import_module(f"indexstudio.bench.{args.bench}").main(args.bench_args, prog=f"indexstudio bench {args.bench}")


def _wrapped(text: str) -> str:
    """A description as argparse's default formatter would wrap it (these parsers keep their examples as written)."""
    import textwrap
    return textwrap.fill(text, 80)


_SPEAK_EXAMPLES = """examples:
  indexstudio speak "Hello there. It is 5 p.m." -o hello.wav --voice bm_george
  indexstudio speak - -o notes.mp3 < notes.txt
  indexstudio speak "Welcome back." -o out.wav --engine indextts2 --model-dir checkpoints/ --voice me.wav"""
_BOOK_EXAMPLES = """examples:
  indexstudio book novel.epub --dry-run          chapters, segments and length; renders nothing
  indexstudio book novel.epub --chapters 1       try the voice on chapter 1: "novel (chapter 1).m4b"
  indexstudio book novel.epub                    the whole book (novel.m4b), reusing chapter 1
  indexstudio book novel.epub -o novel.mp3 --sample-rate 44100 --bitrate 192k     (ACX's MP3)
  indexstudio book novel.epub --engine indextts2 --model-dir checkpoints/ --voice me.wav"""
_EXAMPLES = """examples:
  indexstudio voices
  indexstudio speak "Hello there." -o hello.wav
  indexstudio book my_book.epub -o my_book.m4b

environment: INDEXSTUDIO_VOICES (recordings to clone), INDEXSTUDIO_KOKORO_VOICES (more Kokoro voices),
INDEXSTUDIO_DEBUG=1 (tracebacks), INDEXSTUDIO_CACHE (compiled grammars)"""


class _Parser(argparse.ArgumentParser):
    """A mistyped flag or value is one line, as every other error is (argparse printed the command's whole usage,
    thirty lines for `book`, above it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from indexstudio.text.segment import DEFAULT_BUCKET_SIZE

    from indexstudio import __version__

    parser = _Parser(
        prog="indexstudio", description=_wrapped("Text and books to speech: audiobooks with chapters on an embedded "
                                                  "voice or on IndexTTS voice clones."),
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"indexstudio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("speak", help="speak a text into an audio file", epilog=_SPEAK_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=_wrapped("Speak a text (an argument, or standard input with \"-\") into an audio "
                                            "file."))
    p.add_argument("text", help='text to speak, or "-" to read standard input')
    p.add_argument("-o", "--output", required=True, help="output file (.wav, .mp3, .m4b/.m4a, .opus/.ogg)")
    _format_arg(p)
    _engine_args(p)
    _sample_rate_arg(p)
    _sound_args(p, "after a paragraph")
    p.set_defaults(func=cmd_speak)

    p = sub.add_parser("book", help="render a .txt, .md or .epub book (or a folder of chapter files) into an audiobook "
                            "(re-running resumes)",
                       epilog=_BOOK_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=_wrapped("Render a book into an audiobook with chapters. Finished segments are "
                                            "kept in a work folder: the same command again resumes, and edits "
                                            "re-render only what changed."))
    p.add_argument("file", help="the book: .txt, .md or .epub, or a folder of .txt / .md chapter files")
    p.add_argument("-o", "--output", help="output file, or a folder to put BOOK.m4b in (one that exists, or a name "
                                          "ending in /) (default: the book's name with .m4b, beside it)")
    _format_arg(p)
    _engine_args(p)
    _sample_rate_arg(p)
    p.add_argument("--mode", choices=["normal", "batch"], default="normal",
                   help="normal: segments in text order; batch: segments bucketed by length")
    p.add_argument("--bucket-size", type=int, default=DEFAULT_BUCKET_SIZE,
                   help=f"segments per engine call (default {DEFAULT_BUCKET_SIZE}); IndexTTS engines render a call's "
                        "segments together, each as it would alone: bigger is faster, uses more memory")
    _sound_args(p, "after a paragraph or a spoken chapter title")
    p.add_argument("--scene-gap-ms", type=int, default=1500,
                   help="silence at a scene break, a line of \"* * *\" or the like (default 1500 ms)")
    p.add_argument("--chapter-gap-ms", type=int, default=1500, help="silence between chapters (default 1500 ms)")
    p.add_argument("--lead-ms", type=int, default=500,
                   help="silence before the first words, and before each chapter's mark (default 500 ms; ACX: 500 to "
                        "1000)")
    p.add_argument("--tail-ms", type=int, default=1000,
                   help="silence after the last words (default 1000 ms; ACX: 1000 to 5000)")
    p.add_argument("--title", help="title tag (default: from the book)")
    p.add_argument("--author", help="author tag (default: from the book)")
    p.add_argument("--narrator", help="narrator tag (default: the book's, else the engine and voice; \"\" for none)")
    p.add_argument("--year", help="year tag (default: the year of the book's date)")
    p.add_argument("--publisher", help="publisher tag (default: from the book)")
    p.add_argument("--description", help="description tag, the blurb players show (default: from the book)")
    p.add_argument("--cover", help="cover image (JPEG or PNG as it is, other images converted to PNG; default: from "
                                   "the book)")
    p.add_argument("--no-titles", action="store_true", help="do not read chapter titles aloud")
    p.add_argument("--credits", action="store_true",
                   help="add opening and closing credits, chapters of their own in the book's language: its title, "
                        "author and narrator (--narrator; else \"read by a digital voice\"), as ACX and the stores "
                        "want them")
    p.add_argument("--split-chapters", action="store_true",
                   help="a file a chapter (\"07 - The Storm.mp3\", tagged with its title, the book as album, its "
                        "number as track), in the folder -o (default: the book's name beside it), as ACX wants a "
                        "book: MP3 at 44.1 kHz and 192k unless --format, --sample-rate or --bitrate say otherwise")
    p.add_argument("--chapters", metavar="LIST",
                   help="render only these chapters, numbered as --dry-run lists them: 1-3,7,10-, into \"BOOK "
                        "(chapters 1-3, 7).m4b\" unless -o names a file (the rest of the book can follow later: what "
                        "is rendered is kept)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the chapters with their segments, characters and estimated length, and what the "
                        "work folder holds already; render nothing")
    p.add_argument("--show-text", action="store_true",
                   help="as --dry-run, and print every segment as it will be spoken (after normalisation)")
    p.add_argument("--work-dir", help="where finished segments are kept (default: BOOK.work in the output's folder, shared by "
                        "the book's outputs there)")
    p.add_argument("--prune", action="store_true",
                   help="once the audiobook is written, delete the work folder's segments it no longer uses "
                        "(sentences edited away, another voice's or settings'); the whole book only")
    p.add_argument("--max-input-mb", type=int, default=200, help="refuse input files larger than this (default 200)")
    p.add_argument("--max-unpacked-mb", type=int, default=500,
                   help="refuse EPUBs that unpack beyond this (default 500: stops zip bombs)")
    p.set_defaults(func=cmd_book)

    p = sub.add_parser("voices", help="list the voices of an engine",
                       description="List an engine's voices; for the IndexTTS engines, the recordings in the voice "
                                   "library (INDEXSTUDIO_VOICES, default ~/.local/share/indexstudio/voices).")
    _engine_choice(p)
    p.add_argument("--listen", metavar="FOLDER",
                   help="write each voice saying the opening of a book, in its language, into FOLDER/<voice>.mp3, to "
                        "choose one by ear")
    p.add_argument("--text", help="with --listen: what the voices say (then only the voices of its language)")
    p.add_argument("--lang", help="with --listen: only the voices of this language (en, zh, fr, ...)")
    p.set_defaults(func=cmd_voices)

    p = sub.add_parser("bench", help="benchmarks (see `indexstudio bench decode --help`)")
    benches = p.add_subparsers(dest="bench", required=True)
    # each benchmark parses its own options: prefix_chars="+" hands every "--option" through untouched
    b = benches.add_parser("decode", help="GPT decode: the official way vs the batched runtime", add_help=False,
                           prefix_chars="+")
    b.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)
    return parser


class Terminated(KeyboardInterrupt):
    """A `kill` or a closed terminal (SIGHUP): the run ends as Ctrl-C ends it (temporary files go, segments stay),
    with the exit status of the signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop(signum, frame) -> None:
    """The first Ctrl-C, `kill` or hang-up ends the run; one more while it ends (closing the engine's threads,
    keeping what is finished) is told to wait instead of breaking the ending off with a traceback."""
    for stopping in _STOPPING_SIGNALS:
        signal.signal(stopping, _stopping)
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def _stopping(signum, frame) -> None:
    _say("indexstudio: stopping - finished work is being kept, a moment")


def _lost_stop(unraisable) -> None:
    """A stop that landed in code whose exceptions Python swallows (a garbage-collection finalizer: phonemizer's
    temporary folder) is sent again, so that the run ends as asked instead of going on; anything else as Python
    says it."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        for stopping in _STOPPING_SIGNALS:
            signal.signal(stopping, _stop)
        signum = getattr(unraisable.exc_value, "signum", signal.SIGINT)
        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()     # (once out of the finalizer)
        return
    sys.__unraisablehook__(unraisable)


def _say(line: str) -> None:
    """A line on stderr, where a closed terminal may have taken it away."""
    try:
        print(line, file=sys.stderr)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_to_console()
    if threading.current_thread() is threading.main_thread():
        sys.unraisablehook = _lost_stop
        for stopping in _STOPPING_SIGNALS:
            if stopping != signal.SIGHUP or signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:   # (nohup: on)
                signal.signal(stopping, _stop)
    try:
        if "engine" in args:
            args.engine = _chosen_engine(args)
        for flag in ("max_input_mb", "max_unpacked_mb"):
            if getattr(args, flag, 1) < 1:
                raise InputError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
        return args.func(args)
    except IndexStudioError as exc:
        print(f"indexstudio: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:                 # the reader of our output went away (`... --dry-run | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt as stop:
        resume = "; finished segments are kept, run the same command again to resume" if args.command == "book" else ""
        _say(f"indexstudio: {'terminated' if isinstance(stop, Terminated) else 'interrupted'}{resume}")
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)     # (through the interpreter's own ending too)
        return 128 + (stop.signum if isinstance(stop, Terminated) else signal.SIGINT)
    except Exception as exc:                # a fault of ours or of a file we did not foresee: one line, not a dump
        if _debug():
            raise
        lines = str(exc).strip().splitlines() or [""]
        message = lines[0] + (" ..." if len(lines) > 1 else "")
        where = "".join(f" ({note})" for note in getattr(exc, "__notes__", []))
        print(f"indexstudio: unexpected error: {type(exc).__name__}: {message}{where} "
              "(INDEXSTUDIO_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


class _QuietWhenUnread:
    """stderr that goes quiet when its reader went away (`book ... 2>&1 | head`, a `less` quit): the progress
    bar's next line ended a night's render, its audiobook unwritten."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._stream = open(os.devnull, "w", encoding="utf-8")
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._stream = open(os.devnull, "w", encoding="utf-8")

    def __getattr__(self, name: str) -> Any:             # (isatty, fileno, encoding: tqdm's questions)
        return getattr(self._stream, name)


def run() -> None:
    """The command: `main`, then its exit. A run a signal stopped (Ctrl-C, `kill`, a closed terminal) leaves at
    once, its finished work kept and its output flushed: the interpreter's own ending (the engine's threads and
    sessions closing) is none of the user's business, and another Ctrl-C during it broke it off (status -2, or
    134 with onnxruntime's "terminate called")."""
    sys.stderr = _QuietWhenUnread(sys.stderr or open(os.devnull, "w", encoding="utf-8"))     # (2>&-: None)
    try:
        code = main()
    except KeyboardInterrupt:               # (in the first moments, before main's own handler: while importing)
        _say("indexstudio: interrupted")
        code = 128 + signal.SIGINT
    if code > 128:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
