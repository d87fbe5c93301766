"""The paper's normalisation of the inputs (section 4.1)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["scale_to_unit_energy"]


def scale_to_unit_energy(X):
    """Scale X by one constant so that the mean of (1/d)·||x_i||² is 1 (paper, section 4.1).

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)

    Returns
    -------
    X_scaled : ndarray or scipy.sparse.csr_matrix of the same shape, float32
        Sparse input stays sparse (CSR).

    Raises
    ------
    ValueError
        When X is all zeros.
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
        cells = X.shape[0] * X.shape[1]
        energy = float(np.square(X.data, dtype=np.float64).sum()) / cells if cells else 0.0
    else:
        X = np.asarray(X, dtype=np.float32)
        energy = float(np.mean(np.square(X, dtype=np.float64)))
    if energy == 0.0:
        raise ValueError("X is all zeros; it cannot be scaled to unit energy.")
    if sp.issparse(X):
        return sp.csr_matrix(X / np.sqrt(energy), dtype=np.float32)
    return (X / np.sqrt(energy)).astype(np.float32)
