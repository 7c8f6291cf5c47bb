"""Continuous-batching decode runtime: same codes as `decoding.generate` alone, per-sequence sampling, slot reuse."""
from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
import torch
from helpers.stop_first import stop_first
from safetensors.torch import load_file

from indexstudio.errors import EngineError
from indexstudio.models.folder import ModelFolder
from indexstudio.models.unified_voice import load_unified_voice_v2
from indexstudio.models.unified_voice_v1_5 import load_unified_voice_v1_5
from indexstudio.runtime import model_runner
from indexstudio.runtime.decode_engine import (DecodeEngine, decode_rows, engine_for, new_generator, prompt_rows,
                                               shared_prefix)
from indexstudio.runtime.decoding import BeamSearch, DecodingConfig, generate, multinomial_rows
from indexstudio.runtime.kv_cache import row_span, take_rows
from indexstudio.runtime.model_runner import DecodeGraphs, ModelRunner
from indexstudio.runtime.sequence import SamplingParams, Sequence
from indexstudio.runtime.weights import decode_layers, onednn_bf16_available

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
TEXT_LENGTHS = (19, 3, 11, 7, 15, 5)        # prompts of different lengths, more of them than slots
SAMPLING = {"do_sample": True, "temperature": 0.8, "top_k": 30, "top_p": 0.8, "repetition_penalty": 10.0}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny models gain nothing from threads, and on a busy machine thread hand-offs dominate."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _v2_rows():
    model = load_unified_voice_v2(ModelFolder(GOLDEN / "indextts2"))
    t = load_file(GOLDEN / "indextts2" / "cases" / "d5_gpt_inference_speech.safetensors")
    spk = t["in.spk_cond_emb"]
    with torch.inference_mode():
        conds = model.conditioning_prefix(model.get_conditioning(spk, torch.tensor([spk.shape[-1]])), t["in.emo_vec"])
    return model, conds, t["in.text_tokens"]


def _v1_5_rows():
    model = load_unified_voice_v1_5(ModelFolder(GOLDEN / "indextts1_5"))
    t = load_file(GOLDEN / "indextts1_5" / "cases" / "d3_gpt_forward_latent.safetensors")
    with torch.inference_mode():
        conds = model.get_conditioning(t["in.cond_mel"], t["in.cond_mel_lengths"])
    return model, conds, t["in.text_tokens"]


# every test runs on the CPU, and also on CUDA (decode steps replayed from CUDA graphs) where a GPU exists
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module", params=[(m, d) for m in ("indextts2", "indextts1_5") for d in DEVICES],
                ids=lambda p: "-".join(p))
def setup(request):
    """(model, conditioning, single-row prompts of different lengths), on the parameter's device."""
    name, device = request.param
    model, conds, text = (_v2_rows if name == "indextts2" else _v1_5_rows)()
    model, conds = model.to(device), conds.to(device)
    gen = torch.Generator().manual_seed(0)
    texts = [torch.cat((text[0], torch.randint(2, 200, (20,), generator=gen)))[:n].unsqueeze(0).to(device)
             for n in TEXT_LENGTHS]
    with torch.inference_mode():
        prompts = [model.prepare_gpt_inputs(conds, t) for t in texts]
    return model, conds, prompts


def _device(model) -> torch.device:
    return model.gpt.ln_f.weight.device


def _config(model, **settings) -> DecodingConfig:
    return DecodingConfig(max_new_tokens=40, stop_token=model.cfg.stop_mel_token, **settings)


def _trimmed(row: torch.Tensor, stop: int) -> torch.Tensor:
    hits = (row == stop).nonzero()
    return row if hits.numel() == 0 else row[:int(hits[0]) + 1]


def _alone(model, prompts, cfg, seeds=None) -> list[torch.Tensor]:
    with torch.inference_mode():
        return [_trimmed(generate(model, p, cfg, None if s is None else torch.Generator(_device(model)).manual_seed(s))[0],
                         cfg.stop_token) for p, s in zip(prompts, seeds or [None] * len(prompts))]


@pytest.mark.parametrize("settings", [{}, {"repetition_penalty": 10.0}])
def test_greedy_codes_equal_generate_alone_and_batched(setup, settings) -> None:
    model, _, prompts = setup
    cfg = _config(model, **settings)
    expected = _alone(model, prompts, cfg)
    if settings:
        assert len({e.numel() for e in expected}) > 1 and any(e[-1] == cfg.stop_token for e in expected)
    rows = [prompt_rows(p)[0] for p in prompts]
    params = SamplingParams.from_decoding(cfg)
    for slots in (1, 4):            # alone; batched with continuous admission (6 requests, 4 slots)
        got = DecodeEngine(model, max_batch=slots, max_len=128).generate(rows, params)
        assert [g.tolist() for g in got] == [e.tolist() for e in expected], f"{slots} slots"


def test_a_compiled_decode_step_gives_the_same_codes(setup) -> None:
    """torch.compile of the step (one graph, dynamic batch and length; on CUDA inside the graphs): the codes of
    the eager runtime, alone and batched, with rows of different lengths (the masked attention), while the
    cache grows block by block (new cache tensors: they must not be frozen into the graph like the weights)."""
    model, _, prompts = setup
    cfg = _config(model, repetition_penalty=10.0)
    expected = _alone(model, prompts, cfg)
    rows = [prompt_rows(p)[0] for p in prompts]
    for slots in (1, 4):
        engine = DecodeEngine(model, max_batch=slots, max_len=128, cache_block=16, compile_step=True)
        assert engine.runner.decode_step is not ModelRunner.step
        got = engine.generate(rows, SamplingParams.from_decoding(cfg))
        assert [g.tolist() for g in got] == [e.tolist() for e in expected], f"{slots} slots"
        assert engine.cache.capacity > 16


def test_one_row_decodes_eagerly_on_a_cpu_when_the_step_is_compiled(setup) -> None:
    """On CPUs a compiled step serves batches of two rows or more; one row runs the eager step (inductor's own
    one-row graph was slower there, and it would have to compile first)."""
    model, _, prompts = setup
    if _device(model).type != "cpu":
        pytest.skip("a CPU routing (CUDA steps replay from graphs)")
    engine = DecodeEngine(model, max_batch=4, max_len=128, compile_step=True)
    compiled, rows_seen = engine.runner.decode_step, []

    def counted(runner, tokens, *args):
        rows_seen.append(tokens.shape[0])
        return compiled(runner, tokens, *args)
    engine.runner.decode_step = counted
    cfg = _config(model, repetition_penalty=10.0)
    rows = [prompt_rows(p)[0] for p in prompts]
    params = SamplingParams.from_decoding(cfg)
    alone = engine.generate(rows[:1], params)
    assert rows_seen == [] and alone[0].tolist() == _alone(model, prompts[:1], cfg)[0].tolist()
    together = engine.generate(rows[:3], params)
    assert rows_seen and min(rows_seen) >= 2          # the compiled step ran while two or three rows were left
    assert [g.tolist() for g in together] == [e.tolist() for e in _alone(model, prompts[:3], cfg)]


def test_a_step_padded_as_the_cuda_graphs_pad_it_gives_the_same_logits(setup) -> None:
    """A CUDA graph replays the step over a batch rounded up to its bucket (free slots decode code 0 at
    position 0) and a cache length rounded up to a multiple of 256 (masked).  Run eagerly, that padded step
    gives the running rows the logits of the plain step: what the graphs rely on, checked on any device."""
    model, _, prompts = setup
    params = SamplingParams(40, model.cfg.stop_mel_token, ignore_stop=True, repetition_penalty=10.0)
    engine = DecodeEngine(model, max_batch=8, max_len=300, cuda_graphs=False)
    for embeds, ids in (prompt_rows(p)[0] for p in prompts[:3]):
        engine.add(Sequence(embeds, ids, params))
    for _ in range(4):                                  # the prefill, then three decode steps
        engine.step()
    seqs = list(engine.scheduler.running)
    assert len({s.cached_len for s in seqs}) == 3       # rows of different lengths: the masked attention
    inputs = engine.runner.decode_inputs(seqs)
    graphs = DecodeGraphs(engine.cache)
    batch, length = graphs.load(inputs, max(inputs[2]) + 1)
    assert (batch, length) == (4, 256) and length > max(inputs[2]) + 1
    with torch.inference_mode():
        padded = graphs.step(engine.runner, batch, length)
        plain = engine.runner.decode(seqs)
    assert padded.shape[0] == 4 and torch.isfinite(padded).all()
    torch.testing.assert_close(padded[:3], plain, rtol=1e-5, atol=1e-5)
    assert torch.equal(padded[:3].argmax(-1), plain.argmax(-1))


BEAM_SETTINGS = {"greedy": {"num_beams": 3, "length_penalty": 0.0, "repetition_penalty": 10.0},
                 "early-stopping": {"num_beams": 2, "early_stopping": True, "repetition_penalty": 2.0},
                 "sampled": {"num_beams": 3, "length_penalty": 0.0, **SAMPLING}}


def test_beams_know_how_many_leading_codes_they_share() -> None:
    """`BeamSearch.shared` (where two beams' keys/values part, so a beam move copies only from there) equals the
    common prefix of the beams' codes, through steps where beams fork, die out and hit the stop token."""
    vocab, beams, stop = 5, 3, 4
    search = BeamSearch(DecodingConfig(max_new_tokens=30, stop_token=stop, num_beams=beams, length_penalty=0.0))
    gen = torch.Generator().manual_seed(0)
    forks = 0
    while not search.finished:
        flat = torch.randperm(beams * vocab, generator=gen)[:2 * beams]
        if search.generated == 0:           # the first step continues beam 0 only, as its scores make it
            flat = torch.randperm(vocab, generator=gen)[:2 * beams]
        sources, _ = search.advance(sorted(torch.rand(2 * beams, generator=gen).tolist(), reverse=True),
                                    flat.tolist(), vocab)
        forks += len(set(sources)) < beams
        for i, a in enumerate(search.tokens):
            for j, b in enumerate(search.tokens):
                common = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
                assert search.shared[i][j] == common, (search.generated, i, j)
    assert forks and search.generated > 3


@pytest.mark.parametrize("settings", BEAM_SETTINGS.values(), ids=BEAM_SETTINGS.keys())
def test_beam_search_equals_generate_alone_and_batched(setup, settings) -> None:
    """A beam-search sequence holds a slot per beam and moves its beams between them: its codes are those of
    `generate` on its prompt alone, whether it decodes alone, with other beam searches (continuous admission,
    slots packed as others leave) or beside single-beam sequences, and whatever its companions draw."""
    model, _, prompts = setup
    cfg = _config(model, **settings)
    seeds = [200 + i for i in range(len(prompts))]
    expected = _alone(model, prompts, cfg, seeds)
    assert len({e.numel() for e in expected}) > 1
    rows = [prompt_rows(p)[0] for p in prompts]
    params = SamplingParams.from_decoding(cfg)
    for slots in (cfg.num_beams, 8):
        engine = DecodeEngine(model, max_batch=slots, max_len=128)
        got = engine.generate(rows, params, seeds)
        assert [g.tolist() for g in got] == [e.tolist() for e in expected], f"{slots} slots"
        assert engine.is_idle and engine.cache.num_free == slots
    single = SamplingParams.from_decoding(_config(model, **SAMPLING))
    mixed = [params if i % 2 else single for i in range(len(rows))]
    got = DecodeEngine(model, max_batch=7, max_len=128).generate(rows, mixed, seeds)
    alone = _alone(model, prompts, _config(model, **SAMPLING), seeds)
    for i, codes in enumerate(got):
        assert codes.tolist() == (expected[i] if i % 2 else alone[i]).tolist()


@pytest.mark.parametrize("settings", BEAM_SETTINGS.values(), ids=BEAM_SETTINGS.keys())
def test_beams_read_their_shared_prefix_once_and_decode_the_same_codes(setup, settings, monkeypatch) -> None:
    """With the shared-prefix split forced on for short prefixes (on the CPU), beam searches beside single-beam
    sequences decode the codes of `generate` alone: attention over the owners' common keys/values, merged with
    each row's own span by log-sum-exp, is attention over the whole span."""
    model, _, prompts = setup
    if _device(model).type != "cpu":
        pytest.skip("the shared-prefix split is a CPU path (CUDA steps replay one attention call from graphs)")
    built = []

    class Counted(model_runner.SharedPrefixAttention):
        def __init__(self, owners, start, *args):
            built.append((len(owners), sum(map(len, owners)), start))
            super().__init__(owners, start, *args)
    monkeypatch.setattr(model_runner, "SHARED_PREFIX_MIN", 8)
    monkeypatch.setattr(model_runner, "SharedPrefixAttention", Counted)
    cfg = _config(model, **settings)
    seeds = [300 + i for i in range(len(prompts))]
    single = SamplingParams.from_decoding(_config(model, **SAMPLING))
    params = [SamplingParams.from_decoding(cfg) if i % 2 else single for i in range(len(prompts))]
    got = DecodeEngine(model, max_batch=8, max_len=128).generate([prompt_rows(p)[0] for p in prompts], params, seeds)
    beams, alone = _alone(model, prompts, cfg, seeds), _alone(model, prompts, _config(model, **SAMPLING), seeds)
    for i, codes in enumerate(got):
        assert codes.tolist() == (beams[i] if i % 2 else alone[i]).tolist()
    assert any(slots > owners for owners, slots, _ in built), "no step read a prefix once for several beams"
    assert all(start >= 8 for _, _, start in built)


def test_decode_rows_of_a_left_padded_batch(setup) -> None:
    model, conds, _ = setup
    cfg = _config(model, repetition_penalty=10.0)
    stop = model.cfg.stop_mel_token
    texts = torch.full((3, max(TEXT_LENGTHS)), model.cfg.stop_text_token, dtype=torch.long)
    lengths = TEXT_LENGTHS[:3]
    gen = torch.Generator().manual_seed(3)
    for i, n in enumerate(lengths):
        texts[i, :n] = torch.randint(2, 200, (n,), generator=gen)
    texts = texts.to(_device(model))
    with torch.inference_mode():
        batch = model.prepare_gpt_inputs(conds, texts)
        singles = [model.prepare_gpt_inputs(conds, texts[i:i + 1, :n]) for i, n in enumerate(lengths)]
    got = decode_rows(model, batch, cfg)
    assert [g.tolist() for g in got] == [e.tolist() for e in _alone(model, singles, cfg)]
    beams = _config(model, num_beams=3, length_penalty=0.0, repetition_penalty=10.0)
    with torch.inference_mode():
        expected = [_trimmed(generate(model, p, beams)[0], stop) for p in singles]
    assert [g.tolist() for g in decode_rows(model, batch, beams)] == [e.tolist() for e in expected]


def test_sampling_depends_only_on_the_sequence_seed(setup) -> None:
    model, _, prompts = setup
    cfg = _config(model, **SAMPLING)
    seeds = [100 + i for i in range(len(prompts))]
    expected = _alone(model, prompts, cfg, seeds)
    rows = [prompt_rows(p)[0] for p in prompts]
    params = SamplingParams.from_decoding(cfg)
    alone = [DecodeEngine(model, max_batch=1, max_len=128).generate([r], params, [s])[0] for r, s in zip(rows, seeds)]
    order = [3, 0, 5, 1, 4, 2]      # other companions, other admission order
    engine = DecodeEngine(model, max_batch=3, max_len=128)
    shuffled = engine.generate([rows[i] for i in order], params, [seeds[i] for i in order])
    batched = [shuffled[order.index(i)] for i in range(len(rows))]
    for runs in (alone, batched):
        assert [g.tolist() for g in runs] == [e.tolist() for e in expected]
    mixed = [params if i % 2 else SamplingParams.from_decoding(_config(model)) for i in range(len(rows))]
    got = DecodeEngine(model, max_batch=4, max_len=128).generate(rows, mixed, seeds)
    greedy = _alone(model, prompts, _config(model))
    for i, codes in enumerate(got):
        assert codes.tolist() == (expected[i] if i % 2 else greedy[i]).tolist()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("num_samples", [1, 6])
def test_rows_draw_what_torch_multinomial_draws_from_their_generators(device, num_samples) -> None:
    """The runtime samples all rows in one batch with one random draw per row's generator; each row gets
    what `torch.multinomial` gives it alone, and its generator goes on where that call leaves it (a torch
    that changes its multinomial algorithm fails here first)."""
    logits = torch.randn(5, 8194 * 3, generator=torch.Generator().manual_seed(0)).to(device) * 3
    logits[:, 1::3] = float("-inf")           # filtered codes (top-k / top-p) have probability 0
    probs = torch.softmax(logits, dim=-1)
    seeds = [11, 12, 13, 14, 15]
    alone = [torch.Generator(device).manual_seed(s) for s in seeds]
    expected = torch.cat([torch.multinomial(probs[i:i + 1], num_samples, generator=g) for i, g in enumerate(alone)])
    batched = [torch.Generator(device).manual_seed(s) for s in seeds]
    got = multinomial_rows(probs, num_samples, batched)
    assert got.shape == (5, num_samples) and torch.equal(got, expected)
    assert len({tuple(row.tolist()) for row in got}) == 5
    for a, b in zip(alone, batched):
        assert torch.equal(torch.rand(4, generator=a, device=device), torch.rand(4, generator=b, device=device))
    with pytest.raises(ValueError, match="generators"):
        multinomial_rows(probs, 1, batched[:2])


STOP_FIRST = {"greedy": {}, "sampled": SAMPLING, "beams": {"num_beams": 3, "length_penalty": 0.0}}


@pytest.mark.parametrize("overlap", [False, True], ids=["stepwise", "overlap"])
@pytest.mark.parametrize("settings", STOP_FIRST.values(), ids=STOP_FIRST.keys())
def test_min_new_tokens_bars_the_stop_token_from_the_first_codes(setup, settings, overlap) -> None:
    """A model that would stop at once (its stop logit raised) gives `min_new_tokens` codes before the stop;
    the runtime gets `generate`'s codes alone, with sequences barred and free in one batch."""
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    seeds = [300 + i for i in range(len(prompts))]
    with stop_first(model) as stop:
        free, barred = _config(model, **settings), _config(model, min_new_tokens=2, **settings)
        assert all(codes.tolist() == [stop] for codes in _alone(model, prompts, free, seeds))
        expected = _alone(model, prompts, barred, seeds)
        assert all(len(codes) == 3 and stop not in codes[:2] and codes[2] == stop for codes in expected)
        params = [SamplingParams.from_decoding(barred if i % 2 else free) for i in range(len(rows))]
        got = DecodeEngine(model, max_batch=8, max_len=128, overlap=overlap).generate(rows, params, seeds)
        for i, codes in enumerate(got):
            assert codes.tolist() == (expected[i].tolist() if i % 2 else [stop])
    with pytest.raises(ValueError, match="min_new_tokens"):
        _config(model, min_new_tokens=41)
    with pytest.raises(ValueError, match="min_new_tokens"):
        SamplingParams(4, model.cfg.stop_mel_token, min_new_tokens=-1)


def test_stream_yields_sequences_as_they_finish(setup) -> None:
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    lengths = [3, 9, 1, 5]
    params = [SamplingParams(n, model.cfg.stop_mel_token, ignore_stop=True) for n in lengths]
    order = [i for i, codes in DecodeEngine(model, max_batch=4, max_len=128).stream(rows[:4], params)]
    assert order == [2, 0, 3, 1]


def _count_decoded_rows(engine: DecodeEngine, monkeypatch) -> list[int]:
    """The rows of each decode step the engine runs from now on (the list fills as it decodes)."""
    decode, counted = engine.runner.decode, []

    def counting(seqs, tokens=None):
        counted.append(len(seqs))
        return decode(seqs, tokens)
    monkeypatch.setattr(engine.runner, "decode", counting)
    return counted


OVERLAPPED = {"greedy": {"repetition_penalty": 10.0}, "sampled": SAMPLING}


@pytest.mark.parametrize("settings", OVERLAPPED.values(), ids=OVERLAPPED.keys())
def test_overlapped_steps_give_the_codes_of_step_by_step_decoding(setup, settings, monkeypatch) -> None:
    """With overlap (the CUDA default, forced here) each decode step is queued before the host reads the
    previous step's codes, which it feeds from the device.  The codes are `generate`'s alone, with sequences
    stopping at different steps and more requests than slots; alone, each stop costs exactly one wasted
    row-step, and nothing is left in flight afterwards."""
    model, _, prompts = setup
    cfg = _config(model, **settings)
    seeds = [40 + i for i in range(len(prompts))]
    expected = [e.tolist() for e in _alone(model, prompts, cfg, seeds)]
    # a stop costs a row-step when it comes from a queued step: not from the prefill, nor when it is the last
    # code by length anyway
    stops = sum(e[-1] == cfg.stop_token and 1 < len(e) < cfg.max_new_tokens for e in expected)
    if not settings.get("do_sample"):
        assert len({len(e) for e in expected}) > 1 and stops > 0
    rows = [prompt_rows(p)[0] for p in prompts]
    decoded_rows, drawn = {}, {}
    for overlap in (False, True):
        for slots in (1, 4):
            engine = DecodeEngine(model, max_batch=slots, max_len=128, overlap=overlap)
            counted = _count_decoded_rows(engine, monkeypatch)
            generators = [new_generator(_device(model), seed) for seed in seeds]
            got = engine.generate(rows, SamplingParams.from_decoding(cfg), generators=generators)
            assert [g.tolist() for g in got] == expected, f"overlap {overlap}, {slots} slots"
            assert engine._ahead is None and engine.is_idle and engine.cache.num_free == slots
            decoded_rows[overlap, slots] = sum(counted)
            drawn[overlap, slots] = [g.get_state() for g in generators]
    assert decoded_rows[True, 1] == decoded_rows[False, 1] + stops
    assert decoded_rows[False, 4] <= decoded_rows[True, 4] <= decoded_rows[False, 4] + stops
    # a wasted row's draw is taken back: what a caller draws next from a generator (a segment's flow-matching
    # noise, the next segment's codes) does not depend on the overlap, nor so on the batch
    for slots in (1, 4):
        assert all(torch.equal(a, b) for a, b in zip(drawn[False, slots], drawn[True, slots])), f"{slots} slots"


def test_overlap_wastes_no_step_on_sequences_that_end_by_length(setup, monkeypatch) -> None:
    """A sequence's last code by length is known in advance: no step is queued past it, so fixed-length
    decoding (the benchmarks') decodes the rows of the step-by-step loop, and finishes in the same order."""
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    params = [SamplingParams(n, model.cfg.stop_mel_token, ignore_stop=True) for n in (3, 9, 1, 5, 2, 4)]
    runs = {}
    for overlap in (False, True):
        engine = DecodeEngine(model, max_batch=4, max_len=128, overlap=overlap)
        counted = _count_decoded_rows(engine, monkeypatch)
        order = [(i, codes.numel()) for i, codes in engine.stream(rows, params)]
        runs[overlap] = order, counted
    assert runs[True] == runs[False]
    assert sorted(runs[True][0]) == [(i, p.max_new_tokens) for i, p in enumerate(params)]


def test_a_sequence_aborted_with_its_step_in_flight_gives_its_slot_back(setup) -> None:
    """Aborting sequences while a queued step holds their rows: once none of its rows is wanted, the step is
    settled and dropped at once, every slot is free, the stream that waited for them says they were aborted,
    and the engine decodes the next request as before."""
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    params = SamplingParams(40, model.cfg.stop_mel_token, repetition_penalty=10.0)
    expected = [e.tolist() for e in _alone(model, prompts, _config(model, repetition_penalty=10.0))]
    engine = DecodeEngine(model, max_batch=4, max_len=128, overlap=True)
    background = engine.stream(rows[:2], SamplingParams(40, model.cfg.stop_mel_token, ignore_stop=True))
    short = engine.stream(rows[2:4], SamplingParams(6, model.cfg.stop_mel_token, ignore_stop=True))
    assert [codes.numel() for _, codes in short] == [6, 6]
    for _ in range(3):
        engine.step()
    assert engine._ahead is not None and {s.ahead for s in engine._ahead.seqs} == {1}
    held = engine._ahead.seqs
    engine.abort(held[0])
    assert engine._ahead is not None            # its other row is still wanted
    engine.abort(held[1])
    assert engine._ahead is None and engine.is_idle and engine.cache.num_free == 4
    assert all(s.ahead == 0 and len(s.tokens) < 40 for s in held)
    assert {id(s) for s in held} == {id(s) for s in background.pending.values()}     # the rows held were its
    with pytest.raises(EngineError, match=r"aborted after \d+ of at most 40 codes"):
        next(background)                        # not their codes so far, as if they were all
    assert background.pending == {}
    assert [g.tolist() for g in engine.generate(rows, params)] == expected


def test_slots_are_reused_and_memory_stays_fixed(setup) -> None:
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    engine = DecodeEngine(model, max_batch=4, max_len=64)
    def state():
        return engine.cache.nbytes, [layer.data_ptr() for layer in engine.cache.layers], engine.cache.seen.data_ptr()
    before = state()
    params = [SamplingParams(1 + i % 4, model.cfg.stop_mel_token, ignore_stop=True) for i in range(200)]
    got = engine.generate([rows[i % len(rows)] for i in range(200)], params)
    assert [g.numel() for g in got] == [p.max_new_tokens for p in params]
    assert state() == before
    assert engine.cache.num_free == 4 and engine.is_idle and engine.step() == []


def test_cache_grows_with_the_longest_sequence_and_codes_do_not_change(setup) -> None:
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts[:3]]
    params = SamplingParams(60, model.cfg.stop_mel_token, ignore_stop=True, repetition_penalty=10.0)
    longest = max(embeds.shape[0] for embeds, _ in rows) + 60
    whole = DecodeEngine(model, max_batch=3, max_len=longest, cache_block=longest)
    growing = DecodeEngine(model, max_batch=3, max_len=longest, cache_block=8)
    assert growing.cache.capacity == 8 and growing.cache.nbytes < whole.cache.nbytes
    expected = whole.generate(rows, params)
    got = growing.generate(rows, params)
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    assert growing.cache.capacity == longest == whole.cache.capacity      # grew block by block, capped at max_len
    with pytest.raises(ValueError, match="max_len"):
        growing.cache.reserve(longest + 1)


@pytest.mark.parametrize("weights", ["bf16", "int8"])
def test_weight_modes_decode(setup, weights) -> None:
    model, _, prompts = setup
    if _device(model).type != "cpu":
        pytest.skip("weight-only modes are for CPUs (GPUs take --dtype)")
    rows = [prompt_rows(p)[0] for p in prompts[:3]]
    params = SamplingParams(12, model.cfg.stop_mel_token, ignore_stop=True)
    engine = DecodeEngine(model, max_batch=2, max_len=96, weights=weights)
    got = engine.generate(rows, params)
    assert [g.numel() for g in got] == [12] * 3
    assert all(0 <= int(c) < model.cfg.number_mel_codes for g in got for c in g)
    assert model.gpt.h[0].attn.c_attn.weight.dtype == torch.float32      # the model itself is untouched
    assert all(layer.dtype == torch.bfloat16 for layer in engine.cache.layers)     # keys/values in bf16 too
    exact = DecodeEngine(model, max_batch=2, max_len=96)
    assert exact.cache.layers[0].dtype == torch.float32
    first, first_exact = (_prefill_logits(model, rows[0], w) for w in (weights, "fp32"))
    assert float((first - first_exact).norm() / first_exact.norm()) < 0.05      # the cache written and read


def test_cpu_bf16_copies_are_packed_for_onednn_and_project_as_the_plain_ones(setup) -> None:
    """The bf16 mode's copies live in oneDNN's blocked layout (faster reads, same results); a compiled step,
    which cannot trace them, gets plain copies of its own."""
    model, _, _ = setup
    if _device(model).type != "cpu" or not onednn_bf16_available():
        pytest.skip("oneDNN bfloat16 linear is a CPU op this torch or CPU lacks")
    packed, plain = decode_layers(model.gpt, "bf16"), decode_layers(model.gpt, "bf16", compiled=True)
    assert decode_layers(model.gpt, "bf16") is packed and plain is not packed
    names = ("qkv", "proj", "fc", "fc_out")
    assert all(getattr(layer, n).weight.is_mkldnn for layer in packed for n in names)
    assert not any(getattr(layer, n).weight.is_mkldnn for layer in plain for n in names)
    gen = torch.Generator().manual_seed(0)
    for rows in (1, 3, 18):
        for fast, slow in zip(packed, plain):
            for n in names:
                x = torch.randn(rows, getattr(slow, n).weight.shape[1], generator=gen)
                got, expected = getattr(fast, n).project(x), getattr(slow, n).project(x)
                assert got.dtype == torch.float32 and torch.equal(got, expected), (rows, n)


def _prefill_logits(model, row, weights: str) -> torch.Tensor:
    """The logits after one prompt, from a fresh engine of that weight mode."""
    engine = DecodeEngine(model, max_batch=1, max_len=96, weights=weights)
    seq = Sequence(*row, SamplingParams(4, model.cfg.stop_mel_token))
    seq.slots = [engine.cache.allocate(seq.input_ids)]
    return engine.runner.prefill([seq])


def test_bad_requests_are_reported(setup) -> None:
    model, _, prompts = setup
    stop = model.cfg.stop_mel_token
    for bad, message in (({"max_new_tokens": 0}, "max_new_tokens"),
                         ({"do_sample": True, "temperature": 0.0}, "temperature"),
                         ({"top_p": 1.5}, "top_p"), ({"top_k": -1}, "top_k"),
                         ({"repetition_penalty": 0.0}, "repetition_penalty"), ({"stop_token": -1}, "stop_token")):
        with pytest.raises(ValueError, match=message):
            SamplingParams(**{"max_new_tokens": 4, "stop_token": stop, **bad})
    with pytest.raises(ValueError, match="num_beams"):
        SamplingParams(4, stop, num_beams=0)
    with pytest.raises(ValueError, match="one sequence"):
        SamplingParams.from_decoding(_config(model, num_beams=2, num_return_sequences=2))
    embeds, ids = prompt_rows(prompts[0])[0]
    with pytest.raises(ValueError, match="embeddings"):
        Sequence(embeds, ids[:-1], SamplingParams(4, stop))
    engine = DecodeEngine(model, max_batch=1, max_len=embeds.shape[0] + 4)
    with pytest.raises(ValueError, match="max_len"):
        engine.generate([(embeds, ids)] * 2, [SamplingParams(4, stop), SamplingParams(5, stop)])
    assert engine.is_idle               # nothing was queued
    with pytest.raises(ValueError, match="mel positions"):
        DecodeEngine(model, max_batch=1, max_len=2048).add(Sequence(embeds, ids, SamplingParams(1000, stop)))
    with pytest.raises(ValueError, match="not a mel code"):
        engine.add(Sequence(embeds, ids, SamplingParams(4, model.cfg.number_mel_codes)))
    with pytest.raises(ValueError, match="wide"):
        engine.add(Sequence(embeds[:, :8], ids, SamplingParams(4, stop)))
    with pytest.raises(ValueError, match="3 beams need as many KV slots"):
        engine.add(Sequence(embeds, ids, SamplingParams(4, stop, num_beams=3)))
    with pytest.raises(ValueError, match="weights"):
        DecodeEngine(model, max_batch=1, max_len=8, weights="fp8")
    with pytest.raises(ValueError, match="as many"):
        engine.generate(prompt_rows(prompts[0]), SamplingParams(4, stop), seeds=[1, 2])
    with pytest.raises(ValueError, match="num_slots"):
        DecodeEngine(model, max_batch=0, max_len=8)


def test_prompts_of_one_voice_share_their_conditioning_prefix(setup) -> None:
    model, conds, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    shared = shared_prefix(rows)
    assert conds.shape[1] <= shared < min(embeds.shape[0] for embeds, _ in rows)
    assert shared_prefix(rows[:1]) == 0                                  # nothing to share with
    assert shared_prefix([rows[0], (rows[1][0] + 1.0, rows[1][1])]) == 0  # another voice
    engine = DecodeEngine(model, max_batch=2, max_len=128)
    params = SamplingParams(40, model.cfg.stop_mel_token, repetition_penalty=10.0)
    got = engine.generate(rows, params)
    assert engine.cache.has_prefix(rows[0][0][:shared])
    expected = _alone(model, prompts, _config(model, repetition_penalty=10.0))
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


@pytest.mark.parametrize("overlap", [False, True], ids=["stepwise", "overlap"])
def test_streams_interleave_and_a_closed_stream_frees_its_slots(setup, overlap) -> None:
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    params = SamplingParams(40, model.cfg.stop_mel_token, repetition_penalty=10.0)
    expected = _alone(model, prompts, _config(model, repetition_penalty=10.0))
    engine = DecodeEngine(model, max_batch=4, max_len=128, overlap=overlap)
    first, second = engine.stream(rows[:3], params), engine.stream(rows[3:], params)
    got: dict[int, list[int]] = {}
    for (i, a), (j, b) in zip(first, second):        # two requests' streams consumed in turns share the steps
        got[i], got[3 + j] = a.tolist(), b.tolist()
    assert [got[i] for i in range(len(rows))] == [e.tolist() for e in expected]
    abandoned = engine.stream(rows, SamplingParams(30, model.cfg.stop_mel_token, ignore_stop=True))
    next(abandoned)
    abandoned.close()                                # the caller gave up: the rest leave the engine
    assert engine.is_idle and engine.cache.num_free == 4 and engine._ahead is None
    beams = engine.stream(rows, [SamplingParams(30, model.cfg.stop_mel_token, ignore_stop=True, num_beams=n)
                                 for n in (1, 2, 3, 1, 2, 3)])
    next(beams)
    beams.close()                                    # beam searches give back every slot they hold
    assert engine.is_idle and engine.cache.num_free == 4
    never_read = engine.stream(rows, params)         # to be closed before its first step
    engine.stream(rows[:2], params)                  # dropped unread: aborted at once
    assert len(engine.scheduler.waiting) == 6
    never_read.close()
    assert engine.is_idle and engine.cache.num_free == 4
    assert [g.tolist() for g in engine.generate(rows, params)] == [e.tolist() for e in expected]


@pytest.mark.parametrize("overlap", [False, True], ids=["stepwise", "overlap"])
def test_a_failed_step_drops_its_sequences_and_the_engine_serves_on(setup, monkeypatch, overlap) -> None:
    """A step that fails (out of memory, say) fails the request whose turn it was with its own error and the
    other requests in that step with an EngineError naming it - not partial codes -, frees their slots, and
    the engine then decodes later requests as before (a kept GPU engine serves a whole service)."""
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    params = SamplingParams(40, model.cfg.stop_mel_token, repetition_penalty=10.0)
    expected = [e.tolist() for e in _alone(model, prompts, _config(model, repetition_penalty=10.0))]
    engine = DecodeEngine(model, max_batch=4, max_len=128, overlap=overlap)
    decode, calls = engine.runner.decode, []

    def fails_on_the_third(seqs, tokens=None):
        calls.append(len(seqs))
        if len(calls) == 3:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return decode(seqs, tokens)
    monkeypatch.setattr(engine.runner, "decode", fails_on_the_third)
    first, second = engine.stream(rows[:2], params), engine.stream(rows[2:4], params)
    with pytest.raises(torch.OutOfMemoryError, match="injected"):
        next(first)
    assert calls[-1] == 4                                  # the failed step held both requests' rows
    with pytest.raises(EngineError, match="step shared with other requests: OutOfMemoryError: .*injected"):
        next(second)
    assert engine.is_idle and engine.cache.num_free == 4 and engine._ahead is None
    got = engine.generate(rows, params)
    assert [g.tolist() for g in got] == expected


def test_a_cache_growth_that_fails_part_way_leaves_a_usable_cache(setup, monkeypatch) -> None:
    """The cache grows one layer at a time; out of memory half way, it keeps the old capacity (reads stay
    within every layer), the next growth finishes the rest, and the decoded codes are unchanged."""
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    params = SamplingParams(40, model.cfg.stop_mel_token, repetition_penalty=10.0)
    expected = [e.tolist() for e in _alone(model, prompts, _config(model, repetition_penalty=10.0))]
    engine = DecodeEngine(model, max_batch=2, max_len=128, cache_block=16)
    new_zeros, made = torch.Tensor.new_zeros, []

    def runs_out_on_the_second_layer(self, *size, **kwargs):
        made.append(size)
        if len(made) == 2:
            raise torch.OutOfMemoryError("out of memory (injected)")
        return new_zeros(self, *size, **kwargs)
    monkeypatch.setattr(torch.Tensor, "new_zeros", runs_out_on_the_second_layer)
    capacity, version = engine.cache.capacity, engine.cache.version
    with pytest.raises(torch.OutOfMemoryError):
        engine.cache.reserve(capacity + 1)
    monkeypatch.undo()
    layers = [layer.shape[3] for layer in engine.cache.layers]
    assert layers[0] > capacity and layers[1:] == [capacity] * (len(layers) - 1)
    assert engine.cache.capacity == capacity and engine.cache.version == version + 1
    assert [g.tolist() for g in engine.generate(rows, params)] == expected
    assert len({layer.shape[3] for layer in engine.cache.layers}) == 1 and engine.cache.capacity > capacity


def test_consecutive_rows_are_taken_as_views() -> None:
    """A decode step's rows are slots [0, n) in order: taken as a slice, with no index tensor to build."""
    t = torch.arange(12).view(6, 2)
    view = take_rows(t, [2, 3, 4])
    assert view.data_ptr() == t[2].data_ptr() and view.tolist() == t[2:5].tolist()
    for rows in ([0, 2], [3, 2], [1, 1], [4]):
        got = take_rows(t, rows)
        assert got.tolist() == [t[r].tolist() for r in rows]
        assert (got.data_ptr() == t[rows[0]].data_ptr()) == (row_span(rows) is not None)
    assert row_span([]) is None and row_span([4]) == slice(4, 5) and row_span([0, 2]) is None


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_an_engine_goes_with_its_request_without_the_garbage_collector(setup, compiled) -> None:
    """On a CPU every request decodes on an engine of its own, dropped when the request is done: its cache must
    go then, by reference counting, not whenever the cyclic garbage collector runs (a step kept as a method
    bound to its runner made a cycle, and a book's memory grew by an engine per call until a collection)."""
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts[:2]]
    params = SamplingParams(8, model.cfg.stop_mel_token)
    gc.collect()
    gc.disable()
    try:
        for _ in range(2):          # the second time too (a compiled step is compiled the first time)
            engine = DecodeEngine(model, max_batch=2, max_len=128, compile_step=compiled)
            engine.generate(rows, params)
            layer = weakref.ref(engine.cache.layers[0])
            del engine
            assert layer() is None
    finally:
        gc.enable()


def test_a_slot_allocation_that_fails_takes_no_slot(setup, monkeypatch) -> None:
    """A beam-search sequence takes a slot per beam, all or none: should the second fail, the first goes back,
    the request fails with that error, and the engine decodes the next one as before."""
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts[:1]]
    params = SamplingParams(40, model.cfg.stop_mel_token, num_beams=3, length_penalty=0.0)
    expected = [e.tolist() for e in _alone(model, prompts[:1], _config(model, num_beams=3, length_penalty=0.0))]
    engine = DecodeEngine(model, max_batch=3, max_len=128)
    allocate, taken = engine.cache.allocate, []

    def fails_on_the_second(ids):
        taken.append(ids)
        if len(taken) == 2:
            raise RuntimeError("allocation failed (injected)")
        return allocate(ids)
    monkeypatch.setattr(engine.cache, "allocate", fails_on_the_second)
    stream = engine.stream(rows, params)
    with pytest.raises(RuntimeError, match="injected"):
        next(stream)
    assert engine.cache.num_free == 3 and engine.is_idle
    assert [codes.tolist() for codes in engine.generate(rows, params)] == expected
    assert engine.is_idle and engine.cache.num_free == 3


@pytest.mark.parametrize("overlap", [False, True], ids=["stepwise", "overlap"])
def test_requests_of_two_threads_share_one_engine(setup, overlap) -> None:
    from concurrent.futures import ThreadPoolExecutor
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    params = SamplingParams(40, model.cfg.stop_mel_token, repetition_penalty=10.0)
    expected = [e.tolist() for e in _alone(model, prompts, _config(model, repetition_penalty=10.0))]
    engine = DecodeEngine(model, max_batch=4, max_len=128, overlap=overlap)
    with ThreadPoolExecutor(2) as pool:
        halves = list(pool.map(lambda part: engine.generate(part, params), (rows[:3], rows[3:])))
    assert [g.tolist() for half in halves for g in half] == expected
    assert engine.is_idle and engine.cache.num_free == 4 and engine._ahead is None


def test_a_kept_engine_serves_later_requests_and_grows_when_one_needs_more(setup) -> None:
    model, _, prompts = setup
    rows = [prompt_rows(p)[0] for p in prompts]
    model.__dict__.pop("_decode_engines", None)
    try:
        engine = engine_for(model, 4, 160, sequences=1, keep=True)
        assert engine.cache.num_slots == 4                       # the batch size, not the one request's row
        params = SamplingParams(40, model.cfg.stop_mel_token, repetition_penalty=10.0)
        assert all(torch.equal(a, b) for a, b in zip(engine.generate(rows, params),
                                                      _alone(model, prompts, _config(model, repetition_penalty=10.0))))
        assert engine_for(model, 2, 100, keep=True) is engine and engine.is_idle
        assert engine_for(model, 2, 100, keep=True, compiled=True) is not engine     # kept apart, per setting
        bigger = engine_for(model, 8, 320, keep=True)
        assert bigger is not engine and (bigger.cache.num_slots, bigger.cache.max_len) == (8, 320)
        assert engine_for(model, 1, 200, keep=True) is bigger
        fresh = engine_for(model, 4, 100, sequences=1, keep=False)
        assert fresh is not bigger and fresh.cache.num_slots == 1   # sized for the request, not kept
    finally:
        model.__dict__.pop("_decode_engines", None)
