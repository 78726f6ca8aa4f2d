"""Subcommands of the `cstp` command line, one module per area; each exposes `register(subparsers)`."""
