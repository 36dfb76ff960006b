"""Alias of :mod:`psqlpy.row_factories` at the reference driver's private path."""

from psqlpy.row_factories import *  # noqa: F403
