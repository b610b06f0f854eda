"""Li, Rawat & Oymak (2024), arXiv 2407.10005: trained linear attention / H3 vs PGD theory.

One module per registered figure (settings are our choices; the paper's are not confirmed):

* :mod:`.fig_iid` (``li2024.fig_iid``) — risk vs ``n``: noiseless i.i.d., noisy labels and a
  non-isotropic task; linear attention and H3 against the optimal PGD risk ``L*(n)``.
* :mod:`.fig_rag` (``li2024.fig_rag``) — RAG correlation ``alpha``; exact finite-d theory and
  the effective-sample-size law.
* :mod:`.fig_alignment` (``li2024.fig_alignment``) — our provisional task–feature alignment model.
* :mod:`.fig_lowrank` (``li2024.fig_lowrank``) — rank-r linear attention, non-isotropic task.
* :mod:`.fig_lora` (``li2024.fig_lora``) — LoRA (rank r on ``W_q``) on a frozen PGD-optimal
  model pretrained for ``Sigma_old``, adapted to ``Sigma_new``.
* :mod:`.fig_h3_drift` (``li2024.fig_h3_drift``) — AR(1)-drifting task: H3 vs linear attention,
  learned filter vs the optimal weighted-PGD weights.

Shared declarations: :mod:`.common` (settings, training recipes, the figure base class, plot
helpers) and :mod:`.claims` (claim checks).
"""
