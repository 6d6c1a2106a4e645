"""Makes the README screenshots from the real window (run under Xvfb for real fonts):

    xvfb-run -a -s "-screen 0 1280x860x24" .venv/bin/python resources/screenshots/make.py chat
    xvfb-run -a -s "-screen 0 1280x860x24" .venv/bin/python resources/screenshots/make.py transcribe
    xvfb-run -a -s "-screen 0 1280x860x24" .venv/bin/python resources/screenshots/make.py finetune
    xvfb-run -a -s "-screen 0 1280x860x24" .venv/bin/python resources/screenshots/make.py classify

(the transcribe shot reads demo recordings from ../shared/eval/speech beside a development checkout)

It drives the app the way a user would (type, send, wait for the reply) and grabs the window.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QTimer  # noqa: E402

from core.paths import AppHome  # noqa: E402
from gui.app import make_app  # noqa: E402
from gui.window import MainWindow  # noqa: E402

OUT = Path(__file__).resolve().parent


def chat(win: MainWindow, done) -> None:
    panel = win.page("chat")
    win.show_page("chat")
    panel.new_chat()
    box = panel.settings_box
    box.decoding.setCurrentIndex(box.decoding.findData("greedy"))
    box.system.setPlainText("You are a helpful assistant.")
    box.seed.setValue(3)
    box.max_new.setValue(160)
    prompts = ["What is the capital of France?",
               "Give me three short tips for learning Python, as a Markdown list."]

    def next_prompt(_stats=None):
        if prompts:
            panel.send(prompts.pop(0))
        else:
            panel.reply_finished.disconnect(next_prompt)
            QTimer.singleShot(300, lambda: done("chat"))

    panel.reply_finished.connect(next_prompt)
    next_prompt()


def transcribe(win: MainWindow, done) -> None:
    speech = ROOT.parent / "shared" / "eval" / "speech"
    panel = win.page("transcribe")
    win.show_page("transcribe")
    panel.words.setChecked(False)
    panel.add_files([str(speech / "jfk.flac"), str(speech / "sonnet001.mp3"),
                     str(speech / "1089-134686-0000.flac")])

    def finished():
        panel.queue_idle.disconnect(finished)
        panel.queue.selectRow(1)
        QTimer.singleShot(300, lambda: done("transcribe"))

    panel.queue_idle.connect(finished)


def finetune(win: MainWindow, done) -> None:
    import tempfile

    from core.finetune import FinetuneConfig

    text = (ROOT.parent / "shared" / "eval" / "tiny_shakespeare.txt").read_text()[:60_000]
    data = Path(tempfile.mkdtemp()) / "shakespeare-slice.txt"
    data.write_text(text)
    panel = win.page("finetune")
    win.show_page("finetune")
    # a small GPT-2 trained from scratch keeps the picture quick to make on a CPU; pass
    # "finetune-smollm2" for the same run on the bundled SmolLM2 (several minutes on 2 cores)
    if "finetune-smollm2" in sys.argv:
        base, steps, lr = "smollm2-135m-instruct", 40, 1e-3
    else:
        from tests.tiny_models import tiny_gpt2

        base, steps, lr = str(tiny_gpt2(Path(tempfile.mkdtemp()) / "gpt2-small")), 120, 3e-3
    config = FinetuneConfig(task="causal-lm", base=base, data=(str(data),),
                            output=f"shakespeare-{int(time.time()) % 10000}",
                            method="full" if base != "smollm2-135m-instruct" else "lora",
                            max_steps=steps, batch_size=8, chunk_length=64, overlap=8,
                            learning_rate=lr, logging_steps=2, eval_steps=20, save_steps=40,
                            eval_split=0.05)

    def finished(_result):
        panel.run_finished.disconnect(finished)
        QTimer.singleShot(500, lambda: done("finetune"))

    panel.run_finished.connect(finished)
    panel.start(config)


def classify(win: MainWindow, done) -> None:
    """Two pictures: one text with its label bars, then a file's table and label counts (the
    first 400 sentences of ../shared/eval/sst2_dev.tsv, shown as a demo only)."""
    import tempfile

    rows = (ROOT.parent / "shared" / "eval" / "sst2_dev.tsv").read_text().splitlines()[:401]
    data = Path(tempfile.mkdtemp()) / "reviews.tsv"
    data.write_text("\n".join(rows) + "\n")
    panel = win.page("classify")
    win.show_page("classify")
    panel.select_model("sentiment-minilm")
    panel.input.setPlainText("The acting is superb and the story kept me hooked until the very "
                             "last scene, although the middle drags a little.")

    def text_done(_result):
        panel.text_finished.disconnect(text_done)
        QTimer.singleShot(300, lambda: (done("classify"), run_file()))

    def run_file():
        panel.tabs.setCurrentIndex(1)
        panel.file_opened.connect(file_read)
        panel.open_file(str(data))  # read in a worker

    def file_read(_table):
        panel.file_opened.disconnect(file_read)
        panel.batch_finished.connect(file_done)
        panel.classify_file()

    def file_done(_preds):
        panel.batch_finished.disconnect(file_done)
        panel.view.selectRow(2)
        QTimer.singleShot(300, lambda: done("classify-file"))

    panel.text_finished.connect(text_done)
    panel.classify_text()


SHOTS = {"classify": ["classify", "classify-file"]}  # what each name saves


def main() -> int:
    which = [w.replace("finetune-smollm2", "finetune") for w in sys.argv[1:]] or ["chat"]
    app = make_app()
    win = MainWindow(AppHome.default())
    win.resize(1100, 720)
    pending = [shot for name in which for shot in SHOTS.get(name, [name])]

    def done(name: str) -> None:
        win.grab().save(str(OUT / f"{name}.png"))
        print(f"saved {OUT / f'{name}.png'}")
        pending.remove(name)
        if not pending:
            win.close()

    def start():
        win.start_background()
        for name in which:
            {"chat": chat, "transcribe": transcribe, "finetune": finetune,
             "classify": classify}[name](win, done)

    win.first_painted.connect(lambda: QTimer.singleShot(0, start))
    win.closed.connect(app.quit)  # once every job has stopped
    win.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
