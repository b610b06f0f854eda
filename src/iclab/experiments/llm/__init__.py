"""Studies of real language models (Shi, Wei, Xu & Liang 2024, LLM study).

* ``noise_sensitivity`` — ``llm.noise_sensitivity``: in-context accuracy of the user's local
  checkpoints against the noise in the demonstrations (the harness is :mod:`iclab.llm`).
"""
