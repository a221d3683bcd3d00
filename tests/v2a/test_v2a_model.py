from fnmatch import fnmatchcase

import pytest
import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from v2a_tiny import tiny_dit

from audiolora.adapters import AdapterSpec, attach_adapter, grow_rank
from audiolora.families.v2a.model import V2ADiT
from audiolora.families.v2a.targets import SEED_002_TARGETS, expand_targets


def inputs(b=2, t=25, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, 6, dtype=torch.long)
    mask[:, 4:] = 0
    return (
        torch.randn(b, t, 8, generator=g),
        torch.rand(b, generator=g),
        torch.randn(b, 8, 32, generator=g),
        torch.randn(b, 24, 17, generator=g),
        torch.randn(b, 6, 32, generator=g),
        mask,
    )


def test_save_and_load_pretrained_round_trip(tmp_path):
    torch.manual_seed(0)
    model = tiny_dit().eval()
    model.save_pretrained(str(tmp_path))
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    again = V2ADiT.from_pretrained(str(tmp_path)).eval()
    x = inputs()
    assert torch.equal(model(*x), again(*x))


def test_seed_002_targets_adapt_every_named_module():
    torch.manual_seed(0)
    model = tiny_dit(depth=3, fused_depth=2).eval()
    globs = expand_targets(model, SEED_002_TARGETS)
    assert globs[0] == "joint_blocks.*.latent_block.attn.qkv"
    assert globs[1] == "joint_blocks.*.latent_block.ffn.*"
    attach_adapter(model, AdapterSpec(rank=4, targets=globs), example_inputs=inputs())
    adapted = {n for n, m in model.named_modules() if isinstance(m, BaseTunerLayer)}
    for raw, glob in zip(SEED_002_TARGETS, globs, strict=True):
        hits = {n for n in adapted if fnmatchcase(n, glob)}
        assert hits, raw
    # each stream of each block, ffn's three Linears; the last joint block's CLIP/text streams
    # are attention-input only (MMAudio's pre_only), so they have qkv and no ffn
    assert "joint_blocks.2.clip_block.attn.qkv" in adapted
    assert not any(n.startswith("joint_blocks.2.clip_block.ffn") for n in adapted)
    assert {f"fused_blocks.1.ffn.{w}" for w in ("w1", "w2", "w3")} <= adapted
    # joint 0-1: 3 streams x (qkv + 3 ffn); joint 2: latent 4 + clip qkv + text qkv; fused 2 x 4
    assert len(adapted) == 2 * 3 * 4 + (4 + 1 + 1) + 2 * 4
    # frozen: input projections, final layer, modulation
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_rank_growth_keeps_the_output_exactly():
    torch.manual_seed(0)
    model = tiny_dit().eval()
    attach_adapter(
        model, AdapterSpec(rank=2, alpha=4, targets=expand_targets(model, SEED_002_TARGETS))
    )
    with torch.no_grad():  # a trained adapter: B no longer zero
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    x = inputs()
    before = model(*x)
    assert not torch.allclose(before, model(*inputs(seed=1))[:, :25])  # the input matters
    for rank in (4, 8):
        grow_rank(model, rank)
        after = model(*x)
        torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
        before = after
    shapes = {tuple(p.shape) for n, p in model.named_parameters() if "lora_A" in n}
    assert all(s[0] == 8 for s in shapes)


def test_sync_features_reach_the_output():
    torch.manual_seed(0)
    model = tiny_dit().eval()
    x = list(inputs())
    a = model(*x)
    x[3] = x[3].clone()
    x[3][:, :12] += 1.0  # motion in the first half only
    diff = (model(*x) - a).abs().mean(dim=(0, 2))
    assert diff[:10].mean() > 3 * diff[-10:].mean()


@pytest.mark.parametrize("bad", ["joint_blocks[*].nothing"])
def test_unknown_target_is_one_line(bad):
    from audiolora.errors import AudioloraError

    model = tiny_dit()
    with pytest.raises(AudioloraError, match="matches no module"):
        attach_adapter(model, AdapterSpec(rank=2, targets=expand_targets(model, [bad])))
