"""Engine tests of tui.core.repl.history: where it lives, persistence, Up/Down walking, search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.core.repl import history as history_module
from tui.core.repl.history import History, data_dir


def test_data_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLTUI_DATA_DIR", str(tmp_path / "override"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "override"
    assert History().path == tmp_path / "override" / "history.jsonl"
    monkeypatch.delenv("DLTUI_DATA_DIR")
    assert data_dir() == tmp_path / "xdg" / "dltui"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".local" / "share" / "dltui"


def test_entries_persist_across_instances(data_dir: Path) -> None:
    first = History()
    first.add("x = 1")
    first.add("for i in range(3):\n    print(i)")
    first.add("for i in range(3):\n    print(i)")  # a repeat of the last: not stored twice
    first.add("   ")  # blank: not stored
    second = History()
    assert second.path == data_dir / "history.jsonl"
    assert second.entries == ["x = 1", "for i in range(3):\n    print(i)"]
    # One JSON string per line, so a block's newlines survive.
    lines = second.path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == second.entries


def test_torn_and_foreign_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('"a"\n{"not": "a string"}\n"b"\n"torn', encoding="utf-8")
    assert History(path).entries == ["a", "b"]


def test_only_the_newest_entries_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history_module, "MAX_ENTRIES", 3)
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(f"x = {i}") + "\n" for i in range(10)), encoding="utf-8")
    assert History(path).entries == ["x = 7", "x = 8", "x = 9"]


def test_unwritable_history_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    history = History(blocker / "history.jsonl")
    history.add("x = 1")  # the folder cannot be created: kept in memory only
    assert history.entries == ["x = 1"]


def test_up_down_walk_keeps_the_draft(tmp_path: Path) -> None:
    history = History(tmp_path / "h.jsonl")
    assert history.previous("draft") is None  # empty history
    for entry in ("a", "b", "c"):
        history.add(entry)
    assert history.next() is None  # not walking yet
    assert history.previous("my draft") == "c"
    assert history.previous("ignored") == "b"
    assert history.previous("ignored") == "a"
    assert history.previous("ignored") is None  # the oldest: stays there
    assert history.next() == "b"
    assert history.next() == "c"
    assert history.next() == "my draft"  # past the newest: the draft comes back
    assert history.next() is None
    # Adding resets the walk.
    history.previous("")
    history.add("d")
    assert history.previous("") == "d"


def test_search_is_newest_first_distinct_and_case_insensitive(tmp_path: Path) -> None:
    history = History(tmp_path / "h.jsonl")
    for entry in ("x = torch.ones(2)", "y = 1", "X = TORCH.zeros(3)", "y = 1", "x = torch.ones(2)"):
        history.add(entry)
    assert history.search("torch") == ["x = torch.ones(2)", "X = TORCH.zeros(3)"]
    assert history.search("") == ["x = torch.ones(2)", "y = 1", "X = TORCH.zeros(3)"]
    assert history.search("", limit=1) == ["x = torch.ones(2)"]
    assert history.search("nothing like this") == []
