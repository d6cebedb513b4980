"""The tasks the conformance kit's state machine submits, and their gates.

The kit's executor may run a task anywhere (a thread, a child process, a
dask worker) and is made without an initializer, so its tasks,
``reported_task``, share nothing with the machine but a loopback TCP
connection to a ``GateServer`` (``SocketHarness`` in test_prop_executor.py)::

    reported_task --connect, line "TASK_ID GATE"--> GateServer thread --> started (queue.Queue)
                  <------------- b"go" ------------ at once, or when open_gate(GATE)
                                                     opens a closed gate (_held)

Like ``process_prop_tasks.task``, a task reports that it started, then
returns its argument, raises ``ValueError(arg)``, or (a gate task) waits for
its gate and then returns its argument.
"""

from __future__ import annotations

import queue
import socket
import threading

from minipool.conformance.process_prop_tasks import GATE_TIMEOUT, GateNeverOpened

NO_GATE = -1  # what reported_task sends for a task that waits for no gate


def reported_task(address: tuple[str, int], task_id: int, kind: str, arg: int, gate: int) -> int:
    """``task``, for any executor: it reports and waits over a connection to *address*.

    It sends ``TASK_ID GATE`` and waits for the GateServer's ``go``, which
    comes only after the server recorded the start (and, for a gate task, once
    the gate is open): so no task finishes before the machine can see it started.
    """
    with socket.create_connection(address, timeout=GATE_TIMEOUT) as conn:
        conn.sendall(b"%d %d\n" % (task_id, gate if kind == "gate" else NO_GATE))
        with conn.makefile("rb") as answer:
            if answer.read(2) != b"go":
                raise GateNeverOpened(task_id)
    if kind == "raise":
        raise ValueError(arg)
    return arg


class GateServer:
    """The machine's side of ``reported_task``: hears tasks start, opens gates.

    Its thread, ``GateServer``, accepts each task's connection, puts the task
    id on ``started``, and answers ``go`` at once, or holds the connection in
    ``_held`` until ``open_gate`` opens that task's gate. ``gates[i].set()``
    opens gate i, as ``threading.Event.set()`` does for the other harnesses.
    """

    def __init__(self, n_gates: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        # Task ids, in the order the tasks reported: put by the GateServer
        # thread, read by the machine. queue.Queue, not SimpleQueue: see
        # ThreadHarness in test_prop_executor.py (3.9/3.10's timed get).
        self.started: queue.Queue[int] = queue.Queue()
        # Guards _open and _held, between the GateServer thread (a task
        # arrives) and the machine's thread (a gate opens), so that a task
        # arriving while its gate opens is either answered at once or held
        # and then released: never held forever.
        self._lock = threading.Lock()
        self._open = [False] * n_gates
        self._held: list[list[socket.socket]] = [[] for _ in range(n_gates)]
        self._closing = False  # set by close(), read by the GateServer thread
        self.gates = [_Gate(self, index) for index in range(n_gates)]
        self.thread = threading.Thread(target=self._serve, name="GateServer", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            if self._closing:  # close()'s own connection, to wake this accept()
                conn.close()
                return
            try:
                conn.settimeout(GATE_TIMEOUT)
                with conn.makefile("rb") as lines:
                    task_id, gate = (int(word) for word in lines.readline().split())
            except (OSError, ValueError):  # the task died before it said who it is
                conn.close()
                continue
            self.started.put(task_id)
            with self._lock:
                hold = gate != NO_GATE and not self._open[gate]
                if hold:
                    self._held[gate].append(conn)
            if not hold:
                _let_go(conn)

    def open_gate(self, gate: int) -> None:
        with self._lock:
            self._open[gate] = True
            released, self._held[gate] = self._held[gate], []
        for conn in released:
            _let_go(conn)

    def close(self) -> None:
        """Stop the thread; a task still held gets EOF (and raises GateNeverOpened)."""
        self._closing = True
        socket.create_connection(self.address, timeout=GATE_TIMEOUT).close()
        self.thread.join(GATE_TIMEOUT)
        self._listener.close()
        with self._lock:
            held = [conn for conns in self._held for conn in conns]
        for conn in held:
            conn.close()


class _Gate:
    def __init__(self, server: GateServer, index: int) -> None:
        self._server = server
        self._index = index

    def set(self) -> None:
        self._server.open_gate(self._index)


def _let_go(conn: socket.socket) -> None:
    try:
        conn.sendall(b"go")
    except OSError:
        pass  # the task is gone already
    conn.close()
