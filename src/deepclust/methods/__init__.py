"""The methods: one file each, its recipe on the estimator contract of :mod:`deepclust.base`.

Each file supplies a method's network, its network loss, its clustering loss and how labels
are read out; :mod:`deepclust.registry` names them. Nothing outside this folder imports a
method's file except through the registry (or the public names of :mod:`deepclust`).
"""
