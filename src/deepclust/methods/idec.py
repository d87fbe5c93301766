"""Improved Deep Embedded Clustering (Guo, Gao, Liu & Yin, IJCAI 2017).

IDEC is DEC whose clustering phase keeps training the decoder: its loss is
L = L_r + gamma * L_c, the autoencoder's reconstruction error plus gamma times
DEC's KL(P || Q). The reconstruction term keeps the embedding faithful to the
local structure of the data, which DEC's clustering loss alone may distort.
Everything else (pretraining, k-means initialisation, the target distribution
over the whole dataset, the stopping rule) is DEC's, run by the shared
loop in ``training/self_training.py``; this file supplies only the loss weights and
the optimiser.
"""

from __future__ import annotations

from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

from ..nn.autoencoder import Autoencoder
from .dec import DEC

__all__ = ["IDEC"]


class IDEC(DEC):
    """Improved Deep Embedded Clustering: DEC plus the reconstruction loss.

    The clustering phase minimises ``L_r + gamma * KL(P || Q)``, where
    ``L_r`` is the autoencoder's mean squared reconstruction error (as in
    end-to-end pretraining, on the normalised input) and ``KL(P || Q)`` is
    DEC's clustering loss; the encoder, the decoder and the centroids are
    trained together. Use it where DEC's clustering loss alone drifts away
    from the data (the embedding "corrupted", in the paper's words): the
    decoder keeps the embedding able to reconstruct every point.

    Read more in the paper: Guo, Gao, Liu & Yin, "Improved Deep Embedded
    Clustering with Local Structure Preservation", IJCAI 2017.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters k.
    gamma : float, default=0.1
        Weight of the clustering loss against the reconstruction loss (the
        paper's 0.1 on every dataset); positive, at most 1e30.
    optimizer : {"adam", "sgd"}, default="adam"
        Optimiser of the clustering phase: "adam" (the paper's, on MNIST) or
        SGD with ``momentum`` (its choice on USPS and REUTERS-10K).
    lr : float, default=0.001
        Learning rate of the clustering phase (the paper's Adam rate).
    momentum : float, default=0.9
        SGD momentum of the clustering phase; unused by Adam.

    All other parameters are :class:`DEC`'s, with its defaults and meaning
    (``hidden_dims``, ``embedding_dim``, the pretraining settings, ``init``, ``n_init``,
    ``kmeans_sample_size``, ``alpha``, ``update_interval``, ``batch_size``,
    ``max_iter``, ``tol``,
    ``device``, ``precision``, ``checkpoint_dir``, ``checkpoint_every``,
    ``snapshot_size``, ``random_state``, ``verbose``). With
    ``freeze_encoder=True`` only the centroids move, as in DEC's ablation, so
    the reconstruction term has nothing to train; with ``optimizer="sgd"``
    and DEC's ``lr`` and ``momentum`` IDEC then equals DEC w/o backprop.

    Attributes
    ----------
    labels_, cluster_centers_, autoencoder_, n_iter_, history_, ...
        As :class:`DEC`'s; ``history_``'s ``loss`` is the whole loss
        ``L_r + gamma * L_c`` (``L_c`` alone with ``freeze_encoder=True``),
        and ``autoencoder_``'s decoder is trained too.

    See Also
    --------
    DEC : The same without the reconstruction term.

    Notes
    -----
    ``score(X)``, ``predict_proba`` and ``predict`` are DEC's: ``score`` is
    -KL(P || Q) on X, the clustering term alone.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import IDEC
    >>> X, _ = load_digits(return_X_y=True)
    >>> idec = IDEC(n_clusters=10, layerwise_iter=20, finetune_iter=40, max_iter=50, random_state=0)
    >>> labels = idec.fit_predict(X / 16)
    >>> labels.shape
    (1797,)
    """

    _parameter_constraints: dict = {
        **DEC._parameter_constraints,
        "gamma": [Interval(Real, 0, 1e30, closed="right")],  # a weight float32 can hold
        "optimizer": [StrOptions({"adam", "sgd"})],
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        gamma: float = 0.1,
        optimizer: str = "adam",
        lr: float = 0.001,
        momentum: float = 0.9,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        embedding_dim: int = 10,
        pretrain: str = "auto",
        pretrain_epochs: int | str = "auto",
        pretrain_lr: float | str = "auto",
        pretrain_optimizer: str = "adam",
        layerwise_iter: int | str = "auto",
        finetune_iter: int | str = "auto",
        layerwise_lr: float | str = "auto",
        layerwise_lr_step: int | str = "auto",
        dropout: float = 0.2,
        autoencoder: Autoencoder | None = None,
        init: str = "kmeans",
        n_init: int = 20,
        kmeans_sample_size: int | str | None = "auto",
        alpha: float = 1.0,
        update_interval: int | str = "auto",
        batch_size: int = 256,
        max_iter: int = 10000,
        tol: float = 1e-3,
        freeze_encoder: bool = False,
        device="auto",
        precision: str = "auto",
        checkpoint_dir=None,
        checkpoint_every: int = 1000,
        snapshot_size: int = 0,
        random_state=None,
        verbose: bool = False,
    ):
        self._store_params(locals())

    def _loss_weights(self) -> tuple[float, float]:
        return 1.0, float(self.gamma)
