import pytest

from audiolora.config import load_config


@pytest.fixture
def make_run():
    """Build (config, family) for the tiny HTDemucs test family with train.* overrides."""
    from tiny_family import TinySeparationFamily

    def _make(*overrides: str, train_size: int = 8):
        base = [
            "adapter.rank=2",
            "train.lr=1e-3",
            "train.batch_size=4",
            "train.max_steps=2",
            "train.log_every=1",
            "train.eval_every=null",
            "train.checkpoint_every=null",
            "train.loss_curve=false",
        ]
        config = load_config(None, [*base, *overrides])
        family = TinySeparationFamily(config)
        family.train_size = train_size
        return config, family

    return _make
