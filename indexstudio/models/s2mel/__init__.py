"""S2Mel of IndexTTS 2.x: semantic tokens/features -> 80-bin mel by conditional flow matching.

Parts: `length_regulator` (token rate -> mel rate), `dit` (velocity estimator
with a `wavenet` post-net), `cfm` (Euler sampler with classifier-free
guidance) and `model` (checkpoint loader).
"""
from indexstudio.models.s2mel.cfm import sample_euler_cfg
from indexstudio.models.s2mel.dit import DiT, DiTConfig
from indexstudio.models.s2mel.length_regulator import LengthRegulator, v2_5_target_length, v2_target_lengths
from indexstudio.models.s2mel.model import S2Mel, load_s2mel, read_s2mel

__all__ = [
    "DiT", "DiTConfig", "LengthRegulator", "S2Mel", "load_s2mel", "read_s2mel",
    "sample_euler_cfg", "v2_5_target_length", "v2_target_lengths",
]
