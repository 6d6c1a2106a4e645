"""Fine-tuning: tiny random GPT-2 runs for the mechanics (seconds), the MiniLM pack on SST-2 for
quality (slow). Every run gets its own app home."""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import pytest

from core.cancel import CancelToken
from core.chat import ChatRequest, GenerationSettings, Token
from core.errors import BadInput, OutOfMemory
from core.events import Done
from core.finetune import (
    FinetuneConfig,
    LossPoint,
    RunResult,
    TrainProgress,
    export_script,
    list_runs,
    merge_adapter,
    preview_data,
    train,
)
from core.models.registry import META_FILE, Registry
from core.paths import AppHome
from core.textfiles import read_text_file
from tests.conftest import load_engine

GREEDY = GenerationSettings(decoding="greedy", max_new_tokens=6)


def run_all(config, home, cancel=None, resume=False, on_event=None):
    cancel = cancel or CancelToken()
    events = []
    for ev in train(config, cancel, home=home, registry=Registry(home, scan_hf_cache=False),
                    resume=resume):
        events.append(ev)
        if on_event:
            on_event(ev, cancel)
    assert isinstance(events[-1], Done) and isinstance(events[-1].result, RunResult)
    return events, events[-1].result


def losses(events, split="train"):
    return [e for e in events if isinstance(e, LossPoint) and e.split == split]


def tiny_config(base, data, output, **kw):
    settings = dict(task="causal-lm", base=str(base), data=(str(data),), output=output,
                    method="full", max_steps=40, learning_rate=1e-3, batch_size=8,
                    chunk_length=128, overlap=16, save_steps=20, logging_steps=5, device="cpu")
    settings.update(kw)
    return FinetuneConfig(**settings)


def streams(folder) -> str:
    engine = load_engine(folder)
    try:
        events = list(engine.stream(ChatRequest(({"role": "user", "content": "the quick"},),
                                                settings=GREEDY), CancelToken()))
    finally:
        engine.close()
    tokens = [e for e in events if isinstance(e, Token)]
    assert isinstance(events[-1], Done) and events[-1].result.tokens > 0
    return "".join(t.text for t in tokens)


@pytest.fixture(scope="module")
def shakespeare(shared_eval, tmp_path_factory) -> Path:
    """A ~20 KB slice of tiny_shakespeare.txt (training data)."""
    text = (shared_eval / "tiny_shakespeare.txt").read_text(encoding="utf-8")
    path = tmp_path_factory.mktemp("data") / "shakespeare.txt"
    path.write_text(text[:20_000], encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def module_home(tmp_path_factory) -> AppHome:
    return AppHome(tmp_path_factory.mktemp("ft-home")).ensure()


@pytest.fixture(scope="module")
def full_run(tiny_gpt2_dir, shakespeare, module_home):
    """One full fine-tune of the tiny GPT-2, 40 steps (a few seconds)."""
    config = tiny_config(tiny_gpt2_dir, shakespeare, "shakes-full")
    return run_all(config, module_home)


# ---- training and publishing ---------------------------------------------------------------
def test_full_training_lowers_the_loss_and_reports_perplexity(full_run, module_home):
    events, result = full_run
    train_points = losses(events)
    assert len(train_points) >= 8
    first = sum(p.loss for p in train_points[:3]) / 3
    last = sum(p.loss for p in train_points[-3:]) / 3
    assert last < first - 0.3, (first, last)
    assert all(p.learning_rate is not None for p in train_points)
    progress = [e for e in events if isinstance(e, TrainProgress)]
    assert progress[-1].step == progress[-1].max_steps == 40
    assert progress[-1].samples_per_s and progress[-1].eta_s == 0
    assert not result.stopped and result.metrics["global_step"] == 40
    assert result.warnings == ()  # the loss fell: nothing to warn about
    ppl = result.metrics["perplexity"]
    assert math.isfinite(ppl) and ppl == pytest.approx(math.exp(result.metrics["eval_loss"]),
                                                       rel=1e-3)
    assert losses(events, "eval"), "the final evaluation is reported as an eval LossPoint"
    # published: in the registry at once, with workbench.json and run.json
    folder = Path(result.path)
    assert folder == module_home.trained / "shakes-full"
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["task"] == "text-generation" and meta["method"] == "full"
    assert meta["format"] == "hf-folder" and meta["base"].startswith("path:")
    assert (folder / "model.safetensors").is_file()
    assert json.loads((folder / "run.json").read_text())["status"] == "done"
    entry = Registry(module_home, scan_hf_cache=False).get("shakes-full")
    assert entry.id == result.entry_id == "app:shakes-full" and entry.path == str(folder)
    run = json.loads((module_home.root / "runs" / "shakes-full" / "run.json").read_text())
    assert run["status"] == "done" and len(run["data"][0]["sha256"]) == 64
    assert [p["step"] for p in run["losses"] if p["split"] == "train"] == \
        [p.step for p in train_points]


def test_full_and_lora_outputs_load_in_chat(full_run, tiny_gpt2_dir, shakespeare, module_home):
    assert streams(full_run[1].path)
    _events, lora = run_all(tiny_config(tiny_gpt2_dir, shakespeare, "shakes-lora", method="lora",
                                        max_steps=6), module_home)
    folder = Path(lora.path)
    adapter = json.loads((folder / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(Path(tiny_gpt2_dir).resolve())
    assert not (folder / "model.safetensors").exists()
    assert json.loads((folder / META_FILE).read_text())["method"] == "lora"
    assert streams(folder)
    # merged afterwards: a new trained model with full weights that chat loads as well
    merged = Path(merge_adapter(folder, home=module_home))
    assert merged.name == "shakes-lora-merged" and (merged / "model.safetensors").is_file()
    assert not (merged / "adapter_config.json").exists()
    assert streams(merged)
    assert {"app:shakes-lora", "app:shakes-lora-merged"} <= {
        e.id for e in Registry(module_home, scan_hf_cache=False).entries()}
    with pytest.raises(BadInput, match="already exists"):
        merge_adapter(folder, home=module_home)


def test_chat_data_learns_the_replies_only(tiny_chat_dir, tmp_path, home):
    from transformers import AutoTokenizer

    from core.finetune.examples import _chat_example

    tok = AutoTokenizer.from_pretrained(tiny_chat_dir)
    messages = [{"role": "user", "content": "hello world"},
                {"role": "assistant", "content": "the quick brown fox"}]
    ex = _chat_example(tok, messages, 256)
    learned = tok.decode([t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != -100])
    assert "the quick brown fox" in learned and "hello world" not in learned
    data = tmp_path / "chats.jsonl"
    data.write_text("\n".join(json.dumps({"messages": messages}) for _ in range(12)) + "\n")
    config = FinetuneConfig(task="chat", base=str(tiny_chat_dir), data=(str(data),),
                            output="chatty", max_steps=3, batch_size=4, device="cpu")
    preview = preview_data(config, tok)
    assert preview.kind == "chat" and preview.n_examples == 12 and preview.n_tokens > 0
    _events, result = run_all(config, home)
    assert (Path(result.path) / "adapter_config.json").is_file()
    assert streams(result.path) is not None


@pytest.mark.slow
def test_minilm_classifier_on_sst2_beats_chance_on_held_out_rows(shared_eval, tmp_path, home):
    """3,000 rows of sst2_train.tsv to train on, 500 other rows of it held out (never the dev
    set); LoRA on the MiniLM pack (a bare BertModel: the classifier head is new)."""
    lines = (shared_eval / "sst2_train.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    picked = random.Random(0).sample(range(len(rows)), 3500)
    data = tmp_path / "sst2_3000.tsv"
    data.write_text("\n".join([header] + [rows[i] for i in picked[:3000]]) + "\n",
                    encoding="utf-8")
    held_out = [rows[i].split("\t") for i in picked[3000:]]
    config = FinetuneConfig(task="classification", base="all-minilm-l6-v2", data=(str(data),),
                            output="sst2-minilm", method="lora", epochs=1, learning_rate=1e-3,
                            batch_size=16, max_length=64, save_steps=1000, logging_steps=20,
                            device="cpu")
    preview = preview_data(config)
    assert preview.label_counts.keys() == {"0", "1"} and preview.columns == ("text", "label")
    _events, result = run_all(config, home)  # ~1 min on 2 idle cores
    assert result.metrics["accuracy"] > 0.65 and 0 < result.metrics["f1_macro"] <= 1
    meta = json.loads((Path(result.path) / META_FILE).read_text())
    assert meta["task"] == "text-classification" and meta["labels"] == ["0", "1"]
    accuracy = held_out_accuracy(Path(result.path), held_out)
    assert accuracy > 0.65, accuracy


def held_out_accuracy(folder: Path, rows: list[list[str]]) -> float:
    """Load the published folder with transformers (and peft for an adapter); classify rows."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)
    adapter = folder / "adapter_config.json"
    if adapter.is_file():
        from peft import PeftModel

        base = json.loads(adapter.read_text())["base_model_name_or_path"]
        model = PeftModel.from_pretrained(
            AutoModelForSequenceClassification.from_pretrained(base, config=config), folder)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(folder)
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(rows), 100):
            batch = rows[i:i + 100]
            enc = tok([t for t, _ in batch], padding=True, truncation=True, max_length=64,
                      return_tensors="pt")
            preds = model(**enc).logits.argmax(-1).tolist()
            correct += sum(config.id2label[p] == gold for p, (_t, gold) in zip(preds, batch))
    return correct / len(rows)


# ---- cancel, resume, runs ----------------------------------------------------------------------
def test_cancel_then_resume_reaches_the_same_final_step(tiny_gpt2_dir, shakespeare, home):
    settings = dict(max_steps=30, save_steps=5, logging_steps=2)
    _events, whole = run_all(tiny_config(tiny_gpt2_dir, shakespeare, "whole", **settings), home)

    def cancel_at_12(ev, cancel):
        if isinstance(ev, TrainProgress) and ev.step >= 12:
            cancel.cancel()

    config = tiny_config(tiny_gpt2_dir, shakespeare, "interrupted", **settings)
    events, stopped = run_all(config, home, on_event=cancel_at_12)
    assert stopped.stopped and stopped.entry_id == "" and stopped.checkpoint
    stop_step = [e for e in events if isinstance(e, TrainProgress)][-1].step
    assert 12 <= stop_step < 30
    assert Path(stopped.checkpoint).name == f"checkpoint-{stop_step}"  # saved where it stopped
    assert not (home.trained / "interrupted").exists()  # nothing published
    assert list_runs(home)[0].status == "cancelled"

    events, resumed = run_all(config, home, resume=True)
    steps = [e.step for e in events if isinstance(e, TrainProgress)]
    assert steps[0] == stop_step and steps[-1] == 30 == whole.metrics["global_step"]
    state = json.loads((Path(resumed.checkpoint) / "trainer_state.json").read_text())
    assert state["global_step"] == state["max_steps"] == 30
    assert not resumed.stopped and (home.trained / "interrupted" / META_FILE).is_file()
    # same data order and RNG state from the checkpoint: the same model as the uninterrupted run
    assert resumed.metrics["eval_loss"] == pytest.approx(whole.metrics["eval_loss"], rel=1e-3)
    with pytest.raises(BadInput, match="nothing to resume"):
        list(train(config, CancelToken(), home=home, resume=True))


def test_closing_the_generator_stops_and_joins_the_training(tiny_gpt2_dir, shakespeare, home):
    import threading

    gen = train(tiny_config(tiny_gpt2_dir, shakespeare, "closed", max_steps=200, save_steps=500),
                CancelToken(), home=home, registry=Registry(home, scan_hf_cache=False))
    workers = []
    for ev in gen:
        workers = workers or [t for t in threading.enumerate() if t.name == "finetune closed"]
        if isinstance(ev, TrainProgress) and ev.step >= 2:
            break
    assert workers and not any(t.daemon for t in workers)  # never a daemon thread
    gen.close()  # the consumer goes away: the run stops, saves a checkpoint, and its thread ends
    assert not any(t.is_alive() for t in workers)
    run = list_runs(home)[0]
    assert run.name == "closed" and run.status == "cancelled" and run.checkpoint


def test_list_runs_shows_done_and_cancelled_runs_with_their_losses(tiny_gpt2_dir, shakespeare,
                                                                  home):
    run_all(tiny_config(tiny_gpt2_dir, shakespeare, "finished", max_steps=6, logging_steps=2),
            home)
    cancel = CancelToken()
    cancel_now = tiny_config(tiny_gpt2_dir, shakespeare, "stopped", max_steps=50, save_steps=100,
                             logging_steps=1)

    def stop_at_3(ev, token):
        if isinstance(ev, TrainProgress) and ev.step >= 3:
            token.cancel()

    run_all(cancel_now, home, cancel=cancel, on_event=stop_at_3)
    runs = {r.name: r for r in list_runs(home)}
    assert runs["finished"].status == "done" and runs["stopped"].status == "cancelled"
    assert [r.name for r in list_runs(home)] == ["stopped", "finished"]  # newest first
    assert runs["finished"].metrics["perplexity"] > 0 and runs["finished"].finished
    assert len([p for p in runs["finished"].losses if p["split"] == "train"]) >= 3
    assert runs["stopped"].losses and runs["stopped"].checkpoint  # saved on cancel
    assert runs["finished"].config["output"] == "finished"
    # a new run can reuse the name of a cancelled one; a finished one's name is taken
    with pytest.raises(BadInput, match="already exists"):
        list(train(tiny_config(tiny_gpt2_dir, shakespeare, "finished"), CancelToken(), home=home))


# ---- failures ----------------------------------------------------------------------------------
def test_out_of_memory_during_training_is_typed(tiny_gpt2_dir, shakespeare, home, monkeypatch):
    import torch
    from transformers import Trainer

    def oom(self, *a, **kw):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "training_step", oom)
    with pytest.raises(OutOfMemory, match="batch size"):
        run_all(tiny_config(tiny_gpt2_dir, shakespeare, "oom", max_steps=3), home)
    assert list_runs(home)[0].status == "failed"
    assert not (home.trained / "oom").exists()


def test_a_full_disk_is_a_clear_error_and_publishes_nothing(tiny_gpt2_dir, shakespeare, home,
                                                           monkeypatch):
    import errno

    from transformers import PreTrainedTokenizerBase

    def full(self, *a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PreTrainedTokenizerBase, "save_pretrained", full)
    with pytest.raises(BadInput, match="disk is full"):
        run_all(tiny_config(tiny_gpt2_dir, shakespeare, "nospace", max_steps=2, save_steps=100),
                home)
    assert not (home.trained / "nospace").exists()
    assert "app:nospace" not in {e.id for e in Registry(home, scan_hf_cache=False).entries()}
    assert not list((home.root / "runs" / "nospace").glob("*.partial"))
    assert list_runs(home)[0].status == "failed"


# ---- bad inputs -------------------------------------------------------------------------------
def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_empty_and_whitespace_files_are_refused(tmp_path):
    with pytest.raises(BadInput, match="'empty.txt' is empty"):
        read_text_file(write(tmp_path / "empty.txt", b""))
    with pytest.raises(BadInput, match="'blank.txt' holds only whitespace"):
        read_text_file(write(tmp_path / "blank.txt", " \n\t\n"))
    with pytest.raises(BadInput, match="does not exist"):
        read_text_file(tmp_path / "missing.txt")


def test_binary_files_are_refused(tmp_path):
    with pytest.raises(BadInput, match="'model.bin' is a binary file"):
        read_text_file(write(tmp_path / "model.bin", bytes(range(256)) * 8))
    config = FinetuneConfig(task="causal-lm", base="x", data=(str(tmp_path / "model.bin"),),
                            output="x")
    with pytest.raises(BadInput, match="binary"):
        preview_data(config)


def test_legacy_and_unicode_encodings_decode(tmp_path):
    legacy = "Café — “quoted” naïve".encode("cp1252")  # not valid UTF-8
    text, enc = read_text_file(write(tmp_path / "win.txt", legacy))
    assert text == "Café — “quoted” naïve" and enc == "cp1252"
    bom = "\ufeffhé".encode("utf-8")
    assert read_text_file(write(tmp_path / "bom.txt", bom)) == ("hé", "utf-8-sig")
    assert read_text_file(write(tmp_path / "u16.txt", "hé llo".encode("utf-16"))) == (
        "hé llo", "utf-16")
    assert read_text_file(write(tmp_path / "plain.txt", "héllo"))[1] == "utf-8"
    write(tmp_path / "win.txt", ("Café — “quoted” naïve. " * 4).encode("cp1252"))
    config = FinetuneConfig(task="causal-lm", base="x", data=(str(tmp_path / "win.txt"),),
                            output="x", chunk_length=8, overlap=0)
    assert preview_data(config).encoding == "cp1252"


def test_table_without_the_chosen_columns_lists_the_columns(tmp_path):
    data = write(tmp_path / "reviews.csv", "review_body,stars\ngood film,5\nbad film,1\n")
    config = FinetuneConfig(task="classification", base="x", data=(str(data),), output="x")
    with pytest.raises(BadInput, match="Columns found: 'review_body', 'stars'"):
        preview_data(config)
    chosen = FinetuneConfig(task="classification", base="x", data=(str(data),), output="x",
                            text_column="review_body", label_column="rating")
    with pytest.raises(BadInput, match="no label column 'rating'.*'review_body', 'stars'"):
        preview_data(chosen)
    ok = FinetuneConfig(task="classification", base="x", data=(str(data),), output="x",
                        text_column="review_body", label_column="stars")
    preview = preview_data(ok)
    assert preview.label_counts == {"1": 1, "5": 1} and preview.columns == ("review_body", "stars")


def test_a_table_preview_counts_rows_and_other_data_examples(tmp_path):
    """The preview of classification data is a "table" (never "classification"): its examples
    are rows, and a caller labels them by the preview's unit."""
    table = write(tmp_path / "t.tsv", "text\tlabel\ngood film\tpos\nbad film\tneg\n")
    preview = preview_data(FinetuneConfig(task="classification", base="x", data=(str(table),),
                                          output="x"))
    assert preview.kind == "table" and preview.unit == "rows" and preview.n_examples == 2
    text = write(tmp_path / "t.txt", "To be, or not to be. " * 40)
    preview = preview_data(FinetuneConfig(task="causal-lm", base="x", data=(str(text),),
                                          output="x", chunk_length=16, overlap=0))
    assert preview.kind == "text" and preview.unit == "examples"


def test_a_single_label_is_refused(tmp_path):
    data = write(tmp_path / "one.tsv", "text\tlabel\ngood\tpos\nfine\tpos\ngreat\tpos\n")
    config = FinetuneConfig(task="classification", base="x", data=(str(data),), output="x")
    with pytest.raises(BadInput, match="same label \\('pos'\\).*at least two labels"):
        preview_data(config)


def test_raw_text_shorter_than_one_chunk_is_refused(tmp_path, tiny_gpt2_dir):
    from transformers import AutoTokenizer

    data = write(tmp_path / "short.txt", "To be, or not to be.")
    config = FinetuneConfig(task="causal-lm", base="x", data=(str(data),), output="x",
                            chunk_length=64, overlap=8)
    with pytest.raises(BadInput, match="'short.txt' is too short.*one chunk of 64 tokens"):
        preview_data(config, AutoTokenizer.from_pretrained(tiny_gpt2_dir))
    with pytest.raises(BadInput, match="too short"):
        preview_data(config)  # without a tokenizer: the estimate says the same


def test_jsonl_without_messages_names_the_line(tmp_path):
    good = json.dumps({"messages": [{"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": "hello"}]})
    data = write(tmp_path / "chats.jsonl", f"{good}\n\n{json.dumps({'text': 'hi'})}\n")
    config = FinetuneConfig(task="chat", base="x", data=(str(data),), output="x")
    with pytest.raises(BadInput, match="Line 3 of 'chats.jsonl' has no \"messages\" list"):
        preview_data(config)
    write(data, f"{good}\nnot json\n")
    with pytest.raises(BadInput, match="Line 2 of 'chats.jsonl' is not valid JSON"):
        preview_data(config)
    write(data, f"{good}\n")
    assert preview_data(config).n_examples == 1


def test_an_output_name_already_taken_is_refused_before_heavy_work(full_run, module_home,
                                                                   shakespeare):
    config = tiny_config("no-such-model", shakespeare, "shakes-full")
    started = time.perf_counter()
    with pytest.raises(BadInput, match="'shakes-full' already exists"):
        next(train(config, CancelToken(), home=module_home))
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("change, message", [
    (dict(task="summarise"), "Unknown task"),
    (dict(method="qlora"), "Unknown method"),
    (dict(output="a/b"), "cannot be used as a model name"),
    (dict(output=""), "Give the fine-tuned model a name"),
    (dict(lora_r=0), "LoRA rank"),
    (dict(learning_rate=0), "learning rate"),
    (dict(batch_size=0), "Batch size"),
    (dict(eval_split=0.9), "eval split"),
    (dict(overlap=256), "Overlap must be"),
    (dict(max_steps=0), "Max steps"),
    (dict(method="full", merge_lora=True), "Merging applies to LoRA only"),
    (dict(data=("/no/such/file.txt",)), "does not exist"),
    (dict(device="tpu"), "Unknown device"),
])
def test_config_validation(shakespeare, change, message):
    settings = dict(task="causal-lm", base="b", data=(str(shakespeare),), output="ok")
    settings.update(change)
    with pytest.raises(BadInput, match=message):
        FinetuneConfig(**settings).validate()


def test_config_round_trips_through_a_dict(shakespeare):
    config = FinetuneConfig(task="chat", base="b", data=[str(shakespeare)], output="o",
                            target_modules=["q_proj", "v_proj"], eval_steps=10)
    assert config.data == (str(shakespeare),) and config.target_modules == ("q_proj", "v_proj")
    again = FinetuneConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config.validate()


# ---- export ------------------------------------------------------------------------------------
def test_export_script_writes_three_files_and_the_script_compiles(tiny_gpt2_dir, shakespeare,
                                                                  tmp_path):
    config = tiny_config(tiny_gpt2_dir, shakespeare, "exported", method="lora")
    paths = export_script(config, tmp_path / "export")
    assert [p.name for p in paths] == ["train.py", "accelerate_config.yaml", "launch.sh"]
    source = paths[0].read_text()
    compile(source, str(paths[0]), "exec")
    assert "'learning_rate': 0.001" in source and str(shakespeare.resolve()) in source
    assert "accelerate launch --config_file accelerate_config.yaml train.py" in paths[2].read_text()
    assert "distributed_type: MULTI_GPU" in paths[1].read_text()
    assert paths[2].stat().st_mode & 0o111
