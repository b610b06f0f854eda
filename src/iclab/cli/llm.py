"""``iclab llm``: run the LLM noise-sensitivity study on local checkpoints, list built-in tasks.

Examples::

    iclab llm tasks
    iclab llm run --model ~/models/Llama-2-7b-hf --model ~/models/Llama-2-13b-hf \\
        --task sentiment --p 0,0.25,0.5 --k 8,16 --seeds 3 --device cuda --dtype bfloat16
    iclab llm run --model ./ckpt --data reviews.jsonl --text-column review \\
        --label-column stars --labels negative,positive --template 'Review: {text}\\nStars: {label}'

:data:`llm_app` is mounted as ``iclab llm`` by :mod:`iclab.cli.root`, which imports this
module (and so torch and transformers) only when ``iclab llm`` is used. The study itself is
the registered experiment ``llm.noise_sensitivity`` (library code in :mod:`iclab.llm`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from iclab._cli_errors import one_line_errors as _one_line_errors
from iclab.cli.common import DeviceOpt
from iclab.engine.defaults import DEFAULT_STORE_PATH
from iclab.errors import ParameterError

EXPERIMENT = "llm.noise_sensitivity"
llm_app = typer.Typer(help="In-context noise sensitivity of local language models "
                           "(Shi et al. 2024).", no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False)
console = Console()


def _split(name: str, text: str | None, cast: Callable[[str], Any]) -> list[Any] | None:
    """``"0,0.25,0.5"`` → ``[0.0, 0.25, 0.5]``; ``None`` stays ``None`` (variant default)."""
    if text is None:
        return None
    try:
        return [cast(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(name, text, f"a comma-separated list of {cast.__name__}") from None


def _model_specs(models: list[str], sizes: list[str] | None, kinds: list[str] | None
                 ) -> list[dict[str, Any]]:
    for opt, values in (("size", sizes), ("kind", kinds)):
        if values and len(values) != len(models):
            raise ParameterError(opt, values, f"given once per --model ({len(models)} times)")
    specs = []
    for i, path in enumerate(models):
        spec: dict[str, Any] = {"path": path}
        if sizes:
            spec["size"] = sizes[i]
        if kinds:
            if kinds[i] not in ("base", "chat"):
                raise ParameterError("kind", kinds[i], "base or chat")
            spec["kind"] = kinds[i]
        specs.append(spec)
    return specs


@llm_app.command("tasks")
@_one_line_errors
def tasks_command() -> None:
    """List the built-in synthetic tasks (no download needed). Example: iclab llm tasks"""
    from iclab.llm.tasks import BUILTIN_TASKS

    table = Table("task", "labels", "examples", "description", "prompt format")
    for name, make in BUILTIN_TASKS.items():
        task = make()
        table.add_row(name, "/".join(task.labels), str(len(task)), task.description,
                      task.template.demo.replace("\n", "\\n"))
    console.print(table)


@llm_app.command("run")
@_one_line_errors
def run_command(
    model: Annotated[list[str], typer.Option("--model", help="Local checkpoint directory (iclab "
                                             "never downloads); repeat for several.")],
    size: Annotated[list[str] | None, typer.Option("--size", help="Display size per --model, "
                                                   "e.g. 7B (default: parameter count).")] = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="base or chat per --model "
                                                   "(default: guessed from the name).")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Built-in task "
                                             "(iclab llm tasks).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="JSONL/CSV file or a saved "
                                              "`datasets` directory.")] = None,
    text_column: Annotated[str, typer.Option("--text-column")] = "text",
    label_column: Annotated[str, typer.Option("--label-column")] = "label",
    labels: Annotated[str | None, typer.Option("--labels", help="Label words, comma-separated "
                                               "(class i -> i-th word).")] = None,
    template: Annotated[str | None, typer.Option("--template", help="Demo format with {text} "
                                                 "and {label}; \\n is a newline.")] = None,
    noise: Annotated[str | None, typer.Option("--noise", help="label,input_replace,"
                                              "input_perturb (comma-separated).")] = None,
    p: Annotated[str | None, typer.Option("--p", help="Noise levels, e.g. 0,0.25,0.5.")] = None,
    k: Annotated[str | None, typer.Option("--k", help="Numbers of demonstrations, e.g. "
                                          "8,16.")] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Seeds per cell.")] = None,
    n_queries: Annotated[int | None, typer.Option("--n-queries")] = None,
    device: DeviceOpt = "cpu",
    dtype: Annotated[str, typer.Option("--dtype", help="float32, bfloat16 or float16 "
                                       "(CUDA only).")] = "float32",
    batch_size: Annotated[int, typer.Option("--batch-size")] = 8,
    full: Annotated[bool, typer.Option("--full/--quick", help="Variant whose grid fills "
                                       "the options not given.")] = False,
    store: Annotated[Path, typer.Option("--store", help="SQLite result store.")]
    = DEFAULT_STORE_PATH,
    out: Annotated[Path, typer.Option("--out", help="Folder for the figure and CSV.")] = Path(
        "results") / "llm",
) -> None:
    """Run the noise-sensitivity sweep (models x noise x p x k x seeds); write figure + CSV.

    Example: iclab llm run --model ~/models/Llama-2-7b-hf --model ~/models/Llama-2-13b-hf
    --task sentiment --p 0,0.25,0.5 --k 8,16 --seeds 3 --device cuda --dtype bfloat16
    """
    from iclab.cli.common import validate_run
    from iclab.engine import run_experiment
    from iclab.experiments import get_experiment
    from iclab.figures import save_figure
    from iclab.safe_output import atomic_write, check_not_store

    if task is not None and data is not None:
        raise ParameterError("task", task, "omitted when --data is given")
    overrides: dict[str, Any] = {"models": _model_specs(model, size, kind), "device": device,
                                 "dtype": dtype, "batch_size": batch_size}
    optional = {
        "task": task, "data": str(data) if data is not None else None,
        "labels": _split("labels", labels, str),
        "template": template.replace("\\n", "\n") if template else None,
        "noise": _split("noise", noise, str), "p": _split("p", p, float),
        "k": _split("k", k, int), "seeds": seeds, "n_queries": n_queries,
    }
    overrides.update({key: v for key, v in optional.items() if v is not None})
    if data is not None:
        overrides.update(text_column=text_column, label_column=label_column)
    exp, variant = get_experiment(EXPERIMENT), "full" if full else "quick"
    csv_path = out / "llm_noise_sensitivity.csv"
    validate_run(exp, variant, overrides, device, False, store, out)  # before a model loads
    for target in (csv_path, out / "llm_noise_sensitivity.png", out / "llm_noise_sensitivity.pdf"):
        check_not_store("out", target, [store])
    result = run_experiment(exp, variant, overrides, store=store, device=device, progress=True)
    frame = result.results
    with atomic_write(csv_path, [store]) as tmp:
        frame.to_csv(tmp, index=False)
    fig = result.experiment.plot(result.settings, frame, None)
    paths = save_figure(fig, out, "llm_noise_sensitivity")
    _print_summary(frame)
    console.print(f"{result.n_computed} of {result.n_units} units computed "
                  f"({result.seconds:.1f} s); rows in {store}")
    console.print("wrote " + ", ".join(str(x) for x in [csv_path, *paths]))


def _print_summary(frame: Any) -> None:
    if frame.empty:
        return
    stats = (frame.groupby(["name", "size", "kind", "noise", "k", "p"])["accuracy"]
             .agg(["mean", "std"]).reset_index().fillna({"std": 0.0}))
    table = Table("model", "size", "kind", "noise", "k", "p", "accuracy (mean ± std)")
    for row in stats.itertuples(index=False):
        table.add_row(str(row.name), str(row.size), str(row.kind), str(row.noise), str(row.k),
                      f"{row.p:g}", f"{row.mean:.3f} ± {row.std:.3f}")
    console.print(table)
