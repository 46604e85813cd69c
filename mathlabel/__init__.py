"""mathlabel: label math problems with curriculum achievement standards."""

__version__ = "0.1.0"
