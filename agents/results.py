"""A suite's ``results.jsonl``: validated reading, repair, appending, and one runner at a time.

Each line is one complete JSON record of a finished run. A bad line (truncated JSON, a
non-object, a record missing keys or with values of the wrong type, also in the fields a
record may lack, a second record of the same run) is reported as ``ResultsError`` naming
the file and line; ``repair_results`` moves such lines to ``results.jsonl.bad`` and keeps
the rest. ``output_lock`` makes a second runner on the same output folder refuse instead
of writing duplicate records.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from numbers import Real
from pathlib import Path
from typing import Any

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "agent": str,
    "env": str,
    "knob": str,
    "value": (int, float, str),
    "env_kwargs": dict,
    "seed": int,
    "success_rate": Real,
    "mean_return": Real,
    "env_steps_per_s": Real,
    "curve": list,
}


def _int(least: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= least


def _number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    return _number(v) and math.isfinite(v)


def _rate(v: Any) -> bool:
    return _number(v) and 0.0 <= v <= 1.0


def _pair(first: Callable[[Any], bool], second: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and len(v) == 2 and first(v[0]) and second(v[1])


def _eval(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get("env_kwargs"), dict)
        and _rate(v.get("success_rate"))
        and _finite(v.get("mean_return"))
        and ("episodes" not in v or _int(1)(v["episodes"]))
    )


# fields a record may lack (older runners wrote fewer), checked when present: (test, what)
OPTIONAL: dict[str, tuple[Callable[[Any], bool], str]] = {
    "suite": (lambda v: isinstance(v, str), "a string"),
    "budget": (_int(1), "an integer >= 1"),
    "n_envs": (_int(1), "an integer >= 1"),
    "eval_episodes": (_int(1), "an integer >= 1"),
    "hyperparameters": (lambda v: isinstance(v, dict), "an object"),
    "steps_to_95": (_int(0), "an integer >= 0 or null"),
    "steps_trained": (_int(0), "an integer >= 0"),
    "wall_time_s": (lambda v: _finite(v) and v >= 0, "a finite number >= 0"),
    "curriculum_success": (_rate, "a number in [0, 1]"),
    "device": (lambda v: isinstance(v, str), "a string"),
    "tensorboard": (lambda v: isinstance(v, str), "a string"),
    "machine": (lambda v: isinstance(v, dict), "an object"),
    "node": (lambda v: isinstance(v, dict), "an object"),
}
NULLABLE = ("steps_to_95", "curriculum")  # null: never at 95% in training; no curriculum
# list fields, checked item by item: (test of an item, what an item is, may it be empty)
LISTS: dict[str, tuple[Callable[[Any], bool], str, bool]] = {
    "curve": (
        _pair(_int(0), lambda v: v is None or _number(v)),
        "[env step, number or null]",
        True,
    ),
    "evals": (
        _eval,
        "an evaluation {env_kwargs: object, success_rate in [0, 1], mean_return finite}",
        False,
    ),
    "curriculum": (
        _pair(lambda v: isinstance(v, REQUIRED["value"]) and not isinstance(v, bool), _int(0)),
        "[rung, env step reached >= 0]",
        False,
    ),
}
REPAIR_HINT = "rerun with --repair to move bad lines to {bad} and keep the rest"


class ResultsError(ValueError):
    """A results file that cannot be read as one valid record per line."""


class OutputLocked(RuntimeError):
    """Another runner is writing to the same output folder."""


def run_key(run: dict[str, Any]) -> str:
    """Identity of a run: agent, env id, env kwargs, seed, and whether a curriculum was used
    (what resume compares; a plan's ``curriculum`` is a bool, a record's a list or null)."""
    key = [run["agent"], run["env"], run["env_kwargs"], run["seed"]]
    return json.dumps(key + ["curriculum"] * bool(run.get("curriculum")), sort_keys=True)


def check_settings(
    path: Path,
    number: int,
    what: str,
    made: dict[str, Any],
    wanted: dict[str, Any],
    every: bool = False,
) -> None:
    """``ResultsError`` naming ``path`` and line ``number`` unless the settings ``made``
    (those the line records) equal ``wanted`` (the ones asked for now): results made
    otherwise are not comparable, so a resume must not reuse them.

    Compared: the fields ``made`` has, and with ``every`` also those only ``wanted`` has
    (a line that records its settings in full).
    """
    keys = [*made, *(k for k in wanted if every and k not in made)]
    diffs = [
        f"{k} {_shown(made, k)}, not {_shown(wanted, k)}"
        for k in keys
        if k not in made or k not in wanted or made[k] != wanted[k]
    ]
    if diffs:
        raise ResultsError(
            f"{path}, line {number}: {what} made with {'; '.join(diffs)}: use the same "
            f"settings to resume, or another --out"
        )


def _shown(settings: dict[str, Any], key: str) -> str:
    return repr(settings[key]) if key in settings else "unset"


def check_record(line: str) -> dict[str, Any]:
    """Parse one line into a record; raise ``ValueError`` saying what is wrong with it: a
    ``REQUIRED`` key missing or of the wrong type, or a field of ``OPTIONAL`` or ``LISTS``
    present but malformed (what the report, plots and resume would trip over later)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"a JSON {type(record).__name__}, not a record object")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ValueError(f"record missing keys {missing}")
    for key, kind in REQUIRED.items():
        value = record[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{key}={value!r} is a {type(value).__name__}")
    if not 0.0 <= record["success_rate"] <= 1.0:
        raise ValueError(f"success_rate={record['success_rate']!r} is outside [0, 1]")
    for key in ("mean_return", "env_steps_per_s"):
        if not math.isfinite(record[key]):
            raise ValueError(f"{key}={record[key]!r} is not finite")
    for key, (ok, what) in OPTIONAL.items():
        if key in record and not (ok(record[key]) or (record[key] is None and key in NULLABLE)):
            raise ValueError(f"{key}={record[key]!r} is not {what}")
    for key, (ok, what, may_be_empty) in LISTS.items():
        items = record.get(key)
        if items is None and (key not in record or key in NULLABLE):
            continue
        if not isinstance(items, list) or not (items or may_be_empty):
            raise ValueError(f"{key}={items!r} is not a {'' if may_be_empty else 'non-empty '}list")
        for i, item in enumerate(items):
            if not ok(item):
                raise ValueError(f"{key}[{i}]={item!r} is not {what}")
    return record


def _scan(path: Path) -> Iterator[tuple[int, str, dict[str, Any] | None, str | None]]:
    """Yield ``(line number, line, record or None, problem or None)`` for every line."""
    if path.is_dir():
        raise ResultsError(f"{path} is a directory, not a results file: move it away")
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            record = check_record(line)
        except ValueError as err:
            yield number, line, None, str(err)
            continue
        key = run_key(record)
        if key in seen:
            yield number, line, None, f"a second record of the run on line {seen[key]}"
            continue
        seen[key] = number
        yield number, line, record, None


def read_results(path: Path) -> list[dict[str, Any]]:
    """All records of ``path`` (none if it does not exist); ``ResultsError`` on a bad line."""
    if not path.exists():
        return []
    records = []
    for number, _, record, problem in _scan(path):
        if problem is not None:
            hint = REPAIR_HINT.format(bad=path.name + ".bad")
            raise ResultsError(f"{path}, line {number}: {problem}; {hint}")
        records.append(record)
    return records


def repair_results(path: Path) -> int:
    """Move the bad lines of ``path`` to ``<path>.bad`` (appended); return how many moved."""
    if not path.exists():
        return 0
    good, bad = [], []
    for number, line, _, problem in _scan(path):
        if problem is None:
            good.append(line)
        else:
            bad.append(json.dumps({"line": number, "problem": problem, "text": line}))
    if bad:
        with open(f"{path}.bad", "a") as f:
            f.write("".join(b + "\n" for b in bad))
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(g + "\n" for g in good))
        os.replace(tmp, path)
    return len(bad)


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one record as one line, in one write (a kill cannot split a record in two)."""
    data = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size and _last_byte(path) != b"\n":
            data = b"\n" + data  # a previous writer died mid-line: keep that line separate
        os.write(fd, data)
    finally:
        os.close(fd)


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


@contextmanager
def output_lock(out_dir: Path) -> Iterator[Callable[[], None]]:
    """Hold ``<out_dir>/.lock`` (``fcntl.flock``, released on any exit, even ``kill -9``).

    Yields a function that closes this process's copy of the lock in a forked child (a
    worker), so the lock lives exactly as long as the runner. Raises ``OutputLocked`` if
    another process holds it.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(
            f"--out: {out_dir} cannot be a folder: a file is in the way; move it or use "
            f"another --out"
        ) from None
    path = out_dir / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise OutputLocked(
            f"another benchmark runner (pid {holder}) is writing to {out_dir} "
            f"(lock {path}); wait for it to finish or use another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)

    def close_in_child() -> None:
        os.close(fd)

    try:
        yield close_in_child
    finally:
        os.close(fd)
