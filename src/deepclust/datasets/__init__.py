"""Datasets of the DEC paper's experiments, as ``(X, y)`` float32 / int64 arrays.

Labels are returned for evaluation only; nothing in deepclust fits on them.

Every loader takes keyword arguments only: ``scale=True`` applies the paper's normalisation
(:func:`scale_to_unit_energy`), and those that read files take ``data_dir=None`` (the folder
holding them; by default a folder of :func:`data_home`) and ``download=True`` (whether missing
files may be downloaded, checked against their published checksums).

==========================  ========  ========  ========================================
loader                      samples   features  source
==========================  ========  ========  ========================================
:func:`load_digits`            1,797        64  scikit-learn (no download)
:func:`load_mnist`            70,000       784  MNIST IDX files
:func:`load_fashion_mnist`    70,000       784  Fashion-MNIST IDX files (or Debian's)
:func:`load_usps`              9,298       256  LIBSVM's usps.bz2 and usps.t.bz2
:func:`load_reuters`         685,071     2,000  RCV1-v2 (LYRL2004), sparse
:func:`load_reuters10k`       10,000     2,000  a fixed sample of :func:`load_reuters`
:func:`load_stl10_hog`        13,000     1,092  STL-10 binary, HOG + 8x8 colour map
==========================  ========  ========  ========================================

Synthetic data with known clusters (no files): :func:`make_embedded_blobs` (Gaussian blobs pushed
through a random MLP) and :func:`make_topic_corpus` (documents drawn from topics, as REUTERS-shaped
sparse tf-idf).
"""

from ._files import data_home
from ._idx import read_idx
from ._scaling import scale_to_unit_energy
from .digits import load_digits
from .mnist import load_fashion_mnist, load_mnist
from .reuters import load_reuters, load_reuters10k
from .stl10 import load_stl10_hog
from .synthetic import make_embedded_blobs, make_topic_corpus
from .usps import load_usps

__all__ = [
    "data_home",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_reuters",
    "load_reuters10k",
    "load_stl10_hog",
    "load_usps",
    "make_embedded_blobs",
    "make_topic_corpus",
    "read_idx",
    "scale_to_unit_energy",
]
