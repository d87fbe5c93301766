"""Training throughput against the machine's matrix-multiply rate, in one run.

Measures, for each precision (float32, and bfloat16 where the machine has it):

* the machine's matrix-multiply rate: a large square ``torch.mm`` in that dtype;
* the rate of the autoencoder's own matrix products at batch 256, alone (the
  forward product, input and weight gradients of each layer): what a
  training loop with no other work could reach at the paper's batch size;
* deepclust's pretraining rate: ``pretrain_end_to_end`` (encoder + decoder,
  forward and backward, Adam) and ``pretrain_layerwise``'s fine-tuning (SGD),
  each twice: the whole call of ``--epochs`` epochs (with its fixed passes over
  the data that are not training steps: the input's energy, the collapse
  checks), and its training loop alone, from the difference between that call
  and a call of one epoch (what a long pretraining, e.g. the paper's 100,000
  fine-tuning iterations, runs at);
* deepclust's clustering-phase rate: DEC's self-training loop (encoder forward
  and backward, the KL loss, the periodic full-data pass included), its
  GFLOP/s counted twice: from the training steps' matrix products alone, and
  from all of them (the full-data passes' forward products too),

each as samples/s and as the FLOP/s its matrix products imply (2 flops per
multiply-add; the backward pass counts twice the forward's, less the first
layer's input gradient, which is never computed), and the ratio of the latter
to the matmul rate. Synthetic data shaped like the paper's networks
(``d-500-500-2000-10``); labels play no part.

Usage::

    python benchmarks/throughput.py                   # d=784, 20,480 samples
    python benchmarks/throughput.py --features 2000 --samples 40960
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime, timezone

import numpy as np
import torch

from deepclust import DEC, __version__
from deepclust.data.batches import BatchSource
from deepclust.training.precision import native_bfloat16
from deepclust.nn.autoencoder import Autoencoder
from deepclust.training.pretraining import pretrain_end_to_end, pretrain_layerwise

HIDDEN = (500, 500, 2000)
EMBEDDING = 10


def matmul_rate(dtype: torch.dtype, n: int = 4096, repeats: int = 8) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def network_matmul_rate(dims, dtype: torch.dtype, *, decoder: bool, batch: int = 256, repeats: int = 20) -> float:
    """FLOP/s of the training step's matrix products alone, at their own shapes: per layer the forward
    product, the input gradient (not for the first layer) and the weight gradient, for ``batch`` rows.
    A batch of 256 against a 4096^3 product: the best a training loop without other work could reach."""
    pairs = list(zip(dims[:-1], dims[1:]))
    layers = pairs + ([(b, a) for a, b in reversed(pairs)] if decoder else [])
    ops = []
    for i, (a, b) in enumerate(layers):
        x, w, g = torch.randn(batch, a, dtype=dtype), torch.randn(a, b, dtype=dtype), torch.randn(batch, b, dtype=dtype)
        ops.append((x, w))            # forward: (batch x a) @ (a x b)
        ops.append((x.t(), g))        # weight gradient: (a x batch) @ (batch x b)
        if i:
            ops.append((g, w.t()))    # input gradient: (batch x b) @ (b x a)
    flops = sum(2 * m.shape[0] * m.shape[1] * n.shape[1] for m, n in ops)
    for _ in range(3):
        for m, n in ops:
            m @ n
    start = time.perf_counter()
    for _ in range(repeats):
        for m, n in ops:
            m @ n
    return flops * repeats / (time.perf_counter() - start)


def flops_per_sample(dims, *, decoder: bool, backward: bool = True) -> float:
    """Training FLOPs per sample: forward 2*in*out per layer, backward twice that, except that
    the first layer's input gradient is never computed (``backward=False``: the forward alone)."""
    pairs = list(zip(dims[:-1], dims[1:]))
    layers = pairs + ([(b, a) for a, b in reversed(pairs)] if decoder else [])
    forward = sum(2 * a * b for a, b in layers)
    if not backward:
        return forward
    first = 2 * pairs[0][0] * pairs[0][1]
    return 3 * forward - first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--samples", type=int, default=20480)
    parser.add_argument("--epochs", type=int, default=4,
                        help="epochs of each timed pretraining (and a 1-epoch run before it, see below)")
    parser.add_argument("--clustering-iter", type=int, default=600)
    args = parser.parse_args(argv)

    print(f"deepclust {__version__}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, native bfloat16 "
          f"{native_bfloat16(torch.device('cpu'))}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    rng = np.random.RandomState(0)
    X = rng.rand(args.samples, args.features).astype(np.float32)
    dims = (args.features, *HIDDEN, EMBEDDING)
    source = BatchSource(X, torch.device("cpu"))
    dtypes = [torch.float32] + ([torch.bfloat16] if native_bfloat16(torch.device("cpu")) else [])
    rows = []
    for dtype in dtypes:
        name = str(dtype).removeprefix("torch.")
        peak = matmul_rate(dtype)
        own = network_matmul_rate(dims, dtype, decoder=True)
        print(f"\n{name}: torch.mm 4096^3 at {peak / 1e9:,.0f} GFLOP/s; the autoencoder's own products at "
              f"batch 256 (no other work) at {own / 1e9:,.0f} GFLOP/s ({100 * own / peak:.0f}%)", flush=True)
        rows.append((name, "the network's matrix products alone, batch 256", float("nan"), own / 1e9, own / peak))

        def report(what, samples, seconds, flops):
            rate = samples / seconds
            achieved = rate * flops
            rows.append((name, what, rate, achieved / 1e9, achieved / peak))
            print(f"  {what:<34} {rate:>9,.0f} samples/s  {achieved / 1e9:>6,.0f} GFLOP/s  "
                  f"{100 * achieved / peak:5.1f}% of torch.mm", flush=True)

        torch.manual_seed(0)
        ae = Autoencoder(dims)
        per_epoch = -(-args.samples // 256)
        flops = flops_per_sample(dims, decoder=True)

        def end_to_end(epochs):
            pretrain_end_to_end(ae, source, epochs=epochs, batch_size=256, lr=1e-3,
                                generator=torch.Generator().manual_seed(0), compute_dtype=dtype)
            return epochs * args.samples

        def fine_tuning(epochs):
            pretrain_layerwise(ae, source, layer_iter=0, finetune_iter=epochs * per_epoch, lr=1e-4,
                               lr_step=10**9, dropout=0.2, batch_size=256,
                               generator=torch.Generator().manual_seed(0), compute_dtype=dtype)
            return epochs * args.samples  # per_epoch steps draw each row once, the last batch smaller

        for what, run in (("pretraining, end-to-end (Adam)", end_to_end),
                          ("pretraining, fine-tuning (SGD)", fine_tuning)):
            # Each call also makes a few passes over all the data that are not training steps (the
            # input's energy, the layers' output ranges checked for collapse): a fixed cost per call,
            # which a short run overstates. The loop's own rate is the difference of two runs.
            run(1)  # warm-up: first-call costs (allocations, kernels chosen) are not the loop's
            start = time.perf_counter()
            short = run(1)
            middle = time.perf_counter()
            full = run(args.epochs)
            end = time.perf_counter()
            report(what, full, end - middle, flops)
            report(f"  its training loop ({args.epochs} - 1 epochs)", full - short,
                   (end - middle) - (middle - start), flops)

        dec = DEC(EMBEDDING, autoencoder=ae, max_iter=args.clustering_iter, tol=0.0, n_init=1,
                  precision=name, random_state=0).fit(X)
        seconds = dec.fit_times_["clustering"]
        # a step's mean batch: an epoch's last batch is smaller when 256 does not divide the samples
        stepped = dec.n_iter_ * args.samples / per_epoch
        report("clustering phase (DEC)", stepped, seconds, flops_per_sample(dims, decoder=False))
        # The same seconds, counting the matrix work of the full-data passes too (a forward pass of the
        # encoder over all n rows at every target update after the first, which reuses k-means' pass):
        # the hardware's efficiency on all the phase computes, at the same samples/s.
        passes = len(dec.history_) - 1
        forward = flops_per_sample(dims, decoder=False, backward=False)
        total = stepped * flops_per_sample(dims, decoder=False) + passes * args.samples * forward
        report(f"  with its {passes} full-data passes", stepped, seconds, total / stepped)

    print("\n| precision | phase | samples/s | GFLOP/s | of torch.mm |")
    print("|---|---|---|---|---|")
    for name, what, rate, gflops, ratio in rows:
        samples = "" if rate != rate else f"{rate:,.0f}"
        print(f"| {name} | {what} | {samples} | {gflops:,.0f} | {100 * ratio:.0f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
