"""Contract checks of components and plugins, behind :mod:`asrkit.testing`.

Every failed check raises :class:`ContractError`, whose message names the
component, the check and the values seen, so that a plugin author reads what
is wrong without opening asrkit's source.
"""

from __future__ import annotations

from typing import Any


class ContractError(AssertionError):
    """A component or plugin breaks asrkit's contract. An ``AssertionError``, so pytest reports it as a failure."""


def expect(condition: object, who: str, check: str, **seen: Any) -> None:
    """Raise :class:`ContractError` ``"<who>: <check> (name=value, ...)"`` unless ``condition`` holds.

    ``who`` names the component (``encoders 'conv'``), ``check`` says what must
    hold, ``seen`` gives the values that were found.
    """
    if condition:
        return
    values = ", ".join(f"{key}={_short(value)}" for key, value in seen.items())
    raise ContractError(f"{who}: {check}" + (f" ({values})" if values else ""))


def _short(value: Any) -> str:
    text = repr(value.tolist() if hasattr(value, "tolist") else value)
    return text if len(text) <= 200 else text[:197] + "..."
