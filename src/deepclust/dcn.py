"""``deepclust.dcn``, kept for code written before the methods, networks and data layer had
folders of their own: it is :mod:`deepclust.methods.dcn` itself (the same module object)."""

import sys

from .methods import dcn

sys.modules[__name__] = dcn
