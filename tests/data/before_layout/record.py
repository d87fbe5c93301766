"""Record labels and model files of the four methods from the current main (before the refactor)."""
import json, sys
import numpy as np
from sklearn.datasets import load_digits
import torch
torch.set_num_threads(1)
from deepclust import DEC, IDEC, DCN, DBC

X, _ = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
common = dict(n_clusters=10, random_state=0, device="cpu", precision="float32")
mlp = dict(hidden_dims=(32, 32, 64), embedding_dim=10, layerwise_iter=30, finetune_iter=60, max_iter=80,
           update_interval=20)
settings = {
    "DEC": (DEC, {**common, **mlp}),
    "IDEC": (IDEC, {**common, **mlp, "pretrain": "end-to-end", "pretrain_epochs": 5}),
    "DCN": (DCN, {**common, **mlp, "pretrain": "end-to-end", "pretrain_epochs": 5}),
    "DBC": (DBC, {**common, "channels": (4, 8), "pretrain_epochs": 2, "max_iter": 40, "update_interval": 20,
                  "image_shape": (1, 8, 8)}),
}
out = sys.argv[1]
labels, record = {}, {}
for name, (cls, params) in settings.items():
    est = cls(**params).fit(X)
    labels[name] = est.labels_
    labels[name + "_predict"] = est.predict(X[:200])
    est.save(f"{out}/{name.lower()}_v2.pt")
    record[name] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
    print(name, np.bincount(est.labels_, minlength=10), est.n_iter_)
np.savez_compressed(f"{out}/recorded_labels.npz", **labels)
with open(f"{out}/recorded_settings.json", "w") as fh:
    json.dump(record, fh, indent=1)
