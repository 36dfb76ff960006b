"""Alias of :mod:`psqlpy.exceptions` (the reference driver's private path; taskiq-psqlpy
imports ``InterfaceError`` from here)."""

from psqlpy.exceptions import *  # noqa: F403
from psqlpy.exceptions import __all__ as __all__  # noqa: F401
