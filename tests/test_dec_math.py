"""DEC's math (eqs. 1-5 of the paper) checked against hand-written numpy and autograd."""

import numpy as np
import pytest
import torch

from deepclust import DEC
from deepclust.methods.dec import kl_divergence, soft_assign, target_distribution


def _points(n=20, k=4, d=3, seed=0, dtype=torch.float64):
    rng = np.random.default_rng(seed)
    z = torch.tensor(rng.normal(size=(n, d)), dtype=dtype)
    centers = torch.tensor(rng.normal(scale=2.0, size=(k, d)), dtype=dtype)
    return z, centers


def _q_numpy(z, centers, alpha):
    """Eq. 1 written out literally."""
    z, centers = np.asarray(z, dtype=np.float64), np.asarray(centers, dtype=np.float64)
    sq = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    num = (1.0 + sq / alpha) ** (-(alpha + 1.0) / 2.0)
    return num / num.sum(axis=1, keepdims=True)


def _entropy(p):
    p = np.asarray(p, dtype=np.float64)
    return -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=1)


# ----------------------------------------------------------------- eq. 1


@pytest.mark.parametrize("alpha", [1.0, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_assign_matches_eq1(alpha, dtype):
    z, centers = _points(dtype=dtype)
    q = soft_assign(z, centers, alpha)
    assert q.shape == (20, 4)
    assert q.dtype == dtype
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(q.sum(dim=1).numpy(), 1.0, rtol=rtol)
    np.testing.assert_allclose(q.numpy(), _q_numpy(z, centers, alpha), rtol=rtol, atol=1e-7)


def test_soft_assign_default_alpha_is_one():
    z, centers = _points()
    torch.testing.assert_close(soft_assign(z, centers), soft_assign(z, centers, 1.0))


def test_soft_assign_point_on_a_centroid_prefers_it():
    z, centers = _points(k=3)
    q = soft_assign(centers.clone(), centers)
    np.testing.assert_array_equal(q.argmax(dim=1).numpy(), [0, 1, 2])


@pytest.mark.parametrize("alpha", [1.0, 50.0])
def test_soft_assign_far_away_points_have_no_zero_rows(alpha):
    # Far from every centroid: with alpha=50 the kernel (1 + d^2/alpha)^(-25.5)
    # underflows to exactly 0 in float32 for every centroid, so normalising the
    # raw kernel would divide 0 by 0.
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float32)
    z = torch.tensor([[1e4, 1e4], [-1e4, 3e3], [1e6, -1e6], [0.1, 0.0]], dtype=torch.float32)
    if alpha == 50.0:
        sq = (z.unsqueeze(1) - centers.unsqueeze(0)).pow(2).sum(-1)
        raw = (1 + sq[:3] / alpha).pow(-(alpha + 1) / 2)
        assert torch.all(raw == 0)  # the naive formula really does underflow
    q = soft_assign(z, centers, alpha)
    assert torch.all(torch.isfinite(q))
    assert torch.all(q.sum(dim=1) > 0)
    np.testing.assert_allclose(q.sum(dim=1).numpy(), 1.0, rtol=1e-5)
    # Still the nearest centroid gets the most mass.
    nearest = torch.cdist(z.double(), centers.double()).argmin(dim=1)
    np.testing.assert_array_equal(q.argmax(dim=1).numpy(), nearest.numpy())


def test_soft_assign_far_away_float64_matches_eq1_in_float64():
    # In float64 the literal formula is still representable: compare.
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    z = torch.tensor([[1e3, 1e3], [-50.0, 30.0]], dtype=torch.float64)
    q = soft_assign(z, centers, 10.0)
    np.testing.assert_allclose(q.numpy(), _q_numpy(z, centers, 10.0), rtol=1e-10)


# ----------------------------------------------------------------- eq. 3


def test_target_distribution_of_a_cluster_far_from_every_point_is_zero_not_nan():
    # With a large alpha q_ij underflows to exactly 0 at ordinary distances; f_j = 0 then made
    # q^2 / f a 0 / 0 and every row of p NaN (score() on held-out data far from a cluster).
    q = soft_assign(torch.zeros(4, 2), torch.tensor([[0.0, 0.0], [30.0, 0.0]]), alpha=100.0)
    assert float(q[:, 1].sum()) == 0.0
    p = target_distribution(q)
    torch.testing.assert_close(p, torch.tensor([[1.0, 0.0]] * 4))
    torch.testing.assert_close(target_distribution(q, frequencies=q.sum(dim=0)), p)


def test_target_distribution_matches_eq3_and_is_sharper():
    z, centers = _points(n=50, k=4)
    q = soft_assign(z, centers)
    p = target_distribution(q)
    qn = q.numpy()
    weight = qn**2 / qn.sum(axis=0)
    expected = weight / weight.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(p.sum(dim=1).numpy(), 1.0, rtol=1e-12)
    assert torch.all(p >= 0)
    # Sharper on average: lower entropy and a larger top probability. (Row by
    # row this need not hold, since dividing by f_j can flatten a row that
    # leans towards a large cluster; the uniform case is checked below.)
    assert np.mean(_entropy(p.numpy())) < np.mean(_entropy(qn))
    assert np.mean(p.numpy().max(axis=1)) > np.mean(qn.max(axis=1))


def test_target_distribution_row_sharpening_with_uniform_frequencies():
    # With equal cluster frequencies eq. 3 is q^2 renormalised: strictly sharper per row.
    q = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.6, 0.3], [0.3, 0.1, 0.6]], dtype=torch.float64)
    p = target_distribution(q)
    expected = q**2 / (q**2).sum(dim=1, keepdim=True)
    torch.testing.assert_close(p, expected)
    assert torch.all(p.max(dim=1).values > q.max(dim=1).values)
    assert np.all(_entropy(p.numpy()) < _entropy(q.numpy()))


def test_target_distribution_keeps_one_hot_rows():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=torch.float64)
    p = target_distribution(q)
    torch.testing.assert_close(p[:2], q[:2])
    np.testing.assert_allclose(p.sum(dim=1).numpy(), 1.0)


# ----------------------------------------------------------------- eq. 2


def test_kl_divergence_equals_torch_kldivloss():
    z, centers = _points(n=30, k=5)
    q = soft_assign(z, centers)
    p = target_distribution(q)
    expected = torch.nn.KLDivLoss(reduction="batchmean")(q.log(), p)
    torch.testing.assert_close(kl_divergence(p, q.log()), expected)
    # And the definition, summed over clusters and averaged over points.
    by_hand = (p * (p.log() - q.log())).sum(dim=1).mean()
    torch.testing.assert_close(kl_divergence(p, q.log()), by_hand)
    assert kl_divergence(p, q.log()) > 0


def test_kl_divergence_zero_when_p_equals_q():
    z, centers = _points(n=30, k=5)
    q = soft_assign(z, centers)
    assert kl_divergence(q, q.log()).abs().item() < 1e-12


def test_kl_divergence_zero_entries_of_p_contribute_nothing():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    q = torch.tensor([[0.8, 0.2], [0.5, 0.5]], dtype=torch.float64)
    value = kl_divergence(p, q.log())
    assert torch.isfinite(value)
    torch.testing.assert_close(value, torch.tensor(np.log(1 / 0.8) / 2, dtype=torch.float64))
    torch.testing.assert_close(value, torch.nn.KLDivLoss(reduction="batchmean")(q.log(), p))


# -------------------------------------------------------- eqs. 4-5 (gradients)


def _closed_form_gradients(z, centers, p, alpha):
    """Eqs. 4 and 5 of the paper, for the loss summed over points."""
    z, centers, p = (t.detach().numpy() for t in (z, centers, p))
    diff = z[:, None, :] - centers[None, :, :]  # (n, k, d): z_i - mu_j
    kernel = 1.0 / (1.0 + (diff**2).sum(-1) / alpha)  # (1 + ||z_i - mu_j||^2 / alpha)^-1
    q = _q_numpy(z, centers, alpha)
    w = (alpha + 1.0) / alpha * kernel * (p - q)  # (n, k)
    dz = (w[:, :, None] * diff).sum(axis=1)
    dmu = -(w[:, :, None] * diff).sum(axis=0)
    return dz, dmu


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_clustering_loss_gradient_matches_paper_eqs_4_5(alpha):
    z0, c0 = _points(n=25, k=4, d=3, seed=1)
    # p is the target from the whole data: a constant for the gradient.
    p = target_distribution(soft_assign(z0, c0, alpha)).detach()
    z = z0.clone().requires_grad_(True)
    centers = c0.clone().requires_grad_(True)
    loss = DEC(alpha=alpha)._clustering_loss(z, centers, p)
    assert loss.dtype == torch.float64
    loss.backward()
    dz, dmu = _closed_form_gradients(z0, c0, p, alpha)
    n = z0.shape[0]  # our loss is the mean over points, the paper's the sum
    np.testing.assert_allclose(z.grad.numpy(), dz / n, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(centers.grad.numpy(), dmu / n, rtol=1e-9, atol=1e-12)


def test_clustering_loss_is_kl_of_soft_assign():
    z, centers = _points(n=25, k=4, seed=2)
    p = target_distribution(soft_assign(z, centers))
    loss = DEC()._clustering_loss(z, centers, p)
    torch.testing.assert_close(loss, kl_divergence(p, soft_assign(z, centers).log()))
    torch.testing.assert_close(
        loss, torch.nn.KLDivLoss(reduction="batchmean")(soft_assign(z, centers).log(), p)
    )


def test_clustering_loss_gradient_passes_torch_gradcheck():
    z, centers = _points(n=8, k=3, d=2, seed=3)
    p = target_distribution(soft_assign(z, centers)).detach()
    dec = DEC(alpha=1.0)
    assert torch.autograd.gradcheck(
        lambda zz, cc: dec._clustering_loss(zz, cc, p),
        (z.clone().requires_grad_(True), centers.clone().requires_grad_(True)),
    )
