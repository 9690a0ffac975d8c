"""The run directory of a training run: ``config.json``, ``metrics.jsonl``, ``step_loss.f64``,
checkpoints and their integrity records, written as the run goes and read back by resume and branch.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._io import atomic_path, atomic_write_bytes
from eostheory._json import dumps_strict, jsonable
from eostheory.torch._backend import require_torch
from eostheory.torch._trainconfig import TrainConfig

torch = require_torch()


# ----------------------------------------------------------------------------- run directory

#: Version of the integrity record ``checkpoint.json``.
_RECORD_FORMAT = 1


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _line(rec: Mapping[str, Any]) -> bytes:
    """One metrics record as a strict-JSON line (non-finite numbers become ``null``)."""
    return (json.dumps(jsonable(rec), allow_nan=False) + "\n").encode()


class _RunDir:
    """Files of a run directory (see the module docstring), with their integrity record.

    The record ``checkpoint.json`` holds, for the checkpoint on disk (``current``) and the
    one before it (``previous``): its step, the SHA-256 and size of ``checkpoint.pt``, and
    the number and SHA-256 of the metrics records and step losses written up to it.  The
    hashes of the two growing files are kept incrementally, so a checkpoint costs no re-read.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.jsonl"
        self.step_loss = self.path / "step_loss.f64"
        self.checkpoint = self.path / "checkpoint.pt"
        self.record = self.path / "checkpoint.json"
        self.result = self.path / "result.json"
        self._metrics_hash = hashlib.sha256()
        self._n_records = 0
        self._loss_hash = hashlib.sha256()
        self._n_loss = 0
        self.snapshots = self.path / "checkpoints"
        self._doc: dict[str, Any] | None = None
        self._fresh = False
        self.discard_on_error = False
        self.snapshot_every: int | None = None

    def exists(self) -> bool:
        return self.config.exists() or self.checkpoint.exists() or self.record.exists()

    def unsaved(self) -> bool:
        """True for a fresh run that has not written its first checkpoint yet."""
        return self._doc is None and self._fresh

    def begin(self) -> None:
        """Make the directory of a new run (a fresh start or a branch) and clear what an earlier run left."""
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        self.start_fresh()
        self.discard_on_error = created

    def discard(self) -> None:
        """Remove the files of a fresh run that failed before its first checkpoint (and the directory, if made)."""
        for f in (self.config, self.metrics, self.step_loss, self.checkpoint, self.record, self.result):
            f.unlink(missing_ok=True)
        shutil.rmtree(self.snapshots, ignore_errors=True)
        if self.discard_on_error:
            try:
                self.path.rmdir()
            except OSError:
                pass

    # -- config and result

    def write_config(self, cfg: TrainConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.config, dumps_strict(cfg.as_dict()).encode())

    def read_config(self) -> dict[str, Any]:
        try:
            d = json.loads(self.config.read_text())
        except (OSError, ValueError) as exc:
            raise EosInputError(f"cannot read {self.config}: {exc}") from None
        if not isinstance(d, dict):
            raise EosInputError(f"{self.config} is not a training configuration")
        return d

    def write_result(self, summary: Mapping[str, Any]) -> None:
        atomic_write_bytes(self.result, dumps_strict(summary, annotate=True).encode())

    # -- the two growing files

    def start_fresh(self) -> None:
        """Remove what an earlier run left (metrics, step losses, checkpoint and its record)."""
        for f in (self.metrics, self.step_loss, self.checkpoint, self.record):
            f.unlink(missing_ok=True)
        shutil.rmtree(self.snapshots, ignore_errors=True)
        self._metrics_hash, self._n_records = hashlib.sha256(), 0
        self._loss_hash, self._n_loss = hashlib.sha256(), 0
        self._doc = None
        self._fresh = True

    def append_record(self, rec: Mapping[str, Any]) -> None:
        data = _line(rec)
        with open(self.metrics, "ab") as f:
            f.write(data)
            f.flush()
        self._metrics_hash.update(data)
        self._n_records += 1

    def rewrite_records(self, records: list[dict[str, Any]]) -> None:
        data = b"".join(_line(r) for r in records)
        atomic_write_bytes(self.metrics, data)
        self._metrics_hash, self._n_records = hashlib.sha256(data), len(records)

    def append_step_loss(self, arr: Iterable[float]) -> None:
        data = np.asarray(list(arr), dtype="<f8").tobytes()
        with open(self.step_loss, "ab") as f:
            f.write(data)
            f.flush()
        self._loss_hash.update(data)
        self._n_loss += len(data) // 8

    def rewrite_step_loss(self, arr: np.ndarray) -> None:
        data = np.asarray(arr, dtype="<f8").tobytes()
        atomic_write_bytes(self.step_loss, data)
        self._loss_hash, self._n_loss = hashlib.sha256(data), len(data) // 8

    # -- checkpoint and integrity record

    def save_checkpoint(self, state: dict[str, Any], status: str, message: str, *, keep: bool = False) -> None:
        """Write ``checkpoint.pt`` and its record: temporary file, record (naming both hashes), rename."""
        buf = io.BytesIO()
        torch.save(state, buf)
        data = buf.getvalue()
        entry = {
            "step": int(state["step"]),
            "sha256": _sha256(data),
            "size": len(data),
            "records": self._n_records,
            "metrics_sha256": self._metrics_hash.hexdigest(),
            "step_losses": self._n_loss,
            "step_loss_sha256": self._loss_hash.hexdigest(),
        }
        with atomic_path(self.checkpoint) as tmp:  # renamed into place after the record is written
            tmp.write_bytes(data)
            previous = None if self._doc is None else self._doc["current"]
            self._write_record({"current": entry, "previous": previous, "status": status, "message": message})
        if keep or (self.snapshot_every and entry["step"] % self.snapshot_every == 0):
            self._save_snapshot(entry, data)

    # -- kept checkpoints (checkpoint_every), to branch from an earlier step

    def _save_snapshot(self, entry: Mapping[str, Any], data: bytes) -> None:
        """Keep a copy of the checkpoint just written as ``checkpoints/step_N.pt``, with its hash in ``index.json``."""
        self.snapshots.mkdir(exist_ok=True)
        step = int(entry["step"])
        atomic_write_bytes(self.snapshots / f"step_{step:09d}.pt", data)
        index = self.snapshot_index()
        index[step] = {k: entry[k] for k in ("step", "sha256", "size", "records", "step_losses")}
        doc = {"format": _RECORD_FORMAT, "snapshots": [index[k] for k in sorted(index)]}
        atomic_write_bytes(self.snapshots / "index.json", dumps_strict(doc).encode())

    def snapshot_index(self) -> dict[int, dict[str, Any]]:
        """The kept checkpoints by step (empty when there are none or the index cannot be read)."""
        try:
            doc = json.loads((self.snapshots / "index.json").read_text())
            return {int(e["step"]): dict(e) for e in doc["snapshots"]}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def load_snapshot(self, step: int) -> dict[str, Any]:
        """The kept checkpoint of ``step``, verified against its recorded SHA-256.

        Raises:
            EosInputError: it is missing, changed or cannot be loaded.
        """
        entry = self.snapshot_index().get(step)
        f = self.snapshots / f"step_{step:09d}.pt"
        try:
            data = f.read_bytes()
        except OSError:
            data = b""
        if entry is None or _sha256(data) != entry["sha256"]:
            raise EosInputError(f"the kept checkpoint {f} is missing or does not match its recorded SHA-256")
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise EosInputError(f"the kept checkpoint {f} cannot be loaded ({type(exc).__name__}: {exc})") from None
        return state

    def set_status(self, status: str, message: str) -> None:
        """Record the run's final status next to the checkpoint it ended with."""
        if self._doc is not None:
            self._write_record({**self._doc, "status": status, "message": message})

    def _write_record(self, doc: dict[str, Any]) -> None:
        doc = {"format": _RECORD_FORMAT, **{k: v for k, v in doc.items() if k != "format"}}
        atomic_write_bytes(self.record, dumps_strict(doc).encode())
        self._doc = doc

    def _last_good(self) -> str:
        """The last metrics record that can still be read, for messages."""
        try:
            lines = self.metrics.read_bytes().splitlines(keepends=True)
        except OSError:
            return "no metrics record can be read"
        last = None
        count = 0
        for ln in lines:
            try:
                rec = json.loads(ln) if ln.endswith(b"\n") else None
            except ValueError:
                rec = None
            if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
                break
            last, count = rec["step"], count + 1
        if last is None:
            return "no metrics record can be read"
        return f"the last good state is the metrics record of step {last} ({count} records)"

    def _refuse(self, problem: str) -> EosInputError:
        return EosInputError(
            f"cannot resume {self.path}: {problem}; {self._last_good()}. Nothing was changed: start the run "
            "again in an empty --out (on the CPU it reproduces every step exactly)"
        )

    def load(self) -> tuple[dict[str, Any], list[dict[str, Any]], np.ndarray, dict[str, Any]] | None:
        """Verify and read the checkpoint, the metrics and the step losses up to it (nothing is written).

        Returns:
            ``None`` when there is no checkpoint to resume from (a fresh start); else the
            checkpoint's state, the metrics records and step losses up to it, and the
            integrity record (its ``status`` and ``message`` apply when ``entry`` is the
            current checkpoint; ``entry`` is the one that matched).

        Raises:
            EosInputError: a checkpoint without its record or that does not match it (garbled
                bytes), that cannot be loaded, or metrics and step losses that lost data.
        """
        if not self.checkpoint.exists():
            if self.record.exists():
                doc = self._read_record()
                if doc.get("previous") is not None:
                    raise self._refuse("checkpoint.pt is missing although checkpoint.json records one")
            return None  # killed before the first checkpoint was renamed into place: start afresh
        if not self.record.exists():
            raise self._refuse(
                "checkpoint.pt has no integrity record (checkpoint.json), so its content cannot be verified"
            )
        doc = self._read_record()
        try:
            data = self.checkpoint.read_bytes()
        except OSError as exc:
            raise self._refuse(f"checkpoint.pt cannot be read ({exc.strerror or exc})") from None
        digest = _sha256(data)
        entry = None
        for key in ("current", "previous"):
            e = doc.get(key)
            if isinstance(e, dict) and e.get("sha256") == digest and e.get("size") == len(data):
                entry = dict(e, which=key)
                break
        if entry is None:
            cur = doc.get("current") or {}
            raise self._refuse(
                f"checkpoint.pt (step {cur.get('step', '?')}) does not match its recorded SHA-256 "
                "(its bytes were changed or cut short)"
            )
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # the hash matched, so this is an incompatible torch, not a garbled file
            raise self._refuse(f"checkpoint.pt cannot be loaded ({type(exc).__name__}: {exc})") from None
        if not isinstance(state, dict) or int(state.get("step", -1)) != entry["step"]:
            raise self._refuse("checkpoint.pt holds a different step than its record")
        records = self._verified_records(entry)
        step_loss = self._verified_step_loss(entry)
        doc = dict(doc, entry=entry)
        return state, records, step_loss, doc

    def _read_record(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.record.read_text())
        except (OSError, ValueError) as exc:
            raise self._refuse(f"checkpoint.json cannot be read ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != _RECORD_FORMAT or not isinstance(doc.get("current"), dict):
            raise self._refuse("checkpoint.json is not an integrity record of this version")
        return doc

    def _verified_records(self, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
        k = int(entry["records"])
        try:
            lines = self.metrics.read_bytes().splitlines(keepends=True) if self.metrics.exists() else []
        except OSError as exc:
            raise self._refuse(f"metrics.jsonl cannot be read ({exc.strerror or exc})") from None
        complete = 0
        for ln in lines[:k]:
            if not ln.endswith(b"\n"):
                break
            complete += 1
        if complete < k:
            raise self._refuse(
                f"metrics.jsonl holds {complete} complete records, the checkpoint at step {entry['step']} "
                f"was written after {k}: records were lost"
            )
        head = b"".join(lines[:k])
        if _sha256(head) != entry["metrics_sha256"]:
            raise self._refuse(f"the first {k} records of metrics.jsonl differ from what was written (SHA-256)")
        records = [json.loads(ln) for ln in lines[:k]]
        self._metrics_hash, self._n_records = hashlib.sha256(head), k
        return records

    def _verified_step_loss(self, entry: Mapping[str, Any]) -> np.ndarray:
        n = int(entry["step_losses"])
        try:
            data = self.step_loss.read_bytes()[: 8 * n] if self.step_loss.exists() else b""
        except OSError as exc:
            raise self._refuse(f"step_loss.f64 cannot be read ({exc.strerror or exc})") from None
        if len(data) < 8 * n:
            raise self._refuse(
                f"step_loss.f64 holds {len(data) // 8} step losses, the checkpoint at step {entry['step']} "
                f"was written after {n}: losses were lost"
            )
        if _sha256(data) != entry["step_loss_sha256"]:
            raise self._refuse(f"the first {n} step losses in step_loss.f64 differ from what was written (SHA-256)")
        self._loss_hash, self._n_loss = hashlib.sha256(data), n
        return np.frombuffer(data, dtype="<f8").astype(np.float64)

    def adopt(self, doc: Mapping[str, Any], records: list[dict[str, Any]], step_loss: np.ndarray) -> None:
        """Continue from a verified checkpoint: cut both files back to it (what came after is recomputed)."""
        entry = {k: v for k, v in doc["entry"].items() if k != "which"}
        self.rewrite_records(records)
        self.rewrite_step_loss(step_loss)
        self._doc = {"format": _RECORD_FORMAT, "current": entry, "previous": None, "status": "running", "message": ""}
        self._write_record(self._doc)


def _check_out(out: str | Path) -> Path:
    """``out`` as a run directory that can be written, checked before any work is done.

    Raises:
        EosInputError: ``out`` is an existing file, lies under a file, or its nearest
            existing directory cannot be written.
    """
    p = Path(out).expanduser()
    if not str(out).strip():
        raise EosInputError("out is empty: give a directory")
    if p.exists() and not p.is_dir():
        raise EosInputError(f"out {p}: exists and is not a directory")
    probe = p
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise EosInputError(f"out {p}: {probe} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise EosInputError(f"out {p}: cannot create files in {probe} ({exc.strerror or exc})") from None
    return p


_RESUME_OPTIONS = (
    "model",
    "data",
    "loss",
    "optimizer",
    "update",
    "eta",
    "beta",
    "hyperparameters",
    "batch_size",
    "track",
    "track_every",
    "top_k",
    "eig_method",
    "eig_tol",
    "bs_batch_size",
    "bs_rse",
    "seed",
    "dtype",
    "model_kwargs",
    "data_kwargs",
    "schedule",
    "weight_decay",
    "decoupled",
    "checkpoint_every",
)


def _saved_kwargs(rd: _RunDir, what: str) -> tuple[dict[str, Any], int]:
    """The arguments of :func:`train` that reproduce the saved configuration of ``rd``, and its ``steps``.

    Raises:
        EosInputError: not a training configuration, or a run with a user-supplied model or
            data set (``what`` names the refused operation: ``"resume"`` or ``"branch"``).
    """
    c = rd.read_config()
    try:
        custom = c["model"].get("name") == "custom" or c["data"].get("name") == "custom"
        mkw = {k: v for k, v in c["model"].items() if k != "name"}
        dkw = {k: v for k, v in c["data"].items() if k != "name"}
        hyper = dict(c["hyperparameters"])
        kwargs: dict[str, Any] = {
            "model": c["model"]["name"],
            "data": c["data"]["name"],
            "loss": c["loss"],
            "optimizer": c["optimizer"],
            "eta": hyper.pop("eta"),
            "beta": hyper.pop("beta", None),
            "hyperparameters": hyper,
            "batch_size": c["batch_size"],
            "track": c["track"],
            "track_every": c["track_every"],
            "top_k": c["top_k"],
            "eig_method": c["eig_method"],
            "eig_tol": c["eig_tol"],
            "bs_batch_size": c["bs_batch_size"],
            "bs_rse": c["bs_rse"],
            "seed": c["seed"],
            "dtype": c["dtype"],
            "model_kwargs": mkw,
            "data_kwargs": dkw,
            "schedule": str(c.get("schedule", "constant")),
            "weight_decay": float(c.get("weight_decay", 0.0)),
            "decoupled": bool(c.get("decoupled", False)),
            "checkpoint_every": c.get("checkpoint_every"),
        }
        saved_steps = int(c["steps"])
    except (AttributeError, KeyError, TypeError, ValueError):
        raise EosInputError(f"{rd.config} is not a training configuration") from None
    if c["optimizer"] == "custom":  # a rule written out: continue it from its saved lines
        kwargs["update"] = list(c.get("update") or ())
    if custom:
        raise EosInputError(
            f"{rd.path} was trained with a user-supplied model or data set: call train(...) with the same ones "
            + ("and resume=True" if what == "resume" else f"and branch_from=... to {what}")
        )
    return kwargs, saved_steps


def _saved_run(path: str | Path, what: str) -> tuple[_RunDir, dict[str, Any], int]:
    """The run directory ``path``, the arguments of :func:`train` that reproduce it, and its saved ``steps``.

    Shared by :func:`resume` and :func:`branch` (``what`` is ``"resume"`` or ``"branch"``).

    Raises:
        EosInputError: no ``config.json`` there, or what :func:`_saved_kwargs` refuses.
    """
    rd = _RunDir(path)
    if not rd.config.exists():
        where = "to resume in" if what == "resume" else "to branch from in"
        raise EosInputError(f"no run {where} {rd.path} (config.json missing)")
    kwargs, saved_steps = _saved_kwargs(rd, what)
    return rd, kwargs, saved_steps


def _merge(kwargs: dict[str, Any], key: str, value: Any) -> None:
    """Set one argument of :func:`train` over the saved ones; dict arguments are merged key by key."""
    if key in ("model_kwargs", "data_kwargs", "hyperparameters"):
        kwargs[key] = {**kwargs[key], **dict(value or {})}
    else:
        kwargs[key] = value
