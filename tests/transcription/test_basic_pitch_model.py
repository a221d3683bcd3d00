"""The PyTorch Basic Pitch equals basic-pitch's released ONNX model under onnxruntime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from audiolora.families.transcription.model import (
    DEFAULT_WEIGHTS,
    HEAD_MODULES,
    WINDOW_SAMPLES,
    BasicPitch,
    NarrowConv2d,
    PhaseConv2d,
    load_basic_pitch,
)
from audiolora.families.transcription.onnx_import import convert, onnx_to_state_dict

ONNX_OUTPUTS = {
    "note": "StatefulPartitionedCall:1",
    "onset": "StatefulPartitionedCall:2",
    "contour": "StatefulPartitionedCall:0",
}


def _windows(n: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(WINDOW_SAMPLES) / 22050
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (98.0, 246.9, 392.0))
    return np.stack(
        [
            chord + 0.01 * rng.standard_normal(WINDOW_SAMPLES),
            0.1 * rng.standard_normal(WINDOW_SAMPLES),
            np.zeros(WINDOW_SAMPLES),
            # a bare decaying 55 Hz tone: its upper octaves sit at the -100 dB floor of the
            # normalised log, where any change to the front end's float rounding shows (1e-3)
            0.3 * np.sin(2 * np.pi * 55.0 * t) * np.exp(-t),
        ][:n]
    ).astype(np.float32)


@pytest.mark.parametrize("rows", [[0, 1, 3], [2]], ids=["chord+noise+bass", "silence"])
def test_matches_onnxruntime_within_1e4(nmp_onnx, rows):
    # silence runs alone: onnxruntime's own output for an all-zero window changes (by 4e-3) when
    # it shares a batch with other windows; alone it matches ours
    x = _windows()[rows]
    session = ort.InferenceSession(str(nmp_onnx), providers=["CPUExecutionProvider"])
    ref = session.run(list(ONNX_OUTPUTS.values()), {"serving_default_input_2:0": x[:, :, None]})
    with torch.no_grad():
        ours = load_basic_pitch()(torch.from_numpy(x))
    for (key, _), expected in zip(ONNX_OUTPUTS.items(), ref, strict=True):
        assert ours[key].shape == expected.shape
        np.testing.assert_allclose(ours[key].numpy(), expected, atol=1e-4, rtol=0)
    if rows[0] == 0:  # the input is not degenerate: the chord lights up notes
        assert ref[0][0].max() > 0.5


@pytest.mark.parametrize(
    ("cls", "cin", "cout", "kernel", "stride", "padding"),
    [
        (NarrowConv2d, 8, 1, (5, 5), 1, (2, 2)),
        (NarrowConv2d, 33, 1, (3, 3), 1, (1, 1)),
        (NarrowConv2d, 4, 3, (7, 3), (1, 3), (3, 1)),
        (NarrowConv2d, 4, 1, (3, 3), 1, "same"),  # the plain convolution
        (PhaseConv2d, 8, 8, (3, 39), 1, (1, 19)),
        (PhaseConv2d, 3, 5, (2, 6), 1, (0, 1)),  # even kernel, odd output width
        (PhaseConv2d, 4, 2, (3, 3), (1, 2), (1, 1)),  # strided: the plain convolution
    ],
)
def test_fast_convs_equal_conv2d_with_gradients(cls, cin, cout, kernel, stride, padding):
    torch.manual_seed(0)
    plain = torch.nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding)
    fast = cls(cin, cout, kernel, stride=stride, padding=padding)
    fast.load_state_dict(plain.state_dict())
    for x in (torch.randn(2, cin, 20, 31), torch.randn(2, cin, 9, 64)):
        x = x.contiguous(memory_format=torch.channels_last)
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        expected, got = plain(x1), fast(x2)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        grad = torch.randn_like(expected)
        expected.backward(grad)
        got.backward(grad)
        torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fast.weight.grad, plain.weight.grad, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(fast.bias.grad, plain.bias.grad, atol=1e-4, rtol=1e-5)
        plain.zero_grad()
        fast.zero_grad()


def test_phase_downsampling_equals_the_strided_lowpass():
    model = load_basic_pitch()
    x = torch.from_numpy(_windows(2)).unsqueeze(1)
    phases = model.cqt.lowpass_phases()
    for length in (WINDOW_SAMPLES, 5001, 598):
        part = x[..., :length]
        direct = F.conv1d(F.pad(part, (127, 127)), model.cqt.lowpass, stride=2)
        torch.testing.assert_close(model.cqt._downsample(part, phases), direct, atol=1e-7, rtol=0)


def test_shipped_weights_are_the_onnx_constants(nmp_onnx, tmp_path):
    from safetensors.torch import load_file

    shipped = load_file(str(DEFAULT_WEIGHTS))
    converted = load_file(str(convert(nmp_onnx, tmp_path / "nmp.safetensors")))
    assert shipped.keys() == converted.keys() == BasicPitch().state_dict().keys()
    for key in shipped:
        assert torch.equal(shipped[key], converted[key]), key


def test_learned_head_is_16700_parameters_and_frozen_by_default():
    model = load_basic_pitch()
    head = sum(p.numel() for n in HEAD_MODULES for p in getattr(model, n).parameters())
    assert head == 16_700
    assert sum(p.numel() for p in model.parameters()) == head  # CQT constants are buffers
    assert not any(p.requires_grad for p in model.parameters())


def test_logits_are_the_pre_sigmoid_outputs():
    model = load_basic_pitch()
    x = torch.from_numpy(_windows(1))
    with torch.no_grad():
        probs, logits = model(x), model(x, logits=True)
    for key in probs:
        torch.testing.assert_close(torch.sigmoid(logits[key]), probs[key], atol=1e-6, rtol=0)


def test_bad_weight_file_is_one_line_error(tmp_path):
    from audiolora.errors import AudioloraError

    with pytest.raises(AudioloraError, match="weights not found"):
        load_basic_pitch(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(AudioloraError, match="not a Basic Pitch weight file"):
        load_basic_pitch(bad)
    with pytest.raises(AudioloraError, match="cannot read as ONNX"):
        onnx_to_state_dict(bad)
