"""Pages share loaded models through ctx.model_cache; the status bar's indicator lists them and
unloads them; idle models leave memory."""
from core.events import Done
from core.models.cache import CacheSettings


class FakeModel:
    size_bytes = 300 * 2**20

    def __init__(self, model_id):
        self.model_id = model_id
        self.closed = False

    def close(self):
        self.closed = True


def sessions(window, n=2):
    from gui.widgets.model_session import ModelSession

    made = []

    def opener(model_id, device, cancel):
        model = FakeModel(model_id)
        made.append(model)
        yield Done(result=model)

    return [ModelSession(window.ctx, opener, kind="fake-chat") for _ in range(n)], made


def indicator(window):
    from gui.widgets.loaded_models import LoadedModels

    return window.findChild(LoadedModels, "loadedModels")


def test_the_same_model_on_two_pages_is_loaded_once(qtbot, window):
    (a, b), made = sessions(window)
    with qtbot.waitSignal(a.loaded, timeout=5000):
        a.ensure("m", label="Model M")
    got = []
    b.ensure("m", got.append)  # already in the cache: at once, no second load
    assert got == [a.model] and b.model is a.model and len(made) == 1
    [item] = window.ctx.model_cache.loaded()
    assert item.holders == 2 and item.name == "Model M"
    a.release()
    assert not made[0].closed  # the other page still uses it
    b.release()
    assert made[0].closed and window.ctx.model_cache.loaded() == []


def test_the_indicator_lists_and_unloads(qtbot, window):
    (a, b), made = sessions(window)
    ind = indicator(window)
    assert ind is not None and ind.text() == "No model loaded"
    with qtbot.waitSignal(a.loaded, timeout=5000):
        a.ensure("m", label="Model M")
    b.ensure("m")
    qtbot.waitUntil(lambda: "Model M" in ind.text(), timeout=2000)
    assert "300 MB" in ind.text()
    ind.refresh()
    [(text, action)] = ind.menu_actions()
    assert text.startswith("Unload Model M (300 MB")
    with qtbot.waitSignals([a.released, b.released], timeout=2000):
        action.trigger()
    assert made[0].closed and a.model is None and b.model is None
    assert ind.text() == "No model loaded"
    with qtbot.waitSignal(a.loaded, timeout=5000):
        a.ensure("m")  # the next use loads it again
    assert len(made) == 2


def test_an_idle_model_is_unloaded_by_the_indicator_timer(qtbot, window):
    (a,), made = sessions(window, 1)
    cache = window.ctx.model_cache
    cache.set_settings(CacheSettings(budget_bytes=cache.settings.budget_bytes, idle_s=0.2))
    indicator(window).timer.setInterval(50)
    with qtbot.waitSignal(a.loaded, timeout=5000):
        a.ensure("m")
    with qtbot.waitSignal(a.released, timeout=5000):
        pass
    assert made[0].closed and cache.loaded() == []


def test_past_the_budget_another_page_lets_go_of_its_model(qtbot, window):
    (a, b), made = sessions(window)
    cache = window.ctx.model_cache
    cache.set_settings(CacheSettings(budget_bytes=400 * 2**20, idle_s=0))
    with qtbot.waitSignal(a.loaded, timeout=5000):
        a.ensure("m1")
    with qtbot.waitSignal(a.released, timeout=5000):
        b.ensure("m2")  # 600 MB > 400 MB: the older one goes
    assert made[0].closed and not made[1].closed and a.model is None
    assert [x.key[1] for x in cache.loaded()] == ["m2"]


def test_cache_settings_come_from_the_settings(window):
    from gui.settings import cache_settings

    s = window.ctx.settings
    s.set("models/budget_mb", 512)
    s.set("models/idle_minutes", 2)
    assert cache_settings(s) == CacheSettings(budget_bytes=512 * 2**20, idle_s=120)
    s.set("models/budget_mb", "lots")  # unreadable: the defaults
    assert cache_settings(s) == CacheSettings()
