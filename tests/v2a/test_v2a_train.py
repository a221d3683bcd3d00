import pytest
import torch

from audiolora.config import load_config
from audiolora.errors import ConfigError
from audiolora.families.base import get_family


def config(cache, base_dir, *more):
    folder, _ = cache
    sets = ["model.family=v2a", f"model.name={base_dir}", f"v2a.cache_dir={folder}"]
    return load_config(None, [*sets, "adapter.rank=4", "adapter.alpha=8", *more])


def test_ten_steps_on_cached_clips_lower_the_loss(cache, base_dir):
    family = get_family(config(cache, base_dir, "v2a.cfg_dropout=0"))
    torch.manual_seed(0)
    model = family.build_model()
    train, held = family.datasets()
    params = [p for p in model.parameters() if p.requires_grad]
    assert params and all(
        not p.requires_grad for n, p in model.named_parameters() if "lora_" not in n
    )
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW(params, lr=3e-3)
    batch = family.collate([train[i] for i in range(len(train))])
    before = family.evaluate(model, train)["loss"]
    model.train()
    for _ in range(10):
        loss = family.training_loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    after = family.evaluate(model, train)["loss"]
    assert after < 0.95 * before, (before, after)
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    # evaluation is deterministic: the same clips, noise and noise levels each time
    assert family.evaluate(model, held) == family.evaluate(model, held)


def test_phase_grows_the_previous_adapter(cache, base_dir, tmp_path):
    first = get_family(config(cache, base_dir))
    torch.manual_seed(0)
    model = first.build_model()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    first.save_adapter(model, tmp_path / "a")
    train, _ = first.datasets()
    x = first._example(first.collate([train[0]]))
    before = model.eval()(*x)
    nxt = get_family(
        config(cache, base_dir, "adapter.rank=8", f"v2a.init_adapter={tmp_path / 'a'}")
    )
    grown = nxt.build_model().eval()
    ranks = {tuple(p.shape)[0] for n, p in grown.named_parameters() if "lora_A" in n}
    assert ranks == {8}
    torch.testing.assert_close(grown(*x), before, rtol=1e-5, atol=1e-6)


def test_rank_phases_need_the_phase_runner(cache, base_dir):
    with pytest.raises(ConfigError, match="audiolora v2a run"):
        get_family(config(cache, base_dir, "v2a.rank_phases=[[0,2],[5,4]]"))
