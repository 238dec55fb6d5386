"""asrkit's built-in plugins, installed as the import package ``asrkit_plugins``.

Each ``<kind>.py`` module here is one plugin: it implements that kind's
registration hook and is declared as an entry point in ``pyproject.toml``,
exactly as a third-party plugin would be. The components live in their own
small modules beside it.
"""
