import pickle

import pytest
import torch
import yaml
from sep_tiny import SR, save_th, tiny_hdemucs, tiny_htdemucs

from audiolora.errors import AudioloraError
from audiolora.families.separation.export import save_demucs_safetensors
from audiolora.families.separation.loading import load_separation_model, split_member
from audiolora.hub import load_model


def _same_outputs(a, b):
    x = torch.randn(1, 2, 2 * SR)
    with torch.no_grad():
        return torch.allclose(a(x), b(x), atol=1e-6)


@pytest.mark.parametrize("build", [tiny_htdemucs, tiny_hdemucs])
def test_th_roundtrip_weights_only(tmp_path, build):
    model = build()
    path = save_th(model, tmp_path / "tiny-1234abcd.th")
    loaded = load_model(str(path))
    assert type(loaded) is type(model)
    assert loaded.sources == model.sources
    assert _same_outputs(model, loaded)


def test_safetensors_roundtrip_and_demucs_loader(tmp_path):
    from demucs.hf import load_safetensors_model

    model = tiny_htdemucs()
    path = save_demucs_safetensors(model.state_dict(), model, tmp_path / "tiny.safetensors")
    ours = load_separation_model(str(path))
    theirs = load_safetensors_model(path)
    assert ours.segment == model.segment
    assert _same_outputs(model, ours)
    assert _same_outputs(model, theirs)


def test_arbitrary_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.th"
    with open(path, "wb") as f:
        pickle.dump({"klass": Evil(), "args": [], "kwargs": {}, "state": {}}, f)
    with pytest.raises(AudioloraError, match="not a demucs checkpoint that loads safely"):
        load_separation_model(str(path))


def test_local_bag_and_member(tmp_path):
    a, b = tiny_htdemucs(seed=1), tiny_htdemucs(seed=2)
    save_th(a, tmp_path / "aaaa1111.th")
    save_demucs_safetensors(b.state_dict(), b, tmp_path / "bbbb2222.safetensors")
    (tmp_path / "mybag.yaml").write_text(yaml.safe_dump({"models": ["aaaa1111", "bbbb2222"]}))
    bag = load_separation_model(str(tmp_path / "mybag.yaml"))
    assert len(bag.models) == 2
    member = load_separation_model(f"{tmp_path / 'mybag.yaml'}:1")
    assert _same_outputs(b, member)
    with pytest.raises(AudioloraError, match="member 5 does not exist"):
        load_separation_model(f"{tmp_path / 'mybag.yaml'}:5")


def test_names_and_errors(monkeypatch):
    assert split_member("htdemucs_ft:2") == ("htdemucs_ft", 2)
    assert split_member("C:/x.th") == ("C:/x.th", None)
    with pytest.raises(AudioloraError, match="no such model or file"):
        load_model("htdemucs_nope")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AudioloraError, match="cannot download demucs's pretrained weights"):
        load_model("htdemucs_6s")


def test_mismatched_weights_one_line(tmp_path):
    model = tiny_htdemucs()
    state = model.state_dict()
    state.pop("decoder.0.conv_tr.bias")
    args, kwargs = model._init_args_kwargs
    torch.save(
        {"klass": type(model), "args": args, "kwargs": kwargs, "state": state}, tmp_path / "bad.th"
    )
    with pytest.raises(AudioloraError, match="weights do not match"):
        load_separation_model(str(tmp_path / "bad.th"))
