"""`main.py chat`: its defaults come from GenerationSettings, its device choices from core.device."""
import argparse
import dataclasses

from core.device import DevicePreference


def chat_parser():
    from core.cli import chat

    parser = argparse.ArgumentParser()
    chat.add_parser(parser.add_subparsers())
    return parser


def test_defaults_are_the_settings_defaults(monkeypatch):
    import core.chat

    @dataclasses.dataclass(frozen=True)
    class Other(core.chat.GenerationSettings):  # other defaults: the CLI must follow them
        temperature: float = 0.3
        top_p: float = 0.8
        top_k: int = 7
        repetition_penalty: float = 1.2
        max_new_tokens: int = 99

    for settings in (core.chat.GenerationSettings, Other):
        monkeypatch.setattr(core.chat, "GenerationSettings", settings)
        args = chat_parser().parse_args(["chat", "hi"])
        d = settings()
        assert (args.temperature, args.top_p, args.top_k, args.repetition_penalty,
                args.max_new_tokens, args.seed) == (
            d.temperature, d.top_p, d.top_k, d.repetition_penalty, d.max_new_tokens, d.seed)
        assert args.num_beams is None  # no beam search unless asked


def test_device_choices_are_the_device_preferences():
    parser = chat_parser()
    chat = parser._subparsers._group_actions[0].choices["chat"]
    [device] = [a for a in chat._actions if a.dest == "device"]
    assert list(device.choices) == [p.value for p in DevicePreference]
    assert device.default == DevicePreference.AUTO.value
