"""Loading local checkpoints and label scoring against a direct forward pass (tiny models)."""

from __future__ import annotations

import pytest
import torch

from iclab.errors import ICLabError, ParameterError
from iclab.llm.errors import ModelNotFoundError
from iclab.llm.loading import load_model, resolve_dtype
from iclab.llm.prompts import Template, encode_prompts
from iclab.llm.scoring import score_label_words
from iclab.llm.study import build_prompts, classification_metrics, evaluate_cell
from iclab.llm.tasks import builtin_task

ARCHS = ["gpt2", "llama"]


@pytest.fixture(scope="module")
def models(tiny_models):
    return {arch: load_model(str(tiny_models[arch])) for arch in ARCHS}


def _prompts(task, ks=(0, 1, 3, 6)) -> list[str]:
    """Prompts of different lengths (different k), so a batch needs padding."""
    out = []
    for i, k in enumerate(ks):
        out += build_prompts(task, "label", 0.25, k, seed=i, n_queries=2).prompts
    return out


def _manual_scores(lm, prompt_ids, conts) -> torch.Tensor:
    """Independent reference: one unpadded forward pass per (prompt, label), no position ids,
    no attention mask, full logits; sum of log-softmax at the label tokens."""
    out = torch.empty(len(prompt_ids), len(conts))
    for i, p in enumerate(prompt_ids):
        for j, c in enumerate(conts):
            ids = torch.tensor([p + c])
            with torch.no_grad():
                logp = torch.log_softmax(lm.model(input_ids=ids).logits[0].double(), -1)
            out[i, j] = sum(logp[len(p) - 1 + t, tok] for t, tok in enumerate(c))
    return out


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("labels", [("positive", "negative"), ("very good", "very bad")])
def test_llm_scores_match_direct_forward(models, arch, labels) -> None:
    """Tolerance 1e-4 nats: fp32 model vs float64 log-softmax of the same fp32 logits, the only
    difference being padding/batching and the single-token fast path (labels of one token)."""
    lm = models[arch]
    task = builtin_task("sentiment")
    template = task.template
    prompts = _prompts(task)
    prompt_ids, conts = encode_prompts(lm.tokenizer, template, prompts, list(labels))
    assert {len(c) for c in conts} == ({1} if labels[0] == "positive" else {2})
    scores = score_label_words(lm.model, prompt_ids, conts, batch_size=3)
    reference = _manual_scores(lm, prompt_ids, conts)
    assert scores.shape == (len(prompts), 2)
    assert torch.allclose(scores, reference, atol=1e-4, rtol=0)
    assert scores.std() > 1e-2  # scores are not degenerate (the comparison has teeth)


@pytest.mark.parametrize("arch", ARCHS)
def test_llm_batched_equals_unbatched(models, arch) -> None:
    """Left and right padding, batch sizes 1/4/16: all equal within 1e-4 nats (fp32; the only
    differences are reduction orders inside batched matmuls / attention over padded keys)."""
    lm = models[arch]
    task = builtin_task("number_parity")
    prompt_ids, conts = encode_prompts(lm.tokenizer, task.template, _prompts(task),
                                       list(task.labels))
    lengths = {len(p) for p in prompt_ids}
    assert len(lengths) >= 4  # a real padding test
    unbatched = score_label_words(lm.model, prompt_ids, conts, batch_size=1)
    for side in ("left", "right"):
        for bs in (4, 16):
            batched = score_label_words(lm.model, prompt_ids, conts, batch_size=bs,
                                        padding_side=side, pad_id=lm.tokenizer.pad_token_id)
            assert torch.allclose(batched, unbatched, atol=1e-4, rtol=0), (side, bs)


def test_llm_classification_metrics_by_hand() -> None:
    scores = torch.tensor([[0.0, -1.0], [-2.0, -0.5], [-1.0, -3.0], [-4.0, -4.0]])
    targets = torch.tensor([0, 0, 1, 1])
    m = classification_metrics(scores, targets)
    assert m["accuracy"] == pytest.approx(0.25)  # row 4 is a tie -> argmax picks class 0
    assert m["mean_margin"] == pytest.approx((1.0 - 1.5 - 2.0 + 0.0) / 4)


def test_llm_evaluate_cell_consistent(models) -> None:
    lm = models["llama"]
    task = builtin_task("animal_vehicle")
    m = evaluate_cell(lm, task, "label", 0.5, 4, seed=0, n_queries=10, batch_size=4)
    assert m["n_queries"] == 10 and m["n_corrupted"] == 20
    ps = build_prompts(task, "label", 0.5, 4, 0, 10)
    ids, conts = encode_prompts(lm.tokenizer, task.template, ps.prompts, list(task.labels))
    ref = classification_metrics(_manual_scores(lm, ids, conts), ps.targets)
    assert m["accuracy"] == pytest.approx(ref["accuracy"])
    assert m["mean_margin"] == pytest.approx(ref["mean_margin"], abs=1e-4)


def test_llm_bfloat16_on_cpu_close_to_fp32(tiny_models) -> None:
    """bf16 has ~3 significant digits; scores of O(1–10) nats agree within 0.5 nats."""
    lm32 = load_model(str(tiny_models["gpt2"]), dtype="float32")
    lm16 = load_model(str(tiny_models["gpt2"]), dtype="bfloat16")
    assert next(lm16.model.parameters()).dtype == torch.bfloat16
    task = builtin_task("sentiment")
    ids, conts = encode_prompts(lm32.tokenizer, task.template, _prompts(task, (2,)),
                                list(task.labels))
    s32 = score_label_words(lm32.model, ids, conts)
    s16 = score_label_words(lm16.model, ids, conts)
    assert s16.dtype == torch.float32 and torch.allclose(s16, s32, atol=0.5)


def test_llm_missing_model_path_one_line_error(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError) as info:
        load_model(str(missing))
    msg = str(info.value)
    assert isinstance(info.value, ICLabError) and "\n" not in msg and str(missing) in msg


def test_llm_uncached_hub_name_one_line_error() -> None:
    pytest.importorskip("transformers")
    with pytest.raises(ModelNotFoundError) as info:
        load_model("iclab-test-org/definitely-not-cached-model")
    msg = str(info.value)
    assert "\n" not in msg and "definitely-not-cached-model" in msg


def test_llm_dtype_rules() -> None:
    cpu = torch.device("cpu")
    assert resolve_dtype("bf16", cpu) is torch.bfloat16
    assert resolve_dtype("float32", cpu) is torch.float32
    with pytest.raises(ParameterError, match="float16 needs CUDA"):
        resolve_dtype("float16", cpu)
    with pytest.raises(ParameterError, match="dtype"):
        resolve_dtype("int8", cpu)


def test_llm_template_without_space_scores(models) -> None:
    """A template with no space before {label} still scores cleanly (continuation = word)."""
    lm = models["gpt2"]
    t = Template("Q: {text} A:{label}")
    ids, conts = encode_prompts(lm.tokenizer, t, [t.prompt([("1", "even")], "2")],
                                ["even", "odd"])
    ref = _manual_scores(lm, ids, conts)
    assert torch.allclose(score_label_words(lm.model, ids, conts), ref, atol=1e-4)
