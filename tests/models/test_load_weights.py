"""`load_weights`: a checkpoint's tensors become the module's own, without a random initialisation first."""
import pytest
import torch
from torch import nn

from indexstudio.models.folder import ModelFolderError, as_float32, load_weights, read_checkpoint
from indexstudio.models.gpt2 import GPT2Config, GPT2Transformer


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
    model = load_weights(lambda: GPT2Transformer(GPT2Config(layers=2, dim=32, heads=4)), state, "gpt")
    params = dict(model.named_parameters())
    assert params and all(params[k].data_ptr() == state[k].data_ptr() for k in params)     # not copied
    assert not model.training and not any(p.is_meta for p in model.parameters())
    x = torch.randn(1, 5, 32)
    with torch.inference_mode():
        assert torch.equal(model(x), source.eval()(x))


def test_mismatches_and_unstored_buffers_are_named() -> None:
    state = WithTable(persistent=True).state_dict()
    assert torch.equal(load_weights(lambda: WithTable(True), state, "t").table, torch.arange(3.0))
    missing = r"(?s)^model\.pth: table weights do not match: .*Missing key.*proj\.bias"
    with pytest.raises(ModelFolderError, match=missing):
        load_weights(lambda: WithTable(True), {k: v for k, v in state.items() if k != "proj.bias"},
                     "model.pth: table weights do not match")
    with pytest.raises(RuntimeError, match="WithTable tensors not in its state dict: table"):
        load_weights(lambda: WithTable(False), {k: v for k, v in state.items() if k != "table"}, "t")


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
    with pytest.raises(ModelFolderError, match=r"junk\.pth: cannot read the test checkpoint"):
        read_checkpoint(tmp_path / "junk.pth", "test checkpoint")
