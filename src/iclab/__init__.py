"""iclab: theory and experiments of in-context learning in stylised models.

Public entry points:

- :mod:`iclab.theory` — closed-form learning curves (pure NumPy/SciPy, vectorised).
- :mod:`iclab.experiments` — registered paper figures (``iclab list`` shows them).
- :mod:`iclab.engine` — run experiments with a resumable SQLite store.
"""

from iclab.errors import ICLabError, ParameterError

__version__ = "0.1.0"

__all__ = ["ICLabError", "ParameterError", "__version__"]
