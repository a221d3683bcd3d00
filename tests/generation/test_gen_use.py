"""Using a trained generation adapter: the stock pipeline, plain PEFT, `generate`, `merge`."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from audiolora.cli import main


@pytest.fixture(scope="module")
def adapter(tiny_ace, tmp_path_factory):
    """A LoRA adapter on the tiny DiT's attention with nonzero B (as after training)."""
    from diffusers import AceStepTransformer1DModel

    from audiolora.adapters import AdapterSpec, attach_adapter, save_adapter
    from audiolora.families.generation.targets import preset_targets

    model = AceStepTransformer1DModel.from_pretrained(tiny_ace, subfolder="transformer")
    attach_adapter(model, AdapterSpec(rank=4, alpha=8, targets=preset_targets("both")))
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    folder = tmp_path_factory.mktemp("adapter") / "lora"
    save_adapter(model, folder, {"family": "generation", "variant": "turbo"})
    return folder


def latents(pipe, seed=0):
    out = pipe(
        prompt="a koto melody",
        lyrics="",
        audio_duration=1.0,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(seed),
        output_type="latent",
    )
    return out.audios


def test_diffusers_layout_loads_in_the_stock_pipeline(tiny_ace, adapter, tmp_path):
    from diffusers import AceStepPipeline

    from audiolora.families.generation.bases import load_pipeline
    from audiolora.families.generation.export import export_diffusers_lora
    from audiolora.families.generation.inference import attach_adapters

    export_diffusers_lora(adapter, tmp_path / "diffusers-lora")
    stock = AceStepPipeline.from_pretrained(tiny_ace)
    base = latents(stock)
    stock.load_lora_weights(str(tmp_path / "diffusers-lora"))
    via_stock = latents(stock)
    ours = load_pipeline(str(tiny_ace))
    attach_adapters(ours, [(str(adapter), 1.0)], "turbo")
    via_audiolora = latents(ours)
    assert not torch.allclose(base, via_stock, atol=1e-3)  # the adapter changes the output
    assert torch.allclose(via_stock, via_audiolora, atol=1e-5)


def test_peft_folder_loads_with_plain_peft(tiny_ace, adapter):
    from diffusers import AceStepTransformer1DModel
    from peft import PeftModel

    from audiolora.adapters import load_adapter

    x = torch.randn(1, 10, 8)
    t = torch.tensor([0.5])
    hidden = torch.randn(1, 7, 32)
    ctx = torch.randn(1, 10, 16)
    plain = PeftModel.from_pretrained(
        AceStepTransformer1DModel.from_pretrained(tiny_ace, subfolder="transformer"), str(adapter)
    )
    ours = load_adapter(
        AceStepTransformer1DModel.from_pretrained(tiny_ace, subfolder="transformer"), adapter
    )
    a = plain(x, t, t, hidden, ctx, return_dict=False)[0]
    b = ours(x, t, t, hidden, ctx, return_dict=False)[0]
    assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_generate_cli_writes_the_asked_duration_and_merge_matches(tiny_ace, adapter, tmp_path):
    out = tmp_path / "clip.wav"
    args = [
        "generate",
        "--model",
        str(tiny_ace),
        "--prompt",
        "a koto melody",
        "--duration",
        "1.5",
        "--seed",
        "4",
        "--steps",
        "3",
        "--out",
        str(out),
        "--adapter",
        f"{adapter}:0.7",
    ]
    assert main(["--quiet", *args]) == 0
    audio, sr = sf.read(out, always_2d=True)
    assert sr == 16000 and audio.shape == (24000, 2) and np.abs(audio).max() > 0
    assert out.with_suffix(".png").is_file()
    merged = tmp_path / "merged"
    assert (
        main(
            [
                "--quiet",
                "merge",
                "--model",
                str(tiny_ace),
                "--adapter",
                f"{adapter}:0.7",
                "--out",
                str(merged),
            ]
        )
        == 0
    )
    out2 = tmp_path / "merged.wav"
    assert (
        main(
            [
                "--quiet",
                "generate",
                "--model",
                str(merged),
                "--prompt",
                "a koto melody",
                "--duration",
                "1.5",
                "--seed",
                "4",
                "--steps",
                "3",
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    again, _ = sf.read(out2, always_2d=True)
    assert np.allclose(audio, again, atol=1e-4)


def test_generate_bad_model_and_duration_are_one_line(tmp_path, capsys):
    assert main(["generate", "--model", str(tmp_path), "--prompt", "x", "--out", "a.wav"]) == 1
    assert "not a diffusers pipeline folder" in capsys.readouterr().err
    assert (
        main(["generate", "--model", "x/y", "--prompt", "x", "--duration", "0", "--out", "a.wav"])
        == 2
    )


def test_lokr_on_the_dit_exports_for_lycoris(tiny_ace, tmp_path):
    import lycoris
    from diffusers import AceStepTransformer1DModel

    from audiolora.adapters import AdapterSpec, attach_adapter, export_lycoris
    from audiolora.families.generation.targets import preset_targets

    def load():
        return AceStepTransformer1DModel.from_pretrained(tiny_ace, subfolder="transformer").eval()

    model, base = load(), load()
    attach_adapter(model, AdapterSpec(kind="lokr", rank=4, alpha=4, targets=preset_targets("both")))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lokr_w1" in name:
                p.normal_(0, 0.3)
    folder = export_lycoris(model, tmp_path / "lyco")
    network, _ = lycoris.create_lycoris_from_weights(
        1.0, str(folder / "lokr_weights.safetensors"), base
    )
    assert len(network.loras) == 16
    network.apply_to()
    x, t = torch.randn(1, 10, 8), torch.tensor([0.4])
    hidden, ctx = torch.randn(1, 7, 32), torch.randn(1, 10, 16)
    with torch.no_grad():
        ours = model(x, t, t, hidden, ctx, return_dict=False)[0]
        theirs = base(x, t, t, hidden, ctx, return_dict=False)[0]
        plain = load()(x, t, t, hidden, ctx, return_dict=False)[0]
    assert (ours - plain).abs().max() > 1e-4
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-4)


def test_comfyui_layout_names_the_original_modules_and_round_trips(tiny_ace, adapter, tmp_path):
    """ComfyUI's ACE-Step 1.5 model keeps the original names (q_proj, o_proj, proj_in.1) under
    diffusion_model.decoder.; the file maps back onto our adapter exactly, alpha included."""
    from diffusers import AceStepTransformer1DModel
    from safetensors.torch import load_file

    from audiolora.families.generation.export import comfy_module_name

    out = tmp_path / "ace_lora_comfy.safetensors"
    assert (
        main(["--quiet", "export-lora", str(adapter), "--out", str(out), "--format", "comfyui"])
        == 0
    )
    comfy = load_file(str(out))
    ours = load_file(str(adapter / "adapter_model.safetensors"))
    assert len(comfy) == len(ours) * 3 // 2  # down, up and alpha per module
    assert "diffusion_model.decoder.layers.0.self_attn.q_proj.lora_down.weight" in comfy
    assert "diffusion_model.decoder.layers.1.cross_attn.o_proj.lora_up.weight" in comfy
    assert comfy_module_name("proj_in_conv") == "proj_in.1"
    model = AceStepTransformer1DModel.from_pretrained(tiny_ace, subfolder="transformer")
    shapes = {n: m.weight.shape for n, m in model.named_modules() if hasattr(m, "weight")}
    for key, tensor in ours.items():
        module, _, rest = key.removeprefix("base_model.model.").partition(".lora_")
        target = "diffusion_model.decoder." + comfy_module_name(module)
        kind = "lora_down" if rest.startswith("A") else "lora_up"
        assert torch.equal(comfy[f"{target}.{kind}.weight"], tensor)
        assert float(comfy[f"{target}.alpha"]) == 8.0  # the adapter's alpha (rank 4)
        if kind == "lora_down":  # down [r, in] and up [out, r] fit the module's weight
            assert tensor.shape[1] == shapes[module][1]


def test_a_turbo_adapter_on_a_base_checkpoint_warns(adapter, tmp_path):
    from audiolora.families.generation.bases import load_pipeline
    from audiolora.families.generation.builders import ace_step_pipeline
    from audiolora.families.generation.inference import attach_adapters

    ace_step_pipeline(samplerate=16000, downsampling=(4, 8, 8), is_turbo=False).save_pretrained(
        tmp_path / "base"
    )
    pipe = load_pipeline(str(tmp_path / "base"))
    with pytest.warns(UserWarning, match="trained on a turbo checkpoint, used on a base one"):
        attach_adapters(pipe, [(str(adapter), 1.0)], "base")


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(tiny_ace, tmp_path):
    from genkit import make_clips

    from audiolora.config import load_config
    from audiolora.families.base import get_family

    root = make_clips(tmp_path / "d")
    cfg = load_config(
        "configs/generation/ace_step_lora.yaml",
        [f"model.name={tiny_ace}", f"data.root={root}", "generation.window_seconds=0.5"],
    )
    fam = get_family(cfg)
    model = fam.build_model().train()
    batch = fam.collate([fam.datasets()[0][0], fam.datasets()[0][1]])
    results = []
    for enabled in (False, True):
        fam.set_gradient_checkpointing(model, enabled)
        model.zero_grad()
        loss = fam.training_loss(model, batch)
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        results.append((loss.detach(), grads))
    assert model.gradient_checkpointing
    torch.testing.assert_close(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
