"""GPT decode speed: the official way against the continuous-batching runtime, with the same weights.

The model is a FULL-SIZE IndexTTS mel-code GPT with random weights (decode cost
depends on the shapes, not the values); no conditioning encoder is needed: each
segment's prompt is random conditioning rows (IndexTTS-2: 34, 1.5: 32,
2.5: 3) followed by random text of 24 to 63 tokens.  Every segment decodes
exactly --tokens greedy codes (the stop token is never chosen); with --beams B
by beam search over B beams (IndexTTS's length_penalty 0), one segment's B
rows together in both ways.

(a) reference - how the official product runs its GPT: Hugging Face
    `GPT2Model` (our weights, null position embeddings) with `past_key_values`
    (a DynamicCache, reordered after each beam step), batch 1 (one segment's
    beams), a greedy loop in Python, one segment after another;
    With --reference-batch K the reference instead decodes K segments at a time
    as one left-padded batch through `decoding.generate` (HF generate's search,
    checked against the official code by the conformance cases): how the
    official IndexTTS-1.5 `infer_fast` runs a bucket.  The stop token is then
    kept out by the mel head's bias, in both ways;
(b) ours - `runtime.DecodeEngine`: all segments submitted at once, continuous
    batching over --max-batch slots (a segment takes one per beam); also one
    segment at a time (batch 1, as the reference runs them).  Both share the
    prompts' common conditioning prefix, computed once per run.

Printed: codes/s of each, the fraction of greedy codes equal to the
reference's, with --weights bf16/int8 the speed of that mode and its code
agreement with fp32, and as the last line `speedup X.XX` (codes/s of (b) with
--weights / codes/s of (a)).

    indexstudio bench decode [--model indextts2|indextts1_5|indextts2_5] [--segments 16] [--tokens 64]
                             [--device cpu] [--dtype float32] [--weights fp32|bf16|int8] [--max-batch 16]
                             [--beams 1] [--reference-segments K] [--reference-batch K] [--compile] [--no-overlap]
"""
from __future__ import annotations

import argparse
import copy
import inspect
import time
from dataclasses import dataclass, replace

import torch
from torch import nn

from indexstudio.models.gpt2 import Conv1D, store_out_in
from indexstudio.models.unified_voice import MelCodeGPT, MelPrompt, UnifiedVoiceConfig
from indexstudio.runtime.decode_engine import DecodeEngine, PromptRow
from indexstudio.runtime.decoding import BeamSearch, beam_candidates, generate
from indexstudio.runtime.device import pick_device, pick_dtype
from indexstudio.runtime.sequence import SamplingParams
from indexstudio.runtime.weights import WEIGHT_MODES


@dataclass(frozen=True)
class Shape:
    layers: int = 24
    dim: int = 1280
    heads: int = 20
    mel_codes: int = 8194
    text_tokens: int = 12000
    max_mel_tokens: int = 1815
    max_text_tokens: int = 600
    cond_rows: int = 34
    position_offset: int = 1


SHAPES = {
    "indextts2": Shape(),
    "indextts2_5": Shape(cond_rows=3),
    "indextts1_5": Shape(max_mel_tokens=605, max_text_tokens=402, cond_rows=32, position_offset=0),
}


def build_gpt(shape: Shape, seed: int = 0) -> MelCodeGPT:
    """A MelCodeGPT of this shape with N(0, 0.02) weights, zero biases and unit layer norms."""
    cfg = UnifiedVoiceConfig(layers=shape.layers, model_dim=shape.dim, heads=shape.heads,
                             max_text_tokens=shape.max_text_tokens, max_mel_tokens=shape.max_mel_tokens,
                             number_text_tokens=shape.text_tokens, number_mel_codes=shape.mel_codes,
                             start_text_token=0, stop_text_token=1, start_mel_token=shape.mel_codes - 2,
                             stop_mel_token=shape.mel_codes - 1)
    gpt = MelCodeGPT(cfg, generated_position_offset=shape.position_offset)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in gpt.modules():
            if isinstance(module, nn.LayerNorm):
                continue
            for name, param in module.named_parameters(recurse=False):
                if name == "weight":
                    param.normal_(0.0, 0.02, generator=gen)
                else:
                    param.zero_()
    store_out_in(gpt)           # as the loaders store a checkpoint's projections
    return gpt.eval()


def make_prompts(gpt: MelCodeGPT, segments: int, cond_rows: int, seed: int = 1) -> list[PromptRow]:
    gen = torch.Generator().manual_seed(seed)
    param = gpt.gpt.ln_f.weight
    conds = torch.randn(1, cond_rows, gpt.cfg.model_dim, generator=gen).to(param.device, param.dtype)
    rows = []
    with torch.inference_mode():
        for i in range(segments):
            text = torch.randint(2, gpt.cfg.number_text_tokens, (1, 24 + (i * 13) % 40), generator=gen)
            text = text.to(param.device)
            prompt = gpt.build_prompt(conds, text)
            rows.append((prompt.embeds[0], prompt.input_ids[0]))
    return rows


class HFReference:
    """Our GPT-2 weights inside transformers' GPT2Model, decoded like the official GPT2InferenceModel."""

    def __init__(self, gpt: MelCodeGPT, max_positions: int):
        from transformers import GPT2Config, GPT2Model
        c, p = gpt.gpt.cfg, gpt.gpt.ln_f.weight
        config = GPT2Config(vocab_size=1, n_positions=max_positions, n_embd=c.dim, n_layer=c.layers, n_head=c.heads,
                            activation_function=c.activation, layer_norm_epsilon=1e-5, resid_pdrop=0.0,
                            embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None)
        with torch.device("meta"):
            self.model = GPT2Model(config)
        state = {k: v.contiguous() for k, v in gpt.gpt.state_dict().items()}     # Conv1D weights (in, out)
        state["wte.weight"] = p.new_zeros(1, c.dim)                   # unused: inputs are embeddings
        state["wpe.weight"] = p.new_zeros(max_positions, c.dim)       # the official null position embeddings
        self.model.load_state_dict(state, assign=True)
        self.model.eval()
        self.gpt = gpt
        # the KV cache's keyword: `past_key_values` until transformers 5.x renamed it `cache`
        self.cache_keyword = "cache" if "cache" in inspect.signature(GPT2Model.forward).parameters \
            else "past_key_values"

    def _hidden(self, inputs: torch.Tensor, cache) -> torch.Tensor:
        return self.model(inputs_embeds=inputs, use_cache=True, **{self.cache_keyword: cache}).last_hidden_state

    @torch.inference_mode()
    def decode(self, embeds: torch.Tensor, params: SamplingParams) -> list[int]:
        """`params.max_new_tokens` codes after the prompt `embeds`, the stop token never chosen."""
        from transformers import DynamicCache
        gpt, stop = self.gpt, self.gpt.cfg.stop_mel_token
        cache = DynamicCache(config=self.model.config)
        if params.num_beams > 1:
            return self._beams(embeds, params, cache)
        inputs = embeds.unsqueeze(0)
        codes: list[int] = []
        while True:
            hidden = self._hidden(inputs, cache)
            logits = gpt.mel_head(gpt.final_norm(hidden[:, -1])).float()
            logits[:, stop] = float("-inf")
            code = logits.argmax(dim=-1)
            codes.append(int(code))
            if len(codes) == params.max_new_tokens:
                return codes
            inputs = gpt.embed_generated(code, len(codes))

    def _beams(self, embeds: torch.Tensor, params: SamplingParams, cache) -> list[int]:
        """HF's beam search: the prompt expanded to the beams, the cache reordered after every step."""
        gpt, cfg = self.gpt, params.decoding
        search = BeamSearch(cfg)
        inputs = embeds.unsqueeze(0).expand(cfg.num_beams, -1, -1)
        while True:
            hidden = self._hidden(inputs, cache)
            scores = torch.log_softmax(gpt.mel_head(gpt.final_norm(hidden[:, -1])).float(), dim=-1)
            scores[:, cfg.stop_token] = float("-inf")
            vocab = scores.shape[-1]
            running = torch.tensor(search.scores, dtype=torch.float32, device=scores.device)
            top_scores, top_tokens = beam_candidates((scores + running[:, None]).view(1, -1), cfg, None)
            sources, codes = search.advance(top_scores[0].tolist(), top_tokens[0].tolist(), vocab)
            if search.finished:
                return search.codes()
            cache.reorder_cache(torch.tensor(sources, device=scores.device))
            inputs = gpt.embed_generated(torch.tensor(codes, device=scores.device), search.generated)


def left_padded(rows: list[PromptRow]) -> MelPrompt:
    """Prompt rows as one left-padded batch, as `MelCodeGPT.build_prompt` lays out a batch of texts."""
    width = max(embeds.shape[0] for embeds, _ in rows)
    embeds = torch.stack([torch.cat((e.new_zeros(width - e.shape[0], e.shape[1]), e)) for e, _ in rows])
    ids = torch.stack([torch.cat((i.new_ones(width - i.shape[0]), i)) for _, i in rows])
    mask = torch.stack([torch.arange(width, device=ids.device) >= width - e.shape[0] for e, _ in rows]).long()
    return MelPrompt(embeds, ids, mask)


def with_official_layout(gpt: MelCodeGPT) -> MelCodeGPT:
    """A copy of `gpt` whose GPT-2 projections are stored (in, out), as the official checkpoints and HF's
    Conv1D keep them (ours keep them (out, in), `gpt2.Conv1D`)."""
    official = copy.deepcopy(gpt)
    for module in official.gpt.modules():
        if isinstance(module, Conv1D):
            module.weight = nn.Parameter(module.weight.detach().contiguous(), requires_grad=False)
    return official


def batched_reference(gpt: MelCodeGPT, rows: list[PromptRow], params: SamplingParams, batch: int) -> list[list[int]]:
    """`batch` segments at a time as one left-padded batch through `decoding.generate` (see --reference-batch);
    `gpt` as `with_official_layout` gives it."""
    codes: list[list[int]] = []
    for start in range(0, len(rows), batch):
        codes.extend(generate(gpt, left_padded(rows[start:start + batch]), params.decoding).tolist())
    return codes


def _timed(device: torch.device, fn):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def _agreement(a: list[list[int]], b: list[list[int]]) -> float:
    pairs = [(x, y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)]
    return sum(x == y for x, y in pairs) / max(len(pairs), 1)


def _ours(gpt: MelCodeGPT, rows: list[PromptRow], params: SamplingParams, max_batch: int, weights: str,
          device: torch.device, compiled: bool = False, overlap: bool | None = None) -> tuple[list[list[int]], float]:
    """Codes and seconds of the runtime on `rows`, after a warm-up through the same engine: on CPUs 2 codes
    per row (first calls at new shapes pay for oneDNN primitives and for growing the allocator's heap), on
    GPUs or with a compiled step the whole run of the first `max_batch` rows (it compiles the step and
    captures the CUDA graphs of every batch and length bucket the timed run replays)."""
    longest = max(e.shape[0] for e, _ in rows)
    engine = DecodeEngine(gpt, max_batch=max_batch, max_len=longest + params.max_new_tokens, weights=weights,
                          compile_step=compiled, overlap=overlap)
    if device.type == "cpu" and not compiled:
        engine.generate(rows, replace(params, max_new_tokens=2))
    else:
        engine.generate(sorted(rows, key=lambda r: -r[0].shape[0])[:max_batch // params.num_beams], params)
    engine.cache.clear_prefixes()            # the timed run computes its shared prefix itself
    codes, seconds = _timed(device, lambda: engine.generate(rows, params))
    return [c.tolist() for c in codes], seconds


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(SHAPES), default="indextts2", help="GPT shape (default indextts2)")
    p.add_argument("--segments", type=int, default=16, help="segments to decode (default 16)")
    p.add_argument("--tokens", type=int, help="codes per segment (default 64 on CPU, 256 on GPUs)")
    p.add_argument("--device", help="cpu, cuda, ... (default: best available)")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32",
                   help="model precision for both ways (default float32)")
    p.add_argument("--weights", choices=WEIGHT_MODES, default="fp32",
                   help="runtime weight mode (fp32 = the model's own weights; default fp32)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the runtime's decode step (compilation happens in the warm-up)")
    p.add_argument("--no-overlap", action="store_true",
                   help="the runtime reads each step's codes before it queues the next (overlapping the two is "
                        "the default on CUDA; elsewhere there is nothing to overlap)")
    p.add_argument("--max-batch", type=int, default=16,
                   help="runtime KV slots, one per beam of each segment decoding (default 16)")
    p.add_argument("--beams", type=int, default=1,
                   help="beam search over this many beams (IndexTTS's default is 3; default 1: greedy)")
    p.add_argument("--reference-segments", type=int,
                   help="time the reference on the first K segments only (its codes/s do not depend on how many "
                        "it decodes one after another; default: all)")
    p.add_argument("--reference-batch", type=int, default=1,
                   help="the reference decodes K segments at a time as one left-padded batch through "
                        "decoding.generate, as the official IndexTTS-1.5 infer_fast does a bucket (default 1: "
                        "the HF GPT2Model loop, one segment after another)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and prompts")
    # smaller shapes, for tests
    p.add_argument("--layers", type=int, help=argparse.SUPPRESS)
    p.add_argument("--dim", type=int, help=argparse.SUPPRESS)
    p.add_argument("--heads", type=int, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parser(prog).parse_args(argv)
    if args.segments < 1 or args.max_batch < 1 or args.beams < 1 or (args.tokens is not None and args.tokens < 1) \
            or (args.reference_segments is not None and args.reference_segments < 1) or args.reference_batch < 1:
        raise SystemExit("--segments, --tokens, --max-batch, --beams, --reference-segments and --reference-batch "
                         "must be at least 1")
    if args.max_batch < args.beams:
        raise SystemExit(f"--max-batch {args.max_batch} cannot hold one segment's {args.beams} beams")
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = pick_device(args.device), pick_dtype(args.dtype)
    tokens = args.tokens or (64 if device.type == "cpu" else 256)
    shape = SHAPES[args.model]
    overrides = {k: getattr(args, k) for k in ("layers", "dim", "heads") if getattr(args, k)}
    shape = replace(shape, **overrides)
    gpt = build_gpt(shape, args.seed).to(device, dtype)
    rows = [(e.to(device, dtype), ids.to(device)) for e, ids in make_prompts(gpt, args.segments, shape.cond_rows,
                                                                             args.seed + 1)]
    total = args.segments * tokens
    lengths = [e.shape[0] for e, _ in rows]
    search = f"beam search over {args.beams} beams" if args.beams > 1 else "greedy"
    print(f"model {args.model}: {shape.layers} layers, dim {shape.dim}, {shape.heads} heads, {shape.mel_codes} codes; "
          f"{args.segments} segments x {tokens} codes ({search}), prompts of {min(lengths)}-{max(lengths)} positions; "
          f"{device} {args.dtype}, {torch.get_num_threads()} threads")
    params = SamplingParams(max_new_tokens=tokens, stop_token=gpt.cfg.stop_mel_token, ignore_stop=True,
                            num_beams=args.beams, length_penalty=0.0)

    ref_rows = rows[:args.reference_segments or len(rows)]
    if args.reference_batch > 1:
        with torch.no_grad():
            gpt.mel_head.bias[gpt.cfg.stop_mel_token] = float("-inf")     # generate has no ignore_stop
        official = with_official_layout(gpt)
        batched_reference(official, ref_rows[:args.reference_batch], replace(params, max_new_tokens=2),
                          args.reference_batch)                          # warm-up
        ref_codes, ref_s = _timed(device, lambda: batched_reference(official, ref_rows, params, args.reference_batch))
        del official
        way = (f"decoding.generate, {args.reference_batch} segments at a time as one left-padded batch "
               f"(IndexTTS-1.5 infer_fast)")
    else:
        reference = HFReference(gpt, max(lengths) + tokens)
        reference.decode(max(rows, key=lambda r: r[0].shape[0])[0], replace(params, max_new_tokens=2))   # warm-up
        ref_codes, ref_s = _timed(device, lambda: [reference.decode(e, params) for e, _ in ref_rows])
        way = "HF GPT2Model + past_key_values, batch 1, one segment after another"
    ref_rate = len(ref_rows) * tokens / ref_s
    print(f"reference ({way}): {len(ref_rows) * tokens} codes ({len(ref_rows)} segments) in {ref_s:.2f} s = "
          f"{ref_rate:.2f} codes/s")

    overlap = False if args.no_overlap else None
    ours = f"{args.weights}{' compiled' if args.compile else ''}{', no overlap' if args.no_overlap else ''}"
    single, single_s = _ours(gpt, rows, params, args.beams, args.weights, device, args.compile, overlap)
    print(f"ours {ours}, batch 1 (one segment after another): {total} codes in {single_s:.2f} s = "
          f"{total / single_s:.2f} codes/s ({total / single_s / ref_rate:.2f}x reference)")
    batch = min(args.max_batch, args.segments * args.beams)
    codes, ours_s = _ours(gpt, rows, params, batch, args.weights, device, args.compile, overlap)
    rate = total / ours_s
    print(f"ours {ours}, continuous batching ({batch} slots): {total} codes in {ours_s:.2f} s = "
          f"{rate:.2f} codes/s")
    if args.weights == "fp32":
        print(f"{search} codes equal to the reference's: {_agreement(codes, ref_codes):.1%}")
    else:
        full, full_s = _ours(gpt, rows, params, batch, "fp32", device)
        print(f"ours fp32, continuous batching ({batch} slots): {total / full_s:.2f} codes/s; "
              f"fp32 codes equal to the reference's: {_agreement(full, ref_codes):.1%}; "
              f"{args.weights} codes equal to fp32's: {_agreement(codes, full):.1%}")
    print(f"speedup {rate / ref_rate:.2f}")
    return 0
