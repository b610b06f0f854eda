"""Static HTML report over everything in a store: claims, figures, settings, deviations, timings.

``iclab report`` (and the end of ``iclab demo``) writes ``<out>/report.html``, rendered from
the Jinja templates in ``templates/`` (autoescaping on):

* a table of contents in paper order (Lu et al., Li et al., Shi et al., then the studies),
  each figure with its verdict badges;
* the compact claims table: every claim of every stored sweep with its verdict
  (:func:`iclab.claims.evaluate_claims`), linked to the sweep, the full statement (in the
  papers' symbols, :mod:`iclab.report.symbols`) behind each row; it fits 800 px;
* a summary table: one row per stored sweep (experiment × settings), with its variant, the
  settings that differ from the variant, how many planned units are stored, compute and wall
  time, the last run's status, the worst theory-vs-experiment relative deviation, and the code
  version that produced it;
* one section per experiment: which paper figure it reproduces and what to look for, then one
  block per sweep: the full-width figure linked to its file, the sweep's own claims, the
  settings that differ from the variant, the per-curve deviations with their context (the
  size expected at this d and, where several d are stored, how the deviation shrinks with
  d), the run facts, the parameters and the runs log.

The page is self-contained apart from its figures: inline CSS, no scripts, no fonts or
other resources from the network, so it opens offline without console errors. Figures are
PNG files under ``<out>/figures`` referenced by relative path (the folder can be zipped and
shared as is), named by :func:`iclab.figures.figure_stem` (the variant's own settings keep
``<name>_<variant>.png``; other settings add a suffix), the same files ``iclab run`` and
``iclab demo`` write, reused when newer than the sweep's last run and unit.
"""

from iclab.report.page import write_report

__all__ = ["write_report"]
