"""Alias of :mod:`psqlpy.extra_types` at the reference driver's private path."""

from psqlpy.extra_types import *  # noqa: F403
from psqlpy.extra_types import Coordinates, PairsOfCoordinates  # noqa: F401
