"""``deepclust.shards``, kept for code written before the methods, networks and data layer had
folders of their own: it is :mod:`deepclust.data.shards` itself (the same module object)."""

import sys

from .data import shards

sys.modules[__name__] = shards
