"""Load a causal language model and its tokenizer from a local folder only (no network).

``load_model("~/models/Llama-3.2-1B", device="cuda", dtype="bfloat16")`` returns a
:class:`LoadedModel`. The model must be an existing local directory (a ``save_pretrained``
folder: ``config.json`` + weights + tokenizer files). Anything else — a path that does not
exist, or a hub-style name such as ``org/name`` — is refused with a one-line
:class:`~iclab.llm.errors.ModelNotFoundError` that says how to download it yourself.

Safety, whatever the environment says:

* the Hugging Face offline switches (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``,
  ``HF_DATASETS_OFFLINE``) are set by iclab before ``transformers`` is imported, and the
  already-imported ``huggingface_hub`` is told too, so no name ever reaches the network;
* every ``from_pretrained`` call passes ``local_files_only=True`` and
  ``trust_remote_code=False``: a checkpoint whose ``config.json`` carries ``auto_map``
  custom code is refused, its Python files are never imported or run, and nothing asks.

Dtype rule (validated before anything is loaded): ``float32`` everywhere; ``bfloat16`` on CPU
and on CUDA devices that support it; ``float16`` only on CUDA — on CPU it is an error
(:class:`~iclab.errors.ParameterError`), not a silent fallback, because fp16 CPU kernels are
slow or missing and a silently different dtype would change the numbers a user reports.
"""

from __future__ import annotations

import importlib
import os
import sys
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


OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
"""Environment switches that keep the Hugging Face libraries off the network."""

SAFE_KWARGS: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
"""Passed to every ``from_pretrained``: local files only, never the checkpoint's own code."""


def enforce_offline() -> None:
    """Switch the Hugging Face libraries to offline mode (environment and, if imported, the
    module-level constants they read at import time)."""
    for key in OFFLINE_ENV:
        os.environ[key] = "1"
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None and hasattr(hub_constants, "HF_HUB_OFFLINE"):
        hub_constants.HF_HUB_OFFLINE = True


enforce_offline()


def import_transformers() -> Any:
    """``transformers`` in offline mode, or a one-line :class:`MissingDependencyError`."""
    enforce_offline()
    try:
        module = importlib.import_module("transformers")
    except ImportError:
        raise MissingDependencyError("transformers", "loading language models", "llm") from None
    enforce_offline()
    return module


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


PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
"""Weight files in Python's pickle format, which can run code when loaded: never loaded."""


def check_weights_format(model: str, path: Path) -> None:
    """Refuse a checkpoint folder whose weights exist only as pickle files (e.g.
    ``pytorch_model.bin``): iclab loads safetensors only (``use_safetensors=True``)."""
    if any(path.glob("*.safetensors")):
        return
    pickled = sorted(p.name for pattern in PICKLE_WEIGHTS for p in path.glob(pattern))
    if pickled:
        raise ModelNotFoundError(model, f"its weights are only in pickle format ({pickled[0]}), "
                                        "which can run code when loaded; iclab loads "
                                        "safetensors only: re-save it with "
                                        "save_pretrained(..., safe_serialization=True)")


def resolve_model_source(model: str) -> str:
    """The local checkpoint directory to load; raises ``ModelNotFoundError`` otherwise.

    A hub-style name (``org/name``) that is not a local folder is refused: iclab never
    downloads; the message says how to fetch it yourself.
    """
    if not isinstance(model, str) or not model.strip():
        raise ParameterError("model", model, "a local checkpoint directory")
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(model, "it is a file; give the checkpoint directory")
        if not (path / "config.json").exists():
            raise ModelNotFoundError(model, "the directory has no config.json")
        check_weights_format(model, path)
        return str(path.resolve())
    if _looks_like_path(model):
        raise ModelNotFoundError(model, "no such directory")
    local = model.rstrip("/").rsplit("/", 1)[-1]
    raise ModelNotFoundError(
        model, "not a local folder, and iclab never downloads; fetch it yourself, e.g. "
        f"`huggingface-cli download {model} --local-dir models/{local}`, then pass "
        f"models/{local}")


def _load_error(model: str, exc: BaseException, what: str) -> ModelNotFoundError:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if "trust_remote_code" in str(exc) or "custom code" in str(exc):
        return ModelNotFoundError(model, f"it needs its own Python code ({what}), which iclab "
                                         "never runs; use a checkpoint of a built-in "
                                         "transformers architecture")
    return ModelNotFoundError(model, f"could not load its {what} locally: {first_line}")


def load_tokenizer(model: str) -> Any:
    """Only the tokenizer of ``model`` (local files only) — cheap, used to validate label words
    before any model is run. Raises ``ModelNotFoundError`` like :func:`load_model`."""
    source = resolve_model_source(model)
    transformers = import_transformers()
    try:
        return transformers.AutoTokenizer.from_pretrained(source, **SAFE_KWARGS)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise _load_error(model, exc, "tokenizer") from None


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
    """Load the checkpoint folder ``model`` (local files only, never its own code) on ``device``.

    Raises:
        ModelNotFoundError: not a local checkpoint folder (a hub-style name is refused), or
            the checkpoint needs custom code.
        ParameterError: bad ``device`` / ``dtype`` (fp16 on CPU is refused, see module doc).
        MissingDependencyError: ``transformers`` is not installed.
    """
    dev = resolve_device(str(device))
    torch_dtype = resolve_dtype(dtype, dev)
    source = resolve_model_source(model)
    transformers = import_transformers()
    kwargs = {**SAFE_KWARGS, "use_safetensors": True, _dtype_kwarg(transformers): torch_dtype}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **SAFE_KWARGS)
        lm = transformers.AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise _load_error(model, exc, "model") from None
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
