"""Discriminatively Boosted Clustering (Li, Qiao & Zhang, 2017).

DBC is DEC on images with a convolutional autoencoder: the network is
:class:`~deepclust.nn.autoencoder.ConvAutoencoder`, pretrained end to end on the
reconstruction error, and the clustering phase is DEC's self-training (the
paper's "discriminative boosting": the sharpened target p of eq. 3 boosts the
confident assignments). This file supplies only the network; the clustering
loss and everything else is DEC's.
"""

from __future__ import annotations

import math
from numbers import Integral

from sklearn.utils._param_validation import StrOptions

from ..training import distributed
from ..training.augment import ImageAugmenter
from ..nn.autoencoder import Autoencoder, ConvAutoencoder
from .dec import DEC

__all__ = ["DBC", "image_shape_of"]

_DROPPED = ("hidden_dims", "layerwise_iter", "finetune_iter", "layerwise_lr", "layerwise_lr_step",
            "dropout")


class DBC(DEC):
    """DEC with a convolutional autoencoder, for images.

    Rows of X are images flattened channel first (``images.reshape(n, -1)``
    of an ``(n, channels, height, width)`` array). The network is a
    convolutional autoencoder (``channels`` convolutions of stride 2 with
    batch normalisation, then a linear layer to the embedding, mirrored by
    transposed convolutions), pretrained end to end on the reconstruction
    error; clustering is DEC's (Student's t soft assignment, target p,
    KL(P || Q)). Convolutions share weights across the image, so the network
    sees neighbouring pixels as neighbours, which the fully connected DEC has
    to learn from the data.

    Read more in the paper: Li, Qiao & Zhang, "Discriminatively Boosted Image
    Clustering with Fully Convolutional Auto-Encoders", Pattern Recognition
    2018 (arXiv 2017).

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters k.
    image_shape : tuple of int or "auto", default="auto"
        ``(channels, height, width)`` of one image (``(height, width)`` means
        one channel). "auto" takes a square grey image when the number of
        features is a perfect square (784 -> 1 x 28 x 28) and otherwise one
        row of pixels (1 x 1 x d).
    channels : tuple of int, default=(32, 64, 128)
        Output channels of the encoder's convolutions (5x5, the last 3x3,
        stride 2, "same" padding), as in DCEC's network.
    batch_norm : bool, default=True
        Batch normalisation after each convolution but the reconstruction
        layer, as in DBC's fully convolutional autoencoder. False gives
        DCEC's plain network.
    augment : bool, default=False
        Train on randomly rotated (+-10 degrees) and shifted (+-10% of the
        width and height) images, as DEC-DA (Guo et al., ACML 2018) does:
        the pretraining reconstructs augmented images, and each clustering
        step computes q of augmented images against the target p of the
        clean ones. Full-data passes (p, ``predict``, ``transform``) use the
        images as given. Needs images at least 2 pixels high and wide.
        It is off by default because it was no reliable gain on
        Fashion-MNIST (within the seed-to-seed spread of the default) and
        lowered the accuracy on 8 x 8 digits, where a shift of 10% is most
        of a pixel (``benchmarks/RESULTS.md``).
    embedding_dim : int, default=10
        Dimension of the embedding.
    pretrain : {"end-to-end"}, default="end-to-end"
        Layer-wise pretraining does not apply to a convolutional network.
    pretrain_epochs : int or "auto", default=50
        Epochs of end-to-end pretraining (see :class:`DEC`).
    pretrain_optimizer : {"adam", "sgd"}, default="adam"
        As :class:`DEC`'s.

    The other parameters are :class:`DEC`'s, with its defaults and meaning:
    ``pretrain_lr``, ``autoencoder`` (a pretrained
    :class:`~deepclust.nn.autoencoder.ConvAutoencoder` or any autoencoder),
    ``n_init``, ``kmeans_sample_size``, ``alpha``, ``update_interval``, ``lr``, ``momentum``,
    ``batch_size``, ``max_iter``, ``tol``, ``freeze_encoder``, ``device``,
    ``precision``, ``checkpoint_dir``, ``checkpoint_every``,
    ``snapshot_size``, ``random_state``, ``verbose``.

    Attributes
    ----------
    image_shape_ : tuple of int or None
        The ``(channels, height, width)`` used: the given ``autoencoder``'s
        when there is one (None for a fully connected one).
    labels_, cluster_centers_, autoencoder_, n_iter_, history_, ...
        As :class:`DEC`'s.

    See Also
    --------
    DEC : The same clustering on a fully connected autoencoder.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import DBC
    >>> X, _ = load_digits(return_X_y=True)
    >>> dbc = DBC(n_clusters=10, pretrain_epochs=2, max_iter=50, random_state=0)
    >>> labels = dbc.fit_predict(X / 16)  # 64 features: 8 x 8 images
    >>> dbc.image_shape_
    (1, 8, 8)
    """

    _parameter_constraints: dict = {
        **{k: v for k, v in DEC._parameter_constraints.items() if k not in _DROPPED},
        "image_shape": [list, tuple, StrOptions({"auto"})],
        "channels": [list, tuple],
        "batch_norm": ["boolean"],
        "augment": ["boolean"],
        "pretrain": [StrOptions({"end-to-end"})],
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        image_shape="auto",
        channels: tuple[int, ...] = (32, 64, 128),
        batch_norm: bool = True,
        augment: bool = False,
        embedding_dim: int = 10,
        pretrain: str = "end-to-end",
        pretrain_epochs: int = 50,
        pretrain_lr: float | str = "auto",
        pretrain_optimizer: str = "adam",
        autoencoder: Autoencoder | None = None,
        n_init: int = 20,
        kmeans_sample_size: int | str | None = "auto",
        alpha: float = 1.0,
        update_interval: int | str = "auto",
        lr: float = 0.01,
        momentum: float = 0.9,
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

    _saved_json = {**DEC._saved_json, "image_shape_": (list, type(None))}
    _test_params = dict(channels=(4, 8), embedding_dim=3, pretrain_epochs=10, n_init=3, max_iter=60,
                        batch_size=32)

    def _check_restored(self) -> None:
        super()._check_restored()
        shape = self.image_shape_
        if shape is not None and (len(shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in shape)
                                  or math.prod(shape) != self.n_features_in_):
            raise ValueError(f"image_shape_ {shape!r} is not (channels, height, width) of the network's "
                             f"{self.n_features_in_} features")
        if shape is not None:
            self.image_shape_ = tuple(shape)

    def _check_network(self, n_features: int) -> None:
        self._check_image_shape(n_features)
        shape = self.image_shape_
        if self.augment and (shape is None or min(shape[1:]) < 2):
            raise ValueError(
                f"augment=True rotates and shifts images, but the network's image shape is {shape}"
                + (" (a fully connected autoencoder)" if shape is None else "")
                + "; pass image_shape=(channels, height, width) with height and width >= 2, or "
                "augment=False.")

    def _check_image_shape(self, n_features: int) -> None:
        if self.autoencoder is not None:  # its own architecture; image_shape, channels, batch_norm unused
            self.image_shape_ = getattr(self.autoencoder, "image_shape", None)
            return
        shape = image_shape_of(self.image_shape, n_features)
        if not self.channels or not all(
                isinstance(c, Integral) and not isinstance(c, bool) and c >= 1 for c in self.channels):
            raise ValueError(f"channels={self.channels!r} must be a non-empty sequence of positive "
                             "ints, e.g. (32, 64, 128).")
        self.image_shape_ = shape

    def _augmenter(self, generator, phase: str):
        if not self.augment:
            return None
        return ImageAugmenter(self.image_shape_, generator.initial_seed(), phase, distributed.rank())

    def _new_autoencoder(self, n_features: int, input_scale: float) -> Autoencoder:
        return ConvAutoencoder(self.image_shape_, self.channels, self.embedding_dim, input_scale,
                               self.batch_norm)


def image_shape_of(image_shape, n_features: int) -> tuple[int, int, int]:
    """``(channels, height, width)`` of rows of ``n_features`` values, from an ``image_shape``
    parameter: "auto" (a square grey image when ``n_features`` is a perfect square, else one row
    of pixels), ``(height, width)`` or ``(channels, height, width)``; a ValueError otherwise."""
    if image_shape == "auto":
        side = math.isqrt(n_features)
        return (1, side, side) if side * side == n_features else (1, 1, n_features)
    shape = tuple(image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise ValueError(
            f"image_shape={image_shape!r} must be (channels, height, width) or (height, width) in positive "
            "ints, e.g. (1, 28, 28), or 'auto'.")
    shape = tuple(int(s) for s in shape)
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={shape} holds {math.prod(shape)} values but X has {n_features} features; rows "
            "of X must be images flattened channel first.")
    return shape
