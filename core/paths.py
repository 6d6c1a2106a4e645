"""Where the app keeps its data: settings, converted and trained models, logs."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "LLM_WORKBENCH_HOME"
APP_NAME = "llm-workbench"


@dataclass(frozen=True)
class AppHome:
    root: Path

    @classmethod
    def default(cls) -> AppHome:
        override = os.environ.get(ENV_HOME)
        if override:
            return cls(Path(override).expanduser())
        from platformdirs import user_data_dir

        return cls(Path(user_data_dir(APP_NAME, appauthor=False)))

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def converted(self) -> Path:
        return self.models / "converted"

    @property
    def trained(self) -> Path:
        return self.models / "trained"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def user_models_file(self) -> Path:
        return self.root / "user_models.json"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.ini"

    def ensure(self) -> AppHome:
        for p in (self.root, self.converted, self.trained, self.logs):
            p.mkdir(parents=True, exist_ok=True)
        return self
