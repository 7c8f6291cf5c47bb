"""The IndexTTS-1.5 engine: conformance on the golden folder, both modes through the product.

The golden model has random weights: the tests check shapes, durations,
batching, determinism and errors; the conformance cases check the numbers.
"""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import GOLDEN
from helpers.conformance import run_conformance
from helpers.stop_first import stop_first

from indexstudio.engines import get_engine
from indexstudio.engines.base import Controls
from indexstudio.engines.indextts1_5 import IndexTTS15Engine, IndexTTS15Options
from indexstudio.engines.indextts_common import to_int16
from indexstudio.errors import EngineError, InputError

FOLDER = GOLDEN / "indextts1_5"
PROMPT = FOLDER / "cases" / "prompt_zh_24k.wav"
HOP = 1024                    # BigVGAN samples per GPT code
GREEDY = {"do_sample": False, "num_beams": 1, "max_mel_tokens": 30}


@pytest.fixture(scope="module")
def engine():
    return get_engine("indextts1_5", model_dir=str(FOLDER))


def test_conformance_runner_passes_every_golden_case():
    cases = json.loads((FOLDER / "manifest.json").read_text())["cases"]
    rc, lines = run_conformance(FOLDER)
    assert lines[-1] == f"{len(cases)} passed, 0 failed" and len(cases) == 10, lines
    assert rc == 0


def test_a_bucket_decodes_as_one_batch_and_equals_one_at_a_time(engine):
    texts = ["Hello there.", "How are you today, my friend?", "Fine."]
    together = [r for r in engine.synthesize(texts, str(PROMPT), Controls(seed=1, options=GREEDY))]
    assert sorted(r.index for r in together) == [0, 1, 2]
    alone = [next(iter(engine.synthesize([t], str(PROMPT), Controls(seed=1, options=GREEDY)))) for t in texts]
    for r in together:
        ref = alone[r.index].audio
        assert r.audio.dtype == np.float32 and r.audio.size % HOP == 0 and r.audio.size > 0
        assert r.audio.size == ref.size and np.allclose(r.audio, ref, atol=1e-4)
    assert engine.sample_rate == 24000


def test_single_beam_sampling_through_the_runtime_ignores_companions(engine):
    opts = {"num_beams": 1, "max_mel_tokens": 30}      # sampling, each segment with its own generator
    texts = ["Hello there.", "How are you today, my friend?", "Fine."]
    together = list(engine.synthesize(texts, str(PROMPT), Controls(seed=3, options=opts)))
    assert [r.index for r in together] == [0, 1, 2]      # streamed in text order
    alone = next(iter(engine.synthesize(texts[1:2], str(PROMPT), Controls(seed=3, options=opts)))).audio
    assert alone.size == together[1].audio.size and np.allclose(alone, together[1].audio, atol=1e-4)


def test_a_compiled_decode_step_renders_the_same_audio(engine):
    """--compile-decode applies to 1.5 too (its decoding is the shared runtime); --compile does not."""
    compiled = get_engine("indextts1_5", model_dir=str(FOLDER), compile_decode=True)
    assert compiled.model.runtime.compile_decode
    texts = ["Hello there.", "How are you today, my friend?"]
    options = {"num_beams": 1, "max_mel_tokens": 30}
    for a, b in zip(engine.synthesize(texts, str(PROMPT), Controls(seed=3, options=options)),
                    compiled.synthesize(texts, str(PROMPT), Controls(seed=3, options=options))):
        assert a.index == b.index and a.audio.size == b.audio.size and np.allclose(a.audio, b.audio, atol=1e-4)
    with pytest.raises(EngineError, match="IndexTTS-1.5 has no flow-matching stage"):
        get_engine("indextts1_5", model_dir=str(FOLDER), compile_s2mel=True)


def test_beam_search_runs_in_the_runtime_and_a_segment_ignores_its_bucket(engine):
    """The official defaults (3 beams, sampling): a bucket's segments decode side by side, each as alone."""
    opts = {"max_mel_tokens": 30}
    texts = ["Hello there.", "How are you today, my friend?", "Fine."]
    together = list(engine.synthesize(texts, str(PROMPT), Controls(seed=4, options={**opts, "gpt_batch_size": 9})))
    assert [r.index for r in together] == [0, 1, 2]
    alone = next(iter(engine.synthesize(texts[1:2], str(PROMPT), Controls(seed=4, options=opts)))).audio
    assert alone.size == together[1].audio.size and np.allclose(alone, together[1].audio, atol=1e-4)
    # weight-only modes apply to beam search too (they used to be ignored there)
    int8 = get_engine("indextts1_5", model_dir=str(FOLDER), gpt_weights="int8")
    audio = next(iter(int8.synthesize(texts[:1], str(PROMPT), Controls(seed=4, options=opts)))).audio
    assert audio.size % HOP == 0 and audio.size > 0 and np.isfinite(audio).all()


def test_a_segment_from_the_engine_equals_the_official_infer(engine):
    """Greedy 3-beam search through the runtime gives the official `infer` audio (conformance-checked)."""
    text = "How are you today, my friend?"
    options = {"do_sample": False, "num_beams": 3, "max_mel_tokens": 30}
    audio = next(iter(engine.synthesize([text], str(PROMPT), Controls(seed=0, options=options)))).audio
    model = engine.model
    official = model.infer(PROMPT, text, type(engine).options_type.from_mapping(options))[:, 0].numpy()
    ours = to_int16(torch.from_numpy(audio)).numpy().astype(np.int32)
    assert ours.size == official.size and np.abs(ours - official).max() <= 1


def test_a_segment_whose_gpt_would_stop_at_once_still_speaks(engine):
    """The official search ends such a segment with no codes and fails on it; the engine bars the stop token
    from the first code, so a book goes on (with real weights top-k leaves the stop token out anyway)."""
    text = "Hello there."
    with stop_first(engine.model.gpt):
        for options in ({"num_beams": 3, "max_mel_tokens": 30}, {"num_beams": 1, "max_mel_tokens": 30}):
            audio = next(iter(engine.synthesize([text], str(PROMPT), Controls(seed=4, options=options)))).audio
            assert audio.size == HOP and np.isfinite(audio).all()      # one code
        with pytest.raises(EngineError, match="the GPT produced no speech codes"):
            engine.model.infer(PROMPT, text, IndexTTS15Options.from_mapping({"max_mel_tokens": 30}), seed=4)


def test_sampling_is_seeded(engine):
    opts = {"max_mel_tokens": 30}
    a, b, c = (next(iter(engine.synthesize(["Hello there."], str(PROMPT), Controls(seed=s, options=opts)))).audio
               for s in (5, 5, 6))
    assert np.array_equal(a, b)
    assert not (a.size == c.size and np.array_equal(a, c))


def test_prompt_conditioning_is_cached_by_content(engine, tmp_path):
    copy = tmp_path / "copy.wav"
    copy.write_bytes(PROMPT.read_bytes())
    assert engine.model.prompt(copy) is engine.model.prompt(PROMPT)


def test_clear_errors(engine, tmp_path):
    with pytest.raises(InputError, match="no speed control"):
        list(engine.synthesize(["Hi."], str(PROMPT), Controls(speed=1.2)))
    with pytest.raises(InputError, match="unknown IndexTTS-1.5 option.*emo_alpha"):
        engine.check_options({"emo_alpha": 0.5})
    with pytest.raises(InputError, match="gpt_batch_size must be at least 1, got 0"):
        engine.check_options({"gpt_batch_size": "0"})
    with pytest.raises(EngineError, match="IndexTTS-2 model, not IndexTTS-1.5"):
        IndexTTS15Engine(GOLDEN / "indextts2")
    broken = tmp_path / "model"
    broken.mkdir()
    for f in ("config.yaml", "bpe.model", "gpt.pth"):
        (broken / f).symlink_to(FOLDER / f)
    with pytest.raises(EngineError, match=r"BigVGAN.*bigvgan_generator\.pth"):
        IndexTTS15Engine(broken)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "indexstudio", *args], capture_output=True, text=True)


def test_cli_speak_and_both_book_modes(tmp_path):
    common = ["--engine", "indextts1_5", "--model-dir", str(FOLDER), "--voice", str(PROMPT), "--seed", "3",
              "--option", "max_mel_tokens=25"]
    out = tmp_path / "hi.wav"
    r = _run("speak", "Hello there. How are you?", "-o", str(out), *common)
    assert r.returncode == 0, r.stderr
    assert sf.info(out).samplerate == 24000 and sf.info(out).frames > 0

    book = tmp_path / "book.md"
    book.write_text("# One\n\nHello there. How are you?\n\n# Two\n\nFine, thank you. See you soon.\n", encoding="utf-8")
    lengths = {}
    for mode in ("normal", "batch"):
        wav = tmp_path / f"{mode}.wav"
        r = _run("book", str(book), "-o", str(wav), "--mode", mode, "--bucket-size", "3",
                 "--option", "do_sample=false", "--option", "num_beams=1", *common)
        assert r.returncode == 0, r.stderr
        assert "2 chapters" in r.stdout
        lengths[mode] = sf.info(wav).frames
    # greedy decoding: a bucket decodes to the same codes as one segment at a time
    assert lengths["normal"] == lengths["batch"] > 0
