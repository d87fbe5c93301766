"""The paper's experiment protocols (deepclust.experiments) and ``deepclust experiment``."""

import json
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from deepclust import DEC, experiments
from deepclust.experiments import (
    accuracy_over_iterations,
    compare_methods,
    generalizability_study,
    imbalance_study,
    imbalanced_indices,
    robustness_sweep,
    run_methods,
    write_experiment,
)

from .conftest import FAST
from .test_cli import run as run_cli

TINY = {key: v for key, v in FAST.items()}


def test_imbalanced_indices_keeps_each_class_with_its_probability():
    y = np.repeat(np.arange(10), 5000)
    rows = imbalanced_indices(y, 0.1, random_state=0)
    kept = np.bincount(y[rows], minlength=10) / 5000
    expected = 0.1 + 0.9 * np.arange(10) / 9
    np.testing.assert_allclose(kept, expected, atol=0.02)
    assert np.array_equal(rows, imbalanced_indices(y, 0.1, random_state=0))  # seeded
    assert len(imbalanced_indices(y, 1.0, random_state=1)) == len(y)
    # classes are ranked by sorted label, whatever their values
    letters = np.array(list("ba") * 2000)
    kept_letters = letters[imbalanced_indices(letters, 0.2, random_state=0)]
    assert (kept_letters == "a").sum() < 0.3 * 2000 and (kept_letters == "b").sum() == 2000


@pytest.mark.parametrize("r_min", [0.0, -0.1, 1.5])
def test_imbalanced_indices_rejects_bad_r_min(r_min):
    with pytest.raises(ValueError, match="r_min"):
        imbalanced_indices(np.arange(10), r_min)


def test_every_method_runs_and_scores(blobs):
    X, y = blobs
    run = run_methods(X, y, 3, 0, experiments.TABLE2_METHODS + ("IDEC", "DCN"), dec_params=TINY)
    assert list(run) == list(experiments.TABLE2_METHODS) + ["IDEC", "DCN"]
    for method, row in run.items():
        assert 0.0 <= row["acc"] <= 1.0 and -1.0 <= row["ari"] <= 1.0, method
        assert row["seconds"] >= 0.0
    # well-separated blobs: the baselines find them
    assert run["k-means"]["acc"] > 0.95 and run["GMM"]["acc"] > 0.95 and run["spectral"]["acc"] > 0.95
    # the methods that start from the pretrained autoencoder report their clustering phase
    assert run["DEC"]["n_iter"] >= 1 and run["DEC"]["samples_per_s"] > 0
    assert run["AE + k-means"]["pretrain_seconds"] > 0
    dbc = run_methods(X, y, 3, 0, ("DBC",), dec_params=TINY)["DBC"]  # its own network
    assert 0.0 <= dbc["acc"] <= 1.0 and dbc["n_iter"] >= 1


def test_spectral_on_a_sample_labels_every_point(blobs, monkeypatch):
    X, y = blobs
    monkeypatch.setattr(experiments.tables, "SPECTRAL_MAX_SAMPLES", 60)  # read where _spectral is
    run = run_methods(X, y, 3, 0, ("spectral",))
    assert run["spectral"]["acc"] > 0.95


def test_sparse_data_too_large_to_densify_skips_gmm(blobs, monkeypatch):
    X, y = blobs
    monkeypatch.setattr(experiments.tables, "DENSE_MAX_VALUES", 100)  # read where _dense is
    run = run_methods(sp.csr_matrix(X), y, 3, 0, ("k-means", "GMM"))
    assert run["k-means"]["acc"] > 0.95
    assert "dense" in run["GMM"]["skipped"]
    summary = experiments.summarise([run])
    assert "skipped" in summary["GMM"] and summary["k-means"]["acc"][1] == 0.0


def test_bad_arguments_are_clear_errors(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="unknown"):
        compare_methods(X, y, methods=("k-means", "HAC"))
    with pytest.raises(ValueError, match="labels"):
        compare_methods(X, y[:10], methods=("k-means",))
    with pytest.raises(ValueError, match="seeds"):
        compare_methods(X, y, methods=("k-means",), seeds=())
    with pytest.raises(ValueError, match="clustering-phase"):
        robustness_sweep(X, y, param="hidden_dims", values=[(8,)])
    with pytest.raises(ValueError, match="clustering-phase"):
        robustness_sweep(X, y, param="random_state", values=[0, 1])
    with pytest.raises(ValueError, match=r"seeds=\[0, 0\] repeats \[0\]"):  # one run counted twice
        compare_methods(X, y, methods=("k-means",), seeds=(0, 0))
    for seeds in ((0.9, 0.2), None, (-1,), (True,)):  # not truncated or defaulted silently
        with pytest.raises(ValueError, match="non-negative integer random seeds"):
            compare_methods(X, y, methods=("k-means",), seeds=seeds)
    for k in (2.7, 0, True):
        with pytest.raises(ValueError, match="n_clusters=.*positive integer"):
            compare_methods(X, y, methods=("k-means",), seeds=(0,), n_clusters=k)
    with pytest.raises(ValueError, match="2-D array"):
        compare_methods(X[:, 0], y, methods=("k-means",), seeds=(0,))


@pytest.mark.parametrize("name, value", [("n_clusters", 5), ("random_state", 1), ("device", "cpu"),
                                         ("checkpoint_dir", "ckpt"), ("verbose", True)])
def test_a_setting_the_protocol_sets_itself_is_refused_before_any_fit(blobs, name, value):
    X, y = blobs
    # Before, n_clusters reached k-means' table as a recorded setting it never used, and the DEC fits
    # failed late with "got multiple values for keyword argument".
    calls = [lambda p: compare_methods(X, y, methods=("k-means",), seeds=(0,), dec_params=p),
             lambda p: imbalance_study(X, y, r_mins=(0.5,), methods=("k-means",), seeds=(0,), dec_params=p),
             lambda p: robustness_sweep(X, y, values=(5,), seeds=(0,), dec_params=p),
             lambda p: accuracy_over_iterations(X, y, seeds=(0,), dec_params=p)]
    if name != "verbose":  # select_n_clusters takes verbose apart from the estimator's settings
        calls.append(lambda p: generalizability_study(X, y, candidates=(2, 3), seeds=(0,), dec_params=p))
    for call in calls:
        with pytest.raises(ValueError, match=rf"dec_params sets \['{name}'\], which this protocol sets"):
            call({**TINY, name: value})
    with pytest.raises(ValueError, match=r"\['snapshot_size'\].*the argument snapshot_size"):
        accuracy_over_iterations(X, y, seeds=(0,), dec_params={"snapshot_size": 5})
    with pytest.raises(TypeError, match="dict of DEC settings"):
        compare_methods(X, y, methods=("k-means",), seeds=(0,), dec_params=[("max_iter", 5)])


def test_a_given_autoencoder_goes_where_the_protocol_pretrains_none(blobs):
    X, y = blobs
    network = DEC(n_clusters=3, random_state=0, **{**TINY, "max_iter": 0}).fit(X).autoencoder_
    # the protocols that pretrain one per seed and hand it to every method refuse another
    with pytest.raises(ValueError, match=r"\['autoencoder'\].*pretrains one per seed"):
        compare_methods(X, y, methods=("DEC",), seeds=(0,), dec_params={**TINY, "autoencoder": network})
    with pytest.raises(ValueError, match=r"\['autoencoder'\]"):
        robustness_sweep(X, y, values=(5,), seeds=(0,), dec_params={**TINY, "autoencoder": network})
    # the others fit DEC from it, as select_n_clusters documents
    study = generalizability_study(X, y, candidates=(2, 3), seeds=(0,), n_splits=1,
                                   dec_params={**TINY, "autoencoder": network})
    assert study["runs"][0]["chosen"] in (2, 3)
    curve = accuracy_over_iterations(X, y, seeds=(0,), dec_params={**TINY, "autoencoder": network})
    assert curve["runs"][0]["curve"]


def test_lists_and_dataframes_are_accepted_as_X(blobs, tmp_path):
    X, y = blobs
    np.save(tmp_path / "part-0.npy", X[:50]), np.save(tmp_path / "part-1.npy", X[50:])
    from deepclust import ShardedArray

    shards = ShardedArray(tmp_path)  # stays on disk, as memory-mapped arrays do
    assert experiments._check_data(shards, y)[0] is shards
    pd = pytest.importorskip("pandas")
    on_array = imbalance_study(X, y, r_mins=(0.5,), methods=("k-means",), seeds=(0,))
    # a DataFrame's X[rows] selected columns before; a list had no .shape
    on_frame = imbalance_study(pd.DataFrame(X), y, r_mins=(0.5,), methods=("k-means",), seeds=(0,))
    on_list = compare_methods(X.tolist(), list(y), methods=("k-means",), seeds=(0,))
    assert on_frame["sizes"] == on_array["sizes"]
    assert on_frame["summary"][0.5]["k-means"]["acc"] == on_array["summary"][0.5]["k-means"]["acc"]
    assert on_list["summary"]["k-means"]["acc"][0] == pytest.approx(
        compare_methods(X, y, methods=("k-means",), seeds=(0,))["summary"]["k-means"]["acc"][0])


def test_compare_methods_summarises_over_seeds(blobs):
    X, y = blobs
    lines = []
    result = compare_methods(X, y, methods=("k-means", "DEC"), seeds=(0, 1), dec_params=TINY, log=lines.append)
    assert result["n_clusters"] == 3 and len(result["runs"]) == 2 and len(lines) == 2
    mean, std = result["summary"]["DEC"]["acc"]
    accs = [r["DEC"]["acc"] for r in result["runs"]]
    assert mean == pytest.approx(np.mean(accs)) and std == pytest.approx(np.std(accs))


def test_a_setting_of_one_method_goes_to_that_method_only(blobs):
    X, y = blobs
    # IDEC's gamma reaches IDEC, and not the DEC that pretrains the shared autoencoder.
    run = run_methods(X, y, 3, 0, ("AE + k-means", "IDEC"), dec_params={**TINY, "gamma": 0.5})
    assert set(run) == {"AE + k-means", "IDEC"} and 0 <= run["IDEC"]["acc"] <= 1
    with pytest.raises(ValueError, match="gamma"):  # IDEC's own check, after the pretraining
        run_methods(X, y, 3, 0, ("AE + k-means", "IDEC"), dec_params={**TINY, "gamma": -1.0})
    with pytest.raises(ValueError, match=r"\['gamma'\], which none of \['DEC'\]"):
        run_methods(X, y, 3, 0, ("k-means", "DEC"), dec_params={**TINY, "gamma": 0.5})


def test_protocols_and_their_files(blobs, tmp_path):
    X, y = blobs
    results = {
        "table2": {"blobs": compare_methods(X, y, methods=("k-means", "AE + k-means", "DEC"), seeds=(0,),
                                            dec_params=TINY)},
        "table4": {"blobs": imbalance_study(X, y, r_mins=(0.5, 1.0), seeds=(0,), dec_params=TINY)},
        "robustness": {"blobs": robustness_sweep(X, y, param="update_interval", values=(5, 20), seeds=(0,),
                                                 dec_params=TINY)},
        "iterations": {"blobs": accuracy_over_iterations(X, y, seeds=(0,), snapshot_size=100,
                                                         dec_params={**TINY, "update_interval": 5})},
        "select-k": {"blobs": generalizability_study(X, y, candidates=(2, 3, 4), seeds=(0, 1), n_splits=1,
                                                     dec_params=TINY)},
    }
    t4 = results["table4"]["blobs"]
    assert t4["sizes"][1.0] == [len(y)] and t4["sizes"][0.5][0] < len(y)
    # a method skipped on some subset is "n/a" in the table, not a crash
    t4["summary"][0.5]["DEC"] = {"skipped": "for the test"}
    assert "n/a" in experiments.markdown("table4", {"blobs": t4})
    assert "(chosen)" in experiments.markdown("select-k", results["select-k"])
    # a NaN (a G whose validation loss was 0, say) is written as JSON's null, not as a bare NaN
    results["robustness"]["blobs"]["extra"] = [np.float32("nan"), float("inf"), np.arange(2)]
    curve = results["iterations"]["blobs"]["runs"][0]["curve"]
    assert curve[0][0] == 0 and len(curve) >= 2 and all(0 <= acc <= 1 for _, acc in curve)
    for kind, result in results.items():
        written = write_experiment(kind, result, tmp_path)
        assert [p.name for p in written] == [f"{kind}.md", f"{kind}.json", f"{kind}.png"]
        table = written[0].read_text()
        assert "blobs" in table and "|---" in table
        document = json.loads(written[1].read_text(), parse_constant=_refuse_constant)
        assert document["experiment"] == kind
        assert written[2].stat().st_size > 1000
    assert json.loads((tmp_path / "robustness.json").read_text())["results"]["blobs"]["extra"] == [
        None, None, [0, 1]]


def _refuse_constant(name):
    raise AssertionError(f"{name} is not JSON")


def cli(cmd, process=False):
    """``cmd`` (``python -m deepclust ...``) run by test_cli's runner: in this process unless
    ``process``, where the process boundary is what is tested."""
    return run_cli(*cmd[3:], process=process)


def test_command_line_experiment(tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "deepclust", "experiment", "table2", "--datasets", "digits",
           "--seeds", "0", "--methods", "k-means", "AE + k-means", "DEC", "--out", str(out),
           "--param", "hidden_dims=(32,)", "--param", "layerwise_iter=20", "--param", "finetune_iter=40",
           "--param", "max_iter=40", "--param", "n_init=2"]
    proc = cli(cmd)
    assert proc.returncode == 0, proc.stderr
    assert "| DEC |" in proc.stdout and (out / "table2.json").exists()
    data = json.loads((out / "table2.json").read_text())
    assert data["results"]["digits"]["n_samples"] == 1797
    bad = cli([*cmd[:4], "table2", "--methods", "HAC", "--out", str(out)], process=True)
    assert bad.returncode == 1 and "unknown" in bad.stderr and "Traceback" not in bad.stderr
    bad = cli([*cmd, "--param", "augment=True"])
    assert bad.returncode == 1 and "--param augment: DEC has no such parameter" in bad.stderr
    # settings every experiment sets itself: refused before any fit (k-means' table used to record
    # n_clusters=5 as a setting while fitting 10 clusters)
    for param, says in (("n_clusters=5", "as many clusters as the labels have classes; leave it out"),
                        ("device=cpu", "set it with --device instead")):
        bad = cli([*cmd[:4], "table2", "--methods", "k-means", "--seeds", "0", "--out", str(out),
                   "--param", param])
        assert bad.returncode == 1 and says in bad.stderr and "Traceback" not in bad.stderr, param


def test_command_line_passes_a_method_its_own_settings(tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "deepclust", "experiment", "table2", "--datasets", "digits", "--seeds", "0",
           "--methods", "DBC", "--out", str(out), "--param", "augment=True", "--param", "channels=(4, 8)",
           "--param", "pretrain_epochs=1", "--param", "max_iter=20", "--param", "n_init=1"]
    proc = cli(cmd)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "table2.json").read_text())
    assert "'augment': True" in data["environment"]  # the settings, as the header records them
    assert data["settings"] == {"augment": True, "channels": [4, 8], "pretrain_epochs": 1, "max_iter": 20,
                                "n_init": 1}  # and as a key
    assert set(data["run"]) == {"deepclust", "torch", "machine", "torch_threads", "date"}
    assert 0 <= data["results"]["digits"]["runs"][0]["DBC"]["acc"] <= 1


def test_command_line_select_k(tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "deepclust", "experiment", "select-k", "--datasets", "digits", "--seeds", "0",
           "--candidates", "9", "10", "11", "--out", str(out), "--param", "hidden_dims=(32,)",
           "--param", "layerwise_iter=20", "--param", "finetune_iter=40", "--param", "max_iter=40",
           "--param", "n_init=2"]
    proc = cli(cmd)
    assert proc.returncode == 0, proc.stderr
    assert "digits seed 0: chosen k" in proc.stdout and "| 10 |" in proc.stdout
    data = json.loads((out / "select-k.json").read_text())["results"]["digits"]
    assert data["candidates"] == [9, 10, 11] and data["runs"][0]["chosen"] in (9, 10, 11)
    assert (out / "select-k.png").stat().st_size > 1000
    for param, says in (("tol=0.1", "--param max_iter"), ("n_clusters=3", "--candidates"), ("random_state=1", "--seeds")):
        bad = cli([*cmd, "--param", param])
        assert bad.returncode == 1 and says in bad.stderr and "Traceback" not in bad.stderr, param


def test_generalizability_study_reads_labels_only_for_nmi(blobs):
    X, y = blobs
    lines = []
    result = generalizability_study(X, y, candidates=(4, 2, 3), seeds=(0,), dec_params=TINY, log=lines.append)
    assert result["candidates"] == [2, 3, 4] and result["n_clusters"] == 3 and result["n_splits"] == 2
    (run,) = result["runs"]
    assert run["chosen"] in (2, 3, 4) and [row["k"] for row in run["table"]] == [2, 3, 4]
    assert all(0.0 <= row["nmi"] <= 1.0 and len(row["G_splits"]) == 2 for row in run["table"])
    assert len(lines) == 1 and f"chosen k {run['chosen']}" in lines[0]
    # other labels change the NMI column and nothing else
    shuffled = np.random.RandomState(0).permutation(y)
    again = generalizability_study(X, shuffled, candidates=(2, 3, 4), seeds=(0,), dec_params=TINY)["runs"][0]
    assert again["chosen"] == run["chosen"]
    assert [row["G"] for row in again["table"]] == [row["G"] for row in run["table"]]
    assert [row["nmi"] for row in again["table"]] != [row["nmi"] for row in run["table"]]


def test_generalizability_study_defaults_and_errors(blobs):
    X, y = blobs
    quick = generalizability_study(X, y, seeds=(0,), n_splits=1, dec_params={**TINY, "max_iter": 5})
    assert quick["candidates"] == list(range(2, 9))  # 3 classes give or take 5, at least 2
    # the selection's warnings are kept with the run and printed under its table
    quick["runs"][0]["warnings"] = ["select_n_clusters: G never drops over the candidates"]
    assert "seed 0: select_n_clusters: G never drops" in experiments.markdown("select-k", {"blobs": quick})
    with pytest.raises(ValueError, match="tol"):
        generalizability_study(X, y, dec_params={"tol": 0.1})
    with pytest.raises(ValueError, match="every candidate must be >= 2"):
        generalizability_study(X, y, candidates=(1, 2), dec_params=TINY)
    with pytest.raises(ValueError, match="must hold ints"):
        generalizability_study(X, y, candidates=(2, 3.5), dec_params=TINY)
    with pytest.raises(ValueError, match=r"seeds=\[0, 1, 0\] repeats \[0\]; give each seed once"):
        generalizability_study(X, y, seeds=(0, 1, 0), dec_params=TINY)
    assert quick["pooled"] is None  # one seed: nothing to pool


def test_generalizability_study_keeps_the_selections_warnings_and_passes_others_on(blobs, monkeypatch):
    import warnings

    from deepclust.selection import rule  # where _conclude looks the verdict up

    def verdict(table, chosen, stacklevel=2):
        warnings.warn(f"select_n_clusters: chose {chosen} within the noise ({len(table[0]['G_splits'])} splits)",
                      UserWarning)
        warnings.warn("something else", RuntimeWarning)

    monkeypatch.setattr(rule, "_warn_if_unreliable", verdict)
    X, y = blobs
    with pytest.warns(RuntimeWarning, match="something else"):
        result = generalizability_study(X, y, candidates=(2, 3), seeds=(0, 1), n_splits=1, dec_params=TINY)
    for run in result["runs"]:
        assert run["warnings"] == [f"select_n_clusters: chose {run['chosen']} within the noise (1 splits)"]
    # the two seeds' splits pooled: their own verdict, on both splits
    pooled = result["pooled"]
    assert pooled["warnings"] == [f"select_n_clusters: chose {pooled['chosen']} within the noise (2 splits)"]
    for i, row in enumerate(pooled["table"]):
        assert row["G_splits"] == result["runs"][0]["table"][i]["G_splits"] + result["runs"][1]["table"][i]["G_splits"]
    text = experiments.markdown("select-k", {"blobs": result})
    assert "All 2 seeds' splits pooled (2 splits): chosen k" in text and "pooled: select_n_clusters: chose" in text
