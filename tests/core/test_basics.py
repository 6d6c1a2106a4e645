import threading

import pytest

from core.cancel import CancelToken
from core.device import DevicePreference, choose_device
from core.errors import BadInput, Cancelled, DeviceUnavailable, describe
from core.events import Progress


def test_cancel_token_across_threads():
    token = CancelToken()
    threading.Timer(0.05, token.cancel).start()
    assert token.wait(2.0)
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_progress_fraction():
    assert Progress("x", 5, 10).fraction == 0.5
    assert Progress("x", 5, None).fraction is None
    assert Progress("x", 12, 10).fraction == 1.0


def test_describe_maps_errors_to_sentences():
    assert describe(BadInput("Empty file.", hint="Pick another."))[1] == "Empty file. Pick another."
    assert describe(MemoryError())[0] == "Out of memory"
    title, text = describe(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert title == "Out of memory" and "smaller model" in text


def test_device_choice_reason():
    import torch

    info = choose_device(DevicePreference.AUTO)
    if torch.cuda.is_available():
        assert info.kind == "cuda" and info.reason.startswith("CUDA")
    else:
        assert info.kind == "cpu" and info.reason.startswith("CPU: no CUDA device found")
        assert info.label.startswith("CPU · ") and "thread" in info.label
        with pytest.raises(DeviceUnavailable, match="no CUDA device"):
            choose_device("cuda")
    assert choose_device("cpu").reason == "CPU: chosen in settings"
    with pytest.raises(DeviceUnavailable, match="Unknown device"):
        choose_device("tpu")


def test_device_choices_are_the_preferences_choose_device_takes():
    import argparse

    from core.cli import add_device_option
    from core.device import DEFAULT_DEVICE, DEVICE_CHOICES

    assert DEFAULT_DEVICE in DEVICE_CHOICES
    for choice in DEVICE_CHOICES:  # each is known (cuda may be unavailable here, never unknown)
        try:
            choose_device(choice)
        except DeviceUnavailable as exc:
            assert "Unknown device" not in exc.message
    parser = argparse.ArgumentParser()
    add_device_option(parser)
    assert parser.parse_args([]).device == DEFAULT_DEVICE
    assert parser.parse_args(["--device", "cpu"]).device == "cpu"
    with pytest.raises(SystemExit):
        parser.parse_args(["--device", "tpu"])
