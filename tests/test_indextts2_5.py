"""The IndexTTS-2.5 engine: conformance on the golden folder, and the engine in the product.

Random reduced weights: the audio is noise, so these tests check lengths,
languages, speech rate, determinism and errors; the conformance cases check
the numbers.
"""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import GOLDEN
from helpers.conformance import run_conformance

from indexstudio.engines import get_engine
from indexstudio.engines.base import Controls
from indexstudio.engines.indextts2_5 import IndexTTS25Engine, IndexTTS25Options
from indexstudio.errors import EngineError, InputError
from indexstudio.models.s2mel import v2_5_target_length

FOLDER = GOLDEN / "indextts2_5"
PROMPT = FOLDER / "cases" / "prompt_en_22k.wav"
HOP = 256        # BigVGAN samples per mel frame
FAST = {"max_mel_tokens": 30, "diffusion_steps": 4}


@pytest.fixture(scope="module")
def engine():
    return get_engine("indextts2_5", model_dir=str(FOLDER))


def speak(engine, texts, seed=7, speed=1.0, **options):
    """Each text's audio, in text order (the engine yields segments as they finish)."""
    results = list(engine.synthesize(texts, str(PROMPT), Controls(speed, seed, {**FAST, **options})))
    assert sorted(r.index for r in results) == list(range(len(texts)))
    return [r.audio for r in sorted(results, key=lambda r: r.index)]


def test_conformance_runner_passes_every_golden_case():
    cases = json.loads((FOLDER / "manifest.json").read_text())["cases"]
    rc, lines = run_conformance(FOLDER)
    assert lines[-1] == f"{len(cases)} passed, 0 failed" and len(cases) == 19, lines
    assert rc == 0
    assert [line.split()[0] for line in lines[:-1]] == [c["name"] for c in cases]


def test_segments_in_order_with_whole_mel_frames(engine):
    audio = speak(engine, ["Hello there.", "How are you today?"], lang="en")
    assert len(audio) == 2 and engine.sample_rate == 22050
    for wav in audio:
        assert wav.dtype == np.float32 and wav.ndim == 1 and wav.size > 0 and wav.size % HOP == 0
        assert np.isfinite(wav).all() and np.abs(wav).max() <= 1.0


def test_language_is_guessed_from_the_script(engine):
    for text, lang in (("你好，朋友！", "zh"), ("今日はいい天気です。", "ja"), ("¿Qué tal, amigo?", "es"),
                       ("Hello there, friend.", "en")):
        assert np.array_equal(speak(engine, [text])[0], speak(engine, [text], lang=lang)[0]), lang
    # the language reaches the GPT: another language id gives other codes
    assert not np.array_equal(speak(engine, ["Hello there."], lang="en")[0], speak(engine, ["Hello there."], lang="de")[0])


def test_speed_sets_the_duration_factor(engine):
    normal = speak(engine, ["Hello there."], seed=5, lang="en")[0]
    slow = speak(engine, ["Hello there."], seed=5, speed=0.5, lang="en")[0]
    explicit = speak(engine, ["Hello there."], seed=5, duration_factor=2.0, lang="en")[0]
    assert np.array_equal(slow, explicit)
    frames = normal.size // HOP
    semantic = next(n for n in range(1, 4 * frames) if v2_5_target_length(n) == frames)   # 2 x codes
    assert slow.size // HOP == v2_5_target_length(semantic, 2.0)


def test_pronunciation_annotations_reach_the_tokens(engine):
    prepared = engine.model.prepare_text("银<行|HANG2>在前面。", IndexTTS25Options(lang="zh"))
    marker = engine.model.frontend.special_token_id("<|SPECIAL_TOKEN_2|>")
    assert prepared.segment_ids[0].count(marker) == 2


def test_quick_streaming_cuts_the_opening_segments_shorter(engine):
    text = ("The storm came in from the north, and the wind did not stop, and the sea rose over the rocks "
            "until the old tower shook from its roots to the lamp at its top. The keeper waited.")
    opts = IndexTTS25Options(lang="en", max_text_tokens_per_segment=40)
    quick = IndexTTS25Options(lang="en", max_text_tokens_per_segment=40, quick_streaming_tokens=40)
    model = engine.model
    normal, fast = model.parts(text, opts), model.parts(text, quick)
    assert len(fast) > len(normal) and len(fast[0][0]) < len(normal[0][0]) and len(fast[0][0]) <= 20
    # the same words, only cut more often
    words = [model.prepare_text(text, o, q).segments for o, q in ((opts, 0), (quick, 40))]
    assert "".join(words[0]).split() == "".join(words[1]).split()
    assert model.parts(text, quick, quick=False) == normal


def test_compiled_flow_matching_and_decode_step_render_the_same_audio(engine):
    compiled = get_engine("indextts2_5", model_dir=str(FOLDER), compile_s2mel=True, compile_decode=True)
    assert compiled.model.estimator is not compiled.model.s2mel.estimator and compiled.model.runtime.compile_decode
    texts = ["Hello there.", "How are you today, my friend?"]
    for a, b in zip(speak(engine, texts, lang="en", num_beams=1), speak(compiled, texts, lang="en", num_beams=1)):
        assert a.size == b.size and np.abs(a - b).max() < 1e-4


def test_bad_options_are_clear_errors(engine):
    with pytest.raises(InputError, match="unknown language 'xx'"):
        engine.check_options({"lang": "xx"})
    with pytest.raises(InputError, match="duration_factor must lie in"):
        engine.check_options({"duration_factor": 5})
    with pytest.raises(InputError, match="speed must lie in"):
        list(engine.synthesize(["Hi."], str(PROMPT), Controls(speed=3.0, options=FAST)))
    with pytest.raises(InputError, match="nothing to speak"):
        list(engine.synthesize(["  "], str(PROMPT), Controls(options={**FAST, "lang": "en"})))


def test_missing_files_and_wrong_version_are_named(tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(FOLDER, model_dir, ignore=shutil.ignore_patterns("cases", "codec.pth"))
    with pytest.raises(EngineError, match=r"codec\.pth"):
        IndexTTS25Engine(model_dir)
    with pytest.raises(EngineError, match="IndexTTS-2 model, not IndexTTS-2.5"):
        IndexTTS25Engine(GOLDEN / "indextts2")


def test_cli_speaks_and_renders_a_book_with_indextts2_5(tmp_path):
    out = tmp_path / "hola.wav"
    common = ["--engine", "indextts2_5", "--model-dir", str(FOLDER), "--voice", str(PROMPT), "--seed", "1",
              "--option", "max_mel_tokens=30", "--option", "diffusion_steps=4"]
    r = subprocess.run([sys.executable, "-m", "indexstudio", "speak", "Hola amigo, son 25 euros.", "-o", str(out),
                        "--lang", "es", "--speed", "1.25", *common], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert info.samplerate == 22050 and info.frames > 0

    book = tmp_path / "book.md"
    book.write_text("# One\n\nHello there. How are you?\n\n# Two\n\n你好，朋友！\n", encoding="utf-8")
    m4b = tmp_path / "book.m4b"
    r = subprocess.run([sys.executable, "-m", "indexstudio", "book", str(book), "-o", str(m4b), *common],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from helpers.readback import probe
    assert len(probe(m4b)["chapters"]) == 2

    bad = subprocess.run([sys.executable, "-m", "indexstudio", "speak", "Hi.", "-o", str(out), "--lang", "klingon",
                          *common], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "unknown language 'klingon'" in bad.stderr


def test_a_books_sentences_read_in_another_language_than_it_declares_are_said_and_shown_as_read(tmp_path, caplog):
    """IndexTTS-2.5 guesses each sentence's language from its script: a Spanish book's sentence without an accent
    is read as English ("tengo two point five oh oh euros"). The run says so and names --lang (not the default: it
    renders a book again); --lang en-GB is English to it; --show-text shows what a run with --lang reads."""
    import indexstudio
    book = tmp_path / "es.md"
    book.write_text("---\nlanguage: es-MX\n---\n\nHola, tengo 2.500 euros.\n", encoding="utf-8")
    engine = get_engine("indextts2_5", model_dir=str(FOLDER))
    guessed = indexstudio.open_audiobook(book, engine=engine, voice=str(PROMPT))
    assert "lang" not in guessed.controls.options
    assert "the book says it is in 'es', and engine indextts2_5 guesses each sentence's language from its script: 1 " \
           "of 1 are read as another (segment 1: 'en'); --lang es reads them all as 'es'" in caplog.text
    spanish = indexstudio.open_audiobook(book, engine=engine, voice=str(PROMPT), lang="es")
    assert spanish.engine.spoken_form(spanish.plan.segments[0].text, spanish.controls.options) == \
        "HOLA, TENGO DOS MIL QUINIENTOS EUROS."
    told = indexstudio.open_audiobook(book, engine=engine, voice=str(PROMPT), lang="en-GB")     # (its region: the
    assert told.controls.options["lang"] == "en"                                                  # language)
    r = subprocess.run([sys.executable, "-m", "indexstudio", "book", str(book), "--model-dir", str(FOLDER), "--voice",
                        str(PROMPT), "--dry-run", "--show-text", "--lang", "es"], capture_output=True, text=True)
    assert r.returncode == 0 and "[1] HOLA, TENGO DOS MIL QUINIENTOS EUROS." in r.stdout, r.stderr
