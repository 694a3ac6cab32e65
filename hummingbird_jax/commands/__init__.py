"""Subcommands of the ``hummingbird`` CLI; each module has ``register(subparsers)``."""
