"""UnifiedVoice of IndexTTS-1.5: the mel-code GPT conditioned on the prompt's log mel.

The speaker conditioning is a conformer over the 100-bin prompt mel followed by
a perceiver that squeezes its frames into a fixed number of latents (32 in the
released model); nothing else (no emotion vector, no speed rows) precedes the
text.  The GPT part is `MelCodeGPT`.

Decoding: the official 1.5 inference on CPU / float32 runs HF generate without a
KV cache and re-embeds the whole mel part every step, so the k-th generated code
sits at mel position k (`generated_position_offset = 0`); with a cache the
results are the same.  The engine drives decoding through
`runtime.decoding.generate` with `SAMPLING_DEFAULTS` (the defaults of
`IndexTTS.infer` / `infer_fast`) and shortens silences with
`models.codes.remove_long_silence` before the teacher-forced latent pass.

Attribute names are the official checkpoint's module paths.
"""
from __future__ import annotations

from pathlib import Path

import torch

from indexstudio.models.conformer import ConformerConfig, ConformerEncoder
from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.models.perceiver import PerceiverResampler
from indexstudio.models.unified_voice import (MelCodeGPT, MelPrompt, UnifiedVoiceConfig, _shape, gpt_section,
                                              load_gpt_weights, read_gpt_state)

# generation settings `IndexTTS.infer` / `infer_fast` use when the caller passes none
SAMPLING_DEFAULTS = {
    "do_sample": True,
    "top_p": 0.8,
    "top_k": 30,
    "temperature": 1.0,
    "length_penalty": 0.0,
    "num_beams": 3,
    "repetition_penalty": 10.0,
    "max_mel_tokens": 600,
}
DEFAULT_MEL_BINS = 100   # 1.5's prompt mel (MelSpectrogramFeatures defaults)


class UnifiedVoiceV1_5(MelCodeGPT):
    """IndexTTS-1.5 UnifiedVoice (condition_type 'conformer_perceiver')."""

    def __init__(self, cfg: UnifiedVoiceConfig, speaker_module: ConformerConfig,
                 perceiver_mult: float = 2.0, num_latents: int = 32):
        super().__init__(cfg, generated_position_offset=0)
        self.conditioning_encoder = ConformerEncoder(speaker_module)
        self.perceiver_encoder = PerceiverResampler(cfg.model_dim, speaker_module.output_size, num_latents,
                                                    speaker_module.attention_heads, perceiver_mult)

    @property
    def mel_bins(self) -> int:
        return self.conditioning_encoder.cfg.input_size

    def get_conditioning(self, mel: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, mel_bins, T) prompt log mel with (B,) valid frame counts -> (B, num_latents, model_dim).

        Without `lengths` every frame is valid (what `IndexTTS.infer` passes);
        zero-padded batches need their true lengths, which mask the conformer and perceiver.
        """
        if mel.ndim == 2:
            mel = mel.unsqueeze(0)
        if mel.ndim != 3 or mel.shape[1] != self.mel_bins:
            raise ValueError(f"prompt mel must be (batch, {self.mel_bins}, frames), got {tuple(mel.shape)}")
        if lengths is None:
            lengths = torch.full((mel.shape[0],), mel.shape[2], dtype=torch.long, device=mel.device)
        frames, valid = self.conditioning_encoder(mel.transpose(1, 2), lengths)
        return self.perceiver_encoder(frames, valid)

    def prepare_gpt_inputs(self, conds: torch.Tensor, text_tokens: torch.Tensor) -> MelPrompt:
        """Conditioning (1 or B, N, D) + text rows (B, L) -> left-padded decoder prompt.

        Rows may be right-padded with the stop (or start) text token, as `pad_tokens_cat`
        does for 1.5 batches: those ids are dropped and each row is left-padded instead.
        """
        return self.build_prompt(conds, text_tokens)

    def forward(self, conds: torch.Tensor, text_tokens: torch.Tensor, codes: torch.Tensor,
                code_lens: torch.Tensor, text_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced pass -> (B, T_codes, model_dim) latents for the vocoder.

        `code_lens` are the code counts of `remove_long_silence`.  The official call hands
        the GPT `code_lens * mel_length_compression` samples and keeps one code beyond
        ceil(samples / compression), so positions from `code_lens + 1` on become stop
        tokens.  `text_lengths` defaults to the full width (as `IndexTTS.infer` passes).
        """
        if text_lengths is None:
            text_lengths = torch.full((text_tokens.shape[0],), text_tokens.shape[1], dtype=torch.long,
                                      device=text_tokens.device)
        return self.mel_latents(conds, text_tokens, text_lengths, codes, code_lens.long() + 1)


# ---- loading ------------------------------------------------------------------------------------
def build_unified_voice_v1_5(config: dict, state: dict[str, torch.Tensor], path: Path) -> UnifiedVoiceV1_5:
    """UnifiedVoiceV1_5 from a folder config and a state dict.

    The official code hard-codes the conformer input width (100 mel bins); here it is
    config.yaml's `dataset.mel.n_mels` (100 when absent), checked against the stored
    subsampling projection.  The latent count is read from the stored perceiver.
    """
    gpt = gpt_section(config)
    condition_type = gpt.get("condition_type", "perceiver")
    if condition_type != "conformer_perceiver":
        raise ModelFolderError(f"unsupported gpt.condition_type {condition_type!r} "
                               "(IndexTTS-1.5 uses conformer_perceiver)")
    module = gpt.get("condition_module")
    if not isinstance(module, dict):
        raise ModelFolderError("config.yaml gpt section lacks condition_module")
    try:
        cfg = UnifiedVoiceConfig.from_gpt_section(gpt)
        mel_bins = int(((config.get("dataset") or {}).get("mel") or {}).get("n_mels", DEFAULT_MEL_BINS))
        speaker = ConformerConfig.from_module_config(mel_bins, module)
    except (KeyError, ValueError) as exc:
        raise ModelFolderError(f"config.yaml gpt section: {exc}") from exc
    projected = _shape(state, "conditioning_encoder.embed.out.0.weight", path)[1]
    if projected != speaker.output_size * ((mel_bins - 1) // 2):
        raise ModelFolderError(f"{path}: conditioning encoder input does not fit {mel_bins} mel bins "
                               f"(stored projection takes {projected} features)")
    latents = _shape(state, "perceiver_encoder.latents", path)[0]
    return load_gpt_weights(lambda: UnifiedVoiceV1_5(cfg, speaker, float(module.get("perceiver_mult", 2)), latents),
                            state, path)


def load_unified_voice_v1_5(folder: ModelFolder) -> UnifiedVoiceV1_5:
    """The folder's IndexTTS-1.5 UnifiedVoice, loaded once."""
    def build() -> UnifiedVoiceV1_5:
        path = folder.path("gpt")
        return build_unified_voice_v1_5(folder.config, read_gpt_state(path), path)
    return folder.component("unified_voice_v1_5", build)
