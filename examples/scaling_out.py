"""
Training on several processes with torchrun
===========================================

The same script runs in one process (``python examples/scaling_out.py``) or in
several (``torchrun --standalone --nproc_per_node 2 examples/scaling_out.py``):
under the launcher, ``fit`` joins the process group, each process trains on
its share of every batch, and all of them end with the same model. Only rank 0
prints and writes the model folder.
"""

import os
import tempfile

import torch.distributed as dist

from skbert import TransformerMultiLabelClassifier
from skbert.datasets import load_goemotions

MODEL = os.environ.get("SKBERT_EXAMPLE_MODEL", "sentence-transformers/all-MiniLM-L6-v2")
FAST = os.environ.get("SKBERT_EXAMPLE_FAST") == "1"
N = 64 if FAST else 2000

X, Y = load_goemotions(return_X_y=True, as_frame=True)
X, Y = X[:N], Y[:N]

clf = TransformerMultiLabelClassifier(MODEL, max_epochs=1 if FAST else 3, batch_size=32,
                                      max_length=64, random_state=0, threshold="auto")
clf.fit(X, Y)                                   # batch_size is the global batch
proba = clf.predict_proba(X[:8])                # every rank calls it: rows are gathered

rank = dist.get_rank() if dist.is_initialized() else 0
world = dist.get_world_size() if dist.is_initialized() else 1
if rank == 0:
    print(f"{world} process(es): trained {clf.n_epochs_} epoch(s); "
          f"probabilities of the first text: {proba[0].round(3)[:5]}")
folder = os.path.join(tempfile.gettempdir(), "skbert-scaling-out-model")
clf.save_pretrained(folder)                     # written by rank 0 only
