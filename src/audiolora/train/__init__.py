"""The training engine on Hugging Face Accelerate: one family-agnostic Trainer.

`Trainer(config, family, run_dir=None, resume=None).fit()` trains the adapter a Family builds and
returns the final metrics; `audiolora train CONFIG [overrides]` is the command, and
`accelerate launch -m audiolora train ...` runs it on several GPUs with no code change.

Exact resume. The order of training items depends only on the run seed and the epoch: each epoch
shuffles with a torch.Generator seeded from (run.seed, epoch), and the DataLoader gets its own
generator, so iterating never touches the global RNG. An item's own randomness (random crops,
augmentation) must come from the dataset's seed and `dataset.set_epoch(epoch)`, which the trainer
calls before each epoch when the dataset has it, never from worker RNG. A checkpoint stores the
step, epoch and position in the epoch (micro-batches consumed), every trainable tensor, optimizer,
scheduler and grad-scaler states and the python/numpy/torch/CUDA RNG states; `--resume` restores
them and skips to the saved position, so on CPU a killed-and-resumed run ends bit-identical to an
uninterrupted one. Validation runs under a fixed seed (same crops, same noise each time) and
restores the training RNG afterwards.
"""

from .config import BestConfig, TrainConfig

__all__ = ["BestConfig", "TrainConfig", "Trainer"]


def __getattr__(name: str):
    # Lazy: audiolora.config imports train.config, and the trainer imports audiolora.config.
    if name == "Trainer":
        from .trainer import Trainer

        return Trainer
    raise AttributeError(name)
