"""Experiment modules given as ``.py`` paths in ``ICLAB_EXPERIMENT_MODULES``, importable by name.

A file path is imported under the name :func:`module_name` gives it
(``iclab_plugin_<stem>_<hash of the path>``). Its experiment classes pickle by that name, so
a spawned worker process (``--workers 2``) must be able to import it too: the finder
installed by :func:`install` (when :mod:`iclab` is imported) resolves those names from the
same environment variable, which worker processes inherit.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

ENV_VAR = "ICLAB_EXPERIMENT_MODULES"
PREFIX = "iclab_plugin_"


def is_path(spec: str) -> bool:
    """Whether an entry of the variable is a file path rather than a module name."""
    return spec.endswith(".py") or os.sep in spec or spec.startswith(("~", "."))


def module_name(path: str | Path) -> str:
    """The module name a plug-in file is imported under (stable for one resolved path)."""
    file = Path(path).expanduser().resolve()
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() else "_" for c in file.stem)
    return f"{PREFIX}{stem}_{digest}"


class PluginPathFinder(importlib.abc.MetaPathFinder):
    """Finds ``iclab_plugin_*`` modules among the file paths of ``ICLAB_EXPERIMENT_MODULES``."""

    def find_spec(self, fullname: str, path: object = None, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(PREFIX):
            return None
        for entry in os.environ.get(ENV_VAR, "").split(","):
            entry = entry.strip()
            if entry and is_path(entry) and module_name(entry) == fullname:
                file = Path(entry).expanduser().resolve()
                if file.is_file():
                    return importlib.util.spec_from_file_location(fullname, file)
        return None


def install() -> None:
    """Add :class:`PluginPathFinder` to ``sys.meta_path`` (once)."""
    if not any(isinstance(f, PluginPathFinder) for f in sys.meta_path):
        sys.meta_path.append(PluginPathFinder())
