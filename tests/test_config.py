from pathlib import Path

import pytest
import yaml

from audiolora.config import load_config, parse_override, split_key
from audiolora.errors import ConfigError


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_defaults_when_no_file():
    cfg = load_config(None)
    assert cfg.adapter.rank == 8 and cfg.train.optimizer == "adamw"


def test_yaml_and_dotted_overrides(tmp_path):
    f = write(tmp_path / "run.yaml", {"adapter": {"rank": 4}, "train": {"lr": 1e-3}})
    cfg = load_config(f, ["adapter.rank=8", "train.lr=5e-5", "data.sources=[other,kick]"])
    assert cfg.adapter.rank == 8
    assert cfg.train.lr == pytest.approx(5e-5)
    assert cfg.data.sources == ["other", "kick"]


def test_yaml_scientific_notation_in_file(tmp_path):
    f = write(tmp_path / "run.yaml", "train:\n  lr: 5e-5\n")
    assert load_config(f).train.lr == pytest.approx(5e-5)


def test_quoted_key_with_dots():
    assert split_key('adapter.layer_ranks."encoder.0.*"') == [
        "adapter",
        "layer_ranks",
        "encoder.0.*",
    ]
    cfg = load_config(None, ['adapter.layer_ranks."encoder.0.*"=16'])
    assert cfg.adapter.layer_ranks == {"encoder.0.*": 16}


def test_includes_self_last_by_default(tmp_path):
    write(tmp_path / "base.yaml", {"adapter": {"rank": 2, "alpha": 4}})
    f = write(tmp_path / "run.yaml", {"defaults": ["base"], "adapter": {"rank": 16}})
    cfg = load_config(f)
    assert (cfg.adapter.rank, cfg.adapter.alpha) == (16, 4)


def test_includes_self_first_lets_includes_win(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "base.yaml", {"adapter": {"rank": 2}})
    f = write(
        tmp_path / "run.yaml", {"defaults": ["_self_", "sub/base.yaml"], "adapter": {"rank": 16}}
    )
    assert load_config(f).adapter.rank == 2


def test_nested_includes_and_cycle(tmp_path):
    write(tmp_path / "a.yaml", {"defaults": ["b"], "adapter": {"rank": 3}})
    write(tmp_path / "b.yaml", {"defaults": ["a"]})
    with pytest.raises(ConfigError, match="include cycle"):
        load_config(tmp_path / "a.yaml")


def test_missing_include(tmp_path):
    f = write(tmp_path / "run.yaml", {"defaults": ["nope"]})
    with pytest.raises(ConfigError, match="included config 'nope' not found"):
        load_config(f)


def test_preset_applies_then_overrides_win():
    cfg = load_config(None, ["preset=gpu-8gb", "train.batch_size=3"])
    assert cfg.preset == "gpu-8gb"
    assert cfg.train.mixed_precision == "fp16" and cfg.train.batch_size == 3


def test_preset_auto_on_cpu():
    assert load_config(None, ["preset=auto"]).preset in {
        "cpu",
        "gpu-8gb",
        "gpu-12gb",
        "gpu-16gb",
        "gpu-24gb",
    }


def test_unknown_preset_suggests():
    with pytest.raises(
        ConfigError, match=r"preset=gpu-8g: unknown preset \(did you mean gpu-8gb\?\)"
    ):
        load_config(None, ["preset=gpu-8g"])


def test_unknown_key_did_you_mean():
    with pytest.raises(ConfigError) as exc:
        load_config(None, ["adapter.rnak=8"])
    assert (
        exc.value.one_line()
        == "config error: adapter.rnak: unknown key (did you mean adapter.rank?)"
    )


def test_unknown_section_did_you_mean():
    with pytest.raises(ConfigError, match=r"adaptr: unknown key \(did you mean adapter\?\)"):
        load_config(None, ["adaptr.rank=8"])


def test_bad_value_names_key_and_value():
    with pytest.raises(ConfigError, match=r"adapter.rank: .*integer.*'eight'"):
        load_config(None, ["adapter.rank=eight"])
    with pytest.raises(ConfigError, match=r"adapter.kind: Input should be 'lora' or 'lokr'"):
        load_config(None, ["adapter.kind=lorra"])
    with pytest.raises(
        ConfigError, match=r"adapter.rank: Input should be greater than or equal to 1"
    ):
        load_config(None, ["adapter.rank=0"])


def test_override_without_equals():
    with pytest.raises(ConfigError, match="override must look like key=value"):
        parse_override("adapter.rank")


def test_override_into_a_value():
    with pytest.raises(ConfigError, match="is a value, not a section"):
        load_config(None, ["adapter.rank=3", "adapter.rank.x=1"])


def test_bad_yaml_names_file_and_line(tmp_path):
    f = write(tmp_path / "bad.yaml", "adapter:\n  rank: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+"):
        load_config(f)


def test_non_mapping_yaml(tmp_path):
    f = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(f)


def test_missing_file():
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("does/not/exist.yaml")


def test_bundled_configs_validate():
    from audiolora.config import available_presets, configs_dir

    for path in sorted(configs_dir().rglob("*.yaml")):
        if path.parent.name == "presets":
            continue
        load_config(path)
    assert "cpu" in available_presets()


# --------------------------------------------------------------------------- family sections


def test_family_options_live_in_their_own_section(tmp_path):
    f = write(
        tmp_path / "run.yaml",
        {
            "model": {"family": "transcription", "name": "basic-pitch"},
            "transcription": {"stem": "bass"},
        },
    )
    cfg = load_config(f, ["transcription.min_note_ms=50"])
    assert cfg.transcription.stem == "bass" and cfg.transcription.min_note_ms == 50
    assert cfg.model.name == "basic-pitch"


def test_family_option_left_under_model_says_where_it_moved():
    with pytest.raises(ConfigError, match=r"write separation\.source_linkage"):
        load_config(None, ["model.source_linkage={kick: drums}"])
    with pytest.raises(ConfigError, match=r"renamed to model\.name"):
        load_config(None, ["model.base=htdemucs"])


def test_misspelled_family_key_names_the_nearest():
    with pytest.raises(
        ConfigError,
        match=r"generation\.cfg_dropot: unknown key \(did you mean generation\.cfg_dropout\?\)",
    ):
        load_config(None, ["model.family=generation", "generation.cfg_dropot=0.2"])
    with pytest.raises(ConfigError, match=r"did you mean separation\?"):
        load_config(None, ["separaton.loss=l1"])


def test_another_familys_section_is_refused():
    with pytest.raises(
        ConfigError, match=r"transcription\.stem: options of the transcription family"
    ):
        load_config(None, ["model.family=separation", "transcription.stem=bass"])


def test_dumped_config_has_only_the_active_section_and_reloads(tmp_path):
    from audiolora.config import dump_config

    cfg = load_config("configs/separation/techhouse_5stem.yaml")
    text = dump_config(cfg)
    data = yaml.safe_load(text)
    assert "separation" in data and "transcription" not in data and "generation" not in data
    again = load_config(write(tmp_path / "c.yaml", text))
    assert again == cfg
