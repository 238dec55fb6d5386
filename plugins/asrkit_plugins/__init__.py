"""asrkit's built-in plugins: one subpackage per component kind.

Each ``<kind>/__init__.py`` is one plugin: it implements that kind's
registration hook and is declared as an entry point in ``pyproject.toml``,
exactly as a third-party plugin would be. The components live in small
modules beside it, in the same folder.
"""
