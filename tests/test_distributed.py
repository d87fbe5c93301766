"""Data-parallel training: two ranks on CPU (gloo backend on loopback) against one process."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from deepclust import DCN, DEC
from deepclust.training.distributed import active, all_reduce, gather_rows, per_rank_batch, world_size
from deepclust.metrics import cluster_accuracy

from . import _ddp_worker as worker

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
WORKER = Path(__file__).with_name("_ddp_worker.py")


MODES = ("exact", "train", "tiny", "bn", "uneven")  # "uneven" last: it patches the worker's precision


def _launch(folder, modes, ranks=2):
    scratch = folder / "tmp"  # torchrun's log folders land here, not in the system's /tmp
    scratch.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(WORKER.parents[1]), "TMPDIR": str(scratch)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
         "--nproc-per-node", str(ranks), str(WORKER), str(folder), ",".join(modes)],
        capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    results = {}
    for mode in modes:
        out = {name: [np.load(folder / mode / f"{name}_{r}.npy") for r in range(ranks)]
               for name in ("rows", "labels", "centers", "n_iter", "embedding", "precision")}
        out["folder"] = folder / mode
        results[mode] = out
    return results


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """Every mode's fit on two ranks, from one launch of torchrun."""
    return _launch(tmp_path_factory.mktemp("ddp"), MODES)


def _labels_of_all_points(ranks, n: int) -> np.ndarray:
    """Every point's label, from the ranks' labels of their own shards."""
    labels = np.empty(n, dtype=np.int64)
    for rows, lab in zip(ranks["rows"], ranks["labels"]):
        labels[rows] = lab
    return labels


def test_without_a_process_group_nothing_is_distributed():
    assert not active() and world_size() == 1 and per_rank_batch(256) == 256
    t = torch.arange(4.0)
    assert all_reduce(t) is t and gather_rows(t) is t


def test_two_ranks_compute_what_one_process_computes(launched):
    """Equal contiguous shards, full-batch steps: the all-reduced cluster frequencies, gradients,
    label changes and the gathered k-means give one process's fit, up to summation order."""
    ranks = launched["exact"]
    X, _ = worker.data()
    single = worker.fit(X, "exact")
    np.testing.assert_allclose(ranks["centers"][0], ranks["centers"][1], rtol=0, atol=0)  # in step
    np.testing.assert_allclose(ranks["centers"][0], single.cluster_centers_, rtol=1e-4, atol=1e-4)
    labels = _labels_of_all_points(ranks, len(X))
    np.testing.assert_array_equal(labels, single.labels_)
    assert ranks["n_iter"][0][0] == ranks["n_iter"][1][0] == single.n_iter_
    # only rank 0 wrote the model
    assert (ranks["folder"] / "model_0.pt").exists() and not (ranks["folder"] / "model_1.pt").exists()


def test_two_ranks_train_the_whole_pipeline_like_one_process(launched):
    """Pretraining and clustering on strided shards with mini-batches: other batches than one
    process draws, so not the same numbers, but the same clustering of the blobs."""
    ranks = launched["train"]
    X, y = worker.data()
    single = worker.fit(X, "train")
    np.testing.assert_array_equal(ranks["centers"][0], ranks["centers"][1])  # every rank in step
    labels = _labels_of_all_points(ranks, len(X))
    assert cluster_accuracy(y, single.labels_) > 0.95
    assert cluster_accuracy(y, labels) > 0.95
    assert cluster_accuracy(single.labels_, labels) > 0.95


def test_uneven_shards_and_no_random_state(launched):
    """Shards of 140 and 100 points, random_state=None: the ranks agree on every schedule (from
    the total sample count), on their seeds and on what precision="auto" means (rank 0's, though
    the worker makes rank 1 measure bfloat16 as faster), so they run in step to the same model."""
    ranks = launched["uneven"]
    assert [len(r) for r in ranks["rows"]] == [140, 100]
    assert ranks["precision"][0][0] == ranks["precision"][1][0] == "float32"
    np.testing.assert_array_equal(ranks["centers"][0], ranks["centers"][1])
    np.testing.assert_array_equal(ranks["embedding"][0], ranks["embedding"][1])  # the same network
    X, y = worker.data()
    labels = _labels_of_all_points(ranks, len(X))
    assert cluster_accuracy(y, labels) > 0.95


def test_a_rank_may_hold_fewer_points_than_clusters(launched):
    """k-means runs on every rank's embedding, so only the total must reach n_clusters: a rank with
    2 points of 3 clusters used to refuse alone (and leave the other rank waiting)."""
    ranks = launched["tiny"]
    assert [len(r) for r in ranks["rows"]] == [238, 2]
    np.testing.assert_array_equal(ranks["centers"][0], ranks["centers"][1])
    X, y = worker.data()
    labels = _labels_of_all_points(ranks, len(X))
    assert cluster_accuracy(y, labels) > 0.95


def test_batch_norm_statistics_agree_between_ranks(launched):
    """DBC's batch norm: each rank's running statistics come from its own batches; they are
    averaged before every full-data pass, so the ranks embed with one network and stay in step."""
    ranks = launched["bn"]
    np.testing.assert_array_equal(ranks["embedding"][0], ranks["embedding"][1])
    np.testing.assert_array_equal(ranks["centers"][0], ranks["centers"][1])
    X, y = worker.data()
    labels = _labels_of_all_points(ranks, len(X))
    assert cluster_accuracy(y, labels) > 0.9


def test_methods_that_cannot_run_data_parallel_say_so(tmp_path, monkeypatch):
    from deepclust.training import distributed as _distributed

    monkeypatch.setattr(_distributed, "world_size", lambda: 2)
    X, _ = worker.data()
    with pytest.raises(ValueError, match="data-parallel"):
        DCN(n_clusters=3).fit(X)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        DEC(n_clusters=3, checkpoint_dir=tmp_path / "ckpt").fit(X)
