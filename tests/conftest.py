import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

# Small settings so a fit takes a fraction of a second.
FAST = dict(hidden_dims=(32,), embedding_dim=3, pretrain_epochs=10, n_init=3, max_iter=60, batch_size=32)


@pytest.fixture
def blobs():
    X, y = make_blobs(n_samples=240, centers=3, n_features=6, cluster_std=1.0, random_state=0)
    return StandardScaler().fit_transform(X).astype(np.float32), y
