r"""Groups of the training data and per-group measures.

A :class:`Groups` object is a set of named index sets over the :math:`n` examples of a data
set (they may overlap: ten classes and five loss quintiles are fifteen groups).  For a
group :math:`G` the per-group loss and gradient are

.. math::

    L_G(w) = \frac{1}{|G|}\sum_{i\in G} \ell_i(w), \qquad g_G(w) = \nabla L_G(w),

so that :math:`L = \sum_G \tfrac{|G|}{n} L_G` when the groups partition the data.  Its
alignment with the top Hessian eigenvectors :math:`u_1, \dots, u_k` of the *full* loss is
:math:`|\cos(g_G, u_i)| = |g_G^\top u_i| / \|g_G\|`, and its component along :math:`u_1`
is :math:`g_G^\top u_1`.

Groups are built

- by label (:func:`by_label`), by masks or index lists (:func:`from_masks`, :func:`from_indices`);
- by quantiles of a per-example statistic at a parameter point: loss, margin (cross-entropy:
  the correct logit minus the largest other one), or per-example gradient norm
  (:func:`by_quantiles`);
- as output outliers (:func:`output_outliers`): the largest residuals :math:`\|f(x_i)-y_i\|`
  under MSE, the smallest margins under cross-entropy;
- from what a data set injected (:func:`injected`): the ``info["groups"]`` of a data set,
  e.g. the examples whose labels were corrupted, or a minority sub-population.

:func:`resolve_groups` reads a specification (a :class:`Groups`, a dict of index lists, or a
string such as ``"label"``, ``"loss-quantiles:5"``, ``"outliers:0.1"``, ``"injected"``, or
several joined by ``+``).  :func:`group_measures` turns groups into measures for
:func:`~eostheory.torch.train`; the registered ``group-*`` measures use the groups by label.

Examples:
    >>> import eostheory.torch as et
    >>> g = et.from_indices({"a": [0, 1], "b": [2]}, n=4)
    >>> g.names, g.sizes
    (('a', 'b'), (2, 1))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory.torch._backend import require_torch
from eostheory.torch._measures import Measure, MeasureState, register_measure

__all__ = [
    "GROUP_KINDS",
    "Groups",
    "by_label",
    "by_quantiles",
    "from_indices",
    "from_masks",
    "group_measures",
    "group_stats",
    "injected",
    "output_outliers",
    "per_example",
    "resolve_groups",
]

torch = require_torch()

#: The per-group quantities :func:`group_measures` can record.
GROUP_KINDS = ("loss", "accuracy", "grad-norm", "alignment", "grad-u", "loss-change")


def _check_name(name: Any) -> str:
    s = str(name).strip()
    if not s or not s.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise EosInputError(f"a group name is letters, digits, '-', '_' and '.', got {name!r}")
    return s


class Groups:
    """Named index sets over the ``n`` examples of a data set (validated; overlap allowed).

    Args:
        sets: ``{name: indices}`` (any integer sequence or array).
        n: the number of examples.
        source: how the groups were made (for reports).

    Raises:
        EosInputError: no groups, ``n`` < 1, a bad name, an empty group, an index that is
            not an integer or lies outside ``[0, n)``, a repeated index within a group.
    """

    def __init__(self, sets: Mapping[str, Any], n: int, *, source: str = "custom") -> None:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or int(n) < 1:
            raise EosInputError(f"groups need the number of examples n >= 1, got {n!r}")
        n = int(n)
        if not isinstance(sets, Mapping) or not sets:
            raise EosInputError("groups must be a non-empty dict {name: indices}")
        out: dict[str, np.ndarray] = {}
        for name, idx in sets.items():
            key = _check_name(name)
            if key in out:
                raise EosInputError(f"group {key!r} is given twice")
            a = np.asarray(idx.detach().cpu() if isinstance(idx, torch.Tensor) else idx)
            if a.dtype == bool:
                raise EosInputError(f"group {key!r}: give indices, or use from_masks for a boolean mask")
            if a.size == 0:
                raise EosInputError(f"group {key!r} is empty")
            a = a.reshape(-1)
            if not np.issubdtype(a.dtype, np.integer):
                if not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                    raise EosInputError(f"group {key!r}: indices must be integers, got {a.dtype} values")
            a = a.astype(np.int64)
            bad = a[(a < 0) | (a >= n)]
            if bad.size:
                raise EosInputError(f"group {key!r}: index {int(bad[0])} is out of range for {n} examples")
            u = np.unique(a)
            if u.size != a.size:
                raise EosInputError(f"group {key!r} repeats an index ({a.size - u.size} repeats)")
            out[key] = u
        self._sets = out
        self.n = n
        self.source = str(source)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._sets)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(int(v.size) for v in self._sets.values())

    def __len__(self) -> int:
        return len(self._sets)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sets)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._sets[name]
        except KeyError:
            raise EosInputError(f"no group {name!r}; groups: {', '.join(self._sets)}") from None

    def items(self) -> Iterable[tuple[str, np.ndarray]]:
        return self._sets.items()

    def __add__(self, other: Groups) -> Groups:
        if not isinstance(other, Groups):
            return NotImplemented
        if other.n != self.n:
            raise EosInputError(f"cannot join groups over {self.n} and {other.n} examples")
        clash = sorted(set(self.names) & set(other.names))
        if clash:
            raise EosInputError(f"joined groups share the names {', '.join(clash)}")
        return Groups({**self._sets, **other._sets}, self.n, source=f"{self.source}+{other.source}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the source, ``n`` and each group's size."""
        return {"source": self.source, "n": self.n, "sizes": dict(zip(self.names, self.sizes, strict=True))}

    def __repr__(self) -> str:
        body = ", ".join(f"{k}: {v.size}" for k, v in self._sets.items())
        return f"Groups({self.source}, n={self.n}, {{{body}}})"


def from_indices(sets: Mapping[str, Sequence[int]], n: int) -> Groups:
    """Groups from index lists ``{name: [i, …]}`` over ``n`` examples."""
    return Groups(sets, n, source="indices")


def from_masks(masks: Mapping[str, Any], n: int | None = None) -> Groups:
    """Groups from boolean masks ``{name: mask}`` (each of length ``n``).

    Raises:
        EosInputError: a mask that is not boolean, or of the wrong length.
    """
    if not isinstance(masks, Mapping) or not masks:
        raise EosInputError("masks must be a non-empty dict {name: boolean mask}")
    sets: dict[str, np.ndarray] = {}
    for name, m in masks.items():
        a = np.asarray(m.detach().cpu() if isinstance(m, torch.Tensor) else m).reshape(-1)
        if a.dtype != bool:
            raise EosInputError(f"mask {name!r} must be boolean, got {a.dtype}")
        n = a.size if n is None else n
        if a.size != n:
            raise EosInputError(f"mask {name!r} has {a.size} entries for {n} examples")
        sets[str(name)] = np.flatnonzero(a)
    assert n is not None
    return Groups(sets, int(n), source="masks")


def _labels_of(data: Any) -> np.ndarray:
    labels = getattr(data, "labels", None)
    if labels is None:
        raise EosInputError(f"groups by label need a classification data set; {getattr(data, 'name', data)} has none")
    return np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)


def by_label(data: Any) -> Groups:
    """One group per class present, named ``class0``, ``class1``, …"""
    labels = _labels_of(data)
    return Groups({f"class{c}": np.flatnonzero(labels == c) for c in np.unique(labels)}, labels.size, source="label")


def injected(data: Any) -> Groups:
    """The groups a data set injected, from ``data.info["groups"]`` (e.g. label noise, a minority).

    Raises:
        EosInputError: the data set declares no groups.
    """
    info = getattr(data, "info", None) or {}
    sets = info.get("groups")
    if not sets:
        raise EosInputError(
            f"{getattr(data, 'name', 'the data set')} declares no injected groups (info['groups']); use a data set "
            "that injects them (selective_mixture, noisy_digits) or give the groups yourself"
        )
    return Groups(sets, int(data.n), source="injected")


# ----------------------------------------------------------------------------- per-example statistics


def _per_example_loss(objective: Any, theta: Any) -> Any:
    with torch.no_grad():
        th = objective.as_theta(theta)
        out = objective.forward(th)
        if objective.loss_name == "mse":
            return 0.5 * (out - objective.target).pow(2).reshape(out.shape[0], -1).sum(dim=1)
        if objective.loss_name == "ce":
            return torch.nn.functional.cross_entropy(out, objective.target, reduction="none")
        idx = torch.arange(objective.n_examples, device=th.device)
        return torch.stack([objective.loss(th, idx[i : i + 1]).reshape(()) for i in range(objective.n_examples)])


def _margins(objective: Any, theta: Any) -> Any:
    if objective.labels is None:
        raise EosInputError("margins need class labels; this is a regression data set")
    with torch.no_grad():
        out = objective.forward(objective.as_theta(theta))
        lab = objective.labels
        correct = out.gather(1, lab.reshape(-1, 1)).reshape(-1)
        other = out.clone()
        other.scatter_(1, lab.reshape(-1, 1), -math.inf)
        return correct - other.max(dim=1).values


def _residuals(objective: Any, theta: Any) -> Any:
    with torch.no_grad():
        out = objective.forward(objective.as_theta(theta))
        return (out - objective.target).reshape(out.shape[0], -1).norm(dim=1)


def _per_example_grad_norm(objective: Any, theta: Any) -> Any:
    return torch.linalg.vector_norm(objective.per_example_gradients(theta), dim=1)


_STATS = {"loss": _per_example_loss, "margin": _margins, "grad-norm": _per_example_grad_norm, "residual": _residuals}


def per_example(objective: Any, theta: Any, statistic: str) -> np.ndarray:
    r"""A per-example statistic at ``theta``: ``"loss"`` (:math:`\ell_i`), ``"margin"`` (correct logit
    minus the largest other), ``"grad-norm"`` (:math:`\|\nabla\ell_i\|`, from
    :meth:`~eostheory.torch.Objective.per_example_gradients`) or ``"residual"`` (:math:`\|f(x_i) - y_i\|`, MSE targets).

    Raises:
        EosInputError: an unknown statistic, or margins of a regression set.
    """
    try:
        fn = _STATS[statistic]
    except KeyError:
        raise EosInputError(f"unknown per-example statistic {statistic!r}; known: {', '.join(_STATS)}") from None
    return fn(objective, theta).detach().cpu().double().numpy()


def by_quantiles(values: Any, q: int, *, prefix: str = "q") -> Groups:
    """``q`` groups of (nearly) equal size by the order of ``values``: ``{prefix}1`` holds the smallest.

    Ties are broken by index (a stable sort), so every group is non-empty when ``q <= n``.

    Raises:
        EosInputError: ``q`` < 1 or above the number of values, values that are not finite.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if isinstance(q, bool) or int(q) != q or not 1 <= int(q) <= v.size:
        raise EosInputError(f"the number of quantile groups must lie in [1, {v.size}], got {q!r}")
    if not np.all(np.isfinite(v)):
        raise EosInputError("quantile groups need finite per-example values")
    order = np.argsort(v, kind="stable")
    parts = np.array_split(order, int(q))
    return Groups({f"{prefix}{j + 1}": p for j, p in enumerate(parts)}, v.size, source=f"{prefix}-quantiles")


def output_outliers(objective: Any, theta: Any, fraction: float = 0.1) -> Groups:
    """The output outliers and the rest: the ``fraction`` of examples with the largest residual
    :math:`\\|f(x_i) - y_i\\|` (MSE) or the smallest margin (cross-entropy), as ``outliers`` / ``inliers``.

    Raises:
        EosInputError: ``fraction`` outside (0, 1) or leaving a group empty.
    """
    f = float(fraction)
    if not (math.isfinite(f) and 0.0 < f < 1.0):
        raise EosInputError(f"the outlier fraction must lie in (0, 1), got {fraction!r}")
    n = objective.n_examples
    k = round(f * n)
    if not 1 <= k < n:
        raise EosInputError(f"an outlier fraction of {f:g} of {n} examples leaves a group empty")
    score = (
        -per_example(objective, theta, "margin")
        if objective.loss_name == "ce"
        else per_example(objective, theta, "residual")
    )
    order = np.argsort(-score, kind="stable")
    return Groups({"outliers": order[:k], "inliers": order[k:]}, n, source="outliers")


def resolve_groups(spec: Any, objective: Any, theta: Any = None) -> Groups:
    """Groups from a specification, evaluated on ``objective`` at ``theta`` (default its start).

    Args:
        spec: a :class:`Groups`; a dict ``{name: indices}``; or a string: ``"label"``,
            ``"loss-quantiles:Q"``, ``"margin-quantiles:Q"``, ``"grad-quantiles:Q"``,
            ``"outliers:F"`` (fraction, default 0.1), ``"injected"``; several joined by ``+``
            (``"label+loss-quantiles:5"``).
        objective: the :class:`~eostheory.torch.NetworkObjective` (its data and loss).
        theta: the parameters at which per-example statistics are taken.

    Raises:
        EosInputError: an unknown or malformed specification, or groups that do not fit.
    """
    n = objective.n_examples
    if isinstance(spec, Groups):
        if spec.n != n:
            raise EosInputError(f"the groups are over {spec.n} examples, the data set has {n}")
        return spec
    if isinstance(spec, Mapping):
        return from_indices(spec, n)
    if not isinstance(spec, str) or not spec.strip():
        raise EosInputError(f"groups must be a Groups object, a dict of index lists or a string, got {spec!r}")
    th = objective.theta0 if theta is None else theta
    parts = [p.strip() for p in spec.split("+") if p.strip()]
    out: Groups | None = None
    for part in parts:
        head, _, arg = part.partition(":")
        head = head.strip().lower()
        if head == "label":
            g = by_label(objective.data)
        elif head == "injected":
            g = injected(objective.data)
        elif head in ("loss-quantiles", "margin-quantiles", "grad-quantiles"):
            q = _int_arg(arg or "5", part)
            stat = {"loss-quantiles": "loss", "margin-quantiles": "margin", "grad-quantiles": "grad-norm"}[head]
            g = by_quantiles(per_example(objective, th, stat), q, prefix=f"{stat}-q")
        elif head == "outliers":
            g = output_outliers(objective, th, _float_arg(arg or "0.1", part))
        else:
            raise EosInputError(
                f"unknown groups {part!r}; use label, loss-quantiles:Q, margin-quantiles:Q, grad-quantiles:Q, "
                "outliers:F or injected (join several with +)"
            )
        out = g if out is None else out + g
    if out is None:
        raise EosInputError("empty groups specification")
    return out


def _int_arg(text: str, part: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise EosInputError(f"{part!r}: {text!r} is not an integer") from None


def _float_arg(text: str, part: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise EosInputError(f"{part!r}: {text!r} is not a number") from None


# ----------------------------------------------------------------------------- per-group quantities


def group_stats(
    objective: Any,
    theta: Any,
    groups: Groups,
    *,
    vectors: Any = None,
    gradients: bool = True,
) -> dict[str, dict[str, Any]]:
    r"""Per-group loss, accuracy, gradient norm and (given eigenvectors) alignment at ``theta``.

    Args:
        objective: the network objective.
        theta: the parameters.
        groups: the groups.
        vectors: unit eigenvectors as the columns of an ``(n_params, k)`` tensor (optional).
        gradients: compute :math:`g_G` (one backward pass per group); ``False`` gives losses only.

    Returns:
        ``{name: {"loss", "accuracy", "grad_norm", "alignment": [|cos(g_G, u_i)|], "grad_u": [g_G·u_i]}}``
        (the last two only with ``vectors``; ``accuracy`` is ``None`` for regression).
    """
    th = objective.as_theta(theta).detach()
    dev = th.device
    with torch.no_grad():
        out_all = objective.forward(th) if objective.labels is not None else None
    res: dict[str, dict[str, Any]] = {}
    for name, idx_np in groups.items():
        idx = torch.as_tensor(idx_np, device=dev)
        entry: dict[str, Any] = {}
        if gradients:
            L, g = objective.value_and_grad(th, idx)
            gn = float(torch.linalg.vector_norm(g))
            entry["grad_norm"] = gn
            if vectors is not None:
                c = (g.reshape(1, -1) @ vectors).reshape(-1)
                entry["grad_u"] = [float(x) for x in c]
                entry["alignment"] = [float(abs(x)) / gn if gn > 0 else None for x in c.tolist()]
            entry["gradient"] = g
        else:
            with torch.no_grad():
                L = objective.loss(th, idx)
        entry["loss"] = float(L)
        if out_all is not None:
            entry["accuracy"] = float((out_all[idx].argmax(dim=1) == objective.labels[idx]).double().mean())
        else:
            entry["accuracy"] = None
        res[name] = entry
    return res


def group_losses(objective: Any, theta: Any, groups: Groups) -> dict[str, float]:
    """``{name: L_G(theta)}`` (no gradients)."""
    return {k: v["loss"] for k, v in group_stats(objective, theta, groups, gradients=False).items()}


class _Bound:
    """Groups resolved once per objective (quantile groups are frozen at the first record)."""

    def __init__(self, spec: Any, reference: Any) -> None:
        self.spec = spec
        self.reference = reference
        self._key: int | None = None
        self._groups: Groups | None = None
        self._ref_losses: dict[str, float] | None = None

    def groups(self, state: MeasureState) -> Groups:
        if self._groups is None or self._key != id(state.objective):
            self._groups = resolve_groups(self.spec, state.objective, state.w)
            self._key = id(state.objective)
            self._ref_losses = None
        return self._groups

    def ref_losses(self, state: MeasureState) -> dict[str, float]:
        if self._ref_losses is None:
            ref = state.w0 if self.reference is None else self.reference
            self._ref_losses = group_losses(state.objective, ref, self.groups(state))
        return self._ref_losses


def group_measures(
    groups: Any = "label",
    kinds: Iterable[str] = ("loss", "grad-norm"),
    *,
    reference: Any = None,
    register: bool = False,
    suffix: str = "",
) -> list[Measure]:
    r"""Measures of per-group quantities for :func:`~eostheory.torch.train`'s ``track``.

    Each measure records one value per group under ``KEY.GROUP`` (``group_loss.class3``):

    - ``loss``: :math:`L_G(w)`; ``accuracy``: the group's accuracy (classification);
    - ``grad-norm``: :math:`\|g_G(w)\|` (one backward pass per group);
    - ``alignment``: :math:`|\cos(g_G, u_i)|` for the run's ``top_k`` eigenvectors (shares the
      run's eigen-solve), a list per group; ``grad-u``: :math:`g_G^\top u_i`;
    - ``loss-change``: :math:`L_G(w) - L_G(w_\mathrm{ref})` with ``reference`` the parameters
      (default: the run's initial ones).

    Args:
        groups: a specification for :func:`resolve_groups` (resolved at the first record).
        kinds: which quantities, from :data:`GROUP_KINDS`.
        reference: the reference parameters of ``loss-change``.
        register: also add them to the registry (replacing those of the same name).
        suffix: appended to the names (``group-loss-SUFFIX``), to track several groupings.

    Raises:
        EosInputError: an unknown kind.
    """
    kinds = tuple(kinds)
    bad = sorted(set(kinds) - set(GROUP_KINDS))
    if bad:
        raise EosInputError(f"unknown group measure {bad}; known: {', '.join(GROUP_KINDS)}")
    bound = _Bound(groups, reference)
    out = []
    for kind in kinds:
        m = _make(kind, bound, suffix, isinstance(groups, str) and "label" in groups.split("+"))
        if register:
            register_measure(m, replace=True)
        out.append(m)
    return out


def _make(kind: str, bound: _Bound, suffix: str, labels: bool = False) -> Measure:
    name = f"group-{kind}" + (f"-{suffix}" if suffix else "")
    key = name.replace("-", "_")

    def values(state: MeasureState, field: str, vectors: bool = False) -> dict[str, Any]:
        V = state.eigenpairs.vectors if vectors else None
        grads = field in ("grad_norm", "alignment", "grad_u")
        st = group_stats(state.objective, state.w, bound.groups(state), vectors=V, gradients=grads)
        return {f"{key}.{g}": v[field] for g, v in st.items()}

    if kind == "loss":
        fn, needs, cost, desc = (lambda s: values(s, "loss")), (), 0.5, "per-group loss L_G"
    elif kind == "accuracy":
        fn, needs, cost, desc = (lambda s: values(s, "accuracy")), ("labels",), 0.5, "per-group accuracy"
    elif kind == "grad-norm":
        fn, needs, cost, desc = (lambda s: values(s, "grad_norm")), (), 1.0, "per-group gradient norm |g_G|"
    elif kind == "alignment":
        fn, needs, cost = (lambda s: values(s, "alignment", True)), ("hessian", "eigenpairs"), 20.0
        desc = "per-group |cos(g_G, u_i)| with the top_k eigenvectors (shares the eigen-solve)"
    elif kind == "grad-u":
        fn, needs, cost = (lambda s: values(s, "grad_u", True)), ("hessian", "eigenpairs"), 20.0
        desc = "per-group component g_G . u_i along the top_k eigenvectors"
    else:

        def fn(s: MeasureState) -> dict[str, Any]:
            ref = bound.ref_losses(s)
            now = group_losses(s.objective, s.w, bound.groups(s))
            return {f"{key}.{g}": now[g] - ref[g] for g in now}

        needs, cost, desc = (), 0.5, "per-group loss change L_G(w) - L_G(w_ref)"
    need = frozenset(needs) | ({"labels"} if labels else set())
    return Measure(name, fn, name, cost, (), name, need, desc + " (cost per group)")


# the registered group measures: groups by label (a measure needing labels is skipped on regression data)
for _kind in GROUP_KINDS:
    register_measure(_make(_kind, _Bound("label", None), "", True))
