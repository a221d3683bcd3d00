"""The training engine on Hugging Face Accelerate: one family-agnostic Trainer.

`Trainer(config, family, run_dir=None, resume=None).fit()` trains the adapter a Family builds and
returns the final metrics; `audiolora train CONFIG [overrides]` is the command, and
`accelerate launch -m audiolora train ...` runs it on several GPUs with no code change.

Exact resume. The order of training items depends only on the run seed and the epoch: each epoch
shuffles with a torch.Generator seeded from (run.seed, epoch), and the DataLoader gets its own
generator, so iterating never touches the global RNG. An item's own randomness (random crops,
augmentation) must come from the dataset's seed and `dataset.set_epoch(epoch)`, which the trainer
calls before each epoch when the dataset has it, never from worker RNG: then any number of
DataLoader workers gives the same items. Batch-level randomness is seeded from the micro-batch's
indices (the separation family's augmentation) or drawn from the global RNGs, which a checkpoint
saves. A checkpoint stores the step, epoch and position in the epoch (micro-batches consumed), every
trainable tensor, optimizer, scheduler and grad-scaler states and each process's python/numpy/
torch/CUDA RNG states; `--resume` restores them and skips to the saved position. The model is put in
training mode before the first step and no gradient survives the model's construction (the attach
live-check restores every parameter's grad after its backward), so a fresh and a resumed run take the same path; on CPU a killed-and-
resumed run ends bit-identical to an uninterrupted one (tests/train/test_train_resume_real.py).
Validation runs under a fixed seed (same crops, same noise each time) and restores the training RNG
afterwards.

Several processes: `accelerate launch --multi_gpu --num_processes N -m audiolora train ...` (or
torchrun); without a GPU the processes join as CPU processes (gloo). Only the main process writes
the run folder; a launch Accelerate does not join (WORLD_SIZE > 1, one process seen) is refused.
"""

from .config import BestConfig, TrainConfig

__all__ = ["BestConfig", "TrainConfig", "Trainer"]


def __getattr__(name: str):
    # Lazy: audiolora.config imports train.config, and the trainer imports audiolora.config.
    if name == "Trainer":
        from .trainer import Trainer

        return Trainer
    raise AttributeError(name)
