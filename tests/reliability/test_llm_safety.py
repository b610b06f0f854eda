"""Loading a checkpoint never runs its code and never touches the network.

* A checkpoint whose ``config.json`` carries ``auto_map`` custom code (Python files that
  would write a marker file when imported) is refused with one line, or loaded with the
  built-in architecture: the marker is never written and nothing asks a question on stdin.
* A hub-style name that is not a local folder is refused with one line saying how to
  download it, and no socket is opened — with the offline variables *unset* in the
  environment (iclab sets them itself), checked in a fresh subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from iclab.llm.errors import ModelNotFoundError  # noqa: E402
from iclab.llm.loading import SAFE_KWARGS, clear_model_cache, load_model  # noqa: E402

MARKER_CODE = """
import pathlib
pathlib.Path({marker!r}).write_text("custom code ran")
"""


def _custom_files(directory: Path, marker: Path) -> None:
    for module in ("configuration_evil", "modeling_evil", "tokenization_evil"):
        (directory / f"{module}.py").write_text(MARKER_CODE.format(marker=str(marker)))


def _tiny_tokenizer() -> object:
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "good", "bad", "Input", "Label"])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]",
                                                pad_token="[PAD]")


def _gpt2_with_auto_map(directory: Path, marker: Path) -> Path:
    """A real tiny GPT-2 checkpoint whose config also points at custom code."""
    config = transformers.GPT2Config(vocab_size=6, n_positions=32, n_embd=8, n_layer=1,
                                     n_head=2)
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    _tiny_tokenizer().save_pretrained(directory)
    cfg = json.loads((directory / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig",
                       "AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (directory / "config.json").write_text(json.dumps(cfg))
    _custom_files(directory, marker)
    return directory


def _custom_only(directory: Path, marker: Path) -> Path:
    """A checkpoint of an architecture transformers does not know: only custom code."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({
        "model_type": "iclab_evil",
        "auto_map": {"AutoConfig": "configuration_evil.EvilConfig",
                     "AutoModelForCausalLM": "modeling_evil.EvilModel",
                     "AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}}))
    _custom_files(directory, marker)
    return directory


def test_safe_kwargs_forbid_remote_code() -> None:
    assert SAFE_KWARGS == {"local_files_only": True, "trust_remote_code": False}


@pytest.mark.parametrize("kind", ["custom_only", "builtin_with_auto_map"])
def test_checkpoint_custom_code_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           kind: str) -> None:
    marker = tmp_path / "marker.txt"
    make = _custom_only if kind == "custom_only" else _gpt2_with_auto_map
    ckpt = make(tmp_path / "ckpt", marker)
    # Any prompt ("run the custom code? [y/N]") would read stdin: make it answer yes.
    monkeypatch.setattr("builtins.input", lambda *a, **k: "y")
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("y\ny\ny\n"))
    clear_model_cache()
    try:
        lm = load_model(str(ckpt))
    except ModelNotFoundError as exc:
        msg = str(exc)
        assert "\n" not in msg and str(ckpt) in msg
        if kind == "custom_only":
            assert "never runs" in msg or "could not load" in msg
    else:
        assert kind == "builtin_with_auto_map"  # loaded as the built-in GPT-2, not EvilModel
        assert type(lm.model).__name__ == "GPT2LMHeadModel"
    assert not marker.exists(), "the checkpoint's custom code ran"
    assert not any(m.startswith(("configuration_evil", "modeling_evil", "tokenization_evil"))
                   or ".configuration_evil" in m or ".modeling_evil" in m for m in sys.modules)


NO_NETWORK_SCRIPT = textwrap.dedent("""
    import socket, sys
    attempts = []
    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network disabled by the test")
    socket.getaddrinfo = refuse
    socket.create_connection = refuse
    socket.socket.connect = lambda self, *a: refuse(*a)
    socket.socket.connect_ex = lambda self, *a: refuse(*a)

    from iclab.llm.errors import ModelNotFoundError
    from iclab.llm.loading import load_model, load_tokenizer
    for call in (load_model, load_tokenizer):
        try:
            call("iclab-test-org/surely-not-local-model")
        except ModelNotFoundError as exc:
            msg = str(exc)
            assert "\\n" not in msg and "huggingface-cli download" in msg, msg
        else:
            raise SystemExit("a hub-style name was accepted")
    # Even transformers called directly after iclab set the offline switches stays local.
    import transformers
    try:
        transformers.AutoConfig.from_pretrained("iclab-test-org/surely-not-local-model")
    except Exception:
        pass
    print("ATTEMPTS", len(attempts))
    sys.exit(1 if attempts else 0)
""")


def test_hub_style_name_never_reaches_network(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")}
    env["HF_HOME"] = str(tmp_path / "hf_home")  # an empty cache
    proc = subprocess.run([sys.executable, "-c", NO_NETWORK_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "ATTEMPTS 0" in proc.stdout
