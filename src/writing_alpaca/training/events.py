"""TensorBoard event files of a training run's logging directory (``results/logs/<system>/``):
their names, the scalars every trainer logs, and :func:`read_scalars`, which the training
curves (``writing-alpaca render training``) are drawn from.

Only ``tensorboard`` is imported (inside :func:`read_scalars`): the render environment reads the
files without torch or transformers.  The writers are :mod:`.tracking`'s.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import WritingAlpacaError

#: TensorBoard's event file names start so (``events.out.tfevents.<time>.<host>.<pid>.<n>``)
EVENT_FILE_PREFIX = "events.out.tfevents."
#: the scalars every trainer logs at its logging steps (the Hugging Face trainers as ``train/<key>``)
LOSS = "train/loss"
LEARNING_RATE = "train/learning_rate"
#: GECToR's encoder (0 during its cold steps, when only the tag heads train at ``LEARNING_RATE``)
ENCODER_LEARNING_RATE = "train/encoder_learning_rate"


def event_files(directory: str | Path) -> list[Path]:
    """The event files directly in ``directory`` (none if it does not exist)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith(EVENT_FILE_PREFIX) and p.is_file())


def read_scalars(directory: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of a logging directory, ``{tag: [(step, value), ...]}`` in step order.

    The event files are read in the order they were started (their first event's time); a
    later file (a resumed attempt) replaces the earlier files' points from its own first step
    on, as TensorBoard purges them.  A directory without event files is an error."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    directory = Path(directory)
    files = event_files(directory)
    if not files:
        raise WritingAlpacaError(
            f"{directory}: no TensorBoard event files (was the system trained with tensorboard in training.report_to?)"
        )
    runs = []
    for path in files:
        events = EventAccumulator(str(path), size_guidance={"scalars": 0})  # 0: every point
        events.Reload()
        series = {tag: [(e.step, float(e.value)) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
        steps = [step for points in series.values() for step, _ in points]
        if steps:
            runs.append((events.FirstEventTimestamp(), path.name, min(steps), series))
    merged: dict[str, list[tuple[int, float]]] = {}
    for _, _, first, series in sorted(runs, key=lambda run: run[:2]):
        merged = {tag: [p for p in points if p[0] < first] for tag, points in merged.items()}
        for tag, points in series.items():
            merged.setdefault(tag, []).extend(points)
    return {tag: sorted(points) for tag, points in merged.items() if points}
