"""The separation family's training augmentation is seeded from (run seed, epoch, the micro-batch's
item indices): not from the global RNG, so a resumed run, DataLoader workers and every process of a
multi-process run see the same remix, gain, polarity and channel swap."""

import torch

from audiolora.config import load_config
from audiolora.families.separation.family import (
    KeyedItem,
    KeyedItems,
    SeededBatch,
    SeparationFamily,
    augment_seed,
)


def _family():
    config = load_config(None, ["model.name=htdemucs-tiny", "adapter.rank=2", "run.seed=3"])
    return SeparationFamily(config)


def _items(n: int, epoch: int = 0, start: int = 0) -> list[KeyedItem]:
    g = torch.Generator().manual_seed(0)
    return [KeyedItem(start + i, epoch, torch.randn(4, 2, 2048, generator=g)) for i in range(n)]


def test_seed_depends_on_seed_epoch_and_indices_only():
    assert augment_seed(3, 1, [4, 7]) == augment_seed(3, 1, [4, 7])
    others = {augment_seed(3, 1, [7, 4]), augment_seed(3, 2, [4, 7]), augment_seed(4, 1, [4, 7])}
    assert augment_seed(3, 1, [4, 7]) not in others and len(others) == 3
    assert 0 <= augment_seed(3, 1, [4, 7]) < 2**63


def test_keyed_items_forward_set_epoch_and_collate_seeds_the_batch():
    class Items(torch.utils.data.Dataset):
        epoch = 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.full((4, 2, 8), float(i + 10 * self.epoch))

    keyed = KeyedItems(Items())
    keyed.set_epoch(2)
    item = keyed[1]
    assert (item.index, item.epoch, float(item.item[0, 0, 0])) == (1, 2, 21.0)
    family = _family()
    batch = family.collate([keyed[0], keyed[2]])
    assert isinstance(batch, SeededBatch) and batch.batch.shape == (2, 4, 2, 8)
    assert batch.seed == augment_seed(3, 2, [0, 2])
    assert not isinstance(family.collate([keyed[0].item]), SeededBatch)  # validation items


def test_training_loss_ignores_the_global_rng():
    family = _family()
    model = family.build_model().train()
    batch = family.collate(_items(3))
    losses = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        before = torch.get_rng_state()
        with torch.no_grad():
            losses.append(family.training_loss(model, batch).item())
        assert torch.equal(torch.get_rng_state(), before)  # no draw from torch's RNG
    other = family.collate(_items(3, start=5))
    with torch.no_grad():
        assert family.training_loss(model, other).item() != losses[0]
    assert losses[0] == losses[1]
