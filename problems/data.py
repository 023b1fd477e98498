"""Data for the problem library: bundled scikit-learn data sets, LIBSVM files, synthetic data.

Features are standardised column-wise (mean 0, standard deviation 1; constant columns are
left at 0) and a bias column of ones is appended, so a ridge term regularises the bias too
and every regularised problem is strongly convex.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ratecheck.errors import RatecheckError, out_of_range, unknown

DATASETS = ("breast_cancer", "wine", "iris", "digits")


def standardise(X: np.ndarray, bias: bool = True) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    if bias:
        Z = np.hstack([Z, np.ones((Z.shape[0], 1))])
    return np.ascontiguousarray(Z)


def load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(X raw float64 [n, p], y int64 [n] in 0..K-1) for one of ``DATASETS``."""
    from sklearn import datasets

    loaders = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "iris": datasets.load_iris,
        "digits": datasets.load_digits,
    }
    if name not in loaders:
        raise unknown("dataset", name, loaders)
    X, y = loaders[name](return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)


def load_libsvm(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(X dense float64 [n, p], y int64 [n] in 0..K-1) from a LIBSVM/svmlight text file.

    Labels are mapped to 0..K-1 in sorted order of their values (so {-1, +1} -> {0, 1}).
    """
    from sklearn.datasets import load_svmlight_file

    path = Path(path)
    if not path.is_file():
        raise RatecheckError(f"libsvm file {str(path)!r} does not exist")
    try:
        X, y = load_svmlight_file(str(path))
    except ValueError as e:
        raise RatecheckError(f"libsvm file {str(path)!r} could not be parsed: {e}") from None
    labels, yi = np.unique(y, return_inverse=True)
    if len(labels) < 2:
        raise RatecheckError(f"libsvm file {str(path)!r} has {len(labels)} distinct label(s); need >= 2")
    return np.asarray(X.toarray(), dtype=np.float64), yi.astype(np.int64)


def classification_data(
    dataset: str, task: str, libsvm: str | None = None
) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Standardised design matrix with bias, labels and class count for a classification task.

    ``task``: 'binary' (class 0 against the rest; labels in {-1, +1}) or 'multinomial'
    (labels 0..K-1). Returns (A, y, K, source) where source names the data.
    """
    if task not in ("binary", "multinomial"):
        raise out_of_range("task", task, "'binary', 'multinomial'")
    if libsvm is not None:
        X, y = load_libsvm(libsvm)
        source = f"libsvm:{Path(libsvm).name}"
    else:
        X, y = load_sklearn(dataset)
        source = dataset
    A = standardise(X)
    K = int(y.max()) + 1
    if task == "binary":
        # Class 0 against the rest; for two-class data this is the usual +-1 labelling.
        return A, np.where(y == 0, 1.0, -1.0), 1, source
    if K < 2:
        raise RatecheckError(f"dataset {source!r} has one class; multinomial needs >= 2")
    return A, y.astype(np.float64), K, source


def gaussian_design(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A standard Gaussian design scaled by 1/sqrt(d), so rows have norm about 1."""
    return rng.standard_normal((n, d)) / np.sqrt(d)
