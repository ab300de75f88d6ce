"""Shared helpers of dltui's benchmarks: the machine, medians, one results table, and a
pseudo-terminal driver that runs the app as a user's terminal would.

- :func:`machine_lines` describes the machine (CPU, cores, RAM, Python / torch / Textual
  versions) without importing torch.
- :class:`Figure` is one row of the results table (figure | baseline | measured | ratio |
  goal | met?); :func:`print_table` prints rows, :func:`write_figures` /
  :func:`read_figures` pass them from a script to ``bench/run_all.py`` as JSON.
- :class:`PtyApp` launches a command in a pseudo-terminal of a given size (``openpty``,
  ``TIOCSWINSZ``, ``TERM=xterm-256color``, ``COLORTERM=truecolor``), reads every byte the
  app writes in a reader thread (counted, time-stamped), answers the one terminal query
  whose answer changes what Textual writes (synchronized output, so every frame is
  bracketed by ``CSI ? 2026 h`` / ``l`` and can be counted), sends keys, and waits for
  text on a small emulated screen (:class:`Screen`) or in the raw stream.

Textual also asks about in-band resize (``CSI ? 2048 $ p``) and pushes the kitty
keyboard flags; those are left unanswered, as an older terminal would, and Textual never
waits for an answer. Every child runs in its own session and is killed (its whole
process group) when the driver closes, and gets SIGKILL should the benchmark itself die
(``PR_SET_PDEATHSIG``), so no dltui process outlives a benchmark.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import json
import math
import os
import platform
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The dltui tree measured: this checkout, or another one (a copy of a commit, to compare).
APP_ROOT = Path(os.environ.get("DLTUI_BENCH_APP", str(ROOT))).resolve()
if str(APP_ROOT) not in sys.path:
    sys.path.insert(0, str(APP_ROOT))
PYTHON = sys.executable

# Keys as an xterm sends them (the sequences Textual's parser maps to these key names).
KEYS: dict[str, str] = {
    "f1": "\x1bOP",
    "f2": "\x1bOQ",
    "f3": "\x1bOR",
    "f4": "\x1bOS",
    "enter": "\r",
    "tab": "\t",
    "escape": "\x1b",
    "backspace": "\x7f",
    "space": " ",
    "ctrl+a": "\x01",
    "ctrl+e": "\x05",
    "ctrl+k": "\x0b",
    "ctrl+q": "\x11",
    "ctrl+u": "\x15",
}

# What the app shows, as the benchmarks recognise it (one place to update when it changes).
UI_ENGINE_READY = r"torch \S+ │ device \w+|torch \S+ ready"  # status line / REPL output
UI_MONITOR_READY = r"no run yet|s starts a run|watching |samples/s|finished|stopped"
UI_TRAINING = "samples/s"  # in the monitor's progress text while a run trains
UI_PREPARING = ("preparing", "training into")  # the monitor's message while it starts
UI_RUN_ENDED = r"finished|stopped|failed"
REPL_FOOTER = r"Newline|Run"  # the footer while the REPL input has the focus
MONITOR_FOOTER = r"Start"  # the footer while the monitor's runs list has the focus

SYNC_START = b"\x1b[?2026h"
SYNC_END = b"\x1b[?2026l"
SYNC_QUERY = b"\x1b[?2026$p"
SYNC_REPLY = b"\x1b[?2026;2$y"  # DECRPM: mode 2026 recognised, currently reset

# Characters plotext draws data with (braille, quadrant blocks, sextants, dots); the
# widgets around the plot use none of them.
PLOT_GLYPHS = re.compile("[\u2800-\u28ff\u2596-\u259f\U0001fb00-\U0001fb3b•⋅]")

_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    r"|\x1bP[^\x1b]*\x1b\\"  # DCS
    r"|\x1b[()][0-9A-Za-z]"  # charset
    r"|\x1b[@-Z\\-_=>78]"  # two-byte escapes
)
_CUP = re.compile(rb"\x1b\[(\d*)(?:;(\d*))?[Hf]")


# ---------------------------------------------------------------------------------------
# the machine


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_lines() -> list[str]:
    """A few lines that describe this machine and the software measured."""
    ram = _ram_gib()
    load = ""
    with contextlib.suppress(OSError):
        load = f", load average {os.getloadavg()[0]:.2f}"
    return [
        f"CPU: {_cpu_model()}, {usable_cpus()} usable of {os.cpu_count()} logical cores"
        + (f", {ram:.1f} GiB RAM" if ram else "")
        + load,
        f"Python {platform.python_version()} ({platform.system()} {platform.release()}), "
        f"torch {_version('torch')}, textual {_version('textual')}, "
        f"plotext {_version('plotext')}, numpy {_version('numpy')}",
    ]


# ---------------------------------------------------------------------------------------
# statistics and the results table


def median(values: Iterable[float]) -> float:
    """The median of the finite values (NaN when there are none)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Figure:
    """One row of the results table.

    ``baseline`` and ``measured`` are numbers in ``unit`` (NaN: not measured);
    ``ratio`` is measured / baseline unless given. ``met`` is True / False against the
    goal, or None when there is no goal to judge (smoke mode, informative rows).
    """

    name: str
    baseline: float
    measured: float
    unit: str = ""
    baseline_label: str = ""
    goal: str = ""
    met: bool | None = None
    ratio: float | None = None
    note: str = ""
    group: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None:
            b, m = self.baseline, self.measured
            ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (b, m))
            self.ratio = m / b if ok and b else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Figure:
        nums = ("baseline", "measured", "ratio")
        return cls(**{k: (math.nan if k in nums and v is None else v) for k, v in d.items()})


def fmt_value(value: float, unit: str) -> str:
    """A number with its unit, at a sensible precision."""
    if value is None or not math.isfinite(value):
        return "-"
    a = abs(value)
    if a >= 1000:
        text = f"{value:,.0f}"
    elif a >= 100:
        text = f"{value:.0f}"
    elif a >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def _met_text(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[met]


def print_table(figures: Sequence[Figure], title: str = "", file: Any = None) -> None:
    """Print ``figures`` as one aligned table: figure | baseline | measured | ratio | goal | met?"""
    out = file or sys.stdout
    header = ("figure", "baseline", "measured", "ratio", "goal", "met?")
    rows = []
    for f in figures:
        base = fmt_value(f.baseline, f.unit)
        if f.baseline_label:
            base = f"{base} ({f.baseline_label})" if base != "-" else f.baseline_label
        ratio = "-" if f.ratio is None or not math.isfinite(f.ratio) else f"{f.ratio:.2f}x"
        rows.append((f.name, base, fmt_value(f.measured, f.unit), ratio, f.goal, _met_text(f.met)))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    if title:
        print(title, file=out)
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line, file=out)
    print("-+-".join("-" * w for w in widths), file=out)
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)), file=out)
    notes = [(f.name, f.note) for f in figures if f.note]
    for name, note in notes:
        print(f"  {name}: {note}", file=out)
    out.flush()


def write_figures(path: str | os.PathLike | None, figures: Sequence[Figure], **extra: Any) -> None:
    """Write ``figures`` (and ``extra`` facts) as JSON for ``bench/run_all.py``."""
    if not path:
        return
    payload = {"figures": [f.to_dict() for f in figures], **extra}
    Path(path).write_text(json.dumps(payload, indent=1, default=str))


def read_figures(path: str | os.PathLike) -> tuple[list[Figure], dict[str, Any]]:
    data = json.loads(Path(path).read_text())
    figures = [Figure.from_dict(d) for d in data.pop("figures", [])]
    return figures, data


def goal_at_most(value: float, limit: float, judge: bool = True) -> bool | None:
    if not judge or not math.isfinite(value):
        return None if not judge else False
    return value <= limit


def goal_at_least(value: float, limit: float, judge: bool = True) -> bool | None:
    if not judge or not math.isfinite(value):
        return None if not judge else False
    return value >= limit


def install_sigterm_handler() -> None:
    """Turn SIGTERM into SystemExit, so ``finally`` blocks kill the children we started."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def log(*parts: object) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# a small terminal emulator: enough of xterm for what Textual writes


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


class Screen:
    """A grid of ``cols`` x ``rows`` characters fed with terminal output.

    Handles cursor positioning (CUP, CUU/CUD/CUF/CUB, CHA, VPA), erasing (ED, EL, ECH),
    carriage return / line feed / backspace, the alternate screen, and wide characters.
    Colours and modes are ignored. Text beyond the last column is dropped (Textual turns
    autowrap off).
    """

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.grid = [[" "] * cols for _ in range(rows)]
        self.x = self.y = 0
        # Where the cursor was when the last complete frame ended (Textual leaves it on
        # the focused input); a frame still being read moves self.x / self.y.
        self.frame_x = self.frame_y = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def feed(self, data: bytes) -> None:
        text = self._pending + self._decoder.decode(data)
        self._pending = ""
        # Hold back an escape sequence cut off at the end of the data.
        esc = text.rfind("\x1b")
        if esc >= 0 and not _ESCAPE.match(text, esc) and len(text) - esc < 64:
            text, self._pending = text[:esc], text[esc:]
        pos = 0
        for m in _ESCAPE.finditer(text):
            self._text(text[pos : m.start()])
            self._escape(m.group(0))
            pos = m.end()
        self._text(text[pos:])

    def _text(self, text: str) -> None:
        for ch in text:
            if ch == "\r":
                self.x = 0
            elif ch == "\n":
                self.y = min(self.rows - 1, self.y + 1)
            elif ch == "\b":
                self.x = max(0, self.x - 1)
            elif ch < " " or ch == "\x7f":
                continue
            else:
                w = _char_width(ch)
                if w == 0:
                    continue
                if self.x < self.cols:
                    self.grid[self.y][self.x] = ch
                    if w == 2 and self.x + 1 < self.cols:
                        self.grid[self.y][self.x + 1] = ""
                self.x = min(self.cols, self.x + w)

    def _escape(self, seq: str) -> None:
        if not seq.startswith("\x1b["):
            return
        final = seq[-1]
        body = seq[2:-1]
        if body.startswith("?"):
            if body[1:] in ("1049", "47", "1047") and final in "hl":
                self.clear()
            elif body == "?2026" and final == "l":  # the end of a synchronized frame
                self.frame_x, self.frame_y = self.x, self.y
            return
        params = [int(p) if p.isdigit() else 0 for p in body.split(";")] if body else []

        def arg(i: int, default: int = 1) -> int:
            return params[i] if len(params) > i and params[i] else default

        if final in "Hf":
            self.y = min(self.rows - 1, max(0, arg(0) - 1))
            self.x = min(self.cols - 1, max(0, arg(1) - 1))
        elif final == "A":
            self.y = max(0, self.y - arg(0))
        elif final == "B":
            self.y = min(self.rows - 1, self.y + arg(0))
        elif final == "C":
            self.x = min(self.cols - 1, self.x + arg(0))
        elif final == "D":
            self.x = max(0, self.x - arg(0))
        elif final == "G":
            self.x = min(self.cols - 1, max(0, arg(0) - 1))
        elif final == "d":
            self.y = min(self.rows - 1, max(0, arg(0) - 1))
        elif final == "J":
            mode = params[0] if params else 0
            if mode == 2 or mode == 3:
                self.clear()
            elif mode == 0:
                self._erase_row(self.y, self.x, self.cols)
                for r in range(self.y + 1, self.rows):
                    self._erase_row(r, 0, self.cols)
        elif final == "K":
            mode = params[0] if params else 0
            lo, hi = {0: (self.x, self.cols), 1: (0, self.x + 1), 2: (0, self.cols)}.get(
                mode, (0, 0)
            )
            self._erase_row(self.y, lo, hi)
        elif final == "X":
            self._erase_row(self.y, self.x, self.x + arg(0))

    def _erase_row(self, row: int, lo: int, hi: int) -> None:
        for c in range(max(0, lo), min(self.cols, hi)):
            self.grid[row][c] = " "

    def clear(self) -> None:
        self.grid = [[" "] * self.cols for _ in range(self.rows)]

    def lines(self) -> list[str]:
        return ["".join(row).rstrip() for row in self.grid]

    def text(self) -> str:
        return "\n".join(self.lines())


def strip_escapes(data: bytes) -> str:
    """Terminal output as plain text: escape sequences removed, UTF-8 decoded."""
    return _ESCAPE.sub("", data.decode("utf-8", "replace"))


def timed_frames(chunks: Sequence[Chunk]) -> list[tuple[float, bytes]]:
    """(arrival time of its end, bytes) of each frame in ``chunks``; without synchronized
    output (no brackets seen), each chunk counts as a frame."""
    data = b"".join(c.data for c in chunks)
    if SYNC_START not in data:
        return [(c.t, c.data) for c in chunks]
    ends = []  # (offset in data just past each chunk, time)
    pos = 0
    for c in chunks:
        pos += len(c.data)
        ends.append((pos, c.t))
    out = []
    start = data.find(SYNC_START)
    k = 0
    while start >= 0:
        stop = data.find(SYNC_END, start)
        if stop < 0:
            break
        stop += len(SYNC_END)
        while k < len(ends) and ends[k][0] < stop:
            k += 1
        out.append((ends[min(k, len(ends) - 1)][1], data[start:stop]))
        start = data.find(SYNC_START, stop)
    return out


def frames_of(data: bytes) -> list[bytes]:
    """The frames in ``data`` as Textual brackets them with synchronized output."""
    parts = data.split(SYNC_START)
    return [p.split(SYNC_END, 1)[0] for p in parts[1:]]


def segments(frame: bytes) -> list[tuple[int, str]]:
    """(row, plain text) of each cursor-positioned run of text in a frame."""
    out = []
    marks = list(_CUP.finditer(frame))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(frame)
        row = int(m.group(1) or 1)
        for k, text in enumerate(strip_escapes(frame[m.end() : end]).split("\r\n")):
            if text:
                out.append((row + k, text))
    return out


# ---------------------------------------------------------------------------------------
# the pseudo-terminal driver


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the benchmark dies, however it dies (Linux
    prctl PR_SET_PDEATHSIG), so a killed benchmark leaves no app behind."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


@dataclass
class Chunk:
    t: float  # time.monotonic() when the reader got it
    offset: int  # byte offset of its start in the whole stream
    data: bytes


@dataclass
class Mark:
    """Counters at one moment: for rates over a window (see :meth:`PtyApp.mark`)."""

    t: float
    nbytes: int
    frames: int
    chunk_index: int


@dataclass
class PtyApp:
    """A command running in a pseudo-terminal of ``cols`` x ``rows``; see the module doc.

    Use as a context manager: the child's process group is killed on exit.
    """

    argv: Sequence[str]
    cols: int = 120
    rows: int = 40
    cwd: str | os.PathLike | None = None
    env: dict[str, str] = field(default_factory=dict)
    answer_sync: bool = True

    def __post_init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.master = -1
        self.chunks: list[Chunk] = []
        self.nbytes = 0
        self.frames = 0
        self.started = math.nan
        self.queries_answered = 0
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._closed = False
        self._screen = Screen(self.cols, self.rows)
        self._screen_chunks = 0
        self._tail = b""

    # -- life cycle --
    def start(self) -> PtyApp:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        env = dict(os.environ)
        for name in ("TMUX", "TERM_PROGRAM", "TEXTUAL", "TEXTUAL_DRIVER", "NO_COLOR"):
            env.pop(name, None)
        env.update(
            TERM="xterm-256color",
            COLORTERM="truecolor",
            COLUMNS=str(self.cols),  # shutil.get_terminal_size reads these first
            LINES=str(self.rows),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            list(self.argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=self.cwd,
            env=env,
            close_fds=True,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        os.close(slave)
        self.master = master
        self._reader = threading.Thread(target=self._read_loop, name="pty-reader", daemon=True)
        self._reader.start()
        return self

    def __enter__(self) -> PtyApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self, grace: float = 3.0) -> None:
        """Kill the child's process group (SIGTERM, then SIGKILL) and stop reading."""
        proc = self.proc
        if proc is not None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                if proc.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(wait)
            # Children the app started in its own group (none expected) go with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self._closed = True
        if self._reader is not None:
            self._reader.join(2.0)
        if self.master >= 0:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = -1

    # -- reading --
    def _read_loop(self) -> None:
        while not self._closed:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
            except (OSError, ValueError):
                break
            if not ready:
                if self.proc is not None and self.proc.poll() is not None:
                    # Drain what is left, then stop.
                    with contextlib.suppress(OSError):
                        while select.select([self.master], [], [], 0)[0]:
                            data = os.read(self.master, 65536)
                            if not data:
                                break
                            self._got(data)
                    break
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            self._got(data)
        with self._cond:
            self._cond.notify_all()

    def _got(self, data: bytes) -> None:
        now = time.monotonic()
        scan = self._tail + data
        if self.answer_sync and SYNC_QUERY in scan:
            self.queries_answered += 1
            with contextlib.suppress(OSError):
                os.write(self.master, SYNC_REPLY)
        frames = scan.count(SYNC_START)
        self._tail = scan[-(len(SYNC_START) - 1) :]
        with self._cond:
            self.chunks.append(Chunk(now, self.nbytes, data))
            self.nbytes += len(data)
            self.frames += frames
            self._cond.notify_all()

    def mark(self) -> Mark:
        with self._cond:
            return Mark(time.monotonic(), self.nbytes, self.frames, len(self.chunks))

    def raw(self, since: Mark | None = None, until: Mark | None = None) -> bytes:
        with self._cond:
            lo = since.chunk_index if since else 0
            hi = until.chunk_index if until else len(self.chunks)
            return b"".join(c.data for c in self.chunks[lo:hi])

    def chunks_between(self, since: Mark, until: Mark) -> list[Chunk]:
        with self._cond:
            return self.chunks[since.chunk_index : until.chunk_index]

    # -- writing --
    def send(self, *keys: str, gap: float = 0.0) -> float:
        """Send keys (names in :data:`KEYS`, else literal text); returns the time of the
        last write."""
        t = time.monotonic()
        for i, key in enumerate(keys):
            data = KEYS.get(key, key).encode()
            t = time.monotonic()
            os.write(self.master, data)
            if gap and i + 1 < len(keys):
                time.sleep(gap)
        return t

    def type(self, text: str, gap: float = 0.02) -> None:
        """Type ``text`` one character at a time, ``gap`` seconds apart."""
        for ch in text:
            os.write(self.master, ch.encode())
            time.sleep(gap)

    # -- the screen --
    def screen(self) -> Screen:
        """The emulated screen, brought up to date with everything read so far."""
        with self._cond:
            new = self.chunks[self._screen_chunks :]
            self._screen_chunks = len(self.chunks)
        for c in new:
            self._screen.feed(c.data)
        return self._screen

    def screen_text(self) -> str:
        return self.screen().text()

    def wait(
        self,
        condition: Callable[[PtyApp], bool],
        timeout: float,
        what: str = "the condition",
        poll: float = 0.05,
    ) -> float:
        """Wait until ``condition(self)`` holds; returns the time it was first seen true.

        Raises TimeoutError (with the screen) at the deadline, RuntimeError if the app
        exited.
        """
        deadline = time.monotonic() + timeout
        while True:
            if condition(self):
                return time.monotonic()
            if not self.alive():
                if condition(self):
                    return time.monotonic()
                raise RuntimeError(
                    f"the app exited (code {self.proc.returncode if self.proc else '?'}) "
                    f"while waiting for {what}; last screen:\n{self.tail_text()}"
                )
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(
                    f"timed out after {timeout:.0f} s waiting for {what}; screen:\n"
                    + self.screen_text()
                )
            with self._cond:
                self._cond.wait(min(poll, deadline - now))

    def wait_screen(self, pattern: str, timeout: float = 60.0) -> float:
        """Wait until the screen (rows joined, whitespace collapsed) matches ``pattern``."""
        rx = re.compile(pattern)
        return self.wait(lambda a: bool(rx.search(a.flat_screen())), timeout, repr(pattern))

    def flat_screen(self) -> str:
        """The screen as one line: rows joined with spaces, runs of spaces collapsed (text
        wrapped in a narrow column still matches)."""
        return " ".join(" ".join(self.screen().lines()).split())

    def wait_screen_text(self, needle: str, since: Mark, timeout: float) -> float:
        """The arrival time of the first chunk after ``since`` after which the emulated
        screen shows ``needle``. The screen, not the bytes: the app sends only the cells
        that changed, so three typed letters are three separate writes."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                new = self.chunks[self._screen_chunks :]
                first = self._screen_chunks
                self._screen_chunks = len(self.chunks)
            for k, c in enumerate(new):
                self._screen.feed(c.data)
                if first + k >= since.chunk_index and needle in self._screen.text():
                    return c.t
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(f"{needle!r} not shown within {timeout:.1f} s")
            if not self.alive():
                raise RuntimeError("the app exited")
            with self._cond:
                if len(self.chunks) == self._screen_chunks:
                    self._cond.wait(min(0.2, deadline - now))

    def tail_text(self, n: int = 2000) -> str:
        return strip_escapes(self.raw()[-n:])

    def vm_hwm_mb(self) -> float:
        """The app process's peak resident memory (VmHWM) in MB, NaN when unreadable."""
        return proc_status_mb(self.pid, "VmHWM")


def proc_status_mb(pid: int, key: str) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return math.nan


# ---------------------------------------------------------------------------------------
# dltui in a pseudo-terminal


@contextlib.contextmanager
def workspace(prefix: str = "dltui-bench-") -> Iterator[Path]:
    """A temporary folder for the app's workspace and data directory, removed after."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        (path / "data").mkdir()
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def dltui(ws: Path, *args: str, cols: int = 120, rows: int = 40, device: str = "cpu") -> PtyApp:
    """``python -m tui --device DEV --workspace WS ARGS`` in a pty (not yet started)."""
    argv = [PYTHON, "-m", "tui", *args, "--device", device, "--workspace", str(ws)]
    env = {"DLTUI_DATA_DIR": str(ws / "data"), "PYTHONPATH": str(APP_ROOT)}
    return PtyApp(argv, cols=cols, rows=rows, cwd=str(ws), env=env)


def form_fields() -> list[tuple[str, str]]:
    """The monitor form's (field id, label) in focus order, read from the pane (the
    current defaults if the module moved)."""
    with contextlib.suppress(Exception):
        from widgets.monitor import pane

        return [(f[0], f[1]) for f in pane.FIELDS]
    return [
        ("model", "model"),
        ("data", "data"),
        ("loss", "loss"),
        ("optimizer", "optimizer"),
        ("lr", "lr"),
        ("batch_size", "batch"),
        ("epochs", "epochs"),
        ("device", "device"),
    ]


def footer(app: PtyApp) -> str:
    """The bottom row: the footer, which lists the focused widget's keys."""
    return app.screen().lines()[-1]


def wait_focus(app: PtyApp, pattern: str, timeout: float = 30.0, negate: bool = False) -> None:
    """Wait until the footer matches ``pattern`` (or stops matching, ``negate``): the sign
    that a focus change asked for by a key (deferred in Textual) has happened, so the
    next keys go to the new widget."""
    rx = re.compile(pattern)

    def ok(a: PtyApp) -> bool:
        return bool(rx.search(footer(a))) != negate

    try:
        app.wait(ok, timeout, f"the footer to {'lose' if negate else 'show'} {pattern!r}")
    except TimeoutError:
        time.sleep(1.0)  # the footer may have changed shape: fall back to a pause


def wait_engine(app: PtyApp, timeout: float = 120.0) -> float:
    """Wait until the REPL's status line says torch has loaded (``device <name>``)."""
    return app.wait_screen(UI_ENGINE_READY, timeout)


def run_in_repl(app: PtyApp, code: str, marker: str, timeout: float = 60.0) -> None:
    """F2, type ``code`` and Enter, then wait for ``marker`` on the screen."""
    app.send("f2")
    wait_focus(app, REPL_FOOTER)
    app.type(code, gap=0.005)
    time.sleep(0.2)
    app.send("enter")
    app.wait_screen(marker, timeout)


def field_row(app: PtyApp, label: str) -> int | None:
    """The screen row of the form field labelled ``label`` (None when not shown)."""
    rx = re.compile(rf"^\s*{re.escape(label)}\s")
    for i, line in enumerate(app.screen().lines()):
        if rx.match(line):
            return i
    return None


def wait_cursor_row(app: PtyApp, label: str, timeout: float = 15.0) -> None:
    """Wait until the terminal cursor where the last complete frame left it (Textual
    leaves it on the focused input's cursor) is on the row of the field ``label``."""
    app.wait(
        lambda a: field_row(a, label) == (a.screen().frame_y if a.frames else a.screen().y),
        timeout,
        f"the focus on the {label} field",
    )


def _debug_form(app: PtyApp, tag: str) -> None:
    if os.environ.get("BENCH_DEBUG"):
        sc = app.screen()
        log(f"-- {tag}: cursor row {sc.y} col {sc.x}; footer {sc.lines()[-1][:50]!r}")
        log("\n".join(line[:40] for line in sc.lines()[1:10]))


def field_text(app: PtyApp, label: str) -> str | None:
    """What the form field labelled ``label`` shows (its value or its hint, cut to the
    field's width); None when the field is not on the screen."""
    row = field_row(app, label)
    if row is None:
        return None
    line = app.screen().lines()[row].lstrip()[len(label) :]
    return line.split("▕", 1)[0].strip()


def set_form(app: PtyApp, values: dict[str, str], timeout: float = 30.0) -> None:
    """F4, ``e`` (focus the form's first field), then Tab through the fields and type
    the given values, each checked on the screen.

    Textual applies keys bound to actions (Tab, ctrl+u, ...) after the printable keys
    queued behind them, and a focus change later still; so each Tab is waited for (the
    terminal cursor, which Textual leaves on the focused input, reaches the field's row),
    and a value is typed over the text the field selected on focus. Should the field not
    show the value, it is cleared with ctrl+e ctrl+u (waited for) and typed again.
    """
    order = form_fields()
    app.send("f4")
    wait_focus(app, MONITOR_FOOTER)
    app.send("e")
    wait_focus(app, MONITOR_FOOTER, negate=True)
    wait_cursor_row(app, order[0][1])
    pos = 0
    for target, (fid, label) in enumerate(order):
        if fid not in values:
            continue
        while pos < target:
            app.send("tab")
            pos += 1
            try:  # a field that is not a text input (a choice list) may not move the cursor
                wait_cursor_row(app, order[pos][1], 15.0 if pos == target else 3.0)
            except TimeoutError:
                if pos == target:
                    raise
                time.sleep(0.5)
        value = values[fid]

        def shows(a: PtyApp, label: str = label, value: str = value) -> bool:
            # A long value shows its end while focused (scrolled to the cursor).
            text = field_text(a, label)
            return bool(text) and (value.startswith(text) or value.endswith(text))

        _debug_form(app, f"at {fid}")
        app.type(value, gap=0.02)
        try:
            app.wait(shows, 10.0, f"{fid}={value}")
            continue
        except TimeoutError:
            _debug_form(app, f"retyping {fid}")
        app.send("ctrl+e")
        app.send("ctrl+u")
        time.sleep(1.0)  # bound keys run after the printable ones queued behind them
        app.type(value, gap=0.05)
        app.wait(shows, timeout, f"{fid}={value}")


def monitor_ready(app: PtyApp, timeout: float = 120.0) -> None:
    """F4 and wait until the monitor's engine is ready (its hint, or a run's text) and
    the runs list has the focus."""
    app.send("f4")
    app.wait_screen(UI_MONITOR_READY, timeout)
    wait_focus(app, MONITOR_FOOTER)


def progress_running(app: PtyApp) -> bool:
    return UI_TRAINING in app.flat_screen()


def error_lines(app: PtyApp) -> list[str]:
    """Screen rows that look like an error message."""
    words = ("error", "Error", "failed", "does not fit", "mismatch", "cannot", "Traceback")
    return [ln.strip() for ln in app.screen().lines() if any(w in ln for w in words)]


NET = "net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))"


@dataclass
class RunSetup:
    """How :func:`start_training` got a run going, for the report."""

    default_trains: bool | None = None  # None: not tried
    default_message: str = ""
    model: str = "builder"
    data: str = "spirals"
    epochs: int = 0


def monitor_message(app: PtyApp) -> str:
    """The monitor's message text: the right-hand column above the plot, without the
    idle hints."""
    parts = []
    for line in app.screen().lines()[1:]:
        if "┌" in line or "┤" in line:
            break
        text = line.split("▕", 1)[1] if "▕" in line else line
        parts.append(text.strip())
    text = " ".join(" ".join(parts).split())
    for hint in (
        "no run yet: e edits the settings on the left, s starts a run",
        "no data yet: start a run (s) or compare past runs (c)",
    ):
        text = text.replace(hint, "")
    return " ".join(text.split())[:400]


def _message_after_start(app: PtyApp, since: Mark, timeout: float) -> str:
    """After ``s`` (sent after ``since``): wait for the run to train, or for the
    preparing message to give way to another one; returns 'running' or the message."""

    def written(a: PtyApp, *words: str) -> bool:
        text = strip_escapes(a.raw(since))
        return any(w in text for w in words)

    try:
        app.wait(lambda a: written(a, *UI_PREPARING, UI_TRAINING), timeout, "preparing")
        app.wait(
            lambda a: (
                UI_TRAINING in a.flat_screen()
                or not any(w in a.flat_screen() for w in UI_PREPARING)
            ),
            timeout,
            "the run to start or fail",
        )
    except TimeoutError as exc:
        log(str(exc))
        return "timed out: " + " / ".join(error_lines(app))[:300]
    if progress_running(app):
        return "running"
    time.sleep(0.3)
    return monitor_message(app)


def start_training(
    app: PtyApp,
    epochs: int,
    try_default: bool = True,
    default_trains: bool | None = None,
    timeout: float = 120.0,
) -> RunSetup:
    """Get a run training in the app as a user would, by keys.

    First, when ``try_default``, what a new user does: F4 then ``s`` with the default
    settings (recorded in :attr:`RunSetup.default_trains`). The default run lasts 20
    short epochs, too short to measure, so the measured run is started again with
    ``epochs`` set in the form: the default model when it trained, else a small MLP
    typed into the REPL (``net``), put in the model field. With ``try_default=False``
    the first step is skipped and ``default_trains`` (known from an earlier launch)
    decides the model.
    """
    setup = RunSetup(epochs=epochs, default_trains=None if try_default else default_trains)
    monitor_ready(app, timeout)
    if try_default:
        mark = app.mark()
        app.send("s")
        outcome = _message_after_start(app, mark, timeout)
        setup.default_trains = outcome == "running"
        setup.default_message = outcome
        if setup.default_trains:
            # Let it end (20 epochs), or stop it.
            try:
                app.wait_screen(UI_RUN_ENDED, 60)
            except TimeoutError:
                app.send("x")
                app.wait_screen(UI_RUN_ENDED, 30)
    values = {"epochs": str(epochs)}
    if not setup.default_trains:
        run_in_repl(app, NET, r">>> net = nn\.Sequential|net +Sequential", timeout)
        setup.model = "net"
        values["model"] = "net"
    set_form(app, values)
    mark = app.mark()
    app.send("enter")  # Enter in a field starts the run
    try:
        app.wait(lambda a: any(w in strip_escapes(a.raw(mark)) for w in UI_PREPARING), 15, "")
    except TimeoutError:  # it did not: leave the form and press s
        app.send("escape")
        wait_focus(app, MONITOR_FOOTER)
        mark = app.mark()
        app.send("s")
    outcome = _message_after_start(app, mark, timeout)
    if outcome != "running":
        raise RuntimeError(f"the measurement run did not start: {outcome}")
    app.send("escape")  # from the form to the runs list, where F4 then s leaves focus
    wait_focus(app, MONITOR_FOOTER)
    return setup


# Code for benchmark child processes: their peak RSS, read as VmHWM, not ru_maxrss,
# which Linux carries over execve from the forked copy of this (large) process.
PEAK_RSS = r"""
def peak_rss_mb():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""
