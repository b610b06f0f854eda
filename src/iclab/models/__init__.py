"""Models: architectures that map prompts to predictions.

Every model is usable as a :class:`~iclab.models.base.Predictor` (``members``,
``predict(prompts) -> [members, B]``): the reduced Γ-model of Lu et al., linear attention
and H3 (Li et al.), low-rank LSA and parity heads (Shi et al.), a GPT-2-style transformer
trained as an ensemble. Training lives in :mod:`iclab.fit`, scoring in :mod:`iclab.evaluate`.
"""
