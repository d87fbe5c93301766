"""Parquet shards: what reading them through ``ShardedArray`` costs.

Writes ``--shards`` parquet files of ``--rows`` synthetic float32 rows of
``--features`` columns in total (each file one row group, as writers often
make them), then, each step in a fresh subprocess so its peak resident memory
(``ru_maxrss``) is its own:

1. opens them as ``ShardedArray(folder, cache_dir=...)``: the first time each
   shard is converted to a ``.npy`` copy (MB/s of float32 data written);
2. opens them again: the copies are reused (should take milliseconds);
3. streams over every row once in blocks (``ShardedArray.blocks``, what
   validation and full-data passes do), and reads 200 random batches of 256
   rows (what training does).

The peak memory of steps 1 and 3 should stay far below the data's size: the
conversion holds one record batch, the pass one block.

Usage::

    python benchmarks/parquet_shards.py                          # 2,000,000 x 100 in 8 shards (800 MB)
    python benchmarks/parquet_shards.py --rows 200000 --shards 2 # quick
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

STEP = r"""
import json, resource, sys, time
import numpy as np
from deepclust import ShardedArray
folder, cache, step = sys.argv[1], sys.argv[2], sys.argv[3]
if step == "import":
    print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    sys.exit()
start = time.perf_counter()
S = ShardedArray(folder, cache_dir=cache)
opened = time.perf_counter() - start
out = {"open_s": opened, "shape": list(S.shape), "dtype": str(S.dtype)}
if step == "read":
    start = time.perf_counter()
    total = sum(float(block.sum(dtype=np.float64)) for block in S.blocks())
    out["pass_s"] = time.perf_counter() - start
    out["checksum"] = total
    rng = np.random.RandomState(0)
    start = time.perf_counter()
    for _ in range(200):
        S[rng.randint(len(S), size=256)]
    out["batch_ms"] = (time.perf_counter() - start) / 200 * 1000
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


WRITE = r"""
import sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
folder, rows, features, shards = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
total = 0.0
for i, part in enumerate(np.array_split(np.arange(rows), shards)):
    block = rng.standard_normal((len(part), features), dtype=np.float32)
    total += float(block.sum(dtype=np.float64))
    table = pa.table({f"f{j}": block[:, j] for j in range(features)})
    pq.write_table(table, f"{folder}/part-{i}.parquet", row_group_size=len(part))
print(repr(total))
"""


def write_shards(folder: Path, rows: int, features: int, shards: int) -> float:
    """In a subprocess: Linux carries a parent's resident size into its children's ru_maxrss, so
    the process that launches the measured steps stays small."""
    result = subprocess.run([sys.executable, "-c", WRITE, str(folder), str(rows), str(features), str(shards)],
                            capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def run_step(folder: Path, cache: Path, step: str) -> dict:
    result = subprocess.run([sys.executable, "-c", STEP, str(folder), str(cache), step],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    from importlib.metadata import version

    print(f"deepclust {version('deepclust')}, {platform.machine()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        folder, cache = Path(work) / "shards", Path(work) / "cache"
        folder.mkdir()
        expected = write_shards(folder, args.rows, args.features, args.shards)
        parquet_mib = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        data_mib = args.rows * args.features * 4 / 2**20
        print(f"{args.rows:,} x {args.features} float32 in {args.shards} parquet shards of one row group: "
              f"{data_mib:,.0f} MiB of data, {parquet_mib:,.0f} MiB on disk")
        baseline = run_step(folder, cache, "import")
        first = run_step(folder, cache, "open")
        again = run_step(folder, cache, "open")
        read = run_step(folder, cache, "read")
        assert abs(read["checksum"] - expected) <= 1e-6 * abs(expected) + 1e-3, (read["checksum"], expected)
        print("\n| step | seconds | rate | peak RSS (MiB) |")
        print("|---|---|---|---|")
        # deepclust imports lazily: this loads ShardedArray's modules, not torch (before 9915d42 it did)
        print(f"| import deepclust's ShardedArray only | | | {baseline['peak_rss_mib']:,.0f} |")
        print(f"| first open (converts) | {first['open_s']:.2f} | {data_mib / first['open_s']:,.0f} MiB/s | "
              f"{first['peak_rss_mib']:,.0f} |")
        print(f"| second open (reuses the copies) | {again['open_s']:.3f} | | {again['peak_rss_mib']:,.0f} |")
        print(f"| streaming pass over every row | {read['pass_s']:.2f} | {data_mib / read['pass_s']:,.0f} MiB/s | "
              f"{read['peak_rss_mib']:,.0f} |")
        print(f"| random batch of 256 rows | {read['batch_ms'] / 1000:.4f} | "
              f"{256 / read['batch_ms'] * 1000:,.0f} rows/s | |")
        print(f"\nthe rows read back sum to the rows written ({read['checksum']:.6g}); dtype {read['dtype']}")
    if args.json:
        figures = {"rows": args.rows, "features": args.features, "shards": args.shards, "data_mib": data_mib,
                   "import": baseline, "first_open": first, "second_open": again, "read": read}
        from deepclust.experiments import _jsonable

        args.json.write_text(json.dumps(_jsonable(figures), indent=2, allow_nan=False))  # NaN as null
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
