"""Small things a newcomer meets on Classify and Transcribe, and in the window: an empty chart is a
hint, Stop playback only while playing, notifications over the page, plural forms, no console
bars from the GUI."""
import subprocess
import sys


def test_the_label_chart_is_a_hint_until_there_are_counts(qtbot, window):
    window.show_page("classify")
    chart = window.page("classify").file_tab.chart
    # the File tab need not be the current one: visibility within the chart
    assert chart.empty and chart.hint.isVisibleTo(chart) and not chart.plot.isVisibleTo(chart)
    chart.set_counts({"positive": 3, "negative": 1})
    assert not chart.empty and chart.plot.isVisibleTo(chart)
    chart.set_counts({})
    assert chart.empty


def test_stop_playback_is_enabled_only_while_playing(qtbot, window, monkeypatch):
    import core.transcribe
    from core.transcribe import Segment

    played, stopped = [], []
    monkeypatch.setattr(core.transcribe, "play", lambda audio, a, b: played.append((a, b)))
    monkeypatch.setattr(core.transcribe, "stop_playback", lambda: stopped.append(1))
    window.show_page("transcribe")
    panel = window.page("transcribe")
    button = panel.viewer.stop_play_button
    assert not button.isEnabled()
    panel.player.audio = ("a.wav", [0.0] * 16000)
    panel.player.play("a.wav", Segment(0.0, 0.2, "hi"))
    assert played and button.isEnabled()
    qtbot.waitUntil(lambda: not button.isEnabled(), timeout=3000)  # the segment ended
    panel.player.play("a.wav", Segment(0.0, 5.0, "longer"))
    assert button.isEnabled()
    button.click()
    assert stopped and not button.isEnabled()


def test_a_notification_overlays_the_page(qtbot, window):
    page = window.stack
    top = page.mapTo(window, page.rect().topLeft()).y()
    window.notify.show_error(RuntimeError("Something went wrong"))
    qtbot.wait(20)
    assert window.notify.isVisible()
    assert page.mapTo(window, page.rect().topLeft()).y() == top  # the page did not move down
    bar = window.notify.geometry()
    assert bar.top() == 0 and bar.height() > 10 and window.notify.width() == page.width()
    window.notify.dismiss()


def test_classified_counts_are_plural_aware(tiny_classifier_dir):
    from core.cancel import CancelToken
    from core.classify import load_classifier
    from core.events import Done

    clf = load_classifier(tiny_classifier_dir, name="tiny")
    for texts, words in ((["a good film"], "Classified 1 text in"),
                         (["a good film", "a bad film"], "Classified 2 texts in")):
        done = [ev for ev in clf.classify(texts, CancelToken()) if isinstance(ev, Done)][0]
        assert done.summary.startswith(words)


def test_the_gui_prints_no_progress_bars_on_stderr():
    code = ("from gui.app import make_app\n"
            "app = make_app()\n"
            "from tqdm.auto import tqdm\n"  # as a GGUF conversion does, inside a job
            "for _ in tqdm(range(5), desc='Converting and de-quantizing GGUF tensors...'): pass\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "GGUF" not in out.stderr and "%|" not in out.stderr


def test_the_loaded_line_says_the_scores_are_calibrated(tmp_path, tiny_classifier_dir):
    import shutil

    from core.classify import load_classifier
    from core.classify.calibration import Calibration, save_calibration
    from gui.panels.classify.panel import describe_classifier

    folder = tmp_path / "clf"
    shutil.copytree(tiny_classifier_dir, folder)
    assert "calibrated" not in describe_classifier(load_classifier(folder, name="tiny"))
    save_calibration(folder, Calibration(1.5, 0.052, 0.012, 400, "test"))
    line = describe_classifier(load_classifier(folder, name="tiny"))
    assert "scores calibrated: ECE 0.052 → 0.012" in line
