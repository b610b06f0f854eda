"""Shi, Wei, Xu & Liang (2024), arXiv 2405.19592: model size as rank or heads, and noise.

One module per registered figure (mathematics in docs/shi2024.md; every setting is the
toolkit's choice — the paper does not give its simulation settings):

* ``fig_rank_noise``      — ``shi2024.fig_rank_noise``: rank-r LSA, risk on a label-noisy
  test prompt vs ``σ²`` per rank, trained vs ``R(Γ*_r)``;
* ``fig_rank_subspace``   — ``shi2024.fig_rank_subspace``: principal angles of the trained
  ``Γ`` to the top-r eigenvectors, distance to ``Γ*_r``, ``Γ``'s eigen-entries;
* ``fig_parity_coverage`` — ``shi2024.fig_parity_coverage``: per-pair accuracy of ``m``-head
  models vs pair importance (the toolkit's sparse-parity construction);
* ``fig_parity_noise``    — ``shi2024.fig_parity_noise``: accuracy vs the fraction ``p`` of
  flipped in-context labels per ``m``;
* ``fig_transformer_noise`` — ``shi2024.fig_transformer_noise``: transformers of several sizes,
  error vs test label noise (docs/transformers.md).

Shared declarations: ``common`` (settings, quick variants, the two experiment bases and how
each point builds and trains its ensemble) and ``claims`` (the claims' checks and thresholds).
"""
