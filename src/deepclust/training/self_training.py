"""The self-training loop of DEC's family, written once.

Every ``update_interval`` iterations one full pass computes q for all points, checks the
stopping rule and sets the target p; between two passes, mini-batch steps move the centroids
(and the encoder unless it is frozen) to reduce the method's clustering loss against p, plus
its network loss where it trains jointly. A recipe supplies ``_soft_assign(z, centers)``,
``_target(q, frequencies)`` and ``_clustering_loss(z, centers, p)``, and may change the hooks
below (:class:`SelfTraining`'s defaults are DEC's).
"""

from __future__ import annotations

import logging
import math
import time
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from tqdm.auto import tqdm

from ..data.batches import ShuffledBatches, batches_per_epoch, chunk_rows
from ..nn.autoencoder import Autoencoder, reconstruction_mse
from . import distributed
from .precision import autocast
from .pretraining import adam

logger = logging.getLogger(__name__)
_LOG_EVERY_S = 5.0  # at most one progress line this often while clustering (INFO on "deepclust")

# The paper's near-optimal update interval (section 5.1); see DEC's update_interval.
_AUTO_MIN_UPDATE_INTERVAL = 40

# The parameters of the loop (see DEC's docstring), for a recipe's _parameter_constraints.
SELF_TRAINING_PARAMETERS = {
    "update_interval": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "momentum": [Interval(Real, 0, 1, closed="left")],
    "max_iter": [Interval(Integral, 0, None, closed="left")],
    "tol": [Interval(Real, 0, 1, closed="both")],
    "snapshot_size": [Interval(Integral, 0, None, closed="left")],
}


class SelfTraining:
    """Mixin: the clustering phase of a centroid recipe, and the hooks a method may change."""

    def _self_train(self, ae, centers, source, z_init, init_labels, generator, checkpoint=None):
        """The clustering phase: the shared self-training loop.

        Every ``update_interval`` iterations one full pass computes q for all
        points, checks the stopping rule and sets the target p; between two
        passes, mini-batch SGD moves the centroids (and the encoder unless it
        is frozen) to reduce the clustering loss against p.

        With a ``checkpoint``, the state is saved at the start, at the first
        target update after every ``checkpoint_every`` iterations and at the
        end, and a resumed fit continues from it.

        At every target update the embedding of the rows ``snapshot_indices_``
        and the centroids are recorded (from the full pass the update computes
        anyway), for plotting the embedding over training.

        Returns the final full-data q, the number of iterations, the history
        and the snapshots.
        """
        n = len(source)
        interval = (
            max(_AUTO_MIN_UPDATE_INTERVAL,
                math.ceil(batches_per_epoch(self._n_everywhere(source), self.batch_size) / 2))
            if self.update_interval == "auto" else self.update_interval
        )
        # L = w_network * L_reconstruction + w_clustering * L_clustering (the survey's framing);
        # DEC's w_network is 0, so its decoder is not run and its loss is the clustering loss alone.
        w_network, w_clustering = self._loss_weights()
        frozen = bool(getattr(self, "freeze_encoder", False))  # DEC's ablation; not every method's
        joint = self._trains_jointly()
        centers.requires_grad_(self._gradient_centroids)
        params = [centers] if self._gradient_centroids else []
        self._start_clustering(centers)
        for p in ae.encoder.parameters():
            p.requires_grad_(not frozen)
        if not frozen:
            params += list(ae.encoder.parameters())
        if joint:
            for p in ae.decoder.parameters():
                p.requires_grad_(True)  # a given autoencoder may come with a frozen decoder
            params += list(ae.decoder.parameters())
        optimizer = self._clustering_optimizer(params)
        augment = None if frozen else self._augmenter(generator, "clustering")
        batches = ShuffledBatches(n, self._batch_per_rank(), generator)
        # With a frozen encoder the embedding never changes: encode once.
        z_fixed = z_init if frozen else None
        if not frozen:  # batch norm (if any) trains on batch statistics, whatever mode ae came in
            ae.train()

        history, snapshots, it, labels_last = [], [], 0, init_labels
        running, steps = None, 0
        phase_start = time.perf_counter()
        snapshot_rows = torch.as_tensor(self.snapshot_indices_, device=z_init.device)

        def save(finished=False):
            if running is not None and not math.isfinite(running.item()):
                return  # never checkpoint a diverged fit; the loop raises at its next update
            checkpoint.save("clustering", 0, it, {
                "centers": centers.detach(), "labels": labels_last, "history": history,
                "optimizer": optimizer.state_dict(), "batches": batches.state_dict(),
                "running": running, "steps": steps, "finished": finished, "snapshots": snapshots,
                "method": self._clustering_state(),
            })

        resumed = checkpoint.position("clustering") if checkpoint is not None else None
        if resumed is not None:
            _, it, loop = resumed
            optimizer.load_state_dict(loop["optimizer"])
            batches.load_state_dict(loop["batches"])
            history = [dict(h) for h in loop["history"]]
            snapshots = [dict(s) for s in loop.get("snapshots", [])]
            running, steps = loop["running"], int(loop["steps"])
            self._restore_clustering_state(loop.get("method", {}), centers.device)
            if running is not None:
                running = running.to(centers.device)
            if loop["finished"]:  # rebuild the fitted model without training
                for p in ae.encoder.parameters():
                    p.requires_grad_(True)
                z = z_fixed if z_fixed is not None else self._embed(ae, source)
                with torch.no_grad():
                    return self._soft_assign_chunked(z, centers.detach()), it, history, snapshots
        elif checkpoint is not None:
            save()
        # No total: the phase stops when fewer than tol of the points change cluster, usually long
        # before max_iter, so the bar shows the iterations and their rate, not an ETA it cannot know.
        bar = tqdm(total=None, initial=it, desc="clustering", unit="it", disable=not self.verbose,
                   leave=False)
        logged = time.perf_counter()
        while True:
            if z_fixed is None and it > 0:
                distributed.average_buffers(ae)
            z = z_fixed if z_fixed is not None else (z_init if it == 0 else self._embed(ae, source))
            if it > 0 and z_fixed is None and distributed.all_reduce(
                    (~torch.isfinite(z)).any().to(torch.int32)).item():
                raise FloatingPointError(
                    f"clustering: the embedding became non-finite by iteration {it}: the network "
                    "diverged. Lower lr or standardise the input (e.g. StandardScaler); the last "
                    "checkpoint, if any, was written before it."
                )
            with torch.no_grad():
                q = self._soft_assign_chunked(z, centers.detach())
            labels = q.argmax(dim=1)
            # Over all ranks' points when training data-parallel.
            changed = distributed.all_reduce(torch.stack([(labels != labels_last).sum(),
                                                          torch.tensor(n, device=labels.device)]))
            delta = (changed[0] / changed[1]).item()
            loss = math.nan if running is None else running.item() / steps
            if running is not None and not math.isfinite(loss):
                raise FloatingPointError(
                    f"clustering: the loss became {loss} at iterations {it - steps + 1} to {it}. "
                    "Lower lr or standardise the input (e.g. StandardScaler); the last "
                    "checkpoint, if any, was written before it."
                )
            sizes = distributed.all_reduce(torch.bincount(labels, minlength=self.n_clusters))
            history.append({"iteration": it, "loss": loss, "delta_label": delta,
                            "n_empty": int((sizes == 0).sum()), "smallest": int(sizes.min()),
                            "seconds": time.perf_counter() - phase_start})
            if len(snapshot_rows):
                snapshots.append({"iteration": it, "embedding": z[snapshot_rows].cpu(),
                                  "centers": centers.detach().cpu().clone()})
            bar.set_postfix(loss=f"{loss:.4g}", changed=f"{delta:.2%}")
            if time.perf_counter() - logged >= _LOG_EVERY_S:  # a line every few seconds for a log file
                logged = time.perf_counter()
                logger.info("clustering iteration %d: %.2f%% of the points changed cluster, loss %.4g",
                            it, 100 * delta, loss)
            labels_last = labels
            if (it > 0 and delta < self.tol) or it >= self.max_iter:
                break
            # Data-parallel: the cluster frequencies f_j over every rank's points (eq. 3).
            p = self._target(q, distributed.all_reduce(q.sum(dim=0)) if distributed.active() else None)
            running, steps = None, min(interval, self.max_iter - it)
            for step in range(it, it + steps):
                idx = next(batches)
                if z_fixed is not None:
                    zb = z_fixed[idx.to(z_fixed.device)]
                else:
                    xb = source.take(idx)
                    if augment is not None:  # q of augmented points against p of clean ones (DEC-DA)
                        xb = augment(xb, step)
                    with autocast(source.device, self._compute_dtype("clustering")):
                        zb = ae.encode(xb)
                        recon = ae.decode(zb) if joint else None
                    zb = zb.float()  # q, p and the loss in float32
                batch_loss = self._clustering_loss(zb, centers, p[idx.to(p.device)])
                if joint:  # the reconstruction term, as in end-to-end pretraining
                    batch_loss = (w_clustering * batch_loss
                                  + w_network * self._reconstruction_loss(ae, recon.float(), xb))
                optimizer.zero_grad(set_to_none=True)
                batch_loss.backward()
                distributed.average_gradients(params)
                optimizer.step()
                self._after_step(zb.detach(), centers)
                running = batch_loss.detach() if running is None else running + batch_loss.detach()
            it += steps
            bar.update(steps)
            if checkpoint is not None and checkpoint.due(it, it - steps):
                save()
        bar.close()
        if checkpoint is not None:
            save(finished=True)
        for p in ae.encoder.parameters():
            p.requires_grad_(True)
        if it > 0 and delta < self.tol:
            logger.info(
                "clustering stopped after %d iterations: %.3g%% of the points changed cluster "
                "(< tol=%g)", it, 100 * delta, self.tol,
            )
        else:
            logger.info("clustering stopped after %d iterations: max_iter reached", it)
        return q, it, history, snapshots

    # ------------------------------------------------ what a method supplies

    def _augmenter(self, generator: torch.Generator, phase: str):
        """The transform of the training mini-batches of ``phase`` ("pretrain" or "clustering"),
        ``augment(batch, iteration)``, or None to train on the data as it is (all but DBC with
        ``augment=True``). Full-data passes never see it."""
        return None

    def _loss_weights(self) -> tuple[float, float]:
        """Weights (network, clustering) of the clustering phase's loss; DEC's (0, 1)."""
        return 0.0, 1.0

    # The method's clustering loss L_c, as the figures name it.
    _clustering_loss_name = "clustering loss"

    def _trains_jointly(self) -> bool:
        """Whether the clustering phase trains the reconstruction too (L = L_r + w L_c): a network
        loss weighted above 0, and an encoder that is not frozen (DEC's ablation)."""
        return self._loss_weights()[0] > 0 and not getattr(self, "freeze_encoder", False)

    def _loss_label(self) -> str:
        """What ``history_``'s ``loss`` is, for an axis label."""
        if self._trains_jointly():
            return f"L_r + {self._loss_weights()[1]:g} {self._clustering_loss_name}"
        return self._clustering_loss_name

    def _reconstruction_loss(self, ae: Autoencoder, recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The network loss of a joint method: end-to-end pretraining's mean squared error."""
        return reconstruction_mse(ae, recon, x)

    def _clustering_optimizer(self, params) -> torch.optim.Optimizer:
        """The clustering phase's optimiser: the method's ``optimizer`` parameter ("adam" or
        "sgd"), SGD with momentum (the DEC paper's) for a method without one."""
        if getattr(self, "optimizer", "sgd") == "adam":
            return adam(params, self.lr)
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)

    # Whether the optimiser moves the centroids (DEC's); otherwise ``_after_step`` does.
    _gradient_centroids = True

    def _start_clustering(self, centers: torch.nn.Parameter) -> None:
        """Set up the method's own state at the start of the clustering phase."""

    def _after_step(self, z: torch.Tensor, centers: torch.nn.Parameter) -> None:
        """Called after each optimiser step with the batch's embedding (detached)."""

    def _clustering_state(self) -> dict:
        """The method's own loop state, for checkpoints (tensors and plain values)."""
        return {}

    def _restore_clustering_state(self, state: dict, device: torch.device) -> None:
        """Restore what ``_clustering_state`` returned, on resume."""

    def _soft_assign_chunked(self, z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        rows = chunk_rows(centers.shape[0] * centers.shape[1])
        return torch.cat([self._soft_assign(zc, centers) for zc in z.split(rows)])
