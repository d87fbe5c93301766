"""``deepclust.dbc``, kept for code written before the methods, networks and data layer had
folders of their own: it is :mod:`deepclust.methods.dbc` itself (the same module object)."""

import sys

from .methods import dbc

sys.modules[__name__] = dbc
