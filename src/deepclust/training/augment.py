"""Random affine augmentation of image mini-batches (DEC-DA: Guo, Zhu, Liu & Yin, ACML 2018).

DEC-DA pretrains the autoencoder on randomly rotated and shifted images and,
in the clustering phase, computes the soft assignment q of augmented images
against the target p computed from clean ones, as supervised training with
data augmentation does. :class:`ImageAugmenter` draws each mini-batch's
transforms from a generator seeded by (fit seed, phase, rank, step), so a fit
resumed from a checkpoint augments exactly as the uninterrupted one would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["ImageAugmenter", "random_affine"]

_PHASES = ("pretrain", "clustering")


def random_affine(
    x: torch.Tensor, image_shape: Sequence[int], generator: torch.Generator, *,
    max_degrees: float = 10.0, max_shift: float = 0.1,
) -> torch.Tensor:
    """Rotate and shift each flattened image of ``x`` by its own random amount.

    Rotations are uniform in +-``max_degrees``, shifts uniform in +-``max_shift``
    of the width and of the height (DEC-DA's Keras ``ImageDataGenerator``
    settings: 10 degrees, 10%); bilinear interpolation, zeros outside the
    image. ``x`` is ``(n, channels * height * width)``, channel first; the
    result has its shape and dtype. The random draws come from ``generator``
    (on the CPU), so they do not depend on the device.
    """
    n = x.shape[0]
    channels, height, width = (int(s) for s in image_shape)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_degrees)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 * max_shift)  # [-1, 1] spans the image
    cos, sin = angle.cos(), angle.sin()
    # affine_grid's coordinates run over [-1, 1] along each side, so a rotation by the angle in
    # pixels is S R S^-1 in them, S = diag(2 / width, 2 / height): plain R would shear a
    # non-square image (and turn points by other angles).
    aspect = height / width
    theta = torch.stack([torch.stack([cos, -sin * aspect, shift[:, 0]], dim=1),
                         torch.stack([sin / aspect, cos, shift[:, 1]], dim=1)], dim=1)
    images = x.float().reshape(n, channels, height, width)
    grid = F.affine_grid(theta.to(x.device), list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(n, -1).to(x.dtype)


class ImageAugmenter:
    """``augment(x, step)``: :func:`random_affine` with a generator seeded by (seed, phase, rank, step).

    ``phase`` is "pretrain" or "clustering"; ``rank`` separates the draws of
    data-parallel ranks. numpy's ``SeedSequence`` mixes the four numbers, so
    no two (phase, rank, step) of a fit share a stream.
    """

    def __init__(self, image_shape: Sequence[int], seed: int, phase: str, rank: int = 0, *,
                 max_degrees: float = 10.0, max_shift: float = 0.1):
        self.image_shape = tuple(int(s) for s in image_shape)
        self.key = (int(seed), _PHASES.index(phase), int(rank))
        self.max_degrees, self.max_shift = float(max_degrees), float(max_shift)

    def __call__(self, x: torch.Tensor, step: int) -> torch.Tensor:
        seed = np.random.SeedSequence([*self.key, int(step)]).generate_state(1, np.uint64)[0]
        generator = torch.Generator().manual_seed(int(seed) >> 1)  # manual_seed takes 63 bits
        return random_affine(x, self.image_shape, generator, max_degrees=self.max_degrees,
                             max_shift=self.max_shift)
