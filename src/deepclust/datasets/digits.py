"""scikit-learn's 8x8 handwritten digits: shipped with scikit-learn, nothing to download."""

from __future__ import annotations

import numpy as np

from ._scaling import scale_to_unit_energy

__all__ = ["load_digits"]


def load_digits(*, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 64 features, 10 classes).

    Parameters
    ----------
    scale : bool, default=True
        Apply the paper's normalisation (:func:`scale_to_unit_energy`); otherwise the pixel
        values are scikit-learn's, 0 to 16.

    Returns
    -------
    X : ndarray of shape (1797, 64), float32
    y : ndarray of shape (1797,), int64
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    X, y = _sk_load_digits(return_X_y=True)
    X = X.astype(np.float32)
    return (scale_to_unit_energy(X) if scale else X), y.astype(np.int64)
