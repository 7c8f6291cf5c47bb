"""The IndexTTS-2 engine: conformance on the golden folder, and the engine in the product.

The golden folder holds a reduced model with random weights, so the audio is
noise: these tests check shapes, durations, determinism, caching, threads and
errors, while the conformance cases check the numbers.
"""
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import GOLDEN
from helpers.conformance import run_conformance
from helpers.stop_first import stop_first

from indexstudio.engines import get_engine
from indexstudio.engines.base import Controls
from indexstudio.engines.indextts2 import IndexTTS2Engine, IndexTTS2Options, emotion_weights, flow_matching_group
from indexstudio.engines.indextts_common import RuntimeSettings
from indexstudio.errors import EngineError, IndexStudioError, InputError
from indexstudio.runtime.memory import MemoryBoundBatches
from indexstudio.runtime.model_runner import ModelRunner

FOLDER = GOLDEN / "indextts2"
PROMPT = FOLDER / "cases" / "prompt_en_22k.wav"
HOP = 256        # BigVGAN samples per mel frame
FAST = {"max_mel_tokens": 40, "diffusion_steps": 6}


@pytest.fixture(scope="module")
def engine():
    return get_engine("indextts2", model_dir=str(FOLDER))


def speak(engine, texts, seed=7, speed=1.0, **options):
    """Each text's audio, in text order (the engine yields segments as they finish)."""
    results = list(engine.synthesize(texts, str(PROMPT), Controls(speed, seed, {**FAST, **options})))
    assert sorted(r.index for r in results) == list(range(len(texts)))
    return [r.audio for r in sorted(results, key=lambda r: r.index)]


def test_conformance_runner_passes_every_golden_case():
    cases = json.loads((FOLDER / "manifest.json").read_text())["cases"]
    rc, lines = run_conformance(FOLDER)
    assert lines[-1] == f"{len(cases)} passed, 0 failed" and len(cases) == 25, lines
    assert rc == 0
    assert [line.split()[0] for line in lines[:-1]] == [c["name"] for c in cases]


def test_conformance_command_filters_cases_and_fails_on_a_broken_folder(tmp_path):
    rc, lines = run_conformance(FOLDER, "f2", "e1")
    assert rc == 0 and lines[-1] == "2 passed, 0 failed"
    assert lines[0].startswith("e1_remove_long_silence") and "PASS" in lines[0]
    broken = tmp_path / "golden"
    shutil.copytree(FOLDER, broken)
    (broken / "s2mel.pth").unlink()
    rc, lines = run_conformance(broken, "f")
    assert rc == 1 and lines[-1].endswith("failed") and not lines[-1].endswith(" 0 failed")
    assert any("s2mel.pth" in line for line in lines)


def test_every_segment_comes_back_with_whole_mel_frames(engine):
    audio = speak(engine, ["Hello there.", "How are you today?"])
    assert len(audio) == 2
    for wav in audio:
        assert wav.dtype == np.float32 and wav.ndim == 1
        assert wav.size > 0 and wav.size % HOP == 0
        assert np.isfinite(wav).all() and np.abs(wav).max() <= 1.0
    assert engine.sample_rate == 22050


def test_same_seed_same_audio_other_seed_other_audio(engine):
    a, b, c = (speak(engine, ["Hello there."], seed=s)[0] for s in (3, 3, 4))
    assert np.array_equal(a, b)
    assert not (a.size == c.size and np.array_equal(a, c))


@pytest.mark.parametrize("beams", [1, 3])
def test_batched_decoding_and_flow_matching_equal_one_at_a_time(engine, beams):
    """Segments decode together in the runtime (3 at a time, each with its beams), flow matching and BigVGAN
    run padded batches; either way companions do not change a segment."""
    texts = ["Hello there.", "How are you today, my friend?", "Fine.", "One two three four five six seven."]
    alone = speak(engine, texts, num_beams=beams, s2mel_batch_size=1, gpt_batch_size=1, vocoder_batch_size=1)
    batched = speak(engine, texts, num_beams=beams, s2mel_batch_size=8, gpt_batch_size=3 * beams,
                    vocoder_batch_size=3)
    for a, b in zip(alone, batched):
        assert a.size == b.size and np.abs(a - b).max() < 1e-4
    single = speak(engine, texts[2:3], num_beams=beams, s2mel_batch_size=8)[0]
    assert single.size == batched[2].size and np.abs(single - batched[2]).max() < 1e-4


def test_batches_that_run_out_of_memory_go_on_smaller_with_the_same_audio(engine, monkeypatch):
    """Flow matching and BigVGAN batches that do not fit (a long segment on a small GPU) run again in halves
    instead of failing the request; batching never changes the audio, so neither does this."""
    texts = ["Hello there.", "How are you today, my friend?", "Fine.", "One two three four five six seven."]
    expected = speak(engine, texts, s2mel_batch_size=4, vocoder_batch_size=4)
    model = engine.model
    mels, vocode_many, sizes = model.mels, model.vocode_many, {"flow matching": [], "vocoder": []}

    def mels_of_at_most_two(conditions, *args):
        sizes["flow matching"].append(len(conditions))
        if len(conditions) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return mels(conditions, *args)

    def vocoder_of_one(group, batch_size):
        sizes["vocoder"].append(len(group))
        if len(group) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return vocode_many(group, batch_size)
    monkeypatch.setattr(model, "mels", mels_of_at_most_two)
    monkeypatch.setattr(model, "vocode_many", vocoder_of_one)
    monkeypatch.setattr(model, "flow_matching_batches", MemoryBoundBatches("flow matching"))
    monkeypatch.setattr(model, "vocoder_batches", MemoryBoundBatches("the vocoder"))
    got = speak(engine, texts, s2mel_batch_size=4, vocoder_batch_size=4)
    for a, b in zip(expected, got):
        assert a.size == b.size and np.abs(a - b).max() < 1e-4
    assert max(sizes["flow matching"]) > 2 and max(sizes["vocoder"]) > 1        # the injected limits were hit
    assert model.flow_matching_batches.size <= 2 and model.vocoder_batches.size == 1


def test_gpt_decoding_that_runs_out_of_memory_goes_on_with_fewer_rows_and_the_same_audio(engine, monkeypatch):
    """The GPU runs out of memory part way through decoding (sampled codes already drawn): the unfinished
    segments decode again, half as many rows at a time, from their generators' first states."""
    texts = ["Hello there.", "How are you today, my friend?", "Fine.", "One two three four five six seven."]
    expected = speak(engine, texts, gpt_batch_size=12)
    decode, steps = ModelRunner.decode, []

    def fits_three_rows(self, seqs):
        steps.append(sum(seq.num_rows for seq in seqs))
        if steps[-1] > 3 and len(steps) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return decode(self, seqs)
    monkeypatch.setattr(ModelRunner, "decode", fits_three_rows)
    monkeypatch.setattr(engine.model, "gpt_rows", MemoryBoundBatches("GPT decoding", "rows"))
    got = speak(engine, texts, gpt_batch_size=12)
    for a, b in zip(expected, got):
        assert a.size == b.size and np.abs(a - b).max() < 1e-4
    assert steps[:5] == [12] * 5 and 6 in steps and steps[-1] <= 3       # 12 rows, then 6, then 3
    assert engine.model.gpt_rows.size == 3
    steps.clear()
    again = speak(engine, texts, gpt_batch_size=12)                      # a later request starts at what fit
    assert max(steps) <= 3 and all(np.array_equal(a, b) for a, b in zip(got, again))


def test_the_first_text_goes_through_flow_matching_as_soon_as_it_is_decoded():
    # the first text (parts 0, 1) waits for both its parts, then goes ahead of a fuller queue
    assert flow_matching_group({0: 1, 5: 1, 6: 1}, [0, 1], 4, False) == []
    assert flow_matching_group({0: 1, 1: 1, 5: 1, 6: 1, 7: 1, 8: 1}, [0, 1], 4, False) == [0, 1]
    # later segments go in full batches, lowest first, and the rest once decoding is over
    assert flow_matching_group({7: 1, 3: 1, 5: 1}, [], 4, False) == []
    assert flow_matching_group({7: 1, 3: 1, 5: 1, 9: 1, 2: 1}, [], 4, False) == [2, 3, 5, 7]
    assert flow_matching_group({7: 1}, [], 4, True) == [7]
    assert flow_matching_group({}, [], 4, True) == []
    # an opening text of more parts than a batch goes a batch at a time
    assert flow_matching_group(dict.fromkeys(range(6)), list(range(6)), 4, False) == [0, 1, 2, 3]


def test_a_segment_whose_gpt_would_stop_at_once_still_speaks(engine):
    """The official search gives such a segment no codes and fails; the engine bars the stop token from the
    first code (a no-op wherever top-k leaves the stop token out of the first draw)."""
    with stop_first(engine.model.gpt):
        for beams in (1, 2):
            audio, = speak(engine, ["Hello there."], num_beams=beams)
            assert 0 < audio.size <= 2 * HOP and np.isfinite(audio).all()    # one code: 1.72 mel frames
        with pytest.raises(EngineError, match="the GPT produced no speech codes"):
            engine.model.infer(PROMPT, "Hello there.", IndexTTS2Options.from_mapping(FAST), seed=7)


def test_quick_streaming_cuts_only_the_opening_text_shorter(engine):
    text = ("The storm came in from the north, and the wind did not stop, and the sea rose over the rocks "
            "until the old tower shook from its roots to the lamp at its top. The keeper waited.")
    model = engine.model
    opts = IndexTTS2Options(max_text_tokens_per_segment=40)
    quick = IndexTTS2Options(max_text_tokens_per_segment=40, quick_streaming_tokens=40)
    normal, fast = model.parts(text, opts), model.parts(text, quick)
    assert len(fast[0][0]) < len(normal[0][0]) and len(fast[0][0]) <= 20
    assert sum(len(ids) for ids, _ in fast) == sum(len(ids) for ids, _ in normal)     # nothing lost
    assert model.parts(text, quick, quick=False) == normal                          # later texts as usual
    audio = speak(engine, [text, "Fine."], max_text_tokens_per_segment=40, quick_streaming_tokens=40)
    assert len(audio) == 2 and audio[1].size % HOP == 0 and all(np.isfinite(a).all() for a in audio)
    gap = int(22050 * 0.2)       # the opening text's parts are joined by the interval silence
    silent = np.all(np.lib.stride_tricks.sliding_window_view(audio[0], gap) == 0, axis=1)
    assert np.count_nonzero(np.diff(silent.astype(int)) == 1) == len(fast) - 1
    with pytest.raises(InputError, match="quick_streaming_tokens must not be negative"):
        engine.check_options({"quick_streaming_tokens": -1})


def test_speed_stretches_the_mel_not_the_codes(engine):
    normal = speak(engine, ["Hello there."], seed=5)[0]
    slow = speak(engine, ["Hello there."], seed=5, speed=0.5)[0]
    frames, slow_frames = normal.size // HOP, slow.size // HOP
    codes = round(frames / 1.72)
    assert abs(slow_frames - int(codes * 1.72 / 0.5)) <= 1 and slow_frames > 1.9 * frames


def test_long_segments_are_split_inside_the_engine(engine):
    text = "One two three four five six seven eight nine ten eleven twelve."
    whole = speak(engine, [text], max_text_tokens_per_segment=200)[0]
    parts = speak(engine, [text], max_text_tokens_per_segment=6, interval_silence_ms=100)[0]
    assert parts.size > whole.size
    gap = int(22050 * 0.1)
    assert np.any(np.all(np.lib.stride_tricks.sliding_window_view(parts, gap) == 0, axis=1))


def test_threads_share_the_engine_safely(engine):
    expected = speak(engine, ["Good morning."], seed=11)[0]
    results, errors = [None] * 3, []

    def work(i):
        try:
            results[i] = speak(engine, ["Good morning."], seed=11)[0]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(np.array_equal(r, expected) for r in results)


def test_speaker_conditioning_is_cached_by_content_not_path(engine, tmp_path):
    copy = tmp_path / "same_voice.wav"
    shutil.copy(PROMPT, copy)
    assert engine.model.speaker(copy) is engine.model.speaker(PROMPT)
    other = FOLDER / "cases" / "prompt_zh_24k.wav"
    assert engine.model.speaker(other) is not engine.model.speaker(PROMPT)


def test_the_merged_emotion_is_cached_by_audio_content_and_alpha(engine, tmp_path):
    model = engine.model
    speaker = model.speaker(PROMPT)
    opts = IndexTTS2Options()
    first, again = (model.emotion(speaker, PROMPT, opts) for _ in range(2))
    assert again.merged is first.merged                          # no second conformer pass
    copy = tmp_path / "same_voice.wav"
    shutil.copy(PROMPT, copy)
    assert model.emotion(speaker, copy, opts).merged is first.merged          # keyed by content, not path
    emo = dataclasses.replace(opts, emo_audio=str(copy), emo_alpha=0.5)
    half = model.emotion(speaker, PROMPT, emo)
    assert half.merged is not first.merged and not torch.equal(half.merged, first.merged)


def test_emotion_controls_change_the_conditioning(engine):
    model = engine.model
    speaker = model.speaker(PROMPT)
    plain = model.emotion(speaker, PROMPT, IndexTTS2Options())
    happy = model.emotion(speaker, PROMPT, IndexTTS2Options.from_mapping({"emo_vector": "happy=0.7"}))
    other_audio = model.emotion(speaker, PROMPT, IndexTTS2Options.from_mapping(
        {"emo_audio": str(FOLDER / "cases" / "prompt_zh_24k.wav"), "emo_alpha": 0.5}))
    assert not np.allclose(plain.vector, happy.vector)
    assert not np.allclose(plain.vector, other_audio.vector) and other_audio.alpha == 0.5
    assert speak(engine, ["Hi there."], emo_vector=[0, 0, 0.5, 0, 0, 0, 0, 0.2], use_random=True)[0].size > 0


def test_emotion_vector_parsing():
    assert emotion_weights("happy=0.5, calm=0.25") == (0.5, 0, 0, 0, 0, 0, 0, 0.25)
    assert emotion_weights([0, 1, 0, 0, 0, 0, 0, 0])[1] == 1.0
    assert emotion_weights("Happy = 0.5") == emotion_weights("happy=0.5")        # as people type them
    for bad, needle in (("joy=1", "unknown emotion"), ("1,2", "needs 8"),
                        ([-1] + [0] * 7, "--emotion: each weight runs from 0 to 1, got happy=-1"),
                        ("happy", r"give each emotion a weight \(happy=0.6\)"), ("happy=abc", "numbers, got 'abc'"),
                        ("happy=0.5,happy=0.2", "names happy twice")):
        with pytest.raises(InputError, match=needle):
            emotion_weights(bad)


def test_emotion_weights_over_one_are_named_as_no_stronger(caplog):
    """The official cap scales the weights to a total of 0.8: "angry=3" is "angry=0.8", said once, not silently."""
    IndexTTS2Options.from_mapping({"emo_vector": "angry=0.7,calm=0.2"}).check()
    assert "no stronger" not in caplog.text
    for _ in range(2):
        IndexTTS2Options.from_mapping({"emo_vector": "angry=3,calm=0.2"}).check()
    assert caplog.text.count("emotion weights over 1 (angry=3) are no stronger") == 1
    IndexTTS2Options.from_mapping({"emo_vector": "angry=3", "normalize_emo_vector": "false"}).check()
    assert "angry=3" in caplog.text and caplog.text.count("no stronger") == 1     # uncapped: as given


def test_bad_options_and_voices_are_clear_errors(engine):
    with pytest.raises(InputError, match="unknown IndexTTS-2 option.*tempo"):
        engine.check_options({"tempo": 2})
    with pytest.raises(InputError, match="top_k must be int"):
        IndexTTS2Options.from_mapping({"top_k": "many"})
    with pytest.raises(InputError, match="vocoder_batch_size must be at least 1"):
        IndexTTS2Options.from_mapping({"vocoder_batch_size": "0"})
    with pytest.raises(InputError, match="neither an audio file"):
        list(engine.synthesize(["Hi."], "no_such_voice", Controls()))
    with pytest.raises(InputError, match="do_sample must be true or false, got 'maybe'"):
        IndexTTS2Options.from_mapping({"do_sample": "maybe"})   # was read as false
    for name in ("temperature", "cfg_rate", "repetition_penalty"):
        with pytest.raises(InputError, match=f"{name} must be a finite number"):
            IndexTTS2Options.from_mapping({name: "nan"})           # every range check is false for NaN
    with pytest.raises(InputError, match="temperature must be positive when sampling, got 0.0"):
        IndexTTS2Options.from_mapping({"temperature": "0"})      # the one bad value, named alone
    with pytest.raises(InputError, match="max_text_tokens_per_segment 1000 is over this model's 150 text positions"):
        engine.check_options({"max_text_tokens_per_segment": 1000})
    with pytest.raises(InputError, match="neither an audio file"):
        engine.check_voice("no_such_voice")                    # what the CLI asks before any rendering
    assert engine.check_voice(str(PROMPT)) == str(PROMPT)
    with pytest.raises(InputError, match="speed"):
        list(engine.synthesize(["Hi."], str(PROMPT), Controls(speed=3.0, options=FAST)))


def test_emotion_from_text_without_the_qwen_folder_is_a_clear_error(engine):
    with pytest.raises(IndexStudioError, match="qwen0.6bemo4-merge"):
        list(engine.synthesize(["Hi."], str(PROMPT), Controls(options={**FAST, "emo_text": "so happy"})))


def test_corrupt_and_long_reference_audio(engine, tmp_path, caplog):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEnot really audio")
    with pytest.raises(InputError, match="cannot read audio file"):
        engine.model.speaker(bad)
    audio, sr = sf.read(PROMPT)
    long = tmp_path / "long.wav"
    sf.write(long, np.tile(audio, int(16 * sr / audio.size) + 1), sr)
    speaker = engine.model.speaker(long)
    assert any("only the first 15 s" in r.getMessage() for r in caplog.records)
    # the S2Mel mel pads (n_fft - hop) / 2 on each side: frames = (N - hop) // hop + 1 for N = 15 s
    assert speaker.mel.shape[-1] == (15 * 22050 - 256) // 256 + 1


def test_missing_checkpoint_and_wrong_version_are_named(tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(FOLDER, model_dir, ignore=shutil.ignore_patterns("cases", "s2mel.pth"))
    with pytest.raises(EngineError, match=r"S2Mel flow-matching checkpoint: expected .*s2mel\.pth"):
        IndexTTS2Engine(model_dir)
    with pytest.raises(EngineError, match="IndexTTS-1.5 model, not IndexTTS-2"):
        IndexTTS2Engine(GOLDEN / "indextts1_5")
    with pytest.raises(EngineError, match="needs --model-dir"):
        IndexTTS2Engine()


def test_cli_speaks_with_indextts2(tmp_path):
    out = tmp_path / "hello.wav"
    r = subprocess.run([sys.executable, "-m", "indexstudio", "speak", "--engine", "indextts2", "--model-dir", str(FOLDER),
                        "--voice", str(PROMPT), "Hello there. This is a test.", "-o", str(out), "--seed", "1",
                        "--emotion", "happy=0.6", "--option", "max_mel_tokens=30", "--option", "diffusion_steps=4",
                        "--option", "num_beams=1", "--gpt-weights", "int8"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert info.samplerate == 22050 and info.frames > 0
    bad = subprocess.run([sys.executable, "-m", "indexstudio", "speak", "--engine", "indextts2", "--model-dir",
                          str(FOLDER), "--voice", str(PROMPT), "Hi.", "-o", str(out), "--emotion", "joy=1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["indexstudio: error: unknown emotion(s) joy; known: happy, angry, sad, "
                                               "afraid, disgusted, melancholic, surprised, calm"]


def test_book_renders_through_the_pipeline_and_resumes(tmp_path):
    from helpers.readback import probe
    book = tmp_path / "book.md"
    book.write_text("# One\n\nHello there. How are you?\n\n# Two\n\nFine, thank you.\n", encoding="utf-8")
    out = tmp_path / "book.m4b"
    cmd = [sys.executable, "-m", "indexstudio", "book", str(book), "-o", str(out), "--engine", "indextts2",
           "--model-dir", str(FOLDER), "--voice", str(PROMPT), "--seed", "2", "--option", "max_mel_tokens=30",
           "--option", "diffusion_steps=4"]
    first = subprocess.run(cmd, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    info = probe(out)
    assert len(info["chapters"]) == 2
    assert info["duration"] > 0.4
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0 and "nothing new to render" in again.stdout


def test_a_book_segment_sounds_the_same_whichever_call_renders_it(tmp_path):
    """A book's calls fall differently with the bucket size, the mode and what a resumed job has left; a
    segment's audio must not depend on that: quick_streaming_tokens cut the book's opening only, and
    emotion from each text with `use_random` draws from that text's own stream."""
    from helpers.tiny_qwen import write_tiny_qwen

    from indexstudio.books.reader import Book, Chapter
    from indexstudio.pipeline.job import Job, RenderSettings
    from indexstudio.pipeline.plan import make_plan

    engine = get_engine("indextts2", model_dir=str(FOLDER), qwen_emo=str(write_tiny_qwen(tmp_path / "qwen")))
    text = ("The storm came, and the wind blew. The sea rose, and the tower shook. The keeper waited, and the lamp "
            "went out. The night was long, and then morning came.")
    plan = make_plan(Book("Storm", [Chapter("", text)]), engine, str(PROMPT), max_tokens=30, read_titles=False)
    options = {**FAST, "max_text_tokens_per_segment": 24, "quick_streaming_tokens": 24, "use_emo_text": True,
               "use_random": True}
    controls = Controls(seed=5, options=options)
    opts = IndexTTS2Options.from_mapping(options)
    assert len(plan.segments) >= 4 and all(len(engine.model.parts(s.text, opts)) == 2 for s in plan.segments)
    assert all(len(engine.model.parts(s.text, opts, quick=False)) == 1 for s in plan.segments)

    def render(name, **settings):
        job = Job(tmp_path / name, plan, engine, str(PROMPT), controls, RenderSettings(**settings))
        job.render()
        return [sf.read(job.segment_path(s.index))[0] for s in plan.segments]
    alone = render("alone", bucket_size=1)
    for name, settings in {"threes": {"bucket_size": 3}, "lengths": {"mode": "batch", "bucket_size": 2}}.items():
        got = render(name, **settings)
        # the same but for the last bit of a 16-bit sample: padded flow-matching batches round differently
        assert all(a.size == b.size and np.abs(a - b).max() <= 2 ** -15 for a, b in zip(alone, got)), name
    opening = list(engine.synthesize([plan.segments[0].text], str(PROMPT), controls))[0].audio
    assert opening.size == alone[0].size     # the book's opening was cut in quick parts, joined by silence,
    later = list(engine.synthesize([plan.segments[1].text], str(PROMPT), controls))[0].audio
    assert later.size != alone[1].size       # the later segments were not, though a call of their own would be


@pytest.mark.parametrize("name", ["indextts2", "indextts2_5", "indextts1_5"])
def test_a_bfloat16_gpt_renders_on_cpu(name):
    """`--dtype bfloat16`: the whole GPT in half precision, as `--dtype float16` runs it on CUDA.  IndexTTS-2's
    teacher-forced latent pass once failed so on CPUs ("mixed dtype"): its float32 speaker latent and emotion
    vector met bfloat16 layer norms."""
    half = get_engine(name, model_dir=str(GOLDEN / name), dtype="bfloat16")
    assert half.model.gpt_dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for p in half.model.gpt.parameters())
    prompt = GOLDEN / name / "cases" / "prompt_en_22k.wav"
    options = {k: v for k, v in FAST.items() if k != "diffusion_steps" or name != "indextts1_5"}   # 1.5: no S2Mel
    results = list(half.synthesize(["Hello there.", "How are you today?"], str(prompt), Controls(1.0, 7, options)))
    assert sorted(r.index for r in results) == [0, 1]
    for r in results:
        assert r.audio.size > 0 and np.isfinite(r.audio).all() and np.abs(r.audio).max() > 0


def test_cpu_decode_weights_are_an_engine_setting_built_once(engine):
    bf16 = IndexTTS2Engine(FOLDER, gpt_weights="bf16")
    texts = ["Hello there.", "How are you today, my friend?"]
    first = speak(bf16, texts, num_beams=1)
    built = bf16.model.gpt.gpt.__dict__["_decode_layers"]
    assert set(built) == {"bf16"} and built["bf16"][0].qkv.weight.dtype == torch.bfloat16
    layers = built["bf16"]
    second = speak(bf16, texts, num_beams=1)
    assert built["bf16"] is layers                      # the copies are made once per model
    for a, b in zip(first, second):
        assert a.size > 0 and np.isfinite(a).all() and np.array_equal(a, b)
    assert "_decode_layers" not in engine.model.gpt.gpt.__dict__ or "bf16" not in engine.model.gpt.gpt._decode_layers
    with pytest.raises(EngineError, match="gpt_weights must be one of fp32, bf16, int8"):
        IndexTTS2Engine(FOLDER, gpt_weights="fp8")
    with pytest.raises(EngineError, match="CPU mode"):
        RuntimeSettings("int8").check(torch.device("cuda"))


def test_compiled_flow_matching_and_decode_step_render_the_same_audio(engine):
    compiled = IndexTTS2Engine(FOLDER, compile_s2mel=True, compile_decode=True)
    assert compiled.model.estimator is not compiled.model.s2mel.estimator
    assert compiled.model.runtime.compile_decode
    # CUDA graphs are recorded per shape, so on CUDA a batch's width goes up to the next 64 frames
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert [compiled.model.runtime.s2mel_frames(n, cuda) for n in (1, 64, 65, 700)] == [64, 64, 128, 704]
    assert compiled.model.runtime.s2mel_frames(65, cpu) == RuntimeSettings().s2mel_frames(65, cuda) == 65
    texts = ["Hello there.", "How are you today, my friend?"]
    options = {"num_beams": 1, "diffusion_steps": 3}
    for a, b in zip(speak(engine, texts, **options), speak(compiled, texts, **options)):
        assert a.size == b.size and np.abs(a - b).max() < 1e-4


def test_compiling_without_a_compiler_is_named_when_the_model_loads():
    import torch._inductor.config as inductor
    compilers = inductor.cpp.cxx
    with inductor.patch({"cpp.cxx": ("no-such-compiler-indexstudio",)}):
        for setting in ("compile_s2mel", "compile_decode"):
            with pytest.raises(EngineError, match=r"torch.compile on a CPU needs a C\+\+ compiler: install g\+\+"):
                IndexTTS2Engine(FOLDER, **{setting: True})
    assert inductor.cpp.cxx == compilers           # the setting is back for the tests that compile


def test_half_precision_flow_matching_stays_close_to_float32(engine):
    bf16 = IndexTTS2Engine(FOLDER, s2mel_dtype="bfloat16")
    compiled = IndexTTS2Engine(FOLDER, s2mel_dtype="bfloat16", compile_s2mel=True)
    assert bf16.model.runtime.s2mel_dtype == torch.bfloat16
    texts = ["Hello there.", "How are you today, my friend?"]
    options = {"num_beams": 1, "diffusion_steps": 4}
    exact, half, half_compiled = (speak(e, texts, **options) for e in (engine, bf16, compiled))
    for a, b, c in zip(exact, half, half_compiled):
        assert a.size == b.size == c.size and b.dtype == np.float32 and np.isfinite(b).all()
        error = np.linalg.norm(a - b) / np.linalg.norm(a)
        assert 0 < error < 0.1, error        # other rounding, the same segment
        # compiled, it still runs in bfloat16: as far from float32 as bfloat16 is (compiled float32 is within 1e-4)
        assert np.linalg.norm(c - a) > 0.25 * np.linalg.norm(b - a)
    with pytest.raises(EngineError, match="float16 needs a GPU; on CPU use bfloat16"):
        IndexTTS2Engine(FOLDER, s2mel_dtype="float16")
    with pytest.raises(EngineError, match="IndexTTS-1.5 has no flow-matching stage"):
        get_engine("indextts1_5", model_dir=str(GOLDEN / "indextts1_5"), s2mel_dtype="bfloat16")


def test_settings_an_engine_does_not_take_are_named():
    with pytest.raises(EngineError, match="engine kokoro does not take device, gpt_weights; it takes threads, workers"):
        get_engine("kokoro", device="cpu", gpt_weights="bf16")


def _poison(path: Path) -> None:
    """One weight of a checkpoint set to NaN (a model that speaks noise, and nothing says why)."""
    ckpt = torch.load(path, weights_only=True)
    state = ckpt.get("model", ckpt)
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name] = state[name].clone()
    state[name].view(-1)[0] = float("nan")
    torch.save(ckpt, path)


@pytest.mark.parametrize("damage, message", [
    (lambda root: shutil.copy(GOLDEN / "indextts2_5" / "s2mel.pth", root / "s2mel.pth"), "no gpt_layer"),
    (lambda root: (root / "hf_cache" / "w2v-bert-2.0" / "config.json").unlink(), "missing config.json of the w2v-BERT"),
    (lambda root: open(root / "hf_cache" / "w2v-bert-2.0" / "model.safetensors", "r+b").truncate(5000),
     "cannot load w2v-BERT 2.0"),
    (lambda root: _poison(root / "gpt.pth"), r"gpt\.pth: 1 tensor hold NaN or infinite values \(.*\): the checkpoint is damaged"),
])
def test_a_damaged_folder_is_refused_at_load_naming_the_part(tmp_path, damage, message):
    """Before any rendering, as a model-folder error (not a traceback from transformers, nor a failure after the
    GPT stage of the first segment)."""
    root = tmp_path / "model"
    shutil.copytree(FOLDER, root, ignore=shutil.ignore_patterns("cases"))
    damage(root)
    with pytest.raises(IndexStudioError, match=message):      # (a missing file is named as the engine is set up,
        IndexTTS2Engine(root).model                           # a damaged one as the weights load at first use)


def test_text_outside_the_vocabulary_is_named_and_text_with_nothing_known_refused(engine, caplog):
    with pytest.raises(InputError, match="is in this model's text vocabulary"):
        list(engine.synthesize(["สวัสดีครับ"], str(PROMPT), Controls(1.0, 1, FAST)))
    results = list(engine.synthesize(["Hello สวัสดีครับ there."], str(PROMPT), Controls(1.0, 1, FAST)))
    assert len(results) == 1 and "1 of 6 text tokens are not in the vocabulary" in caplog.text


def test_weight_only_modes_are_named_as_slower_on_a_cpu_without_avx512(monkeypatch, caplog):
    """On an AVX2-only AMD EPYC (Zen 3) bf16 copies decoded 8 segments at 0.31x fp32's speed: say so."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    RuntimeSettings("fp32").check(torch.device("cpu"))
    assert "slower than fp32" not in caplog.text
    RuntimeSettings("bf16").check(torch.device("cpu"))
    assert "--gpt-weights bf16: this CPU has no AVX-512 (AVX2)" in caplog.text
    caplog.clear()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    RuntimeSettings("int8").check(torch.device("cpu"))
    assert "slower than fp32" not in caplog.text


def test_a_max_mel_tokens_over_the_model_is_said_before_the_weights_load(caplog):
    fresh = IndexTTS2Engine(FOLDER)
    fresh.check_options({"max_mel_tokens": "4321"})
    assert "max_mel_tokens 4321 is over this model's 250 mel positions: 250 are used" in caplog.text
    assert fresh._model is None                      # (the CLI checks options before anything loads)


def test_a_closed_engine_lets_go_of_its_weights_and_loads_them_again():
    engine = IndexTTS2Engine(FOLDER)
    loaded = engine.model
    engine.close()
    assert engine._model is None
    assert engine.model is not loaded and engine.model is engine.model          # (loaded anew, once)


def test_lang_is_said_to_have_no_effect_where_the_engine_reads_the_text(caplog):
    """--lang was silently ignored by IndexTTS-2 and 1.5 (they read the language from the text)."""
    from indexstudio.pipeline.voicing import checked_language
    assert checked_language(get_engine("indextts2", model_dir=str(FOLDER)), "es") == "es"
    assert "--lang has no effect on engine indextts2: it reads the language from the text" in caplog.text


def test_an_engine_is_chosen_by_its_folder_and_a_wrong_folder_is_named(tmp_path):
    """get_engine(model_dir=...) was the embedded engine's ("does not take model_dir"); a number for a folder
    was a TypeError; --model-dir naming a file said "no such folder"."""
    assert get_engine(model_dir=str(FOLDER)).name == "indextts2" and get_engine().name == "kokoro"
    with pytest.raises(EngineError, match="model_dir must be a checkpoint folder's path, got 5"):
        get_engine("indextts2", model_dir=5)
    (tmp_path / "me.wav").write_bytes(b"")
    with pytest.raises(InputError, match="a file, not a folder"):
        get_engine(model_dir=str(tmp_path / "me.wav"))
    r = subprocess.run([sys.executable, "-m", "indexstudio", "speak", "Hi.", "-o", str(tmp_path / "x.wav"),
                        "--model-dir", str(tmp_path / "me.wav")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().endswith("me.wav: a file, not a folder (give the checkpoint folder)")


def test_an_emotion_matrix_of_the_wrong_width_is_named(tmp_path):
    """feat2.pt copied over feat1.pt loaded, and an emotion request failed in a tensor size mismatch, each retry."""
    from indexstudio.models.emotion import load_emotion_matrices
    from indexstudio.models.folder import ModelFolder, ModelFolderError
    model_dir = tmp_path / "model"
    shutil.copytree(FOLDER, model_dir, ignore=shutil.ignore_patterns("cases"))
    shutil.copy(model_dir / "feat2.pt", model_dir / "feat1.pt")
    with pytest.raises(ModelFolderError, match=r"feat1.pt: its rows are \d+ wide, not 192 \(the speaker style\)"):
        load_emotion_matrices(ModelFolder(model_dir))
    assert load_emotion_matrices(ModelFolder(FOLDER)).speaker_groups[0].shape[1] == 192


def test_a_w2v_bert_folder_without_its_weights_is_named_before_loading(tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(FOLDER, model_dir, ignore=shutil.ignore_patterns("cases", "model.safetensors"))
    with pytest.raises(EngineError, match=r"missing model.safetensors or pytorch_model.bin of the w2v-BERT 2.0 folder"):
        IndexTTS2Engine(model_dir)


def test_a_w2v_bert_that_does_not_fit_its_config_is_one_line(tmp_path):
    """transformers printed a 40-line load report above the error."""
    model_dir = tmp_path / "model"
    shutil.copytree(FOLDER, model_dir, ignore=shutil.ignore_patterns("cases"))
    config = model_dir / "hf_cache" / "w2v-bert-2.0" / "config.json"
    settings = json.loads(config.read_text())
    config.write_text(json.dumps({**settings, "hidden_size": settings["hidden_size"] * 2}))
    r = subprocess.run([sys.executable, "-m", "indexstudio", "speak", "Hi.", "-o", str(tmp_path / "x.wav"),
                        "--model-dir", str(model_dir), "--voice", str(FOLDER / "cases" / "prompt_en_22k.wav")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "MISMATCH" not in r.stderr and len(r.stderr.strip().splitlines()) <= 3, r.stderr
    assert "cannot load w2v-BERT 2.0 (its weights do not fit its config.json: mis-shaped tensors)" in r.stderr


def test_a_config_yaml_that_is_wrong_is_named_with_where(tmp_path):
    """A key misspelt named no folder; an unknown version was taken as IndexTTS-2; a YAML error had no line."""
    model_dir = tmp_path / "model"
    shutil.copytree(FOLDER, model_dir, ignore=shutil.ignore_patterns("cases"))
    config = model_dir / "config.yaml"
    text = config.read_text()
    config.write_text(text.replace("  model_dim:", "  model_dimm:", 1))
    with pytest.raises(EngineError, match=rf"{model_dir / 'config.yaml'}: gpt section lacks 'model_dim'"):
        IndexTTS2Engine(model_dir)
    config.write_text(re.sub(r"(?m)^version: .*$", "version: 3.0", text))
    with pytest.raises(EngineError, match=r"config.yaml: version 3.0: this knows IndexTTS 1.5, 2 and 2.5"):
        IndexTTS2Engine(model_dir)
    config.write_text("gpt:\n  a: [1, 2\nb: 3\n")
    with pytest.raises(EngineError, match=r"config.yaml: not valid YAML at line 3, column 2"):
        IndexTTS2Engine(model_dir)
