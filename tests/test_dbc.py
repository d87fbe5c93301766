"""DBC: DEC on a convolutional autoencoder, and the ConvAutoencoder itself."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

import deepclust
from deepclust import DBC
from deepclust.nn.autoencoder import ConvAutoencoder, build_autoencoder

SMALL = dict(channels=(16, 32), embedding_dim=3, pretrain_epochs=50, n_init=3, max_iter=100,
             batch_size=32)


def _digits():
    """Three classes of scikit-learn's 8x8 digits (537 images), pixels in [0, 1]."""
    X, y = load_digits(n_class=3, return_X_y=True)
    return (X / 16).astype(np.float32), y


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8), (1, 1, 5), (3, 7, 9)])
def test_conv_autoencoder_keeps_any_image_shape(shape):
    ae = ConvAutoencoder(shape, channels=(4, 8, 16), embedding_dim=5)
    x = torch.randn(6, int(np.prod(shape)))
    assert ae.encode(x).shape == (6, 5)
    assert ae(x).shape == x.shape
    # Rows are images flattened channel first: the first layer sees them as (C, H, W).
    first = next(ae.layer_outputs(x))
    torch.testing.assert_close(first, F.relu(ae.encoder[0](x.reshape(6, *shape))))
    again = build_autoencoder(ae.config())
    again.load_state_dict(ae.state_dict())
    torch.testing.assert_close(again(x), ae(x))


def test_conv_autoencoder_batch_norm():
    x = torch.randn(6, 64)
    ae = ConvAutoencoder((1, 8, 8), channels=(4, 8), embedding_dim=3, batch_norm=True)
    norms = [m for m in ae.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [n.num_features for n in norms] == [4, 8, 4]  # two convolutions, one transposed one
    assert isinstance(ae.decoder[-1], torch.nn.ConvTranspose2d)  # the reconstruction stays linear
    assert all(any(n is m for m in ae.encoder.modules()) or any(n is m for m in ae.decoder.modules())
               for n in norms)  # frozen and optimised with the encoder / decoder
    ae(x)  # a training-mode pass moves the running statistics
    ae.eval()
    again = build_autoencoder(ae.config())
    again.load_state_dict(ae.state_dict())
    torch.testing.assert_close(again.eval()(x), ae(x))
    # A configuration saved before batch norm existed builds the plain network.
    old = {k: v for k, v in ae.config().items() if k != "batch_norm"}
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in build_autoencoder(old).modules())


def test_conv_autoencoder_refuses_bad_shapes():
    with pytest.raises(ValueError, match="image_shape"):
        ConvAutoencoder((28, 28))
    with pytest.raises(ValueError, match="channels"):
        ConvAutoencoder((1, 8, 8), channels=())


@pytest.mark.parametrize("batch_norm", [True, False])
def test_dbc_clusters_images_and_round_trips(tmp_path, batch_norm):
    X, y = _digits()
    model = DBC(n_clusters=3, random_state=0, batch_norm=batch_norm, **SMALL).fit(X)
    assert model.image_shape_ == (1, 8, 8)
    assert isinstance(model.autoencoder_, ConvAutoencoder)
    assert adjusted_rand_score(y, model.labels_) > 0.7  # measured 0.82 (float32)
    model.save(tmp_path / "dbc.pt")
    loaded = deepclust.load(tmp_path / "dbc.pt")
    assert type(loaded) is DBC and loaded.image_shape_ == (1, 8, 8)
    assert isinstance(loaded.autoencoder_, ConvAutoencoder) and loaded.channels == (16, 32)
    assert loaded.autoencoder_.batch_norm is batch_norm
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_dbc_image_shape():
    X = _digits()[0][:40]
    ok = dict(SMALL, pretrain_epochs=1, max_iter=0)
    assert DBC(n_clusters=3, image_shape=(8, 8), **ok).fit(X).image_shape_ == (1, 8, 8)
    assert DBC(n_clusters=3, image_shape=(1, 1, 64), **ok).fit(X).image_shape_ == (1, 1, 64)
    assert DBC(n_clusters=3, **ok).fit(X[:, :63]).image_shape_ == (1, 1, 63)  # not a square
    with pytest.raises(ValueError, match="holds 192 values but X has 64 features"):
        DBC(n_clusters=3, image_shape=(3, 8, 8), **ok).fit(X)
    with pytest.raises(ValueError, match="image_shape"):
        DBC(n_clusters=3, image_shape=(0, 8, 8), **ok).fit(X)
    with pytest.raises(ValueError, match="channels"):
        DBC(n_clusters=3, **{**ok, "channels": (4, -1)}).fit(X)
    with pytest.raises(ValueError, match="pretrain"):
        DBC(n_clusters=3, pretrain="layerwise", **ok).fit(X)


def test_dbc_from_a_given_autoencoder_reports_its_shape():
    X = _digits()[0][:60]
    given = ConvAutoencoder((1, 4, 16), channels=(4,), embedding_dim=3)
    ok = dict(SMALL, max_iter=0, channels=())  # unused, so not checked
    model = DBC(n_clusters=3, autoencoder=given, image_shape=(8, 8), **ok).fit(X)
    assert model.image_shape_ == (1, 4, 16)  # the network's, not the unused parameter's
    assert model.autoencoder_.image_shape == (1, 4, 16)


def test_dbc_from_a_fully_connected_autoencoder_round_trips(tmp_path):
    # Its image_shape_ is None, which load turned into tuple(None) and refused as a damaged file.
    X = _digits()[0][:60]
    given = build_autoencoder({"kind": "mlp", "dims": [64, 16, 3]})
    model = DBC(n_clusters=3, autoencoder=given, random_state=0, **dict(SMALL, max_iter=5, channels=())).fit(X)
    assert model.image_shape_ is None
    model.save(tmp_path / "dbc_mlp.pt")
    loaded = deepclust.load(tmp_path / "dbc_mlp.pt")
    assert loaded.image_shape_ is None
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_dbc_batch_norm_in_the_clustering_phase():
    """The clustering phase trains batch norm on batch statistics whatever mode the given
    network is in (a fitted model's autoencoder_ is in eval mode), and a frozen encoder keeps
    its weights and running statistics."""
    X = _digits()[0][:120]
    torch.manual_seed(0)
    given = ConvAutoencoder((1, 8, 8), channels=(4, 8), embedding_dim=3, batch_norm=True)
    given.train()(torch.as_tensor(X))  # running statistics that are not the initial ones
    ok = dict(SMALL, max_iter=20, update_interval=5, tol=0.0)
    as_train = DBC(n_clusters=3, autoencoder=given.train(), random_state=0, **ok).fit(X)
    as_eval = DBC(n_clusters=3, autoencoder=given.eval(), random_state=0, **ok).fit(X)
    np.testing.assert_array_equal(as_eval.cluster_centers_, as_train.cluster_centers_)
    frozen = DBC(n_clusters=3, autoencoder=given, freeze_encoder=True, random_state=0, **ok).fit(X)
    before, after = given.encoder.state_dict(), frozen.autoencoder_.encoder.state_dict()
    assert any("running_mean" in name for name in before)
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0)


def test_a_dbc_file_from_before_batch_norm_loads_without_it(tmp_path):
    """Files saved before DBC had batch norm name neither the parameter nor the network's norm:
    the loaded model keeps the plain network and says so (a refit does not add one)."""
    import json

    X = _digits()[0][:60]
    model = DBC(n_clusters=3, batch_norm=False, random_state=0, **dict(SMALL, max_iter=0)).fit(X)
    path = tmp_path / "old.pt"
    model.save(path)
    payload = torch.load(path, weights_only=True)
    config = json.loads(payload["config"])
    del config["params"]["batch_norm"], config["architecture"]["batch_norm"]
    payload["config"] = json.dumps(config)
    torch.save(payload, path)
    loaded = deepclust.load(path)
    assert loaded.batch_norm is False and loaded.autoencoder_.batch_norm is False
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_one_pixel_wide_maps_train_reproducibly_under_bfloat16():
    """Under CPU bfloat16 autocast, torch 2.13 gives a convolution whose input is one pixel wide
    uninitialised weight gradients; those layers run in float32, so repeated steps agree."""
    torch.manual_seed(0)
    ae = ConvAutoencoder((1, 4, 4), channels=(8, 16, 32), embedding_dim=3)  # maps 4, 2, 1 wide
    assert ae._float32_layers == (False, False, True)
    x = torch.rand(8, 16)
    grads = []
    for i in range(10):
        junk = torch.full((4096 * (i + 1),), 1e30)  # leaves other values in freed memory
        del junk
        ae.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z = ae.encode(x)
        z.float().pow(2).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in ae.encoder.parameters()]))
        assert torch.isfinite(grads[-1]).all()
    for g in grads[1:]:
        torch.testing.assert_close(g, grads[0], rtol=0, atol=0)
