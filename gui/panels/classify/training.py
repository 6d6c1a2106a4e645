"""The Classify page's "Use as training data…": the classified file's texts with their labels
(the user's corrections win) written as a ``text,label`` CSV under the app's ``training-data``
folder (core.classify.write_labelled_csv, in a job), then handed to the Fine-tune page
(gui.links.train_on) with the classifier that made the predictions as the base; the label chart
follows the corrections. A mixin of the page: it uses the page's ctx, table, results, chart and
buttons."""
from __future__ import annotations

from gui.jobs import Job


class TrainingRows:
    """Use as training data: on the File tab's results."""

    def _on_relabelled(self, before: str, after: str) -> None:
        """A corrected label: the chart counts the labels as they now stand."""
        self._counts[before] = self._counts.get(before, 0) - 1
        self._counts[after] = self._counts.get(after, 0) + 1
        self.chart.set_counts(self._counts)

    def can_train(self) -> bool:
        """A finished (or cancelled) file with at least one label to write."""
        return (self.table is not None and self.batch_job is None
                and any(p is not None for p in self.results.preds))

    def train_on_results(self) -> Job | None:
        """Write the labelled rows (only the corrected ones when the box is ticked), then ask
        the Fine-tune page to train on them. None when there is nothing to write yet."""
        from core.classify import write_labelled_csv

        if self.table is None or self.batch_job is not None:
            return None
        results = self.results
        texts, preds, corrected = list(results.texts), list(results.preds), dict(results.corrected)
        only = self.file_tab.corrected_only.isChecked()
        folder, stem = self.ctx.home.root / "training-data", self.table.path.stem
        base = results.model_id

        def done(written) -> None:
            from gui.links import TrainingData

            self.ctx.notify.show_info(written.line())
            self.ctx.links.train_on.emit(TrainingData("classification", written.path, base=base))

        return self.ctx.jobs.query(
            "Writing training data",
            lambda _cancel: write_labelled_csv(texts, preds, corrected, folder, stem, only),
            done, self.ctx.notify.show_error)
