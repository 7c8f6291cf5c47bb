"""`load_weights`: a checkpoint's tensors become the module's own, without a random initialisation first."""
import pytest
import torch
from torch import nn

from indexstudio.models.folder import ModelFolderError, load_weights
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
