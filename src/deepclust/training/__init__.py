"""The machinery every recipe shares: pretraining schemes, k-means initialisation, the
self-training loop, checkpoints, precision, data-parallel plumbing and augmentation."""
