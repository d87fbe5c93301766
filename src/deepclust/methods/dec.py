"""Deep Embedded Clustering (Xie, Girshick & Farhadi, ICML 2016).

The paper's math as small tensor functions (eqs. 1-3), and the :class:`DEC`
estimator that supplies them to the shared training loop (``training/self_training.py``).
"""

from __future__ import annotations

from numbers import Real

import torch
from sklearn.utils._param_validation import Interval

from ..training.kmeans import squared_distances
from ._centroid import CentroidClusterer
from ..nn.autoencoder import Autoencoder

__all__ = ["DEC", "soft_assign", "target_distribution", "kl_divergence"]


def _soft_assign_logits(z: torch.Tensor, centers: torch.Tensor, alpha: float) -> torch.Tensor:
    """log of eq. 1's numerator: -(alpha + 1)/2 * log(1 + ||z_i - mu_j||^2 / alpha)."""
    return -(alpha + 1.0) / 2.0 * torch.log1p(squared_distances(z, centers) / alpha)


def soft_assign(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Soft assignment q_ij of points to centroids, Student's t kernel (eq. 1).

    Parameters
    ----------
    z : Tensor of shape (n, d)
        Embedded points.
    centers : Tensor of shape (k, d)
        Cluster centroids mu_j.
    alpha : float, default=1.0
        Degrees of freedom of the Student's t-distribution.

    Returns
    -------
    q : Tensor of shape (n, k)
        Rows sum to one. Computed as a softmax of log-kernels, so far-away
        points do not underflow to an all-zero row.
    """
    return torch.softmax(_soft_assign_logits(z, centers, alpha), dim=1)


def target_distribution(q: torch.Tensor, frequencies: torch.Tensor | None = None) -> torch.Tensor:
    """Auxiliary target p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j') (eq. 3).

    ``f_j = sum_i q_ij`` are the soft cluster frequencies, so ``q`` must hold
    the soft assignments of the whole dataset, not of a mini-batch; or pass
    ``frequencies`` computed over the whole dataset (data-parallel training
    sums them over the ranks' shards).
    """
    f = q.sum(dim=0) if frequencies is None else frequencies
    # f_j = 0 only where every q_ij underflowed to 0 (a cluster far from all the points, as a
    # large alpha allows): its p_ij are 0 (q_ij^2 / f_j <= q_ij), not the 0 / 0 that would make
    # every row NaN.
    weight = q.pow(2) / f.clamp_min(torch.finfo(q.dtype).tiny)
    return weight / weight.sum(dim=1, keepdim=True)


def kl_divergence(p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(P || Q) of eq. 2, averaged over the rows (points) of the batch.

    Takes ``log q`` rather than ``q`` for numerical stability; terms with
    ``p_ij = 0`` contribute zero. This is what ``nn.KLDivLoss`` computes with
    ``reduction="batchmean"``.
    """
    return (torch.xlogy(p, p) - p * log_q).sum(dim=1).mean()


class DEC(CentroidClusterer):
    """Deep Embedded Clustering.

    DEC first pretrains an autoencoder, then clusters its embedding with
    k-means and refines the encoder and the k centroids jointly by
    self-training: the soft assignment q (Student's t, eq. 1) is pulled
    towards the sharpened target p (eq. 3) by minimising KL(P || Q) (eq. 2).
    The target is recomputed over the whole dataset every ``update_interval``
    iterations, and training stops when fewer than ``tol`` of the points
    changed cluster between two target updates.

    Read more in the paper: Xie, Girshick & Farhadi, "Unsupervised Deep
    Embedding for Clustering Analysis", ICML 2016.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters k.
    hidden_dims : tuple of int, default=(500, 500, 2000)
        Widths of the encoder's hidden layers (the paper's d-500-500-2000-10).
        Hidden layers use ReLU; the embedding and reconstruction layers are
        linear.
    embedding_dim : int, default=10
        Dimension of the embedding z (paper: 10).
    pretrain : {"auto", "layerwise", "end-to-end"}, default="auto"
        How the autoencoder is initialised.

        - "layerwise" (the paper's): a greedy layer-wise denoising
          autoencoder (eqs. 6-9; weights from N(0, 0.01^2), dropout
          ``dropout`` on every code and on the input of every layer but the
          first, as in the paper's code, ``layerwise_iter``
          iterations a layer, each layer trained on the previous one's
          codes), then ``finetune_iter`` iterations of end-to-end fine-tuning
          without dropout; SGD, momentum 0.9, learning rate ``layerwise_lr``
          divided by 10 every ``layerwise_lr_step`` iterations.
        - "end-to-end": the whole autoencoder is trained on the mean squared
          reconstruction error for ``pretrain_epochs`` epochs, with Adam or
          SGD (``pretrain_optimizer``).
        - "auto": end-to-end where 100 epochs reach its "auto" minimum of
          iterations (more than 2,304 points at a batch of 256), layer-wise
          on fewer points. Which one ran is in ``pretrain_schedule_`` (end to
          end) or ``layerwise_schedule_``.

        "auto" was chosen on the benchmark suite (``benchmarks/suite.py``;
        each candidate's figures per dataset are in
        ``benchmarks/RESULTS.md``): neither pretraining won everywhere, and
        the split followed the data's size. Layer-wise pretraining gave DEC
        more on the small sets (scikit-learn's digits, as they are and at
        MNIST's 784 dimensions, and wine), where end-to-end training needs
        hundreds of epochs over few points and layer-wise dropout
        regularises; end-to-end Adam gave more on the larger ones (Fashion-MNIST
        subsets, at about half the time of the whole fit, and a sparse
        REUTERS-shaped corpus, by far), as on 10,000 MNIST digits measured
        outside the repository. End-to-end SGD for 300 epochs
        (``pretrain_optimizer="sgd"``, ``pretrain_epochs="auto"``) gave an
        autoencoder as good as the layer-wise one but a worse DEC from it.
        End-to-end Adam copes better with data dominated by an offset common
        to every sample (see Notes). All are ignored when ``autoencoder`` is
        given; a layer-wise setting given where end-to-end pretraining runs
        is refused.
    pretrain_epochs : int or "auto", default="auto"
        Epochs of end-to-end pretraining. "auto" is, with Adam, 100 epochs
        but at least 1,000 and at most 2,500 iterations (on large data the
        iterations, not the epochs, set the autoencoder's quality: a hundred
        epochs of 20,000 images clustered worse than 32); with SGD,
        DEC-keras's 300 epochs, at least 4,000 iterations and at most the
        paper's 100,000. The counts it resolves to are in
        ``pretrain_schedule_``.
    pretrain_lr : float or "auto", default="auto"
        Learning rate of end-to-end pretraining; "auto" is 1e-3 for Adam
        and 0.2 for SGD.
    pretrain_optimizer : {"adam", "sgd"}, default="adam"
        Optimiser of end-to-end pretraining. "adam": Adam from PyTorch's
        default initialisation. "sgd": the DEC-keras reproduction's recipe,
        SGD with momentum 0.9 from weights uniform in +-1/sqrt(fan_in) and
        zero biases (its lr 1 on pixels in [0, 1] is about 0.2 on the
        normalised input).
    layerwise_iter : int or "auto", default="auto"
        Iterations per layer of layer-wise pretraining (paper: 50,000).
        "auto" is 7 epochs, at least 200 iterations and at most the paper's
        50,000: the minimum on small data such as digits, seven epochs on
        larger data such as Fashion-MNIST (``layerwise_schedule_`` holds
        the resolved count).
    finetune_iter : int or "auto", default="auto"
        Iterations of fine-tuning after layer-wise pretraining (paper:
        100,000). "auto" is 42 epochs, at least 400 iterations and at most
        the paper's 100,000. The paper's full schedule (300,000 iterations)
        takes hours on a CPU; the "auto" one scales with the data instead,
        so that a fit on a small CPU takes minutes, not hours (timings in
        ``benchmarks/RESULTS.md``).
    layerwise_lr : float or "auto", default="auto"
        Initial SGD learning rate of layer-wise pretraining (paper: 0.1).
        "auto" is ``min(0.01, 0.4 / d)`` for d features. The network sees
        its input normalised as the paper does ((1/d)||x||^2 = 1 on average,
        see Notes), and the paper's (1/2)||x - y||^2 loss sums over the
        features, so its gradient grows with d and the rate that trains the
        network shrinks accordingly; deeper layers and fine-tuning use the
        same rate. The paper's 0.1 killed the first layer's units or made it
        diverge on both benchmark datasets, and 0.01 left most of
        Fashion-MNIST's first layer dead, while 0.4 / d trained the whole
        network there and clustered digits better than 0.01 (the runs are in
        ``benchmarks/RESULTS.md`` and its history). A layer whose units all
        die raises ``FloatingPointError``; one with 90% or more dead units
        warns.
    layerwise_lr_step : int or "auto", default="auto"
        The layer-wise learning rate is divided by 10 every this many
        iterations, counted afresh in each layer and in fine-tuning (paper:
        20,000). "auto" is twice the iterations of a layer or three quarters
        of the fine-tuning's, whichever is larger, at most 20,000. With the
        "auto" iteration counts each layer then trains at one rate (up to the
        paper's cap) and fine-tuning anneals once, for its last quarter, where
        it is longer than two layers' worth (on small data such as digits
        it does not anneal at all). A step after each third of
        fine-tuning, tried first, left Fashion-MNIST's reconstruction loss
        almost flat for the last two thirds.
    dropout : float, default=0.2
        Corruption rate of the denoising autoencoders (paper: 20%).
    autoencoder : Autoencoder, default=None
        A pretrained :class:`deepclust.nn.autoencoder.Autoencoder` to start
        from instead of pretraining one (e.g. ``other_model.autoencoder_``).
        It is copied, never modified; ``hidden_dims``, ``embedding_dim`` and
        the pretraining parameters are then ignored.
    init : {"kmeans", "manifold"}, default="kmeans"
        How the centroids start. "kmeans": the paper's, k-means on the
        pretrained embedding (``n_init`` restarts). "manifold": N2D's
        clusters (see :class:`N2D`: UMAP of the embedding with its default
        settings, then a Gaussian mixture on the UMAP coordinates, seeded
        from ``random_state``), each centroid the mean embedding of its
        cluster's points; self-training then runs in the embedding as
        usual. It needs umap-learn (``pip install "deepclust[umap]"``)
        and runs UMAP on every point (``kmeans_sample_size`` and
        ``n_init`` do not apply).
    n_init : int, default=20
        Restarts of the k-means that initialises the centroids (paper: 20).
    kmeans_sample_size : int, "auto" or None, default="auto"
        That k-means runs on a random sample of this many embedded points
        (then every point goes to its nearest centroid), so that
        initialising on a very large dataset costs O(sample), not O(n), per
        k-means iteration. "auto" is every point up to 100,000 (all the
        paper's datasets but REUTERS) and a sample of ``max(100_000,
        100 * n_clusters)`` beyond; None always uses every point.
    alpha : float, default=1.0
        Degrees of freedom of the Student's t kernel (paper: 1), in [1e-30, 1e30]
        (the kernel computes in float32).
    update_interval : int or "auto", default="auto"
        Iterations between two recomputations of the target distribution
        over the whole dataset. "auto" is ``max(40, ceil(n_batches / 2))``:
        the paper found 40 near-optimal on every dataset (section 5.1), and
        its code used 160 on MNIST, where half an epoch is 137; on large data
        half an epoch keeps the cost of the full-data pass small beside the
        training. The floor of 40 matters on small data: on digits half an
        epoch is a few iterations, and updating the target that often
        clustered clearly worse than every 40.
    lr : float, default=0.01
        SGD learning rate of the clustering phase (paper: 0.01).
    momentum : float, default=0.9
        SGD momentum of the clustering phase (paper: 0.9).
    batch_size : int, default=256
        Mini-batch size of pretraining and clustering (paper: 256).
    max_iter : int, default=10000
        Maximum number of SGD iterations of the clustering phase. With
        ``max_iter=0`` the result is the autoencoder + k-means clustering.
    tol : float, default=1e-3
        Stop when fewer than this fraction of points changed cluster between
        two target updates (paper: 0.1%).
    freeze_encoder : bool, default=False
        Only move the centroids and keep the pretrained encoder fixed: the
        paper's "DEC w/o backprop" ablation.
    device : str or torch.device, default="auto"
        Where to train; "auto" picks CUDA when it is available.
    precision : {"auto", "float32", "bfloat16", "mixed"}, default="auto"
        Arithmetic of the training steps. "float32" computes everything in
        float32. "bfloat16" runs the matrix products of the pretraining and
        clustering steps in bfloat16 (``torch.autocast``), keeping the
        weights, the optimiser, the losses, q and p in float32; the full-data
        passes (the target distribution, ``labels_``, ``transform``,
        ``predict``) stay float32 either way. "mixed" runs only the
        clustering phase's steps in bfloat16. "auto" resolves to "mixed" on a
        CPU with native bfloat16 units (AVX512-BF16 or AMX) whose bfloat16
        matrix products measure, once per process (a short probe), at least
        1.5 times as fast as float32 ones: the clustering phase's steps in
        bfloat16 and pretraining in float32. It resolves to "float32"
        elsewhere: on CPUs that report bfloat16 units but multiply bfloat16
        more slowly (such as some Intel Xeons without AMX), and on GPUs
        (not benchmarked yet; explicit "bfloat16" works there too).
        ``precision_`` says what was used; pass it explicitly for the same
        arithmetic on every machine. Why "mixed" and not "bfloat16": on a
        CPU with fast bfloat16 units, bfloat16 clustering steps were faster
        and clustered as well as float32, while bfloat16 pretraining, faster
        still, lowered DEC's accuracy (``benchmarks/RESULTS.md``).
    checkpoint_dir : str, path-like or None, default=None
        Directory where the fit keeps a checkpoint of its whole training
        state (``checkpoint.pt``): network, centroids, optimiser, random
        generators, phase, iteration and a fingerprint of the settings and the
        data. It is written atomically every ``checkpoint_every`` iterations
        and at each phase boundary, and kept after the fit. Fitting again with
        the same directory, settings and data resumes where the last fit
        stopped (a finished fit is rebuilt without training); a checkpoint of
        other settings or data is refused with a ``ValueError``. On CPU with
        an int ``random_state`` (same torch version and thread count) a
        resumed fit ends with the labels of an uninterrupted one. A directory
        holds one fit's checkpoint at a time. ``verbose``, ``device`` and the checkpoint settings
        may change between the two.
    checkpoint_every : int, default=1000
        Iterations between two checkpoints (the clustering phase writes at the
        first target update after each multiple).
    snapshot_size : int, default=0
        Record the embedding of this many training points (drawn at random
        once per fit), and the centroids, at every target update of the
        clustering phase, in ``embedding_snapshots_``: the material of the
        paper's Figure 5 (the embedding over training) without a second
        training run. Costs ``snapshot_size x embedding_dim`` floats per
        update; 0 records nothing. Recording changes nothing else in the fit.
    random_state : int, RandomState instance or None, default=None
        Seeds network initialisation, dropout, batch order and k-means. An
        int gives identical labels on CPU run after run. The global torch
        generators are left as they were.
    verbose : bool, default=False
        Show progress bars for pretraining and clustering.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training point: argmax of q after training.
    cluster_centers_ : ndarray of shape (n_clusters, embedding_dim)
        Centroids in the embedding space.
    autoencoder_ : Autoencoder
        The trained network (its encoder is the embedding).
    n_iter_ : int
        SGD iterations run in the clustering phase.
    history_ : list of dict
        One entry per target update with keys ``iteration``, ``loss`` (mean
        KL(P||Q) of the mini-batches since the previous update; NaN for the
        first), ``delta_label`` (fraction of points that changed cluster;
        the first entry compares with the k-means initialisation),
        ``n_empty`` (clusters with no point), ``smallest`` (points in the
        smallest cluster) and ``seconds`` (wall time since the clustering
        phase started, or resumed). Clusters that end empty also raise a
        ``ConvergenceWarning``.
    embedding_snapshots_ : list of dict
        With ``snapshot_size > 0``: one entry per target update, with keys
        ``iteration``, ``embedding`` (ndarray of shape (snapshot_size,
        embedding_dim), the rows ``snapshot_indices_`` of the training data)
        and ``centers`` (ndarray of shape (n_clusters, embedding_dim)). Empty
        otherwise. See :mod:`deepclust.plotting`.
    snapshot_indices_ : ndarray of shape (snapshot_size,)
        The training rows whose embedding is recorded, in increasing order.
    pretrain_history_ : list of float
        Mean reconstruction loss of each pretraining epoch.
    pretrain_schedule_ : dict or None
        The end-to-end schedule used, with "auto" resolved for the data:
        ``optimizer``, ``lr`` and ``n_iter``; None when pretraining was
        layer-wise or ``autoencoder`` was given.
    layerwise_schedule_ : dict or None
        The layer-wise schedule used, with "auto" resolved for the data:
        ``layer_iter``, ``finetune_iter``, ``lr`` and ``lr_step``; None when
        pretraining was end-to-end or ``autoencoder`` was given.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.
    device_ : torch.device
        Device the network lives on.
    precision_ : str
        The arithmetic the training used: "float32", "bfloat16" or "mixed"
        (float32 pretraining, bfloat16 clustering steps; see ``precision``).
    fit_times_ : dict
        Wall-clock seconds of the three phases of ``fit``: ``"pretrain"``
        (0 when ``autoencoder`` is given), ``"kmeans"`` (embedding plus
        k-means, or the manifold step with ``init="manifold"``) and ``"clustering"`` (self-training).

    See Also
    --------
    sklearn.cluster.KMeans : Clustering in the input space.

    Notes
    -----
    The autoencoder normalises its input as the paper does: it multiplies X
    by ``autoencoder_.input_scale = sqrt(d / mean(||x||^2))`` (from the
    training data) so that (1/d)||x||^2 = 1 on average, and divides its
    reconstruction by the same factor. Results therefore do not depend on
    the overall scale of X (pixels in [0, 255] or [0, 1] give the same
    clustering), and the paper's learning rates keep their meaning. Features
    in different units, or a large offset shared by every sample, still
    matter: standardise such data first (e.g. ``StandardScaler``). Pretraining
    warns (``RuntimeWarning``) when one feature holds most of X's variance
    at over 100 times the typical feature's spread, and layer-wise
    pretraining when the samples' spread around their mean is under 1% of
    their energy. Float64 values beyond float32's range are refused, and so
    are new points whose embedding or assignment overflows float32.

    With ``checkpoint_dir`` a fit can be interrupted at any time (even by
    ``kill -9``) and resumed by fitting again; see the README's
    "Reliability" section for what is guaranteed.

    ``transform`` and ``predict_proba`` return float32, the network's
    precision, whatever X's dtype.

    ``score(X)`` is minus the clustering loss, -KL(P || Q), evaluated on X
    with its own target distribution; higher means X is assigned to the
    clusters more confidently. Section 5.5 of the paper compares this loss on
    training and held-out data to choose the number of clusters.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepclust import DEC
    >>> X, _ = load_digits(return_X_y=True)
    >>> dec = DEC(n_clusters=10, layerwise_iter=20, finetune_iter=40, max_iter=50, random_state=0)
    >>> labels = dec.fit_predict(X / 16)
    >>> labels.shape
    (1797,)
    """

    _clustering_loss_name = "KL(P || Q)"

    _parameter_constraints: dict = {
        **CentroidClusterer._parameter_constraints,
        "alpha": [Interval(Real, 1e-30, 1e30, closed="both")],  # the kernel computes in float32
        "freeze_encoder": ["boolean"],
    }

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        embedding_dim: int = 10,
        pretrain: str = "auto",
        pretrain_epochs: int | str = "auto",
        pretrain_lr: float | str = "auto",
        pretrain_optimizer: str = "adam",
        layerwise_iter: int | str = "auto",
        finetune_iter: int | str = "auto",
        layerwise_lr: float | str = "auto",
        layerwise_lr_step: int | str = "auto",
        dropout: float = 0.2,
        autoencoder: Autoencoder | None = None,
        init: str = "kmeans",
        n_init: int = 20,
        kmeans_sample_size: int | str | None = "auto",
        alpha: float = 1.0,
        update_interval: int | str = "auto",
        lr: float = 0.01,
        momentum: float = 0.9,
        batch_size: int = 256,
        max_iter: int = 10000,
        tol: float = 1e-3,
        freeze_encoder: bool = False,
        device="auto",
        precision: str = "auto",
        checkpoint_dir=None,
        checkpoint_every: int = 1000,
        snapshot_size: int = 0,
        random_state=None,
        verbose: bool = False,
    ):
        self._store_params(locals())

    # The three hooks the shared loop (training/self_training.py) calls.

    def _soft_assign(self, z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        return soft_assign(z, centers, self.alpha)

    def _target(self, q: torch.Tensor, frequencies: torch.Tensor | None = None) -> torch.Tensor:
        return target_distribution(q, frequencies)

    def _clustering_loss(self, z: torch.Tensor, centers: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return kl_divergence(p, torch.log_softmax(_soft_assign_logits(z, centers, self.alpha), dim=1))
