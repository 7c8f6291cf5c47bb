"""A FULL-SIZE IndexTTS-2 model folder with random weights, for end-to-end benchmarks.

Speed and memory of the IndexTTS-2 pipeline depend on the network sizes, not
on the weight values, so a folder with the real architecture and random
weights measures the real cost without the real checkpoints (which this
project never downloads).  The folder is written in the official on-disk
layout, so `indexstudio.models.folder.ModelFolder` and
`get_engine("indextts2", model_dir=DIR)` load it unchanged:

    config.yaml                     official IndexTTS-2 config (full sizes)
    bpe.model                       copied from the template (the reduced golden folder)
    gpt.pth                         UnifiedVoice state dict (1280-d, 24 layers, 20 heads)
    s2mel.pth                       {'net': {'cfm', 'length_regulator', 'gpt_layer'}} incl. weight-norm
                                    pairs and the parameters only training uses
    wav2vec2bert_stats.pt           {'mean': (1024,), 'var': (1024,)}
    feat1.pt / feat2.pt             emotion matrices (73, 192) / (73, 1280)
    hf_cache/w2v-bert-2.0/          Wav2Vec2BertModel(Wav2Vec2BertConfig()).save_pretrained (600M, 24 layers)
                                    + preprocessor_config.json
    hf_cache/semantic_codec_model.safetensors   RepCodec (8192 codes, 1024-d, vocos 384/2048/12)
    hf_cache/campplus_cn_common.bin             copied from the template (CAMPPlus is full size there)
    hf_cache/bigvgan/{config.json, bigvgan_generator.pt}   BigVGAN v2 22 kHz 80-band 256x (1536 channels)

Every network is one of our own modules (`indexstudio.models`) built at full
size; parameters that our modules create as zeros (GPT-2 projections,
perceiver latents, relative-position biases) get N(0, 0.02), everything else
keeps the module's default initialisation.

Deterministic length: the stop token's mel-head bias is set to -1e4
(`suppress_stop=True`, the default), so the GPT never stops early and every
segment decodes exactly `max_mel_tokens` codes - the compute per code is the
same as with any other weights.  A marker file records this.

The layout is checked against the template: `write_random_folder` with the
template's own (reduced) sizes yields exactly the template's file set, keys and
shapes (`compare_with_template`, used by tests/test_bench_e2e.py).

Cache: the full-size folder (about 7 GB) is generated once into
~/.cache/indexstudio/bench-random-indextts2 (or $INDEXSTUDIO_BENCH_MODEL) and
reused; delete the folder (or pass --force) to regenerate.

Usage: python bench/random_model.py [--dir DIR] [--force] [--keep-stop]
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FORMAT = 1
MARKER = ".bench-random.json"
DEFAULT_DIR = Path(os.environ.get("INDEXSTUDIO_BENCH_MODEL",
                                  Path.home() / ".cache" / "indexstudio" / "bench-random-indextts2"))
GOLDEN = Path(os.environ.get("INDEXSTUDIO_GOLDEN", ROOT.parent / "shared" / "golden"))
TEMPLATE = GOLDEN / "indextts2"
STOP_BIAS = -1e4

# Full-size values of the official IndexTTS-2 checkpoints/config.yaml (everything else,
# switches included, is identical in the reduced template).
FULL_SIZE = {
    "gpt": {"model_dim": 1280, "max_mel_tokens": 1815, "max_text_tokens": 600, "heads": 20, "layers": 24,
            "number_text_tokens": 12000, "number_mel_codes": 8194, "start_mel_token": 8192, "stop_mel_token": 8193,
            "condition_module": {"output_size": 512, "linear_units": 2048, "attention_heads": 8, "num_blocks": 6},
            "emo_condition_module": {"output_size": 512, "linear_units": 1024, "attention_heads": 4,
                                     "num_blocks": 4}},
    "semantic_codec": {"codebook_size": 8192, "hidden_size": 1024, "codebook_dim": 8, "vocos_dim": 384,
                       "vocos_intermediate_dim": 2048, "vocos_num_layers": 12},
    "s2mel": {"length_regulator": {"channels": 512, "in_channels": 1024, "content_codebook_size": 2048},
              "DiT": {"hidden_dim": 512, "num_heads": 8, "depth": 13, "content_dim": 512,
                      "content_codebook_size": 1024},
              "wavenet": {"hidden_dim": 512, "num_layers": 8}},
}
FULL_BIGVGAN_CHANNELS = 1536        # nvidia/bigvgan_v2_22khz_80band_256x upsample_initial_channel
DIT_INPUT_POSITIONS = 16384         # the official DiT's registered `input_pos` buffer (arange)
NUM_LATENTS = 32                    # speaker perceiver latents of IndexTTS-2


# ---- specs ------------------------------------------------------------------------------------
def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def template_spec(template: Path = TEMPLATE) -> tuple[dict, Any, dict]:
    """(config.yaml dict, Wav2Vec2BertConfig, BigVGAN config.json dict) of the template folder itself."""
    from transformers import Wav2Vec2BertConfig
    config = yaml.safe_load((template / "config.yaml").read_text(encoding="utf-8"))
    w2v = Wav2Vec2BertConfig.from_pretrained(template / "hf_cache" / "w2v-bert-2.0")
    bigvgan = json.loads((template / "hf_cache" / "bigvgan" / "config.json").read_text(encoding="utf-8"))
    return config, w2v, bigvgan


def full_size_spec(template: Path = TEMPLATE) -> tuple[dict, Any, dict]:
    """The real IndexTTS-2 sizes: official config values, w2v-BERT 2.0 (transformers defaults), BigVGAN v2."""
    from transformers import Wav2Vec2BertConfig
    config, _, bigvgan = template_spec(template)
    config = _merge(config, FULL_SIZE)
    w2v = Wav2Vec2BertConfig()      # hidden 1024, 24 layers, 16 heads, ffn 4096: facebook/w2v-bert-2.0
    bigvgan = dict(bigvgan, upsample_initial_channel=FULL_BIGVGAN_CHANNELS)
    return config, w2v, bigvgan


# ---- helpers ----------------------------------------------------------------------------------
def _randomize_zero_matrices(module: nn.Module, std: float = 0.02) -> nn.Module:
    """N(0, std) for every >= 2-d parameter a module created as all zeros (its default init is 'load me')."""
    with torch.no_grad():
        for param in module.parameters():
            if param.ndim >= 2 and not bool(param.any()):
                param.normal_(0.0, std)
    return module


def _pattern(stem: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", ".#", stem)


def _weight_norm_patterns(state: dict[str, torch.Tensor]) -> set[str]:
    """Module paths (layer indices wildcarded) that the template stores as weight_g / weight_v pairs."""
    return {_pattern(k[: -len(".weight_g")]) for k in state if k.endswith(".weight_g")}


def _unfold_weight_norm(state: dict[str, torch.Tensor], patterns: set[str]) -> dict[str, torch.Tensor]:
    """`<stem>.weight` -> `<stem>.weight_g` (norm over all dims but 0) + `<stem>.weight_v`, where the template
    stores that module with weight norm."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(".weight") and _pattern(key[: -len(".weight")]) in patterns:
            stem = key[: -len(".weight")]
            dims = tuple(range(1, value.ndim))
            out[stem + ".weight_g"] = value.norm(dim=dims, keepdim=True)
            out[stem + ".weight_v"] = value
        else:
            out[key] = value
    return out


_PARAMETRIZED = {".parametrizations.weight.original0": ".weight_g", ".parametrizations.weight.original1": ".weight_v"}


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached contiguous tensors; torch weight-norm parametrisations under their legacy names (weight_g/_v)."""
    out = {}
    for key, value in state.items():
        for new, old in _PARAMETRIZED.items():
            if key.endswith(new):
                key = key[: -len(new)] + old
        out[key] = value.detach().contiguous()
    return out


def _save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)


def _load_template(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


# ---- components -------------------------------------------------------------------------------
def _gpt_state(config: dict, suppress_stop: bool) -> dict[str, torch.Tensor]:
    from indexstudio.models.conformer import ConformerConfig
    from indexstudio.models.unified_voice import UnifiedVoiceConfig, UnifiedVoiceV2
    gpt = config["gpt"]
    semantic = int(config["semantic_codec"]["hidden_size"])
    spk, emo = gpt["condition_module"], gpt["emo_condition_module"]
    cfg = UnifiedVoiceConfig.from_gpt_section(gpt)
    model = UnifiedVoiceV2(cfg, semantic, ConformerConfig.from_module_config(semantic, emo),
                           float(emo.get("perceiver_mult", 2)),
                           speaker_module=ConformerConfig.from_module_config(semantic, spk),
                           speaker_perceiver_mult=float(spk.get("perceiver_mult", 2)), num_latents=NUM_LATENTS)
    _randomize_zero_matrices(model)
    if suppress_stop:
        with torch.no_grad():
            model.mel_head.bias[cfg.stop_mel_token] = STOP_BIAS
    return _contiguous(model.state_dict())


def _s2mel_checkpoint(config: dict, wn_patterns: set[str]) -> dict:
    from indexstudio.models.s2mel.dit import DiT, DiTConfig
    from indexstudio.models.s2mel.length_regulator import LengthRegulator
    s2mel = config["s2mel"]
    dit, wavenet, reg = s2mel["DiT"], s2mel["wavenet"], s2mel["length_regulator"]
    hidden, mel = int(dit["hidden_dim"]), int(dit["in_channels"])
    # the official gpt-fast ModelArgs width rule: find_multiple(int(2 * 4 * dim / 3), 256)
    ffn_hidden = math.ceil(int(2 * 4 * hidden / 3) / 256) * 256
    estimator = DiT(DiTConfig(
        mel_channels=mel, hidden=hidden, heads=int(dit["num_heads"]), depth=int(dit["depth"]), ffn_hidden=ffn_hidden,
        content_dim=int(dit["content_dim"]), style_dim=int(s2mel["style_encoder"]["dim"]),
        style_condition=bool(dit["style_condition"]), uvit_skip=bool(dit["uvit_skip_connection"]),
        long_skip=bool(dit["long_skip_connection"]), wavenet_hidden=int(wavenet["hidden_dim"]),
        wavenet_layers=int(wavenet["num_layers"]), wavenet_kernel=int(wavenet["kernel_size"]),
        wavenet_dilation_rate=int(wavenet["dilation_rate"])))
    _randomize_zero_matrices(estimator)
    # parameters the official estimator carries but inference never reads
    x_embedder = nn.Linear(mel, hidden)      # stored with weight norm, like the estimator's other norms
    extra = {
        "input_pos": torch.arange(DIT_INPUT_POSITIONS),
        "x_embedder.weight": x_embedder.weight.detach(), "x_embedder.bias": x_embedder.bias.detach(),
        "cond_embedder.weight": torch.randn(int(dit["content_codebook_size"]), hidden),
        "content_mask_embedder.weight": torch.randn(1, hidden),
    }
    cfm = {f"estimator.{k}": v for k, v in {**estimator.state_dict(), **extra}.items()}
    regulator = LengthRegulator(int(reg["in_channels"]), int(reg["channels"]), len(reg.get("sampling_ratios") or []))
    regulator_state = {**regulator.state_dict(), "mask_token": torch.zeros(1, int(reg["channels"])),
                       "embedding.weight": torch.randn(int(reg["content_codebook_size"]), int(reg["channels"]))}
    semantic = int(reg["in_channels"])
    gpt_layer = nn.Sequential(nn.Linear(int(config["gpt"]["model_dim"]), 256), nn.Linear(256, 128),
                              nn.Linear(128, semantic))
    return {"net": {"cfm": _contiguous(_unfold_weight_norm(cfm, wn_patterns)),
                    "length_regulator": _contiguous(regulator_state),
                    "gpt_layer": _contiguous(gpt_layer.state_dict())}}


def _codec_state(config: dict) -> dict[str, torch.Tensor]:
    from indexstudio.models.semantic_codec import RepCodec, SemanticCodecConfig
    model = _randomize_zero_matrices(RepCodec(SemanticCodecConfig.from_config(config["semantic_codec"])))
    return _contiguous(model.state_dict())


def _bigvgan_state(hparams: dict, filter_taps: int, wn_patterns: set[str]) -> dict[str, torch.Tensor]:
    from indexstudio.models.bigvgan import BigVGAN, GeneratorConfig
    cfg = GeneratorConfig.from_hparams(hparams, in_channels=hparams["num_mels"],
                                       tanh_at_final=hparams.get("use_tanh_at_final", True),
                                       bias_at_final=hparams.get("use_bias_at_final", True),
                                       filter_taps=filter_taps, where="bigvgan config.json")
    model = _randomize_zero_matrices(BigVGAN(cfg))
    return _contiguous(_unfold_weight_norm(model.state_dict(), wn_patterns))


def _write_w2v(directory: Path, w2v_config: Any, template: Path) -> None:
    from transformers import Wav2Vec2BertModel
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    model = Wav2Vec2BertModel(w2v_config).eval()
    model.save_pretrained(directory, safe_serialization=True, max_shard_size="20GB")
    shutil.copy2(template / "hf_cache" / "w2v-bert-2.0" / "preprocessor_config.json", directory)
    del model


# ---- the folder -------------------------------------------------------------------------------
def write_random_folder(out: str | Path, config: dict, w2v_config: Any, bigvgan_hparams: dict,
                        template: Path = TEMPLATE, seed: int = 0, suppress_stop: bool = True,
                        log=print) -> Path:
    """Write an IndexTTS-2 folder of the given sizes with random weights into `out` (created)."""
    out = Path(out)
    template = Path(template)
    hf = out / "hf_cache"
    hf.mkdir(parents=True, exist_ok=True)
    semantic = int(config["semantic_codec"]["hidden_size"])
    if semantic != int(w2v_config.hidden_size) or semantic != int(config["s2mel"]["length_regulator"]["in_channels"]):
        raise ValueError("semantic_codec.hidden_size, w2v-BERT hidden_size and "
                         "s2mel.length_regulator.in_channels must agree")

    def step(what: str, fn) -> None:
        start = time.perf_counter()
        torch.manual_seed(seed)
        fn()
        log(f"  {what}: {time.perf_counter() - start:.1f} s")

    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    shutil.copy2(template / "bpe.model", out / "bpe.model")
    shutil.copy2(template / "hf_cache" / "campplus_cn_common.bin", hf / "campplus_cn_common.bin")
    step("gpt.pth", lambda: _save(_gpt_state(config, suppress_stop), out / "gpt.pth"))
    template_cfm = _load_template(template / "s2mel.pth")["net"]["cfm"]
    step("s2mel.pth", lambda: _save(_s2mel_checkpoint(config, _weight_norm_patterns(template_cfm)), out / "s2mel.pth"))

    def stats() -> None:
        _save({"mean": torch.randn(semantic) * 0.3, "var": torch.rand(semantic) * 1.5 + 0.25},
              out / "wav2vec2bert_stats.pt")
        rows = sum(int(n) for n in config["emo_num"])
        _save(torch.randn(rows, int(config["s2mel"]["style_encoder"]["dim"])), out / "feat1.pt")
        _save(torch.randn(rows, int(config["gpt"]["model_dim"])), out / "feat2.pt")
    step("stats and emotion matrices", stats)

    def codec() -> None:
        from safetensors.torch import save_file
        save_file(_codec_state(config), str(hf / "semantic_codec_model.safetensors"))
    step("semantic codec", codec)

    template_vocoder = _load_template(template / "hf_cache" / "bigvgan" / "bigvgan_generator.pt")["generator"]
    taps = int(template_vocoder["activation_post.upsample.filter"].shape[-1])
    (hf / "bigvgan").mkdir(exist_ok=True)
    (hf / "bigvgan" / "config.json").write_text(json.dumps(bigvgan_hparams, indent=4), encoding="utf-8")
    step("bigvgan", lambda: _save({"generator": _bigvgan_state(bigvgan_hparams, taps,
                                                               _weight_norm_patterns(template_vocoder))},
                                  hf / "bigvgan" / "bigvgan_generator.pt"))
    step("w2v-bert-2.0", lambda: _write_w2v(hf / "w2v-bert-2.0", w2v_config, template))
    return out


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def ensure_random_indextts2(directory: str | Path = DEFAULT_DIR, template: Path = TEMPLATE, force: bool = False,
                            suppress_stop: bool = True, seed: int = 0, log=print) -> Path:
    """The cached full-size random folder, generated first when missing, incomplete or made differently."""
    directory = Path(directory).expanduser()
    marker = directory / MARKER
    want = {"format": FORMAT, "suppress_stop": suppress_stop, "seed": seed}
    if not force and marker.is_file():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if all(info.get(k) == v for k, v in want.items()):
            return directory
    if not (template / "config.yaml").is_file():
        raise FileNotFoundError(f"template folder {template} (the reduced golden IndexTTS-2 folder) not found; "
                                "set INDEXSTUDIO_GOLDEN")
    tmp = directory.with_name(directory.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"writing a full-size random IndexTTS-2 folder to {directory} (once; about 7 GB)")
    start = time.perf_counter()
    config, w2v, bigvgan = full_size_spec(template)
    write_random_folder(tmp, config, w2v, bigvgan, template, seed, suppress_stop, log)
    (tmp / MARKER).write_text(json.dumps({**want, "bytes": folder_bytes(tmp), "template": str(template),
                                          "stop_bias": STOP_BIAS if suppress_stop else None}, indent=1),
                              encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)
    directory.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, directory)
    log(f"done in {time.perf_counter() - start:.0f} s: {folder_bytes(directory) / 2**30:.2f} GiB")
    return directory


# ---- layout check -----------------------------------------------------------------------------
def _tensor_files(folder: Path) -> dict[str, dict[str, tuple]]:
    """file -> {key: (shape, dtype)} for every weight file of an IndexTTS-2 folder."""
    from safetensors.torch import load_file

    def flat(obj: Any, prefix: str = "") -> dict[str, tuple]:
        if isinstance(obj, torch.Tensor):
            return {prefix: (tuple(obj.shape), str(obj.dtype))}
        out: dict[str, tuple] = {}
        for key, value in obj.items():
            out.update(flat(value, f"{prefix}/{key}" if prefix else str(key)))
        return out
    files = {}
    for rel in ("gpt.pth", "s2mel.pth", "wav2vec2bert_stats.pt", "feat1.pt", "feat2.pt",
                "hf_cache/campplus_cn_common.bin", "hf_cache/bigvgan/bigvgan_generator.pt"):
        files[rel] = flat({"": _load_template(folder / rel)})
    for rel in ("hf_cache/semantic_codec_model.safetensors", "hf_cache/w2v-bert-2.0/model.safetensors"):
        files[rel] = flat(load_file(str(folder / rel)))
    return files


def compare_with_template(folder: Path, template: Path = TEMPLATE) -> list[str]:
    """Differences in file set, tensor keys, shapes and dtypes between two folders (empty: same layout)."""
    problems = []
    skip = {"README.md", "manifest.json", MARKER}
    listing = {str(p.relative_to(template)) for p in template.rglob("*") if p.is_file()
               and p.parts[len(template.parts)] != "cases" and p.name not in skip}
    mine = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name not in skip}
    if listing != mine:
        problems.append(f"files: missing {sorted(listing - mine)}, extra {sorted(mine - listing)}")
    ref, got = _tensor_files(template), _tensor_files(folder)
    for rel, keys in ref.items():
        for key in sorted(set(keys) | set(got[rel])):
            if keys.get(key) != got[rel].get(key):
                problems.append(f"{rel}: {key}: template {keys.get(key)}, written {got[rel].get(key)}")
    ref_cfg = yaml.safe_load((template / "config.yaml").read_text(encoding="utf-8"))
    got_cfg = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    if ref_cfg != got_cfg:
        problems.append("config.yaml differs")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"output folder (default {DEFAULT_DIR})")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="reduced golden IndexTTS-2 folder")
    parser.add_argument("--force", action="store_true", help="regenerate even when the folder is complete")
    parser.add_argument("--keep-stop", action="store_true", help="do not suppress the stop token")
    args = parser.parse_args()
    path = ensure_random_indextts2(args.dir, args.template, args.force, suppress_stop=not args.keep_stop)
    print(f"{path}: {folder_bytes(path) / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
