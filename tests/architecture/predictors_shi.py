"""Small Shi et al. predictors (LSA and parity-head ensembles with their initial parameters)
and tasks (spectral regression, sparse parity): the architecture tests check that each
satisfies the Predictor / Task protocol."""

from __future__ import annotations

from collections.abc import Callable

from iclab.models.base import Predictor
from iclab.models.lsa import LowRankLSAEnsemble, TrainedLSA
from iclab.models.parity_heads import ParityHeadsEnsemble, TrainedParityHeads
from iclab.seeding import torch_generator
from iclab.tasks.base import Task
from iclab.tasks.parity import SparseParityTask
from iclab.tasks.prompts import Prompts
from iclab.tasks.spectral_regression import SpectralRegressionTask, random_orthogonal


def _spectral_task() -> SpectralRegressionTask:
    basis = random_orthogonal(3, torch_generator(3, "cpu")).numpy()
    return SpectralRegressionTask((2.0, 1.0, 0.5), 5, basis=basis)


def _parity_task() -> SparseParityTask:
    return SparseParityTask(d=4, d_imp=2, p_imp=0.75, n=6)


def _lsa() -> tuple[Predictor, Prompts]:
    task = _spectral_task()
    ensemble = LowRankLSAEnsemble(task.d, (1, 3), seeds=2)
    params = ensemble.init_params(torch_generator(0, "cpu"), scale=0.5)
    return TrainedLSA(ensemble, params), task.sample(6, torch_generator(1, "cpu"))


def _parity_heads(head: str) -> Callable[[], tuple[Predictor, Prompts]]:
    def make() -> tuple[Predictor, Prompts]:
        task = _parity_task()
        ensemble = ParityHeadsEnsemble(task.n_pairs, (1, 3), seeds=2, head=head)
        params = ensemble.init_params(torch_generator(0, "cpu"))
        return TrainedParityHeads(ensemble, params), task.sample(6, torch_generator(1, "cpu"))

    return make


PREDICTORS: dict[str, Callable[[], tuple[Predictor, Prompts]]] = {
    "shi.lsa_low_rank": _lsa,
    "shi.parity_heads_rank1": _parity_heads("rank1"),
    "shi.parity_heads_full": _parity_heads("full"),
}

TASKS: dict[str, Callable[[], Task]] = {
    "shi.spectral_regression": _spectral_task,
    "shi.sparse_parity": _parity_task,
}
