"""``python -m asrkit``: the same as the ``asrkit`` command (and what torchrun runs)."""

from asrkit.cli import main

if __name__ == "__main__":
    main()
