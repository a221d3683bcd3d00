import numpy as np
import soundfile as sf
import torch
from demucs.apply import apply_model
from demucs.demucs import Demucs
from sep_tiny import SR, tiny_htdemucs

from audiolora.families.separation.separate import separate_file, separate_tensor


def conv_demucs():
    """A tiny waveform Demucs without LSTM or input normalisation: a purely local model, so a
    chunked run can be compared with a one-shot run of the whole file."""
    torch.manual_seed(0)
    return Demucs(
        sources=["drums", "bass"],
        audio_channels=2,
        samplerate=SR,
        segment=2,
        channels=4,
        depth=3,
        lstm_layers=0,
        normalize=False,
        rescale=0.1,
    ).eval()


def test_70s_file_chunked_equals_one_shot_at_constant_memory(tmp_path):
    model = conv_demucs()
    seconds = 70
    t = np.arange(seconds * SR) / SR
    rng = np.random.default_rng(0)
    mix = np.stack([np.sin(2 * np.pi * 110 * t), np.sign(np.sin(2 * np.pi * 3 * t))]) * 0.3
    mix = (mix + 0.05 * rng.standard_normal(mix.shape)).astype(np.float32)
    wav = tmp_path / "long.wav"
    sf.write(wav, mix.T, SR, subtype="FLOAT")

    lengths = []
    hook = model.register_forward_pre_hook(lambda m, args: lengths.append(args[0].shape[-1]))
    result = separate_file(model, wav, tmp_path / "out", overlap=0.25, progress=False)
    hook.remove()
    # every forward saw one chunk (the model's segment plus its context), never the whole file
    assert max(lengths) <= model.valid_length(2 * SR) and len(lengths) > seconds // 2
    chunked = np.stack([sf.read(result.stems[s], dtype="float32")[0].T for s in model.sources])

    x = torch.from_numpy(mix)
    mean, std = x.mean(0).mean(), x.mean(0).std()
    with torch.no_grad():
        one_shot = (
            apply_model(model, ((x - mean) / std)[None], split=False, shifts=0)[0] * std + mean
        )
    err = np.abs(chunked - one_shot.numpy())
    scale = np.abs(one_shot.numpy()).max()
    assert err.max() < 1e-3 * scale, (err.max(), scale)
    assert result.rtf > 0


def test_htdemucs_chunks_match_apply_model_and_shifts_run():
    model = tiny_htdemucs()
    mix = torch.randn(2, 7 * SR)
    ours = separate_tensor(model, mix, overlap=0.25)
    mean, std = mix.mean(0).mean(), mix.mean(0).std()
    with torch.no_grad():
        ref = (
            apply_model(model, ((mix - mean) / std)[None], split=True, overlap=0.25, shifts=0)[0]
            * std
            + mean
        )
    assert torch.allclose(ours, ref, atol=1e-5)
    torch.manual_seed(0)
    shifted = separate_tensor(model, mix, shifts=2)
    assert shifted.shape == ours.shape and torch.isfinite(shifted).all()
