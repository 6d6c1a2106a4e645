"""Fine-tune page as one state machine: a scripted trainer (the test hands it each event) drives the
page through preparing, running, stopping, done, failed and cancelled, and a restart with runs in
the history; in each state the header, the buttons and the list must agree."""
import queue
import time

import pytest

from tests.gui.test_finetune_panel import make_panel

BUTTONS = ("new", "resume", "script", "merge", "gguf", "try", "cancel")


class ScriptedTrainer:
    """A trainer whose events the test sends one by one (``send``); ``"until-cancel"`` makes it
    wait for Cancel and then end with a stopped result, as core.finetune.train does."""

    def __init__(self):
        self.items = queue.Queue()
        self.calls = []

    def send(self, *items):
        for item in items:
            self.items.put(item)

    def __call__(self, config, cancel, home=None, registry=None, resume=False):
        from core.events import Done
        from core.finetune import RunResult

        self.calls.append((config.output, resume))
        while True:
            try:
                item = self.items.get(timeout=0.02)
            except queue.Empty:
                continue
            if item == "until-cancel":
                while not cancel.wait(0.02):
                    pass
                yield Done(result=RunResult(config.output, "", {"global_step": 4}, "", True,
                                            f"/runs/{config.output}/checkpoints/checkpoint-4"))
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, Done):
                return


def info(name, status, *, started, task="causal-lm", method="lora", metrics=None,
         checkpoint=None, model_path=None, losses=(), error=""):
    from core.finetune import RunInfo

    return RunInfo(name, status, {"task": task, "method": method, "base": "tiny",
                                  "output": name, "data": ["/d.txt"]},
                   dict(metrics or {}), list(losses), f"/runs/{name}", started,
                   None if status == "running" else started + 1, error, model_path, checkpoint)


def buttons(panel):
    return {name: getattr(panel, f"{name}_button").isEnabled() for name in BUTTONS}


def rows(panel):
    return [panel.history.item(i).text() for i in range(panel.history.count())]


def selected(panel):
    item = panel.history.currentItem()
    return item.text().split("\n")[0] if item else None


@pytest.fixture()
def disk(monkeypatch):
    """The runs list_runs reports (newest first); the test changes it as runs would on disk."""
    import core.finetune

    runs = []
    monkeypatch.setattr(core.finetune, "list_runs", lambda home=None: list(runs))
    return runs


def wait_rows(qtbot, panel, n):
    qtbot.waitUntil(lambda: panel.history.count() == n, timeout=15_000)


def config_for(tmp_path, name):
    from core.finetune import FinetuneConfig

    data = tmp_path / "d.txt"
    data.write_text("hello " * 100)
    return FinetuneConfig(task="causal-lm", base="tiny", data=(str(data),), output=name)


def test_an_empty_history_says_so(qtbot, window, disk):
    panel = make_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.state.loaded, timeout=15_000)
    assert panel.run_title.text() == "No run yet: start one with New run…"
    assert buttons(panel) == {"new": True, "resume": False, "script": False, "merge": False,
                              "gguf": False, "try": False, "cancel": False}
    assert panel.plot.stack.currentIndex() == 0  # the hint, not an empty chart


def test_every_state_of_a_run_drives_the_header_buttons_and_list(qtbot, window, disk, tmp_path):
    from core.errors import BadInput
    from core.events import Done, Progress
    from core.finetune import LossPoint, RunResult, TrainProgress

    now = time.time()
    disk[:] = [info("half", "cancelled", started=now - 50, checkpoint="/runs/half/ckpt-4",
                    losses=[{"step": s, "loss": 3.0 - s / 10, "split": "train"}
                            for s in range(1, 5)]),
               info("old", "done", started=now - 100, model_path="/models/old",
                    metrics={"perplexity": 41.0, "base_perplexity": 65.2})]
    trainer = ScriptedTrainer()
    panel = make_panel(qtbot, window, trainer=trainer)
    panel.connect_try(lambda *a: None)

    # after a restart: the newest run is selected and the header says what it is
    wait_rows(qtbot, panel, 2)
    assert rows(panel) == ["half\ncancelled", "old\ndone · ppl 65.20 → 41.00"]
    assert selected(panel) == "half"
    assert panel.run_title.text().startswith("half · cancelled")
    assert buttons(panel) == {"new": True, "resume": True, "script": True, "merge": False,
                              "gguf": False, "try": False, "cancel": False}
    assert panel.plot.points["train"][0] == [1, 2, 3, 4]
    panel.history.setCurrentRow(1)
    assert panel.run_title.text().startswith("old · done")
    assert panel.metrics.text() == "Perplexity 65.2 → 41.0"
    assert buttons(panel) == {"new": True, "resume": False, "script": True, "merge": True,
                              "gguf": True, "try": True, "cancel": False}

    # preparing: the new run is listed first and selected; nothing acts on the old one
    panel.start(config_for(tmp_path, "fresh"))
    assert rows(panel)[0].startswith("fresh\npreparing") and selected(panel) == "fresh"
    assert panel.run_title.text().startswith("fresh · preparing")
    assert buttons(panel) == {"new": False, "resume": False, "script": True, "merge": False,
                              "gguf": False, "try": False, "cancel": True}
    assert panel.plot.stack.currentIndex() == 0  # no point yet: the hint
    trainer.send(Progress("Measuring the base model", 4, 5))
    qtbot.waitUntil(lambda: "Measuring the base model" in panel.progress.format(), timeout=5000)
    assert rows(panel)[0].startswith("fresh\npreparing · Measuring the base model")

    # running: the list row and the header follow each step
    trainer.send(LossPoint(0, 4.2, "eval"), TrainProgress(1, 10, 0.1, 1.0, 9.0, 8.0),
                 LossPoint(1, 4.0, "train", 1e-4))
    qtbot.waitUntil(lambda: panel.state.live.phase == "running", timeout=5000)
    qtbot.waitUntil(lambda: panel.plot.points["train"][0] == [1], timeout=5000)
    assert rows(panel)[0] == "fresh\nrunning · step 1/10"
    assert panel.run_title.text().startswith("fresh · running")
    assert panel.progress.format().startswith("step 1/10")
    assert panel.plot.points["eval"] == ([0], [4.2]) and panel.plot.stack.currentIndex() == 1
    assert buttons(panel)["cancel"] and not buttons(panel)["new"]
    panel.history.setCurrentRow(2)  # another run can be looked at meanwhile
    assert panel.run_title.text().startswith("old · done") and buttons(panel)["try"]
    assert not buttons(panel)["merge"] and not buttons(panel)["new"]
    panel.history.setCurrentRow(0)
    assert panel.plot.points["train"][0] == [1]  # the live curve again

    # done: header, buttons and list follow at once, before the history is read again
    result = RunResult("fresh", "/models/fresh", {"perplexity": 41.0, "base_perplexity": 65.2,
                                                   "global_step": 10, "max_steps": 10},
                       "app:fresh", False, None)
    with qtbot.waitSignal(panel.run_finished, timeout=10_000):
        trainer.send(TrainProgress(10, 10, 1.0, 10.0, 0.0, 8.0), Done(result=result))
    assert panel.run_title.text().startswith("fresh · done")
    assert rows(panel)[0] == "fresh\ndone · ppl 65.20 → 41.00" and selected(panel) == "fresh"
    assert panel.metrics.text() == "Perplexity 65.2 → 41.0"
    assert buttons(panel) == {"new": True, "resume": False, "script": True, "merge": True,
                              "gguf": True, "try": True, "cancel": False}
    disk.insert(0, info("fresh", "done", started=time.time(), model_path="/models/fresh",
                        metrics=result.metrics))
    panel.refresh_history()
    qtbot.waitUntil(lambda: panel.state.live is None, timeout=15_000)  # its record took over
    assert rows(panel)[0] == "fresh\ndone · ppl 65.20 → 41.00" and selected(panel) == "fresh"
    assert len(rows(panel)) == 3

    # a resume that is cancelled: stopping, then cancelled (not "resuming")
    panel.history.setCurrentRow(1)
    assert selected(panel) == "half" and buttons(panel)["resume"]
    trainer.send("until-cancel")
    panel.resume_button.click()
    qtbot.waitUntil(lambda: trainer.calls[-1] == ("half", True), timeout=5000)
    assert rows(panel)[0].startswith("half\npreparing") and len(rows(panel)) == 3
    assert panel.run_title.text().startswith("half · preparing (resumed)")
    assert panel.plot.points["train"][0] == [1, 2, 3, 4]  # the earlier curve is kept
    panel.cancel_button.click()
    assert panel.run_title.text().startswith("half · stopping")
    assert not buttons(panel)["cancel"] and not buttons(panel)["new"]
    with qtbot.waitSignal(panel.run_finished, timeout=10_000):
        pass
    assert panel.run_title.text().startswith("half · cancelled")
    assert rows(panel)[0] == "half\ncancelled"
    assert buttons(panel) == {"new": True, "resume": True, "script": True, "merge": False,
                              "gguf": False, "try": False, "cancel": False}

    # failed: the reason under the header; nothing to resume from
    trainer.send(BadInput("The data file is empty."))
    with qtbot.waitSignal(panel.run_finished, timeout=10_000):
        panel.start(config_for(tmp_path, "broken"))
    assert panel.run_title.text().startswith("broken · failed")
    assert rows(panel)[0] == "broken\nfailed" and selected(panel) == "broken"
    assert "The data file is empty." in panel.metrics.text()
    assert buttons(panel) == {"new": True, "resume": False, "script": True, "merge": False,
                              "gguf": False, "try": False, "cancel": False}

    # a restart with these runs on disk: the list and the header agree
    disk.insert(0, info("broken", "failed", started=time.time(), error="The data file is empty."))
    again = make_panel(qtbot, window)
    wait_rows(qtbot, again, 4)
    assert rows(again) == ["broken\nfailed", "fresh\ndone · ppl 65.20 → 41.00",
                           "half\ncancelled", "old\ndone · ppl 65.20 → 41.00"]
    assert selected(again) == "broken" and again.run_title.text().startswith("broken · failed")
    assert "The data file is empty." in again.metrics.text()


def test_try_it_opens_a_new_chat_named_after_the_run(qtbot, window, disk):
    disk[:] = [info("pirate-talk", "done", started=time.time(), model_path="/m/pirate-talk",
                    metrics={"perplexity": 12.0})]
    panel = window.page("finetune")
    window.show_page("finetune")
    panel.refresh_history()
    qtbot.waitUntil(lambda: panel.history.count() == 1 and panel.try_button.isEnabled(),
                    timeout=15_000)
    panel.try_button.click()
    assert window.current_page() == "chat"
    chat = window.page("chat")
    assert chat.conversation is not None and chat.conversation.title == "pirate-talk"
    assert chat.conversation.model_id == "app:pirate-talk"
    assert [c.title for c in chat.store.conversations()][0] == "pirate-talk"
