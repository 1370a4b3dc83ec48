"""Fit the Email Gatekeeper's category model (`llmops.assistant.category_model`) on a labelled split.

    python -m llmops.evals.category_training [--dataset email_triage_dev] [--out PATH]

Trains on the dev split only: the sealed test split is never read, and the golden set stays unseen by
the model, so `eval run` on it still says something about mail the model was not fitted to. Needs
scikit-learn (the `train` extra); serving the model does not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from llmops.assistant.category_model import (
    BUCKETS,
    CategoryModel,
    bundled_path,
    model_text,
    ngram_counts,
    weigh,
)
from llmops.assistant.normalize import parse_email
from llmops.assistant.schema import Category
from llmops.evals.datasets import bundled_dataset_path, load_dataset

TRAINING_SPLIT = "email_triage_dev"
REGULARIZATION = 10.0  # scikit-learn's C: held-out accuracy was flat from 3 to 30


def train(texts: list[str], labels: list[Category], corpus_sha256: str) -> CategoryModel:
    """Inverse document frequencies over `texts`, then a multinomial logistic regression."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    counts = [ngram_counts(text) for text in texts]
    documents = np.zeros(2 * BUCKETS)
    for columns, _ in counts:
        documents[columns] += 1
    idf = np.log((1 + len(texts)) / (1 + documents)) + 1.0  # smoothed, as scikit-learn's
    indptr: list[int] = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    for columns, times in counts:
        indices.append(columns)
        data.append(weigh(columns, times, idf))
        indptr.append(indptr[-1] + len(columns))
    matrix = csr_matrix(
        (np.concatenate(data), np.concatenate(indices), indptr), shape=(len(texts), 2 * BUCKETS)
    )
    fitted = LogisticRegression(C=REGULARIZATION, max_iter=5000).fit(
        matrix, [label.value for label in labels]
    )
    return CategoryModel(
        classes=tuple(Category(value) for value in fitted.classes_),
        idf=idf,
        coef=fitted.coef_,
        intercept=fitted.intercept_,
        corpus_sha256=corpus_sha256,
    )


def train_on(path: Path) -> CategoryModel:
    """The model fitted on every labelled Email Gatekeeper case of a dataset file."""
    dataset = load_dataset(path)
    labelled = [
        (case.email, case.expected.category)
        for case in dataset.cases
        if case.email is not None and case.expected.category is not None
    ]
    texts = [model_text(parse_email(email)) for email, _ in labelled]
    return train(texts, [category for _, category in labelled], dataset.hash)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=bundled_dataset_path(TRAINING_SPLIT))
    parser.add_argument("--out", type=Path, default=bundled_path())
    args = parser.parse_args(argv)
    model = train_on(args.dataset)
    model.save(args.out)
    print(
        f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB, corpus sha256 {model.corpus_sha256[:12]})"
    )


if __name__ == "__main__":
    main()
