"""Prompt construction, built-in tasks, episode sampling and the label-word rules."""

from __future__ import annotations

import pytest
import torch

from iclab.errors import ICLabError, ParameterError
from iclab.llm.errors import LabelWordError
from iclab.llm.prompts import Template, encode_prompts, label_continuations, special_prefix
from iclab.llm.tasks import BUILTIN_TASKS, builtin_task, sample_episodes


def test_llm_prompt_exact_string() -> None:
    t = Template("Review: {text}\nSentiment: {label}", separator="\n\n", instruction="Go.\n")
    prompt = t.prompt([("good soup", "positive"), ("bad tea", "negative")], "fine cake")
    assert prompt == ("Go.\nReview: good soup\nSentiment: positive\n\n"
                      "Review: bad tea\nSentiment: negative\n\n"
                      "Review: fine cake\nSentiment:")
    # The whitespace before {label} moves into the scored continuation.
    assert t.continuation("positive") == " positive"
    # Text after {label} is kept in demonstrations, never in the query context.
    t2 = Template("Q: {text} A: {label}.")
    assert t2.prompt([("1", "yes")], "2") == "Q: 1 A: yes.\n\nQ: 2 A:"


@pytest.mark.parametrize("demo", ["{label} {text}", "no fields", "{text} {text} {label}"])
def test_llm_template_rejects_bad_format(demo: str) -> None:
    with pytest.raises(ParameterError, match="template"):
        Template(demo)


@pytest.mark.parametrize("name", list(BUILTIN_TASKS))
def test_llm_builtin_tasks_are_consistent(name: str) -> None:
    task = builtin_task(name)
    assert len(task) == len(task.texts) == len(task.targets) >= 40
    counts = torch.bincount(torch.tensor(task.targets), minlength=task.n_classes)
    assert counts.min() > 0  # every class present
    # An input never appears with two different labels (the task is a function).
    seen: dict[str, int] = {}
    for text, y in zip(task.texts, task.targets, strict=True):
        assert seen.setdefault(text, y) == y
    # Label words never occur inside the inputs (no leakage through the text).
    for w in task.labels:
        assert all(w not in text.split() for text in task.texts)


def test_llm_linear_rule_labels_follow_rule() -> None:
    task = builtin_task("linear_rule")
    for text, y in zip(task.texts, task.targets, strict=True):
        a, b = map(int, text.split())
        assert task.labels[y] == ("foo" if a > b else "bar")


def test_llm_unknown_task_lists_known() -> None:
    with pytest.raises(ParameterError, match="sentiment"):
        builtin_task("nope")


def test_llm_sample_episodes_excludes_query_and_repeats() -> None:
    task = builtin_task("animal_vehicle")
    gen = torch.Generator().manual_seed(0)
    queries, demos = sample_episodes(task, 7, 20, gen)
    assert queries.shape == (20,) and demos.shape == (20, 7)
    assert len(set(queries.tolist())) == 20
    for q, row in zip(queries.tolist(), demos.tolist(), strict=True):
        assert q not in row and len(set(row)) == 7
        assert all(0 <= i < len(task) for i in row)
    again = sample_episodes(task, 7, 20, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], queries) and torch.equal(again[1], demos)
    with pytest.raises(ParameterError, match="k="):
        sample_episodes(task, len(task), 1, gen)


def test_llm_special_prefix_and_encoding(word_tokenizer) -> None:
    bos = word_tokenizer.bos_token_id
    assert special_prefix(word_tokenizer) == [bos]
    t = builtin_task("sentiment").template
    prompts = [t.prompt([("the soup was good", "positive")], "the tea was bad")]
    ids, conts = encode_prompts(word_tokenizer, t, prompts, ["positive", "negative"])
    assert ids[0][0] == bos and ids[0].count(bos) == 1
    assert conts == [word_tokenizer.convert_tokens_to_ids(["positive"]),
                     word_tokenizer.convert_tokens_to_ids(["negative"])]
    assert ids[0] + conts[0] == [bos] + word_tokenizer(prompts[0] + " positive",
                                                       add_special_tokens=False)["input_ids"]


def _one_line_error(exc_info: pytest.ExceptionInfo) -> str:
    msg = str(exc_info.value)
    assert isinstance(exc_info.value, ICLabError) and "\n" not in msg
    return msg


@pytest.mark.parametrize(("labels", "needle"), [
    (["qwertyuiop", "asdfghjkl"], "tokenise identically"),  # both map to [UNK]
    (["very", "very good"], "prefix"),                       # [very] is a prefix of [very, good]
    (["positive", "positive"], "not distinct"),
    (["positive", ""], "empty"),
])
def test_llm_ambiguous_label_words_rejected(word_tokenizer, labels, needle) -> None:
    with pytest.raises(LabelWordError) as info:
        label_continuations(word_tokenizer, Template("Review: {text}\nSentiment: {label}"),
                            labels)
    assert needle in _one_line_error(info)


def test_llm_label_word_not_clean_continuation(word_tokenizer) -> None:
    # "Sentiment:" + ":)" is pre-tokenised as "Sentiment", "::)" — the prompt's last token ":"
    # is merged with the label: not a clean continuation.
    with pytest.raises(LabelWordError) as info:
        label_continuations(word_tokenizer, Template("Review: {text}\nSentiment:{label}"),
                            [":)", "positive"])
    assert "clean continuation" in _one_line_error(info)


def test_llm_multi_token_labels_accepted(word_tokenizer) -> None:
    conts = label_continuations(word_tokenizer, Template(), ["very good", "very bad"])
    assert [len(c) for c in conts] == [2, 2] and conts[0][0] == conts[1][0]


def _trained_bpe(style: str):
    """A small BPE tokenizer trained here on built-in prompts: GPT-2-style byte-level or
    Llama/SentencePiece-style Metaspace pre-tokenisation (labels become multi-token)."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    from iclab.llm.study import build_prompts

    corpus = [p for make in BUILTIN_TASKS.values()
              for p in build_prompts(make(), "label", 0.25, 4, 0, 20).prompts]
    pre = tokenizers.pre_tokenizers
    if style == "bytelevel":
        tok = tokenizers.Tokenizer(tokenizers.models.BPE())
        tok.pre_tokenizer = pre.ByteLevel(add_prefix_space=False)
        trainer = tokenizers.trainers.BpeTrainer(
            vocab_size=300, special_tokens=["<s>"], initial_alphabet=pre.ByteLevel.alphabet())
    else:
        tok = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre.Metaspace(replacement="▁", prepend_scheme="first")
        trainer = tokenizers.trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>"])
    tok.train_from_iterator(corpus, trainer)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok)


@pytest.mark.parametrize("style", ["bytelevel", "metaspace"])
def test_llm_builtin_labels_clean_with_bpe_tokenizers(style: str) -> None:
    """With subword tokenizers the built-in label words are clean, prefix-free continuations
    and the prompt ids + continuation ids reproduce the tokenisation of prompt + " word"."""
    from iclab.llm.study import build_prompts

    fast = _trained_bpe(style)
    for make in BUILTIN_TASKS.values():
        task = make()
        prompts = build_prompts(task, "label", 0.5, 4, 1, 5).prompts
        ids, conts = encode_prompts(fast, task.template, prompts, list(task.labels))
        for p, p_ids in zip(prompts, ids, strict=True):
            for w, c in zip(task.labels, conts, strict=True):
                assert p_ids + c == fast(p + " " + w)["input_ids"]


def test_llm_subword_prefix_label_rejected() -> None:
    fast = _trained_bpe("metaspace")
    assert fast.tokenize(" positive")[0] == "▁pos"  # "positive" = ▁pos|it|ive here
    with pytest.raises(LabelWordError, match="prefix"):
        label_continuations(fast, Template("Review: {text}\nSentiment: {label}"),
                            ["pos", "positive"])
