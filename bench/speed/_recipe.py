"""The usual notebook recipe for multi-label fine-tuning, written out faithfully.

This is what the Hugging Face multi-label tutorials do (e.g. "Fine-tuning BERT
(and friends) for multi-label text classification"): ``datasets.map``
tokenisation with every text padded to ``max_length``,
``AutoModelForSequenceClassification`` with
``problem_type="multi_label_classification"`` and float labels, ``Trainer``,
then ``trainer.predict`` + sigmoid + threshold 0.5; and the tutorial's
one-text-at-a-time ``predict_labels`` loop.

Nothing here is tuned: it is the baseline that ``bench/speed/speed.py`` measures
skbert against. Only public transformers / datasets APIs are used.
"""

from __future__ import annotations

import numpy as np
import torch


def _quiet_datasets():
    try:
        from datasets.utils.logging import disable_progress_bar
        disable_progress_bar()
    except ImportError:  # pragma: no cover - older datasets
        pass


def _tokenised(columns, tokenize):
    """``Dataset.from_dict(columns).map(tokenize, batched=True)``.

    Where ``datasets`` is not installed (the lent GPU machine has no package
    index), a plain ``torch`` dataset holding the same tokenisation stands in:
    the model, ``Trainer`` and what it trains on are the same; only the container
    differs, so use it for quality and GPU runs, not for CPU tokenisation timings.
    """
    try:
        from datasets import Dataset
    except ImportError:
        return _TorchDataset(columns, tokenize(columns))
    _quiet_datasets()
    return Dataset.from_dict(columns).map(tokenize, batched=True)


class _TorchDataset(torch.utils.data.Dataset):
    def __init__(self, columns, encoded):
        self.rows = {k: v for k, v in {**columns, **encoded}.items() if k != "text"}

    def __len__(self):
        return len(next(iter(self.rows.values())))

    def __getitem__(self, i):
        return {k: torch.tensor(v[i]) for k, v in self.rows.items()}


def fit(model_path, texts, Y, label_names, *, max_length, batch_size, epochs, learning_rate,
        output_dir, bf16=False):
    """Tokenise, load the model and train it with Trainer; return (trainer, tokenizer).

    Everything from raw texts to a trained model happens here, so a caller that
    times this call times tokenisation, model loading and training together.
    """
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def tokenize(batch):
        return tokenizer(batch["text"], padding="max_length", truncation=True,
                         max_length=max_length)

    labels = np.asarray(Y, dtype=np.float32).tolist()  # float labels: BCE loss
    train_ds = _tokenised({"text": list(texts), "labels": labels}, tokenize)

    id2label = {i: str(name) for i, name in enumerate(label_names)}
    label2id = {name: i for i, name in id2label.items()}
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=len(label_names), problem_type="multi_label_classification",
        id2label=id2label, label2id=label2id)

    args = TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        num_train_epochs=epochs,
        learning_rate=learning_rate,
        weight_decay=0.01,
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        bf16=bf16,  # True: the GPU check's bf16 autocast run (bench/gpu/gpu_check.py)
    )
    trainer = Trainer(model=model, args=args, train_dataset=train_ds,
                      processing_class=tokenizer)
    trainer.train()
    return trainer, tokenizer


def predict_proba(trainer, tokenizer, texts, *, max_length):
    """``trainer.predict`` on a ``datasets.map``-tokenised test set, then sigmoid."""
    def tokenize(batch):
        return tokenizer(batch["text"], padding="max_length", truncation=True,
                         max_length=max_length)

    test_ds = _tokenised({"text": list(texts)}, tokenize)
    output = trainer.predict(test_ds)
    logits = output.predictions
    if isinstance(logits, tuple):  # some heads return extra outputs
        logits = logits[0]
    return torch.sigmoid(torch.from_numpy(np.asarray(logits, dtype=np.float32))).numpy()


def loop_predict_proba(model, tokenizer, texts, *, max_length):
    """The notebook's ``predict_labels``: one text per forward pass, no padding."""
    rows = []
    for text in texts:
        enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)
        enc = {k: v.to(model.device) for k, v in enc.items()}
        with torch.no_grad():
            logits = model(**enc).logits
        probs = torch.sigmoid(logits)
        rows.append(probs[0].cpu().numpy())
    return np.stack(rows)
