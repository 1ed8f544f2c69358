"""One-call GPU check for a lent H100/H200: AMP, throughput, CUDA-to-CPU persistence.

Builds a bert-base-sized BERT from a config (random weights, no download), then
measures on the GPU, at max_length 128 and 512:

* skbert training and prediction samples/s in fp32 and bf16, and peak GPU memory;
* the notebook recipe (every text padded to max_length,
  AutoModelForSequenceClassification with problem_type="multi_label_classification",
  Hugging Face Trainer, trainer.predict), in fp32 and bf16;

and checks that a model fitted on CUDA, pickled, loads and predicts on the CPU
in a process that sees no GPU (and through save_pretrained / from_pretrained).

Usage (on the GPU machine, from the repository root)::

    PYTHONPATH=. python bench/gpu_check.py --tokenizer bench/_tok --out $OUT --compile

``--tokenizer`` is a folder holding a BERT WordPiece tokenizer (e.g. the one
shipped with the default model: vocab.txt, tokenizer.json, tokenizer_config.json).
Texts come from skbert's bundled GoEmotions sample; for max_length 512 several
of them are joined into documents of 300 to 600 tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch


def make_model_folder(tokenizer_dir: str, folder: str, tiny: bool = False) -> str:
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = BertConfig(vocab_size=tok.vocab_size)  # bert-base: 12 layers, 768 hidden
    if tiny:  # only to smoke-test this script on a CPU
        config = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=37)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def texts_for(max_length: int, n: int, rng: np.random.Generator):
    from skbert.datasets import load_goemotions

    b = load_goemotions(subset="all")
    texts, Y = list(b.data), np.asarray(b.target)
    if max_length <= 128:
        idx = rng.choice(len(texts), n, replace=n > len(texts))
        return [texts[i] for i in idx], Y[idx]
    docs, labels = [], []
    for _ in range(n):
        parts = rng.choice(len(texts), 20)
        docs.append(" ".join(texts[i] for i in parts))
        labels.append(Y[parts].max(axis=0))
    return docs, np.asarray(labels)


DEVICE = "cuda"


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak():
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_gib():
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")


def bench_skbert(path, Xtr, Ytr, Xte, max_length, precision, batch_size, compile=False,
                 model_kwargs=None):
    """Training samples/s (with compile: compiling included) and prediction samples/s
    after a 256-text warm-up call (with compile: the inference graph is compiled there)."""
    from skbert import TransformerMultiLabelClassifier

    clf = TransformerMultiLabelClassifier(
        path, pooling="cls", max_length=max_length, batch_size=batch_size, max_epochs=1,
        learning_rate=5e-5, precision=precision, device=DEVICE, random_state=0,
        fit_cache=False, predict_batch_size=256, compile=compile, model_kwargs=model_kwargs)
    reset_peak()
    sync()
    t = time.perf_counter()
    clf.fit(Xtr, Ytr)
    sync()
    fit_s = time.perf_counter() - t
    clf.predict_proba(Xte[:256])  # warm-up
    sync()
    t = time.perf_counter()
    proba = clf.predict_proba(Xte)
    sync()
    pred_s = time.perf_counter() - t
    return {"train_sps": len(Xtr) / fit_s, "predict_sps": len(Xte) / pred_s,
            "peak_gib": peak_gib(),
            "precision_": clf.precision_}, clf, proba


def bench_recipe(path, Xtr, Ytr, Xte, max_length, precision, batch_size):
    """The usual notebook: pad everything to max_length, Trainer, trainer.predict."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(path)

    class DS(torch.utils.data.Dataset):
        def __init__(self, texts, Y=None):
            self.enc = tok(texts, padding="max_length", truncation=True, max_length=max_length)
            self.Y = None if Y is None else np.asarray(Y, dtype=np.float32)

        def __len__(self):
            return len(self.enc["input_ids"])

        def __getitem__(self, i):
            item = {k: torch.tensor(v[i]) for k, v in self.enc.items()}
            if self.Y is not None:
                item["labels"] = torch.tensor(self.Y[i])
            return item

    reset_peak()
    t0 = time.perf_counter()
    train_ds = DS(Xtr, Ytr)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=Ytr.shape[1], problem_type="multi_label_classification")
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=batch_size, num_train_epochs=1, learning_rate=5e-5,
            bf16=precision == "bf16", report_to=[], save_strategy="no", logging_strategy="no",
            disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=train_ds)
        trainer.train()
        sync()
        fit_s = time.perf_counter() - t0
        t = time.perf_counter()
        test_ds = DS(Xte)
        trainer.predict(test_ds)
        sync()
        pred_s = time.perf_counter() - t
    return {"train_sps": len(Xtr) / fit_s, "predict_sps": len(Xte) / pred_s,
            "peak_gib": peak_gib()}


def check_cpu_load(clf, Xte, proba_gpu, workdir):
    """Pickle a CUDA-fitted estimator; load and predict in a process with no GPU."""
    import joblib

    pkl = os.path.join(workdir, "clf.joblib")
    joblib.dump(clf, pkl)
    np.save(os.path.join(workdir, "X.npy"), np.asarray(Xte[:64], dtype=object),
            allow_pickle=True)
    code = (
        "import joblib, numpy as np, torch, warnings;"
        "assert not torch.cuda.is_available();"
        f"X=np.load({os.path.join(workdir, 'X.npy')!r}, allow_pickle=True).tolist();"
        "warnings.simplefilter('always');"
        f"clf=joblib.load({pkl!r});"
        "print('device_', clf.device_, 'precision_', clf.precision_);"
        f"np.save({os.path.join(workdir, 'p_cpu.npy')!r}, clf.predict_proba(X))"
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    print(r.stdout.strip(), r.stderr.strip()[-600:])
    p_cpu = np.load(os.path.join(workdir, "p_cpu.npy"))
    diff = float(np.abs(p_cpu - proba_gpu[:64]).max())
    folder = os.path.join(workdir, "saved")
    clf.save_pretrained(folder)
    from skbert import TransformerMultiLabelClassifier

    back = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    diff2 = float(np.abs(back.predict_proba(Xte[:64]) - proba_gpu[:64]).max())
    return {"pickle_cuda_to_cpu_max_abs_diff": diff, "folder_cuda_to_cpu_max_abs_diff": diff2,
            "pickle_bytes": os.path.getsize(pkl)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", default=".")
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=4000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--skip-recipe", action="store_true")
    ap.add_argument("--compile", action="store_true",
                    help="also time skbert with compile=True (bf16 on CUDA); its training "
                         "samples/s include compiling")
    ap.add_argument("--compile-lengths", default=None,
                    help="with --compile: only at these max_lengths (default: all of --lengths)")
    ap.add_argument("--no-attention-dropout", action="store_true",
                    help="also time skbert (bf16 on CUDA) with "
                         "model_kwargs={'attention_probs_dropout_prob': 0.0}")
    ap.add_argument("--device", default="cuda", help="'cpu' only to smoke-test this script")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model, to smoke-test")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda":
        assert torch.cuda.is_available(), "this script needs a CUDA GPU"
    import transformers

    env = {"gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu",
           "torch": torch.__version__,
           "transformers": transformers.__version__}
    print(env, flush=True)
    rows, results = [], {"env": env}
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in args.lengths.split(",")]
    compile_lengths = (lengths if args.compile_lengths is None
                       else [int(x) for x in args.compile_lengths.split(",")])
    with tempfile.TemporaryDirectory() as work:
        path = make_model_folder(args.tokenizer, os.path.join(work, "bert-base-random"),
                                 tiny=args.tiny)
        for L in lengths:
            n_tr = args.n_train if L <= 128 else args.n_train // 2
            Xtr, Ytr = texts_for(L, n_tr, rng)
            Xte, _ = texts_for(L, args.n_test if L <= 128 else args.n_test // 2, rng)
            for prec in ("fp32", "bf16") if DEVICE == "cuda" else ("fp32",):
                r, clf, proba = bench_skbert(path, Xtr, Ytr, Xte, L, prec, args.batch_size)
                rows.append(("skbert", L, prec, r))
                print(rows[-1], flush=True)
                if L == 128 and prec == ("bf16" if DEVICE == "cuda" else "fp32"):
                    results["persistence"] = check_cpu_load(clf, Xte, proba, work)
                    print(results["persistence"], flush=True)
                del clf
                torch.cuda.empty_cache()
                main_prec = prec == ("bf16" if DEVICE == "cuda" else "fp32")
                if args.no_attention_dropout and main_prec:
                    r, clf, _ = bench_skbert(
                        path, Xtr, Ytr, Xte, L, prec, args.batch_size,
                        model_kwargs={"attention_probs_dropout_prob": 0.0})
                    rows.append(("skbert, no attention dropout", L, prec, r))
                    print(rows[-1], flush=True)
                    del clf
                    torch.cuda.empty_cache()
                if args.compile and main_prec and L in compile_lengths:
                    r, clf, _ = bench_skbert(path, Xtr, Ytr, Xte, L, prec, args.batch_size,
                                             compile=True)
                    rows.append(("skbert+compile", L, prec, r))
                    print(rows[-1], flush=True)
                    del clf
                    torch.cuda.empty_cache()
                if not args.skip_recipe:
                    r = bench_recipe(path, Xtr, Ytr, Xte, L, prec, args.batch_size)
                    rows.append(("recipe", L, prec, r))
                    print(rows[-1], flush=True)
                    torch.cuda.empty_cache()
        # auto precision resolves to bf16 on Ampere or newer
        from skbert import TransformerMultiLabelClassifier
        Xs, Ys = texts_for(128, 64, rng)
        auto = TransformerMultiLabelClassifier(path, max_epochs=1, fit_cache=False,
                                               device=DEVICE, random_state=0).fit(Xs, Ys)
        fp16 = TransformerMultiLabelClassifier(
            path, max_epochs=1, fit_cache=False, device=DEVICE, random_state=0,
            precision="fp16" if DEVICE == "cuda" else "fp32").fit(Xs, Ys)
        results["auto_precision"] = auto.precision_
        results["fp16_history"] = fp16.history_
        results["fp16_finite"] = bool(np.isfinite(fp16.predict_proba(Xs)).all())
    results["rows"] = [{"tool": t, "max_length": L, "precision": p, **r} for t, L, p, r in rows]
    lines = [f"GPU: {env['gpu']} (torch {env['torch']}, transformers {env['transformers']}); "
             f"bert-base-sized BERT, random weights, batch {args.batch_size}, 1 epoch",
             "", "| tool | max_length | precision | train samples/s | predict samples/s | "
             "peak GPU GiB |", "|---|---|---|---|---|---|"]
    for t, L, p, r in rows:
        lines.append(f"| {t} | {L} | {p} | {r['train_sps']:.0f} | {r['predict_sps']:.0f} | "
                     f"{r['peak_gib']:.2f} |")
    table = "\n".join(lines)
    print(table)
    print(json.dumps({k: v for k, v in results.items() if k != "rows"}, indent=1))
    with open(os.path.join(args.out, "gpu_check.json"), "w") as fh:
        json.dump(results, fh, indent=1)
    with open(os.path.join(args.out, "gpu_check.md"), "w") as fh:
        fh.write(table + "\n")


if __name__ == "__main__":
    main()
