"""Information Maximizing Self-Augmented Training (Hu, Miyato, Tokui, Matsumoto & Sugiyama, 2017).

IMSAT reads a point's cluster straight from a network: an MLP with a softmax head, trained
without pretraining to maximise the mutual information between the input and its cluster,
H(Y) - H(Y | X), while staying invariant to a small perturbation of each input (the
self-augmentation). The recipe here supplies the network
(:class:`~deepclust.nn.classifier.ClusterHead`), the perturbation radii (exact k-nearest-neighbour
distances, :mod:`deepclust.training.neighbors`) and the loss; the contract and the training loop
are the house's.
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
from torch.nn import functional as F

from .._utils import caller_stacklevel
from ..base import DeepClusterer, FitRun
from ..data.batches import BatchSource, batches_per_epoch, chunk_rows, finite_rows, map_chunks
from ..nn.classifier import ClusterHead, frozen_batch_statistics
from ..training import distributed
from ..training.augment import ImageAugmenter
from ..training.checkpoint import register_phase
from ..training.loop import train_steps
from ..training.neighbors import kth_neighbor_distances
from ..training.pretraining import adam

logger = logging.getLogger(__name__)

__all__ = ["IMSAT"]

_AUGMENTS = ("vat", "affine", "vat+affine")
_PHASE = register_phase("imsat")


def _kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(softmax(p) || softmax(q)); p is the (fixed) target."""
    p = F.softmax(p_logits, dim=1)
    return (p * (F.log_softmax(p_logits, dim=1) - F.log_softmax(q_logits, dim=1))).sum(dim=1).mean()


def entropies(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(H(Y | X), H(Y))`` of a batch: the mean entropy of the rows' softmax, and the entropy
    of their mean."""
    p = F.softmax(logits, dim=1)
    conditional = -(p * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    marginal = p.mean(dim=0)
    return conditional, -(marginal * torch.log(marginal.clamp_min(1e-12))).sum()


class IMSAT(DeepClusterer):
    """Information Maximizing Self-Augmented Training: an MLP whose softmax is the clustering.

    The network is ``d -> hidden_dims -> n_clusters`` (linear, batch normalisation, ReLU; the
    last layer initialised near zero, so the first predictions are near uniform), trained from
    scratch on each mini-batch's loss

        R_SAT + lam * (H(Y | X) - mu * H(Y)),

    where H(Y | X) is the mean entropy of the predictions (low: confident), H(Y) the entropy of
    the batch's mean prediction (high: balanced clusters, so all of them are used), and R_SAT
    the self-augmentation term: KL(p(y | x) || p(y | T(x))) for a perturbed copy T(x) of each
    point. With ``augment="vat"`` (the paper's, for any vectors) T is virtual adversarial
    training: the direction that changes the prediction most, found by one power iteration,
    scaled to the point's own radius ``eps_scale`` times the distance to its ``n_neighbors``-th
    nearest neighbour in X (computed exactly, in chunks, before training). For images,
    ``augment="affine"`` uses random rotations and shifts instead (DBC's ``augment``), and
    ``"vat+affine"`` adds both terms. Labels are the argmax of the softmax.

    Read more in the paper: Hu, Miyato, Tokui, Matsumoto & Sugiyama, "Learning Discrete
    Representations via Information Maximizing Self-Augmented Training", ICML 2017.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters k (the softmax's width).
    hidden_dims : tuple of int, default=(1200, 1200)
        Widths of the hidden layers (the paper's).
    lam : float, default=0.1
        Weight of the information term against R_SAT.
    mu : float, default=4.0
        Weight of H(Y), the balance of the clusters, against H(Y | X).
    augment : {"vat", "affine", "vat+affine"}, default="vat"
        The self-augmentation T (see above). "affine" needs images (``image_shape``).
    eps_scale : float, default=0.25
        VAT's radius as a fraction of the distance to the ``n_neighbors``-th neighbour.
    n_neighbors : int, default=10
        Which neighbour's distance sets a point's radius. The point itself does not count (the
        published code counts it, so its "10th" neighbour is the 11th other point); duplicates
        of a point do.
    xi : float, default=0.1
        The power iteration's step, as a multiple of the point's radius: relative to the radius,
        one setting holds at any scale of X. The published code uses a fixed step of 10 on
        MNIST scaled to [-1, 1], of the order of the radii there; a tenth of the radius measured
        better on digits and Fashion-MNIST (``benchmarks/RESULTS.md``).
    image_shape : tuple of int or "auto", default="auto"
        ``(channels, height, width)`` of the rows for ``augment`` with "affine", as
        :class:`DBC` takes it ("auto": a square grey image when the number of features is a
        perfect square). Unused with ``augment="vat"``.
    epochs : int, default=50
        Passes over the data (the paper's 50).
    max_iter : int or None, default=5000
        At most this many training steps (mini-batches): the paper's 50 epochs up to 25,000
        points, fewer passes above, so the time stays bounded on large data (the balance and
        confidence of the clusters settle in the first passes); None: always ``epochs`` passes.
    lr : float, default=0.002
        Adam's learning rate.
    batch_size : int, default=250
        Mini-batch size: the batch over which H(Y) is estimated.
    device : str or torch.device, default="auto"
        "auto" picks CUDA when available.
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Arithmetic of the training steps (see :class:`DEC`).
    checkpoint_dir : str or path-like, default=None
        Write checkpoints there and resume from the one it holds (see :class:`DEC`).
    checkpoint_every : int, default=1000
        Steps between checkpoints.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the batch order and the perturbations.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    network_ : ClusterHead
        The trained network (in eval mode).
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training point.
    n_iter_ : int
        Training steps taken.
    history_ : list of dict
        Per epoch: the mean loss, and the number of clusters the labels used at the end of
        training (in the last entry).
    radius_ : dict
        The perturbation radii's summary: their mean, median, min and max.
    fit_times_ : dict
        Seconds spent finding the neighbours, training and labelling.
    image_shape_ : tuple of int or None
        The image shape used by the affine augmentation (None without it).
    n_features_in_, feature_names_in_, device_, precision_
        As :class:`DEC`'s.

    See Also
    --------
    DEC : Clustering of an autoencoder's embedding by self-training.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import IMSAT
    >>> X, _ = load_digits(return_X_y=True)
    >>> imsat = IMSAT(n_clusters=10, epochs=5, random_state=0).fit(X / 16)
    >>> imsat.predict_proba(X[:2] / 16).shape
    (2, 10)
    """

    _parameter_constraints: dict = {
        **DeepClusterer._parameter_constraints,
        "hidden_dims": [list, tuple],
        "lam": [Interval(Real, 0, None, closed="left")],
        "mu": [Interval(Real, 0, None, closed="left")],
        "augment": [StrOptions(set(_AUGMENTS))],
        "eps_scale": [Interval(Real, 0, None, closed="left")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "xi": [Interval(Real, 0, None, closed="neither")],
        "image_shape": [list, tuple, StrOptions({"auto"})],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
    }
    _supports_distributed = False
    _saved_network = "network_"
    _saved_arrays = ("labels_",)
    _saved_json = {**DeepClusterer._saved_json, "n_iter_": int, "history_": list, "fit_times_": dict,
                   "radius_": dict, "image_shape_": (list, type(None))}
    _test_params = dict(hidden_dims=(32,), epochs=10, batch_size=32, checkpoint_every=25)
    _expected_failed_checks = {
        check: ("the check assumes an estimator with predict_proba is a classifier: it reads classifier_tags "
                "(None for a clusterer) and expects 2 or 4 probability columns, while predict_proba has "
                "n_clusters columns (sparse input is tested by tests/test_imsat.py)")
        for check in ("check_estimator_sparse_array", "check_estimator_sparse_matrix")}

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        hidden_dims: tuple[int, ...] = (1200, 1200),
        lam: float = 0.1,
        mu: float = 4.0,
        augment: str = "vat",
        eps_scale: float = 0.25,
        n_neighbors: int = 10,
        xi: float = 0.1,
        image_shape="auto",
        epochs: int = 50,
        max_iter: int | None = 5000,
        lr: float = 0.002,
        batch_size: int = 250,
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
        return int(self.network_.dims[-2])

    # ------------------------------------------------------------------ fit

    def _check_network(self, n_features: int) -> None:
        if not all(isinstance(h, Integral) and not isinstance(h, bool) and h >= 1 for h in self.hidden_dims):
            raise ValueError(f"hidden_dims={self.hidden_dims!r} must be a sequence of positive ints, e.g. "
                             "(1200, 1200); () gives a linear softmax on X.")
        self.image_shape_ = None
        if "affine" not in self.augment:
            return
        from .dbc import image_shape_of

        self.image_shape_ = image_shape_of(self.image_shape, n_features)
        if min(self.image_shape_[1:]) < 2:
            raise ValueError(
                f"augment={self.augment!r} rotates and shifts images, but the rows are read as images of "
                f"shape {self.image_shape_}; pass image_shape=(channels, height, width) with height and "
                "width >= 2, or augment='vat' (any vectors).")

    def _fit_recipe(self, source: BatchSource, run: FitRun) -> None:
        device, checkpoint = run.device, run.checkpoint
        times = {}
        net = ClusterHead([source.n_features, *self.hidden_dims, self.n_clusters]).to(device)
        position = checkpoint.position(_PHASE) if checkpoint is not None else None
        clock = time.perf_counter()
        radii = None
        if "vat" in self.augment:
            if position is not None:  # computed before the interrupted fit's first checkpoint
                radii = position[2]["radii"].to(device)
            else:
                logger.info("IMSAT: distances to the %d-th nearest neighbour of %d points", self.n_neighbors,
                            len(source))
                radii = kth_neighbor_distances(source, self.n_neighbors)
            if not bool(torch.isfinite(radii).all()):
                raise ValueError("The distances between rows of X are not finite in float32; scale X down "
                                 "(e.g. StandardScaler).")
        times["neighbors"] = time.perf_counter() - clock
        self.radius_ = ({} if radii is None else
                        {"mean": float(radii.mean()), "median": float(radii.median()),
                         "min": float(radii.min()), "max": float(radii.max())})
        if checkpoint is not None:
            checkpoint.model = net
            if position is not None:
                checkpoint.restore(net)
            else:  # the radii, so that a fit resumed from here does not search the neighbours again
                checkpoint.save(_PHASE, 0, 0, {} if radii is None else {"radii": radii})
        augmenter = (ImageAugmenter(self.image_shape_, run.generator.initial_seed(), "clustering",
                                    distributed.rank()) if "affine" in self.augment else None)
        per_rank = self._batch_per_rank()
        n_iter = self.epochs * batches_per_epoch(len(source), per_rank)
        if self.max_iter is not None:
            n_iter = min(n_iter, self.max_iter)

        def loss_fn(x: torch.Tensor, iteration: int, rows: torch.Tensor) -> torch.Tensor:
            if x.shape[0] == 1:  # batch normalisation needs two rows: a lone last row, twice
                x, rows = x.repeat(2, 1), rows.repeat(2)
            logits = net(x)
            conditional, marginal = entropies(logits)
            loss = self.lam * (conditional - self.mu * marginal)
            target = logits.detach()
            with frozen_batch_statistics(net):
                if radii is not None:
                    loss = loss + self._vat(net, x, target, self.eps_scale * radii[rows.to(device)])
                if augmenter is not None:
                    loss = loss + _kl(target, net(augmenter(x, iteration)))
            return loss

        clock = time.perf_counter()
        stage_args = {}
        if checkpoint is not None:
            stage_args = {
                "resume": (position[1], position[2]) if position is not None else None,
                "checkpoint": lambda it, state: checkpoint.save(_PHASE, 0, it, {
                    **state, **({"radii": radii} if radii is not None else {})}),
                "due": checkpoint.due,
            }
        net.train()
        losses = train_steps(
            loss_fn, source, n_iter=n_iter, batch_size=per_rank, optimizer=adam(net.parameters(), self.lr),
            scheduler=None, generator=run.generator, desc="IMSAT", verbose=self.verbose,
            compute_dtype=self._compute_dtype("clustering"), loss_name="IMSAT loss",
            advice="Standardise the input (e.g. StandardScaler) or lower lr", indexed=True, **stage_args)
        times["training"] = time.perf_counter() - clock
        clock = time.perf_counter()
        self.network_ = net.eval()
        self.device_ = device
        self.labels_ = self._logits(source).argmax(dim=1).cpu().numpy()
        times["labels"] = time.perf_counter() - clock
        used = int(np.unique(self.labels_).size)
        self.n_iter_ = n_iter
        self.history_ = [{"epoch": i + 1, "loss": float(v)} for i, v in enumerate(losses)]
        if self.history_:
            self.history_[-1]["clusters_used"] = used
        self.fit_times_ = times
        if used < self.n_clusters:
            warnings.warn(
                f"{self.n_clusters - used} of the {self.n_clusters} clusters ended empty: no training point "
                "has its highest probability there. The data may hold fewer clusters; try a lower n_clusters, "
                "or a higher mu (the weight of balanced clusters).",
                ConvergenceWarning, stacklevel=caller_stacklevel())

    def _vat(self, net, x, target, eps) -> torch.Tensor:
        """Virtual adversarial training's term: KL(p(y | x) || p(y | x + r_adv)), ``r_adv`` the
        direction found by one power iteration, of length ``eps`` (per row)."""
        d = torch.randn(x.shape, device=x.device, dtype=torch.float32)
        step = (self.xi * eps)[:, None]
        d = (step * F.normalize(d, dim=1)).requires_grad_(True)
        distance = _kl(target, net(x + d.to(x.dtype)))
        (grad,) = torch.autograd.grad(distance, d)
        r_adv = eps[:, None] * F.normalize(grad.float(), dim=1)
        return _kl(target, net(x + r_adv.to(x.dtype)))

    # ----------------------------------------------------- inference on new X

    def _logits(self, source: BatchSource) -> torch.Tensor:
        with torch.no_grad():
            return map_chunks(source, self.network_, chunk_rows(source.n_features))

    def _transform_tensor(self, X) -> torch.Tensor:
        source = BatchSource(X, self.device_, check=True)
        with torch.no_grad():
            z = map_chunks(source, self.network_.features, chunk_rows(source.n_features))
        return finite_rows(z, "embedding")

    def _q_tensor(self, X) -> torch.Tensor:
        logits = finite_rows(self._logits(BatchSource(X, self.device_, check=True)), "network output")
        return F.softmax(logits.float(), dim=1)

    def _score_tensor(self, X) -> float:
        """The mutual information I(X; Y) = H(Y) - H(Y | X) of X and its clusters, in nats, that
        IMSAT maximises (besides its self-augmentation term); higher is better."""
        logits = finite_rows(self._logits(BatchSource(X, self.device_, check=True)), "network output")
        conditional, marginal = entropies(logits.float())
        return float(marginal - conditional)

    def _check_restored(self) -> None:
        k = int(self.network_.dims[-1])
        if k != self.n_clusters:
            raise ValueError(f"the network has {k} outputs but n_clusters is {self.n_clusters}")
        if self.labels_.size and (self.labels_.min() < 0 or self.labels_.max() >= k):
            raise ValueError(f"labels_ holds clusters outside 0 to {k - 1}")
        if self.image_shape_ is not None:
            self.image_shape_ = tuple(self.image_shape_)
            if len(self.image_shape_) != 3 or math.prod(self.image_shape_) != self.n_features_in_:
                raise ValueError(f"image_shape_ {self.image_shape_} does not hold the network's "
                                 f"{self.n_features_in_} features")
