"""Finding the built-in plugins in a source checkout that is not installed.

Installed (``pip install .`` or ``-e .``), the built-ins import as
``asrkit_plugins`` from wherever pip put them. In a source checkout used with
``PYTHONPATH=<repo>`` and nothing installed, the package lives in
``<repo>/plugins/asrkit_plugins``: the folder is its import path, but
``<repo>/plugins`` is not on ``sys.path``. :func:`add_builtin_plugins_path`
adds it then, and only then, so that every built-in imports by its installed
name (``asrkit_plugins.encoders.rescnn_bigru``) either way, and an installed
copy is never shadowed by a checkout's.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BUILTINS_PACKAGE = "asrkit_plugins"


def add_builtin_plugins_path() -> Path | None:
    """Add ``<repo>/plugins`` to ``sys.path`` when the built-ins are not importable; returns the folder added."""
    if importlib.util.find_spec(BUILTINS_PACKAGE) is not None:
        return None
    folder = Path(__file__).resolve().parent.parent / "plugins"
    if not (folder / BUILTINS_PACKAGE / "__init__.py").is_file():
        return None
    sys.path.append(str(folder))
    return folder
