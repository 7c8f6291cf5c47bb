"""Case handlers, registered by model version and case name.

A handler takes the loaded model folder and one golden case and returns the
stage's outputs keyed like the case's tolerances (the key "json" carries a
recomputed JSON document, compared exactly with the case's JSON file).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from indexstudio.models.folder import ModelFolder


@dataclass
class Case:
    name: str
    function: str
    args: dict
    inputs: dict[str, torch.Tensor]      # "in.<name>" tensors, prefix removed
    expected: dict[str, torch.Tensor]    # "out.<name>" tensors, prefix removed
    json: Any                            # the case's JSON document, if any
    tolerance: dict[str, Any]
    root: Path                           # the model folder (case files are relative to it)
    raw: dict = field(default_factory=dict)

    def file(self, rel: str) -> Path:
        return self.root / rel


Handler = Callable[[ModelFolder, Case], dict[str, Any]]
HANDLERS: dict[tuple[str, str], Handler] = {}


def case(version: str, *names: str) -> Callable[[Handler], Handler]:
    """Register `fn` as the handler of the named cases of `version` ('2', '1.5', '2.5')."""
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[(version, name)] = fn
        return fn
    return register
