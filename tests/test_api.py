"""The Python interface: `indexstudio.speak`, `prepare_speech`, `open_audiobook` and `make_audiobook`, as a program
uses them - the same checks, work folders and files as the command line."""
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from helpers.readback import decode, probe
from helpers.synthetic_engine import SyntheticEngine

import indexstudio
from indexstudio.engines.base import Controls, SegmentAudio
from indexstudio.errors import InputError
from indexstudio.text.segment import DEFAULT_MAX_TOKENS

ROOT = Path(__file__).resolve().parents[1]
BOOK = """---
title: The Small Book
author: A. Writer
date: 1999-04-01
---

# One

The first sentence is here. A second one follows it.

Another paragraph ends the chapter.

# Two

Only one sentence lives in this chapter.
"""


class Backwards(SyntheticEngine):
    """Yields a call's segments last first, as an engine that batches may."""

    def synthesize(self, segments, voice, controls=Controls()):
        done = list(super().synthesize(segments, voice, controls))
        yield from (SegmentAudio(r.index, r.audio) for r in reversed(done))


def test_importing_the_package_loads_neither_torch_nor_an_engine():
    code = ("import sys, indexstudio; names = dir(indexstudio); "
            "assert {'speak', 'make_audiobook', 'get_engine'} <= set(names), names; "
            "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules; "
            "indexstudio.speak; assert 'torch' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    with pytest.raises(AttributeError, match="no attribute 'spek'"):
        indexstudio.spek


def test_speech_comes_a_segment_at_a_time_in_order_with_its_pauses():
    engine = Backwards()
    speech = indexstudio.prepare_speech("The first sentence is here. The second one is here.\n\nA new paragraph.",
                                        engine=engine, gap_ms=100, paragraph_gap_ms=500)
    assert speech.segments == ["The first sentence is here.", "The second one is here.", "A new paragraph."]
    assert engine.rendered == []                        # prepared, not spoken
    pieces = list(speech.pieces())
    alone = [r.audio for r in SyntheticEngine().synthesize(speech.segments, "tone")]
    rate = engine.sample_rate
    assert len(pieces) == 3 and np.array_equal(pieces[0], alone[0])           # no pause before the first
    assert np.array_equal(pieces[1], np.concatenate([np.zeros(rate // 10, np.float32), alone[1]]))
    assert np.array_equal(pieces[2], np.concatenate([np.zeros(rate // 2, np.float32), alone[2]]))
    assert np.array_equal(speech.audio(), np.concatenate(pieces))


def test_speak_writes_a_file_and_checks_everything_before_speaking(tmp_path, caplog):
    engine = SyntheticEngine()
    result = indexstudio.speak("Hello there. Goodbye now.", tmp_path / "sub" / "hi.wav", engine=engine, gap_ms=250)
    audio, rate = sf.read(result.output)
    assert rate == engine.sample_rate and result.segments == 2 and engine.rendered == ["Hello there.", "Goodbye now."]
    assert len(audio) / rate == pytest.approx(result.audio_seconds) and result.first_audio_seconds > 0
    assert len(audio) == sum(len(a.audio) for a in SyntheticEngine().synthesize(engine.rendered, "tone")) + rate // 4

    quiet = SyntheticEngine()
    for settings, why in [({"text": "  ... "}, "no speakable text"), ({"voice": " "}, "--voice is empty"),
                          ({"speed": 0}, "--speed must be positive"), ({"options": {"top_k": 5}}, "top_k"),
                          ({"lang": "xx"}, "--lang xx: not a language code"),
                          ({"max_segment_tokens": 0}, "--max-segment-tokens must be at least 1"),
                          ({"output": tmp_path / "hi.flac"}, "flac"), ({"gap_ms": -1}, "cannot be negative"),
                          ({"speed": "1.1"}, "--speed must be a number, got '1.1'"),
                          ({"sample_rate": 7}, "--sample-rate 7: give one of 22050, 24000, 44100, 48000"),
                          ({"text": tmp_path / "notes.txt"}, "must be a str, not PosixPath")]:
        call = {"text": "Hello.", "output": tmp_path / "new" / "bad.wav", "engine": quiet} | settings
        with pytest.raises(InputError, match=why):
            indexstudio.speak(call.pop("text"), call.pop("output"), **call)
    assert quiet.rendered == [] and not (tmp_path / "new").exists()       # refused before any folder was made
    caplog.clear()
    indexstudio.speak("Hello.", tmp_path / "hi.wav", engine=quiet, bitrate="128k")
    assert caplog.text.count("--bitrate has no effect on WAV output") == 1
    (tmp_path / "book.md").write_text("# A\n\nB.\n")
    indexstudio.open_audiobook(tmp_path / "book.md", tmp_path / "book.wav", engine=quiet,
                               settings=indexstudio.RenderSettings(bitrate="96k"))
    assert caplog.text.count("--bitrate has no effect on WAV output") == 2
    assert indexstudio.prepare_speech("Zorblax wins.", engine=quiet, voice=Path("low"),
                                      lexicon={"Zorblax": "Zor blacks"}).segments == ["Zor blacks wins."]


def test_an_audiobook_is_looked_at_then_rendered_then_resumed(tmp_path):
    (tmp_path / "small.md").write_text(BOOK)
    engine = SyntheticEngine()
    book = indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, chapters="2", narrator="",
                                      publisher="Us")
    # some chapters go beside the whole book, never over it, and share its work folder
    assert book.output == tmp_path / "small (chapter 2).m4b" and book.work_dir == tmp_path / "small.work"
    assert book.plan.chapters == ["Two"] and book.chapter_numbers == [1] and book.chapters_in_book == 2
    assert book.finished() == {} and not book.work_dir.exists() and engine.rendered == []   # looking writes nothing
    result = book.render()
    tags = probe(result.output)["tags"]
    assert tags["title"] == "The Small Book (chapter 2)" and tags["artist"] == "A. Writer" and tags["date"] == "1999-04-01"
    from mutagen.mp4 import MP4
    written = MP4(result.output).tags
    assert written["\xa9pub"] == ["Us"] and "----:com.apple.iTunes:NARRATOR" not in written   # narrator "": none
    assert result.rendered == 2 and [m.title for m in result.chapters] == ["Two"]

    seen = []
    whole = indexstudio.make_audiobook(tmp_path / "small.md", tmp_path / "out", engine=engine, fmt="wav",
                                       on_progress=seen.append, work_dir=tmp_path / "small.work")
    assert whole.output == tmp_path / "out" and sf.info(whole.output).format == "WAV"   # (no folder: the name)
    assert whole.resumed == 2 and whole.rendered == seen[-1].total - 2
    assert seen[-1].done == seen[-1].total and engine.rendered.count("Only one sentence lives in this chapter.") == 1
    assert [p.done for p in seen] == list(range(2, seen[-1].total + 1))      # a snapshot each, not one object

    assert indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, chapters="1-").output == \
        tmp_path / "small.m4b"                                                            # (all of them: the book)
    assert indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "one.m4b", engine=engine, chapters="1",
                                      ).output == tmp_path / "one.m4b"                        # (a file named: that)
    # another voice: the first voice's segments are stale, and pruning deletes them (the whole book only)
    segments = sorted((tmp_path / "small.work" / "segments").glob("*.flac"))
    low = indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "low.wav", engine=engine, voice="low",
                                     work_dir=tmp_path / "small.work")
    assert low.stale() == (len(segments), sum(f.stat().st_size for f in segments))
    with pytest.raises(InputError, match="--prune needs the whole book"):
        indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, chapters="1").render(prune=True)
    result = indexstudio.make_audiobook(tmp_path / "small.md", tmp_path / "low.wav", engine=engine, voice=Path("low"),
                                        work_dir=tmp_path / "small.work", prune=True)
    assert result.pruned == len(segments) and not any(f.exists() for f in segments) and low.stale() == (0, 0)
    assert len((tmp_path / "small.work" / "done.jsonl").read_text().splitlines()) == len(low.plan.segments)
    assert low.render().rendered == 0                        # what it rendered is all kept

    (tmp_path / "books").mkdir()
    assert indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "books", engine=engine,
                                      fmt="mp3").output == tmp_path / "books" / "small.mp3"
    assert indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "books", engine=engine, chapters=[2],
                                      fmt="mp3", year=2001).output == tmp_path / "books" / "small (chapter 2).mp3"
    assert indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, chapters=2).chapter_numbers == [1]
    assert indexstudio.open_audiobook(tmp_path / "small.md", f"{tmp_path}/new/", engine=engine).output == \
        tmp_path / "new" / "small.m4b"                                          # (a folder to be made: a slash)
    for nothing in ([], "", " "):                 # nothing ticked is no whole book
        with pytest.raises(InputError, match="no chapter given"):
            indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, chapters=nothing)
    long = tmp_path / ("A" * 240 + ".md")
    long.write_text(BOOK)
    with pytest.raises(InputError, match="a name too long for a file: give the chapters' file with -o"):
        indexstudio.open_audiobook(long, engine=engine, chapters="2")
    assert indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "books", engine=engine, chapters="1,2",
                                      fmt="mp3").output == tmp_path / "books" / "small.mp3"
    for settings, why in [({"year": "soon"}, "--year soon"), ({"chapters": "3"}, "the book has 2"),
                          ({"cover": tmp_path / "none.jpg"}, "none.jpg not found"),
                          ({"output": tmp_path / "small.md", "fmt": "mp3"}, "is the book itself"),
                          ({"settings": indexstudio.RenderSettings(bitrate="900k")}, "bitrate"),
                          ({"settings": {"bitrate": "96k"}}, "settings must be a RenderSettings"),
                          ({"chapters": 2.5}, "give chapter numbers from 1"),
                          ({"chapters": "abc"}, "'abc' is not a chapter number or range"),
                          ({"output": tmp_path / "new" / "x.m4b", "year": 99}, "--year 99: give a year")]:
        with pytest.raises(InputError, match=why):
            indexstudio.make_audiobook(tmp_path / "small.md", **({"engine": engine} | settings))
    assert not (tmp_path / "new").exists()


def test_every_output_of_a_book_in_one_folder_shares_its_work_folder(tmp_path):
    """A chapter tried under a name of its own, the whole book, another format, a file a chapter: BOOK.work in the
    output's folder serves them all, so nothing is rendered twice; a chapter is never written over the whole book."""
    (tmp_path / "small.md").write_text(BOOK)
    engine = SyntheticEngine()
    out = tmp_path / "out"
    out.mkdir()
    trial = indexstudio.open_audiobook(tmp_path / "small.md", out / "try.m4b", engine=engine, chapters=1)
    assert trial.work_dir == out / "small.work" and (tried := trial.render().rendered) > 0
    whole = indexstudio.open_audiobook(tmp_path / "small.md", out / "Small Book.m4b", engine=engine)
    assert whole.work_dir == out / "small.work" and whole.render().resumed == tried
    split = indexstudio.open_audiobook(tmp_path / "small.md", out / "acx", engine=engine, split_chapters=True)
    assert split.work_dir == out / "small.work" and split.render().rendered == 0
    with pytest.raises(InputError, match=r"Small Book.m4b holds 2 chapters: --chapters 1 would replace it with fewer; "
                                         r"name another file, such as \".*/out/Small Book \(chapter 1\).m4b\""):
        indexstudio.open_audiobook(tmp_path / "small.md", out / "Small Book.m4b", engine=engine, chapters="1")
    assert len(probe(out / "Small Book.m4b")["chapters"]) == 2
    (tmp_path / "copies").mkdir()                      # a copy the work folder never wrote: its own marks say it
    for whole in ("Small Book.m4b", "acx/01 - One.mp3"):
        (tmp_path / "copies" / Path(whole).name).write_bytes((out / whole).read_bytes())
    with pytest.raises(InputError, match="Small Book.m4b holds 2 chapters"):
        indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "copies" / "Small Book.m4b", engine=engine,
                                   chapters="1")
    assert indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "copies" / "01 - One.mp3", engine=engine,
                                      chapters="1").output == tmp_path / "copies" / "01 - One.mp3"   # (1 over 1)
    # a work folder an earlier run left under the output's name is used on
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "mine.work").mkdir()
    assert indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "elsewhere" / "mine.m4b",
                                      engine=engine).work_dir == tmp_path / "elsewhere" / "mine.work"


def test_a_long_chapter_title_names_its_file_in_whole_words(tmp_path):
    """A chapter file's name stays short enough for Windows' paths and a player's list, cut after a word."""
    long = "The Extraordinary and Altogether Unlikely Voyage of the Good Ship Perseverance Across the Southern Ocean"
    long += " Beneath Unforgiving Skies"
    (tmp_path / "small.md").write_text(BOOK.replace("# Two", f"# {long}").replace("# One", "# 第一章 " + "山" * 60))
    first, second = indexstudio.open_audiobook(tmp_path / "small.md", engine=SyntheticEngine(),
                                               split_chapters=True).chapter_files()
    assert second.name == f"02 - {long.removesuffix(' Beneath Unforgiving Skies')}.mp3"
    assert first.name == "01 - 第一章 " + "山" * 33 + ".mp3"                 # (no spaces: cut between characters)
    assert max(len(first.name.encode()), len(second.name.encode())) <= 120


def test_a_book_as_a_file_a_chapter_shares_the_whole_books_segments(tmp_path, caplog):
    """ACX wants a file a chapter: --split-chapters writes them as it wants them (MP3 at 44.1 kHz, 192 kb/s),
    tagged, each with the book's lead and tail, and takes away those of chapters the book no longer has."""
    (tmp_path / "small.md").write_text(BOOK.replace("# Two", "# Two: The Clock?"))
    engine = SyntheticEngine()
    book = indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, split_chapters=True)
    assert book.output == tmp_path / "small" and book.work_dir == tmp_path / "small.work" and book.fmt == "mp3"
    files = [tmp_path / "small" / "01 - One.mp3", tmp_path / "small" / "02 - Two - The Clock.mp3"]
    assert book.chapter_files() == files
    result = book.render()
    assert result.written and result.rendered == len(book.plan.segments)
    assert [r.output for r in result.files] == files and all(r.written for r in result.files)
    for part in result.files:           # the level as ACX measures it: the whole file, its silences too, brought
        decoded = decode(part.output, 44100).astype(np.float64)           # inside ACX's -23 to -18 dB
        assert part.rms_db == pytest.approx(10 * np.log10(np.mean(decoded ** 2)), abs=0.5)
        assert -21.5 < 10 * np.log10(np.mean(decoded ** 2)) < -19.5 and "outside ACX's" not in caplog.text
        assert 20 * np.log10(np.abs(decoded).max()) < -3.5             # (turned up, its peaks kept under ACX's -3 dB)
    for number, (path, title) in enumerate(zip(files, ["One", "Two: The Clock?"]), 1):
        info = probe(path)
        assert info["tags"]["title"] == title and info["tags"]["album"] == "The Small Book"
        assert info["tags"]["track"] == f"{number}/2" and info["tags"]["artist"] == "A. Writer"
        assert info["rate"] == 44100
        with av.open(str(path)) as container:
            assert container.streams.audio[0].bit_rate == 192000
        chapter = [s for s in book.plan.segments if s.chapter == number - 1]
        spoken = sum(len(a.audio) for a in SyntheticEngine().synthesize([s.text for s in chapter], "tone")) / 16000
        pauses = 0.5 + sum(book.settings.pause_after_ms(chapter, n) for n in range(len(chapter))) / 1000
        assert info["duration"] == pytest.approx(spoken + pauses, abs=0.1)      # lead 0.5 s ... tail 1 s
    assert result.audio_seconds == pytest.approx(sum(probe(f)["duration"] for f in files), abs=0.2)
    again = book.render()
    assert not again.written and again.rendered == 0 and not any(r.written for r in again.files)
    whole = indexstudio.make_audiobook(tmp_path / "small.md", engine=engine)   # the whole book: no rendering
    assert whole.output == tmp_path / "small.m4b" and whole.rendered == 0
    # elsewhere, in another format, some chapters: the book's own work folder, the book's title as album
    part = indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "acx", engine=engine, split_chapters=True,
                                      chapters="2", fmt="wav")
    assert part.chapter_files() == [tmp_path / "acx" / "02 - Two - The Clock.wav"]
    assert part.work_dir == tmp_path / "small.work" and part.render().rendered == 0
    assert sf.info(part.chapter_files()[0]).samplerate == 16000       # (WAV: no ACX settings)
    wav = sf.SoundFile(part.chapter_files()[0])
    assert wav.album == "The Small Book" and wav.title == "Two: The Clock?" and wav.tracknumber == "2/2"
    # a chapter renamed, one added: the files of before go, one edited since stays (with a warning)
    (tmp_path / "small.md").write_text(BOOK.replace("# One", "# Prologue\n\nA start.\n\n# One"))
    files[1].write_bytes(files[1].read_bytes())                                   # (a file edited since)
    result = indexstudio.make_audiobook(tmp_path / "small.md", engine=engine, split_chapters=True)
    assert sorted(f.name for f in (tmp_path / "small").iterdir()) == [
        "01 - Prologue.mp3", "02 - One.mp3", "02 - Two - The Clock.mp3", "03 - Two.mp3"]
    assert result.removed == [files[0]]
    for output, why in [(tmp_path / "x.mp3", "writes a folder, a file a chapter, not x.mp3: give -o a folder"),
                        (tmp_path / "small.md", "small.md is a file: --split-chapters writes a folder")]:
        with pytest.raises(InputError, match=why):
            indexstudio.open_audiobook(tmp_path / "small.md", output, engine=engine, split_chapters=True)


def test_a_chapter_file_too_sparse_to_bring_inside_acxs_level_is_warned_about(tmp_path, caplog):
    """A file is turned up 6 dB at most to reach ACX's RMS window (a minute of silence after a sentence cannot be
    made right by gain): it is said, with what to change; the whole book's M4B keeps the segments' own levels."""
    (tmp_path / "small.md").write_text(BOOK)
    engine = SyntheticEngine()
    settings = indexstudio.RenderSettings(tail_ms=60_000)
    result = indexstudio.make_audiobook(tmp_path / "small.md", engine=engine, split_chapters=True, settings=settings)
    for part in result.files:
        assert part.rms_db < -23 and f"{part.output.name}: RMS {part.rms_db:.1f} dB, outside ACX's" in caplog.text
    assert "ACX asks for 0.5-1 s of silence before a chapter file's words and 1-5 s after them; these have 0.5 s and " \
           "60 s (--lead-ms, --tail-ms)" in caplog.text
    whole = indexstudio.make_audiobook(tmp_path / "small.md", engine=engine)
    quiet = indexstudio.make_audiobook(tmp_path / "small.md", tmp_path / "quiet.m4b", engine=engine, settings=settings)
    assert whole.rendered == quiet.rendered == 0                  # the same energy over a longer file: no gain
    assert quiet.rms_db == pytest.approx(whole.rms_db + 10 * np.log10(whole.audio_seconds / quiet.audio_seconds),
                                         abs=0.2)


def test_a_folder_of_chapters_goes_beside_the_folder(tmp_path, monkeypatch):
    folder = tmp_path / "my.novel"
    folder.mkdir()
    (folder / "01.txt").write_text("It was a dark night.\n")
    (folder / "02.txt").write_text("The clock struck.\n")
    monkeypatch.chdir(folder)
    engine = SyntheticEngine()
    book = indexstudio.open_audiobook(".", engine=engine)
    assert book.output == tmp_path / "my.novel.m4b" and book.work_dir == tmp_path / "my.novel.work"
    assert book.plan.chapters == ["Chapter 1", "Chapter 2"] and book.metadata.title == "" and \
        book.plan.title == "My.novel"
    split = indexstudio.open_audiobook(".", engine=engine, split_chapters=True)
    assert split.output == tmp_path / "my.novel audiobook" and split.work_dir == book.work_dir
    assert split.render().rendered == 2 and book.render().rendered == 0


def test_a_run_that_asks_otherwise_than_the_last_says_what_changed(tmp_path, caplog):
    """A voice, speed or lexicon left out by mistake re-renders a whole book: the run names what it changed."""
    (tmp_path / "small.md").write_text(BOOK)
    engine = SyntheticEngine()
    first = indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, lexicon={"Two": "Deux"})
    assert first.changes() == []                                                    # (no run before it)
    first.render()
    assert indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, lexicon={"Two": "Deux"}).changes() == []
    shorter = indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, lexicon={"Two": "Deux"},
                                         max_segment_tokens=6)            # (a flag forgotten: half the book again)
    assert shorter.changes() == [f"--max-segment-tokens {DEFAULT_MAX_TOKENS} -> 6"]
    other = indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, voice="low", seed=7)
    assert other.changes() == ["voice tone -> low", "seed none -> 7", "lexicon given -> none"]
    other.check_ready()                                 # (a check, or a run stopped before it renders, notes nothing)
    assert other.changes() == ["voice tone -> low", "seed none -> 7", "lexicon given -> none"]
    estimate = other.estimate()                         # (what --dry-run prints, from Python)
    assert estimate.paced_by == 0 and estimate.seconds == pytest.approx(sum(estimate.chapters)) and estimate.seconds > 1
    assert first.estimate().paced_by == len(first.plan.segments)     # (all rendered: their own lengths)
    with caplog.at_level("WARNING", logger="indexstudio"):             # a program's render says it too, once
        other.say_changes()
        other.render()
    assert caplog.text.count("this run asks otherwise than the last one") == 1 and "voice tone -> low" in caplog.text
    other = indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, voice="low", seed=7)
    r = subprocess.run([sys.executable, "-m", "indexstudio", "book", str(tmp_path / "small.md"), "--dry-run"],
                       capture_output=True, text=True)
    assert "this run asks otherwise than the last one in" in r.stderr and "engine synthetic -> kokoro" in r.stderr
    # and the real run says it too, before it notes its own settings (it did not: the notice read them back)
    book = [sys.executable, "-m", "indexstudio", "book", str(tmp_path / "small.md"), "--chapters", "2"]
    r = subprocess.run(book, capture_output=True, text=True)
    assert r.returncode == 0 and "asks otherwise" in r.stderr and "engine synthetic -> kokoro" in r.stderr, r.stderr
    r = subprocess.run(book, capture_output=True, text=True)
    assert r.returncode == 0 and "asks otherwise" not in r.stderr, r.stderr


def test_credits_open_and_close_the_book_in_its_language(tmp_path):
    (tmp_path / "small.md").write_text(BOOK)
    engine = SyntheticEngine()

    def credits(**settings):
        plan = indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, credits=True, **settings).plan
        said = [[s.text for s in plan.segments if s.chapter == c] for c in (0, len(plan.chapters) - 1)]
        return plan.chapters, said

    chapters, said = credits()
    assert chapters == ["Opening Credits", "One", "Two", "Closing Credits"]
    assert said == [["The Small Book, by A. Writer.", "Read by a digital voice."],
                    ["This was The Small Book, by A. Writer.", "The end."]]
    assert credits(narrator="Jane Doe")[1][0][1] == "Read by Jane Doe." and len(credits(narrator="")[1][0]) == 1
    (tmp_path / "small.md").write_text("# 第一章\n\n天亮了。\n")
    assert credits(title="灯塔", author="")[1] == [["《灯塔》。由数字语音朗读。"], ["《灯塔》。全书完。"]]
    assert credits(title="灯塔", author="")[0] == ["片头", "第一章", "片尾"]
    chapters, said = credits(title="Nana", author="Émile Zola", lang="fr")      # (elided: "d'Émile")
    assert chapters[0] == "Générique de début" and said[0][0] == "Nana, d'Émile Zola."


def test_an_engine_is_built_once_however_its_folder_is_written():
    from conftest import GOLDEN
    folder = GOLDEN / "indextts2"
    assert indexstudio.get_engine("indextts2", model_dir=folder) is \
        indexstudio.get_engine("indextts2", model_dir=f"{folder}/") is \
        indexstudio.get_engine("indextts2", model_dir=str(folder / "cases" / ".."))


def test_the_command_line_finds_what_the_python_interface_rendered(tmp_path):
    """One work folder, one set of segment keys: a book begun from a program is finished by the command, and a
    chapter tried afterwards goes beside the finished book (it used to replace the book's file)."""
    (tmp_path / "small.md").write_text(BOOK)
    first = indexstudio.make_audiobook(tmp_path / "small.md", fmt="mp3", chapters="1")
    assert first.rendered > 0 and first.output == tmp_path / "small (chapter 1).mp3" and first.output.is_file()

    def book(*flags):
        r = subprocess.run([sys.executable, "-m", "indexstudio", "book", str(tmp_path / "small.md"), "--format", "mp3",
                            *flags], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert f"2 segments rendered + {first.rendered} resumed" in book()       # (chapter 2: its title, a sentence)
    whole = tmp_path / "small.mp3"
    written = whole.stat().st_mtime_ns
    assert "0 segments rendered" in book("--chapters", "2")
    assert [c[2] for c in probe(tmp_path / "small (chapter 2).mp3")["chapters"]] == ["Two"]
    assert whole.stat().st_mtime_ns == written and len(probe(whole)["chapters"]) == 2
    (tmp_path / "small.md").write_text(BOOK.replace("A second one follows it.", "A second one came after it."))
    assert "; 1 segment file (" in book() and "the book no longer has: --prune deletes them" in book()
    assert "; 1 segment file (" in book("--dry-run") and "the book no longer uses (--prune)" in book("--dry-run")
    assert "; 1 segment file it no longer used (" in book("--prune")
    assert "--prune" not in book()
    split = book("--split-chapters")
    assert split.startswith(f"wrote {tmp_path / 'small'}/ (2 chapters, a file each, mp3)") and "0 segments rendered" in split
    assert sorted(f.name for f in (tmp_path / "small").iterdir()) == ["01 - One.mp3", "02 - Two.mp3"]


def test_an_engine_setting_misspelt_is_named_as_one():
    """A misspelt keyword read as a model file's role ("unknown model file role(s) ['devce']"), a plain ValueError."""
    from conftest import GOLDEN
    with pytest.raises(indexstudio.EngineError, match=r"engine indextts2 does not take devce; it takes model_dir, "
                                                      r"device, .*, or a model file's path by its role \(bigvgan, "):
        indexstudio.get_engine("indextts2", model_dir=GOLDEN / "indextts2", devce="cpu")
    with pytest.raises(indexstudio.EngineError, match=r"from Python: get_engine\('indextts2', model_dir=\.\.\.\)"):
        indexstudio.get_engine("indextts2")


def test_a_recording_replaced_in_place_and_an_emotion_are_named_among_the_changes(tmp_path):
    """`me.wav` re-recorded re-renders the book: the run says so; an option a flag gives is named by the flag."""
    from conftest import GOLDEN
    (tmp_path / "small.md").write_text(BOOK)
    prompt = GOLDEN / "indextts2" / "cases" / "prompt_en_22k.wav"
    me = tmp_path / "me.wav"
    me.write_bytes(prompt.read_bytes())
    engine = indexstudio.get_engine("indextts2", model_dir=GOLDEN / "indextts2")      # (no weights are loaded)
    job = indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, voice=me).job
    job.open()                                          # (notes its settings in the work folder, as a render does)
    job.close()
    audio, rate = sf.read(prompt)
    sf.write(me, audio[: len(audio) * 3 // 4], rate)
    again = indexstudio.open_audiobook(tmp_path / "small.md", engine=engine, voice=me,
                                       options={"emo_vector": "sad=0.5", "top_k": 20})
    assert again.changes() == ["--emotion default -> sad=0.5", "option top_k default -> 20",
                               f"voice {me} (its recording changed)"]


def test_a_book_written_into_another_folder_reuses_the_segments_rendered_for_the_first(tmp_path, monkeypatch,
                                                                                       caplog):
    """-o a/small.m4b, then -o b/small.mp3: the second run rendered the whole book again (hours on a CPU), its
    work folder being new; the state folder notes where a book's segments are, and the run says it uses them."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "small.md").write_text(BOOK)
    engine = SyntheticEngine()
    first = indexstudio.make_audiobook(tmp_path / "small.md", tmp_path / "a" / "small.m4b", engine=engine)
    assert first.rendered > 0 and (tmp_path / "a" / "small.work").is_dir()
    caplog.set_level(logging.INFO, logger="indexstudio")
    other = indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "b" / "small.mp3", engine=engine)
    assert other.work_dir == tmp_path / "a" / "small.work" and other.render().rendered == 0
    assert f"the segments of small.md rendered for {tmp_path / 'a'} are in {tmp_path / 'a' / 'small.work'}: they " \
           f"are reused" in caplog.text
    assert probe(tmp_path / "b" / "small.mp3")["duration"] == pytest.approx(first.audio_seconds, abs=0.1)
    low = indexstudio.make_audiobook(tmp_path / "small.md", tmp_path / "b" / "low.m4b", engine=engine, voice="low",
                                     prune=True)          # another voice there, pruned: a/'s audiobook keeps its own
    assert low.rendered > 0 and low.pruned == 0
    assert indexstudio.make_audiobook(tmp_path / "small.md", tmp_path / "a" / "small.m4b", engine=engine).rendered == 0
    import fcntl
    with open(tmp_path / "a" / "small.work" / "lock", "a+") as held:          # being rendered into: not shared
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "e" / "small.m4b",
                                          engine=engine).work_dir == tmp_path / "e" / "small.work"
    note = tmp_path / "state" / "indexstudio" / "work_folders.json"
    note.write_text(json.dumps({str((tmp_path / "small.md").resolve()): 5}))    # (edited by hand: started anew)
    assert indexstudio.make_audiobook(tmp_path / "small.md", tmp_path / "f" / "small.m4b", engine=engine).written
    assert json.loads(note.read_text())[str((tmp_path / "small.md").resolve())] == [str(tmp_path / "f" / "small.work")]
    for gone in ("a", "f"):                                 # gone: the next run elsewhere starts its own
        shutil.rmtree(tmp_path / gone)
    assert indexstudio.open_audiobook(tmp_path / "small.md", tmp_path / "c" / "small.m4b",
                                      engine=engine).work_dir == tmp_path / "c" / "small.work"
    shutil.rmtree(tmp_path / "state")
    (tmp_path / "state").write_text("not a folder")          # a state folder that cannot be written: nothing is noted
    assert indexstudio.make_audiobook(tmp_path / "small.md", tmp_path / "d" / "small.m4b",   # the book is written
                                      engine=engine).written


def test_two_books_of_one_name_in_one_folder_keep_each_others_segments(tmp_path):
    """b1/tiny.md and b2/tiny.md written into out/ share out/tiny.work: the run names the other book, and --prune
    of one leaves the segments of the other's audiobook (it deleted them)."""
    for folder, title in (("b1", "Tiny Book"), ("b2", "Other Tiny")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "tiny.md").write_text(f"---\ntitle: {title}\n---\n\n# One\n\n{title} begins here.\n")
    engine = SyntheticEngine()
    (tmp_path / "out").mkdir()
    first = indexstudio.make_audiobook(tmp_path / "b1" / "tiny.md", tmp_path / "out" / "Final.m4b", engine=engine)
    other = indexstudio.open_audiobook(tmp_path / "b2" / "tiny.md", tmp_path / "out" / "other.m4b", engine=engine)
    assert other.work_dir == tmp_path / "out" / "tiny.work" and other.changes()[0] == "book 'Tiny Book' -> 'Other Tiny'"
    assert other.stale() == (0, 0) and other.render(prune=True).pruned == 0
    assert indexstudio.make_audiobook(tmp_path / "b1" / "tiny.md", tmp_path / "out" / "Final.m4b",
                                      engine=engine).rendered == 0 < first.rendered
    (tmp_path / "out" / "Final.m4b").unlink()              # its audiobook gone, its segments are the other's to prune
    assert other.stale()[0] == first.rendered - 1           # (the title "One." both books say stays)


def test_values_of_the_wrong_kind_from_python_are_input_errors(tmp_path):
    """A program's mistakes ("400" for a pause, +20 LUFS, lang=5) were TypeErrors and AttributeErrors, some of
    them only once rendering had started."""
    (tmp_path / "small.md").write_text(BOOK)
    for settings, why in [(dict(segment_gap_ms="400"), "segment_gap_ms='400'"), (dict(bucket_size="4"), "bucket_size"),
                          (dict(loudness="loud"), "loudness='loud'"), (dict(loudness=20.0), "from -50 to -5"),
                          (dict(bitrate=64), "bitrate=64")]:
        with pytest.raises(InputError, match=why):
            indexstudio.RenderSettings(**settings)
    for call, why in [(lambda: indexstudio.prepare_speech("Hi.", lang=5), "--lang must be a language code"),
                      (lambda: indexstudio.prepare_speech("Hi.", engine=42), "give an engine's name"),
                      (lambda: indexstudio.prepare_speech("Hi.", seed=2.5), "--seed must be a whole number"),
                      (lambda: indexstudio.prepare_speech("Hi.", gap_ms="400"), "whole numbers"),
                      (lambda: indexstudio.open_audiobook(5), "a file or folder's path"),
                      (lambda: indexstudio.open_audiobook(tmp_path / "small.md", limits=None), "must be a Limits")]:
        with pytest.raises(InputError, match=why):
            call()
    assert indexstudio.prepare_speech("Hi.", speed=np.float32(1.2)).segments == ["Hi."]


def test_a_short_text_in_another_language_read_by_the_default_voice_is_said(caplog):
    """"Il est arrivé hier soir." is too short to choose a voice by, and was read by the US English voice without
    a word."""
    kokoro = indexstudio.get_engine("kokoro")
    if not any(v.language.startswith("fr") for v in kokoro.voices()):
        pytest.skip("no French voice installed (setup adds them from npm)")
    with caplog.at_level("WARNING", logger="indexstudio"):
        assert indexstudio.prepare_speech("Il est arrivé hier soir.").voice == kokoro.default_voice
        assert "looks like language 'fr'" in caplog.text and "--lang fr" in caplog.text
        caplog.clear()
        indexstudio.prepare_speech("Mozart wrote it at 5 p.m.")
        indexstudio.prepare_speech("Il est arrivé hier soir.", lang="fr")
        assert "looks like" not in caplog.text


def test_release_engines_lets_go_of_the_shared_engines():
    """An application switching models kept every engine get_engine built for the life of the process."""
    first = indexstudio.get_engine("kokoro")
    assert indexstudio.prepare_speech("Hi.", engine=first).audio().size
    indexstudio.release_engines()
    assert not first._runners and first._solo is None and first._executor is None      # (its sessions let go)
    second = indexstudio.get_engine("kokoro")
    assert second is not first and second is indexstudio.get_engine("kokoro")
    assert indexstudio.prepare_speech("Hi.", engine=first).audio().size                 # (a closed one starts again)
