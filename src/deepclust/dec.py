"""``deepclust.dec``, kept for code written before the methods, networks and data layer had
folders of their own: it is :mod:`deepclust.methods.dec` itself (the same module object)."""

import sys

from .methods import dec

sys.modules[__name__] = dec
