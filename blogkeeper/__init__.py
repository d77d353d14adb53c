"""blogkeeper: a static blog generator for technical writers."""

__version__ = "0.1.0"
