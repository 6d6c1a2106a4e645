"""ModelSession (one page's loaded model), ModelBox and the one models_changed broadcast."""
import threading

from core.events import Done, Progress
from core.models.registry import ModelEntry


class FakeModel:
    def __init__(self, model_id):
        self.model_id = model_id
        self.closed = False

    def close(self):
        self.closed = True


def make_session(qtbot, window, gates=None):
    """Loads FakeModel(model_id); a load whose id has a gate waits for it (or for cancel)."""
    from gui.widgets.model_session import ModelSession

    made, gates = [], gates or {}

    def opener(model_id, device, cancel):
        gate = gates.get(model_id)
        while gate is not None and not gate.wait(0.01):
            pass  # a load that ignores cancel: what it delivers must still be closed
        if gate is None:
            yield Progress(f"Loading {model_id}", 1, 1)
        model = FakeModel(model_id)
        made.append(model)
        yield Done(result=model)

    session = ModelSession(window.ctx, opener)
    return session, made


def test_ensure_loads_once_then_reuses_the_model(qtbot, window):
    session, made = make_session(qtbot, window)
    got = []
    with qtbot.waitSignal(session.loaded, timeout=5000):
        session.ensure("a", got.append)
    assert session.model is made[0] and session.model_id == "a" and not session.busy
    session.ensure("a", got.append)  # loaded: at once, no second load
    assert got == [made[0], made[0]] and len(made) == 1


def test_a_newer_ensure_supersedes_a_pending_load(qtbot, window):
    slow = threading.Event()
    session, made = make_session(qtbot, window, gates={"slow": slow})
    got, loading = [], []
    session.loading.connect(loading.append)
    session.ensure("slow", lambda m: got.append(("slow", m)))
    assert session.busy and session.loading_id == "slow"
    session.ensure("fast", lambda m: got.append(("fast", m)))
    with qtbot.waitSignal(session.loaded, timeout=5000) as blocker:
        slow.set()  # the old load delivers its model after all: nobody wants it
    assert blocker.args[0].model_id == "fast" and session.model_id == "fast"
    assert loading == ["slow", "fast"]
    assert [(k, m.model_id) for k, m in got] == [("fast", "fast")]  # only the newest then
    stale = next(m for m in made if m.model_id == "slow")
    assert stale.closed and not session.model.closed


def test_release_closes_the_model_and_a_new_pick_replaces_it(qtbot, window):
    session, made = make_session(qtbot, window)
    with qtbot.waitSignal(session.loaded, timeout=5000):
        session.ensure("a")
    first = session.model
    with qtbot.waitSignal(session.loaded, timeout=5000):
        session.ensure("b")  # one model in memory: the old one is closed first
    assert first.closed and session.model.model_id == "b"
    with qtbot.waitSignal(session.released, timeout=1000):
        session.release()
    assert made[-1].closed and session.model is None and session.model_id is None


def test_a_failed_load_is_reported_once(qtbot, window):
    from core.errors import ModelUnavailable
    from gui.widgets.model_session import ModelSession

    def opener(model_id, device, cancel):
        raise ModelUnavailable("The model files are missing.")
        yield

    session = ModelSession(window.ctx, opener)
    called = []
    with qtbot.waitSignal(session.failed, timeout=5000):
        session.ensure("x", called.append)
    qtbot.waitUntil(lambda: not session.busy, timeout=5000)
    assert not called and session.model is None
    assert window.notify.kind == "error" and "missing" in window.notify.text.text()


def _entry(model_id, name, task):
    from core.models.registry import Format, Source

    return ModelEntry(model_id, name, task, Format.HF, Source.USER, "/nowhere")


def test_models_changed_reaches_every_page(qtbot, window):
    """One rescan (what a finished run or a merge triggers) updates Chat and Classify alike."""
    from core.models.registry import Task

    chat, classify = window.page("chat"), window.page("classify")
    extra = [_entry("user:my-chat", "My chat model", Task.TEXT_GENERATION),
             _entry("user:my-labels", "My labeller", Task.TEXT_CLASSIFICATION)]
    reg = window.ctx.registry
    real = reg.entries
    reg.entries = lambda task=None: real(task) + extra  # as if a run had just finished
    try:
        with qtbot.waitSignal(window.ctx.models.changed, timeout=30_000):
            window.ctx.models_changed()
    finally:
        del reg.entries
    chat_ids = [chat.model_box.combo.itemData(i) for i in range(chat.model_box.combo.count())]
    cls_ids = [classify.model_box.combo.itemData(i)
               for i in range(classify.model_box.combo.count())]
    assert "user:my-chat" in chat_ids and "user:my-labels" not in chat_ids
    assert "user:my-labels" in cls_ids and "user:my-chat" not in cls_ids
    models = window.page("models")
    assert {"My chat model", "My labeller"} <= {e.name for e in models.entries}


def test_registry_problems_are_shown_once(qtbot, window):
    reg = window.ctx.registry
    reg.problems = ["user_models.json could not be read: it was kept as user_models.json.bad."]
    with qtbot.waitSignal(window.ctx.models.changed, timeout=30_000):
        window.ctx.models.refresh()
    assert window.notify.isVisible() and "user_models.json.bad" in window.notify.text.text()
    window.notify.dismiss()
    with qtbot.waitSignal(window.ctx.models.changed, timeout=30_000):
        window.ctx.models.refresh()
    assert not window.notify.isVisible()


def test_options_reach_the_opener_and_a_change_loads_again(qtbot, window):
    """Transcribe's shape: a model plus engine options; new options mean a new load."""
    from gui.widgets.model_session import ModelSession

    calls = []

    def opener(model_id, device, cancel, options=None):
        calls.append((model_id, options))
        yield Done(result=FakeModel(model_id))

    session = ModelSession(window.ctx, opener)
    with qtbot.waitSignal(session.loaded, timeout=5000):
        session.ensure("whisper", options=("faster", "int8"))
    first = session.model
    session.ensure("whisper", options=("faster", "int8"))  # the same: reused
    with qtbot.waitSignal(session.loaded, timeout=5000):
        session.ensure("whisper", options=("openai", None))
    assert calls == [("whisper", ("faster", "int8")), ("whisper", ("openai", None))]
    assert first.closed and session.options == ("openai", None)
