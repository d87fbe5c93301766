"""``deepclust.autoencoder``, kept for code written before the networks and their training had
folders of their own: the networks are :mod:`deepclust.nn.autoencoder`, their pretraining
:mod:`deepclust.training.pretraining`."""

from .nn.autoencoder import Autoencoder, ConvAutoencoder, build_autoencoder, reconstruction_mse
from .training.pretraining import adam, pretrain_end_to_end, pretrain_layerwise

__all__ = ["Autoencoder", "ConvAutoencoder", "build_autoencoder", "pretrain_end_to_end", "pretrain_layerwise",
           "adam", "reconstruction_mse"]
