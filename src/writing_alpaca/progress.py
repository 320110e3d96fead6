"""Progress of long loops: a bar on a terminal, a few plain log lines elsewhere.

Every long stage (download, tokenisation, decoding, scoring, bootstrap) reports through
:class:`Progress`::

    with Progress("decode conll14", total=len(records), unit="instances", log=log) as progress:
        for batch in batches:
            ...
            progress.update(len(batch))

* stderr is a terminal: a ``tqdm`` bar (left nowhere when done) and one summary log line;
* otherwise (SLURM logs, the Snakemake rules' ``logs/...`` files, which hold the stderr the CLI's
  logging writes to): one INFO line when work starts, then one line when **both** at least a
  ``1/steps`` share of the total (10 %) is done and ``every_s`` seconds (30 s) have passed since
  the last line (whichever is rarer: at most ``steps`` lines, at most one per ``every_s``), and in
  any case one at least every ``heartbeat_s`` seconds (10 min) of work, so that a slow stage is
  never silent for long; then one summary line.  A line names the stage and says
  ``done/total (percent), rate unit/s, elapsed, ETA``, e.g.
  ``decode conll14: 448/1312 instances (34%), 2.41 instances/s, elapsed 3m06s, ETA 5m59s``.

:meth:`Progress.update` adds to a counter and compares it with the next checkpoint (every 1 % of
the total, sooner when 1 % takes longer than ``every_s``); only then is the clock read.  Nothing is imported at module import time (tqdm only
when a bar is shown).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from typing import Any

LOG = logging.getLogger(__name__)

#: at most one log line per this many seconds (besides the first and the last) ...
EVERY_S = 30.0
#: ... and at most this many lines over the whole run (one per ``1/STEPS`` of the total) ...
STEPS = 10
#: ... but one line at least every this many seconds of work, whatever the share done.
HEARTBEAT_S = 600.0
#: the counter is compared with the clock every ``1/CHECKS`` of the total.
CHECKS = 100


def stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def format_seconds(seconds: float) -> str:
    """``12s``, ``3m05s``, ``2h07m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _amount(value: float, unit: str) -> str:
    if unit == "B":  # bytes, binary multiples
        for prefix in ("", "Ki", "Mi", "Gi", "Ti"):
            if abs(value) < 1024 or prefix == "Ti":
                return f"{value:.0f} B" if not prefix else f"{value:.1f} {prefix}B"
            value /= 1024
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _count(value: float, unit: str) -> str:
    """``12 instances``, ``3.4 MiB``."""
    return _amount(value, unit) if unit == "B" else f"{_amount(value, unit)} {unit}"


def _rate(per_second: float, unit: str) -> str:
    if unit == "B":
        return f"{_amount(per_second, 'B')}/s"
    digits = 0 if per_second >= 100 else 1 if per_second >= 10 else 2
    return f"{per_second:.{digits}f} {unit}/s"


class Progress:
    """Counts the work done by a loop and reports it (see the module doc).

    ``stage`` names the work in every line; ``total`` (``None``: unknown, then lines come every
    ``every_s`` seconds and carry no percentage or ETA); ``unit`` is what is counted (``"B"``:
    bytes, shown in KiB/MiB/...); ``log`` the logger the lines go to (the caller's module);
    ``tty`` forces (``True``) or forbids (``False``) the bar, default: whether stderr is a
    terminal; ``enabled=False`` only counts; ``announce=False`` leaves out the first line.
    ``every_s``, ``steps``, ``heartbeat_s`` default to :data:`EVERY_S`, :data:`STEPS`,
    :data:`HEARTBEAT_S`.  Reaching ``total`` ends the progress (its summary line); :meth:`close`
    ends it otherwise.
    """

    def __init__(
        self,
        stage: str,
        total: int | None = None,
        *,
        unit: str = "items",
        log: logging.Logger | None = None,
        every_s: float | None = None,
        steps: int | None = None,
        heartbeat_s: float | None = None,
        tty: bool | None = None,
        enabled: bool = True,
        announce: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stage = stage
        self.total = total if total is None else max(0, int(total))
        self.unit = unit
        self.log = log or LOG
        self.every_s = EVERY_S if every_s is None else every_s
        self.heartbeat_s = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        steps = STEPS if steps is None else steps
        self.n = 0
        self.closed = not enabled
        self._clock = clock
        self._bar: Any = None
        self._shown = 0  # what the bar has been told
        self._started = self._last_t = self._last_check = clock()
        self._last_n = 0
        self._step = max(1, math.ceil(self.total / max(1, steps))) if self.total else 1
        self._stride = max(1, self.total // CHECKS) if self.total else 1
        self._next = self._stride
        if not enabled:
            self._next = math.inf
            return
        if stderr_is_tty() if tty is None else tty:
            self._bar = _tqdm_bar(stage, self.total, unit)
        if self._bar is None and announce:
            todo = _count(self.total, unit) if self.total is not None else f"{unit}: total unknown"
            self.log.info("%s: started, %s", stage, todo)
        if self.total == 0:
            self.close()

    # -- counting

    def update(self, n: int = 1) -> None:
        """``n`` more units done (cheap: a counter, the clock only at checkpoints)."""
        self.n += n
        if self.n >= self._next:
            self._tick()

    def _tick(self) -> None:
        if self.closed:
            self._next = math.inf
            return
        if self._bar is not None:
            self._bar.update(self.n - self._shown)
            self._shown = self.n
        else:
            now = self._clock()
            if now - self._last_check > self.every_s:  # slow work: check sooner, down to every update
                self._stride = max(1, int(self._stride * self.every_s / (now - self._last_check)))
            self._last_check = now
            since = now - self._last_t
            last = self.total is not None and self.n >= self.total  # the summary says it
            if not last and (
                (self.n - self._last_n >= self._step and since >= self.every_s) or since >= self.heartbeat_s
            ):
                self._line(now)
                self._last_t, self._last_n = now, self.n
        if self.total is not None and self.n >= self.total:
            self.close()
            return
        self._next = self.n + self._stride

    # -- lines

    def rate(self, now: float | None = None) -> float:
        """Units per second since the start."""
        elapsed = (self._clock() if now is None else now) - self._started
        return self.n / elapsed if elapsed > 0 else 0.0

    def _line(self, now: float) -> None:
        elapsed = now - self._started
        rate = self.rate(now)
        if self.total:
            done = f"{_amount(self.n, self.unit)}/{_count(self.total, self.unit)}"
            eta = format_seconds((self.total - self.n) / rate) if rate > 0 else "?"
            self.log.info(
                "%s: %s (%.0f%%), %s, elapsed %s, ETA %s",
                self.stage,
                done,
                100.0 * self.n / self.total,
                _rate(rate, self.unit),
                format_seconds(elapsed),
                eta,
            )
        else:
            done = _count(self.n, self.unit)
            self.log.info("%s: %s, %s, elapsed %s", self.stage, done, _rate(rate, self.unit), format_seconds(elapsed))

    def close(self) -> None:
        """End the progress: close the bar and log the summary (done, time, rate); idempotent."""
        if self.closed:
            return
        self.closed = True
        self._next = math.inf
        if self._bar is not None:
            self._bar.update(self.n - self._shown)
            self._bar.close()
        now = self._clock()
        done = _count(self.n, self.unit)
        if self.total is not None and self.n < self.total:
            done = f"{_amount(self.n, self.unit)} of {_count(self.total, self.unit)}"
        self.log.info(
            "%s: done, %s in %s (%s)",
            self.stage,
            done,
            format_seconds(now - self._started),
            _rate(self.rate(now), self.unit),
        )

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        elif not self.closed:  # failed: no summary, only the bar goes
            self.closed = True
            if self._bar is not None:
                self._bar.close()

    def __getstate__(self) -> dict[str, Any]:  # sent to a worker process: without the bar
        state = dict(self.__dict__)
        state["_bar"] = None
        return state


def _tqdm_bar(stage: str, total: int | None, unit: str) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with transformers and datasets
        return None
    kwargs: dict[str, Any] = {"unit_scale": True, "unit_divisor": 1024} if unit == "B" else {}
    return tqdm(
        total=total, desc=stage, unit=unit if unit == "B" else f" {unit}", file=sys.stderr, leave=False, **kwargs
    )


__all__ = ["EVERY_S", "HEARTBEAT_S", "STEPS", "Progress", "format_seconds", "stderr_is_tty"]
