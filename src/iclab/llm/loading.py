"""Load a causal language model and its tokenizer from local files only (no downloads).

``load_model("~/models/Llama-3.2-1B", device="cuda", dtype="bfloat16")`` returns a
:class:`LoadedModel`. The model is resolved as:

1. an existing local directory (a ``save_pretrained`` folder: ``config.json`` + weights +
   tokenizer files) — loaded from there;
2. otherwise, a string that looks like a path (starts with ``/``, ``.``, ``~``, or has more
   than one ``/``) → :class:`~iclab.llm.errors.ModelNotFoundError` naming the path;
3. otherwise a hub name (``org/name``) that must already be in the user's Hugging Face cache;
   it is loaded with ``local_files_only=True`` and a miss is a ``ModelNotFoundError``.

Dtype rule (validated before anything is loaded): ``float32`` everywhere; ``bfloat16`` on CPU
and on CUDA devices that support it; ``float16`` only on CUDA — on CPU it is an error
(:class:`~iclab.errors.ParameterError`), not a silent fallback, because fp16 CPU kernels are
slow or missing and a silently different dtype would change the numbers a user reports.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from iclab.devices import resolve_device
from iclab.errors import ParameterError
from iclab.llm.errors import MissingDependencyError, ModelNotFoundError
from iclab.validation import check_choice

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def import_transformers() -> Any:
    """``transformers``, or a one-line :class:`MissingDependencyError` naming the extra."""
    try:
        return importlib.import_module("transformers")
    except ImportError:
        raise MissingDependencyError("transformers", "loading language models", "llm") from None


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """Validate ``dtype`` for ``device`` (rule in the module docstring) → ``torch.dtype``."""
    name = _DTYPE_ALIASES.get(str(dtype).lower(), str(dtype).lower())
    check_choice("dtype", name, list(DTYPES))
    if name == "float16" and device.type == "cpu":
        raise ParameterError("dtype", dtype, "float32 or bfloat16 on CPU (float16 needs CUDA)")
    if name == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ParameterError("dtype", dtype, "float32 or float16 on this GPU (no bfloat16)")
    return DTYPES[name]


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or os.sep + os.sep in name


def resolve_model_source(model: str) -> str:
    """The local directory or cached hub name to load; raises ``ModelNotFoundError``."""
    if not isinstance(model, str) or not model.strip():
        raise ParameterError("model", model, "a local checkpoint path or a cached hub name")
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(model, "it is a file; give the checkpoint directory")
        if not (path / "config.json").exists():
            raise ModelNotFoundError(model, "the directory has no config.json")
        return str(path.resolve())
    if _looks_like_path(model):
        raise ModelNotFoundError(model, "no such directory")
    return model


def load_tokenizer(model: str) -> Any:
    """Only the tokenizer of ``model`` (local files only) — cheap, used to validate label words
    before any model is run. Raises ``ModelNotFoundError`` like :func:`load_model`."""
    source = resolve_model_source(model)
    transformers = import_transformers()
    try:
        return transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelNotFoundError(model, f"could not load its tokenizer locally: {first_line}"
                                 ) from None


def _dtype_kwarg(transformers: Any) -> str:
    """``dtype`` on transformers >= 4.56, ``torch_dtype`` before."""
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


@dataclass
class LoadedModel:
    """A causal LM ready for scoring.

    Attributes:
        model: the ``transformers`` causal LM, in eval mode, on ``device``, in ``dtype``.
        tokenizer: its tokenizer (only ``__call__`` with ``add_special_tokens`` is used).
        source: the resolved directory or hub name.
        device, dtype: where and in what precision it runs.
        n_params: number of parameters (the default "size" shown in figures).
    """

    model: Any
    tokenizer: Any
    source: str
    device: torch.device
    dtype: torch.dtype
    n_params: int


def load_model(model: str, device: str | torch.device = "cpu",
               dtype: str = "float32") -> LoadedModel:
    """Load ``model`` (path or cached name) with ``local_files_only=True`` on ``device``.

    Raises:
        ModelNotFoundError: the path does not exist, or the name is not cached locally.
        ParameterError: bad ``device`` / ``dtype`` (fp16 on CPU is refused, see module doc).
        MissingDependencyError: ``transformers`` is not installed.
    """
    dev = resolve_device(str(device))
    torch_dtype = resolve_dtype(dtype, dev)
    source = resolve_model_source(model)
    transformers = import_transformers()
    kwargs = {"local_files_only": True, _dtype_kwarg(transformers): torch_dtype}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
        lm = transformers.AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        where = "directory" if Path(source).is_dir() else "Hugging Face cache (offline)"
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelNotFoundError(model, f"could not load it from the local {where}: "
                                        f"{first_line}") from None
    lm.to(dev)
    lm.eval()
    lm.requires_grad_(False)
    n_params = sum(p.numel() for p in lm.parameters())
    return LoadedModel(lm, tokenizer, source, dev, torch_dtype, n_params)


def format_size(n_params: int) -> str:
    """``6_738_415_616`` → ``"6.7B"``; ``124_000_000`` → ``"124M"``; small → ``"12.3K"``."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n_params >= scale:
            value = n_params / scale
            return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return str(n_params)


_CACHE: dict[tuple[str, str, str], LoadedModel] = {}


def cached_model(model: str, device: str | torch.device, dtype: str) -> LoadedModel:
    """:func:`load_model` with a one-entry in-process cache (sweeps run model-major, so each
    checkpoint is loaded once; the previous one is released before the next is loaded)."""
    key = (model, str(device), str(dtype))
    if key not in _CACHE:
        _CACHE.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        _CACHE[key] = load_model(model, device, dtype)
    return _CACHE[key]


def clear_model_cache() -> None:
    """Release the cached model (e.g. between tests)."""
    _CACHE.clear()
