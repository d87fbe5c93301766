"""The arithmetic of training: float32, bfloat16 autocast, and what "auto" picks."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

import deepclust
from deepclust import DEC
from deepclust.training import precision as _precision
from deepclust.data.batches import BatchSource
from deepclust.training.precision import (
    MIN_BFLOAT16_SPEEDUP,
    bfloat16_speedup,
    native_bfloat16,
    phase_dtypes,
    resolve_precision,
)
from deepclust.nn.autoencoder import Autoencoder
from deepclust.training.pretraining import pretrain_end_to_end

from .conftest import FAST, FAST_LAYERWISE


def test_resolve_precision():
    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) == "float32"
    assert resolve_precision("bfloat16", cpu) == "bfloat16"
    assert resolve_precision("mixed", torch.device("cuda")) == "mixed"  # asked for: never overridden
    fast = native_bfloat16(cpu) and bfloat16_speedup(torch.get_num_threads()) >= MIN_BFLOAT16_SPEEDUP
    assert resolve_precision("auto", cpu) == ("mixed" if fast else "float32")
    # Not measured on GPUs yet: "auto" stays float32 there (the device need not exist to ask).
    assert resolve_precision("auto", torch.device("cuda")) == "float32"
    assert not native_bfloat16(torch.device("cuda"))
    # (pretraining, clustering phase)
    assert phase_dtypes("mixed") == (torch.float32, torch.bfloat16)
    assert phase_dtypes("bfloat16") == (torch.bfloat16, torch.bfloat16)
    assert phase_dtypes("float32") == (torch.float32, torch.float32)


@pytest.mark.parametrize("speedup, expected", [(3.7, "mixed"), (MIN_BFLOAT16_SPEEDUP, "mixed"),
                                                (1.4, "float32"), (0.6, "float32")])
def test_auto_uses_bfloat16_only_where_measured_faster(monkeypatch, speedup, expected):
    # Flags alone are not enough: a CPU that reports bfloat16 units but multiplies bfloat16
    # more slowly than float32 stays in float32.
    monkeypatch.setattr(_precision, "native_bfloat16", lambda device: True)
    monkeypatch.setattr(_precision, "bfloat16_speedup", lambda threads: speedup)
    assert resolve_precision("auto", torch.device("cpu")) == expected
    # Without the units nothing is measured.
    monkeypatch.setattr(_precision, "native_bfloat16", lambda device: False)
    monkeypatch.setattr(_precision, "bfloat16_speedup", lambda threads: pytest.fail("measured"))
    assert resolve_precision("auto", torch.device("cpu")) == "float32"


def test_bfloat16_speedup_is_measured_once_per_thread_count():
    bfloat16_speedup.cache_clear()
    first = bfloat16_speedup(torch.get_num_threads())
    assert np.isfinite(first) and first > 0
    assert bfloat16_speedup(torch.get_num_threads()) == first  # cached: the same answer
    assert bfloat16_speedup.cache_info().hits == 1


def test_mixed_precision_pretrains_in_float32_and_clusters_in_bfloat16(blobs, monkeypatch):
    X, _ = blobs
    # Whatever this CPU has: pretend it has native bfloat16 units, so "auto" means "mixed".
    monkeypatch.setattr("deepclust.base.resolve_precision",
                        lambda precision, device: "mixed" if precision == "auto" else precision)
    fits = {p: DEC(n_clusters=3, random_state=0, precision=p, **FAST).fit(X)
            for p in ("auto", "float32", "bfloat16")}
    assert fits["auto"].precision_ == "mixed"
    assert fits["auto"].pretrain_history_ == fits["float32"].pretrain_history_
    assert fits["auto"].pretrain_history_ != fits["bfloat16"].pretrain_history_
    # The clustering phase ran in bfloat16: the centroids differ from float32's in their last bits.
    assert not np.array_equal(fits["auto"].cluster_centers_, fits["float32"].cluster_centers_)
    np.testing.assert_allclose(fits["auto"].cluster_centers_, fits["float32"].cluster_centers_,
                               atol=0.05)


def test_bfloat16_autocast_changes_the_training_steps(blobs):
    """The bfloat16 path really runs (different last bits), trains as well, and is reproducible."""
    X, _ = blobs
    source = BatchSource(X, torch.device("cpu"))

    def pretrain(dtype):
        torch.manual_seed(0)
        ae = Autoencoder((X.shape[1], 32, 3))
        losses = pretrain_end_to_end(ae, source, epochs=15, batch_size=32, lr=1e-3,
                                     generator=torch.Generator().manual_seed(0), compute_dtype=dtype)
        return losses, torch.cat([p.detach().flatten() for p in ae.parameters()])

    losses32, w32 = pretrain(torch.float32)
    losses16, w16 = pretrain(torch.bfloat16)
    assert not torch.equal(w32, w16)
    assert all(p.dtype == torch.float32 for p in (w32, w16))  # float32 weights either way
    assert losses16[-1] < 0.5 * losses16[0]
    assert losses16[-1] == pytest.approx(losses32[-1], rel=0.1)
    again, w16_again = pretrain(torch.bfloat16)
    assert again == losses16 and torch.equal(w16, w16_again)


@pytest.mark.parametrize("settings", [FAST, FAST_LAYERWISE], ids=["end-to-end", "layerwise"])
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_dec_trains_in_each_precision(blobs, settings, precision):
    X, y = blobs
    dec = DEC(n_clusters=3, random_state=0, precision=precision, **settings).fit(X)
    assert dec.precision_ == precision
    assert adjusted_rand_score(y, dec.labels_) > 0.9
    # Full-data passes are float32 whatever the training used: labels_ is what predict gives.
    np.testing.assert_array_equal(dec.predict(X), dec.labels_)
    assert dec.transform(X).dtype == np.float32
    again = DEC(n_clusters=3, random_state=0, precision=precision, **settings).fit(X)
    np.testing.assert_array_equal(again.labels_, dec.labels_)
    np.testing.assert_array_equal(again.cluster_centers_, dec.cluster_centers_)


def test_auto_precision_is_resolved_and_saved(blobs, tmp_path):
    X, _ = blobs
    dec = DEC(n_clusters=3, random_state=0, **FAST).fit(X)
    assert dec.precision == "auto"  # the parameter is left as given
    expected = resolve_precision("auto", torch.device("cpu"))
    assert dec.precision_ == expected
    dec.save(tmp_path / "m.pt")
    loaded = deepclust.load(tmp_path / "m.pt")
    assert loaded.precision_ == expected and loaded.precision == "auto"
    np.testing.assert_array_equal(loaded.predict(X), dec.predict(X))


def test_unknown_precision_is_refused(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="precision"):
        DEC(n_clusters=3, precision="float16", **FAST).fit(X)


def test_precision_change_refuses_to_resume(blobs, tmp_path):
    X, _ = blobs
    DEC(n_clusters=3, random_state=0, precision="float32", checkpoint_dir=tmp_path, **FAST).fit(X)
    with pytest.raises(ValueError, match="precision"):
        DEC(n_clusters=3, random_state=0, precision="bfloat16", checkpoint_dir=tmp_path, **FAST).fit(X)
