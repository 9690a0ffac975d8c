"""Synthetic and small real data sets for symbolic networks (numpy only).

Every generator returns a :class:`Dataset`: inputs ``X`` of shape ``(N, d)`` and
targets ``Y`` of shape ``(N, K)`` as float64 arrays, with a name and the settings that
produced it.  Generators are seeded (``numpy.random.default_rng(seed)``), so a data set
is reproducible from its arguments.

* :func:`gaussian_inputs` -- i.i.d. :math:`\\mathcal N(0, I_d)` inputs, optionally
  *whitened* so that the empirical second moment :math:`\\frac1N\\sum_i x_i x_i^\\top` is
  exactly :math:`I_d` (the closed forms of :mod:`eostheory.symbolic.nets` assume it).
* :func:`teacher` -- targets from a random two-layer teacher network
  :math:`y = \\sum_j a_j \\sigma(w_j^\\top x + b_j)` plus optional noise.
* :func:`linear_teacher` -- targets :math:`y = M x` (+ noise) from a random matrix.
* :func:`random_labels` -- Gaussian inputs with Gaussian targets (nothing to learn).
* :func:`digits` -- scikit-learn's 8x8 digits reduced by PCA (scikit-learn is imported
  lazily; it is needed only here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import finite_float, positive_int

__all__ = [
    "DATASETS",
    "Dataset",
    "as_dataset",
    "digits",
    "gaussian_inputs",
    "linear_teacher",
    "make_dataset",
    "random_labels",
    "teacher",
]


@dataclass(frozen=True)
class Dataset:
    """Inputs ``X`` (``N x d``) and targets ``Y`` (``N x K``), float64.

    Attributes:
        X: inputs, one example per row.
        Y: targets, one example per row.
        name: a short name (``"teacher"``, ``"digits"``, …).
        info: the settings that produced it (JSON-ready).
    """

    X: np.ndarray
    Y: np.ndarray
    name: str = "data"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of examples :math:`N`."""
        return int(self.X.shape[0])

    @property
    def input_dim(self) -> int:
        """Input dimension :math:`d`."""
        return int(self.X.shape[1])

    @property
    def output_dim(self) -> int:
        """Target dimension :math:`K`."""
        return int(self.Y.shape[1])

    def second_moment(self) -> np.ndarray:
        r"""Empirical input second moment :math:`\Sigma = \frac1N \sum_i x_i x_i^\top`."""
        return self.X.T @ self.X / self.n


def as_dataset(X: Any, Y: Any, *, input_dim: int | None = None, output_dim: int | None = None) -> Dataset:
    """Validate arrays into a :class:`Dataset`.

    Args:
        X: inputs, shape ``(N, d)`` (or ``(N,)`` when ``d = 1``).
        Y: targets, shape ``(N, K)`` (or ``(N,)`` when ``K = 1``).
        input_dim: the expected :math:`d`, if known.
        output_dim: the expected :math:`K`, if known.

    Raises:
        EosInputError: non-numeric or non-finite values, no examples, or shapes that do
            not match each other or the expected dimensions.
    """
    if isinstance(X, Dataset):
        X, Y = X.X, X.Y
    try:
        Xa = np.array(X, dtype=np.float64)
        Ya = np.array(Y, dtype=np.float64)
    except (TypeError, ValueError):
        raise EosInputError("data must be numeric arrays: X of shape (N, d) and Y of shape (N, K)") from None
    if Xa.ndim == 1:
        Xa = Xa[:, None] if (input_dim in (None, 1)) else Xa[None, :]
    if Ya.ndim == 1:
        Ya = Ya[:, None] if (output_dim in (None, 1)) else Ya[None, :]
    if Xa.ndim != 2 or Ya.ndim != 2:
        raise EosInputError(f"data must be 2-D arrays X (N, d) and Y (N, K); got shapes {Xa.shape} and {Ya.shape}")
    if Xa.shape[0] == 0:
        raise EosInputError("data set has no examples")
    if Xa.shape[0] != Ya.shape[0]:
        raise EosInputError(f"X has {Xa.shape[0]} examples but Y has {Ya.shape[0]} (shapes {Xa.shape}, {Ya.shape})")
    if input_dim is not None and Xa.shape[1] != input_dim:
        raise EosInputError(f"inputs have dimension {Xa.shape[1]} (X shape {Xa.shape}); the net expects {input_dim}")
    if output_dim is not None and Ya.shape[1] != output_dim:
        raise EosInputError(f"targets have dimension {Ya.shape[1]} (Y shape {Ya.shape}); the net expects {output_dim}")
    if not (np.all(np.isfinite(Xa)) and np.all(np.isfinite(Ya))):
        raise EosInputError("data contain NaN or infinite values")
    return Dataset(Xa, Ya, "data", {"n": int(Xa.shape[0])})


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(None if seed is None else int(seed))


def _whiten(X: np.ndarray) -> np.ndarray:
    """Transform ``X`` so that ``X.T @ X / N`` is exactly the identity (needs ``N >= d``)."""
    n, d = X.shape
    if n < d:
        raise EosInputError(f"cannot whiten {n} points in dimension {d}: need n >= input dimension")
    cov = X.T @ X / n
    vals, vecs = np.linalg.eigh(cov)
    if vals[0] <= 1e-12 * max(1.0, vals[-1]):
        raise EosInputError("inputs are degenerate (singular second moment); cannot whiten")
    return X @ (vecs @ np.diag(vals**-0.5) @ vecs.T)


def gaussian_inputs(n: int, input_dim: int, *, seed: int | None = 0, whiten: bool = False) -> np.ndarray:
    r"""``n`` inputs :math:`x_i \sim \mathcal N(0, I_d)`; with ``whiten`` the empirical
    second moment is made exactly :math:`I_d`.

    Examples:
        >>> X = gaussian_inputs(50, 3, seed=1, whiten=True)
        >>> bool(np.allclose(X.T @ X / 50, np.eye(3)))
        True
    """
    n = positive_int("n", n)
    d = positive_int("input_dim", input_dim)
    X = _rng(seed).standard_normal((n, d))
    return _whiten(X) if whiten else X


def _np_activation(name: str) -> Any:
    table = {
        "tanh": np.tanh,
        "softplus": lambda z: np.logaddexp(0.0, z),
        "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),
        "quadratic": lambda z: z * z,
        "identity": lambda z: z,
    }
    if name not in table:
        raise EosInputError(f"unknown teacher activation {name!r}; choose from {', '.join(table)}")
    return table[name]


def teacher(
    n: int,
    input_dim: int,
    *,
    width: int = 4,
    output_dim: int = 1,
    activation: str = "tanh",
    noise: float = 0.0,
    seed: int | None = 0,
    whiten: bool = False,
) -> Dataset:
    r"""Targets from a random two-layer teacher :math:`y = A\,\sigma(W x + b) + \xi`.

    Teacher weights: :math:`W_{jk} \sim \mathcal N(0, 1/d)`, :math:`b_j \sim \mathcal N(0, 0.1^2)`,
    :math:`A_{kj} \sim \mathcal N(0, 1/m)` (:math:`m` the teacher width), noise
    :math:`\xi \sim \mathcal N(0, \text{noise}^2)`.

    Args:
        n: number of examples.
        input_dim: :math:`d`.
        width: teacher width :math:`m`.
        output_dim: :math:`K`.
        activation: ``tanh``, ``softplus``, ``sigmoid``, ``quadratic`` or ``identity``.
        noise: standard deviation of the label noise.
        seed: random seed.
        whiten: make the empirical input second moment exactly the identity.
    """
    rng = _rng(seed)
    X = gaussian_inputs(n, input_dim, seed=int(rng.integers(2**31)), whiten=whiten)
    m = positive_int("teacher width", width)
    K = positive_int("output_dim", output_dim)
    noise = finite_float("noise", noise)
    if noise < 0:
        raise EosInputError(f"noise must be >= 0, got {noise:g}")
    sigma = _np_activation(activation)
    W = rng.standard_normal((m, X.shape[1])) / np.sqrt(X.shape[1])
    b = 0.1 * rng.standard_normal(m)
    A = rng.standard_normal((K, m)) / np.sqrt(m)
    Y = sigma(X @ W.T + b) @ A.T + noise * rng.standard_normal((X.shape[0], K))
    info = {"n": X.shape[0], "input_dim": X.shape[1], "teacher_width": m, "activation": activation}
    info.update({"output_dim": K, "noise": noise, "seed": seed, "whiten": whiten})
    return Dataset(X, Y, "teacher", info)


def linear_teacher(
    n: int,
    input_dim: int,
    *,
    output_dim: int = 1,
    noise: float = 0.0,
    seed: int | None = 0,
    whiten: bool = True,
) -> Dataset:
    r"""Targets :math:`y = M x + \xi` with :math:`M_{kl} \sim \mathcal N(0, 1/d)` (whitened inputs by default)."""
    rng = _rng(seed)
    X = gaussian_inputs(n, input_dim, seed=int(rng.integers(2**31)), whiten=whiten)
    K = positive_int("output_dim", output_dim)
    noise = finite_float("noise", noise)
    M = rng.standard_normal((K, X.shape[1])) / np.sqrt(X.shape[1])
    Y = X @ M.T + noise * rng.standard_normal((X.shape[0], K))
    info = {"n": X.shape[0], "input_dim": X.shape[1], "output_dim": K, "noise": noise, "seed": seed}
    info["whiten"] = whiten
    return Dataset(X, Y, "linear-teacher", info)


def random_labels(n: int, input_dim: int, *, output_dim: int = 1, seed: int | None = 0) -> Dataset:
    """Gaussian inputs with independent Gaussian targets."""
    rng = _rng(seed)
    X = gaussian_inputs(n, input_dim, seed=int(rng.integers(2**31)))
    Y = rng.standard_normal((X.shape[0], positive_int("output_dim", output_dim)))
    return Dataset(X, Y, "random-labels", {"n": X.shape[0], "input_dim": X.shape[1], "seed": seed})


def digits(
    n: int | None = None,
    input_dim: int = 8,
    *,
    classes: Sequence[int] | None = None,
    target: str = "onehot",
    seed: int | None = 0,
) -> Dataset:
    r"""scikit-learn's 8x8 handwritten digits, reduced to ``input_dim`` dimensions by PCA.

    The pixels are centred, projected on the top principal directions (numpy SVD) and
    scaled so that the projected inputs have unit average variance per coordinate.

    Args:
        n: number of examples (a seeded random subset; default all of them).
        input_dim: number of principal components :math:`d` (1 to 64).
        classes: keep only these digits (default all ten).
        target: ``"onehot"`` (one output per kept class, for MSE), ``"pm1"`` (two classes
            only: labels :math:`-1`/:math:`+1`, for the logistic loss or a scalar MSE) or
            ``"label"`` (the digit as a number).
        seed: random seed of the subset.

    Raises:
        EosInputError: scikit-learn is not installed, or invalid arguments.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise EosInputError(
            "the digits data set needs scikit-learn, which is not installed: "
            "pip install scikit-learn (or the eostheory[torch] extra)"
        ) from None
    d = positive_int("input_dim", input_dim)
    if d > 64:
        raise EosInputError(f"digits have 64 pixels; input_dim must be <= 64, got {d}")
    raw = load_digits()
    X, labels = raw.data.astype(np.float64), raw.target.astype(int)
    keep = sorted(set(range(10) if classes is None else (int(c) for c in classes)))
    if not keep or any(c < 0 or c > 9 for c in keep):
        raise EosInputError(f"classes must be digits 0-9, got {classes!r}")
    mask = np.isin(labels, keep)
    X, labels = X[mask], labels[mask]
    if n is not None:
        n = positive_int("n", n)
        if n > X.shape[0]:
            raise EosInputError(f"only {X.shape[0]} digits of classes {keep}; asked for n={n}")
        idx = _rng(seed).choice(X.shape[0], size=n, replace=False)
        X, labels = X[np.sort(idx)], labels[np.sort(idx)]
    Xc = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    Z = Xc @ vt[:d].T
    Z /= np.sqrt(np.mean(Z**2))
    if target == "onehot":
        Y = (labels[:, None] == np.array(keep)[None, :]).astype(np.float64)
    elif target == "pm1":
        if len(keep) != 2:
            raise EosInputError(f"target='pm1' needs exactly two classes, got {keep}")
        Y = np.where(labels == keep[1], 1.0, -1.0)[:, None]
    elif target == "label":
        Y = labels.astype(np.float64)[:, None]
    else:
        raise EosInputError(f"unknown digits target {target!r}; choose onehot, pm1 or label")
    info = {"n": Z.shape[0], "input_dim": d, "classes": keep, "target": target, "seed": seed}
    return Dataset(Z, Y, "digits", info)


#: Data set names accepted by :func:`make_dataset` and the CLI (``--data``).
DATASETS: dict[str, str] = {
    "teacher": "Gaussian inputs, targets from a random two-layer tanh teacher (width 4)",
    "linear": "whitened Gaussian inputs, targets from a random linear map",
    "random": "Gaussian inputs and independent Gaussian targets",
    "digits": "sklearn's 8x8 digits, PCA to --input-dim, one-hot targets (needs scikit-learn)",
    "digits-binary": "sklearn's digits 0 and 1, PCA to --input-dim, labels -1/+1 (needs scikit-learn)",
    "point": "n copies of the point x = (1, ..., 1), y = (1, ..., 1) (depth-2 chain: scalar factorization)",
}


def make_dataset(
    name: str, n: int, input_dim: int, *, output_dim: int = 1, seed: int = 0, noise: float = 0.0
) -> Dataset:
    """A data set by name (see :data:`DATASETS`).

    Raises:
        EosInputError: unknown name or invalid sizes.
    """
    if name == "teacher":
        return teacher(n, input_dim, output_dim=output_dim, noise=noise, seed=seed)
    if name == "linear":
        return linear_teacher(n, input_dim, output_dim=output_dim, noise=noise, seed=seed)
    if name == "random":
        return random_labels(n, input_dim, output_dim=output_dim, seed=seed)
    if name == "digits":
        return digits(n, input_dim, seed=seed)
    if name == "point":
        n, d = positive_int("n", n), positive_int("input_dim", input_dim)
        K = positive_int("output_dim", output_dim)
        return Dataset(np.ones((n, d)), np.ones((n, K)), "point", {"n": n, "input_dim": d, "output_dim": K})
    if name == "digits-binary":
        return digits(n, input_dim, classes=(0, 1), target="pm1", seed=seed)
    raise EosInputError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
