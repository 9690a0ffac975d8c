r"""Data sets that need no download: sklearn's digits, synthetic sets, user arrays and ``.npz`` files.

A :class:`Dataset` holds inputs ``x`` of shape ``(N, d)``, regression targets ``y`` of
shape ``(N, m)`` (one-hot rows for classification, used by the MSE loss
:math:`\tfrac12\|f(x)-y\|^2`) and, for classification, integer ``labels`` of shape ``(N,)``
(used by cross-entropy and accuracy).  Everything is kept in float64 on the CPU; the
objective moves it to the run's device and dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import finite_float, positive_int
from eostheory.symbolic.data import Dataset as NumpyDataset
from eostheory.torch._backend import require_torch

__all__ = [
    "DATASETS",
    "Dataset",
    "chebyshev",
    "data_options",
    "digits",
    "from_arrays",
    "gaussian_mixture",
    "get_dataset",
    "load_npz",
    "teacher_student",
]


@dataclass(frozen=True)
class Dataset:
    """Inputs, targets and (for classification) labels, as float64/int64 CPU tensors.

    Attributes:
        x: inputs, shape ``(N, d)``.
        y: targets for the MSE loss, shape ``(N, m)`` (one-hot for classification).
        labels: class indices, shape ``(N,)``, or ``None`` for regression.
        name: a short description used in run configs.
        image_shape: ``(C, H, W)`` when the rows of ``x`` are flattened images.
    """

    x: Any
    y: Any
    labels: Any = None
    name: str = "user"
    image_shape: tuple[int, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of examples."""
        return int(self.x.shape[0])

    @property
    def in_features(self) -> int:
        """Input dimension ``d``."""
        return int(self.x.shape[1])

    @property
    def out_features(self) -> int:
        """Target dimension ``m`` (the number of classes for classification)."""
        return int(self.y.shape[1])

    @property
    def is_classification(self) -> bool:
        """True when the set has integer labels."""
        return self.labels is not None

    def to_numpy(self) -> NumpyDataset:
        """The same rows as the NumPy :class:`eostheory.symbolic.data.Dataset` (symbolic nets, numba).

        ``get_dataset`` (and so ``train``, ``NetworkObjective`` …) takes that type back, so
        one data set moves between the two paths without retyping.
        """
        return NumpyDataset(
            self.x.numpy().astype(np.float64), self.y.numpy().astype(np.float64), self.name, dict(self.info)
        )

    def __repr__(self) -> str:
        kind = f"{self.out_features} classes" if self.is_classification else f"{self.out_features} targets"
        return f"Dataset({self.name!r}, n={self.n}, d={self.in_features}, {kind})"


def _one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    out = np.zeros((labels.shape[0], classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def from_arrays(x: Any, y: Any = None, labels: Any = None, *, name: str = "user", image_shape: Any = None) -> Dataset:
    """A :class:`Dataset` from user arrays or tensors, with every shape checked.

    Args:
        x: inputs, shape ``(N, d)`` (or ``(N, C, H, W)`` images, flattened here).
        y: targets, shape ``(N, m)`` or ``(N,)``; may be omitted when ``labels`` is given
            (then one-hot targets are built).
        labels: integer class labels, shape ``(N,)``, values in ``0..C-1``.
        name: a description stored with runs.
        image_shape: the per-example image shape when ``x`` holds flattened images.

    Returns:
        The data set.

    Raises:
        EosInputError: missing targets, mismatched numbers of rows, non-finite values,
            non-integer or negative labels, or fewer than one example.
    """
    torch = require_torch()

    def as_np(a: Any, what: str) -> np.ndarray:
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        try:
            return np.asarray(a)
        except Exception:
            raise EosInputError(f"{what} must be an array, got {type(a).__name__}") from None

    X = as_np(x, "x").astype(np.float64) if x is not None else None
    if X is None or X.ndim < 2:
        shape = None if X is None else X.shape
        raise EosInputError(f"x must have shape (N, d) (one row per example), got {shape}")
    if X.ndim > 2:
        image_shape = image_shape or tuple(int(s) for s in X.shape[1:])
        X = X.reshape(X.shape[0], -1)
    N = X.shape[0]
    if N < 1 or X.shape[1] < 1:
        raise EosInputError(f"x has shape {X.shape}: need at least one example and one feature")
    if not np.all(np.isfinite(X)):
        raise EosInputError("x contains NaN or infinite values")
    lab = None
    if labels is not None:
        L = as_np(labels, "labels")
        if L.ndim != 1 or L.shape[0] != N:
            raise EosInputError(f"labels must have shape ({N},), got {L.shape}")
        if not np.all(np.isfinite(L)) or not np.all(np.equal(np.mod(L, 1), 0)) or np.any(L < 0):
            raise EosInputError("labels must be non-negative integers 0..C-1")
        lab = L.astype(np.int64)
    if y is None:
        if lab is None:
            raise EosInputError("give targets y, labels, or both")
        Y = _one_hot(lab, int(lab.max()) + 1)
    else:
        Y = as_np(y, "y").astype(np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.ndim != 2 or Y.shape[0] != N:
            raise EosInputError(f"y must have shape ({N}, m) to match x {X.shape}, got {Y.shape}")
        if not np.all(np.isfinite(Y)):
            raise EosInputError("y contains NaN or infinite values")
        if lab is not None and lab.max() >= Y.shape[1]:
            raise EosInputError(f"labels go up to {lab.max()} but y has only {Y.shape[1]} columns")
    if image_shape is not None:
        image_shape = tuple(int(s) for s in image_shape)
        if math.prod(image_shape) != X.shape[1]:
            raise EosInputError(f"image_shape {image_shape} does not match {X.shape[1]} features per example")
    return Dataset(
        torch.from_numpy(np.ascontiguousarray(X)),
        torch.from_numpy(np.ascontiguousarray(Y)),
        None if lab is None else torch.from_numpy(lab),
        name,
        image_shape,
    )


def _subsample(n_total: int, n: int | None, rng: np.random.Generator) -> np.ndarray:
    if n is None:
        return np.arange(n_total)
    n = positive_int("n", n)
    if n > n_total:
        raise EosInputError(f"n = {n} exceeds the {n_total} examples available")
    return np.sort(rng.choice(n_total, size=n, replace=False))


def _noisy_labels(labels: np.ndarray, classes: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    fraction = finite_float("label_noise", fraction)
    if not 0.0 <= fraction <= 1.0:
        raise EosInputError(f"label_noise must lie in [0, 1], got {fraction:g}")
    out = labels.copy()
    flip = rng.random(labels.shape[0]) < fraction
    out[flip] = rng.integers(0, classes, size=int(flip.sum()))
    return out


def digits(n: int | None = None, *, label_noise: float = 0.0, preprocess: str = "center", seed: int = 0) -> Dataset:
    r"""sklearn's 8×8 handwritten digits (1797 examples, 10 classes; ships with sklearn).

    Args:
        n: use a random subset of ``n`` examples (default: all).
        label_noise: fraction of labels replaced by uniformly random classes.
        preprocess: ``"center"`` (scale pixels to [0, 1], subtract each pixel's mean;
            the default), ``"scale"`` (to [0, 1] only) or ``"standardize"`` (zero mean,
            unit variance per pixel, constant pixels left at zero).
        seed: seed of the subset and of the label noise.

    Returns:
        A classification :class:`Dataset` with ``image_shape = (1, 8, 8)``.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover
        raise EosInputError("the digits data set needs scikit-learn: pip install 'eostheory[torch]'") from None
    rng = np.random.default_rng(seed)
    raw = load_digits()
    idx = _subsample(raw.data.shape[0], n, rng)
    X = raw.data[idx].astype(np.float64) / 16.0
    if preprocess == "center":
        X = X - X.mean(axis=0)
    elif preprocess == "standardize":
        sd = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    elif preprocess != "scale":
        raise EosInputError(f"unknown preprocess {preprocess!r}; use center, scale or standardize")
    labels = raw.target[idx].astype(np.int64)
    if label_noise:
        labels = _noisy_labels(labels, 10, label_noise, rng)
    name = f"digits(n={len(idx)}, label_noise={label_noise:g}, preprocess={preprocess})"
    return from_arrays(X, _one_hot(labels, 10), labels, name=name, image_shape=(1, 8, 8))


def gaussian_mixture(
    n: int = 512, *, dim: int = 16, classes: int = 4, separation: float = 3.0, label_noise: float = 0.0, seed: int = 0
) -> Dataset:
    r"""Classes drawn from Gaussians :math:`\mathcal N(\mu_c, I)` with means at distance ``separation``.

    The means are random directions scaled to length ``separation/√2`` so that two means are
    about ``separation`` apart.
    """
    n, dim, classes = positive_int("n", n), positive_int("dim", dim), positive_int("classes", classes)
    if classes < 2:
        raise EosInputError("a mixture needs at least 2 classes")
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((classes, dim))
    means *= finite_float("separation", separation) / math.sqrt(2) / np.linalg.norm(means, axis=1, keepdims=True)
    labels = rng.integers(0, classes, size=n)
    X = means[labels] + rng.standard_normal((n, dim))
    if label_noise:
        labels = _noisy_labels(labels, classes, label_noise, rng)
    name = f"gaussian-mixture(n={n}, dim={dim}, classes={classes}, separation={separation:g})"
    return from_arrays(X, _one_hot(labels, classes), labels, name=name)


def teacher_student(
    n: int = 256, *, dim: int = 16, width: int = 32, out: int = 1, noise: float = 0.0, seed: int = 0
) -> Dataset:
    r"""Regression on the outputs of a random two-layer tanh teacher.

    :math:`y = a^\top \tanh(W x/\sqrt d)/\sqrt{k} + \epsilon`, :math:`x, W, a` standard normal,
    :math:`\epsilon \sim \mathcal N(0, \text{noise}^2)`.
    """
    n, dim, width, out = (
        positive_int("n", n),
        positive_int("dim", dim),
        positive_int("width", width),
        positive_int("out", out),
    )
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((width, dim))
    A = rng.standard_normal((out, width))
    X = rng.standard_normal((n, dim))
    Y = np.tanh(X @ W.T / math.sqrt(dim)) @ A.T / math.sqrt(width)
    Y = Y + finite_float("noise", noise) * rng.standard_normal(Y.shape)
    return from_arrays(X, Y, name=f"teacher-student(n={n}, dim={dim}, width={width}, noise={noise:g})")


def chebyshev(n: int = 64, *, degree: int = 5, seed: int = 0) -> Dataset:
    r"""Fit the Chebyshev polynomial :math:`T_k(x)=\cos(k\arccos x)` on ``n`` Chebyshev nodes of [−1, 1].

    One input, one output; a smooth regression problem whose difficulty grows with ``degree``.
    ``seed`` is accepted for a uniform interface (the nodes are deterministic).
    """
    n, degree = positive_int("n", n), positive_int("degree", degree, allow_zero=True)
    del seed
    x = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    y = np.cos(degree * np.arccos(x))
    return from_arrays(x[:, None], y[:, None], name=f"chebyshev(n={n}, degree={degree})")


def load_npz(path: str | Path) -> Dataset:
    """Read ``x`` and ``y`` and/or ``labels`` (and optionally ``image_shape``) from a ``.npz`` file.

    Raises:
        EosInputError: the file is missing or lacks the arrays.
    """
    p = Path(path)
    if not p.is_file():
        raise EosInputError(f"no such data file: {p}")
    try:
        with np.load(p, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:
        raise EosInputError(f"cannot read {p} as .npz: {exc}") from None
    if "x" not in arrays or ("y" not in arrays and "labels" not in arrays):
        raise EosInputError(f"{p} must hold an array 'x' and 'y' and/or 'labels'; it has {sorted(arrays)}")
    shape = arrays.get("image_shape")
    return from_arrays(
        arrays["x"],
        arrays.get("y"),
        arrays.get("labels"),
        name=f"npz({p.name})",
        image_shape=None if shape is None else tuple(int(s) for s in shape),
    )


#: Built-in data sets by the name the CLI takes (``--data NAME``).
DATASETS = {
    "digits": digits,
    "gaussian-mixture": gaussian_mixture,
    "teacher-student": teacher_student,
    "chebyshev": chebyshev,
}


def get_dataset(name: str | Dataset, **kwargs: Any) -> Dataset:
    """A :class:`Dataset` by name (see :data:`DATASETS`) or from a ``.npz`` path.

    Keyword arguments go to the builder (``n``, ``seed``, ``label_noise``, …); ``None``
    values are dropped so that defaults apply.

    Args:
        name: a key of :data:`DATASETS`, a path ending in ``.npz``, a :class:`Dataset`
            (returned as is) or the NumPy :class:`eostheory.symbolic.data.Dataset`.
        **kwargs: options of the builder (:func:`data_options` lists them).

    Returns:
        The data set.

    Raises:
        EosInputError: an unknown name, or an option the builder does not take (the message
            lists the ones it does), or a bad value.

    Examples:
        >>> get_dataset("chebyshev", n=8, degree=2).n
        8
    """
    if isinstance(name, Dataset):
        return name
    if isinstance(name, NumpyDataset):  # the symbolic/numba path's data set: same rows, as tensors
        return from_arrays(name.X, name.Y, name=name.name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    text = str(name).strip()
    if text.endswith(".npz"):
        if kwargs:
            raise EosInputError(f"options {sorted(kwargs)} do not apply to a .npz file")
        return load_npz(text)
    try:
        builder = DATASETS[text]
    except KeyError:
        raise EosInputError(
            f"unknown data set {text!r}; known: {', '.join(DATASETS)} or a path ending in .npz"
        ) from None
    accepted = data_options(text)
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise EosInputError(
            f"data set {text!r} has no option {', '.join(repr(k) for k in unknown)}; its options: {', '.join(accepted)}"
        )
    try:
        return builder(**kwargs)
    except TypeError as exc:
        raise EosInputError(f"data set {text!r}: {exc}") from None


def data_options(name: str) -> tuple[str, ...]:
    """The options (keyword arguments) the built-in data set ``name`` takes.

    Args:
        name: a key of :data:`DATASETS`.

    Returns:
        The option names, in the builder's order.

    Raises:
        EosInputError: an unknown name.

    Examples:
        >>> data_options("chebyshev")
        ('n', 'degree', 'seed')
    """
    import inspect

    try:
        builder = DATASETS[name]
    except KeyError:
        raise EosInputError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}") from None
    return tuple(inspect.signature(builder).parameters)
