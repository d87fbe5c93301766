"""Deep Embedded Regularized Clustering, DEPICT (Ghasedi Dizaji et al., ICCV 2017).

The balanced soft target as a small tensor function, and the :class:`DEPICT` estimator: a denoising
autoencoder with a softmax head (:class:`~deepclust.nn.depict.DepictNetwork`), pretrained on its
ladder-style reconstruction loss, the head initialised from k-means on the clean embedding, then
trained jointly on the reconstruction and the cross-entropy of the noisy softmax against the target.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from tqdm.auto import tqdm

from .._utils import caller_stacklevel
from ..base import DeepClusterer, FitRun
from ..data.batches import (BatchSource, ShuffledBatches, batches_per_epoch, chunk_rows, data_moments, finite_rows,
                             map_chunks)
from ..nn.depict import DepictNetwork, conv_fits
from ..training.kmeans import KMEANS_PARAMETERS, KMeansInit, nearest
from ..training.loop import train_steps
from ..training.precision import autocast
from ..training.pretraining import adam
from .dbc import image_shape_of

__all__ = ["DEPICT", "balanced_target"]

logger = logging.getLogger(__name__)
_LOG_EVERY_S = 5.0
# network="auto" takes the convolutional network for square grey images at least this wide.
_AUTO_CONV_MIN_SIDE = 8
_PROBA_IS_NOT_CLASSIFIER = (
    "the check assumes an estimator with predict_proba is a classifier: it reads classifier_tags (None for "
    "a clusterer) and expects 2 or 4 probability columns, while the method's predict_proba has n_clusters "
    "columns (sparse input is tested by tests/test_depict.py::test_sparse_input_matches_dense)")


def balanced_target(p: torch.Tensor, kind: str = "dec") -> torch.Tensor:
    """DEPICT's soft target q from the clean softmax p of the whole dataset.

    ``kind="dec"``: q_ij proportional to p_ij^2 / f_j (the official code's, DEC's eq. 3);
    ``kind="sqrt"``: q_ij proportional to p_ij / sqrt(f_j) (the paper's eq. 7), where
    f_j = sum_i p_ij is the soft size of cluster j. Both divide by a power of the cluster's
    size, so a large cluster's points are pulled towards the smaller ones (the balance the
    paper derives from a uniform prior on the cluster sizes). Rows sum to one.
    """
    f = p.sum(dim=0).clamp_min(torch.finfo(p.dtype).tiny)
    weight = p.pow(2) / f if kind == "dec" else p / f.sqrt()
    return weight / weight.sum(dim=1, keepdim=True).clamp_min(torch.finfo(p.dtype).tiny)


def cross_entropy(q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """-sum_j q_ij log p_ij, averaged over the rows: the clustering loss."""
    return -(q * log_p).sum(dim=1).mean()


class DEPICT(KMeansInit, DeepClusterer):
    """Deep Embedded Regularized Clustering (DEPICT).

    A denoising autoencoder whose embedding has one tanh unit per cluster
    and feeds a softmax head. The encoder has a *noisy* path (dropout on the
    input and every hidden layer) and a *clean* one (the same weights, no
    dropout). Its decoder reconstructs, from the noisy embedding, every
    level of the encoder, and the reconstruction loss compares each level
    with the clean path's activation (ladder-style: weight 1 for the input,
    ``hidden_weight`` for each hidden layer). The method:

    1. pretrains the autoencoder on that loss (Adam);
    2. runs k-means on the clean embedding and initialises the softmax head
       with the L2-normalised centroids as weights and zero biases;
    3. trains everything jointly on the reconstruction loss plus the
       cross-entropy of the noisy softmax against a balanced soft target q
       computed from the clean softmax p of the whole dataset (see
       :func:`balanced_target`), recomputed every ``update_interval``
       mini-batch steps; it stops when fewer than ``tol`` of the points
       changed cluster between two updates, or after ``max_iter`` steps.

    Labels are the argmax of the clean softmax. Two steps of the official
    code are left out: its validation split for early stopping of the
    pretraining (stratified by the true labels, which an unsupervised method
    cannot use; pretraining runs for ``pretrain_epochs`` instead), and its
    initial phase trained on k-means' hard labels (the joint phase starts
    from the k-means head directly).

    Read more in the paper: Ghasedi Dizaji, Herandi, Deng, Cai & Huang,
    "Deep Clustering via Joint Convolutional Autoencoder Embedding and
    Relative Entropy Minimization", ICCV 2017.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters k: also the width of the embedding, as in the paper.
    network : {"auto", "conv", "mlp"}, default="auto"
        "conv": the convolutional network of the paper, for images (see
        ``image_shape``); "mlp": a fully connected one, for any vectors.
        "auto" takes "conv" when ``image_shape`` is given, or when the number
        of features is a square of side 8 or more (a grey image: 64 -> 8 x 8,
        784 -> 28 x 28), and "mlp" otherwise: smaller maps leave too few
        pixels for two stride-2 convolutions.
    image_shape : tuple of int or "auto", default="auto"
        ``(channels, height, width)`` of one image (``(height, width)`` means
        one channel); rows of X are images flattened channel first. "auto"
        takes a square grey image.
    channels : tuple of int, default=(50, 50)
        Channels of the convolutions (the first 4 x 4, the others 5 x 5, all
        of stride 2, each followed by a leaky ReLU), the paper's MNIST network.
    hidden_dims : tuple of int, default=(256, 256)
        Widths of the fully connected network's hidden layers. DEC's
        (500, 500, 2000) saturated the tanh embedding at the default
        ``pretrain_lr`` on digits; this narrower one did not.
    dropout : float, default=0.1
        Dropout rate of the noisy path, the paper's.
    hidden_weight : float, default=0.1
        Weight of each hidden layer's reconstruction error (the input's has
        weight 1), the paper's.
    target : {"dec", "sqrt"}, default="dec"
        The balanced target (:func:`balanced_target`): "dec" is the official
        code's p^2 / f, "sqrt" the paper's p / sqrt(f). "dec" is the default
        because "sqrt", which does not sharpen the assignments, collapsed
        into one cluster or stayed far less accurate on digits, where "dec"
        used every cluster (``benchmarks/RESULTS.md``).
    pretrain_epochs : int, default=50
        Epochs of autoencoder pretraining. The official code trains up to
        4,000 epochs with early stopping on a label-stratified split; a fixed
        length needs no labels.
    pretrain_lr : float, default=3e-3
        Adam's learning rate for pretraining. The official 1e-4 needs
        thousands of epochs; with the default ``pretrain_epochs``, 3e-3 gave
        an embedding that k-means separated better than 1e-3 did on digits.
        Some widths (a few channels; DEC's wide MLP) saturated the tanh
        embedding at this rate; the fit warns when every point embeds alike.
    n_init : int, default=20
        k-means restarts on the embedding.
    kmeans_sample_size : int, "auto" or None, default="auto"
        As :class:`DEC`'s: k-means on every point up to 100,000, on a sample beyond.
    lr : float, default=1e-3
        Adam's learning rate in the joint phase (Adam's usual rate; 1e-4 moved
        the clusters too slowly for a budget of minutes).
    update_interval : int or "auto", default="auto"
        Mini-batch steps between two updates of the target; "auto" is one
        epoch, as in the official code.
    batch_size : int, default=100
        Mini-batch size, the paper's.
    max_iter : int, default=10000
        Most mini-batch steps of the joint phase; 0 stops after the k-means
        initialisation.
    tol : float, default=1e-3
        Stop when fewer than this fraction of the points changed cluster
        between two target updates.
    device, precision, checkpoint_dir, checkpoint_every, random_state, verbose
        As :class:`DEC`'s.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training point: the argmax of its clean softmax.
    network_ : DepictNetwork
        The trained network (encoder, decoder and softmax head).
    image_shape_ : tuple of int or None
        The image shape of the convolutional network; None for the fully connected one.
    n_iter_ : int
        Mini-batch steps of the joint phase.
    history_ : list of dict
        One entry per target update: ``iteration``, ``loss`` (mean joint loss
        of the steps before it), ``delta_label`` (fraction of points that
        changed cluster; the first against k-means' labels), ``n_empty``,
        ``smallest`` and ``seconds``.
    pretrain_history_ : list of float
        Mean reconstruction loss of each pretraining epoch.
    fit_times_ : dict
        Seconds spent in each phase: ``pretrain``, ``kmeans``, ``clustering``.

    See Also
    --------
    DEC : Self-training on the Student's t assignment to centroids.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import DEPICT
    >>> X, _ = load_digits(return_X_y=True)
    >>> model = DEPICT(n_clusters=10, pretrain_epochs=2, max_iter=20, random_state=0)
    >>> labels = model.fit_predict(X / 16)  # 64 features: 8 x 8 images
    >>> model.predict_proba(X[:2] / 16).shape
    (2, 10)
    """

    _parameter_constraints: dict = {
        **DeepClusterer._parameter_constraints,
        **KMEANS_PARAMETERS,
        "network": [StrOptions({"auto", "conv", "mlp"})],
        "image_shape": [list, tuple, StrOptions({"auto"})],
        "channels": [list, tuple],
        "hidden_dims": [list, tuple],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "hidden_weight": [Interval(Real, 0, None, closed="left")],
        "target": [StrOptions({"dec", "sqrt"})],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_lr": [Interval(Real, 0, None, closed="neither")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "update_interval": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="both")],
    }
    _supports_distributed = False
    _saved_network = "network_"
    _saved_json = {**DeepClusterer._saved_json, "n_iter_": int, "history_": list, "pretrain_history_": list,
                   "fit_times_": dict, "image_shape_": (list, type(None))}
    _test_params = dict(hidden_dims=(16,), pretrain_epochs=20, n_init=2, max_iter=40, batch_size=32, lr=1e-3)
    _expected_failed_checks = {check: _PROBA_IS_NOT_CLASSIFIER
                               for check in ("check_estimator_sparse_array", "check_estimator_sparse_matrix")}

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        network: str = "auto",
        image_shape="auto",
        channels: tuple[int, ...] = (50, 50),
        hidden_dims: tuple[int, ...] = (256, 256),
        dropout: float = 0.1,
        hidden_weight: float = 0.1,
        target: str = "dec",
        pretrain_epochs: int = 50,
        pretrain_lr: float = 3e-3,
        n_init: int = 20,
        kmeans_sample_size: int | str | None = "auto",
        lr: float = 1e-3,
        update_interval: int | str = "auto",
        batch_size: int = 100,
        max_iter: int = 10000,
        tol: float = 1e-3,
        device="auto",
        precision: str = "auto",
        checkpoint_dir=None,
        checkpoint_every: int = 1000,
        random_state=None,
        verbose: bool = False,
    ):
        self._store_params(locals())

    @property
    def _n_features_out(self) -> int:
        return self.n_clusters

    # ------------------------------------------------------------ the network

    def _check_network(self, n_features: int) -> None:
        """Resolve the network and the image shape, refusing what cannot build it."""
        shape = None
        if self.image_shape != "auto":
            shape = image_shape_of(self.image_shape, n_features)
        elif self.network != "mlp":
            side = math.isqrt(n_features)
            square = side * side == n_features
            if self.network == "conv" and not square:
                raise ValueError(f"network='conv' needs images, but X's {n_features} features are not a square "
                                 "grey image; pass image_shape=(channels, height, width) or network='mlp'.")
            if square and (self.network == "conv" or side >= _AUTO_CONV_MIN_SIDE):
                shape = (1, side, side)
        if self.network == "mlp":
            shape = None
        widths = self.channels if shape is not None else self.hidden_dims
        name = "channels" if shape is not None else "hidden_dims"
        if not widths or not all(_positive_int(w) for w in widths):
            raise ValueError(f"{name}={widths!r} must be a non-empty sequence of positive ints.")
        if shape is not None and not conv_fits(shape, len(widths)):
            raise ValueError(f"image_shape {shape} is too small for {len(widths)} convolutions of stride 2; "
                             "pass fewer channels or network='mlp'.")
        self.image_shape_ = shape

    def _new_network(self, source: BatchSource) -> DepictNetwork:
        # The DEC paper's normalisation, (1/d)||x||^2 = 1 on average, inside the network.
        energy = data_moments(source)[0]
        scale = math.sqrt(source.n_features / energy) if energy > 0 else 1.0
        widths = self.channels if self.image_shape_ is not None else self.hidden_dims
        try:
            return DepictNetwork(source.n_features, self.n_clusters, widths, self.image_shape_, self.dropout, scale)
        except ValueError as exc:  # the scale does not fit in float32
            raise ValueError(f"X's values are too small to normalise in float32 (mean squared norm {energy:.3g}); "
                             "multiply X by a large constant first.") from exc

    def _pretrain(self, net: DepictNetwork, source: BatchSource, generator, checkpoint) -> list[float]:
        """Stage 1: the ladder reconstruction loss, with checkpoints and resume."""
        position = checkpoint.position("pretrain") if checkpoint is not None else None
        if checkpoint is not None and checkpoint.phase == "clustering":  # pretrained before
            checkpoint.restore(net)
            return list(checkpoint.resume["meta"]["pretrain_history"])
        if position is not None:
            checkpoint.restore(net)
            if position[0] >= 1:  # pretraining was complete
                return list(position[2]["prior"])
        params = [p for part in (net.encoder, net.decoder) for p in part.parameters()]
        n_iter = self.pretrain_epochs * batches_per_epoch(len(source), self.batch_size)
        args = {}
        if checkpoint is not None:
            args = {"resume": None if position is None else position[1:],
                    "checkpoint": lambda it, state: checkpoint.save("pretrain", 0, it, {**state, "prior": []}),
                    "due": checkpoint.due}
        net.train()
        losses = train_steps(lambda x: net.ladder_loss(x, self.hidden_weight)[0], source, n_iter=n_iter,
                             batch_size=self.batch_size, optimizer=adam(params, self.pretrain_lr), scheduler=None,
                             generator=generator, desc="pretrain (DEPICT)", verbose=self.verbose,
                             compute_dtype=self._compute_dtype("pretrain"), **args)
        if checkpoint is not None:
            checkpoint.save("pretrain", 1, 0, {"prior": losses})
        return losses

    # ------------------------------------------------------------------ fit

    def _fit_recipe(self, source: BatchSource, run: FitRun) -> None:
        generator, checkpoint = run.generator, run.checkpoint
        kmeans_seed = self._shared_seed(run.rng)
        if checkpoint is not None:
            if checkpoint.resume is not None:
                kmeans_seed = int(checkpoint.resume["meta"]["kmeans_seed"])
            checkpoint.meta["kmeans_seed"] = kmeans_seed
        clock = time.perf_counter()
        net = self._new_network(source).to(run.device)
        if checkpoint is not None:
            checkpoint.model = net
        self.pretrain_history_ = self._pretrain(net, source, generator, checkpoint)
        if checkpoint is not None:
            checkpoint.meta["pretrain_history"] = list(self.pretrain_history_)
        timings = {"pretrain": time.perf_counter() - clock}
        clock = time.perf_counter()
        resumed = checkpoint.position("clustering") if checkpoint is not None else None
        if resumed is not None:  # the head and the labels are in the checkpoint
            init_labels = resumed[2]["labels"].to(run.device)
        else:
            z = self._pass(net, source, net.encode)
            if not bool(torch.isfinite(z).all()):
                raise FloatingPointError("DEPICT: the pretrained network gives non-finite embeddings; lower "
                                         "pretrain_lr or standardise X (e.g. StandardScaler).")
            if len(z) > 1 and float(z.std(dim=0).max()) < 1e-3:
                warnings.warn("DEPICT: after pretraining the tanh embedding is the same for every point (its "
                              "units saturated), so the clusters will be arbitrary; lower pretrain_lr, or change "
                              "the network's widths (channels or hidden_dims).", RuntimeWarning,
                              stacklevel=caller_stacklevel())
            centers, init_labels = self._kmeans(z, kmeans_seed)
            if init_labels is None:  # k-means ran on a sample
                init_labels = nearest(z, centers)
            with torch.no_grad():  # the head: L2-normalised centroids, zero biases
                net.head.weight.copy_(centers / centers.norm(dim=1, keepdim=True).clamp_min(1e-12))
                net.head.bias.zero_()
        timings["kmeans"] = time.perf_counter() - clock
        clock = time.perf_counter()
        p, self.n_iter_, self.history_ = self._joint_phase(net, source, init_labels, generator, checkpoint)
        timings["clustering"] = time.perf_counter() - clock
        self.network_ = net.eval()
        self.labels_ = p.argmax(dim=1).cpu().numpy()
        self.fit_times_ = timings
        sizes = np.bincount(self.labels_, minlength=self.n_clusters)
        if (sizes == 0).any():
            warnings.warn(f"{int((sizes == 0).sum())} of the {self.n_clusters} clusters ended empty: the data may "
                          "hold fewer clusters; try a lower n_clusters or a lower lr.", ConvergenceWarning,
                          stacklevel=caller_stacklevel())

    @staticmethod
    def _pass(net: DepictNetwork, source: BatchSource, fn) -> torch.Tensor:
        """``fn`` (the clean embedding or softmax) of every point, in order, in eval mode."""
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                return map_chunks(source, fn, chunk_rows(net.widest)).float()
        finally:
            net.train(was_training)

    def _joint_phase(self, net, source, labels_last, generator, checkpoint):
        """Stage 3: reconstruction plus cross-entropy to the balanced target, updated every
        ``update_interval`` steps. Returns the final clean softmax, the steps and the history."""
        n = len(source)
        interval = (batches_per_epoch(n, self.batch_size) if self.update_interval == "auto"
                    else self.update_interval)
        optimizer = adam(net.parameters(), self.lr)
        batches = ShuffledBatches(n, self.batch_size, generator)
        history, it, running, steps = [], 0, None, 0
        start = time.perf_counter()

        def save(finished=False):
            if running is None or math.isfinite(running.item()):
                checkpoint.save("clustering", 0, it, {
                    "centers": net.head.weight.detach(), "labels": labels_last, "history": history,
                    "optimizer": optimizer.state_dict(), "batches": batches.state_dict(), "running": running,
                    "steps": steps, "finished": finished})

        resumed = checkpoint.position("clustering") if checkpoint is not None else None
        if resumed is not None:
            _, it, loop = resumed
            optimizer.load_state_dict(loop["optimizer"])
            batches.load_state_dict(loop["batches"])
            history = [dict(h) for h in loop["history"]]
            running, steps = loop["running"], int(loop["steps"])
            if running is not None:
                running = running.to(labels_last.device)
            if loop["finished"]:
                return self._pass(net, source, net), it, history
        elif checkpoint is not None:
            save()
        bar = tqdm(total=None, initial=it, desc="clustering (DEPICT)", unit="it", disable=not self.verbose,
                   leave=False)
        logged = time.perf_counter()
        while True:
            p = self._pass(net, source, net)
            labels = p.argmax(dim=1)
            delta = float((labels != labels_last).float().mean())
            loss = math.nan if running is None else running.item() / steps
            if not (math.isfinite(loss) or running is None) or not bool(torch.isfinite(p).all()):
                raise FloatingPointError(f"DEPICT: the joint loss became {loss} by iteration {it}; lower lr or "
                                         "standardise X (e.g. StandardScaler).")
            sizes = torch.bincount(labels, minlength=self.n_clusters)
            history.append({"iteration": it, "loss": loss, "delta_label": delta, "n_empty": int((sizes == 0).sum()),
                            "smallest": int(sizes.min()), "seconds": time.perf_counter() - start})
            bar.set_postfix(loss=f"{loss:.4g}", changed=f"{delta:.2%}")
            if time.perf_counter() - logged >= _LOG_EVERY_S:
                logged = time.perf_counter()
                logger.info("DEPICT iteration %d: %.2f%% of the points changed cluster, loss %.4g", it,
                            100 * delta, loss)
            labels_last = labels
            if (it > 0 and delta < self.tol) or it >= self.max_iter:
                break
            q = balanced_target(p, self.target)
            running, steps = None, min(interval, self.max_iter - it)
            net.train()
            for _ in range(steps):
                idx = next(batches)
                xb = source.take(idx)
                with autocast(source.device, self._compute_dtype("clustering")):
                    reconstruction, noisy_z = net.ladder_loss(xb, self.hidden_weight)
                    logits = net.head(noisy_z)
                batch_loss = reconstruction + cross_entropy(q[idx.to(q.device)], torch.log_softmax(logits.float(), 1))
                optimizer.zero_grad(set_to_none=True)
                batch_loss.backward()
                optimizer.step()
                running = batch_loss.detach() if running is None else running + batch_loss.detach()
            it += steps
            bar.update(steps)
            if checkpoint is not None and checkpoint.due(it, it - steps):
                save()
        bar.close()
        if checkpoint is not None:
            save(finished=True)
        return p, it, history

    def _loss_label(self) -> str:
        """What ``history_``'s ``loss`` is, for an axis label."""
        return "L_r + cross-entropy to the target"

    # ----------------------------------------------------- inference on new X

    def _transform_tensor(self, X) -> torch.Tensor:
        source = BatchSource(X, self.device_, check=True)
        return finite_rows(self._pass(self.network_, source, self.network_.encode), "embedding")

    def _q_tensor(self, X) -> torch.Tensor:
        source = BatchSource(X, self.device_, check=True)
        return finite_rows(self._pass(self.network_, source, self.network_), "soft assignment")

    def _score_tensor(self, X) -> float:
        """Minus the clustering loss on X: the cross-entropy of its clean softmax against the
        balanced target computed from that softmax."""
        p = self._q_tensor(X)
        q = balanced_target(p, self.target)
        return -float(cross_entropy(q, torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))))

    # ------------------------------------------------------------ save/load

    def _check_restored(self) -> None:
        net, labels = self.network_, self.labels_
        if net.n_clusters != self.n_clusters:
            raise ValueError(f"the network has {net.n_clusters} clusters but n_clusters is {self.n_clusters}")
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_clusters):
            raise ValueError(f"labels_ holds clusters outside 0 to {self.n_clusters - 1}")
        if not all(isinstance(h, dict) for h in getattr(self, "history_", ())):
            raise TypeError("history_ is not a list of JSON objects")
        shape = self.image_shape_
        if (None if shape is None else tuple(shape)) != net.image_shape:
            raise ValueError(f"image_shape_ {shape!r} is not the network's {net.image_shape!r}")
        self.image_shape_ = net.image_shape


def _positive_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= 1
