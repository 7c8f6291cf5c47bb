"""Run every case of a golden folder against our implementation and report.

The folder is loaded exactly like a real model folder (ModelFolder), the
version comes from its config, and each case in manifest.json is dispatched to
the handler registered for (version, case name).  Nothing here knows the
sizes or seeds of any particular folder.
"""
from __future__ import annotations

import importlib
import json
import math
import pkgutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from indexstudio.conformance.registry import HANDLERS, Case
from indexstudio.models.folder import ModelFolder

_VERSION_PACKAGES = {"2": "v2", "1.5": "v1_5", "2.5": "v2_5"}


@dataclass
class CaseResult:
    name: str
    passed: bool
    worst: str          # worst error against its tolerance, or why the case could not run
    seconds: float


def _import_handlers(version: str) -> dict[str, str]:
    """Import every handler module of `version`; returns module -> import error text."""
    errors: dict[str, str] = {}
    pkg_name = f"indexstudio.conformance.{_VERSION_PACKAGES[version]}"
    pkg = importlib.import_module(pkg_name)
    for info in pkgutil.iter_modules(pkg.__path__):
        try:
            importlib.import_module(f"{pkg_name}.{info.name}")
        except Exception as exc:  # a broken stage must not hide the others
            errors[info.name] = f"{type(exc).__name__}: {exc}"
    return errors


def load_case(root: Path, entry: dict) -> Case:
    tensors = load_file(str(root / entry["file"])) if entry.get("file") else {}
    doc = json.loads((root / entry["json"]).read_text(encoding="utf-8")) if entry.get("json") else None
    return Case(
        name=entry["name"],
        function=entry.get("function", ""),
        args=entry.get("args", {}),
        inputs={k[3:]: v for k, v in tensors.items() if k.startswith("in.")},
        expected={k[4:]: v for k, v in tensors.items() if k.startswith("out.")},
        json=doc,
        tolerance=entry.get("tolerance", {}),
        root=root,
        raw=entry,
    )


def _first_json_difference(mine: Any, ref: Any, path: str = "$") -> str | None:
    if isinstance(ref, dict):
        if not isinstance(mine, dict):
            return f"{path}: expected an object, got {type(mine).__name__}"
        for key in ref:
            if key not in mine:
                return f"{path}.{key}: missing"
            diff = _first_json_difference(mine[key], ref[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(ref, list):
        if not isinstance(mine, (list, tuple)) or len(mine) != len(ref):
            return f"{path}: expected {len(ref)} items, got {len(mine) if isinstance(mine, (list, tuple)) else type(mine).__name__}"
        for i, (m, r) in enumerate(zip(mine, ref)):
            diff = _first_json_difference(m, r, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if mine != ref or type(mine) is bool and type(ref) is not bool:
        return f"{path}: expected {ref!r}, got {mine!r}"
    return None


def compare_tensor(key: str, mine: Any, ref: torch.Tensor, tol: Any) -> tuple[bool, float, str]:
    """(passed, badness ratio, description). Badness is max |err| / allowed, or inf on shape/dtype trouble."""
    if not isinstance(mine, torch.Tensor):
        mine = torch.as_tensor(mine)
    mine = mine.detach().cpu()
    if tuple(mine.shape) != tuple(ref.shape):
        return False, math.inf, f"{key}: shape {tuple(mine.shape)} != {tuple(ref.shape)}"
    if tol == "exact":
        if ref.dtype.is_floating_point:
            equal = torch.equal(mine.to(ref.dtype), ref)
        else:
            equal = not mine.dtype.is_floating_point and torch.equal(mine.to(torch.int64), ref.to(torch.int64))
        if equal:
            return True, 0.0, f"{key}: exact"
        where = (mine.to(torch.float64) != ref.to(torch.float64)).nonzero()
        first = tuple(where[0].tolist()) if len(where) else "dtype"
        return False, math.inf, f"{key}: not exact ({len(where)} differ, first at {first})"
    atol, rtol = float(tol["atol"]), float(tol["rtol"])
    m, r = mine.to(torch.float64), ref.to(torch.float64)
    if r.numel() == 0:
        return True, 0.0, f"{key}: empty"
    if not torch.isfinite(m).all():
        return False, math.inf, f"{key}: non-finite values"
    err = (m - r).abs()
    allowed = atol + rtol * r.abs()
    ratio = float((err / allowed).max())
    return ratio <= 1.0, ratio, f"{key}: max err {float(err.max()):.3g} ({ratio:.2f} of tol)"


def check(case: Case, outputs: dict[str, Any]) -> tuple[bool, str]:
    worst_ratio, worst_text, failures = -1.0, "no outputs checked", []
    keys = list(case.tolerance)
    if case.json is not None and not case.tolerance or "json" in outputs:
        keys.append("json")
    if not keys:
        return False, "case has no tolerances and no JSON to compare"
    for key in keys:
        if key == "json":
            if case.json is None:
                continue
            if "json" not in outputs:
                failures.append("json: not produced")
                continue
            diff = _first_json_difference(outputs["json"], case.json)
            ok, ratio, text = (diff is None, 0.0 if diff is None else math.inf, diff or "json: exact")
        elif key not in outputs:
            ok, ratio, text = False, math.inf, f"{key}: not produced"
        elif key not in case.expected:
            ok, ratio, text = False, math.inf, f"{key}: no reference tensor out.{key} in the case file"
        else:
            ok, ratio, text = compare_tensor(key, outputs[key], case.expected[key], case.tolerance[key])
        if not ok:
            failures.append(text)
        if ratio > worst_ratio:
            worst_ratio, worst_text = ratio, text
    if failures:
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        return False, failures[0] + more
    return True, worst_text


def run_folder(root: str | Path, only: list[str] | None = None, verbose: bool = False) -> list[CaseResult]:
    root = Path(root).resolve()
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    folder = ModelFolder(root)
    import_errors = _import_handlers(folder.version)
    results = []
    for entry in manifest["cases"]:
        if only and not any(entry["name"].startswith(p) for p in only):
            continue
        start = time.perf_counter()
        handler = HANDLERS.get((folder.version, entry["name"]))
        if handler is None:
            why = f"no handler for IndexTTS-{folder.version} case {entry['name']!r}"
            if import_errors:
                why += f" (handler modules failed to import: {import_errors})"
            results.append(CaseResult(entry["name"], False, why, 0.0))
            continue
        try:
            case = load_case(root, entry)
            with torch.inference_mode():
                outputs = handler(folder, case)
            passed, worst = check(case, outputs)
        except Exception as exc:
            passed, worst = False, f"error: {type(exc).__name__}: {exc}"
            if verbose:
                traceback.print_exc()
        results.append(CaseResult(entry["name"], passed, worst, time.perf_counter() - start))
    return results
