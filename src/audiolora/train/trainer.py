"""The training loop: one family-agnostic Trainer on Hugging Face Accelerate (see the package
docstring for how exact resume works)."""

from __future__ import annotations

import math
import random
import shutil
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..config import RunConfig, dump_config
from ..console import info, make_progress, settings, warn
from ..errors import AudioloraError, ConfigError
from ..families.base import Family
from .best import BestTracker
from .checkpoint import (
    atomic_dir,
    capture_rng,
    latest_checkpoint,
    load_checkpoint,
    load_trainable_state,
    prune_checkpoints,
    restore_rng,
    rng_of_rank,
    save_checkpoint,
    trainable_state,
)
from .monitor import ResourceMonitor
from .optim import build_optimizer, effective_scheduler, param_groups
from .runlog import RunLog, plot_loss_curve, write_json_atomic
from .sampling import EpochBatchSampler, epoch_generator, steps_per_epoch
from .schedules import build_scheduler


@contextmanager
def isolated_rng(seed: int):
    """Run a block with every RNG seeded to `seed`, restoring the training RNG afterwards, so that
    validation sees the same randomness each time and does not shift the training stream."""
    saved = capture_rng()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        restore_rng(saved)


def launched_processes() -> int:
    """How many processes the launcher started (torchrun, accelerate launch, MPI); 1 when none."""
    import os

    for var in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def _fmt_count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e4 else str(n)


class Trainer:
    """Train `family`'s adapted model under `config`; `fit()` returns the final metrics.

    `run_dir` defaults to `run.output_dir/run.name`; `resume` is "latest", a checkpoint folder or a
    run folder.
    """

    def __init__(
        self,
        config: RunConfig,
        family: Family,
        run_dir: Path | None = None,
        resume: str | None = None,
    ):
        self.config = config
        self.cfg = config.train
        self.family = family
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.resume = resume
        self._ready = False
        self._interrupted = threading.Event()

    # ------------------------------------------------------------------ set-up

    def _accelerator(self):
        from accelerate import Accelerator

        mp = self.cfg.mixed_precision
        if mp == "fp16" and not torch.cuda.is_available():
            raise ConfigError("train.mixed_precision=fp16 needs a CUDA GPU (use bf16 or no on CPU)")
        from accelerate.state import AcceleratorState

        # AcceleratorState is a process-wide singleton; a second Trainer in the same process
        # (notebooks, tests, eval after train) may use another precision. The distributed
        # PartialState is kept.
        AcceleratorState._reset_state(reset_partial_state=False)
        launched = launched_processes()
        # Several processes on a machine without a GPU (torchrun / accelerate launch on CPU):
        # Accelerate joins them only when told they are CPU processes (gloo).
        cpu = launched > 1 and not torch.cuda.is_available()
        acc = Accelerator(mixed_precision=mp, cpu=cpu) if cpu else Accelerator(mixed_precision=mp)
        if launched > 1 and acc.num_processes != launched:
            raise AudioloraError(
                f"launched as {launched} processes but Accelerate sees {acc.num_processes}: "
                "each would train alone and write the same run folder; "
                "launch with `accelerate launch --multi_gpu --num_processes N -m audiolora train ...` "
                "(CPU: `torchrun --nproc_per_node N -m audiolora train ...`)"
            )
        return acc

    def _resolve_run_dir(self) -> tuple[Path, Path | None]:
        """(run folder, checkpoint to resume from or None)."""
        ckpt: Path | None = None
        run_dir = self.run_dir
        if self.resume not in (None, "latest"):
            given = Path(self.resume)
            if not given.exists():
                raise AudioloraError(f"--resume {given}: no such checkpoint or run folder")
            if (given / "checkpoints").is_dir():
                run_dir = run_dir or given
                ckpt = latest_checkpoint(given / "checkpoints")
                if ckpt is None:
                    raise AudioloraError(
                        f"{given}/checkpoints: no complete checkpoint to resume from"
                    )
            else:
                ckpt = given
                run_dir = run_dir or given.resolve().parent.parent
        if run_dir is None:
            name = self.config.run.name
            if name is None:
                if self.resume == "latest":
                    raise AudioloraError(
                        "--resume latest needs the run's name: add --run-name NAME (or run.name=NAME)"
                    )
                from accelerate.utils import broadcast_object_list

                name = broadcast_object_list(
                    [f"{self.family.name}-{time.strftime('%Y%m%d-%H%M%S')}"]
                )[0]
            run_dir = Path(self.config.run.output_dir) / name
        if self.resume == "latest":
            ckpt = latest_checkpoint(run_dir / "checkpoints")
            if ckpt is None:
                raise AudioloraError(
                    f"{run_dir}/checkpoints: no checkpoint to resume from (start without --resume)"
                )
        elif self.resume is None and latest_checkpoint(run_dir / "checkpoints") is not None:
            raise AudioloraError(
                f"{run_dir} already holds a run with checkpoints: continue it with --resume, "
                "or choose another --run-name"
            )
        return run_dir, ckpt

    def setup(self) -> Trainer:
        """Build everything `fit` needs; safe to call before `fit` to inspect the optimizer."""
        if self._ready:
            return self
        from accelerate.utils import set_seed

        cfg = self.cfg
        self.accelerator = acc = self._accelerator()
        self.is_main = acc.is_main_process
        if not self.is_main:  # one plan, one progress bar: the main process speaks for all
            settings.quiet = True
        self.run_dir, ckpt_path = self._resolve_run_dir()
        self.ckpt_dir = self.run_dir / "checkpoints"

        set_seed(self.config.run.seed)
        model = self.family.build_model()
        if cfg.gradient_checkpointing:
            try:
                self.family.set_gradient_checkpointing(model, True)
            except NotImplementedError as exc:
                raise ConfigError(
                    f"train.gradient_checkpointing: {exc} (set train.gradient_checkpointing=false)"
                ) from None
        self.train_set, self.val_set = self.family.datasets()
        if len(self.train_set) == 0:
            raise AudioloraError("the training dataset is empty (check data.root)")

        groups = param_groups(model, cfg, self.family.full_parameter_names(model))
        optimizer = build_optimizer(groups, cfg, acc.device)
        self.model, self.optimizer = acc.prepare(model, optimizer)
        self.raw_model = acc.unwrap_model(self.model)

        self.world, self.rank = acc.num_processes, acc.process_index
        self.steps_per_epoch = steps_per_epoch(
            len(self.train_set), cfg.batch_size, cfg.grad_accum, self.world
        )
        total = cfg.max_steps or 0
        if cfg.epochs is not None:
            by_epochs = cfg.epochs * self.steps_per_epoch
            total = min(total, by_epochs) if cfg.max_steps else by_epochs
        self.total_steps = total
        self.schedule = effective_scheduler(cfg)
        # Not passed through accelerator.prepare: an AcceleratedScheduler steps once per process,
        # while ours is a function of the global optimizer step.
        self.scheduler = build_scheduler(
            self.optimizer.optimizer,
            self.schedule,
            self.total_steps,
            cfg.warmup,
            cfg.warmup_start,
            cfg.min_lr_ratio,
        )
        best = cfg.best
        if best.best_after_epochs is not None:
            after = max(best.best_after, best.best_after_epochs * self.steps_per_epoch)
            best = best.model_copy(update={"best_after": after})
        self.tracker = BestTracker(best)
        self.state: dict[str, Any] = {
            "step": 0,
            "epoch": 0,
            "position": 0,
            "samples": 0,
            "nan_skipped": 0,
            "nan_in_a_row": 0,
            "last_eval_step": None,
            "last_ckpt_step": None,
            "pending": {"loss": [], "grad_norm": [], "since_eval": []},
            "history": [],
            "evals": [],
            "processes": self.world,
        }
        self.resumed_from: Path | None = None
        self._rng_to_restore = None
        if ckpt_path is not None:
            self._load(ckpt_path)
        self._ready = True
        return self

    def _load(self, path: Path) -> None:
        ck = load_checkpoint(path)
        state = ck["state"]
        load_trainable_state(self.raw_model, ck["tensors"], path)
        self.optimizer.load_state_dict(ck["optim"]["optimizer"])
        self.scheduler.load_state_dict(ck["optim"]["scheduler"])
        if self.accelerator.scaler is not None and ck["optim"].get("scaler"):
            self.accelerator.scaler.load_state_dict(ck["optim"]["scaler"])
        saved_world = state.get("processes", 1)
        if saved_world != self.world:
            raise AudioloraError(
                f"{path}: written by a run of {saved_world} process(es), resumed with {self.world}; "
                f"resume with {saved_world} (the data order and position depend on it)"
            )
        self.tracker.load_state_dict(state.pop("best"))
        self.state.update(state)
        self._rng_to_restore = rng_of_rank(ck["rng"], self.rank)
        self.resumed_from = path

    # ------------------------------------------------------------------ saving

    def _save_checkpoint(self) -> Path | None:
        step = self.state["step"]
        self.state["last_ckpt_step"] = step
        rng = capture_rng()
        if self.world > 1:  # each process's own RNG states (dropout, python random in demucs, ...)
            from accelerate.utils import gather_object

            rng = dict(rng, per_rank=gather_object([rng]))
        self.accelerator.wait_for_everyone()
        if not self.is_main:
            return None
        optim = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.accelerator.scaler.state_dict() if self.accelerator.scaler else {},
        }
        state = dict(self.state, best=self.tracker.state_dict(), total_steps=self.total_steps)
        path = save_checkpoint(
            self.ckpt_dir / f"step_{step}",
            trainable_state(self.raw_model),
            optim,
            rng,
            state,
        )
        prune_checkpoints(self.ckpt_dir, self.cfg.keep_checkpoints)
        self.log.line(f"checkpoint {path}")
        return path

    def _save_adapter(self, name: str) -> Path | None:
        if not self.is_main:
            return None
        return atomic_dir(
            self.run_dir / name, lambda tmp: self.family.save_adapter(self.raw_model, tmp)
        )

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self) -> dict[str, float]:
        pending = self.state["pending"]["since_eval"]
        if self.val_set is None:
            metrics = {"loss": sum(pending) / len(pending)} if pending else {}
        else:
            self.model.eval()
            try:
                with (
                    isolated_rng(self.config.run.seed),
                    torch.no_grad(),
                    self.accelerator.autocast(),
                ):
                    metrics = dict(self.family.evaluate(self.raw_model, self.val_set))
            finally:
                self.model.train()
        self.state["pending"]["since_eval"] = []
        return {k: float(v) for k, v in metrics.items()}

    def _after_eval(self, metrics: dict[str, float]) -> bool:
        """Record an evaluation; save best/; returns True when early stopping says stop."""
        step = self.state["step"]
        key = self.cfg.best.metric
        if key not in metrics:
            raise ConfigError(
                f"train.best.metric={key}: the evaluation reports only {', '.join(sorted(metrics))}"
            )
        verdict = self.tracker.update(metrics[key], step)
        record = {"step": step, **metrics, f"{key}_ma": verdict.smoothed, "best": verdict.is_best}
        self.state["evals"].append(record)
        self.state["last_eval_step"] = step
        if self.is_main:
            was_training = self.raw_model.training
            self.raw_model.eval()
            with isolated_rng(self.config.run.seed), torch.no_grad():
                self.family.after_evaluation(self.raw_model, step, self.run_dir, self.log)
            self.raw_model.train(was_training)
            self.log.scalars(step, metrics, "val/")
            self.log.scalars(step, {f"{key}_ma": verdict.smoothed}, "val/")
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            tag = " new best" if verdict.is_best else ""
            self.log.line(f"eval step {step}: {shown}, {key} MA {verdict.smoothed:.4g}{tag}")
        if verdict.is_best:
            self._save_adapter("best")
        if verdict.stop:
            self.stop_reason = (
                f"early stop: no new best {key} for {self.cfg.best.patience} evaluations "
                f"(best {self.tracker.best:.4g} at step {self.tracker.best_step})"
            )
        return verdict.stop

    # ------------------------------------------------------------------ one optimizer step

    def _step(self, batches, sizes: list[int]) -> tuple[float, float, bool]:
        """Accumulate over micro-batches, then step. Returns (mean loss, grad norm, applied).

        Accumulation is done here rather than with `accelerator.accumulate`: that divides every
        micro-batch by the configured count, which mis-weights a partial accumulation at epoch end
        and uneven last batches; we weight each micro-batch by its share of the samples, so the
        gradient and the logged loss are the true means over the samples of the step.
        """
        acc, model = self.accelerator, self.model
        total = sum(sizes)
        loss_sum = torch.zeros((), device=acc.device)
        finite = True
        n = len(sizes)
        for i, (batch, size) in enumerate(zip(batches, sizes, strict=True)):
            from accelerate.utils import send_to_device

            batch = send_to_device(batch, acc.device)
            sync = acc.no_sync(model) if i < n - 1 else nullcontext()
            with sync:
                with acc.autocast():
                    loss = self.family.training_loss(model, batch)
                weight = size / total
                # Backward even on a bad loss, so every process runs the same collectives.
                acc.backward(loss * weight)
            loss_sum += loss.detach().float() * weight
            finite = finite and bool(torch.isfinite(loss.detach()).item())
        if self.world > 1:
            loss_sum = acc.reduce(loss_sum, "mean")
            bad = acc.reduce(torch.tensor(0.0 if finite else 1.0, device=acc.device), "sum")
            finite = bool(bad.item() == 0)
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            return float(loss_sum.item()), math.nan, False
        params = [p for p in model.parameters() if p.requires_grad]
        max_norm = self.cfg.clip_grad if self.cfg.clip_grad is not None else math.inf
        norm = float(acc.clip_grad_norm_(params, max_norm))
        if not math.isfinite(norm) and acc.scaler is None:
            self.optimizer.zero_grad(set_to_none=True)
            return float(loss_sum.item()), norm, False
        self.optimizer.step()  # with fp16, the grad scaler skips steps with inf gradients itself
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss_sum.item()), norm, True

    # ------------------------------------------------------------------ the loop

    def _plan(self) -> None:
        from peft.tuners.tuners_utils import BaseTunerLayer

        spec = self.config.adapter
        facts: dict[str, Any] = {
            "model": self.config.model.name,
            "adapter": f"{spec.kind} rank {spec.rank} alpha {spec.alpha:g}",
            "adapted modules": sum(isinstance(m, BaseTunerLayer) for m in self.raw_model.modules()),
        }
        facts.update(self.family.plan(self.raw_model))
        total = sum(p.numel() for p in self.raw_model.parameters())
        trainable = sum(p.numel() for p in self.raw_model.parameters() if p.requires_grad)
        cfg = self.cfg
        effective = cfg.batch_size * cfg.grad_accum * self.world
        facts.update(
            {
                "trainable": f"{_fmt_count(trainable)} of {_fmt_count(total)} "
                f"({100 * trainable / max(total, 1):.3f} %)",
                "data": f"{len(self.train_set)} training items, "
                + (
                    f"{len(self.val_set)} validation items"
                    if self.val_set is not None
                    else "no validation set"
                ),
                "batch": f"{cfg.batch_size} x accum {cfg.grad_accum} x {self.world} process(es) = {effective}",
                "steps": f"{self.total_steps} ({self.steps_per_epoch} per epoch, "
                f"~{self.total_steps / max(self.steps_per_epoch, 1):.1f} epochs)",
                "optimizer": f"{cfg.optimizer}, lr {cfg.lr:g}"
                + (f", full lr {cfg.full_lr:g}" if cfg.full_lr else "")
                + f", schedule {self.schedule}",
                "precision": f"{cfg.mixed_precision} on {self.accelerator.device}",
                "run folder": str(self.run_dir),
            }
        )
        facts.pop("parameters", None)
        if self.resumed_from is not None:
            facts["resume"] = f"{self.resumed_from} (step {self.state['step']})"
        if cfg.optimizer == "prodigy" and cfg.scheduler != "constant":
            facts["note"] = (
                f"prodigy adapts its own step size: schedule forced to constant (not {cfg.scheduler})"
            )
        width = max(len(k) for k in facts)
        info("[bold]plan[/bold]")
        for key, value in facts.items():
            info(f"  {key:<{width}}  {value}")
            self.log.line(f"plan {key}: {value}")

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):
            if self._interrupted.is_set():
                raise KeyboardInterrupt
            self._interrupted.set()
            warn(
                "interrupt: finishing this step, saving a checkpoint (press Ctrl-C again to abort)"
            )

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous

    def fit(self) -> dict[str, Any]:
        """Train to the end (or early stop / interrupt) and return the final metrics."""
        self.setup()
        cfg = self.cfg
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.run_dir / ".config.yaml.tmp"
            tmp.write_text(dump_config(self.config))
            tmp.replace(self.run_dir / "config.yaml")
        resume_step = self.state["step"] if self.resumed_from is not None else None
        self.log = RunLog(self.run_dir, resume_step=resume_step, enabled=self.is_main)
        self.monitor = ResourceMonitor(cfg.monitor_interval, cfg.memory_warn_gb, on_warning=warn)
        self.stop_reason: str | None = None
        self.status = "completed"
        self._plan()
        # Training mode from the first step (a family may build its model in eval mode, and only
        # an evaluation used to switch it): augmentation, dropout and the model's own training
        # behaviour act the same in a fresh and in a resumed run.
        self.model.train()
        if self._rng_to_restore is not None:
            restore_rng(self._rng_to_restore)
        previous = self._install_signals()
        started = time.time()
        self.monitor.start()
        try:
            self._loop()
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            self.monitor.stop()
        return self._finish(time.time() - started)

    def _loop(self) -> None:
        cfg, st = self.cfg, self.state
        size = len(self.train_set)
        with make_progress() as bar:
            task = bar.add_task("train", total=self.total_steps, completed=st["step"], status="")
            while st["step"] < self.total_steps and self.stop_reason is None:
                epoch = st["epoch"]
                if hasattr(self.train_set, "set_epoch"):
                    self.train_set.set_epoch(epoch)
                sampler = EpochBatchSampler(
                    size,
                    cfg.batch_size,
                    self.config.run.seed,
                    epoch,
                    st["position"],
                    self.rank,
                    self.world,
                )
                plan = sampler.batches()
                loader = DataLoader(
                    self.train_set,
                    batch_sampler=sampler,
                    collate_fn=self.family.collate,
                    num_workers=self.config.data.num_workers,
                    generator=epoch_generator(self.config.run.seed, epoch),
                )
                it = iter(loader)
                while st["epoch"] == epoch and st["step"] < self.total_steps:
                    t0 = time.time()
                    n = min(cfg.grad_accum, len(plan) - st["position"])
                    sizes = [len(b) for b in plan[st["position"] : st["position"] + n]]
                    batches = (next(it) for _ in range(n))
                    loss, norm, applied = self._step(batches, sizes)
                    st["position"] += n
                    st["samples"] += sum(sizes) * self.world
                    if st["position"] >= len(plan):
                        st["epoch"], st["position"] = epoch + 1, 0
                    if not applied:
                        self._nan_step(loss)
                        if self.stop_reason is not None:
                            break
                        continue
                    st["nan_in_a_row"] = 0
                    st["step"] += 1
                    self._after_step(loss, norm, sum(sizes) * self.world / (time.time() - t0))
                    bar.update(
                        task,
                        completed=st["step"],
                        status=f"loss {loss:.4f} lr {self._step_lr(st['step']):.2e}",
                    )
                    if self.stop_reason is not None:
                        break
                    if self._interrupted.is_set():
                        self.status = "interrupted"
                        self.stop_reason = f"interrupted at step {st['step']}"
                        if st["last_ckpt_step"] != st["step"]:
                            self._save_checkpoint()
                        break
                del it, loader

    def _nan_step(self, loss: float) -> None:
        st = self.state
        st["nan_skipped"] += 1
        st["nan_in_a_row"] += 1
        self.log.line(f"non-finite loss ({loss}) at step {st['step'] + 1}: step skipped")
        if st["nan_in_a_row"] >= self.cfg.nan_patience:
            last = st["last_ckpt_step"]
            kept = (
                f"last good checkpoint: {self.ckpt_dir}/step_{last}"
                if last
                else "no checkpoint yet"
            )
            self.status = "nan"
            self.stop_reason = (
                f"training stopped: loss was NaN/inf for {st['nan_in_a_row']} steps in a row after "
                f"step {st['step']} ({kept}); lower train.lr, set train.clip_grad, or use bf16 instead of fp16"
            )

    def _step_lr(self, step: int) -> float:
        """The first group's lr that step `step` (1-based) used; the scheduler has moved on."""
        return self.scheduler.lr_lambdas[0](step - 1) * self.scheduler.base_lrs[0]

    def _after_step(self, loss: float, norm: float, samples_per_s: float) -> None:
        cfg, st = self.cfg, self.state
        step = st["step"]
        lr = self._step_lr(step)
        pending = st["pending"]
        pending["loss"].append(loss)
        pending["grad_norm"].append(norm)
        pending["since_eval"].append(loss)
        if step % cfg.log_every == 0 or step == self.total_steps:
            mean_loss = sum(pending["loss"]) / len(pending["loss"])
            mean_norm = sum(pending["grad_norm"]) / len(pending["grad_norm"])
            record = {
                "step": step,
                "epoch": st["epoch"],
                "loss": mean_loss,
                "lr": lr,
                "grad_norm": mean_norm,
            }
            st["history"].append(record)
            pending["loss"], pending["grad_norm"] = [], []
            if self.is_main:
                mem = self.monitor.sample()
                self.log.scalars(
                    step,
                    {
                        "loss": mean_loss,
                        "lr": lr,
                        "grad_norm": mean_norm,
                        "samples_per_s": samples_per_s,
                    },
                    "train/",
                )
                self.log.scalars(step, mem, "memory/")
                self.log.line(
                    f"step {step} epoch {st['epoch']} loss {mean_loss:.6g} lr {lr:.3e} grad_norm {mean_norm:.4g}"
                )
        epoch_done = st["position"] == 0
        due_eval = (
            cfg.eval_every_epochs is not None
            and epoch_done
            and st["epoch"] % cfg.eval_every_epochs == 0
        ) or (
            cfg.eval_every_epochs is None
            and cfg.eval_every is not None
            and step % cfg.eval_every == 0
        )
        if due_eval:
            self._after_eval(self._evaluate())
        due_ckpt = (cfg.checkpoint_every is not None and step % cfg.checkpoint_every == 0) or (
            cfg.checkpoint_every_epochs is not None
            and epoch_done
            and st["epoch"] % cfg.checkpoint_every_epochs == 0
        )
        if due_ckpt:
            self._save_checkpoint()

    # ------------------------------------------------------------------ the end

    def _finish(self, seconds: float) -> dict[str, Any]:
        st, cfg = self.state, self.cfg
        try:
            if self.status == "completed":
                evaluating = cfg.eval_every is not None or cfg.eval_every_epochs is not None
                if evaluating and st["last_eval_step"] != st["step"] and st["step"] > 0:
                    self._after_eval(self._evaluate())
                if st["last_ckpt_step"] != st["step"]:
                    self._save_checkpoint()
                final_from = "last"
                if (
                    cfg.final == "best"
                    and self.tracker.best_step is not None
                    and (self.run_dir / "best").is_dir()
                ):
                    final_from = f"best (step {self.tracker.best_step})"
                    if self.is_main:
                        atomic_dir(
                            self.run_dir / "final",
                            lambda tmp: shutil.copytree(
                                self.run_dir / "best", tmp, dirs_exist_ok=True
                            ),
                        )
                else:
                    self._save_adapter("final")
                self.final_from = final_from
            report = {}
            if self.status == "completed" and self.is_main:
                with isolated_rng(self.config.run.seed):
                    self.raw_model.eval()
                    report = self.family.final_report(self.raw_model, self.run_dir)
            metrics = {
                "status": self.status,
                "stop_reason": self.stop_reason,
                "step": st["step"],
                "epoch": st["epoch"],
                "total_steps": self.total_steps,
                "samples": st["samples"],
                "seconds": round(seconds, 2),
                "final": getattr(self, "final_from", None),
                "best": {
                    "metric": cfg.best.metric,
                    "mode": cfg.best.mode,
                    "value": self.tracker.best,
                    "step": self.tracker.best_step,
                },
                "last_eval": st["evals"][-1] if st["evals"] else None,
                "nan_skipped": st["nan_skipped"],
                "resources": self.monitor.summary(),
                "report": report,
                "history": st["history"],
                "evals": st["evals"],
            }
            if self.is_main:
                write_json_atomic(self.run_dir / "metrics.json", metrics)
                if cfg.loss_curve:
                    plot_loss_curve(
                        st["history"], st["evals"], self.run_dir / "loss_curve.png", cfg.best.metric
                    )
                self.log.line(f"{self.status}: step {st['step']}; {self.monitor.format_summary()}")
                if self.stop_reason:
                    self.log.line(self.stop_reason)
                info(self.monitor.format_summary())
        finally:
            self.log.close()
        if self.status == "nan":
            raise AudioloraError(self.stop_reason or "training stopped on NaN losses")
        return metrics
