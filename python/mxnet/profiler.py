"""``mx.profiler``: operator timings as a Chrome trace (``dump``) or a table (``dumps``).

While the profiler runs, every operator the engine executes records its kernel's start and
duration and the thread that ran it. ``dump()`` writes them, with the events of
:class:`Task`, :class:`Frame`, :class:`Event`, :class:`Counter` and :class:`Marker`, to a JSON
file that chrome://tracing and Perfetto open. ``dumps()`` returns per-operator totals.

Differences from MXNet 1.9.1: memory, API-call and symbolic-graph profiling
(``profile_memory``, ``profile_api``, ``profile_symbolic``) are accepted and ignored. Operators
run by the executor of a hybridized block are recorded like eager ones. A kernel that runs on
the GPU is timed while it is recorded, not while the device runs it.
"""
import json
import threading
import warnings

from . import _native

_STATES = ('run', 'stop')
_SORT_KEYS = ('total', 'avg', 'min', 'max', 'count')
_CONFIG_KEYS = frozenset((
    'filename', 'profile_all', 'profile_symbolic', 'profile_imperative', 'profile_memory',
    'profile_api', 'contiguous_dump', 'continuous_dump', 'dump_period', 'aggregate_stats',
    'profile_process'))

_lock = threading.Lock()
_config = {'filename': 'profile.json', 'aggregate_stats': False}
_state = 'stop'
_paused = False
# The trace (`dump`) and the statistics (`dumps`) are kept apart, so that clearing one, as
# `dump(finished=True)` and `dumps(reset=True)` do, keeps the other.
_records = []       # (name, category, phase, start_us, duration_us, tid, args)
_stats = {}         # (category, name) -> [count, total_ms, min_ms, max_ms]
_thread_names = {}  # tid -> name, for the operators' threads and Python's
_python_tids = threading.local()
_PYTHON_TID_BASE = 1 << 20
_next_python_tid = [_PYTHON_TID_BASE]


def set_config(**kwargs):
    """Configure the profiler: ``filename`` (default ``profile.json``) is where :func:`dump`
    writes; the other MXNet options are accepted (see the module notes)."""
    unknown = sorted(set(kwargs) - _CONFIG_KEYS)
    if unknown:
        raise ValueError('profiler.set_config: unknown option(s) %s; valid options are %s'
                         % (unknown, sorted(_CONFIG_KEYS)))
    _check_process(kwargs.get('profile_process', 'worker'))
    _config.update(kwargs)


def set_state(state='stop', profile_process='worker'):
    """Start (``'run'``) or stop (``'stop'``) recording."""
    global _state
    if state not in _STATES:
        raise ValueError("profiler.set_state: state must be 'run' or 'stop', got %r" % (state,))
    _check_process(profile_process)
    _state = state
    _native.profiler_set_running(state == 'run')
    if state == 'stop':
        _collect()


def state():
    """Return ``'run'`` or ``'stop'``."""
    return _state


def pause(profile_process='worker'):
    """Stop recording without leaving the ``'run'`` state."""
    global _paused
    _check_process(profile_process)
    _paused = True
    _native.profiler_set_running(False)


def resume(profile_process='worker'):
    """Record again after :func:`pause`."""
    global _paused
    _check_process(profile_process)
    _paused = False
    if _state == 'run':
        _native.profiler_set_running(True)


def dump(finished=True, profile_process='worker'):
    """Write the events recorded so far to the configured file as a Chrome trace.

    With ``finished=True`` the events are then discarded, so that the next dump starts afresh.
    """
    _check_process(profile_process)
    _collect()
    with _lock:
        events = list(_records)
        names = dict(_thread_names)
    trace = [{'name': 'thread_name', 'ph': 'M', 'pid': 0, 'tid': tid, 'args': {'name': name}}
             for tid, name in sorted(names.items())]
    for name, category, phase, start, duration, tid, args in events:
        event = {'name': name, 'cat': category, 'ph': phase, 'ts': start, 'pid': 0, 'tid': tid}
        if phase == 'X':
            event['dur'] = duration
        elif phase == 'i':
            event['s'] = args['scope']
            args = None
        if args:
            event['args'] = args
        trace.append(event)
    text = json.dumps({'traceEvents': trace, 'displayTimeUnit': 'ms'})
    with open(_config['filename'], 'w') as out:
        out.write(text)
    if finished:
        # Only after the file is written, so that a failed dump loses nothing.
        with _lock:
            del _records[:len(events)]


def dump_profile():
    """MXNet's deprecated name for ``dump(finished=True)``."""
    warnings.warn('profiler.dump_profile() is deprecated; use profiler.dump() instead',
                  DeprecationWarning, stacklevel=2)
    dump(True)


def dumps(reset=False, format='table', sort_by='total', ascending=False):
    """Return per-operator statistics (count, total, min, max and mean time in ms) as a table
    or, with ``format='json'``, a JSON string."""
    if format not in ('table', 'json'):
        raise ValueError("profiler.dumps: format must be 'table' or 'json', got %r" % (format,))
    if sort_by not in _SORT_KEYS:
        raise ValueError('profiler.dumps: sort_by must be one of %s, got %r' % (_SORT_KEYS, sort_by))

    _collect()
    with _lock:
        rows = [(cat, name, n, total, lo, hi, total / n)
                for (cat, name), (n, total, lo, hi) in _stats.items()]
        if reset:
            _stats.clear()
    column = {'count': 2, 'total': 3, 'min': 4, 'max': 5, 'avg': 6}[sort_by]
    rows.sort(key=lambda r: r[column], reverse=not ascending)

    if format == 'json':
        result = {}
        for cat, name, n, total, lo, hi, avg in rows:
            result.setdefault(cat, {})[name] = {'Count': n, 'Total': total, 'Min': lo, 'Max': hi,
                                                'Avg': avg}
        return json.dumps({'Time': result, 'Unit': {'Time': 'ms'}})

    header = ('Name', 'Total Count', 'Time (ms)', 'Min Time (ms)', 'Max Time (ms)', 'Avg Time (ms)')
    lines = ['Profile Statistics:', '\tTimes are in milliseconds.']
    for cat in sorted({r[0] for r in rows}):
        lines += ['', cat, '=' * len(cat), '%-40s %11s %13s %13s %13s %13s' % header,
                  '%-40s %11s %13s %13s %13s %13s' % tuple('-' * len(h) for h in header)]
        for _, name, n, total, lo, hi, avg in (r for r in rows if r[0] == cat):
            lines.append('%-40s %11d %13.4f %13.4f %13.4f %13.4f' % (name, n, total, lo, hi, avg))
    return '\n'.join(lines) + '\n'


def _check_process(profile_process):
    if profile_process != 'worker':
        raise ValueError("profiler: profile_process=%r is not supported; only 'worker' (this "
                         "process) is, as there is no kvstore server" % (profile_process,))


def _collect():
    """Move the operators' records from the native side into ``_records``."""
    records, names = _native.profiler_take()
    with _lock:
        for tid, name in enumerate(names):
            _thread_names[tid] = name
        for name, start, duration, tid in records:
            _records.append((name, 'operator', 'X', start, duration, tid, None))
            _count(('operator', name), duration)


def _count(key, duration_us):
    """Add one timed range to the statistics; call with ``_lock`` held."""
    ms = duration_us / 1e3
    entry = _stats.setdefault(key, [0, 0.0, float('inf'), 0.0])
    entry[0] += 1
    entry[1] += ms
    entry[2] = min(entry[2], ms)
    entry[3] = max(entry[3], ms)


def _python_tid():
    """Return this Python thread's track in the trace: one per thread, never reused."""
    tid = getattr(_python_tids, 'tid', None)
    if tid is None:
        with _lock:
            tid = _next_python_tid[0]
            _next_python_tid[0] += 1
            _thread_names[tid] = 'python: ' + threading.current_thread().name
        _python_tids.tid = tid
    return tid


def _add(name, category, phase, start, duration=0.0, args=None):
    if _state != 'run' or _paused:
        return
    tid = _python_tid()
    with _lock:
        _records.append((name, category, phase, start, duration, tid, args))
        if phase == 'X':
            _count((category, name), duration)


class Domain:
    """A named group for the events below (their category in the trace)."""

    def __init__(self, name):
        self.name = name

    def new_task(self, name):
        return Task(self, name)

    def new_frame(self, name):
        return Frame(self, name)

    def new_counter(self, name, value=None):
        return Counter(self, name, value)

    def new_marker(self, name):
        return Marker(self, name)

    def __str__(self):
        return self.name


class _Span:
    """A timed range between ``start()`` and ``stop()``, also usable as a ``with`` block."""

    def __init__(self, domain, name):
        self.domain = domain
        self.name = name
        self._start = None

    def start(self):
        self._start = _native.profiler_now_us()

    def stop(self):
        if self._start is None:
            raise RuntimeError('profiler: %s %r was stopped before it was started'
                               % (type(self).__name__, self.name))
        end = _native.profiler_now_us()
        _add(self.name, str(self.domain), 'X', self._start, end - self._start)
        self._start = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def __str__(self):
        return self.name


class Task(_Span):
    """A logical unit of work in ``domain``."""


class Frame(_Span):
    """One iteration of a repeated piece of work (a training step) in ``domain``."""


class Event(_Span):
    """A timed range with no domain."""

    def __init__(self, name):
        super().__init__('event', name)


class Counter:
    """A value plotted over time in the trace."""

    def __init__(self, domain, name, value=None):
        self.domain = domain
        self.name = name
        self.value = 0
        if value is not None:
            self.set_value(value)

    def set_value(self, value):
        # An integer, as in MXNet (numpy integers would not serialize to JSON).
        self.value = int(value)
        _add(self.name, str(self.domain), 'C', _native.profiler_now_us(),
             args={self.name: self.value})

    def increment(self, delta=1):
        self.set_value(self.value + delta)

    def decrement(self, delta=1):
        self.set_value(self.value - delta)

    def __iadd__(self, delta):
        self.increment(delta)
        return self

    def __isub__(self, delta):
        self.decrement(delta)
        return self

    def __str__(self):
        return self.name


class Marker:
    """An instant in the trace."""

    _SCOPES = {'global': 'g', 'process': 'p', 'thread': 't', 'task': 't', 'marker': 't'}

    def __init__(self, domain, name):
        self.domain = domain
        self.name = name

    def mark(self, scope='process'):
        if scope not in self._SCOPES:
            raise ValueError('Marker.mark: scope must be one of %s, got %r'
                             % (sorted(self._SCOPES), scope))
        _add(self.name, str(self.domain), 'i', _native.profiler_now_us(),
             args={'scope': self._SCOPES[scope]})


def scope(name='<unk>:', append_mode=False):
    """Return a ``with`` block that is timed as one event called ``name``."""
    del append_mode  # MXNet uses it to nest operator names; operators here keep their names
    return Event(name)


# MXNet's deprecated names.
def profiler_set_config(mode='symbolic', filename='profile.json'):
    set_config(profile_all=mode == 'all', filename=filename)


profiler_set_state = set_state
