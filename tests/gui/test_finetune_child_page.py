"""The Fine-tune page's own trainer runs the run in a child process (core.finetune.train_in_child)
and the model it publishes reaches every page's model list."""
import json
import os

from core.finetune import FinetuneConfig

TEXT = ("the quick brown fox jumps over the lazy dog. a good film with a great story. "
        "hello world, this is a tiny model for tests. ") * 60


def test_the_page_trains_in_a_child_process_and_lists_the_model(qtbot, window, tiny_gpt2_dir,
                                                                 tmp_path):
    data = tmp_path / "text.txt"
    data.write_text(TEXT, encoding="utf-8")
    panel = window.page("finetune")
    assert panel.trainer is None  # the page's default: the child process
    config = FinetuneConfig(task="causal-lm", base=str(tiny_gpt2_dir), data=(str(data),),
                            output="page-kid", method="full", max_steps=4, batch_size=4,
                            chunk_length=64, overlap=8, save_steps=100, device="cpu")
    with qtbot.waitSignal(window.ctx.models.changed, timeout=300_000,
                          check_params_cb=lambda entries: any(e.id == "app:page-kid"
                                                              for e in entries)):
        panel.start(config)
    run = json.loads((window.ctx.home.root / "runs" / "page-kid" / "run.json").read_text())
    assert run["status"] == "done" and run["pid"] != os.getpid()
