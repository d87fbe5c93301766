"""The autoencoders: the MLP of the DEC paper (section 3.2) and DBC's convolutional one.

``Autoencoder(dims)`` stacks fully connected layers ``dims[0] -> ... -> dims[-1]``
and mirrors them in the decoder. Every layer is followed by a ReLU except the
embedding layer and the reconstruction layer, which are linear. How they are
pretrained is :mod:`deepclust.training.pretraining`'s.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import islice

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Autoencoder", "ConvAutoencoder", "build_autoencoder", "reconstruction_mse"]


class Autoencoder(nn.Module):
    """Symmetric fully connected autoencoder.

    Parameters
    ----------
    dims : sequence of int
        Layer widths from the input to the embedding, e.g. the paper's
        ``(d, 500, 500, 2000, 10)``.
    input_scale : float, default=1.0
        The network sees ``input_scale * x`` and its reconstruction is divided
        by it again, so it works in normalised units while taking and giving
        back the data as they are. DEC sets it to the paper's normalisation,
        (1/d)||x||^2 = 1 on average over the training data. A buffer: it is
        saved with the weights.
    """

    def __init__(self, dims: Sequence[int], input_scale: float = 1.0):
        super().__init__()
        dims = tuple(int(d) for d in dims)
        if len(dims) < 2 or min(dims) < 1:
            raise ValueError(f"dims must hold at least two positive widths, got {dims}.")
        # Checked as the float32 the buffer holds: 1e39 is finite in Python but inf there.
        scale32 = float(torch.tensor(float(input_scale), dtype=torch.float32))
        if not (math.isfinite(scale32) and scale32 > 0):
            raise ValueError(
                f"input_scale={input_scale!r} must be a positive number that is finite in float32."
            )
        self.dims = dims
        pairs = list(zip(dims[:-1], dims[1:]))
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        # decoder[j] undoes encoder[L - 1 - j]: it maps the embedding back to the input.
        self.decoder = nn.ModuleList(nn.Linear(b, a) for a, b in reversed(pairs))
        self.register_buffer("input_scale", torch.tensor(float(input_scale)))

    @property
    def n_layers(self) -> int:
        return len(self.encoder)

    def config(self) -> dict:
        """What rebuilds this network's architecture (saved with a model)."""
        return {"kind": "mlp", "dims": list(self.dims)}

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the network's units: ``input_scale * x``."""
        return x * self.input_scale

    def layer_outputs(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """The output of each encoder layer in turn; the last one is the embedding."""
        last = self.n_layers - 1
        x = self.normalise(x)
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if i < last:  # the embedding layer is linear
                x = F.relu(x)
            yield x

    def encode(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """The embedding z = f(x); with ``upto=i``, the output of the first i layers."""
        z = x
        for z in islice(self.layer_outputs(x), upto):
            pass
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The reconstruction of the input from the embedding, in the data's units."""
        last = self.n_layers - 1
        for j, layer in enumerate(self.decoder):
            z = layer(z)
            if j < last:  # the reconstruction layer is linear
                z = F.relu(z)
        return z / self.input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class _BatchNorm2d(nn.BatchNorm2d):
    """Batch norm that also takes a batch with one value per channel (one image whose maps are
    1 x 1, as a mini-batch's remainder can be): that batch has no variance, so it is normalised
    with the running statistics, which it leaves as they are."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] < 2:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                False, 0.0, self.eps)
        return super().forward(x)


class ConvAutoencoder(Autoencoder):
    """Convolutional autoencoder for images given as flat rows.

    The encoder is one convolution per entry of ``channels`` (5x5, stride 2,
    "same" padding, ReLU; the last one 3x3), halving the image each time,
    then a linear layer to the embedding; the decoder mirrors it with
    transposed convolutions and a linear reconstruction layer. This is the
    shape of DCEC's network (conv 32-64-128, embedding 10); ``batch_norm``
    adds the batch normalisation of DBC's fully convolutional one.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of one image; rows of X are images
        flattened in that order (``images.reshape(n, -1)`` of an
        ``(n, C, H, W)`` array).
    channels : sequence of int, default=(32, 64, 128)
        Output channels of the encoder's convolutions.
    embedding_dim : int, default=10
        Dimension of the embedding.
    input_scale : float, default=1.0
        As :class:`Autoencoder`'s.
    batch_norm : bool, default=False
        Batch normalisation after every convolution but the reconstruction
        layer (before its ReLU). Each such layer is then
        ``Sequential(conv, norm)``, so the norms belong to the encoder and
        decoder (frozen and trained with them), and their running statistics
        are saved with the weights.
    """

    def __init__(self, image_shape: Sequence[int], channels: Sequence[int] = (32, 64, 128),
                 embedding_dim: int = 10, input_scale: float = 1.0, batch_norm: bool = False):
        shape = tuple(int(s) for s in image_shape)
        channels = tuple(int(c) for c in channels)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"image_shape must be (channels, height, width), got {image_shape!r}.")
        if not channels or min(channels) < 1 or embedding_dim < 1:
            raise ValueError(f"channels={channels!r} and embedding_dim={embedding_dim!r} must be positive.")
        n_features = shape[0] * shape[1] * shape[2]
        super().__init__((n_features, embedding_dim), input_scale)  # validates the scale
        self.image_shape, self.channels, self.embedding_dim = shape, channels, int(embedding_dim)
        self.batch_norm = bool(batch_norm)

        def normed(conv: nn.Module, width: int) -> nn.Module:
            return nn.Sequential(conv, _BatchNorm2d(width)) if self.batch_norm else conv
        sizes = [shape[1:]]
        convs, deconvs = [], []
        c_in = shape[0]
        for i, c_out in enumerate(channels):
            k, pad = (3, 1) if i == len(channels) - 1 else (5, 2)
            h, w = sizes[-1]
            sizes.append(((h + 2 * pad - k) // 2 + 1, (w + 2 * pad - k) // 2 + 1))
            convs.append(normed(nn.Conv2d(c_in, c_out, k, stride=2, padding=pad), c_out))
            # Undoes this convolution; output_padding restores the exact size it halved. The
            # first one (undoing the first convolution) is the linear reconstruction layer.
            out_pad = tuple(big - ((small - 1) * 2 - 2 * pad + k) for big, small in zip(sizes[-2], sizes[-1]))
            deconv = nn.ConvTranspose2d(c_out, c_in, k, stride=2, padding=pad, output_padding=out_pad)
            deconvs.append(normed(deconv, c_in) if i > 0 else deconv)
            c_in = c_out
        self._code_shape = (channels[-1], *sizes[-1])
        # Convolutions whose input maps are one pixel wide run in float32 even under autocast:
        # on CPU (torch 2.13) bfloat16 gives their weight gradients uninitialised values, so
        # training was not reproducible and could diverge. Such maps are tiny; float32 costs
        # nothing there.
        self._float32_layers = tuple(w == 1 for _, w in sizes[:-1])
        flat = channels[-1] * sizes[-1][0] * sizes[-1][1]
        self.encoder = nn.ModuleList([*convs, nn.Linear(flat, embedding_dim)])
        self.decoder = nn.ModuleList([nn.Linear(embedding_dim, flat), *reversed(deconvs)])

    def config(self) -> dict:
        return {"kind": "conv", "image_shape": list(self.image_shape), "channels": list(self.channels),
                "embedding_dim": self.embedding_dim, "batch_norm": self.batch_norm}

    def layer_outputs(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        x = self.normalise(x).reshape(-1, *self.image_shape)
        for layer, exact in zip(self.encoder[:-1], self._float32_layers):
            if exact:
                with torch.autocast(x.device.type, enabled=False):
                    x = F.relu(layer(x.float()))
            else:
                x = F.relu(layer(x))
            yield x
        yield self.encoder[-1](x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.decoder[0](z)).reshape(-1, *self._code_shape)
        last = len(self.decoder) - 1
        for j, layer in enumerate(self.decoder[1:], start=1):
            x = layer(x)
            if j < last:
                x = F.relu(x)
        return x.flatten(1) / self.input_scale


def reconstruction_mse(ae: Autoencoder, recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error of a reconstruction, in the network's normalised units: end-to-end
    pretraining's loss, and the network loss of the joint clustering methods."""
    return F.mse_loss(ae.normalise(recon), ae.normalise(x))


def build_autoencoder(config: dict, input_scale: float = 1.0) -> Autoencoder:
    """The network that ``config()`` describes (untrained), for loading a model."""
    kind = config.get("kind", "mlp")
    if kind == "mlp":
        return Autoencoder(config["dims"], input_scale)
    if kind == "conv":
        return ConvAutoencoder(config["image_shape"], config["channels"], int(config["embedding_dim"]),
                               input_scale, bool(config.get("batch_norm", False)))
    raise ValueError(f"unknown autoencoder kind {kind!r}")


def build_autoencoder_from_state(config: dict, state: dict) -> Autoencoder:
    """:func:`build_autoencoder` with the input scale the saved weights hold (deepclust.nn.build)."""
    return build_autoencoder(config, float(state["input_scale"]))
