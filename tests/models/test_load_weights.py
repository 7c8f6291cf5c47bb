"""`load_weights`: a checkpoint's tensors become the module's own, without a random initialisation first."""
import platform
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from indexstudio.models.folder import ModelFolderError, as_float32, load_weights, read_checkpoint, release_pages
from indexstudio.models.gpt2 import Conv1D, GPT2Config, GPT2Transformer, is_out_in
from indexstudio.models.unified_voice import MelCodeGPT, UnifiedVoiceConfig, load_gpt_weights, read_gpt_state


class WithTable(nn.Module):
    def __init__(self, persistent: bool):
        super().__init__()
        self.proj = nn.Linear(4, 3)
        self.register_buffer("table", torch.arange(3.0), persistent=persistent)


def test_the_state_tensors_become_the_weights() -> None:
    source = GPT2Transformer(GPT2Config(layers=2, dim=32, heads=4))
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    state = {k: v.clone() for k, v in source.state_dict().items()}
    model = load_weights(lambda: GPT2Transformer(GPT2Config(layers=2, dim=32, heads=4)), state, "gpt.pth", "gpt")
    params = dict(model.named_parameters())
    assert params and all(params[k].data_ptr() == state[k].data_ptr() for k in params)     # not copied
    assert not model.training and not any(p.is_meta for p in model.parameters())
    x = torch.randn(1, 5, 32)
    with torch.inference_mode():
        assert torch.equal(model(x), source.eval()(x))


def test_mismatches_and_unstored_buffers_are_named() -> None:
    state = WithTable(persistent=True).state_dict()
    assert torch.equal(load_weights(lambda: WithTable(True), state, "model.pth", "t").table, torch.arange(3.0))
    missing = r"^model\.pth: table weights do not match: 1 tensors missing \(proj\.bias\) \(a checkpoint of another"
    with pytest.raises(ModelFolderError, match=missing):
        load_weights(lambda: WithTable(True), {k: v for k, v in state.items() if k != "proj.bias"},
                     "model.pth", "table weights do not match")
    other = {**state, "proj.weight": torch.zeros(5, 4), **{f"extra.{i}": torch.zeros(1) for i in range(5)}}
    with pytest.raises(ModelFolderError) as caught:
        load_weights(lambda: WithTable(True), other, "model.pth", "t")
    assert str(caught.value) == ("model.pth: t: 5 unexpected tensors (extra.0, extra.1, extra.2, ...); 1 tensors of another shape "
                                 "(proj.weight (5, 4) where the config makes (3, 4)) (a checkpoint of another IndexTTS "
                                 "version or model size?)")
    with pytest.raises(RuntimeError, match="WithTable tensors not in its state dict: table"):
        load_weights(lambda: WithTable(False), {k: v for k, v in state.items() if k != "table"}, "model.pth", "t")
    broken = {**state, "proj.weight": torch.tensor([[float("nan")] * 4] * 3)}
    with pytest.raises(ModelFolderError, match=r"^model\.pth: 1 tensor hold NaN or infinite values \(proj\.weight\)"):
        load_weights(lambda: WithTable(True), broken, "model.pth", "t")


def _mapped_from(tensor: torch.Tensor, path) -> bool:
    """Whether the tensor's memory lies in a mapping of `path` (/proc/self/maps)."""
    address = tensor.data_ptr()
    for line in open("/proc/self/maps"):
        fields = line.split()
        if len(fields) >= 6 and fields[5] == str(path):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if start <= address < end:
                return True
    return False


def test_checkpoints_are_read_memory_mapped_and_legacy_files_whole(tmp_path) -> None:
    state = {"w": torch.randn(64, 64), "n": torch.arange(5)}
    current, legacy = tmp_path / "current.pth", tmp_path / "legacy.pth"
    torch.save({"model": state}, current)
    torch.save({"model": state}, legacy, _use_new_zipfile_serialization=False)
    mapped = read_checkpoint(current, "test checkpoint")["model"]
    assert torch.equal(mapped["w"], state["w"]) and _mapped_from(mapped["w"], current)
    whole = read_checkpoint(legacy, "test checkpoint")["model"]
    assert torch.equal(whole["w"], state["w"]) and not _mapped_from(whole["w"], legacy)
    assert as_float32(mapped)["w"].data_ptr() == mapped["w"].data_ptr()       # float32 stays mapped
    assert as_float32({"h": state["w"].half()})["h"].dtype == torch.float32
    with pytest.raises(ModelFolderError, match=r"missing test checkpoint: expected .*absent\.pth"):
        read_checkpoint(tmp_path / "absent.pth", "test checkpoint")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFolderError, match=r"junk\.pth: cannot read the test checkpoint: the file \(16 bytes\) is "
                                               "damaged, incomplete or not a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "junk.pth", "test checkpoint")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(current.read_bytes()[:current.stat().st_size // 2])     # a copy cut short
    with pytest.raises(ModelFolderError, match=r"truncated\.pth: cannot read the test checkpoint: the file .* is damaged") \
            as damaged:
        read_checkpoint(truncated, "test checkpoint")
    assert len(str(damaged.value)) < len(str(truncated)) + 250     # torch's explanation, not its essay
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ModelFolderError, match=r"the file is empty; copy it again"):
        read_checkpoint(tmp_path / "empty.pth", "test checkpoint")


def _resident_file_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"RssFile:\s+(\d+) kB", status).group(1)) / 1024


pageout = pytest.mark.skipif(sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"),
                             reason="MADV_PAGEOUT is Linux's (x86-64 / arm64)")


@pageout
def test_released_pages_of_a_mapped_tensor_leave_the_resident_set_and_its_values_stay(tmp_path) -> None:
    weight = torch.randn(4096, 4096)                                       # 64 MiB
    torch.save({"w": weight}, tmp_path / "big.pth")
    mapped = read_checkpoint(tmp_path / "big.pth", "test checkpoint")["w"]
    before = _resident_file_mib()
    assert torch.equal(mapped, weight)                                     # every page read: resident
    touched = _resident_file_mib()
    release_pages(mapped)
    released = _resident_file_mib()
    assert touched - before > 48 and touched - released > 48
    assert torch.equal(mapped, weight)                                     # read again from the file


@pageout
def test_loading_a_gpt_leaves_no_mapped_copy_of_its_projections_resident(tmp_path) -> None:
    """The loader stores the projections (out, in): a copy each; the checkpoint's (in, out) pages go."""
    cfg = UnifiedVoiceConfig(layers=2, model_dim=1024, heads=8, max_text_tokens=32, max_mel_tokens=32,
                             number_text_tokens=64, number_mel_codes=64, start_text_token=0, stop_text_token=1,
                             start_mel_token=62, stop_mel_token=63)
    source = MelCodeGPT(cfg)
    torch.save(source.state_dict(), tmp_path / "gpt.pth")
    projections = sum(m.weight.numel() * 4 for m in source.modules() if isinstance(m, Conv1D)) / 2**20   # 96 MiB
    before = _resident_file_mib()
    model = load_gpt_weights(lambda: MelCodeGPT(cfg), read_gpt_state(tmp_path / "gpt.pth"), tmp_path / "gpt.pth")
    assert _resident_file_mib() - before < projections / 4
    for name, module in model.named_modules():
        if isinstance(module, Conv1D):
            assert is_out_in(module.weight) and torch.equal(module.weight, source.get_submodule(name).weight)


@pytest.mark.parametrize("edit, message", [
    (lambda text: "hello\n", "not an IndexTTS config"),
    (lambda text: re.sub(r"model_dim: \d+", "model_dim: abc", text, count=1), "model_dim: .abc. is not a whole number"),
    (lambda text: "gpt: [\n", "not valid YAML"),
])
def test_a_damaged_config_is_a_model_folder_error(tmp_path, edit, message):
    """Not a ValueError or AttributeError from deep inside the loader (a traceback for the user)."""
    import shutil

    from conftest import GOLDEN

    from indexstudio.models.folder import ModelFolder
    from indexstudio.models.unified_voice import load_unified_voice_v2
    folder = tmp_path / "model"
    shutil.copytree(GOLDEN / "indextts2", folder, ignore=shutil.ignore_patterns("cases", "hf_cache"))
    config = folder / "config.yaml"
    config.write_text(edit(config.read_text()))
    with pytest.raises(ModelFolderError, match=message):
        load_unified_voice_v2(ModelFolder(folder))


def test_a_half_copied_auxiliary_folder_is_named_before_anything_loads(tmp_path):
    """hf_cache/bigvgan/ without its generator was found only once the other weights had loaded."""
    import shutil

    from conftest import GOLDEN

    from indexstudio.models.folder import ModelFolder
    copy = tmp_path / "model"
    shutil.copytree(GOLDEN / "indextts2", copy, symlinks=True, ignore=shutil.ignore_patterns("cases"))
    ModelFolder(copy).check_files()
    (copy / "hf_cache" / "bigvgan" / "bigvgan_generator.pt").unlink()
    with pytest.raises(ModelFolderError, match=r"missing bigvgan_generator\.pt of the BigVGAN folder .*: expected "
                                               r".*hf_cache/bigvgan/bigvgan_generator\.pt"):
        ModelFolder(copy).check_files()
    (copy / "gpt.pth").unlink()                       # a folder copied in part: all it lacks, in one message
    with pytest.raises(ModelFolderError, match=r"missing 2 files of IndexTTS-2: UnifiedVoice GPT checkpoint: expected "
                                               r".*gpt\.pth; bigvgan_generator\.pt of the BigVGAN folder"):
        ModelFolder(copy).check_files()
    (copy / "config.yaml").write_text("")
    with pytest.raises(ModelFolderError, match=r"config\.yaml is empty"):
        ModelFolder(copy)
