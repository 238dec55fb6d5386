"""asrkit: a plugin-based CTC speech recognition toolkit on PyTorch.

Plugins mark their hook implementations with :data:`asrkit.hookimpl`.
"""

from __future__ import annotations

from asrkit.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
