"""The system prompt and sampling settings of the current chat: a Precise / Balanced / Creative
row over the detailed settings, whose defaults come from the model in use."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.chat import BEAM_REFUSED, PRESETS, GenerationSettings, ModelDefaults, model_defaults

BEAM_TIP = BEAM_REFUSED + " This model runs on llama.cpp."
PRESET_TIPS = {
    "precise": "Greedy: the likeliest word each time. Best for facts and short answers.",
    "balanced": "The model's own defaults.",
    "creative": "Warmer and more varied than the defaults: for stories and ideas.",
}


class SettingsBox(QWidget):
    """System prompt and sampling settings of the current chat."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.system = QPlainTextEdit(placeholderText="System prompt (optional)")
        self.system.setFixedHeight(90)
        self.decoding = QComboBox()
        for key, label in (("sampling", "Sampling"), ("greedy", "Greedy"),
                           ("beam", "Beam search")):
            self.decoding.addItem(label, key)
        self.temperature = QDoubleSpinBox(minimum=0.0, maximum=2.0, singleStep=0.05, decimals=2)
        self.top_p = QDoubleSpinBox(minimum=0.01, maximum=1.0, singleStep=0.05, decimals=2)
        self.top_k = QSpinBox(minimum=0, maximum=1000)
        self.repetition = QDoubleSpinBox(minimum=0.5, maximum=2.0, singleStep=0.05, decimals=2)
        self.max_new = QSpinBox(minimum=1, maximum=32768, singleStep=64)
        self.seed = QSpinBox(minimum=-1, maximum=2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.beams = QSpinBox(minimum=2, maximum=16)
        # not a per-chat setting: it caps what the next model load reserves (the page keeps it)
        self.context_cap = QSpinBox(minimum=0, maximum=1 << 20, singleStep=1024)
        self.context_cap.setSpecialValueText("model's own")
        self.context_cap.setToolTip("Caps the context (tokens) a model is loaded with: less "
                                    "memory for long-context models. Applies when a model loads.")
        self.beam_note = QLabel("Beam search shows the reply when it is complete (no streaming).")
        self.beam_note.setWordWrap(True)
        self.beam_note.setObjectName("hint")
        self.defaults = model_defaults(None)
        self.presets = QButtonGroup(self)
        self.presets.setExclusive(False)  # custom settings check none of them
        self.preset_buttons: dict[str, QToolButton] = {}
        presets = QHBoxLayout()
        presets.setSpacing(4)
        for name in PRESETS:
            b = QToolButton(text=name.title(), checkable=True, toolTip=PRESET_TIPS[name])
            b.setObjectName(f"preset_{name}")
            b.clicked.connect(lambda _c=False, n=name: self.apply_preset(n))
            self.presets.addButton(b)
            self.preset_buttons[name] = b
            presets.addWidget(b, 1)
        self.defaults_note = QLabel()
        self.defaults_note.setObjectName("hint")
        self.defaults_note.setWordWrap(True)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        outer.addWidget(QLabel("System prompt"))
        outer.addWidget(self.system)
        outer.addWidget(QLabel("Sampling"))
        outer.addLayout(presets)
        outer.addWidget(self.defaults_note)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(form)
        outer.addStretch(1)
        form.addRow("Decoding", self.decoding)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("Top-k", self.top_k)
        form.addRow("Repetition penalty", self.repetition)
        form.addRow("Max new tokens", self.max_new)
        form.addRow("Seed", self.seed)
        form.addRow("Beams", self.beams)
        form.addRow(self.beam_note)
        form.addRow("Context cap", self.context_cap)
        self.set_values(self.defaults.settings, "")
        for w in (self.temperature, self.top_p, self.top_k, self.repetition, self.max_new,
                  self.seed, self.beams):
            w.valueChanged.connect(self.changed)
        for w in (self.temperature, self.top_p, self.top_k, self.repetition):
            w.valueChanged.connect(self._sync_preset)
        self.decoding.currentIndexChanged.connect(self._sync_enabled)
        self.decoding.currentIndexChanged.connect(self._sync_preset)
        self.decoding.currentIndexChanged.connect(self.changed)
        self.system.textChanged.connect(self.changed)

    # ---- defaults and presets ---------------------------------------------------------------
    def set_defaults(self, defaults: ModelDefaults, *, apply: bool) -> None:
        """The model in use's defaults: the presets follow them; ``apply`` also puts them in the
        settings (a new chat), keeping max tokens, the seed and a system prompt the user wrote
        (the model's own default system prompt replaces an empty one or the last default)."""
        previous = self.defaults.system_prompt
        self.defaults = defaults
        self.defaults_note.setText(f"Balanced: {defaults.source}.")
        if apply:
            if self.system.toPlainText() in ("", previous):
                self.system.setPlainText(defaults.system_prompt)
            self.apply_preset("balanced")
        self._sync_preset()

    def apply_preset(self, name: str) -> None:
        current = self.values()
        preset = self.defaults.preset(name)
        keep = {"max_new_tokens": current.max_new_tokens, "seed": current.seed,
                "num_beams": current.num_beams}
        self.set_values(GenerationSettings(**{**preset.to_dict(), **keep}),
                        self.system.toPlainText())
        self.changed.emit()

    def current_preset(self) -> str | None:
        return self.defaults.matching_preset(self.values())

    def _sync_preset(self) -> None:
        match = self.current_preset()
        for name, b in self.preset_buttons.items():
            b.setChecked(name == match)

    def _sync_enabled(self) -> None:
        mode = self.decoding.currentData()
        for w in (self.temperature, self.top_p, self.top_k, self.seed):
            w.setEnabled(mode == "sampling")
        self.beams.setEnabled(mode == "beam")
        self.beam_note.setVisible(mode == "beam")

    def set_beam_allowed(self, allowed: bool) -> None:
        """Beam search is a transformers feature: for a llama.cpp model the choice is disabled,
        with a tooltip saying why (a chat set to beam search falls back to greedy)."""
        idx = self.decoding.findData("beam")
        item = self.decoding.model().item(idx)
        if item.isEnabled() == allowed:
            return
        item.setEnabled(allowed)
        self.decoding.setItemData(idx, None if allowed else BEAM_TIP, Qt.ToolTipRole)
        self.decoding.setToolTip("" if allowed else BEAM_TIP)
        if not allowed and self.decoding.currentData() == "beam":
            self.decoding.setCurrentIndex(self.decoding.findData("greedy"))

    @property
    def beam_allowed(self) -> bool:
        return self.decoding.model().item(self.decoding.findData("beam")).isEnabled()

    def values(self) -> GenerationSettings:
        return GenerationSettings(
            decoding=self.decoding.currentData(), temperature=self.temperature.value(),
            top_p=self.top_p.value(), top_k=self.top_k.value(),
            repetition_penalty=self.repetition.value(), max_new_tokens=self.max_new.value(),
            seed=None if self.seed.value() < 0 else self.seed.value(), num_beams=self.beams.value())

    def set_values(self, s: GenerationSettings, system_prompt: str) -> None:
        self.blockSignals(True)
        widgets = (self.system, self.decoding, self.temperature, self.top_p, self.top_k,
                   self.repetition, self.max_new, self.seed, self.beams)
        for w in widgets:
            w.blockSignals(True)
        self.system.setPlainText(system_prompt)
        decoding = s.decoding if s.decoding != "beam" or self.beam_allowed else "greedy"
        self.decoding.setCurrentIndex(max(0, self.decoding.findData(decoding)))
        self.temperature.setValue(s.temperature)
        self.top_p.setValue(s.top_p)
        self.top_k.setValue(s.top_k)
        self.repetition.setValue(s.repetition_penalty)
        self.max_new.setValue(s.max_new_tokens)
        self.seed.setValue(-1 if s.seed is None else s.seed)
        self.beams.setValue(max(2, s.num_beams))
        for w in widgets:
            w.blockSignals(False)
        self.blockSignals(False)
        self._sync_enabled()
        self._sync_preset()

    def in_scroll_area(self) -> QScrollArea:
        """The box in a scroll area of the width the page gives it."""
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self)
        scroll.setFixedWidth(290)  # a running job never narrows it
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        return scroll
