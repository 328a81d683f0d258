"""lexkz: shared home of the CLI, configuration helpers and small common utilities."""

__version__ = "0.1.0"
