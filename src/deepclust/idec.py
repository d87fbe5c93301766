"""``deepclust.idec``, kept for code written before the methods, networks and data layer had
folders of their own: it is :mod:`deepclust.methods.idec` itself (the same module object)."""

import sys

from .methods import idec

sys.modules[__name__] = idec
