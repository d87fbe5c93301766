"""DBC's augmentation (DEC-DA): random rotations and shifts of the training mini-batches only."""

import shutil

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import deepclust
from deepclust import DBC
from deepclust.training.augment import ImageAugmenter, random_affine
from deepclust.training.checkpoint import FILENAME
from deepclust.nn.autoencoder import Autoencoder

SMALL = dict(channels=(8, 16), embedding_dim=3, pretrain_epochs=6, n_init=3, max_iter=60,
             update_interval=20, batch_size=32, tol=0.0, random_state=0, device="cpu")


def _digits():
    X, y = load_digits(n_class=3, return_X_y=True)
    return (X / 16).astype(np.float32), y


def test_random_affine_without_range_is_the_identity():
    x = torch.rand(5, 2 * 6 * 7)
    out = random_affine(x, (2, 6, 7), torch.Generator().manual_seed(0), max_degrees=0, max_shift=0)
    torch.testing.assert_close(out, x)


def test_random_affine_shifts_each_image_by_its_own_amount():
    x = torch.zeros(64, 1, 15, 15)
    x[:, 0, 7, 7] = 1.0  # one bright pixel at the centre
    out = random_affine(x.reshape(64, -1), (1, 15, 15), torch.Generator().manual_seed(0),
                        max_degrees=0, max_shift=0.1).reshape(64, 15, 15)
    assert out.shape == (64, 15, 15) and out.dtype == torch.float32
    rows, cols = torch.meshgrid(torch.arange(15.0), torch.arange(15.0), indexing="ij")
    mass = out.sum(dim=(1, 2))
    assert bool((mass > 0.5).all())  # a shift of at most 1.5 pixels keeps the pixel inside
    centre_r, centre_c = (out * rows).sum(dim=(1, 2)) / mass, (out * cols).sum(dim=(1, 2)) / mass
    moved = torch.stack([centre_r - 7, centre_c - 7], dim=1)
    assert float(moved.abs().max()) <= 1.5 + 1e-4  # 10% of 15 pixels
    assert len({tuple(m) for m in moved.round(decimals=3).tolist()}) > 50  # each image its own shift


def test_random_affine_rotates_non_square_images_by_the_drawn_angle():
    # The rotation was built in affine_grid's [-1, 1] coordinates, which stretch a 33 x 97 image
    # unequally: a point right of the centre turned by a few degrees, one above it by tens.
    height, width, n = 33, 97, 16
    rows, cols = torch.meshgrid(torch.arange(float(height)), torch.arange(float(width)), indexing="ij")
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2])  # (x, y)
    turned = []
    for offset in ([30.0, 0.0], [0.0, -10.0]):  # right of the centre; above it
        at = centre + torch.tensor(offset)
        blob = torch.exp(-((cols - at[0]) ** 2 + (rows - at[1]) ** 2) / (2 * 1.5**2))
        out = random_affine(blob.reshape(1, -1).repeat(n, 1), (1, height, width), torch.Generator().manual_seed(3),
                            max_degrees=10, max_shift=0).reshape(n, height, width)
        mass = out.sum(dim=(1, 2))
        moved = torch.stack([(out * cols).sum(dim=(1, 2)) / mass, (out * rows).sum(dim=(1, 2)) / mass], 1) - centre
        before = torch.tensor(offset)
        turned.append(torch.rad2deg(torch.atan2(moved[:, 1], moved[:, 0]) - torch.atan2(before[1], before[0])))
    drawn = torch.rad2deg((torch.rand(n, generator=torch.Generator().manual_seed(3)) * 2 - 1) * np.radians(10))
    assert float(drawn.abs().max()) > 5  # some draws turn far enough to tell a shear from a rotation
    for angles in turned:
        torch.testing.assert_close(angles.abs(), drawn.abs(), atol=0.5, rtol=0)
    torch.testing.assert_close(turned[0], turned[1], atol=0.5, rtol=0)


def test_augmenter_is_a_function_of_seed_phase_rank_and_step():
    x = torch.rand(8, 64)
    a = ImageAugmenter((1, 8, 8), seed=3, phase="clustering")
    torch.testing.assert_close(a(x, 5), ImageAugmenter((1, 8, 8), 3, "clustering")(x, 5))
    others = [a(x, 6), ImageAugmenter((1, 8, 8), 3, "pretrain")(x, 5),
              ImageAugmenter((1, 8, 8), 4, "clustering")(x, 5),
              ImageAugmenter((1, 8, 8), 3, "clustering", rank=1)(x, 5)]
    for other in others:
        assert not torch.allclose(other, a(x, 5))


def test_dbc_trains_on_augmented_batches_and_predicts_on_clean_images(tmp_path):
    X, y = _digits()
    plain = DBC(n_clusters=3, **SMALL).fit(X)
    augmented = DBC(n_clusters=3, augment=True, **SMALL).fit(X)
    # Both phases see other batches: the pretraining losses and the centroids differ.
    assert augmented.pretrain_history_ != plain.pretrain_history_
    assert not np.allclose(augmented.cluster_centers_, plain.cluster_centers_)
    # Full-data passes use the images as given: deterministic, and labels_ is what predict says.
    np.testing.assert_array_equal(augmented.transform(X), augmented.transform(X))
    np.testing.assert_array_equal(augmented.predict(X), augmented.labels_)
    assert len(np.unique(augmented.labels_)) == 3
    augmented.save(tmp_path / "model.pt")
    loaded = deepclust.load(tmp_path / "model.pt")
    assert loaded.augment is True
    np.testing.assert_array_equal(loaded.predict(X), augmented.labels_)


def test_augment_needs_images():
    X, _ = _digits()
    with pytest.raises(ValueError, match=r"augment=True rotates and shifts images.*\(1, 1, 64\)"):
        DBC(n_clusters=3, augment=True, image_shape=(1, 1, 64), **SMALL).fit(X)
    mlp = Autoencoder([64, 16, 3])
    with pytest.raises(ValueError, match="fully connected autoencoder"):
        DBC(n_clusters=3, augment=True, autoencoder=mlp, **SMALL).fit(X)


def test_an_augmented_fit_resumes_from_any_checkpoint_like_an_uninterrupted_one(tmp_path,
                                                                               every_checkpoint):
    X, _ = _digits()
    params = {**SMALL, "augment": True, "checkpoint_every": 25}
    plain = DBC(n_clusters=3, **params).fit(X)
    DBC(n_clusters=3, checkpoint_dir=tmp_path / "run", **params).fit(X)
    copies = list(every_checkpoint)
    assert len(copies) >= 4
    for i in (1, len(copies) // 2, len(copies) - 2):  # mid-pretraining, around the phase change, late
        directory = tmp_path / f"resume{i}"
        directory.mkdir()
        shutil.copyfile(copies[i], directory / FILENAME)
        resumed = DBC(n_clusters=3, checkpoint_dir=directory, **params).fit(X)
        np.testing.assert_array_equal(resumed.labels_, plain.labels_)
        np.testing.assert_array_equal(resumed.cluster_centers_, plain.cluster_centers_)
