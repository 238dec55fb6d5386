"""asrkit: a plugin-based CTC speech recognition toolkit on PyTorch."""

from __future__ import annotations

__version__ = "0.1.0"
