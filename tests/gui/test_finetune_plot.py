"""The loss curve: whole steps on its axis, every point kept, a smoothed line that does not lag,
eval points inside the plot, a hint while empty, and a resumed run's whole history."""


def make_plot(qtbot):
    from gui.panels.finetune import LossPlot

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    return plot


def test_the_step_axis_has_whole_numbers_only(qtbot):
    plot = make_plot(qtbot)
    axis = plot.plot.getAxis("bottom")
    for lo, hi in ((0.6, 1.4), (0, 3), (0, 7.5), (0, 250)):
        ticks = [v for _spacing, values in axis.tickValues(lo, hi, 500) for v in values]
        assert ticks and all(float(v).is_integer() for v in ticks), (lo, hi, ticks)
    assert axis.tickStrings([1.0, 2.0], 1, 1) == ["1", "2"]


def test_points_hint_eval_inside_and_resume_history(qtbot):
    plot = make_plot(qtbot)
    assert plot.empty and plot.stack.currentIndex() == 0  # the hint stands in for the chart
    plot.add("eval", 0, 5.0)
    for step in range(1, 21):
        plot.add("train", step, 5.0 - step * 0.1)
    plot.add("eval", 20, 3.0)
    assert plot.stack.currentIndex() == 1 and plot.points["train"][0] == list(range(1, 21))
    smoothed = plot.train.getData()[1]
    assert len(smoothed) == 20 and abs(smoothed[10] - plot.points["train"][1][10]) < 1e-9
    qtbot.wait(50)
    (_x0, _x1), (y0, y1) = plot.plot.getViewBox().viewRange()
    margin = (y1 - y0) * 0.03
    assert y0 + margin < 3.0 and y1 - margin > 5.0  # the eval points are inside, not on an edge
    # a resumed run goes on from step 12: the earlier curve up to 11 stays, the rest is replaced
    plot.add("train", 12, 9.9)
    assert plot.points["train"][0] == list(range(1, 13)) and plot.points["train"][1][-1] == 9.9


def test_smoothing_follows_a_falling_loss_without_lag():
    from gui.panels.finetune.plot import smooth

    falling = [10 - 0.1 * i for i in range(100)]
    assert max(abs(a - b) for a, b in zip(smooth(falling), falling)) < 1e-9
    noisy = [1.0 + (0.5 if i % 2 else -0.5) for i in range(100)]
    assert max(abs(v - 1.0) for v in smooth(noisy)[10:-10]) < 0.1
    assert smooth([3.0, 2.0, 1.0]) == [3.0, 2.0, 1.0]
