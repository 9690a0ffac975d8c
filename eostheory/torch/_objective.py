r"""Losses as functions of one flat parameter vector, with Hessian-vector products.

Every curvature estimator in :mod:`eostheory.torch` sees a network through an
:class:`Objective`: a scalar :math:`L(\theta)` of a flat vector :math:`\theta\in\mathbb R^n`.
For a network, :class:`NetworkObjective` evaluates the user's :class:`torch.nn.Module` with
:func:`torch.func.functional_call` on views of :math:`\theta`, so any module works and the
module itself is never modified.  :class:`FunctionObjective` wraps a plain torch function
of :math:`\theta` (toy potentials written in torch).

:class:`HessianOperator` is the fast Hessian-vector product: it builds the gradient
:math:`\nabla L(\theta)` once with ``create_graph=True`` and differentiates
:math:`\nabla L^\top v` for each :math:`v` through that one graph (double backward),
about 1–1.5 gradient evaluations per product.  The third-derivative contraction
:math:`\nabla(u^\top H u)` differentiates once more; because some fused layers (PyTorch's
LayerNorm, training-mode BatchNorm) return wrong third derivatives, the first contraction
computed on an objective is compared with finite differences of Hessian-vector products and
refused when they disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eostheory._errors import EosInputError
from eostheory.torch._backend import require_torch, resolve_device, resolve_dtype

__all__ = [
    "LOSSES",
    "FunctionObjective",
    "HessianOperator",
    "NetworkObjective",
    "Objective",
    "ThirdDerivativeCheck",
    "Work",
    "mse_loss",
    "mse_mean_loss",
]

torch = require_torch()


def mse_loss(output: Any, target: Any) -> Any:
    r"""The MSE of the theory (``"mse"``): :math:`\frac1N\sum_i \tfrac12\|f(x_i)-y_i\|^2`.

    Summed over the :math:`k` outputs, averaged over the :math:`N` examples; its Hessian is
    :math:`\frac1N\sum_i J_i^\top J_i` plus the residual term, the convention of the theory
    (a linear model's sharpness is the top eigenvalue of :math:`X^\top X/N`).
    """
    return 0.5 * (output - target).pow(2).reshape(output.shape[0], -1).sum(dim=1).mean()


def mse_mean_loss(output: Any, target: Any) -> Any:
    r"""The MSE as most frameworks define it (``"mse-mean"``): :math:`\frac1{Nk}\sum_{i,j}(f_j(x_i)-y_{ij})^2`.

    The mean over examples *and* outputs (``torch.nn.functional.mse_loss`` with
    ``reduction="mean"``).  It equals :math:`\frac2k` times :func:`mse_loss`, so its
    gradient, Hessian and sharpness are :math:`\frac2k` times those of ``"mse"``: the
    same run reaches the edge :math:`2/\eta` at a step size :math:`k/2` times larger.
    """
    return (output - target).pow(2).mean()


#: The named losses of :class:`NetworkObjective` (and ``train(loss=...)``, ``--loss``).
LOSSES = ("mse", "mse-mean", "ce")
_LOSS_ALIASES = {
    "mse": "mse",
    "mse-mean": "mse-mean",
    "mse_mean": "mse-mean",
    "ce": "ce",
    "cross-entropy": "ce",
    "cross_entropy": "ce",
}


def _cross_entropy(output: Any, labels: Any) -> Any:
    return torch.nn.functional.cross_entropy(output, labels)


@dataclass
class Work:
    """Work counters: loss evaluations, gradients, Hessian-vector products, third-derivative contractions."""

    losses: int = 0
    gradients: int = 0
    hvps: int = 0
    thirds: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a dict."""
        return {"losses": self.losses, "gradients": self.gradients, "hvps": self.hvps, "thirds": self.thirds}

    def load(self, d: dict[str, int]) -> None:
        """Set the counters from :meth:`as_dict` output."""
        for k, v in d.items():
            setattr(self, k, int(v))


@dataclass(frozen=True)
class ThirdDerivativeCheck:
    r"""Outcome of the finite-difference check of :math:`\nabla(u^\top H u)`.

    Attributes:
        rel_error: the largest relative disagreement between the autodiff directional
            derivative :math:`d^\top\nabla(u^\top Hu)` and its finite difference.
        tolerance: the threshold it was compared with.
        passed: whether ``rel_error <= tolerance``.
        suspects: names of layers known to have wrong third derivatives, if any.
    """

    rel_error: float
    tolerance: float
    passed: bool
    suspects: tuple[str, ...] = ()


class Objective:
    r"""A scalar loss :math:`L(\theta)` of a flat parameter vector, on one device and dtype.

    Subclasses implement :meth:`loss`.  ``idx`` selects a subset of examples (a batch) for
    objectives that have data; ``None`` means all of them.

    Attributes:
        n_params: the dimension :math:`n` of :math:`\theta`.
        device, dtype: where and in which precision everything is evaluated.
        work: the :class:`Work` counters (shared by every operator built from this objective).
    """

    n_params: int
    device: Any
    dtype: Any
    n_examples: int | None = None

    def __init__(self) -> None:
        self.work = Work()
        self._third_check: ThirdDerivativeCheck | None = None

    # -- to implement -------------------------------------------------------------------
    def loss(self, theta: Any, idx: Any = None) -> Any:  # pragma: no cover - abstract
        """The loss at ``theta`` (a differentiable 0-dim tensor)."""
        raise NotImplementedError

    def suspect_layers(self) -> tuple[str, ...]:
        """Names of layers whose third derivatives PyTorch is known to get wrong."""
        return ()

    # -- derived ------------------------------------------------------------------------
    def as_theta(self, theta: Any) -> Any:
        """``theta`` as a detached flat tensor on this objective's device and dtype.

        Raises:
            EosInputError: wrong number of entries or non-finite values.
        """
        t = torch.as_tensor(theta).detach().to(device=self.device, dtype=self.dtype).reshape(-1)
        if t.numel() != self.n_params:
            raise EosInputError(f"parameter vector has {t.numel()} entries, the objective has {self.n_params}")
        return t

    def value(self, theta: Any, idx: Any = None) -> float:
        """The loss as a Python float (no graph)."""
        with torch.no_grad():
            self.work.losses += 1
            return float(self.loss(self.as_theta(theta), idx))

    def value_and_grad(self, theta: Any, idx: Any = None) -> tuple[Any, Any]:
        """The loss (0-dim tensor, detached) and its gradient (flat tensor) at ``theta``."""
        th = self.as_theta(theta).requires_grad_(True)
        L = self.loss(th, idx)
        self.work.gradients += 1
        if not L.requires_grad:
            return L.detach(), torch.zeros_like(th)
        (g,) = torch.autograd.grad(L, th, allow_unused=True)
        return L.detach(), (torch.zeros_like(th) if g is None else g)

    def hessian(self, theta: Any, idx: Any = None) -> HessianOperator:
        """The Hessian at ``theta`` as a :class:`HessianOperator` (builds the gradient graph once)."""
        return HessianOperator(self, theta, idx)

    def per_example_gradients(self, theta: Any) -> Any:
        r"""The per-example gradients :math:`\nabla\ell_i(\theta)` as the rows of an ``(N, n)`` tensor.

        One backward pass per example (the reference; :class:`NetworkObjective` vectorises it).
        """
        th = self.as_theta(theta)
        idx = torch.arange(self._examples(), device=th.device)
        return torch.stack([self.value_and_grad(th, idx[i : i + 1])[1] for i in range(idx.numel())])

    def per_example_quadratics(self, theta: Any, directions: Any) -> Any:
        r"""The per-example curvatures :math:`C_{ki} = v_k^\top\nabla^2\ell_i(\theta)\,v_k` as a ``(K, N)`` tensor.

        ``directions`` holds the :math:`v_k` as rows (shape ``(K, n)``).  One gradient graph
        per example and :math:`K` Hessian-vector products through each, :math:`KN` in all
        (the reference; :class:`NetworkObjective` vectorises it).
        """
        th = self.as_theta(theta)
        V = torch.as_tensor(directions).to(device=th.device, dtype=th.dtype).reshape(-1, self.n_params)
        idx = torch.arange(self._examples(), device=th.device)
        ops = [self.hessian(th, idx[i : i + 1]) for i in range(idx.numel())]
        return torch.tensor([[op.quadratic(v) for op in ops] for v in V], dtype=th.dtype, device=th.device)

    def _examples(self) -> int:
        if self.n_examples is None:
            raise EosInputError("per-example quantities need an objective with data (n_examples is not set)")
        return int(self.n_examples)

    def check_third_derivatives(self, theta: Any, u: Any = None, *, seed: int = 0) -> ThirdDerivativeCheck:
        r"""Compare autodiff :math:`\nabla(u^\top H u)` with finite differences of :math:`u^\top H u`.

        Two directions are tested: the autodiff vector itself (normalised) and a random unit
        vector.  Along a unit direction :math:`d` the derivative of :math:`f(s)=u^\top
        H(\theta+sd)u` is approximated by the fourth-order stencil
        :math:`[8(f(\epsilon)-f(-\epsilon)) - (f(2\epsilon)-f(-2\epsilon))]/(12\epsilon)`.

        Args:
            theta: the point.
            u: the contraction direction (default: a random unit vector).
            seed: seed of the random vectors.

        Returns:
            A :class:`ThirdDerivativeCheck` (also cached for :meth:`HessianOperator.third`).
        """
        th = self.as_theta(theta)
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        n = self.n_params
        if u is None:
            u = torch.randn(n, generator=gen, dtype=torch.float64)
        u = torch.as_tensor(u).to(device=self.device, dtype=self.dtype).reshape(-1)
        u = u / torch.linalg.vector_norm(u)
        op = self.hessian(th)
        t = op._third_unchecked(u)
        f0 = float(u @ op.matvec(u))
        d_rand = torch.randn(n, generator=gen, dtype=torch.float64).to(device=self.device, dtype=self.dtype)
        dirs = [d_rand / torch.linalg.vector_norm(d_rand)]
        tn = float(torch.linalg.vector_norm(t))
        if tn > 0 and math.isfinite(tn):
            dirs.insert(0, t / tn)
        f64 = self.dtype == torch.float64
        eps = 1e-3 if f64 else 3e-2
        tol = 1e-5 if f64 else 5e-2
        floor = (1e-7 if f64 else 1e-3) * (1.0 + abs(f0))
        worst = 0.0
        for d in dirs:

            def f(s: float, d: Any = d) -> float:
                o = self.hessian(th + s * d)
                return float(u @ o.matvec(u))

            fd = (8 * (f(eps) - f(-eps)) - (f(2 * eps) - f(-2 * eps))) / (12 * eps)
            a = float(d @ t)
            err = abs(a - fd) / max(abs(a), abs(fd), floor)
            if not math.isfinite(err):
                err = math.inf
            worst = max(worst, err)
        res = ThirdDerivativeCheck(worst, tol, worst <= tol, self.suspect_layers())
        self._third_check = res
        self._warn_nonsmooth()
        return res

    def _warn_nonsmooth(self) -> None:
        """Warn (once per objective) when the model has activations without a third derivative."""
        model = getattr(self, "model", None)
        if model is None or getattr(self, "_warned_nonsmooth", False):
            return
        from eostheory.torch._models import nonsmooth_modules

        bad = nonsmooth_modules(model, order=3)
        self._warned_nonsmooth = True
        if bad:
            import warnings

            what = ", ".join(
                f"{name} (C{'⁰' if k == 0 else '¹' if k == 1 else '²'}) at {path}" for path, name, k in bad[:3]
            )
            warnings.warn(
                f"third derivatives of this model are not defined everywhere: {what}; the central flow's "
                "sharpness gradient ∇S = ∇³L[u, u] assumes a C³ activation such as tanh, silu or gelu",
                RuntimeWarning,
                stacklevel=3,
            )


class HessianOperator:
    r"""Hessian-vector products :math:`v\mapsto H(\theta)v` through one gradient graph.

    Args:
        objective: the :class:`Objective`.
        theta: the point.
        idx: the examples (batch) of the loss; ``None`` for all.

    Attributes:
        theta: the point (a leaf tensor that requires grad).
        loss: :math:`L(\theta)` (detached).
        gradient: :math:`\nabla L(\theta)` (detached).
        n: the dimension.
    """

    def __init__(self, objective: Objective, theta: Any, idx: Any = None) -> None:
        self.objective = objective
        self.n = objective.n_params
        self.theta = objective.as_theta(theta).requires_grad_(True)
        L = objective.loss(self.theta, idx)
        objective.work.gradients += 1
        self.loss = L.detach()
        if L.requires_grad:
            (g,) = torch.autograd.grad(L, self.theta, create_graph=True, allow_unused=True)
        else:
            g = None
        self._g = g
        self.gradient = torch.zeros_like(self.theta).detach() if g is None else g.detach()
        self._linear = g is None or not g.requires_grad

    @property
    def device(self) -> Any:
        """The device of the vectors."""
        return self.theta.device

    @property
    def dtype(self) -> Any:
        """The dtype of the vectors."""
        return self.theta.dtype

    def matvec(self, v: Any) -> Any:
        """:math:`H v` for a flat vector ``v`` (detached result)."""
        self.objective.work.hvps += 1
        v = v.to(device=self.device, dtype=self.dtype).reshape(-1)
        if self._linear:
            return torch.zeros_like(v)
        (hv,) = torch.autograd.grad(self._g, self.theta, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(v) if hv is None else hv.detach()

    __call__ = matvec

    def matmat(self, V: Any) -> Any:
        """:math:`H V` for the columns of ``V`` (shape ``(n, m)``), batched through the graph."""
        V = V.to(device=self.device, dtype=self.dtype)
        m = V.shape[1]
        self.objective.work.hvps += m
        if self._linear:
            return torch.zeros_like(V)
        try:
            (HV,) = torch.autograd.grad(
                self._g, self.theta, V.T.contiguous(), retain_graph=True, is_grads_batched=True, allow_unused=True
            )
            if HV is None:
                return torch.zeros_like(V)
            return HV.detach().T
        except RuntimeError:  # some operators have no batching rule: fall back to a loop
            self.objective.work.hvps -= m
            return torch.stack([self.matvec(V[:, i]) for i in range(m)], dim=1)

    def dense(self, chunk: int = 256) -> Any:
        """The full :math:`n\\times n` Hessian (``n`` products; for small models and tests), symmetrised."""
        n = self.n
        eye = torch.eye(n, device=self.device, dtype=self.dtype)
        cols = [self.matmat(eye[:, i : i + chunk]) for i in range(0, n, chunk)]
        Hm = torch.cat(cols, dim=1)
        return 0.5 * (Hm + Hm.T)

    def quadratic(self, v: Any) -> float:
        r""":math:`v^\top H v`."""
        v = v.to(device=self.device, dtype=self.dtype).reshape(-1)
        return float(v @ self.matvec(v))

    def _third_unchecked(self, u: Any) -> Any:
        u = u.to(device=self.device, dtype=self.dtype).reshape(-1)
        self.objective.work.thirds += 1
        if self._linear:
            return torch.zeros_like(u)
        (hu,) = torch.autograd.grad(self._g, self.theta, u, create_graph=True, retain_graph=True, allow_unused=True)
        if hu is None or not hu.requires_grad:
            return torch.zeros_like(u)
        (t,) = torch.autograd.grad(hu @ u, self.theta, retain_graph=True, allow_unused=True)
        return torch.zeros_like(u) if t is None else t.detach()

    def third(self, u: Any, *, check: bool = True) -> Any:
        r"""The third-derivative contraction :math:`\nabla(u^\top H u) = \nabla^3 L[u, u]`.

        For a unit eigenvector :math:`u` of the top eigenvalue this is the gradient of the
        sharpness, :math:`\nabla S` (first-order perturbation: :math:`d\lambda = u^\top dH\, u`).

        Args:
            u: the direction (not normalised here).
            check: on the first call for this objective, compare with finite differences and
                refuse a model whose third derivatives are wrong.

        Raises:
            EosInputError: the finite-difference check failed (e.g. fused LayerNorm).
        """
        if check:
            chk = self.objective._third_check
            if chk is None:
                chk = self.objective.check_third_derivatives(self.theta.detach(), u)
            if not chk.passed:
                sus = f"; suspect layers: {', '.join(chk.suspects)}" if chk.suspects else ""
                raise EosInputError(
                    "third derivatives of this model fail the finite-difference check (relative error "
                    f"{chk.rel_error:.2g} > {chk.tolerance:g}){sus}. PyTorch's fused LayerNorm and training-mode "
                    "BatchNorm are known culprits: write the normalisation out explicitly, put BatchNorm in eval "
                    "mode, or pass check=False at your own risk"
                )
        return self._third_unchecked(u)


class FunctionObjective(Objective):
    r"""A loss given as a torch function of the flat parameter vector (e.g. a toy potential).

    Args:
        fn: ``fn(theta) -> 0-dim tensor``, differentiable three times.
        x0: the starting point (sets :math:`n`).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ….
        dtype: ``"float64"`` (default here) or ``"float32"``.

    Examples:
        >>> import torch
        >>> obj = FunctionObjective(lambda w: 0.5 * (1 + w[1] ** 2) * w[0] ** 2 + 0.5 * (w[1] - 2) ** 2, [0.0, 2.0])
        >>> H = obj.hessian(obj.theta0).dense()
        >>> [round(float(x), 12) for x in torch.linalg.eigvalsh(H)]
        [1.0, 5.0]
    """

    def __init__(self, fn: Callable[[Any], Any], x0: Any, *, device: Any = "cpu", dtype: Any = "float64") -> None:
        super().__init__()
        if not callable(fn):
            raise EosInputError(f"fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        x0 = torch.as_tensor(x0, dtype=torch.float64).reshape(-1)
        if x0.numel() == 0:
            raise EosInputError("the starting point has no entries")
        if not torch.all(torch.isfinite(x0)):
            raise EosInputError("the starting point must be finite")
        self.n_params = int(x0.numel())
        self.theta0 = x0.to(device=self.device, dtype=self.dtype)
        out = fn(self.theta0)
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            raise EosInputError("fn(theta) must return a scalar tensor")

    def loss(self, theta: Any, idx: Any = None) -> Any:
        """``fn(theta)`` (``idx`` must be ``None``: a function has no examples)."""
        if idx is not None:
            raise EosInputError("a function objective has no examples to select")
        return self.fn(theta).reshape(())


_SUSPECT_TYPES = ("LayerNorm", "GroupNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d")


class NetworkObjective(Objective):
    r"""The training loss of a module on a data set, as a function of the flat parameters.

    :math:`L(\theta) = \frac1{|B|}\sum_{i\in B}\ell(f(x_i;\theta), y_i)` over a batch
    :math:`B` (all examples by default).

    Args:
        model: any :class:`torch.nn.Module` with at least one trainable parameter; it is
            moved to ``device``/``dtype`` (a copy is not made).
        data: a :class:`~eostheory.torch.Dataset`.
        loss: ``"mse"`` (:func:`mse_loss`: :math:`\tfrac12\|f-y\|^2` summed over outputs,
            mean over examples; one-hot targets), ``"mse-mean"`` (:func:`mse_mean_loss`: mean of
            :math:`(f-y)^2` over examples and outputs, :math:`2/k` times ``"mse"`` for
            :math:`k` outputs), ``"ce"`` (cross-entropy on labels) or a callable
            ``loss(output, y) -> 0-dim tensor`` (``y`` the targets).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ….
        dtype: ``"float32"`` or ``"float64"``.

    Raises:
        EosInputError: no trainable parameters, cross-entropy without labels, or a model
            whose output shape does not fit the targets.
    """

    def __init__(
        self, model: Any, data: Any, loss: Any = "mse", *, device: Any = "auto", dtype: Any = "float32"
    ) -> None:
        super().__init__()
        from eostheory.torch._data import Dataset

        if not isinstance(model, torch.nn.Module):
            raise EosInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(data, Dataset):
            raise EosInputError(f"data must be an eostheory.torch.Dataset, got {type(data).__name__}")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.model = model.to(device=self.device, dtype=self.dtype)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise EosInputError("the model has no trainable parameters")
        self.names = [n for n, _ in named]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.n_params = int(sum(self.sizes))
        self._layers = _sequential_layers(model, self.names)
        self.theta0 = torch.cat([p.detach().reshape(-1) for _, p in named]).to(self.device, self.dtype)
        self.data = data
        self.n_examples = data.n
        self.x = data.x.to(device=self.device, dtype=self.dtype)
        name = _LOSS_ALIASES.get(loss.strip().lower()) if isinstance(loss, str) else None
        if name in ("mse", "mse-mean"):
            self.loss_name, self._loss = name, (mse_loss if name == "mse" else mse_mean_loss)
            self.target = data.y.to(device=self.device, dtype=self.dtype)
        elif name == "ce":
            if data.labels is None:
                raise EosInputError(f"cross-entropy needs class labels; {data.name} is a regression set")
            self.loss_name, self._loss = "ce", _cross_entropy
            self.target = data.labels.to(self.device)
        elif callable(loss):
            self.loss_name, self._loss = getattr(loss, "__name__", "custom"), loss
            self.target = data.y.to(device=self.device, dtype=self.dtype)
        else:
            raise EosInputError(f"unknown loss {loss!r}; use {', '.join(LOSSES)} or a callable loss(output, y)")
        self.labels = None if data.labels is None else data.labels.to(self.device)
        self._check_shapes()

    def _check_shapes(self) -> None:
        k = min(2, self.n_examples)
        try:
            with torch.no_grad():
                out = self.forward(self.theta0, self.x[:k])
        except RuntimeError as exc:
            raise EosInputError(
                f"the model cannot take inputs of shape {tuple(self.x.shape[1:])} per example: {exc}".splitlines()[0]
            ) from None
        if self.loss_name == "ce":
            C = self.data.out_features
            if out.ndim != 2 or out.shape[1] < int(self.data.labels.max()) + 1:
                raise EosInputError(
                    f"cross-entropy needs outputs of shape (N, {C}), the model gives {tuple(out.shape)}"
                )
        elif tuple(out.shape) != (k, *self.target.shape[1:]):
            raise EosInputError(
                f"the model's output shape {tuple(out.shape[1:])} per example does not match the targets' "
                f"{tuple(self.target.shape[1:])}"
            )
        with torch.no_grad():
            L = self.loss(self.theta0, torch.arange(k, device=self.device))
        if L.numel() != 1:
            raise EosInputError(f"the loss must return a scalar, got shape {tuple(L.shape)}")

    def params(self, theta: Any) -> dict[str, Any]:
        """``theta`` split into named views shaped like the module's parameters."""
        return {n: t.view(s) for n, t, s in zip(self.names, theta.split(self.sizes), self.shapes, strict=True)}

    def forward(self, theta: Any, x: Any = None) -> Any:
        """The model's output at parameters ``theta`` on inputs ``x`` (default: all).

        An ``nn.Sequential`` of ``nn.Linear`` layers and parameter-free modules (the MLPs of
        :func:`mlp`) runs as the same ``F.linear`` calls on views of ``theta`` — the same
        operations as the module, hence the same numbers, without
        ``torch.func.functional_call``'s per-call parameter swap (about 40% of a forward pass
        of a small MLP on one CPU thread).  Any other module goes through ``functional_call``.
        """
        inp = self.x if x is None else x
        if self._layers is None:
            return torch.func.functional_call(self.model, self.params(theta), (inp,))
        views = theta.split(self.sizes)
        out = inp
        for module, iw, ib in self._layers:
            if iw is None:
                out = module(out)
            else:
                w = views[iw].view(self.shapes[iw])
                b = None if ib is None else views[ib]
                out = torch.nn.functional.linear(out, w, b)
        return out

    def loss(self, theta: Any, idx: Any = None) -> Any:
        """The mean loss over the examples ``idx`` (all when ``None``)."""
        if idx is None:
            return self._loss(self.forward(theta), self.target)
        return self._loss(self.forward(theta, self.x[idx]), self.target[idx])

    def _example_loss(self, theta: Any, x: Any, y: Any) -> Any:
        """The loss of one example (``x``, ``y`` without the batch axis), for :func:`torch.func.vmap`."""
        return self._loss(self.forward(theta, x.unsqueeze(0)), y.unsqueeze(0))

    def per_example_gradients(self, theta: Any) -> Any:
        r"""The per-example gradients :math:`\nabla\ell_i(\theta)` as the rows of an ``(N, n)`` tensor.

        Vectorised over the examples with :func:`torch.func.vmap` of :func:`torch.func.grad`
        (one batched backward pass instead of :math:`N`); a module or loss without batching
        rules falls back to one backward pass per example (:meth:`Objective.per_example_gradients`).
        """
        th = self.as_theta(theta)
        try:
            g = torch.func.vmap(torch.func.grad(self._example_loss), in_dims=(None, 0, 0))(th, self.x, self.target)
        except (RuntimeError, NotImplementedError):
            return super().per_example_gradients(th)
        self.work.gradients += self.n_examples
        return g.detach()

    def per_example_quadratics(self, theta: Any, directions: Any, *, chunk: int = 65536) -> Any:
        r"""The per-example curvatures :math:`C_{ki} = v_k^\top\nabla^2\ell_i(\theta)\,v_k` as a ``(K, N)`` tensor.

        Each entry is the second derivative of :math:`t\mapsto\ell_i(\theta + t v_k)` at
        :math:`t = 0`, computed forward-over-forward (:func:`torch.func.jvp` of a ``jvp``)
        and vectorised with :func:`torch.func.vmap` over the examples and over blocks of
        directions holding at most ``chunk`` (direction, example) pairs: a few batched
        forward passes instead of :math:`KN` Hessian-vector products through :math:`N`
        graphs.  A module or loss that forward-mode AD or ``vmap`` does not support falls
        back to :meth:`Objective.per_example_quadratics` (same numbers, to rounding).
        """
        th = self.as_theta(theta)
        V = torch.as_tensor(directions).to(device=th.device, dtype=th.dtype).reshape(-1, self.n_params)

        def curv(t: Any, v: Any, x: Any, y: Any) -> Any:
            def slope(s: Any) -> Any:
                return torch.func.jvp(lambda w: self._example_loss(w, x, y), (s,), (v,))[1]

            return torch.func.jvp(slope, (t,), (v,))[1]

        per_dir = torch.func.vmap(curv, in_dims=(None, None, 0, 0))
        blocks = torch.func.vmap(per_dir, in_dims=(None, 0, None, None))
        step = max(1, int(chunk) // max(1, self.n_examples))
        try:
            with torch.no_grad():
                C = torch.cat([blocks(th, V[k : k + step], self.x, self.target) for k in range(0, V.shape[0], step)])
        except (RuntimeError, NotImplementedError):
            return super().per_example_quadratics(th, V)
        self.work.hvps += V.shape[0] * self.n_examples
        return C.detach()

    def accuracy(self, theta: Any) -> float | None:
        """Fraction of examples whose arg-max output is the label (``None`` for regression)."""
        if self.labels is None:
            return None
        with torch.no_grad():
            out = self.forward(self.as_theta(theta))
            return float((out.argmax(dim=1) == self.labels).double().mean())

    def load_into_model(self, theta: Any) -> None:
        """Copy ``theta`` into the module's parameters (so the user's module holds the result)."""
        th = self.as_theta(theta)
        with torch.no_grad():
            named = dict(self.model.named_parameters())
            for n, t in self.params(th).items():
                named[n].copy_(t)

    def suspect_layers(self) -> tuple[str, ...]:
        """Layers whose third derivatives PyTorch gets wrong (normalisation layers)."""
        out = []
        for name, m in self.model.named_modules():
            tname = type(m).__name__
            if tname in _SUSPECT_TYPES or ("BatchNorm" in tname and m.training):
                out.append(f"{name or '<root>'} ({tname})")
        return tuple(out)


def _sequential_layers(model: Any, names: list[str]) -> list[tuple[Any, int | None, int | None]] | None:
    """The fast-path plan of :meth:`NetworkObjective.forward`, or ``None`` when it does not apply.

    Applies to an ``nn.Sequential`` whose children are ``nn.Linear`` (exact type, every
    parameter trainable) or modules without parameters or buffers; each entry is
    ``(module, index of its weight in names, index of its bias or None)``.
    """
    if type(model) is not torch.nn.Sequential:
        return None
    index = {n: i for i, n in enumerate(names)}
    plan: list[tuple[Any, int | None, int | None]] = []
    for key, child in model.named_children():
        if type(child) is torch.nn.Linear:
            iw = index.get(f"{key}.weight")
            ib = index.get(f"{key}.bias") if child.bias is not None else None
            if iw is None or (child.bias is not None and ib is None):
                return None
            plan.append((child, iw, ib))
        elif any(True for _ in child.parameters()) or any(True for _ in child.buffers()):
            return None
        else:
            plan.append((child, None, None))
    if len(plan) != len(list(model.children())) or all(iw is None for _, iw, _ in plan):
        return None
    used = {i for _, iw, ib in plan for i in (iw, ib) if i is not None}
    return plan if used == set(range(len(names))) else None
