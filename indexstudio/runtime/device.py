"""Which device and dtype the IndexTTS engines run on, how they compile for it, and copies that do not stall it."""
from __future__ import annotations

import importlib.util
from typing import Callable

import torch

from indexstudio.errors import EngineError

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
           "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def _available(kind: str) -> bool:
    if kind == "cpu":
        return True
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "xpu":
        return hasattr(torch, "xpu") and torch.xpu.is_available()
    if kind == "mps":
        return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return False


def pick_device(requested: str | None = None) -> torch.device:
    """The requested device if it exists here, else the best one: cuda, xpu, mps, cpu."""
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError:
            raise EngineError(f"unknown device {requested!r}; choose cuda, mps, xpu or cpu (cuda:1 for a second GPU)") from None
        if not _available(device.type):
            raise EngineError(f"device {requested!r} is not available with this torch build ({torch.__version__})")
        return device
    for kind in ("cuda", "xpu", "mps"):
        if _available(kind):
            return torch.device(kind)
    return torch.device("cpu")


def pick_dtype(requested: str | None = None) -> torch.dtype:
    """float32 unless half precision is asked for (fp16/bf16 pay off on GPUs; bf16 also shrinks CPU weights)."""
    if not requested:
        return torch.float32
    if requested not in _DTYPES:
        raise EngineError(f"unknown dtype {requested!r}; choose float32, float16 or bfloat16")
    return _DTYPES[requested]


def compile_unavailable(device: torch.device) -> str | None:
    """Why torch.compile cannot build code for `device` here (no triton for a GPU, no C++ compiler for a CPU),
    or None; checked when a model loads, since inductor would only fail at the first compiled call."""
    if device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            return "torch.compile on a GPU needs triton (pip install triton, matching your torch build)"
        return None
    if device.type == "cpu":
        try:
            from torch._inductor import cpp_builder, exc
        except ImportError:         # another inductor layout: its own error will have to do
            return None
        try:
            cpp_builder.get_cpp_compiler()
        except exc.InvalidCxxCompiler:
            return "torch.compile on a CPU needs a C++ compiler: install g++ (or set CXX to one)"
    return None


# compiled shapes that need a graph of their own (batch 1, a batch that fills the cache, a length at its
# capacity, masked or not, ...): more than dynamo's default of 8 per function, but a bounded number
RECOMPILE_LIMIT = 64


def compile_for(fn: Callable[..., torch.Tensor], device: torch.device,
                cuda_graphs: bool = False) -> Callable[..., torch.Tensor]:
    """torch.compile for inference on `device`: one graph (no graph break) with dynamic shapes, so that one
    graph serves most batches and lengths.  On a CPU the weights are frozen into the graph, where inductor
    keeps them pre-packed for its matrix products (a packed copy of the weights in memory; a 2-core AMD EPYC
    decoded 16 segments 1.24x faster than eager so, 0.85x with plain `addmm`s).  Freezing is switched on
    around the calls (they compile): torch.compile's `options={"freezing": True}` leaves it off in torch
    2.13.  On CUDA `cuda_graphs` also replays the compiled calls from CUDA graphs (inductor's, one per
    shape)."""
    cpu = device.type == "cpu"
    compiled = torch.compile(fn, dynamic=True, fullgraph=True,
                             options={} if cpu else {"triton.cudagraphs": cuda_graphs})

    def call(*args: object) -> torch.Tensor:
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT), torch._inductor.config.patch(freezing=cpu):
            return compiled(*args)
    return call


def host_to_device(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """`dst.copy_(src)` for a host tensor, queued behind the device's work: a plain copy to a GPU from pageable
    memory first waits for everything already queued there, which would stall the host every decode step.
    On CUDA it goes through pinned memory (torch keeps that block until the copy has run); elsewhere it is
    the plain copy."""
    if dst.device.type != "cuda":
        return dst.copy_(src)
    return dst.copy_(src.pin_memory(), non_blocking=True)


def device_tensor(data: object, device: torch.device | str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """`torch.tensor(data, dtype=dtype, device=device)`, or a host tensor moved there, through `host_to_device`:
    the runtime's per-step indices and positions."""
    host = data if isinstance(data, torch.Tensor) else torch.tensor(data, dtype=dtype)
    return host_to_device(host, torch.empty(host.shape, dtype=host.dtype, device=device))


class HostCopy:
    """A device tensor's values on their way to the host: the copy is queued behind the work that makes them,
    so the host can queue more work before it reads them (`tolist` waits for them only then).  Off CUDA the
    values are read at once."""

    def __init__(self, t: torch.Tensor):
        self.ready: torch.cuda.Event | None = None
        if t.device.type == "cuda":
            self.host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(t, non_blocking=True)
            self.ready = torch.cuda.Event()
            self.ready.record()
        else:
            self.host = t.to("cpu")

    def tolist(self) -> list:
        if self.ready is not None:
            self.ready.synchronize()
        return self.host.tolist()
