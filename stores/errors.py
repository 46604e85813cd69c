"""The one base exception of the stores package."""


class StoreError(Exception):
    """A store could not do what was asked (missing object, bad key, unreachable server)."""
