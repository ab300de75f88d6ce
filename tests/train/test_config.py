"""TrainConfig defaults and RunState: one set of defaults, one list of states."""

from __future__ import annotations

import json

import pytest

from tui.core.train.config import LOSS_AUTO, RunState, TrainConfig, default_loss, make_config
from tui.core.train.runs import RunDir, list_runs, live_state, read_status


def test_run_state_is_a_str_that_round_trips_through_status_json(tmp_path):
    run = RunDir.at(tmp_path / "run")
    for state in (s for s in RunState if s.written):
        run.write_status(state, step=1)
        raw = json.loads((run.path / "status.json").read_text())
        assert raw["state"] == state.value  # plain JSON text, not "RunState.X"
        assert live_state(read_status(run.path)) is state or state.active
        assert RunState.parse(raw["state"]) is state
    assert f"{RunState.PAUSED:<8}|" == "paused  |" and RunState.FAILED == "failed"


def test_states_readers_derive_are_refused_by_the_writer(tmp_path):
    run = RunDir.at(tmp_path / "run")
    for state in (RunState.IDLE, RunState.DIED, RunState.UNKNOWN, "exploded"):
        with pytest.raises(ValueError, match="state must be one of running, paused"):
            run.write_status(state)


def test_state_groups():
    assert {s for s in RunState if s.active} == {RunState.RUNNING, RunState.PAUSED}
    assert {s for s in RunState if s.ended} == {
        RunState.FINISHED,
        RunState.FAILED,
        RunState.STOPPED,
    }
    assert RunState.parse("no such state") is RunState.UNKNOWN
    assert RunState.parse(None) is RunState.UNKNOWN


def test_missing_or_odd_status_reads_as_unknown(tmp_path):
    assert live_state(None) is RunState.UNKNOWN
    assert live_state({"state": "weird"}) is RunState.UNKNOWN
    (tmp_path / "runs" / "bare").mkdir(parents=True)
    (tmp_path / "runs" / "bare" / "config.json").write_text("{}")
    (info,) = list_runs(tmp_path)
    assert info.status is RunState.UNKNOWN


def test_one_set_of_defaults():
    config = TrainConfig()
    assert (config.epochs, config.batch_size, config.lr, config.optimizer) == (10, 64, 1e-3, "adam")
    assert config.loss == LOSS_AUTO
    assert config.for_task("classification").loss == "cross_entropy"
    assert config.for_task("regression").loss == default_loss("regression") == "mse"
    assert TrainConfig(loss="l1").for_task("classification").loss == "l1"


def test_make_config_leaves_out_none_and_validates():
    config = make_config({"epochs": 3, "lr": None, "device": "cpu"})
    assert config.epochs == 3 and config.lr == TrainConfig().lr
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        make_config({"epochs": 0})
    with pytest.raises(ValueError, match="unknown training setting 'epoch'"):
        make_config({"epoch": 3})
