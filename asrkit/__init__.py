"""asrkit: a plugin-based CTC speech recognition toolkit on PyTorch.

Plugins mark their hook implementations with :data:`asrkit.hookimpl`.
"""

from __future__ import annotations

from asrkit.hookspecs import hookimpl
from asrkit.source_tree import add_builtin_plugins_path

add_builtin_plugins_path()  # a source checkout on PYTHONPATH: the built-ins import as installed

__version__ = "0.2.0"
__all__ = ["__version__", "hookimpl"]
