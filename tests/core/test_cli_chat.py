"""`main.py chat`: its sampling defaults come from the model (core.chat.model_defaults), its device
choices from core.device."""
import argparse

from core.device import DevicePreference


def chat_parser():
    from core.cli import chat

    parser = argparse.ArgumentParser()
    chat.add_parser(parser.add_subparsers())
    return parser


def test_sampling_defaults_come_from_the_model(tmp_path):
    """No sampling option given: the CLI takes core.chat.model_defaults for the loaded model (the
    place the Chat panel reads too); what is given overrides it; --preset picks one."""
    import json

    from core.chat import GenerationSettings, model_defaults
    from core.cli.chat import settings_from

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "generation_config.json").write_text(json.dumps(
        {"do_sample": True, "temperature": 0.35, "top_p": 0.8, "top_k": 20}), encoding="utf-8")
    defaults = model_defaults(folder)
    args = chat_parser().parse_args(["chat", "hi"])
    assert (args.temperature, args.top_p, args.top_k, args.repetition_penalty) == (None,) * 4
    s = settings_from(args, defaults)
    assert (s.decoding, s.temperature, s.top_p, s.top_k) == ("sampling", 0.35, 0.8, 20)
    assert s == defaults.preset("balanced")
    assert s.max_new_tokens == GenerationSettings().max_new_tokens and s.seed is None
    s = settings_from(chat_parser().parse_args(["chat", "hi", "--temperature", "0.9"]), defaults)
    assert (s.temperature, s.top_p) == (0.9, 0.8)
    s = settings_from(chat_parser().parse_args(["chat", "hi", "--preset", "precise"]), defaults)
    assert s.decoding == "greedy"
    s = settings_from(chat_parser().parse_args(["chat", "hi", "--num-beams", "3"]), defaults)
    assert (s.decoding, s.num_beams) == ("beam", 3)
    args = chat_parser().parse_args(["chat", "hi"])
    assert args.num_beams is None  # no beam search unless asked


def test_device_choices_are_the_device_preferences():
    parser = chat_parser()
    chat = parser._subparsers._group_actions[0].choices["chat"]
    [device] = [a for a in chat._actions if a.dest == "device"]
    assert list(device.choices) == [p.value for p in DevicePreference]
    assert device.default == DevicePreference.AUTO.value
