"""Subcommands of `cstp`, one module per area; each exposes `register(subparsers)`."""
