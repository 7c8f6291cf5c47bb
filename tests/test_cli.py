"""The command line, run as a user runs it."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import GOLDEN
from helpers.readback import probe

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "indexstudio", *args], capture_output=True, text=True, cwd=cwd)


def test_speak_writes_a_wav(tmp_path):
    out = tmp_path / "hi.wav"
    r = run("speak", "Hello there. It is 5 o'clock.", "-o", str(out), "--voice", "bm_george", "--speed", "1.1")
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert info.samplerate == 24000 and info.subtype == "PCM_16" and 1.0 < info.duration < 8.0
    assert "RTF" in r.stdout


def test_speak_takes_the_pauses_and_bitrate_a_book_takes(tmp_path):
    """--gap-ms / --paragraph-gap-ms set speak's silences as they set a book's, and --bitrate its MP3's rate
    (speak had neither: a short clip came out at 64k with the book's default pauses whatever one wanted)."""
    text = "Hello there. Fine.\n\nGoodbye now."
    plain, spaced = tmp_path / "plain.wav", tmp_path / "spaced.wav"
    assert run("speak", text, "-o", str(plain), "--gap-ms", "0", "--paragraph-gap-ms", "0").returncode == 0
    r = run("speak", text, "-o", str(spaced), "--gap-ms", "0", "--paragraph-gap-ms", "2500")
    assert r.returncode == 0, r.stderr
    assert sf.info(spaced).duration - sf.info(plain).duration == pytest.approx(2.5, abs=0.05)
    mp3 = tmp_path / "clip.mp3"
    r = run("speak", "Hello there.", "-o", str(mp3), "--bitrate", "128k")
    assert r.returncode == 0, r.stderr
    import av
    with av.open(str(mp3)) as c:
        assert c.streams.audio[0].bit_rate == 128000
    _fails_cleanly(run("speak", "Hi.", "-o", str(mp3), "--bitrate", "900k"), "bitrate")
    _fails_cleanly(run("speak", "Hi.", "-o", str(plain), "--gap-ms", "-5"), "a pause cannot be negative: --gap-ms -5")


def test_voices_lists_at_least_eight(tmp_path):
    r = run("voices")
    assert r.returncode == 0
    assert run("--version").stdout.startswith("indexstudio 0.")
    cloning = run("voices", "--engine", "indextts2", "--model-dir", str(GOLDEN / "indextts2"))
    assert cloning.returncode == 0 and "this engine clones a recording: give --voice FILE" in cloning.stdout
    assert "loading" not in cloning.stderr                   # listing voices loads no weights
    assert "af_heart" in r.stdout and "bm_george" in r.stdout
    assert int(r.stdout.strip().splitlines()[-1].split()[0]) >= 8


def test_voices_are_heard_before_they_are_chosen(tmp_path):
    """`voices --listen DIR` has each voice (of a language) say a book's opening in it, a file each."""
    r = run("voices", "--listen", str(tmp_path / "heard"), "--lang", "Italian")
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (tmp_path / "heard").iterdir())
    assert files == ["if_sara.mp3", "im_nicola.mp3"] and "wrote 2 voices" in r.stdout
    assert all(probe(tmp_path / "heard" / name)["duration"] > 3 for name in files)
    _fails_cleanly(run("voices", "--lang", "it"), "--text and --lang go with --listen")
    _fails_cleanly(run("voices", "--listen", str(tmp_path / "x"), "--engine", "indextts2"), "needs --model-dir")


def test_a_missing_model_folder_is_said_before_torch_loads(tmp_path):
    """An IndexTTS engine without --model-dir is refused before its modules (torch, transformers: seconds) import."""
    code = ("import sys; from indexstudio import cli; sys.argv = ['indexstudio', 'speak', 'Hi.', '-o', 'x.wav', "
            "'--engine', 'indextts2_5']; code = cli.main(); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    _fails_cleanly(r, "engine indextts2_5 needs --model-dir: an IndexTTS-2.5 checkpoint folder")


def _fails_cleanly(r, needle):
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_bad_input_is_one_line_without_traceback(tmp_path):
    _fails_cleanly(run("book", str(tmp_path / "missing.md"), "-o", str(tmp_path / "x.m4b")), "no such file")
    _fails_cleanly(run("speak", "  ...  ", "-o", str(tmp_path / "x.wav")), "no speakable text")
    _fails_cleanly(run("book", "x.md", "--mode", "fast"), "argument --mode: invalid choice: 'fast' (choose from "
                   "'normal', 'batch') (see indexstudio book --help)")      # (not the 30-line usage above it)
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--voice", "nobody"), "unknown voice")
    (tmp_path / "a_file").write_text("")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "a_file" / "x.wav")), "cannot make the output folder")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.xyz")), "unsupported output format")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x")), "the output name x says no format")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--device", "cuda", "--compile"),
                   "--device, --compile: not a setting of engine kokoro (the IndexTTS engines')")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--threads", "0"), "--threads must be at least 1")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--engine", "indextts2", "--model-dir",
                       str(GOLDEN / "indextts2"),
                       "--voice", str(GOLDEN / "indextts2" / "cases" / "prompt_en_22k.wav"), "--threads", "2"),
                   "--threads: not a setting of engine indextts2 (the embedded engine's)")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--engine", "nope"), "unknown engine")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--lang", "xx"), "--lang xx: not a language code")
    _fails_cleanly(run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(tmp_path / "x.m4b"), "--year", "abc"),
                   "--year abc: give a year (2024) or a date (2024-05-01)")
    _fails_cleanly(run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(tmp_path / "x.m4b"), "--lexicon",
                       str(tmp_path / "names.txt")), "names.txt not found")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--emotion", "happy=0.5"),
                   "--emotion: not an option of engine kokoro")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n")
    _fails_cleanly(run("book", str(empty), "-o", str(tmp_path / "x.m4b")), "no speakable text")
    book = tmp_path / "book.txt"
    book.write_text("A short book.\n")
    _fails_cleanly(run("book", str(book), "-o", str(book), "--format", "wav"), "is the book itself")
    assert book.read_text() == "A short book.\n"
    _fails_cleanly(run("book", str(book), "-o", str(tmp_path / "b.wav"), "--gap-ms", "-100"), "a pause cannot be negative: --gap-ms -100")
    _fails_cleanly(run("book", str(book), "-o", str(tmp_path / "b.mp3"), "--bitrate", "abc"), "bitrate 'abc' for mp3")
    _fails_cleanly(run("book", str(book), "-o", str(tmp_path / "b.mp3"), "--speed", "3"),
                   "--speed 3 is outside what engine kokoro offers (0.5 to 2)")
    _fails_cleanly(run("book", str(book), "-o", str(tmp_path / "b.mp3"), "--cover", str(book)),
                   "is not an image ffmpeg can read")
    _fails_cleanly(run("book", str(book), "-o", str(tmp_path / "b.mp3"), "--format", "m4b"),
                   "--format m4b does not match the output name b.mp3")
    assert not (tmp_path / "b.work").exists()                   # each refused before any rendering
    golden = GOLDEN / "indextts2"
    _fails_cleanly(run("book", str(book), "-o", str(tmp_path / "v.wav"), "--engine", "indextts2", "--model-dir",
                       str(golden), "--voice", "nobody"), "neither an audio file")
    assert not (tmp_path / "b.work").exists()                   # refused before any work folder was made


def test_settings_voice_and_options_are_refused_before_the_model_loads(tmp_path):
    """One line each, and no "loading IndexTTS-2" line before it: the weights were never read."""
    indextts2 = ("--engine", "indextts2", "--model-dir", str(GOLDEN / "indextts2"))
    prompt = str(GOLDEN / "indextts2" / "cases" / "prompt_en_22k.wav")
    out = str(tmp_path / "x.wav")
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", prompt, "--device", "foo"),
                   "unknown device 'foo'; choose cuda, mps, xpu or cpu")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEnot really audio")
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", str(broken)), "cannot read reference audio")
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", str(tmp_path)),
                   f"voice {tmp_path} is a folder: give an audio file")
    hush = tmp_path / "hush.wav"
    sf.write(hush, np.zeros(22050 * 2, np.float32), 22050)
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", prompt, "--emotion-audio", str(hush)),
                   f"emotion reference {hush} is 2.00 s of silence")
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", prompt, "--option", "top_p=3"),
                   "top_p must lie in [0, 1], got 3.0")
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", prompt, "--option", "max_mel_token=30"),
                   "unknown IndexTTS-2 option(s) max_mel_token; did you mean max_mel_tokens?")
    (tmp_path / "blocker").write_text("")
    book = tmp_path / "b.md"
    book.write_text("# One\n\nHello there.\n")
    _fails_cleanly(run("book", str(book), "-o", str(tmp_path / "blocker" / "b.m4b"), *indextts2, "--voice", prompt),
                   "blocker is a file, not a folder")
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", prompt, "--option",
                       "max_text_tokens_per_segment=5000"), "is over this model's")
    # the emotion's sources too: the strength of nothing, a reference that is not there, no Qwen folder
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", prompt, "--emotion-alpha", "0.3"),
                   "--emotion-alpha sets the strength of --emotion-audio, --emotion or the text emotion")
    for strength in (["--emotion-alpha", "1.5"], ["--option", "emo_alpha=1.5"]):       # (the option was let through)
        _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", prompt, "--emotion", "sad=0.5",
                           *strength), "--emotion-alpha (emo_alpha) must lie in [0, 1], got 1.5")
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", prompt, "--emotion-audio", "nope.wav"),
                   "emotion reference 'nope.wav' is neither an audio file nor a voice")
    _fails_cleanly(run("speak", "Hi.", "-o", out, *indextts2, "--voice", prompt, "--emotion-text", "angry"),
                   "emotion from text needs the Qwen emotion model folder")
    blip = tmp_path / "blip.wav"                      # too short to clone from, on every engine alike
    sf.write(blip, np.full(4000, 0.1, np.float32), 22050)
    for engine in ("indextts2", "indextts1_5"):
        _fails_cleanly(run("speak", "Hi.", "-o", out, "--engine", engine, "--model-dir", str(GOLDEN / engine),
                           "--voice", str(blip)), "is 0.18 s long: too short to clone a voice from")
    assert not Path(out).exists()


def test_cloning_engines_list_and_take_library_voices_without_a_model(tmp_path, monkeypatch):
    library = tmp_path / "voices"
    library.mkdir()
    (library / "narrator.wav").write_bytes((GOLDEN / "indextts2" / "cases" / "prompt_en_22k.wav").read_bytes())
    (library / "broken.wav").write_text("not audio")
    env = {**os.environ, "INDEXSTUDIO_VOICES": str(library)}
    r = subprocess.run([sys.executable, "-m", "indexstudio", "voices", "--engine", "indextts2"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "narrator" in r.stdout and "broken.wav (not readable audio)" in r.stdout and "default" not in r.stdout
    seconds = sf.info(library / "narrator.wav").duration
    assert f"reference audio narrator.wav, {seconds:.1f} s" in r.stdout
    sf.write(library / "narrator.flac", np.full(100, 0.1, np.float32), 16000)      # two recordings of one name
    sf.write(library / "hush.wav", np.zeros(16000 * 3, np.float32), 16000)
    again = subprocess.run([sys.executable, "-m", "indexstudio", "voices", "--engine", "indextts2"],
                           capture_output=True, text=True, env=env)
    assert "narrator.flac" in again.stdout and "(too short: 0.5 s at least)" in again.stdout
    assert "reference audio hush.wav, 3.0 s (silent)" in again.stdout
    ambiguous = subprocess.run([sys.executable, "-m", "indexstudio", "speak", "Hi.", "-o", str(tmp_path / "y.wav"),
                                "--engine", "indextts2", "--model-dir", str(GOLDEN / "indextts2"), "--voice",
                                "narrator"], capture_output=True, text=True, env=env)
    _fails_cleanly(ambiguous, "voice 'narrator' is narrator.wav and narrator.flac in")
    from indexstudio.engines.reference_voices import resolve_reference
    from indexstudio.errors import InputError
    monkeypatch.setenv("INDEXSTUDIO_VOICES", str(library))
    assert resolve_reference("HUSH") == library / "hush.wav"                   # any letter case
    with pytest.raises(InputError, match=r"voice 'narator' is neither .* \(did you mean narrator.flac or "
                                         r"narrator.wav\? library voices: "):
        resolve_reference("narator")
    (library / "narrator.flac").unlink()
    out = tmp_path / "x.wav"
    r = subprocess.run([sys.executable, "-m", "indexstudio", "speak", "Hi.", "-o", str(out), "--engine", "indextts2",
                        "--model-dir", str(GOLDEN / "indextts2"), "--voice", "narrator.wav", "--option",
                        "max_mel_tokens=20"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert sf.info(out).frames > 0
    assert "WETEXT" not in r.stderr                  # the text grammars' own chatter stays out of the console
    r = subprocess.run([sys.executable, "-m", "indexstudio", "voices", "--model-dir", str(GOLDEN / "indextts2")],
                       capture_output=True, text=True, env=env)    # no --engine: the folder's version says it
    assert r.returncode == 0 and "voices for engine indextts2" in r.stdout, r.stderr
    heard = tmp_path / "heard"                       # listening leaves out the recordings no voice comes from, and
    sf.write(library / "narrator.flac", *sf.read(library / "narrator.wav"))     # two of one name keep their own
    r = subprocess.run([sys.executable, "-m", "indexstudio", "voices", "--engine", "indextts2", "--model-dir",
                        str(GOLDEN / "indextts2"), "--listen", str(heard), "--text", "Hi."],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0 and sorted(p.name for p in heard.iterdir()) == ["narrator.flac.mp3", "narrator.wav.mp3"]
    assert "wrote 2 voices" in r.stdout, r.stdout
    assert "left out: " in r.stderr and "broken.wav" in r.stderr and "2 left out" in r.stdout


def test_sample_book_to_m4b_with_chapters_then_mp3_by_resuming(tmp_path):
    """The quick-start job: the bundled sample book on the embedded engine."""
    m4b = tmp_path / "sample.m4b"
    r = run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(m4b), "--mode", "batch", "--bucket-size", "4")
    assert r.returncode == 0, r.stderr
    info = probe(m4b)
    assert [c[2] for c in info["chapters"]] == ["Chapter 1: The Storm", "Chapter 2: The Clock", "Chapter 3: The Keeper"]
    assert 40 < info["duration"] < 150
    starts = [c[0] for c in info["chapters"]]
    assert starts[0] == 0 and starts == sorted(starts) and starts[1] > 10
    assert info["tags"]["title"] == "The Lighthouse Keeper's Clock" and info["tags"]["NARRATOR"] == "Kokoro (af_heart)"
    assert "RTF" in r.stdout and "rendering" in r.stderr
    assert "MiB) keeps the rendered segments" in r.stdout and "writing m4b" in r.stderr
    assert f"work folder {tmp_path / 'sample_book.work'}" in r.stdout          # the book's, in the output's folder
    written = m4b.stat().st_mtime_ns                 # the same command again: nothing to render, nothing to write
    r = run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(m4b), "--mode", "batch", "--bucket-size", "4")
    assert r.returncode == 0 and r.stdout.startswith("unchanged") and m4b.stat().st_mtime_ns == written, r.stdout
    r = run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(m4b), "--mode", "batch", "--bucket-size", "4",
            "--year", "2026-05-01", "--publisher", "IndexStudio Press", "--description", "Three chapters by the sea.",
            "--narrator", "")
    assert r.returncode == 0 and r.stdout.startswith("wrote"), r.stderr     # new tags: written again, not rendered
    tags = probe(m4b)["tags"]
    assert tags["date"] == "2026-05-01" and tags["description"] == "Three chapters by the sea." and "NARRATOR" not in tags
    folder = tmp_path / "out"
    folder.mkdir()                                   # -o a folder: the book's name in it
    r = run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(folder), "--work-dir", str(tmp_path / "sample_book.work"),
            "--mode", "batch", "--bucket-size", "4")
    assert r.returncode == 0 and (folder / "sample_book.m4b").is_file() and "0 segments rendered" in r.stdout, r.stderr

    mp3 = tmp_path / "sample.mp3"
    r = run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(mp3), "--work-dir", str(tmp_path / "sample_book.work"))
    assert r.returncode == 0, r.stderr
    assert "0 segments rendered" in r.stdout and "nothing new to render" in r.stdout
    again = probe(mp3)
    assert [round(c[0], 1) for c in again["chapters"]] == [round(s, 1) for s in starts]
    assert abs(again["duration"] - info["duration"]) < 0.1

    # a dry run lists what is there and estimates the length at the pace already rendered; it writes nothing
    work = tmp_path / "sample_book.work"
    before = sorted(p.name for p in work.rglob("*"))
    r = run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(tmp_path / "x.m4b"), "--work-dir", str(work),
            "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "3 chapters" in lines[0] and "at the pace of the" in lines[0]
    minutes, seconds = lines[0].split("about ")[1].split(" ")[0].split(":")
    assert abs(int(minutes) * 60 + int(seconds) - info["duration"]) < 3
    rows = [line.split() for line in lines[2:5]]
    assert [row[0] for row in rows] == ["1", "2", "3"] and all(row[-1] == row[-4] for row in rows)  # all rendered
    for row, (start, end, _) in zip(rows, info["chapters"]):        # each chapter's length, its pauses too
        minutes, seconds = row[-2].split(":")
        assert abs(int(minutes) * 60 + int(seconds) - (end - start)) <= 1.5, (row, start, end)
    assert sorted(p.name for p in work.rglob("*")) == before and not (tmp_path / "x.m4b").exists()
    # a lexicon respells a word: the segments that hold it are no longer rendered, the rest are
    (tmp_path / "names.txt").write_text("# how it is said\nKeeper = Kiper\n", encoding="utf-8")
    r = run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(tmp_path / "x.m4b"), "--work-dir", str(work),
            "--show-text", "--lexicon", str(tmp_path / "names.txt"))
    assert r.returncode == 0, r.stderr
    assert re.search(r"lexicon \S*names.txt: \d+ replacements? by 1 of 1 entries", r.stderr)
    respelled = [line for line in r.stdout.splitlines() if line.strip().startswith("[")]
    assert any("Kiper" in line for line in respelled) and not any("Keeper" in line for line in respelled)
    totals = r.stdout.splitlines()[-1]
    assert int(totals.split("; ")[1].split()[0]) < len(respelled)     # those segments are to render again
    # one chapter alone, from the segments the whole book left
    ch2 = tmp_path / "ch2.opus"
    r = run("book", str(ROOT / "samples" / "sample_book.md"), "-o", str(ch2), "--work-dir", str(work), "--chapters", "2")
    assert r.returncode == 0, r.stderr
    assert "0 segments rendered" in r.stdout and "2 of 3 chapters" not in r.stdout
    assert [c[2] for c in probe(ch2)["chapters"]] == ["Chapter 2: The Clock"]


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP"])
def test_a_killed_book_run_ends_like_ctrl_c(tmp_path, stop):
    """SIGTERM (a `kill`, a service stopping) and SIGHUP (the terminal closed) keep the finished segments and leave
    no temporary files - nor those a killed run left for another output."""
    import signal
    import time
    book = tmp_path / "b.md"
    book.write_text("# One\n\n" + " ".join(f"Sentence number {n} of the book goes here." for n in range(40)))
    out = tmp_path / "b.mp3"
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / f".b.m4b.{gone.pid}.partial").write_bytes(b"half an audiobook")   # a killed run's, for b.m4b
    proc = subprocess.Popen([sys.executable, "-m", "indexstudio", "book", str(book), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,   # (as a terminal starts it,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))  # also under nohup)
    deadline = time.monotonic() + 120
    while not (tmp_path / "b.work" / "lock").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(getattr(signal, stop))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + getattr(signal, stop), err          # as a killed program's status
    assert "terminated; finished segments are kept, run the same command again to resume" in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_speak_onto_a_full_disk_says_so(small_disk):
    from helpers.disk import fill
    fill(small_disk)
    _fails_cleanly(run("speak", "Hello there, this is long enough to need some room.", "-o", str(small_disk / "x.wav")),
                   f"the disk holding {small_disk} is full: free some space")
    assert not list(small_disk.glob(".*partial")) and not (small_disk / "x.wav").exists()


def test_an_unexpected_error_is_one_line_without_traceback(monkeypatch, capsys):
    """A fault nobody foresaw (ours, or of a file) still ends in one line; INDEXSTUDIO_DEBUG=1 shows all."""
    from indexstudio import cli

    def broken(args):
        raise RuntimeError("weights went missing\nsecond line of detail")
    monkeypatch.setattr(cli, "cmd_voices", broken)
    assert cli.main(["voices"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["indexstudio: unexpected error: RuntimeError: weights went missing ... "
                   "(INDEXSTUDIO_DEBUG=1 shows the traceback)"]
    monkeypatch.setenv("INDEXSTUDIO_DEBUG", "1")
    with pytest.raises(RuntimeError, match="weights went missing"):
        cli.main(["voices"])


def test_the_language_of_an_untagged_book_picks_the_voice_and_lang_overrides_it(tmp_path):
    book = tmp_path / "buch.txt"
    book.write_text("Am 3. Oktober 1990 wurde Deutschland wiedervereinigt. Es war ein schöner Tag für alle.\n",
                    encoding="utf-8")
    _fails_cleanly(run("book", str(book), "--dry-run"), "the text reads as language 'de'")
    forced = run("book", str(book), "--dry-run", "--lang", "en")
    assert forced.returncode == 0 and "1 chapter" in forced.stdout, forced.stderr
    chosen = run("book", str(book), "--dry-run", "--voice", "bm_george")      # a voice asked for is used, and named
    assert chosen.returncode == 0
    assert "the text reads as language 'de', and voice bm_george speaks 'en-gb'" in chosen.stderr
    tagged = run("book", str(book), "-o", str(tmp_path / "b.mp3"), "--voice", "bm_george")   # the language it reads as
    assert tagged.returncode == 0, tagged.stderr
    from mutagen.id3 import ID3
    assert ID3(tmp_path / "b.mp3").getall("TLAN")[0].text == ["deu"]


def test_speak_reads_standard_input_in_any_encoding_and_refuses_a_file_name(tmp_path):
    out = tmp_path / "cafe.wav"
    r = subprocess.run([sys.executable, "-m", "indexstudio", "speak", "-", "-o", str(out)],
                       input="Caf\xe9 au lait, s'il vous pla\xeet. It is good.\n".encode("cp1252"), capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    assert sf.info(out).duration > 1.0
    notes = tmp_path / "notes.txt"
    notes.write_text("Some notes.")
    _fails_cleanly(run("speak", str(notes), "-o", str(tmp_path / "n.wav")),
                   f"{notes} is a file: `indexstudio speak - -o OUT < {notes}` speaks its text")
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    (chapters / "01.txt").write_text("One.")
    _fails_cleanly(run("speak", str(chapters), "-o", str(tmp_path / "n.wav")),
                   f"{chapters} is a folder: `indexstudio book {chapters}` makes an audiobook of it")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8")
    _fails_cleanly(run("speak", str(photo), "-o", str(tmp_path / "n.wav")), "speaks it if it is text")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--voice", "bm_georg"), "did you mean bm_george?")
    _fails_cleanly(run("speak", "Hi.", "-o", str(tmp_path / "x.wav"), "--voice", ""), "--voice is empty")


def test_a_second_ctrl_c_while_stopping_waits_for_the_ending(tmp_path):
    """`timeout -s INT` and an impatient user send SIGINT twice: the second one, while the first run ends (the
    engine's threads closing), broke the ending off with a traceback and an abort (exit status 134)."""
    import signal
    import time
    book = tmp_path / "b.md"
    book.write_text("# One\n\n" + " ".join(f"Sentence number {n} of the book goes here." for n in range(40)))
    proc = subprocess.Popen([sys.executable, "-m", "indexstudio", "book", str(book), "-o", str(tmp_path / "b.mp3")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "b.work" / "lock").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)                                  # (rendering: the engine's threads are busy)
    proc.send_signal(signal.SIGINT)
    for _ in range(3):
        time.sleep(0.2)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and "terminate called" not in err, err
    assert "interrupted; finished segments are kept" in err


def test_a_stop_that_lands_in_a_finalizer_is_not_lost():
    """CI's Ctrl-C landed in phonemizer's temporary-folder finalizer, where Python swallows exceptions: the run
    went on to the end. The stop is sent again once out of it."""
    code = ("import gc, signal, time, weakref\n"
            "from indexstudio import cli\n"
            "import sys; sys.unraisablehook = cli._lost_stop\n"
            "signal.signal(signal.SIGINT, cli._stop)\n"
            "class A: pass\n"
            "a = A(); weakref.finalize(a, lambda: cli._stop(signal.SIGINT, None)); del a; gc.collect()\n"
            "try:\n    time.sleep(5); print('went on')\nexcept KeyboardInterrupt:\n    print('stopped')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "stopped" and "Traceback" not in r.stderr, r.stderr


def test_a_work_folder_another_run_holds_is_refused_before_anything_loads(tmp_path):
    """The refusal came after the book's header and the progress bar (and, on IndexTTS, the model's load)."""
    import fcntl
    book = tmp_path / "b.md"
    book.write_text("# One\n\nHello there.\n")
    (tmp_path / "b.work").mkdir()
    with open(tmp_path / "b.work" / "lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        _fails_cleanly(run("book", str(book), "-o", str(tmp_path / "b.mp3")),
                       "another indexstudio (process 4242) is rendering into")
    assert not (tmp_path / "b.mp3").exists()


def test_a_render_goes_on_when_the_reader_of_its_progress_goes_away(tmp_path):
    """`book ... 2>&1 | head` or a `less` quit: the progress bar's next line ended the render (status 141) before
    its audiobook was written."""
    (tmp_path / "b.txt").write_text("Hello there. This is a short book.\n\nIt has two paragraphs.\n")
    p = subprocess.Popen([sys.executable, "-m", "indexstudio", "book", str(tmp_path / "b.txt")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    p.stderr.close()                                 # (gone before the first line)
    assert p.wait(timeout=300) == 0
    assert probe(tmp_path / "b.m4b")["duration"] > 2
