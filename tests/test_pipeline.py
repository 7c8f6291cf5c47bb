import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.disk import fill
from helpers.epub import make_epub
from helpers.readback import decode, probe
from helpers.synthetic_engine import SyntheticEngine

from indexstudio.audio.processing import DEFAULT_LOUDNESS, loudness
from indexstudio.books.reader import Book, Chapter, read_book
from indexstudio.engines.base import Controls
from indexstudio.errors import EngineError, IndexStudioError, InputError
from indexstudio.pipeline.job import Job, RenderSettings, render_book
from indexstudio.pipeline.plan import chapter_selection, estimated_seconds, make_plan, plan_chapters
from indexstudio.text.lexicon import Lexicon

BOOK = Book("Test Book", [
    Chapter("Chapter One", "The first sentence is here. A second sentence follows it closely. And a third one."),
    Chapter("Chapter Two", "Only one sentence lives in this chapter, and it is rather long."),
    Chapter("Chapter Three", "Short. Then a longer sentence to finish the book properly."),
], author="Tester")


def test_plan_reads_titles_and_numbers_segments():
    plan = make_plan(BOOK, SyntheticEngine(), "tone")
    assert plan.chapters == ["Chapter One", "Chapter Two", "Chapter Three"]
    assert [s.index for s in plan.segments] == list(range(len(plan.segments)))
    assert plan.segments[0].text == "Chapter One."
    assert [s.chapter for s in plan.segments] == sorted(s.chapter for s in plan.segments)
    with pytest.raises(InputError, match="no speakable text"):
        make_plan(Book("Empty", [Chapter("", "... !!!")]), SyntheticEngine(), "tone", read_titles=False)


def test_chapters_picked_keep_their_segments_keys(tmp_path):
    """A chapter rendered alone and the whole book share their segments (the book's opening stays its own)."""
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    assert chapter_selection("3, 1", 3) == [0, 2] and chapter_selection("2-", 3) == [1, 2]
    for bad, why in [("4", "the book has 3"), ("2-1", "low to high"), ("a", "not a chapter number")]:
        with pytest.raises(InputError, match=why):
            chapter_selection(bad, 3)
    whole = Job(tmp_path / "w", plan, engine, "tone")
    for chosen in ([1, 2], [0, 2]):
        part = plan.only(chosen)
        assert part.chapters == [plan.chapters[c] for c in chosen] and part.opening == (0 in chosen)
        assert [s.index for s in part.segments] == list(range(len(part.segments)))
        texts = {s.text: whole.keys[s.index] for s in plan.segments if s.chapter in chosen}
        assert {s.text: Job(tmp_path / "w", part, engine, "tone").keys[s.index] for s in part.segments} == texts
    assert not (tmp_path / "w").exists()              # looking at a job writes nothing
    credited = make_plan(Book(BOOK.title, [Chapter("Opening Credits", "Test Book, by Tester.", read_title=False),
                                           *BOOK.chapters]), engine, "tone")
    assert Job(tmp_path / "w", credited, engine, "tone").keys[1] == whole.keys[0]   # (credits added: the first
                                                                    # sentence keeps its segment)
    steady = SyntheticEngine()
    steady.samples = False                             # a seed changes nothing it says: it keeps its segments
    assert (Job(tmp_path / "w", plan, steady, "tone", Controls(seed=1)).keys
            == Job(tmp_path / "w", plan, steady, "tone", Controls(seed=2)).keys
            != Job(tmp_path / "w", plan, engine, "tone", Controls(seed=2)).keys)
    assert estimated_seconds("word " * 35) == pytest.approx(2 * estimated_seconds("word " * 17 + "word"), rel=0.05)
    assert estimated_seconds("今天天气很好。") > estimated_seconds("It is fine.")


class _CountingEngine(SyntheticEngine):
    """A synthetic engine that notes what it normalises, and says nothing for "Unsaid." (a word it drops)."""
    def __init__(self):
        super().__init__()
        self.normalised = []

    def normalize(self, text, language):
        self.normalised.append(text)
        return "" if text == "Unsaid." else super().normalize(text, language)


def test_chapters_picked_are_planned_alone_as_the_whole_plan_has_them():
    """Trying chapter 3 of a long book normalises chapter 3 alone; its plan is the whole plan's chapter 3 (a chapter
    with nothing to say is no chapter, in either)."""
    book = Book("Picked", [Chapter("Front", "* * *", read_title=False), *BOOK.chapters,
                           Chapter("Four", "A last sentence here.")])
    whole = make_plan(book, SyntheticEngine(), "tone")
    for spec, chosen in [("3", [2]), ("1,4", [0, 3]), ("2-", [1, 2, 3])]:
        engine = _CountingEngine()
        plan, numbers, count = plan_chapters(book, engine, "tone", spec)
        assert (numbers, count) == (chosen, 4)
        assert plan.to_json() == whole.only(chosen).to_json()
        assert not any("Only one sentence" in t for t in engine.normalised) or 1 in chosen
        assert not any("A last sentence" in t for t in engine.normalised) or 3 in chosen
    plan, numbers, count = plan_chapters(book, SyntheticEngine(), "tone")
    assert plan.to_json() == whole.to_json() and (numbers, count) == ([0, 1, 2, 3], 4)
    # a chapter picked whose words normalise to nothing: numbered as the whole plan numbers them
    odd = Book("Odd", [Chapter("", "Unsaid.", read_title=False), *BOOK.chapters])
    plan, numbers, count = plan_chapters(odd, _CountingEngine(), "tone", "1")
    assert (numbers, count, plan.chapters) == ([0], 3, ["Chapter One"])


def test_resume_renders_only_what_is_missing(tmp_path):
    plan = make_plan(BOOK, SyntheticEngine(), "tone")
    n = len(plan.segments)
    failing = SyntheticEngine(fail_at_call=4)
    with pytest.raises(RuntimeError) as failure:
        render_book(plan, failing, "tone", tmp_path / "b.wav", tmp_path / "work")
    assert len(failing.rendered) == 4
    fifth = plan.segments[4]
    words = " ".join(fifth.text.split()[:8])
    # the first engine call held segments 1-6 (text order, 6 at a time): 5 and 6 were left unfinished
    assert failure.value.__notes__ == [f"while rendering segments 5, 6 of {n} (chapter {plan.chapters[fifth.chapter]!r}, "
                                       f"{words!r}...). 4 finished segment(s) are kept in "
                                       f"{tmp_path / 'work'}; run the same command again to go on from there"]
    assert len((tmp_path / "work" / "done.jsonl").read_text().splitlines()) == 4   # finished work was kept
    assert not (tmp_path / "b.wav").exists()

    engine = SyntheticEngine()
    result = render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "work")
    assert len(engine.rendered) == n - 4 and (result.resumed, result.rendered) == (4, n - 4)
    again = SyntheticEngine()
    render_book(plan, again, "tone", tmp_path / "b.wav", tmp_path / "work")
    assert again.rendered == []
    # A different voice is different audio: nothing is reused.
    other = SyntheticEngine()
    render_book(plan, other, "low", tmp_path / "c.wav", tmp_path / "work")
    assert len(other.rendered) == n


def test_an_engine_error_names_the_segments_and_what_was_kept(tmp_path):
    """The CLI prints an IndexStudioError's message alone, so the message says where the book failed."""
    plan = make_plan(BOOK, SyntheticEngine(), "tone")
    failing = SyntheticEngine(fail_at_call=3, fail_with=EngineError)
    settings = RenderSettings(mode="batch", bucket_size=4)
    with pytest.raises(EngineError) as failure:
        render_book(plan, failing, "tone", tmp_path / "b.wav", tmp_path / "work", settings=settings)
    first = Job(tmp_path / "work", plan, failing, "tone", settings=settings).batches(list(range(len(plan.segments))))[0]
    message = str(failure.value)      # the fourth segment of the first bucket failed
    assert message.startswith(f"segment {first[3] + 1} of {len(plan.segments)} (chapter ")
    assert ": synthetic failure. 3 finished segment(s) are kept in" in message and "go on from there" in message


def test_edited_text_rerenders_only_the_changed_segment(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w")
    plan.segments[2].text = "A different second sentence."
    engine2 = SyntheticEngine()
    render_book(plan, engine2, "tone", tmp_path / "b.wav", tmp_path / "w")
    assert engine2.rendered == ["A different second sentence."]


def test_a_lexicon_entry_rerenders_only_the_segments_it_changes(tmp_path):
    """A pronunciation fixed after the book was rendered costs the segments that hold the word, and the
    chapter title is respelled as the text is."""
    book = Book("Test Book", [Chapter("Hermione", "Hermione smiled. The rain fell. The wind rose.")])
    engine = SyntheticEngine()
    render_book(make_plan(book, engine, "tone"), engine, "tone", tmp_path / "b.wav", tmp_path / "w")
    lexicon = Lexicon({"Hermione": "Her-my-oh-nee"})
    again = SyntheticEngine()
    render_book(make_plan(book, again, "tone", lexicon=lexicon), again, "tone", tmp_path / "b.wav", tmp_path / "w")
    assert sorted(again.rendered) == ["Her-my-oh-nee smiled.", "Her-my-oh-nee."]
    assert lexicon.uses == {"Hermione": 2}


def test_normal_mode_hands_the_engine_consecutive_segments_bucket_size_at_a_time(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    n = len(plan.segments)
    render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w", settings=RenderSettings(bucket_size=3))
    assert engine.batches == [3] * (n // 3) + ([n % 3] if n % 3 else [])
    assert engine.rendered == [s.text for s in plan.segments]          # in text order
    job = Job(tmp_path / "w2", plan, engine, "tone", settings=RenderSettings(bucket_size=4))
    assert job.batches([0, 2, 3, 5, 6, 7]) == [[0, 2, 3, 5], [6, 7]]   # what is left of a resumed book, in order
    one = SyntheticEngine()
    render_book(plan, one, "tone", tmp_path / "c.wav", tmp_path / "w3", settings=RenderSettings(bucket_size=1))
    assert one.batches == [1] * n


def test_batch_mode_buckets_segments(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w", settings=RenderSettings(mode="batch", bucket_size=3))
    assert max(engine.batches) == 3 and sum(engine.batches) == len(plan.segments)
    assert len(engine.batches) == -(-len(plan.segments) // 3)


def test_m4b_chapters_sit_on_the_real_segment_boundaries(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    settings = RenderSettings(segment_gap_ms=200, chapter_gap_ms=1500)
    result = render_book(plan, engine, "tone", tmp_path / "b.m4b", tmp_path / "w", settings=settings)
    info = probe(tmp_path / "b.m4b")
    assert [c[2] for c in info["chapters"]] == plan.chapters
    # Find chapter starts independently: the first speech, and speech after the long (chapter) silences of the
    # decoded audio. Each mark stands the lead (0.5 s) before its chapter's first words; the file opens with that
    # lead and ends with a second of silence.
    audio = decode(tmp_path / "b.m4b", engine.sample_rate)
    loud = np.abs(audio) > 0.01
    onsets, silent_run = [], 0
    for i, is_loud in enumerate(loud):
        if is_loud:
            if not onsets or silent_run > 1.2 * engine.sample_rate:
                onsets.append(i / engine.sample_rate)
            silent_run = 0
        else:
            silent_run += 1
    assert len(onsets) == len(plan.chapters) and onsets[0] == pytest.approx(0.5, abs=0.05)
    for (start, _end, _title), onset in zip(info["chapters"], onsets):
        assert abs(start - (onset - 0.5)) < 0.05
    assert silent_run / engine.sample_rate == pytest.approx(1.0, abs=0.1)      # (+ the 20 ms the trim keeps)
    assert info["duration"] == pytest.approx(result.audio_seconds, abs=0.05)


def test_gaps_and_even_loudness(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    job = Job(tmp_path / "w", plan, engine, "tone", settings=RenderSettings(segment_gap_ms=200, chapter_gap_ms=1200))
    samples, _ = job.render()
    lead, order, marks = job.layout(samples)
    sr = engine.sample_rate
    gaps = [gap for _, gap in order]
    assert gaps.count(sr * 1200 // 1000) == len(plan.chapters) - 1 and (lead, gaps[-1]) == (sr // 2, sr)
    assert set(gaps[:-1]) == {sr // 5, sr * 900 // 1000, sr * 1200 // 1000}     # sentence, paragraph, chapter
    paragraphs = [gap for (index, gap) in order[:-1] if plan.segments[index].paragraph_end
                  and plan.segments[index + 1].chapter == plan.segments[index].chapter]
    assert paragraphs and set(paragraphs) == {sr * 900 // 1000}
    firsts = [s for n, s in enumerate(plan.segments) if n == 0 or plan.segments[n - 1].chapter != s.chapter]
    assert all(s.paragraph_end and s.text.startswith("Chapter") for s in firsts)    # a spoken title: a paragraph
    levels = [loudness(sf.read(job.segment_path(i), dtype="float32")[0], sr) for i in samples]
    assert max(levels) - min(levels) < 1.0
    assert np.mean(levels) == pytest.approx(DEFAULT_LOUDNESS, abs=1.0)
    doc = json.loads((tmp_path / "w" / "job.json").read_text())
    assert doc["voice"] == "tone" and len(doc["plan"]["segments"]) == len(plan.segments)


def test_a_scene_break_gets_its_own_pause(tmp_path):
    """A line of "* * *" between paragraphs is not read, and the silence there is --scene-gap-ms (it was a
    paragraph's 0.9 s, too short to hear the scene change); a break at a chapter's edge is no scene."""
    book = Book("B", [Chapter("One", "The storm came.\n\n* * *\n\nMorning was calm.\n\n#\n\nThen night.\n\n* * *"),
                      Chapter("Two", "It ended.")])
    engine = SyntheticEngine()
    plan = make_plan(book, engine, "tone")
    assert [(s.text, s.scene_end) for s in plan.segments] == [
        ("One.", False), ("The storm came.", True), ("Morning was calm.", True), ("Then night.", False),
        ("Two.", False), ("It ended.", False)]
    job = Job(tmp_path / "w", plan, engine, "tone", settings=RenderSettings(scene_gap_ms=2000))
    lead, order, marks = job.layout(job.render()[0])
    sr = engine.sample_rate
    assert [gap * 1000 // sr for _, gap in order] == [900, 2000, 2000, 1500, 900, 1000]


def test_scene_breaks_of_epub_and_markdown_books_get_the_scene_pause(tmp_path):
    """An EPUB's <hr/> or "* * *" paragraph and Markdown's --- were dropped: no longer pause than a paragraph."""
    epub = make_epub(tmp_path / "b.epub", [("c1.xhtml", "<h1>One</h1><p>The storm came.</p><hr/><p>Morning was "
                                            "calm.</p><p class='center'>* * *</p><p>Night fell.</p>")],
                     toc=[("c1.xhtml", "One")])
    markdown = tmp_path / "b.md"
    markdown.write_text("# One\n\nThe storm came.\n\n---\n\nMorning was calm.\n\n***\n\nNight fell.\n")
    for path in (epub, markdown):
        plan = make_plan(read_book(path), SyntheticEngine(), "tone")
        assert [s.text for s in plan.segments if s.scene_end] == ["The storm came.", "Morning was calm."]


def _book_with(chapter_one: str) -> Book:
    return Book("Test Book", [Chapter("Chapter One", chapter_one), BOOK.chapters[1], BOOK.chapters[2]])


def test_an_inserted_sentence_leaves_the_later_segments_as_they_were(tmp_path):
    """Segments are stored by what decides their audio, not by their place: a sentence added in chapter one
    moves every later segment along, and none of them is rendered again."""
    engine = SyntheticEngine()
    render_book(make_plan(BOOK, engine, "tone"), engine, "tone", tmp_path / "b.wav", tmp_path / "w")
    edited = _book_with(BOOK.chapters[0].text + " A new closing sentence was added.")
    again = SyntheticEngine()
    result = render_book(make_plan(edited, again, "tone"), again, "tone", tmp_path / "b.wav", tmp_path / "w")
    assert again.rendered == ["A new closing sentence was added."] and result.rendered == 1
    assert len(list((tmp_path / "w" / "segments").glob("*.flac"))) == len(make_plan(edited, again, "tone").segments)


def test_a_sentence_said_twice_is_rendered_once(tmp_path):
    engine = SyntheticEngine()
    book = Book("Echo", [Chapter("One", "It starts. Say it again. Something else. Say it again.")])
    plan = make_plan(book, engine, "tone", read_titles=False)
    result = render_book(plan, engine, "tone", tmp_path / "e.wav", tmp_path / "w")
    assert engine.rendered == ["It starts.", "Say it again.", "Something else."]
    assert (result.rendered, result.synthesized, len(result.chapters)) == (4, 3, 1)
    audio, sr = sf.read(tmp_path / "e.wav")
    assert audio.size == result.chapters[-1].end


def test_a_voice_file_is_known_by_its_contents(tmp_path):
    """A reference recording replaced under the same name is another voice: its segments are rendered again;
    the same recording under another path is the same voice."""
    plan = make_plan(BOOK, SyntheticEngine(), "tone")
    voice = tmp_path / "me.wav"
    sf.write(voice, np.zeros(1600, np.float32), 16000)
    render_book(plan, SyntheticEngine(), str(voice), tmp_path / "b.wav", tmp_path / "w")
    copy = tmp_path / "elsewhere.wav"
    copy.write_bytes(voice.read_bytes())
    same = SyntheticEngine()
    render_book(plan, same, str(copy), tmp_path / "b.wav", tmp_path / "w")
    assert same.rendered == []
    sf.write(voice, np.full(1600, 0.1, np.float32), 16000)
    changed = SyntheticEngine()
    render_book(plan, changed, str(voice), tmp_path / "b.wav", tmp_path / "w")
    assert len(changed.rendered) == len(plan.segments)


def test_a_damaged_segment_file_is_rendered_again(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    first = render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w")
    before = sf.read(tmp_path / "b.wav")[0]
    job = Job(tmp_path / "w", plan, engine, "tone")
    job.finished()
    damaged = job.segment_path(3)
    damaged.write_bytes(damaged.read_bytes()[:200])          # cut short, as a full disk or a crash leaves it
    again = SyntheticEngine()
    result = render_book(plan, again, "tone", tmp_path / "c.wav", tmp_path / "w")   # (b.wav is whole: left alone)
    assert again.rendered == [plan.segments[3].text] and (result.rendered, result.resumed) == (1, len(plan.segments) - 1)
    assert np.array_equal(sf.read(tmp_path / "c.wav")[0], before) and result.chapters == first.chapters


def test_damaged_segments_are_all_found_at_once_and_a_lost_log_costs_nothing(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w")
    before = sf.read(tmp_path / "b.wav")[0]
    job = Job(tmp_path / "w", plan, engine, "tone")
    job.finished()
    for index in (1, 5):
        job.segment_path(index).write_bytes(b"")
    again = SyntheticEngine()
    render_book(plan, again, "tone", tmp_path / "d.wav", tmp_path / "w")
    assert sorted(again.rendered) == sorted([plan.segments[1].text, plan.segments[5].text])
    assert len(again.batches) == 1 and np.array_equal(sf.read(tmp_path / "d.wav")[0], before)
    log = tmp_path / "w" / "done.jsonl"
    log.write_bytes(log.read_bytes() + b"\x00\x00garbage\xff\n")       # bytes that are no UTF-8
    resumed = SyntheticEngine()
    assert render_book(plan, resumed, "tone", tmp_path / "c.wav", tmp_path / "w").resumed == len(plan.segments)
    log.unlink()                                                         # the log lost: the files are found by name
    lost = SyntheticEngine()
    assert render_book(plan, lost, "tone", tmp_path / "c.wav", tmp_path / "w").resumed == len(plan.segments)
    assert lost.rendered == [] and np.array_equal(sf.read(tmp_path / "c.wav")[0], before)


def test_one_run_at_a_time_per_work_folder_and_outputs_written_safely(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    first = Job(tmp_path / "w", plan, engine, "tone")
    first.open()
    with pytest.raises(InputError, match=rf"another indexstudio \(process {os.getpid()}\) is rendering into"):
        render_book(plan, SyntheticEngine(), "tone", tmp_path / "b.wav", tmp_path / "w")
    first.close()
    (tmp_path / "folder.wav").mkdir()
    idle = SyntheticEngine()
    with pytest.raises(InputError, match="is a folder"):
        render_book(plan, idle, "tone", tmp_path / "folder.wav", tmp_path / "w")
    assert idle.rendered == []
    stale = tmp_path / ".real.wav.999999999.partial"         # left by a run that was killed
    stale.write_bytes(b"half")
    target = tmp_path / "real.wav"
    target.write_bytes(b"old")
    target.chmod(0o600)
    (tmp_path / "b.wav").symlink_to(target)
    written = []
    render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w", on_write=lambda n, total: written.append((n, total)))
    assert (tmp_path / "b.wav").is_symlink() and sf.info(target).frames == round(written[-1][1] * engine.sample_rate)
    assert target.stat().st_mode & 0o777 == 0o600 and not stale.exists()
    assert [n for n, _ in written] == sorted(n for n, _ in written) and written[-1][0] == written[-1][1]


def test_a_rerun_that_changes_nothing_leaves_the_output_as_it_is(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    out = tmp_path / "b.mp3"
    assert render_book(plan, engine, "tone", out, tmp_path / "w").written
    stamp = out.stat().st_mtime_ns
    again = render_book(plan, engine, "tone", out, tmp_path / "w")
    assert not again.written and out.stat().st_mtime_ns == stamp and again.chapters and again.audio_seconds > 0
    assert render_book(plan, engine, "tone", out, tmp_path / "w", settings=RenderSettings(segment_gap_ms=300)).written
    out.write_bytes(out.read_bytes()[:1000])                      # a file changed by someone else is written anew
    assert render_book(plan, engine, "tone", out, tmp_path / "w", settings=RenderSettings(segment_gap_ms=300)).written
    assert probe(out)["duration"] > 1


def test_a_full_disk_is_named():
    from indexstudio.audio.output import disk_full
    full = disk_full(OSError(errno.ENOSPC, "No space left on device"), Path("/"))
    assert full is not None and "is full" in str(full)
    assert disk_full(PermissionError(errno.EACCES, "denied"), Path("/")) is None
    from indexstudio.errors import IndexStudioError
    from indexstudio.audio.output import naming_a_full_disk
    with pytest.raises(IndexStudioError, match="is full"):
        with naming_a_full_disk(Path("/")):
            raise RuntimeError("ffmpeg failed writing b.m4b: Error writing trailer: No space left on device")
    with pytest.raises(PermissionError):
        with naming_a_full_disk(Path("/")):
            raise PermissionError(errno.EACCES, "denied")


def test_a_book_on_a_full_disk_is_named_and_a_finished_one_is_still_written(small_disk, tmp_path):
    """Work folder on a disk that fills: a run with nothing to render writes nothing there, so it succeeds; one
    that must write is an error naming the full disk, with no temporary file left."""
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    assert render_book(plan, engine, "tone", tmp_path / "b.wav", small_disk / "w").rendered == len(plan.segments)
    fill(small_disk)
    again = render_book(plan, engine, "tone", tmp_path / "b.mp3", small_disk / "w")        # another format: fine
    assert again.rendered == 0 and again.written and probe(tmp_path / "b.mp3")["duration"] > 1
    with pytest.raises(IndexStudioError, match=f"the disk holding {small_disk / 'w'} is full"):
        render_book(plan, engine, "tone", tmp_path / "c.wav", small_disk / "w", controls=Controls(speed=1.2))
    assert not list((small_disk / "w").glob("*.tmp"))


def test_a_first_run_on_a_full_disk_is_named(small_disk, tmp_path):
    """The work folder's lock could not take the run's process id: closing it raised again, and the run ended in
    "unexpected error: OSError" instead of naming the full disk."""
    import indexstudio
    (small_disk / "b.md").write_text("# One\n\nThe first sentence. A second one.\n")
    fill(small_disk)
    with pytest.raises(IndexStudioError, match=f"the disk holding {small_disk / 'b.work'} is full"):
        indexstudio.make_audiobook(small_disk / "b.md", engine=SyntheticEngine())


def test_a_killed_runs_half_written_segment_is_cleared_and_a_lost_work_folder_is_named(tmp_path):
    """A SIGKILL mid-write left KEY.PID.tmp.flac, counted ever after as a segment the book no longer has; a work
    folder deleted mid-run was "System error" from libsndfile, and "N segments are kept" in it."""
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    work = tmp_path / "w"
    (work / "segments").mkdir(parents=True)
    (work / "segments" / "0123456789abcdef.4242.tmp.flac").write_bytes(b"")
    render_book(plan, engine, "tone", tmp_path / "b.wav", work)
    job = Job(work, plan, engine, "tone")
    assert not list((work / "segments").glob("*.tmp.flac")) and job.stale() == []

    class LosingItsFolder(SyntheticEngine):
        def synthesize(self, segments, voice, controls=Controls()):
            for n, audio in enumerate(super().synthesize(segments, voice, controls)):
                if n == 2:
                    import shutil
                    shutil.rmtree(tmp_path / "w2")
                yield audio
    with pytest.raises(IndexStudioError) as caught:
        render_book(plan, LosingItsFolder(), "tone", tmp_path / "c.wav", tmp_path / "w2")
    assert "cannot write the segment file" in str(caught.value) and "No such file or directory" in str(caught.value)
    assert f"the work folder {tmp_path / 'w2'} is gone, and the segments in it; run the same command again to " \
           f"render them anew" in str(caught.value)


def test_a_work_folder_that_cannot_be_one_is_named(tmp_path):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    (tmp_path / "afile").write_text("not a folder")
    for work in (tmp_path / "afile", tmp_path / "afile" / "w"):
        with pytest.raises(InputError, match=f"the work folder {work} is a file, or inside one: give another "
                                             "--work-dir"):
            render_book(plan, engine, "tone", tmp_path / "b.wav", work)
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "outputs.json").write_text("[1, 2]")            # a record of another shape: none
    assert render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w").written


def test_a_segment_damaged_in_the_same_run_is_counted_once(tmp_path, monkeypatch):
    """Rendered, found damaged at assembly, rendered again: still one of the run's segments, none resumed."""
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    original = Job.render

    def render_then_damage(job, on_progress=None):
        done = original(job, on_progress)
        path = job.segment_path(3)
        if not getattr(job, "damaged_once", False):
            job.damaged_once = True
            path.write_bytes(path.read_bytes()[:200])
        return done
    monkeypatch.setattr(Job, "render", render_then_damage)
    result = render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w")
    assert (result.rendered, result.resumed) == (len(plan.segments), 0)
    assert engine.rendered.count(plan.segments[3].text) == 2


def test_a_torn_log_line_costs_no_segment(tmp_path):
    """A crash can leave done.jsonl's last line cut short: the next entry starts on a line of its own, and
    lines that are not entries are skipped."""
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w")
    log = tmp_path / "w" / "done.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n5\n" + lines[-1][:10])       # the last entry torn, a stray value
    (tmp_path / "w" / "segments" / json.loads(lines[-1])["file"]).unlink()   # (else it is found by its name)
    again = SyntheticEngine()
    render_book(plan, again, "tone", tmp_path / "b.wav", tmp_path / "w")
    assert len(again.rendered) == 1
    third = SyntheticEngine()
    render_book(plan, third, "tone", tmp_path / "b.wav", tmp_path / "w")
    assert third.rendered == []


def test_negative_gaps_and_unwritable_outputs_are_refused_before_rendering(tmp_path):
    with pytest.raises(InputError, match="a pause cannot be negative: --chapter-gap-ms -3000"):
        RenderSettings(chapter_gap_ms=-3000)
    with pytest.raises(InputError, match="a pause of over 60 s is no pause: --gap-ms 99999999"):
        RenderSettings(segment_gap_ms=99999999)              # (a stray digit wrote 19 GB of silence)
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    blocker = tmp_path / "notes.txt"                                   # a file where the output folder would be
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match=f"cannot make the output folder {blocker}: {blocker} is a file, not a folder"):
        render_book(plan, engine, "tone", blocker / "b.wav", tmp_path / "w")
    assert engine.rendered == []
    result = render_book(plan, engine, "tone", tmp_path / "new" / "folder" / "b.wav", tmp_path / "w2")
    assert result.output.exists()                                      # a missing output folder is made



def test_a_title_guessed_from_the_file_name_is_not_read(tmp_path):
    """A text without headings is one chapter named after the file ("My Book V2 Final"): its marker keeps the
    name, but the audio starts with the text, not with the file name read aloud."""
    from indexstudio.books.reader import read_book
    path = tmp_path / "my_book_v2_final.txt"
    path.write_text("The first sentence. The second one.\n")
    plan = make_plan(read_book(path), SyntheticEngine(), "tone")
    assert plan.chapters == ["My Book V2 Final"] and plan.segments[0].text == "The first sentence."
    headed = tmp_path / "headed.txt"
    headed.write_text("Chapter 1\n\nThe first sentence.\n")
    assert make_plan(read_book(headed), SyntheticEngine(), "tone").segments[0].text == "Chapter one."


def test_an_input_error_while_rendering_is_not_told_to_be_run_again(tmp_path):
    """A bad voice or option found by the engine is the user's to fix: the message says what is kept, but not
    to run the same command again."""
    plan = make_plan(BOOK, SyntheticEngine(), "tone")
    for calls, kept in ((0, ""), (3, "3 finished segment(s) are kept in")):
        with pytest.raises(InputError) as failure:
            render_book(plan, SyntheticEngine(fail_at_call=calls, fail_with=InputError), "tone",
                        tmp_path / f"b{calls}.wav", tmp_path / f"w{calls}")
        message = str(failure.value)
        assert message.startswith("segment") and "synthetic failure" in message and kept in message
        assert "run the same command" not in message


def test_indextts_segments_are_known_by_what_decides_their_audio(tmp_path):
    """Options that change only the speed (batch sizes), or that say a default, keep a book's segments; the
    text is shown as the engine's own normaliser reads it, and neither needs the weights."""
    from conftest import GOLDEN

    from indexstudio.engines.indextts2 import IndexTTS2Engine
    engine = IndexTTS2Engine(model_dir=str(GOLDEN / "indextts2"))     # its own, not the shared one other tests load
    plan = make_plan(BOOK, engine, "x.wav")

    def keys(**options):
        return Job(tmp_path / "w", plan, engine, "x.wav", Controls(options=options)).keys
    assert keys() == keys(gpt_batch_size=3, s2mel_batch_size=2, vocoder_batch_size=1, max_mel_tokens=1500,
                          quick_streaming_tokens=0) != keys(top_k=5)
    assert engine.spoken_form("It cost $5.") == "It cost five dollars."
    job = Job(tmp_path / "w", plan, engine, "x.wav")        # a book rendered before is written out by its files
    (tmp_path / "w" / "segments").mkdir(parents=True)
    sf.write(tmp_path / "w" / "segments" / f"{job.keys[2]}.flac", np.zeros(100, np.float32), 22050)
    assert job.sample_rate == 22050 and engine.sample_rate == 22050       # (from config.yaml: a resumed book
    assert keys(emo_vector="happy=0.6") == keys(emo_vector="happy=0.6", emo_audio=str(GOLDEN / "indextts2" / "cases"
                                                 / "prompt_en_22k.wav")) != keys(emo_vector="happy=0.7")
    assert engine._model is None                                          # loads no weights to write its output)


def test_peaks_are_limited_around_the_peak_alone():
    """A loud syllable is turned down where it is, under -3.5 dB true peak (ACX wants -3 dB after encoding), and
    the rest of the sentence keeps its level: cutting the whole segment's gain left it up to 1.8 dB quieter."""
    from scipy.signal import resample_poly

    from indexstudio.audio.processing import PEAK_CEILING, limit_peaks
    sr = 24000
    t = np.arange(2 * sr) / sr
    audio = (0.25 * np.sin(2 * np.pi * 5003 * t)).astype(np.float32)     # near the band's top: peaks between samples
    audio[sr:sr + 240] *= 3.6
    limited = limit_peaks(audio, sr)
    assert np.abs(resample_poly(limited.astype(np.float64), 8, 1)).max() <= PEAK_CEILING * 1.01
    assert np.array_equal(limited[:sr - 480], audio[:sr - 480]) and np.array_equal(limited[sr + 720:], audio[sr + 720:])
    quiet = (0.2 * audio).astype(np.float32)
    assert limit_peaks(quiet, sr) is quiet


def test_a_file_the_work_folder_did_not_write_is_replaced_with_a_warning(tmp_path, caplog):
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    out = tmp_path / "b.wav"
    out.write_text("my own recording")
    with caplog.at_level("WARNING", logger="indexstudio"):
        render_book(plan, engine, "tone", out, tmp_path / "w")
    assert "exists and this work folder did not write it" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="indexstudio"):
        render_book(plan, engine, "tone", out, tmp_path / "w", settings=RenderSettings(segment_gap_ms=300))
    assert "did not write it" not in caplog.text                # its own output: replaced without a word


def test_segments_rendered_under_an_earlier_name_of_the_engine_are_kept(tmp_path):
    """IndexTTS models were known by their folder's path and file times; a book rendered then is resumed under
    today's name (by the files' contents) without rendering anything again, and logged under it."""
    engine = SyntheticEngine()
    plan = make_plan(BOOK, engine, "tone")
    render_book(plan, engine, "tone", tmp_path / "b.wav", tmp_path / "w", engine_id="synthetic:/models/x:1234")
    again = SyntheticEngine()
    result = render_book(plan, again, "tone", tmp_path / "b.wav", tmp_path / "w", engine_id="synthetic:model:abcd",
                         earlier_ids=["synthetic:/models/x:1234"])
    assert again.rendered == [] and result.resumed == len(plan.segments)
    third = SyntheticEngine()                                 # logged under today's keys: no earlier name needed
    render_book(plan, third, "tone", tmp_path / "b.mp3", tmp_path / "w", engine_id="synthetic:model:abcd")
    assert third.rendered == []


def test_a_model_folder_is_known_by_its_contents_not_its_place_or_times(tmp_path, monkeypatch):
    """Moving a checkpoint folder, or copying it without its times, rendered a whole book again; a vocoder
    replaced under hf_cache/ did not count at all."""
    import os
    import shutil

    from conftest import GOLDEN

    from indexstudio.models.folder import ModelFolder
    monkeypatch.setenv("INDEXSTUDIO_CACHE", str(tmp_path / "cache"))
    first = tmp_path / "a"
    shutil.copytree(GOLDEN / "indextts2", first, ignore=shutil.ignore_patterns("cases"))
    print_ = ModelFolder(first).fingerprint()
    moved = tmp_path / "b"
    first.rename(moved)
    os.utime(moved / "gpt.pth")                                  # touched: same bytes, new time
    assert ModelFolder(moved).fingerprint() == print_
    assert (tmp_path / "cache" / "file-hashes.json").is_file()
    vocoder = moved / "hf_cache" / "bigvgan" / "bigvgan_generator.pt"
    vocoder.write_bytes(vocoder.read_bytes() + b"\0")
    assert ModelFolder(moved).fingerprint() != print_
