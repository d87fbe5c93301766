"""IDEC: DEC's loop with the reconstruction loss kept in the clustering phase."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score

import deepclust
from deepclust import DEC, IDEC

from .conftest import FAST


def _reconstruction_error(model, X):
    ae = model.autoencoder_
    with torch.no_grad():
        x = torch.as_tensor(X, dtype=torch.float32)
        return float(F.mse_loss(ae.normalise(ae(x)), ae.normalise(x)))


@pytest.fixture(scope="module")
def pretrained(blobs_module):
    X, _ = blobs_module
    return DEC(n_clusters=3, random_state=0, **{**FAST, "max_iter": 0}).fit(X).autoencoder_


@pytest.fixture(scope="module")
def blobs_module():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=240, centers=3, n_features=6, cluster_std=1.0, random_state=0)
    return X.astype(np.float32), y


def test_idec_clusters_and_round_trips(blobs_module, tmp_path):
    X, y = blobs_module
    model = IDEC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.9
    assert model.n_iter_ > 0 and len(model.history_) >= 2
    model.save(tmp_path / "idec.pt")
    loaded = deepclust.load(tmp_path / "idec.pt")
    assert type(loaded) is IDEC and loaded.gamma == model.gamma and loaded.optimizer == "adam"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_idec_trains_the_decoder_and_keeps_reconstructing(blobs_module, pretrained):
    X, _ = blobs_module
    # The same pretrained network, the same optimiser: only the reconstruction term differs.
    common = dict(n_clusters=3, random_state=0, autoencoder=pretrained, **FAST)
    common.update(max_iter=400, tol=0.0, lr=0.05)
    dec = DEC(**common).fit(X)
    idec = IDEC(**common, optimizer="sgd", gamma=0.1).fit(X)
    assert dec.n_iter_ == idec.n_iter_ == 400
    for before, after in zip(pretrained.decoder.parameters(), dec.autoencoder_.decoder.parameters()):
        torch.testing.assert_close(after, before, rtol=0, atol=0)  # DEC never runs its decoder
    assert any(not torch.equal(a, b) for a, b in zip(pretrained.decoder.parameters(),
                                                     idec.autoencoder_.decoder.parameters()))
    start = _reconstruction_error(DEC(**{**common, "max_iter": 0}).fit(X), X)
    # DEC's clustering loss moves the encoder away from what the decoder can invert; IDEC's
    # reconstruction term holds it near the pretrained error.
    assert _reconstruction_error(idec, X) < _reconstruction_error(dec, X)
    assert _reconstruction_error(idec, X) < 2 * start


def test_idec_with_a_frozen_encoder_is_dec_without_backprop(blobs_module, pretrained):
    X, _ = blobs_module
    common = dict(n_clusters=3, random_state=0, autoencoder=copy.deepcopy(pretrained),
                  freeze_encoder=True, lr=0.01, momentum=0.9, **FAST)
    dec = DEC(**common).fit(X)
    idec = IDEC(**common, optimizer="sgd").fit(X)
    np.testing.assert_array_equal(idec.cluster_centers_, dec.cluster_centers_)
    np.testing.assert_array_equal(idec.labels_, dec.labels_)


def test_idec_loss_weights_reach_the_loop(blobs_module, pretrained):
    X, _ = blobs_module
    # A vanishing clustering weight leaves the centroids where k-means put them (their only
    # gradient is the clustering term's), whatever the reconstruction term does.
    common = dict(n_clusters=3, random_state=0, autoencoder=pretrained, max_iter=100, tol=0.0,
                  **{k: v for k, v in FAST.items() if k != "max_iter"})
    start = DEC(**{**common, "max_iter": 0}).fit(X).cluster_centers_
    tiny = IDEC(**common, gamma=1e-30, optimizer="sgd").fit(X).cluster_centers_
    np.testing.assert_allclose(tiny, start, atol=1e-6)
    moved = IDEC(**common, gamma=1.0, optimizer="sgd").fit(X).cluster_centers_
    assert np.abs(moved - start).max() > 1e-4


@pytest.mark.parametrize("bad, match", [({"gamma": 0}, "gamma"), ({"gamma": -1}, "gamma"), ({"gamma": 1e39}, "gamma"),
                                        ({"optimizer": "rmsprop"}, "optimizer")])
def test_idec_refuses_bad_parameters(blobs_module, bad, match):
    with pytest.raises(ValueError, match=match):
        IDEC(n_clusters=3, **FAST, **bad).fit(blobs_module[0])


def test_idec_trains_a_given_autoencoders_frozen_decoder(blobs_module, pretrained):
    X, _ = blobs_module
    given = copy.deepcopy(pretrained)
    for p in given.decoder.parameters():
        p.requires_grad_(False)
    model = IDEC(n_clusters=3, random_state=0, autoencoder=given, **{**FAST, "max_iter": 50}).fit(X)
    assert any(not torch.equal(a, b) for a, b in zip(given.decoder.parameters(),
                                                     model.autoencoder_.decoder.parameters()))
