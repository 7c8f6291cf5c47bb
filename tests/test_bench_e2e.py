"""bench/bench_e2e.py and bench/random_model.py on the reduced golden folder, with tiny settings.

Checks the structure of the results (every number present and positive), not
timings; and that the random-folder writer reproduces the official layout
(file set, keys, shapes, dtypes) of the golden folder at the golden sizes.
"""
import sys

import pytest
from conftest import GOLDEN, ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_e2e  # noqa: E402
import random_model  # noqa: E402

FOLDER = GOLDEN / "indextts2"
VOICE = FOLDER / "cases" / "prompt_en_22k.wav"
TINY = {"max_mel_tokens": 12, "diffusion_steps": 2}

pytestmark = pytest.mark.skipif(not FOLDER.is_dir(), reason="golden IndexTTS-2 folder not available")


@pytest.fixture(scope="module")
def engine():
    return bench_e2e.load_engine(FOLDER)[0]


def _positive(value):
    return isinstance(value, (int, float)) and value > 0


def test_speed_functions_report_positive_numbers(engine):
    assert _positive(bench_e2e.warm_up(engine, VOICE, TINY))
    texts = bench_e2e.segment_texts(1)
    single = bench_e2e.bench_single_stream(engine, VOICE, texts, TINY)
    assert single["segments"] == 1 and len(single["per_segment"]) == 1
    for key in ("wall_s", "audio_s", "rtf", "codes_per_s"):
        assert _positive(single[key]), key
    assert len(single["codes_per_segment"]) == 1 and 0 < single["codes_per_segment"][0] <= TINY["max_mel_tokens"]
    assert single["hit_max_mel_tokens"] in (0, 1) and single["cuda_peak_bytes"] is None

    multi = bench_e2e.bench_multi_segment(engine, VOICE, texts, TINY)
    assert multi["segments"] == multi["yielded"] == 1
    for key in ("first_audio_s", "wall_s", "audio_s", "throughput", "rtf"):
        assert _positive(multi[key]), key
    assert multi["first_audio_s"] <= multi["wall_s"]

    stages = bench_e2e.bench_stages(engine, VOICE, texts[0], TINY)
    assert list(stages["stages_s"])[-2:] == ["cfm_inference", "bigvgan"]
    assert {"gpt_inference_speech", "gpt_forward_latent", "length_regulator"} <= set(stages["stages_s"])
    assert all(seconds >= 0 for seconds in stages["stages_s"].values())
    assert abs(sum(stages["stages_s"].values()) - stages["wall_s"]) < 1e-6 and _positive(stages["rtf"])


def test_memory_function_measures_a_small_book_in_a_subprocess():
    run = bench_e2e.measure_book_memory(200, FOLDER, VOICE, {"max_mel_tokens": 10, "diffusion_steps": 2},
                                        timeout=600)
    assert 200 <= run["characters"] < 400 and run["segments"] >= 1
    for key in ("audio_s", "wall_s", "peak_rss_kib", "peak_rss_mib"):
        assert _positive(run[key]), key
    assert run["cuda_peak_bytes"] is None
    # engine-wide settings reach the engine of the subprocess (here one a CPU refuses)
    with pytest.raises(RuntimeError, match="float16 needs a GPU"):
        bench_e2e.measure_book_memory(200, FOLDER, VOICE, timeout=600, settings={"s2mel_dtype": "float16"})


def test_command_line_prints_the_table(tmp_path, capsys):
    out = tmp_path / "bench.json"
    result = bench_e2e.main(["--model-dir", str(FOLDER), "--segments", "1", "--tokens", "8", "--diffusion-steps",
                             "2", "--prompt-seconds", "2", "--skip-memory", "--json", str(out)])
    text = capsys.readouterr().out
    assert "single-stream RTF" in text and "time to first audio" in text and "torch" in text
    assert "stage by stage" in text and "flow matching" in text and "BigVGAN" in text
    assert out.is_file() and result["speed"]["config"]["options"]["max_mel_tokens"] == 8
    assert abs(result["speed"]["config"]["prompt_s"] - 2.0) < 0.01
    hw = result["hardware"]
    assert hw["cpu"] and hw["torch"] and _positive(hw["torch_threads"])


def test_book_text_has_the_requested_length_in_chapters():
    chapters = bench_e2e.book_text(25_000)
    assert 25_000 <= sum(len(c) for c in chapters) < 25_200 and len(chapters) == 3


def test_random_folder_has_the_official_layout_at_golden_sizes(tmp_path):
    config, w2v, bigvgan = random_model.template_spec(FOLDER)
    folder = random_model.write_random_folder(tmp_path / "model", config, w2v, bigvgan, FOLDER, log=lambda *_: None)
    assert random_model.compare_with_template(folder, FOLDER) == []
    from indexstudio.models.folder import ModelFolder
    from indexstudio.models.unified_voice import load_unified_voice_v2
    gpt = load_unified_voice_v2(ModelFolder(folder))
    assert float(gpt.mel_head.bias.detach()[gpt.cfg.stop_mel_token]) == random_model.STOP_BIAS


def test_full_size_spec_has_the_official_sizes():
    config, w2v, bigvgan = random_model.full_size_spec(FOLDER)
    gpt = config["gpt"]
    assert (gpt["model_dim"], gpt["layers"], gpt["heads"], gpt["max_mel_tokens"], gpt["number_mel_codes"]) == \
        (1280, 24, 20, 1815, 8194)
    assert config["semantic_codec"]["hidden_size"] == config["s2mel"]["length_regulator"]["in_channels"] == 1024
    assert (w2v.hidden_size, w2v.num_hidden_layers) == (1024, 24)
    assert bigvgan["upsample_initial_channel"] == 1536 and bigvgan["upsample_rates"] == [4, 4, 2, 2, 2, 2]
