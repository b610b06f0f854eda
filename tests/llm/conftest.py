"""Tiny, randomly initialised causal LMs and a word-level tokenizer, built locally.

No download: the tokenizer is a ``tokenizers`` WordLevel model over the words of the built-in
tasks, wrapped in ``PreTrainedTokenizerFast``; the models are GPT-2 / LLaMA configurations with
a handful of parameters, saved with ``save_pretrained`` into a temporary directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from iclab.llm.tasks import BUILTIN_TASKS, NEUTRAL

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]


def task_vocabulary() -> list[str]:
    """Every word and punctuation mark of the built-in tasks, their templates and noise words."""
    words: set[str] = set(NEUTRAL) | {"very", "good", "Input", "Label", "Q", "A"}
    for make in BUILTIN_TASKS.values():
        task = make()
        for text in [*task.texts, *task.labels, task.template.demo]:
            words.update(re.findall(r"\w+|[^\w\s]+", text.replace("{text}", " ")
                                    .replace("{label}", " ")))
    return SPECIALS + sorted(words)


def make_tokenizer(with_bos: bool) -> Any:
    """Word-level ``PreTrainedTokenizerFast`` (skips the test when the llm extra is missing)."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    vocab = {w: i for i, w in enumerate(task_vocabulary())}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    if with_bos:
        tok.post_processor = tokenizers.processors.TemplateProcessing(
            single="[BOS] $A", special_tokens=[("[BOS]", vocab["[BOS]"])])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="[BOS]",
        eos_token="[EOS]")


def save_tiny_model(directory: Path, arch: str, width: int, seed: int) -> Path:
    """Save a tiny random ``arch`` ("gpt2" or "llama") LM + tokenizer to ``directory``."""
    transformers = pytest.importorskip("transformers")
    tokenizer = make_tokenizer(with_bos=arch == "llama")
    n_vocab = len(tokenizer)
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    torch.manual_seed(seed)
    if arch == "gpt2":
        config = transformers.GPT2Config(vocab_size=n_vocab, n_positions=1024, n_embd=width,
                                         n_layer=2, n_head=2, **ids)
        model = transformers.GPT2LMHeadModel(config)
    else:
        config = transformers.LlamaConfig(vocab_size=n_vocab, hidden_size=width,
                                          intermediate_size=2 * width, num_hidden_layers=2,
                                          num_attention_heads=2, num_key_value_heads=1,
                                          max_position_embeddings=1024, **ids)
        model = transformers.LlamaForCausalLM(config)
    # Larger random logits than the default init make label scores differ visibly.
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(20.0)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Local checkpoints: ``gpt2`` (width 16), ``gpt2-large`` (width 32, named as a chat model)
    and ``llama`` (width 16, tokenizer adds a BOS token)."""
    root = tmp_path_factory.mktemp("tiny_llms")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    models = {
        "gpt2": save_tiny_model(root / "tiny-gpt2", "gpt2", 16, seed=0),
        "gpt2-large": save_tiny_model(root / "tiny-gpt2-large-chat", "gpt2", 32, seed=1),
        "llama": save_tiny_model(root / "tiny-llama", "llama", 16, seed=2),
    }
    torch.set_num_threads(before)
    return models


@pytest.fixture(scope="session")
def word_tokenizer() -> Any:
    """The word-level test tokenizer with a BOS token (no model needed)."""
    return make_tokenizer(with_bos=True)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models are dispatch-bound: one intra-op thread is faster and avoids thread spinning
    on the shared 2-core CI machine. Restored after each test (no effect on other tests)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
