"""DEPICT's network: a denoising autoencoder with a clean and a noisy encoder path, and a softmax
head on its embedding (Ghasedi Dizaji et al., ICCV 2017).

The encoder is convolutional for images (one strided convolution per entry of ``widths``, then a
linear layer) or fully connected for vectors (one linear layer per entry of ``widths``, then the
embedding layer). Hidden layers are leaky ReLUs, the embedding is tanh and has one unit per
cluster. The same weights serve two paths: the *noisy* one applies dropout to the input and to
every hidden layer, the *clean* one applies none. The decoder mirrors the encoder and, run on the
noisy embedding, gives a reconstruction of every encoder level (the input and each hidden layer),
which the ladder-style loss compares with the clean path's activations. The softmax head maps the
embedding to the cluster probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DepictNetwork", "build_depict_from_state"]

_SLOPE = 0.01  # the leaky ReLUs' negative slope


def _conv_sizes(image_shape: Sequence[int], n_convs: int) -> list[tuple[int, int]]:
    """Height and width of the input and of each convolution's output: the first convolution is
    4 x 4 with padding 1, the others 5 x 5 with padding 2, all of stride 2 (each halves the map)."""
    sizes = [tuple(image_shape[1:])]
    for i in range(n_convs):
        k, pad = (4, 1) if i == 0 else (5, 2)
        sizes.append(tuple((s + 2 * pad - k) // 2 + 1 for s in sizes[-1]))
    return sizes


def conv_fits(image_shape: Sequence[int], n_convs: int) -> bool:
    """Whether every convolution's output map of an ``image_shape`` input is at least 1 x 1."""
    return min(min(s) for s in _conv_sizes(image_shape, n_convs)) >= 1


class DepictNetwork(nn.Module):
    """DEPICT's autoencoder and softmax head.

    Parameters
    ----------
    n_features : int
        Width of the input rows.
    n_clusters : int
        Number of clusters: the width of the embedding and of the softmax.
    widths : sequence of int
        Channels of the convolutions (``image_shape`` given) or widths of the hidden layers.
    image_shape : tuple of int or None
        ``(channels, height, width)`` of the images the rows flatten, channel first; None for the
        fully connected network.
    dropout : float
        Dropout rate of the noisy path, on the input and on every hidden layer.
    input_scale : float
        The network sees ``input_scale * x`` and reconstructs in those units (as
        :class:`~deepclust.nn.autoencoder.Autoencoder`); a buffer, saved with the weights.
    """

    def __init__(self, n_features: int, n_clusters: int, widths: Sequence[int], image_shape=None,
                 dropout: float = 0.1, input_scale: float = 1.0):
        super().__init__()
        self.n_features, self.n_clusters = int(n_features), int(n_clusters)
        self.widths = tuple(int(w) for w in widths)
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self.dropout = float(dropout)
        self.dims = (self.n_features, self.n_clusters)
        if not self.widths or min(self.widths) < 1 or self.n_clusters < 1:
            raise ValueError(f"widths={widths!r} and n_clusters={n_clusters!r} must be positive.")
        encoder, decoder = [], []
        if self.image_shape is None:
            sizes = (self.n_features, *self.widths)
            for a, b in zip(sizes[:-1], sizes[1:]):
                encoder.append(nn.Linear(a, b))
                decoder.insert(0, nn.Linear(b, a))
            flat = self.widths[-1]
            self.widest = max(self.n_features, *self.widths)
        else:
            if len(self.image_shape) != 3 or math.prod(self.image_shape) != self.n_features:
                raise ValueError(f"image_shape={image_shape!r} is not (channels, height, width) of "
                                 f"{self.n_features} features.")
            if not conv_fits(self.image_shape, len(self.widths)):
                raise ValueError(f"image_shape={self.image_shape} is too small for {len(self.widths)} "
                                 "convolutions of stride 2.")
            sizes = _conv_sizes(self.image_shape, len(self.widths))
            c_in = self.image_shape[0]
            for i, c_out in enumerate(self.widths):
                k, pad = (4, 1) if i == 0 else (5, 2)
                encoder.append(nn.Conv2d(c_in, c_out, k, stride=2, padding=pad))
                # output_padding gives back the exact size this convolution halved.
                out_pad = tuple(big - ((small - 1) * 2 - 2 * pad + k) for big, small in zip(sizes[i], sizes[i + 1]))
                decoder.insert(0, nn.ConvTranspose2d(c_out, c_in, k, stride=2, padding=pad,
                                                     output_padding=out_pad))
                c_in = c_out
            self._code_shape = (self.widths[-1], *sizes[-1])
            flat = math.prod(self._code_shape)
            # Floats a row takes at the widest level, for the chunks of a full-data pass.
            self.widest = max(c * h * w for c, (h, w) in zip((self.image_shape[0], *self.widths), sizes))
        self.encoder = nn.ModuleList([*encoder, nn.Linear(flat, self.n_clusters)])
        self.decoder = nn.ModuleList([nn.Linear(self.n_clusters, flat), *decoder])
        self.head = nn.Linear(self.n_clusters, self.n_clusters)
        scale32 = float(torch.tensor(float(input_scale), dtype=torch.float32))
        if not (math.isfinite(scale32) and scale32 > 0):
            raise ValueError(f"input_scale={input_scale!r} must be a positive number finite in float32.")
        self.register_buffer("input_scale", torch.tensor(float(input_scale)))

    def config(self) -> dict:
        """What rebuilds this network's architecture (saved with a model)."""
        return {"kind": "depict", "n_features": self.n_features, "n_clusters": self.n_clusters,
                "widths": list(self.widths), "dropout": self.dropout,
                "image_shape": None if self.image_shape is None else list(self.image_shape)}

    def levels(self, x: torch.Tensor, noisy: bool) -> list[torch.Tensor]:
        """The encoder's activations of ``x``: the normalised input, each hidden layer (as images
        for the convolutional network), then the embedding. ``noisy`` drops out the input of every
        layer but the embedding's own output."""
        h = x * self.input_scale
        if self.image_shape is not None:
            h = h.reshape(-1, *self.image_shape)
        out = [h]
        last = len(self.encoder) - 1
        for i, layer in enumerate(self.encoder):
            if noisy:
                h = F.dropout(h, self.dropout, training=True)
            if i == last:
                h = torch.tanh(layer(h.flatten(1)))
            else:
                h = F.leaky_relu(layer(h), _SLOPE)
            out.append(h)
        return out

    def reconstructions(self, z: torch.Tensor) -> list[torch.Tensor]:
        """The decoder's reconstruction of each encoder level below the embedding, in the order
        of :meth:`levels` (the input first)."""
        h = F.leaky_relu(self.decoder[0](z), _SLOPE)
        if self.image_shape is not None:
            h = h.reshape(-1, *self._code_shape)
        out = [h]
        last = len(self.decoder) - 1
        for j, layer in enumerate(self.decoder[1:], start=1):
            h = layer(h)
            if j < last:  # the input's reconstruction is linear
                h = F.leaky_relu(h, _SLOPE)
            out.append(h)
        return out[::-1]

    def ladder_loss(self, x: torch.Tensor, hidden_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The noisy path's reconstruction error against the clean path, level by level: the mean
        squared error of the input (weight 1) plus ``hidden_weight`` times that of each hidden
        layer. The clean activations are targets (no gradient flows into them). Returns the loss
        and the noisy embedding, on which the clustering loss is taken."""
        with torch.no_grad():
            clean = self.levels(x, noisy=False)
        noisy_z = self.levels(x, noisy=True)[-1]
        recons = self.reconstructions(noisy_z)
        loss = F.mse_loss(recons[0].float(), clean[0].float())
        for r, c in zip(recons[1:], clean[1:-1]):
            loss = loss + hidden_weight * F.mse_loss(r.float(), c.float())
        return loss, noisy_z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The clean embedding."""
        return self.levels(x, noisy=False)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The clean softmax: each row's cluster probabilities."""
        return torch.softmax(self.head(self.encode(x)).float(), dim=1)


def build_depict_from_state(config: dict, state: dict) -> DepictNetwork:
    """The untrained network that ``config()`` describes (deepclust.nn.build)."""
    return DepictNetwork(int(config["n_features"]), int(config["n_clusters"]), config["widths"],
                         config.get("image_shape"), float(config["dropout"]), float(state["input_scale"]))
