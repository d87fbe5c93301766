"""The data layer: batches and full-data passes, shards on disk, table and folder readers,
atomic writes and checked downloads. Datasets are :mod:`deepclust.datasets`."""
