"""Built-in synthetic ICL classification tasks (generated programmatically, nothing downloaded).

A :class:`TextTask` is a pool of ``(text, label index)`` examples, the label words and a
:class:`~iclab.llm.prompts.Template`. Built-in tasks (``iclab llm tasks`` lists them):

* ``sentiment``       — short reviews from positive / negative adjective lists;
  ``Review: the soup was delightful\\nSentiment: positive``.
* ``animal_vehicle``  — a noun is an animal or a vehicle; ``Word: tiger\\nCategory: animal``.
* ``number_parity``   — is a number (0–199) even or odd; ``Number: 37\\nParity: odd``.
* ``linear_rule``     — two digits ``a b``, label ``foo`` if ``a > b`` else ``bar`` (a linear
  rule with semantically unrelated "symbolic" labels, so only the demonstrations define it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from iclab.errors import ParameterError
from iclab.llm.prompts import Template
from iclab.validation import check_int


@dataclass(frozen=True)
class TextTask:
    """A labelled text pool with label words and a prompt template.

    Attributes:
        name: short name (built-in name or the dataset's file name).
        description: one line shown by ``iclab llm tasks``.
        template: how a demonstration / query is written.
        labels: the label words, ``labels[y]`` for class ``y``.
        texts: the example inputs, length ``N``.
        targets: class index of each example, length ``N``.
    """

    name: str
    description: str
    template: Template
    labels: tuple[str, ...]
    texts: tuple[str, ...]
    targets: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.targets):
            raise ParameterError("targets", len(self.targets), f"{len(self.texts)} entries")
        bad = [t for t in self.targets if not 0 <= t < len(self.labels)]
        if bad:
            raise ParameterError("targets", bad[0], f"a class index in [0, {len(self.labels)})")

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def __len__(self) -> int:
        return len(self.texts)


def sample_episodes(task: TextTask, k: int, n_queries: int, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n_queries`` distinct queries and, for each, ``k`` distinct demonstrations from the
    rest of the pool (uniformly, without replacement; the query is never its own demonstration).

    Returns ``(query_idx [n_queries], demo_idx [n_queries, k])`` (long, CPU).
    """
    n = len(task)
    k = check_int("k", k, minimum=0, maximum=n - 1)
    n_queries = check_int("n_queries", n_queries, minimum=1, maximum=n)
    queries = torch.randperm(n, generator=generator)[:n_queries]
    demos = torch.empty(n_queries, k, dtype=torch.long)
    for i, q in enumerate(queries.tolist()):
        others = torch.randperm(n - 1, generator=generator)[:k]
        demos[i] = others + (others >= q).long()  # skip index q
    return queries, demos


# ---- built-in word lists ---------------------------------------------------------------------
POSITIVE = ("delightful", "wonderful", "excellent", "superb", "lovely", "charming", "brilliant",
            "pleasant", "fantastic", "great", "amazing", "enjoyable", "perfect", "splendid",
            "marvelous", "terrific", "fabulous", "good", "beautiful", "outstanding")
NEGATIVE = ("awful", "terrible", "dreadful", "horrible", "boring", "disappointing", "bad",
            "poor", "nasty", "dull", "mediocre", "annoying", "miserable", "ugly", "lousy",
            "unpleasant", "painful", "weak", "sloppy", "bland")
SUBJECTS = ("soup", "movie", "service", "hotel", "book", "concert", "meal", "show", "room",
            "staff", "album", "game", "trip", "coffee", "play")
ANIMALS = ("tiger", "horse", "rabbit", "eagle", "dolphin", "elephant", "wolf", "sheep", "camel",
           "monkey", "giraffe", "zebra", "lion", "bear", "fox", "goat", "owl", "penguin",
           "squirrel", "deer", "turtle", "frog", "whale", "donkey", "parrot")
VEHICLES = ("car", "truck", "bus", "bicycle", "train", "tram", "airplane", "helicopter",
            "motorcycle", "scooter", "ship", "boat", "van", "tractor", "taxi", "ambulance",
            "submarine", "rocket", "canoe", "jeep", "lorry", "ferry", "yacht", "wagon", "sled")
#: Neutral words for irrelevant text (input noise); disjoint from every label word and class cue.
NEUTRAL = ("table", "window", "paper", "stone", "river", "corner", "morning", "letter", "garden",
           "street", "kitchen", "pencil", "cloud", "bottle", "shelf", "ladder", "blanket",
           "candle", "mirror", "basket", "the", "a", "of", "near", "under", "with")


def _sentiment() -> TextTask:
    texts, targets = [], []
    for y, words in enumerate((POSITIVE, NEGATIVE)):
        for adj in words:
            for subject in SUBJECTS:
                texts.append(f"the {subject} was {adj}")
                targets.append(y)
    return TextTask("sentiment", "review sentiment from adjective lists (positive/negative)",
                    Template("Review: {text}\nSentiment: {label}"), ("positive", "negative"),
                    tuple(texts), tuple(targets))


def _animal_vehicle() -> TextTask:
    texts = ANIMALS + VEHICLES
    targets = (0,) * len(ANIMALS) + (1,) * len(VEHICLES)
    return TextTask("animal_vehicle", "is a noun an animal or a vehicle (animal/vehicle)",
                    Template("Word: {text}\nCategory: {label}"), ("animal", "vehicle"),
                    texts, targets)


def _number_parity() -> TextTask:
    return TextTask("number_parity", "is a number in 0..199 even or odd (even/odd)",
                    Template("Number: {text}\nParity: {label}"), ("even", "odd"),
                    tuple(str(i) for i in range(200)), tuple(i % 2 for i in range(200)))


def _linear_rule() -> TextTask:
    pairs = [(a, b) for a in range(10) for b in range(10) if a != b]
    return TextTask("linear_rule", "two digits a b: foo if a > b else bar (symbolic labels)",
                    Template("Input: {text}\nLabel: {label}"), ("foo", "bar"),
                    tuple(f"{a} {b}" for a, b in pairs),
                    tuple(0 if a > b else 1 for a, b in pairs))


BUILTIN_TASKS: dict[str, Callable[[], TextTask]] = {
    "sentiment": _sentiment,
    "animal_vehicle": _animal_vehicle,
    "number_parity": _number_parity,
    "linear_rule": _linear_rule,
}


def builtin_task(name: str) -> TextTask:
    """The built-in task ``name``; :class:`ParameterError` lists the known names."""
    if name not in BUILTIN_TASKS:
        raise ParameterError("task", name, "one of " + ", ".join(BUILTIN_TASKS))
    return BUILTIN_TASKS[name]()
