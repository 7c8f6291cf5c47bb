"""An official IndexTTS model folder: its config, its files, and loaded components.

Every IndexTTS version keeps `config.yaml` at the top of the folder and names
its checkpoints there; auxiliary models (w2v-BERT, codec, CAMPPlus, BigVGAN)
sit under `hf_cache/`.  Paths can be overridden one by one, and a missing file
is reported with the file's role, never discovered later as a stack trace.
"""
from __future__ import annotations

import re

import ctypes
import functools
import hashlib
import mmap
import platform
import sys
import threading
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, TypeVar

import yaml

from indexstudio.errors import EngineError
from indexstudio.files import cached_content_hash

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


def file_roles(version: str) -> list[str]:
    """The roles of an IndexTTS version's model files (gpt, bpe, ...), by which a file may be given elsewhere."""
    return sorted(_FILES.get(version, {}))


class ModelFolderError(EngineError, FileNotFoundError):
    """A model folder is missing a file or holds one we cannot use."""


# role -> (config key holding the relative path, default relative path, description)
_SHARED_2X = {
    "gpt": ("gpt_checkpoint", "gpt.pth", "UnifiedVoice GPT checkpoint"),
    "s2mel": ("s2mel_checkpoint", "s2mel.pth", "S2Mel flow-matching checkpoint"),
    "w2v_stat": ("w2v_stat", "wav2vec2bert_stats.pt", "w2v-BERT feature mean/var statistics"),
    "spk_matrix": ("spk_matrix", "feat1.pt", "emotion speaker matrix (feat1.pt)"),
    "emo_matrix": ("emo_matrix", "feat2.pt", "emotion matrix (feat2.pt)"),
    "qwen_emo": ("qwen_emo_path", "qwen0.6bemo4-merge", "Qwen text-to-emotion model folder"),
    "w2v_bert": (None, "hf_cache/w2v-bert-2.0", "w2v-BERT 2.0 folder (config.json, preprocessor_config.json, the weights)"),
    "campplus": (None, "hf_cache/campplus_cn_common.bin", "CAMPPlus speaker encoder weights"),
    "bigvgan": (None, "hf_cache/bigvgan", "BigVGAN folder (config.json, bigvgan_generator.pt)"),
}
_FILES: dict[str, dict[str, tuple[str | None, str, str]]] = {
    "2": {
        **_SHARED_2X,
        "bpe": ("dataset.bpe_model", "bpe.model", "sentencepiece BPE model"),
        "semantic_codec": (None, "hf_cache/semantic_codec_model.safetensors", "semantic codec weights"),
    },
    "2.5": {
        **_SHARED_2X,
        "tokenizer": (None, "multilingual_zh_ja_yue_char_del.tiktoken", "multilingual byte-level BPE ranks"),
        "codec": (None, "codec.pth", "EnhancedCodec checkpoint"),
    },
    "1.5": {
        "gpt": ("gpt_checkpoint", "gpt.pth", "UnifiedVoice GPT checkpoint"),
        "bpe": ("dataset.bpe_model", "bpe.model", "sentencepiece BPE model"),
        "bigvgan": ("bigvgan_checkpoint", "bigvgan_generator.pth", "BigVGAN generator with speaker encoder"),
    },
}

_OPTIONAL_ROLES = {"qwen_emo"}      # needed only for emotion from text, and named then
# the files a folder role must hold (a folder that is there but half copied is found before anything loads); "a|b":
# either of them
_FOLDER_FILES = {"w2v_bert": ("config.json", "preprocessor_config.json", "model.safetensors|pytorch_model.bin"),
                 "bigvgan": ("config.json", "bigvgan_generator.pt")}


def read_checkpoint(path: Path, what: str) -> Any:
    """What `torch.load` reads from a checkpoint file, its tensors memory-mapped.

    Mapped tensors are the file's own pages, read as they are first used: a load
    does not copy the file into private memory first (the 3.5 GB IndexTTS-2
    `gpt.pth` took 4.5-8 s of a warm load that way) and the weights are not held
    twice, in the page cache and in the process.  Files in torch's legacy format
    cannot be mapped and are read whole.  A missing or unreadable file is a
    ModelFolderError naming `what` and the path.
    """
    import torch
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap can only be used" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFolderError(f"missing {what}: expected {path}") from None
    except Exception as exc:
        size = path.stat().st_size if path.is_file() else 0
        if size == 0:
            raise ModelFolderError(f"{path}: cannot read the {what}: the file is empty; copy it again") from exc
        said = re.split(r"(?<=[.:])\s", str(exc).strip().splitlines()[0] if str(exc).strip() else "")[0].rstrip(".:")
        raise ModelFolderError(f"{path}: cannot read the {what}: the file ({size:,} bytes) is damaged, incomplete or "
                               f"not a PyTorch checkpoint ({said[:120] or type(exc).__name__}); copy it again") from exc


def release_pages(tensor: "torch.Tensor") -> None:
    """Let the kernel take a tensor's memory pages out of the process now (Linux's MADV_PAGEOUT; elsewhere
    nothing happens).

    For the weight of a memory-mapped checkpoint that was copied and is no longer read, its file pages
    then stop counting in the resident set at once, not only under memory pressure: loading the
    full-size IndexTTS-2 GPT, whose projections are copied (`gpt2.store_out_in`), peaked at 3.9 GB of RSS
    without this and 2.1 GB with it.  The contents stay valid: a later read takes them from the file again.
    """
    advise = _madvise()
    if advise is None or tensor.device.type != "cpu":
        return
    storage = tensor.untyped_storage()
    start, end = storage.data_ptr(), storage.data_ptr() + storage.nbytes()
    first, last = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE, end // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        advise(first, last - first, MADV_PAGEOUT)       # a refusal (kernel before 5.4) leaves the pages as they were


MADV_PAGEOUT = 21       # Linux's value on x86-64 and arm64 (asm-generic); Python's mmap module may lack it


@functools.cache
def _madvise() -> Callable[[int, int, int], int] | None:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc.madvise


def as_float32(state: Mapping[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
    """The state with floating tensors as float32 (the official modules run in float32; half checkpoints
    are widened, float32 ones kept as they are - mapped tensors stay mapped)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def read_wrapped_state(path: Path, what: str, key: str) -> dict:
    """The state dict stored as `{key: state_dict}` in a torch checkpoint, floats as float32.

    A missing, unreadable or differently shaped file is a ModelFolderError naming `what` and the path.
    """
    ckpt = read_checkpoint(path, f"{what} checkpoint")
    state = ckpt.get(key) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        found = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelFolderError(f"{path}: not a {what} checkpoint (expected {{'{key}': state_dict}}, found {found})")
    return as_float32(state)


def load_weights(build: Callable[[], T], state: Mapping[str, "torch.Tensor"], path: Path, mismatch: str) -> T:
    """The module `build()` makes, holding the tensors of `state` (every key, strictly), in eval mode.

    The module is built on the meta device and takes the state's tensors as its own,
    so its random initialisation never runs and the weights are not held twice:
    for the full-size IndexTTS-2 GPT, initialising weights that the checkpoint then
    overwrote took 9 of a 33 s load.  A mismatch is a ModelFolderError naming `path`
    and saying `mismatch`; so is a tensor holding NaN or infinite values (such a model
    speaks silence or noise, and nothing else would say why).
    """
    import torch
    failure = f"{path}: {mismatch}"
    broken = [k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if broken:
        raise ModelFolderError(f"{path}: {len(broken)} tensor{'s' if len(broken) > 1 else ''} hold NaN or infinite "
                               f"values ({', '.join(broken[:3])}{', ...' if len(broken) > 3 else ''}): the checkpoint "
                               "is damaged, or was saved from a training run that diverged")
    with torch.device("meta"):
        model = build()
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:     # (load hooks may rename keys first, e.g. weight norm's: compare only now)
        mismatch = state_mismatch(model.state_dict(), state) or str(exc)
        raise ModelFolderError(f"{failure}: {mismatch} (a checkpoint of another IndexTTS version or model size?)") from exc
    unset = [name for name, t in chain(model.named_parameters(), model.named_buffers()) if t.is_meta]
    if unset:       # a buffer computed in __init__ but left out of the state dict
        raise RuntimeError(f"{type(model).__name__} tensors not in its state dict: {', '.join(unset)}")
    return model.eval()


def state_mismatch(expected: Mapping[str, "torch.Tensor"], state: Mapping[str, "torch.Tensor"], shown: int = 3) -> str:
    """How `state` differs from the `expected` keys and shapes, in one line (torch's own message lists every
    tensor, hundreds of lines for a checkpoint of another model); "" when it fits."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    resized = [f"{k} {tuple(state[k].shape)} where the config makes {tuple(v.shape)}"
               for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    parts = [f"{len(names)} {label} ({', '.join(names[:shown])}{', ...' if len(names) > shown else ''})"
             for label, names in (("tensors missing", missing), ("unexpected tensors", unexpected),
                                  ("tensors of another shape", resized)) if names]
    return "; ".join(parts)


def _lookup(cfg: dict, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def detect_version(root: Path) -> str:
    """'1.5', '2' or '2.5', read from config.yaml's `version` (falling back on the files present)."""
    cfg = read_config(root)
    version = str(cfg.get("version", "")).strip()
    if version.startswith("2.5"):
        return "2.5"
    if version.startswith("2"):
        return "2"
    if version.startswith("1"):
        return "1.5"
    if version:
        raise ModelFolderError(f"{root / 'config.yaml'}: version {version}: this knows IndexTTS 1.5, 2 and 2.5")
    if (root / "codec.pth").exists():
        return "2.5"
    if (root / "s2mel.pth").exists():
        return "2"
    return "1.5"


def read_config(root: Path) -> dict:
    path = root / "config.yaml"
    if not path.is_file():
        raise ModelFolderError(f"{root}: no config.yaml - not an IndexTTS model folder")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ModelFolderError(f"{path}: not valid YAML{where} ({first})") from exc
    if config is None:
        raise ModelFolderError(f"{path} is empty: copy it again from the model's release")
    if not isinstance(config, dict):
        raise ModelFolderError(f"{path}: not an IndexTTS config (a YAML mapping of sections), got {config!r:.60}")
    return config


class ModelFolder:
    """Config, file paths and memoised components of one model folder.

    Components are built once per folder (`component(name, factory)`), so the
    conformance runner and the engine share one loader.  Thread-safe.
    """

    def __init__(self, root: str | Path, overrides: dict[str, str | Path] | None = None, version: str | None = None):
        self.root = Path(root).expanduser().resolve()
        if self.root.is_file():
            raise ModelFolderError(f"model folder {self.root} is a file, not a folder: give the checkpoint folder")
        if not self.root.is_dir():
            raise ModelFolderError(f"model folder not found: {self.root}")
        self.config = read_config(self.root)
        self.version = version or detect_version(self.root)
        self._overrides = {k: Path(v) for k, v in (overrides or {}).items()}
        unknown = set(self._overrides) - set(_FILES.get(self.version, {}))
        if unknown:
            raise ValueError(f"unknown model file role(s) {sorted(unknown)}; known: {sorted(_FILES.get(self.version, {}))}")
        self._components: dict[str, Any] = {}
        self._lock = threading.RLock()

    def path(self, role: str, required: bool = True) -> Path:
        """Where the file for `role` is; raises ModelFolderError naming it when missing and required."""
        table = _FILES.get(self.version, {})
        if role not in table and role not in self._overrides:
            raise KeyError(f"IndexTTS-{self.version} has no file role {role!r}")
        if role in self._overrides:
            path = self._overrides[role]
        else:
            key, default, _ = table[role]
            rel = _lookup(self.config, key) if key else None
            path = self.root / str(rel or default)
        if required and not path.exists():
            what = table[role][2] if role in table else role
            raise ModelFolderError(f"missing {what}: expected {path}")
        return path

    def check_files(self) -> None:
        """Every file this version needs is there, or a ModelFolderError names all those missing (a folder copied
        in part is mended in one go): checked when an engine is set up, before any weights load."""
        table = _FILES.get(self.version, {})
        missing = []
        for role in table:
            if role in _OPTIONAL_ROLES:
                continue
            path = self.path(role, required=False)
            if not path.exists():
                missing.append(f"{table[role][2]}: expected {path}")
            missing += [f"{name.replace('|', ' or ')} of the {table[role][2]}: expected "
                        f"{' or '.join(str(path / n) for n in name.split('|'))}" for name in _FOLDER_FILES.get(role, ())
                        if path.is_dir() and not any((path / n).exists() for n in name.split("|"))]
        if len(missing) == 1:
            raise ModelFolderError(f"missing {missing[0]}")
        if missing:
            raise ModelFolderError(f"missing {len(missing)} files of IndexTTS-{self.version}: " + "; ".join(missing))

    def fingerprint(self) -> str:
        """The model by what its files hold - config.yaml and every file its roles name, folders walked - not by
        where they lie or when they were touched (a book's finished segments are kept by it: a moved or re-copied
        folder renders nothing again, a checkpoint replaced in place renders anew). Hashes are kept between runs
        (`files.cached_content_hash`): only the first look at a folder reads its gigabytes."""
        files = [self.root / "config.yaml"]
        for role in _FILES.get(self.version, {}):
            path = self.path(role, required=False)
            if path.is_dir():
                files += sorted(p for p in path.rglob("*") if p.is_file())
            elif path.is_file():
                files.append(path)
        digest = hashlib.sha256()
        for path in files:
            name = path.relative_to(self.root) if path.is_relative_to(self.root) else path.name
            digest.update(f"{name}\0{cached_content_hash(path)}\n".encode("utf-8"))
        return digest.hexdigest()

    def has(self, role: str) -> bool:
        return self.path(role, required=False).exists()

    def component(self, name: str, factory: Callable[[], T]) -> T:
        """The component `name`, built by `factory()` on first use."""
        with self._lock:
            if name not in self._components:
                self._components[name] = factory()
            return self._components[name]
