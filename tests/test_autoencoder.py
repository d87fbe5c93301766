"""The MLP autoencoder and its two pretraining schemes, trained for real on small data."""

import warnings

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from deepclust.data.batches import BatchSource
from deepclust.nn.autoencoder import Autoencoder
from deepclust.training.pretraining import _check_not_collapsed, _paper_init
from deepclust.training.pretraining import pretrain_end_to_end, pretrain_layerwise

CPU = torch.device("cpu")


def _mse(ae, X):
    x = torch.as_tensor(X)
    with torch.no_grad():
        return F.mse_loss(ae(x), x).item()


# ------------------------------------------------------------- architecture


def test_shapes_of_encode_decode_forward():
    torch.manual_seed(0)
    ae = Autoencoder((8, 6, 4, 2))
    assert ae.dims == (8, 6, 4, 2)
    assert ae.n_layers == 3
    assert [(m.in_features, m.out_features) for m in ae.encoder] == [(8, 6), (6, 4), (4, 2)]
    assert [(m.in_features, m.out_features) for m in ae.decoder] == [(2, 4), (4, 6), (6, 8)]
    x = torch.randn(5, 8)
    z = ae.encode(x)
    assert z.shape == (5, 2)
    assert ae.decode(z).shape == (5, 8)
    assert ae(x).shape == (5, 8)
    torch.testing.assert_close(ae(x), ae.decode(ae.encode(x)))
    assert ae.encode(x, upto=1).shape == (5, 6)
    assert ae.encode(x, upto=2).shape == (5, 4)
    torch.testing.assert_close(ae.encode(x, upto=3), z)


def test_dims_accepts_any_int_sequence():
    ae = Autoencoder([np.int64(5), 3])
    assert ae.dims == (5, 3)
    assert ae.n_layers == 1
    assert ae(torch.zeros(2, 5)).shape == (2, 5)


def test_hidden_layers_relu_embedding_and_reconstruction_linear():
    torch.manual_seed(0)
    ae = Autoencoder((8, 6, 4, 2))
    x = torch.randn(200, 8) * 3
    # Hidden layers end in a ReLU.
    assert torch.all(ae.encode(x, upto=1) >= 0)
    assert torch.all(ae.encode(x, upto=2) >= 0)
    # The embedding layer is linear: z takes negative values and equals the
    # last Linear applied to the last hidden code, with no activation.
    z = ae.encode(x)
    assert (z < 0).any()
    torch.testing.assert_close(z, ae.encoder[2](ae.encode(x, upto=2)))
    # The reconstruction layer is linear too, the decoder's hidden layers ReLU.
    out = ae(x)
    assert (out < 0).any()
    h = F.relu(ae.decoder[1](F.relu(ae.decoder[0](z))))
    torch.testing.assert_close(out, ae.decoder[2](h))


def test_single_layer_autoencoder_is_linear():
    torch.manual_seed(0)
    ae = Autoencoder((4, 2))
    x = torch.randn(50, 4)
    torch.testing.assert_close(ae(x), ae.decoder[0](ae.encoder[0](x)))
    assert (ae.encode(x) < 0).any()


@pytest.mark.parametrize("dims", [(), (5,), (5, 0), (0, 3), (4, -1, 2)])
def test_invalid_dims_raise(dims):
    with pytest.raises(ValueError, match="dims"):
        Autoencoder(dims)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("inf"), float("nan"), 1e39])
def test_invalid_input_scale_raises(scale):
    with pytest.raises(ValueError, match="input_scale"):
        Autoencoder((4, 2), input_scale=scale)


def test_input_scale_normalises_inside_and_returns_the_data_units():
    torch.manual_seed(0)
    plain = Autoencoder((8, 6, 2))
    scaled = Autoencoder((8, 6, 2), input_scale=0.25)
    scaled.load_state_dict({**plain.state_dict(), "input_scale": torch.tensor(0.25)})
    x = torch.randn(5, 8)
    torch.testing.assert_close(scaled.normalise(x), 0.25 * x)
    torch.testing.assert_close(scaled.encode(x), plain.encode(0.25 * x))
    torch.testing.assert_close(scaled(x), plain(0.25 * x) / 0.25)
    # A buffer, not a parameter: saved with the weights, never trained.
    assert "input_scale" in scaled.state_dict()
    assert all(p.dim() > 0 for p in scaled.parameters())


# ------------------------------------------------------------- pretraining


def test_pretrain_end_to_end_lowers_reconstruction_loss(blobs):
    X, _ = blobs
    torch.manual_seed(0)
    ae = Autoencoder((X.shape[1], 16, 3))
    before = _mse(ae, X)
    losses = pretrain_end_to_end(
        ae, BatchSource(X, CPU), epochs=15, batch_size=32, lr=1e-2,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(losses) == 15  # one mean per epoch
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0]
    after = _mse(ae, X)
    assert after < 0.5 * before
    # The last epoch's mean is of the same order as the final full-data error.
    assert after == pytest.approx(losses[-1], rel=0.5)


def test_pretrain_end_to_end_zero_epochs_trains_nothing(blobs):
    X, _ = blobs
    torch.manual_seed(0)
    ae = Autoencoder((X.shape[1], 4, 2))
    before = {k: v.clone() for k, v in ae.state_dict().items()}
    losses = pretrain_end_to_end(
        ae, BatchSource(X, CPU), epochs=0, batch_size=32, lr=1e-2,
        generator=torch.Generator().manual_seed(0),
    )
    assert losses == []
    for k, v in ae.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_pretrain_end_to_end_reproducible_with_seeded_generator(blobs):
    X, _ = blobs
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        ae = Autoencoder((X.shape[1], 8, 2))
        losses = pretrain_end_to_end(
            ae, BatchSource(X, CPU), epochs=3, batch_size=32, lr=1e-2,
            generator=torch.Generator().manual_seed(7),
        )
        runs.append((losses, ae.encode(torch.as_tensor(X)).detach()))
    assert runs[0][0] == runs[1][0]
    torch.testing.assert_close(runs[0][1], runs[1][1], rtol=0, atol=0)


def test_paper_init():
    torch.manual_seed(0)
    ae = Autoencoder((50, 400, 3))
    _paper_init(ae)
    for m in list(ae.encoder) + list(ae.decoder):
        assert torch.all(m.bias == 0)
        assert m.weight.std().item() == pytest.approx(0.01, rel=0.1)
        assert abs(m.weight.mean().item()) < 2e-3


@pytest.mark.parametrize("dims_hidden", [(32,), (16, 8)])
def test_pretrain_layerwise_lowers_error_vs_paper_init(blobs, dims_hidden):
    X, _ = blobs
    dims = (X.shape[1], *dims_hidden, 3)
    torch.manual_seed(0)
    baseline = Autoencoder(dims)
    _paper_init(baseline)  # untrained, as pretrain_layerwise starts
    before = _mse(baseline, X)

    torch.manual_seed(0)
    ae = Autoencoder(dims)
    batch_size, layer_iter, finetune_iter = 32, 200, 200
    losses = pretrain_layerwise(
        ae, BatchSource(X, CPU), layer_iter=layer_iter, finetune_iter=finetune_iter,
        lr=0.1, lr_step=100, dropout=0.2, batch_size=batch_size,
        generator=torch.Generator().manual_seed(0),
    )
    # One mean per epoch (the last one possibly partial) of each stage:
    # n_layers layer-wise stages, then the fine-tuning.
    per_epoch = -(-X.shape[0] // batch_size)
    per_stage = -(-layer_iter // per_epoch)
    n_layers = len(dims) - 1
    assert len(losses) == n_layers * per_stage + -(-finetune_iter // per_epoch)
    assert all(np.isfinite(losses))
    after = _mse(ae, X)
    assert np.isfinite(after)
    assert after < 0.5 * before
    # The last reported value is the fine-tuning's reconstruction error, on the paper's
    # scale: (1/2)||x - y||^2 summed over features, i.e. d/2 times the mean squared error.
    assert 0.5 * X.shape[1] * after == pytest.approx(losses[-1], rel=0.5)


def test_pretrain_layerwise_with_zero_iterations_is_paper_init(blobs):
    X, _ = blobs
    torch.manual_seed(0)
    ae = Autoencoder((X.shape[1], 8, 2))
    losses = pretrain_layerwise(
        ae, BatchSource(X, CPU), layer_iter=0, finetune_iter=0, lr=0.1, lr_step=10,
        dropout=0.2, batch_size=32, generator=torch.Generator().manual_seed(0),
    )
    assert losses == []
    for m in list(ae.encoder) + list(ae.decoder):
        assert torch.all(m.bias == 0)
        assert m.weight.abs().max().item() < 0.1


def test_non_finite_loss_raises_floating_point_error(blobs):
    X, _ = blobs
    # Representable in float32, but the squared error overflows to inf.
    X_huge = X * np.float32(1e30)
    assert np.all(np.isfinite(X_huge))
    torch.manual_seed(0)
    ae = Autoencoder((X.shape[1], 4, 2))
    with pytest.raises(FloatingPointError, match=r"(?i)learning rate|scale"):
        pretrain_end_to_end(
            ae, BatchSource(X_huge, CPU), epochs=2, batch_size=32, lr=1e-3,
            generator=torch.Generator().manual_seed(0),
        )


def test_non_finite_loss_raises_in_layerwise_pretraining(blobs):
    X, _ = blobs
    X_huge = X * np.float32(1e30)
    torch.manual_seed(0)
    ae = Autoencoder((X.shape[1], 4, 2))
    with pytest.raises(FloatingPointError, match=r"(?i)learning rate|scale"):
        pretrain_layerwise(
            ae, BatchSource(X_huge, CPU), layer_iter=20, finetune_iter=20, lr=0.1, lr_step=10,
            dropout=0.2, batch_size=32, generator=torch.Generator().manual_seed(0),
        )


def test_layerwise_raises_when_a_layer_dies_instead_of_collapsing_silently():
    # At the paper's lr 0.1, SGD pushes every ReLU of digits' first layer below zero
    # within 200 iterations: the loss stays finite, only the codes show it. (Another BLAS
    # could diverge instead: either way the fit must stop with a clear error.)
    from deepclust.datasets import load_digits

    X, _ = load_digits()
    X = X.astype(np.float32)
    torch.manual_seed(0)
    ae = Autoencoder((X.shape[1], 500, 10))
    with pytest.raises(FloatingPointError, match=r"layer 1/2.*(all units dead|not finite)|became (inf|nan)"):
        pretrain_layerwise(
            ae, BatchSource(X, CPU), layer_iter=200, finetune_iter=0, lr=0.1,
            lr_step=20_000, dropout=0.2, batch_size=256, generator=torch.Generator().manual_seed(0),
        )
    # A tenth of the rate trains the same layer: no warning, most units alive.
    torch.manual_seed(0)
    ae = Autoencoder((X.shape[1], 500, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        pretrain_layerwise(
            ae, BatchSource(X, CPU), layer_iter=200, finetune_iter=20, lr=0.01,
            lr_step=20_000, dropout=0.2, batch_size=256, generator=torch.Generator().manual_seed(0),
        )
    with torch.no_grad():
        codes = ae.encode(torch.as_tensor(X), upto=1)
    assert (codes.amax(dim=0) > 0).float().mean() > 0.5


def test_mostly_dead_relu_layer_warns_but_linear_codes_do_not():
    differ = lambda: True  # noqa: E731
    codes = torch.zeros(100, 20)
    codes[:, 0] = torch.linspace(0, 1, 100)  # one unit of twenty still fires
    with pytest.warns(RuntimeWarning, match=r"95\.0% of the units output 0.*layerwise_lr"):
        _check_not_collapsed(codes.amin(0), codes.amax(0), "layer 1/2", 0.1, relu=True,
                             samples_differ=differ)
    # A linear embedding may be negative everywhere: that is not a dead unit.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        neg = -1 - codes
        _check_not_collapsed(neg.amin(0), neg.amax(0), "layer 2/2", 0.1, relu=False,
                             samples_differ=differ)
        ok = torch.rand(100, 20)
        _check_not_collapsed(ok.amin(0), ok.amax(0), "layer 1/2", 0.1, relu=True,
                             samples_differ=differ)
        # Identical samples: identical (even all-zero) codes are no sign of dead units.
        zero = torch.zeros(20)
        _check_not_collapsed(zero, zero, "layer 1/2", 0.1, relu=True, samples_differ=lambda: False)
    with pytest.raises(FloatingPointError, match="all units dead"):
        _check_not_collapsed(zero, zero, "layer 1/2", 0.1, relu=True, samples_differ=differ)
    with pytest.raises(FloatingPointError, match="not finite"):
        _check_not_collapsed(torch.full((3,), float("nan")), torch.ones(3), "layer 1/2", 0.1, relu=True,
                             samples_differ=differ)


def test_layerwise_on_identical_samples_is_not_reported_as_dead_units():
    X = np.ones((40, 3), dtype=np.float32)
    torch.manual_seed(0)
    ae = Autoencoder((3, 8, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        pretrain_layerwise(
            ae, BatchSource(X, CPU), layer_iter=20, finetune_iter=20, lr=0.01, lr_step=100,
            dropout=0.2, batch_size=16, generator=torch.Generator().manual_seed(0),
        )


def test_encode_upto_matches_layer_outputs():
    torch.manual_seed(0)
    ae = Autoencoder((8, 6, 4, 2))
    x = torch.randn(5, 8)
    outputs = list(ae.layer_outputs(x))
    assert [o.shape[1] for o in outputs] == [6, 4, 2]
    assert (outputs[0] >= 0).all() and (outputs[1] >= 0).all()  # hidden layers are ReLU
    torch.testing.assert_close(ae.encode(x, upto=0), x)
    for i, out in enumerate(outputs, start=1):
        torch.testing.assert_close(ae.encode(x, upto=i), out)
    torch.testing.assert_close(ae.encode(x), outputs[-1])


@pytest.mark.parametrize("sparse", [False, True])
def test_energy_and_offset(sparse):
    import scipy.sparse as sp

    from deepclust.data.batches import energy_and_offset

    X = np.array([[3.0, 0.0], [1.0, 2.0], [0.0, 0.0], [2.0, 2.0]], dtype=np.float32)
    energy, offset = energy_and_offset(BatchSource(sp.csr_matrix(X) if sparse else X, CPU))
    assert energy == pytest.approx((X.astype(float) ** 2).sum(axis=1).mean())
    assert offset == pytest.approx(float((X.mean(axis=0) ** 2).sum()))
