"""The options box: engine, model, language, task, beam size, word timestamps, VAD, prompt and
custom vocabulary; saved in the settings and turned into TranscribeOptions (whose defaults it
shows). Translate is disabled, with a tooltip, for English-only models."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
)

from core.models.registry import Format, ModelEntry, Task
from core.transcribe import (
    DEFAULT_MODELS,
    ENGLISH_MODELS,
    MAX_BEAM_SIZE,
    TranscribeOptions,
    english_only,
)

ENGINE_LABELS = {"faster-whisper": "faster-whisper (CTranslate2)",
                 "openai-whisper": "openai-whisper"}
TASK_LABELS = {"transcribe": "Transcribe", "translate": "Translate to English"}
ENGLISH_ONLY = "This model is English-only: pick a multilingual model (or Automatic) for other languages."
LANGUAGES = [("Detect", None), ("English", "en"), ("French", "fr"), ("German", "de"),
             ("Spanish", "es"), ("Italian", "it"), ("Portuguese", "pt"), ("Dutch", "nl"),
             ("Polish", "pl"), ("Russian", "ru"), ("Ukrainian", "uk"), ("Chinese", "zh"),
             ("Japanese", "ja"), ("Korean", "ko"), ("Arabic", "ar"), ("Hindi", "hi"),
             ("Turkish", "tr")]
OPENAI_NAMES = ("tiny.en", "base.en", "small.en", "medium.en", "tiny", "base", "small", "medium",
                "large-v3", "turbo")
DOWNLOAD = "  (download)"
AUTO = "Automatic"  # the model combo's first item: TranscribeOptions picks by language and task
NO_TRANSLATE = "English-only models cannot translate: pick a multilingual model (e.g. Whisper base)."


def _flag(value) -> bool:
    return value in (True, "true")


class OptionsBox(QGroupBox):
    def __init__(self, settings) -> None:
        super().__init__("Options")
        self.settings = settings
        self.model_entries: list[ModelEntry] = []
        defaults = TranscribeOptions()
        self.engine = QComboBox()
        for engine, label in ENGINE_LABELS.items():
            self.engine.addItem(label, engine)
        self.model = QComboBox()
        self.model.setMinimumWidth(200)
        self.language = QComboBox()
        for label, code in LANGUAGES:
            self.language.addItem(label, code)
        self.task = QComboBox()
        for task, label in TASK_LABELS.items():
            self.task.addItem(label, task)
        self.beam = QSpinBox(minimum=1, maximum=MAX_BEAM_SIZE, value=defaults.beam_size)
        self.words = QCheckBox("Word timestamps")
        self.vad = QCheckBox("Skip silence (VAD)")
        self.prompt = QLineEdit(placeholderText="Initial prompt: names, spellings, style…")
        self.hotwords = QLineEdit(placeholderText="Custom vocabulary: names and terms to favour "
                                                  "(faster-whisper)")
        form = QFormLayout(self)
        row1 = QHBoxLayout()
        row1.addWidget(self.engine)
        row1.addWidget(QLabel("Model"))
        row1.addWidget(self.model, 1)
        form.addRow("Engine", row1)
        row2 = QHBoxLayout()
        row2.addWidget(self.language)
        row2.addWidget(QLabel("Task"))
        row2.addWidget(self.task)
        row2.addWidget(QLabel("Beam size"))
        row2.addWidget(self.beam)
        row2.addWidget(self.words)
        row2.addWidget(self.vad)
        row2.addStretch(1)
        form.addRow("Language", row2)
        row3 = QHBoxLayout()
        row3.addWidget(self.prompt, 1)
        row3.addWidget(self.hotwords, 1)
        form.addRow("Prompt", row3)
        self.engine.currentIndexChanged.connect(self.fill_models)
        self.model.currentIndexChanged.connect(self._update_task)
        self.restore()
        self.fill_models()

    def restore(self) -> None:
        s, d = self.settings, TranscribeOptions()
        self.engine.setCurrentIndex(max(0, self.engine.findData(s.get("transcribe/engine",
                                                                       d.engine))))
        self.language.setCurrentIndex(max(0, self.language.findData(s.get("transcribe/language"))))
        self.beam.setValue(int(s.get("transcribe/beam", d.beam_size) or d.beam_size))
        self.words.setChecked(_flag(s.get("transcribe/words", d.word_timestamps)))
        self.vad.setChecked(_flag(s.get("transcribe/vad", d.vad_filter)))
        self.hotwords.setText(s.get("transcribe/hotwords", "") or "")

    def save(self) -> None:
        s = self.settings
        s.set("transcribe/engine", self.engine.currentData())
        s.set("transcribe/model", self.model.currentData() or self.model.currentText())
        s.set("transcribe/language", self.language.currentData() or "")
        s.set("transcribe/beam", self.beam.value())
        s.set("transcribe/words", "true" if self.words.isChecked() else "false")
        s.set("transcribe/vad", "true" if self.vad.isChecked() else "false")
        s.set("transcribe/hotwords", self.hotwords.text().strip())

    def set_models(self, entries: list[ModelEntry]) -> None:
        self.model_entries = [e for e in entries if e.task is Task.SPEECH_RECOGNITION]
        self.fill_models()

    def fill_models(self) -> None:
        engine = self.engine.currentData()
        saved = self.settings.get("transcribe/model", "")
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItem(f"{AUTO} ({DEFAULT_MODELS[engine]}; {ENGLISH_MODELS[engine]} for "
                           "English)", "")
        if engine == "faster-whisper":
            self.model.setEditable(False)
            entries = [e for e in self.model_entries if e.format is Format.CT2]
            for e in entries:
                self.model.addItem(e.name + ("" if e.load_path else DOWNLOAD), e.id)
        else:
            self.model.setEditable(True)
            for e in self.model_entries:
                if e.format is Format.WHISPER_PT and e.path:
                    self.model.addItem(e.name, e.path)
            for name in OPENAI_NAMES:
                self.model.addItem(f"{name}{DOWNLOAD}", name)
        idx = self.model.findData(saved)
        self.model.setCurrentIndex(max(0, idx))
        self.model.blockSignals(False)
        self._update_task()

    def current_model(self) -> str | None:
        """The model picked (an id, name or path), None for automatic."""
        model = self.model.currentData()
        if self.model.isEditable():
            typed = self.model.currentText().replace(DOWNLOAD.strip(), "").strip()
            if typed and self.model.findText(self.model.currentText()) < 0:
                model = typed
        return model or None

    def _update_task(self) -> None:
        """Translate is offered for multilingual models only."""
        model = self.current_model()
        english = english_only(model) or english_only(self.model.currentText().replace(
            DOWNLOAD, ""))
        item = self.task.model().item(self.task.findData("translate"))
        item.setEnabled(not english)
        item.setToolTip(NO_TRANSLATE if english else "")
        self.task.setToolTip(NO_TRANSLATE if english else "")
        if english and self.task.currentData() == "translate":
            self.task.setCurrentIndex(self.task.findData("transcribe"))
        # an English-only model hears English: neither Detect nor another language is offered
        for i in range(self.language.count()):
            lang = self.language.model().item(i)
            lang.setEnabled(not english or self.language.itemData(i) == "en")
        self.language.setToolTip(ENGLISH_ONLY if english else "")
        if english and self.language.currentData() != "en":
            self.language.setCurrentIndex(self.language.findData("en"))

    def options(self, device: str) -> TranscribeOptions:
        return TranscribeOptions(
            engine=self.engine.currentData(), model=self.current_model(),
            language=self.language.currentData(), task=self.task.currentData(),
            beam_size=self.beam.value(), word_timestamps=self.words.isChecked(),
            vad_filter=self.vad.isChecked(), initial_prompt=self.prompt.text().strip() or None,
            hotwords=self.hotwords.text().strip() or None, device=device)
