"""Exact resume on the real families through the CLI, with their default configs (augmentation on)
and small overrides: separation (configs/separation/techhouse_5stem.yaml, chorales_satb.yaml) and
transcription (configs/transcription/chorales_bass.yaml) on data rendered small with
`audiolora data render`.

Each family has one uninterrupted reference run (6 steps, a checkpoint after every step, an
evaluation at steps 3 and 6, 3 steps per epoch; SATB: 12 steps per epoch, one evaluation), then:
- a real SIGKILL of a training subprocess right after checkpoint step_2 (mid-epoch), resumed;
- a plain resume from the epoch boundary (step_3);
- a plain resume from mid-epoch (step_4) with DataLoader workers (data.num_workers=2).
Every checkpoint after the resume point, the final adapter, the logged losses and the evaluations
must equal the reference bit for bit; a difference fails naming the first step and tensor.
"""

from __future__ import annotations

import pytest
from real_runs import (
    assert_same_run,
    checkpoint_steps,
    render,
    start_from,
    train,
    train_and_kill,
)

pytestmark = pytest.mark.slow

STEPS = 6
COMMON = [
    f"train.max_steps={STEPS}",
    "train.checkpoint_every=1",
    "train.keep_checkpoints=100",
    "train.eval_every=3",
    "train.log_every=1",
    "train.final=last",
    "train.loss_curve=false",
]
FAMILIES = {
    # 3 train tracks x 4 segments of 0.5 s = 12 items, batch 4: 3 steps per epoch
    "techhouse5": (
        "configs/separation/techhouse_5stem.yaml",
        "techhouse",
        ["data.segment=0.5", "train.batch_size=4"],
    ),
    # 3 train tracks x 2 windows, batch 2: 3 steps per epoch
    "chorales-bass": (
        "configs/transcription/chorales_bass.yaml",
        "chorales",
        ["transcription.crops_per_track=2", "train.batch_size=2"],
    ),
    # 3 train tracks x 16 segments of 0.25 s, batch 4: 12 steps per epoch (mid-epoch resume only;
    # one evaluation, at the end)
    "chorales-satb": (
        "configs/separation/chorales_satb.yaml",
        "chorales",
        ["data.segment=0.25", "train.batch_size=4", "train.eval_every=6"],
    ),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {
        "techhouse": render("techhouse5", root / "techhouse", tracks=5, seconds=2, seed=11),
        "chorales": render("chorales", root / "chorales", tracks=5, seconds=4, seed=7),
    }


class Runs:
    """The runs of one family: overrides, the output folder and the reference run (made once)."""

    def __init__(self, family: str, data: dict, out):
        config, which, extra = FAMILIES[family]
        self.config = config
        self.out = out
        self.overrides = [f"data.root={data[which]}", f"run.output_dir={out}", *COMMON, *extra]
        self._reference = None

    @property
    def reference(self):
        if self._reference is None:
            train(self.config, "reference", self.overrides)
            self._reference = self.out / "reference"
            assert checkpoint_steps(self._reference) == list(range(1, STEPS + 1))
        return self._reference

    def resume_from(self, name: str, step: int, *extra: str):
        run = start_from(self.reference, self.out / name, step)
        train(self.config, name, [*self.overrides, *extra], "--resume")
        assert_same_run(self.reference, run, list(range(step + 1, STEPS + 1)))


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    made = {}

    def get(family: str) -> Runs:
        if family not in made:
            made[family] = Runs(family, data, tmp_path_factory.mktemp(family))
        return made[family]

    return get


@pytest.mark.parametrize("family", ["techhouse5", "chorales-bass"])
def test_sigkill_after_a_checkpoint_then_resume_is_bit_identical(runs, family):
    r = runs(family)
    reference = r.reference
    run = r.out / "killed"
    left = train_and_kill(r.config, "killed", r.overrides, run, after_step=2)
    assert left and left[-1] < STEPS and not (run / "final").exists(), left
    train(r.config, "killed", r.overrides, "--resume")
    assert_same_run(reference, run, list(range(1, STEPS + 1)))


@pytest.mark.parametrize("family", ["techhouse5", "chorales-bass"])
def test_resume_from_an_epoch_boundary_is_bit_identical(runs, family):
    runs(family).resume_from("boundary", 3)


@pytest.mark.parametrize("family", ["techhouse5", "chorales-bass", "chorales-satb"])
def test_resume_mid_epoch_with_dataloader_workers_is_bit_identical(runs, family):
    runs(family).resume_from("workers", 4, "data.num_workers=2")
