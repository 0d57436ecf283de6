"""``python -m imlgit``: the command-line interface."""

from .cli import main

main()
