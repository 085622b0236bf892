"""mx.profiler: operator records, the Chrome trace, the statistics table, and user events."""
import json

import numpy as np
import pytest

import mxnet as mx
from mxnet import nd


@pytest.fixture
def trace_file(tmp_path):
    path = tmp_path / "profile.json"
    mx.profiler.set_config(filename=str(path), aggregate_stats=True)
    mx.profiler.dumps(reset=True)
    yield path
    mx.profiler.set_state("stop")
    mx.profiler.dumps(reset=True)


def _operator_events(path):
    events = json.loads(path.read_text())["traceEvents"]
    return [e for e in events if e["ph"] == "X" and e["cat"] == "operator"]


def test_records_each_operator_while_running(trace_file):
    a = nd.ones((300, 300))
    nd.waitall()
    mx.profiler.set_state("run")
    for _ in range(3):
        b = nd.dot(a, a)
    c = nd.relu(b)
    c.wait_to_read()
    mx.profiler.set_state("stop")
    (a + 1).wait_to_read()  # after stop: not recorded
    mx.profiler.dump()
    events = _operator_events(trace_file)
    names = [e["name"] for e in events]
    assert (names.count("dot"), names.count("relu")) == (3, 1)
    assert "_plus_scalar" not in names
    dot = [e for e in events if e["name"] == "dot"]
    # A 300^3 product takes far more than a microsecond; timestamps are in microseconds.
    assert all(e["dur"] > 1 for e in dot)
    relu = next(e for e in events if e["name"] == "relu")
    assert relu["ts"] >= max(e["ts"] + e["dur"] for e in dot) - 1, "relu ran before the product it reads"
    threads = {e["tid"]: e["args"]["name"] for e in json.loads(trace_file.read_text())["traceEvents"]
               if e["ph"] == "M"}
    assert all(e["tid"] in threads for e in events)


def test_dumps_counts_and_sorts(trace_file):
    x = nd.ones((64, 64))
    mx.profiler.set_state("run")
    for _ in range(5):
        x = x * 1.0
    nd.sqrt(x).wait_to_read()
    mx.profiler.set_state("stop")
    table = mx.profiler.dumps(sort_by="count")
    rows = [line.split() for line in table.splitlines() if line.startswith(("_mul_scalar", "sqrt"))]
    assert [r[0] for r in rows] == ["_mul_scalar", "sqrt"]
    assert [int(r[1]) for r in rows] == [5, 1]
    stats = json.loads(mx.profiler.dumps(format="json", reset=True))["Time"]["operator"]
    assert stats["_mul_scalar"]["Count"] == 5
    assert stats["_mul_scalar"]["Min"] <= stats["_mul_scalar"]["Avg"] <= stats["_mul_scalar"]["Max"]
    # reset=True emptied the statistics.
    assert "_mul_scalar" not in mx.profiler.dumps()


def test_pause_and_resume(trace_file):
    x = nd.ones((8,))
    mx.profiler.set_state("run")
    nd.exp(x).wait_to_read()
    mx.profiler.pause()
    nd.log(x).wait_to_read()
    mx.profiler.resume()
    nd.tanh(x).wait_to_read()
    mx.profiler.set_state("stop")
    mx.profiler.dump()
    names = {e["name"] for e in _operator_events(trace_file)}
    assert {"exp", "tanh"} <= names
    assert "log" not in names


def test_user_events_go_into_the_trace(trace_file):
    domain = mx.profiler.Domain("training")
    task = domain.new_task("epoch")
    counter = domain.new_counter("batches", 0)
    marker = domain.new_marker("checkpoint")
    mx.profiler.set_state("run")
    task.start()
    counter += 2
    counter.decrement()
    marker.mark("global")
    task.stop()
    with mx.profiler.Event("load"):
        pass
    mx.profiler.set_state("stop")
    mx.profiler.dump()
    events = json.loads(trace_file.read_text())["traceEvents"]
    epoch = next(e for e in events if e["name"] == "epoch")
    assert (epoch["cat"], epoch["ph"]) == ("training", "X")
    assert epoch["dur"] >= 0
    values = [e["args"]["batches"] for e in events if e["name"] == "batches"]
    assert values == [2, 1]  # set while running only: the initial 0 came before "run"
    mark = next(e for e in events if e["name"] == "checkpoint")
    assert (mark["ph"], mark["s"]) == ("i", "g")
    assert any(e["name"] == "load" and e["cat"] == "event" for e in events)


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="'run' or 'stop'"):
        mx.profiler.set_state("start")
    with pytest.raises(ValueError, match="unknown option.*profile_gpu"):
        mx.profiler.set_config(profile_gpu=True)
    with pytest.raises(ValueError, match="sort_by"):
        mx.profiler.dumps(sort_by="name")
    with pytest.raises(RuntimeError, match="stopped before it was started"):
        mx.profiler.Event("never").stop()


def test_stopped_profiler_records_nothing(trace_file):
    mx.profiler.set_state("stop")
    nd.ones((4,)).wait_to_read()
    assert "_ones" not in mx.profiler.dumps()
    np.testing.assert_array_equal((nd.ones((2,)) * 2).asnumpy(), [2, 2])


def test_dump_and_dumps_keep_separate_records(trace_file):
    x = nd.ones((50, 50))
    mx.profiler.set_state("run")
    nd.dot(x, x).wait_to_read()
    mx.profiler.set_state("stop")
    mx.profiler.dump()
    assert "dot" in mx.profiler.dumps(reset=True)
    mx.profiler.set_state("run")
    nd.relu(x).wait_to_read()
    mx.profiler.set_state("stop")
    mx.profiler.dumps(reset=True)
    mx.profiler.dump()
    assert [e["name"] for e in _operator_events(trace_file)] == ["relu"]


def test_failed_dump_keeps_the_records(trace_file, tmp_path):
    counter = mx.profiler.Domain("d").new_counter("c")
    mx.profiler.set_state("run")
    counter.set_value(np.int64(3))
    nd.exp(nd.ones((4,))).wait_to_read()
    mx.profiler.set_state("stop")
    mx.profiler.set_config(filename=str(tmp_path / "missing" / "p.json"))
    with pytest.raises(FileNotFoundError):
        mx.profiler.dump()
    mx.profiler.set_config(filename=str(trace_file))
    mx.profiler.dump()
    events = json.loads(trace_file.read_text())["traceEvents"]
    assert [e["args"]["c"] for e in events if e["name"] == "c"] == [3]
    assert "exp" in [e["name"] for e in events]


def test_pause_also_stops_python_events(trace_file):
    mx.profiler.set_state("run")
    mx.profiler.pause()
    with mx.profiler.Event("while paused"):
        pass
    mx.profiler.resume()
    with mx.profiler.Event("after resume"):
        pass
    mx.profiler.set_state("stop")
    mx.profiler.dump()
    names = [e["name"] for e in json.loads(trace_file.read_text())["traceEvents"]]
    assert "after resume" in names
    assert "while paused" not in names


def test_python_threads_get_their_own_tracks(trace_file):
    import threading

    def work(label):
        with mx.profiler.Event(label):
            pass

    mx.profiler.set_state("run")
    for label in ("loader", "trainer", "logger"):
        thread = threading.Thread(target=work, args=(label,), name=label)
        thread.start()
        thread.join()
    mx.profiler.set_state("stop")
    mx.profiler.dump()
    events = json.loads(trace_file.read_text())["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    for label in ("loader", "trainer", "logger"):
        event = next(e for e in events if e["name"] == label)
        assert names[event["tid"]] == "python: " + label


def test_deprecated_dump_profile_writes_the_trace(trace_file):
    with pytest.warns(DeprecationWarning):
        mx.profiler.dump_profile()
    assert "traceEvents" in json.loads(trace_file.read_text())
