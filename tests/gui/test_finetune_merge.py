"""Fine-tune page: Merge LoRA on a real finished run (a tiny random GPT-2 trained for two steps)."""
from tests.gui.test_finetune_panel import make_panel
from tests.tiny_models import CORPUS


def train_tiny_lora(home, base, data, output):
    from core.cancel import CancelToken
    from core.events import Done
    from core.finetune import FinetuneConfig, train
    from core.models.registry import Registry

    config = FinetuneConfig(task="causal-lm", base=str(base), data=(str(data),), output=output,
                            method="lora", max_steps=2, batch_size=4, chunk_length=32, overlap=0,
                            eval_split=0, save_steps=100, logging_steps=1, device="cpu")
    events = list(train(config, CancelToken(), home=home,
                        registry=Registry(home, scan_hf_cache=False)))
    assert isinstance(events[-1], Done) and not events[-1].result.stopped
    return events[-1].result


def test_merge_lora_of_a_finished_run_publishes_a_merged_model(qtbot, window, tiny_gpt2_dir,
                                                               tmp_path):
    home = window.ctx.home
    data = tmp_path / "corpus.txt"
    data.write_text("\n".join(CORPUS), encoding="utf-8")
    result = train_tiny_lora(home, tiny_gpt2_dir, data, "tiny-lora")
    assert (home.trained / "tiny-lora" / "adapter_config.json").is_file()

    panel = make_panel(qtbot, window)
    qtbot.waitUntil(lambda: panel.history.count() == 1, timeout=30_000)
    panel.history.setCurrentRow(0)
    assert panel.selected_run().path != result.path  # the run folder is not the model folder
    assert panel.merge_button.isEnabled()
    errors = []
    panel.merge_button.click()
    job = panel.merge_job
    assert job is not None and not panel.merge_button.isEnabled()
    job.failed.connect(errors.append)
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    assert errors == []
    merged = home.trained / "tiny-lora-merged"
    assert (merged / "model.safetensors").is_file()
    assert not (merged / "adapter_config.json").exists()
    assert panel.merge_job is None
