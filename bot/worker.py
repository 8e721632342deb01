"""The bot's filing process: complaints classified and stored beside the event loop, not on it.

A complaint costs the bot more CPU than all its other updates together: the classifier
(1-3 ms a text) and the filing transaction (~2 ms), in threads that share the GIL with the
event loop. With a hundred citizens at once the loop was busy all the time, and every
handler's wall time included that work between its awaits. So `minyi bot` (and `minyi
serve` with a token) starts one child process that loads the models and an engine of its
own, and sends it each complaint over a socket: the child classifies what has arrived
together (`tickets.analyze_complaints`) and stores it in one transaction
(`commit_together`), on the machine's other core. The rules are the service layer's, as
in the bot's own threads (`[bot] filing_process = false`, the way for a one-core machine).

Wire: frames of a 4-byte big-endian length and a pickle, both ways. The first frame to the
child is the settings; the child answers ("ready", pid) once its models are loaded; then
each request is (id, the complaint's fields) and each answer a list of (id, done, ticket
view or the error to raise). The child exits when the socket closes (the bot stopped or
died); it never answers a complaint before the commit that stored it. Pickles are fine
here: the socketpair joins the bot to the child it started, nobody else can write to it.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import pickle
import select
import socket
import struct
import sys
from typing import Any

from minyi.db import commit_together, make_engine, make_session_factory
from minyi.models import Channel
from minyi.services.citizens import get_or_create_citizen
from minyi.services.context import ServiceContext
from minyi.services.tickets import analyze_complaints, file_analyzed

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
# At most this many complaints are classified and committed together.
BATCH_MAX = 16
# Starting the child loads the NLP models (about a second, longer on a busy machine).
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 10


class FilingStopped(RuntimeError):
    """The filing process ended before it answered: the complaint may not have been stored."""


def _frame(payload: Any) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _answerable(outcome: tuple[bool, Any]) -> tuple[bool, Any]:
    """The outcome as it can cross to the bot: an error that does not pickle as its text."""
    done, value = outcome
    if done:
        return outcome
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001 (any unpicklable error: its text still gets across)
        return False, FilingStopped(f"{type(value).__name__}: {value}")
    return outcome


class FilingProcess:
    """The bot's side of the child: start it, hand it complaints, stop it."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._receiver: asyncio.Task | None = None
        self._starting: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return (
            self._writer is not None and self._receiver is not None and not self._receiver.done()
        )

    async def start(self) -> None:
        """Start the child and wait until its models are loaded; again after it ended."""
        if self.running:
            return
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        # The child imports the same code as this process (a checkout on sys.path included).
        env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.worker", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), env=env, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            theirs.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        self._writer.write(_frame(self.settings))
        try:
            kind, pid = await asyncio.wait_for(_read_frame(reader), START_TIMEOUT_S)
        except (asyncio.IncompleteReadError, TimeoutError) as error:
            await self._end_child()
            raise FilingStopped("the filing process did not start (see its log)") from error
        log.info("filing process %s ready", pid)
        self._receiver = asyncio.create_task(self._receive(reader), name="minyi-filing")

    async def file(self, fields: dict[str, Any]):
        """`file_analyzed(analyze_complaint(**fields))` in the child: the stored ticket's view,
        or the error the service raised (ValidationFailed, LimitReached, ...)."""
        if not self.running:
            await self.start()
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._writer.write(_frame((request_id, fields)))
            return await future
        finally:
            self._pending.pop(request_id, None)

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                for request_id, done, value in await _read_frame(reader):
                    future = self._pending.get(request_id)
                    if future is None or future.done():  # its caller was cancelled
                        continue
                    if done:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        except (asyncio.IncompleteReadError, ConnectionError):
            log.error("the filing process ended; it starts again with the next complaint")
            self._fail_pending()
            await self._end_child()

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(FilingStopped("the filing process ended"))

    async def stop(self) -> None:
        """Close the socket (the child finishes its batch and exits) and wait for it.
        A complaint still waiting gets FilingStopped (the bot is stopping)."""
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.cancel()
            try:
                await receiver
            except asyncio.CancelledError:
                pass
        self._fail_pending()
        await self._end_child()

    async def _end_child(self) -> None:
        # Both taken before any await: a new child may be starting meanwhile.
        writer, self._writer = self._writer, None
        process, self._process = self._process, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
        if process is None:
            return
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.error("the filing process did not stop: killed")
            process.kill()
            await process.wait()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))


# -- the child ----------------------------------------------------------------------------------


class _Requests:
    """The frames arriving on the child's socket, as many as have arrived at once."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def next_batch(self) -> list | None:
        """Every complete frame received; waits for at least one. None once the bot closed."""
        while True:
            frames = self._complete_frames()
            if frames:
                while self._readable():  # and what else has arrived meanwhile, not waiting
                    chunk = self.sock.recv(1 << 16)
                    if not chunk:  # closed: these first, None at the next call
                        break
                    self.buffer += chunk
                    frames += self._complete_frames()
                return frames
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self.buffer += chunk

    def _readable(self) -> bool:
        return bool(select.select([self.sock], [], [], 0)[0])

    def _complete_frames(self) -> list:
        frames, offset = [], 0
        while len(self.buffer) - offset >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.buffer, offset)
            end = offset + _HEADER.size + size
            if len(self.buffer) < end:
                break
            frames.append(pickle.loads(self.buffer[offset + _HEADER.size : end]))
            offset = end
        del self.buffer[:offset]
        return frames


def file_batch(ctx, session_factory, requests: list[tuple[int, dict]]) -> list[tuple]:
    """Classify the requests' complaints together and store them in one transaction;
    (id, done, view or error) for each."""
    analyzed = analyze_complaints(ctx, [fields for _, fields in requests])
    outcomes: dict[int, tuple[bool, Any]] = {}
    readable = []
    for (request_id, _), complaint in zip(requests, analyzed, strict=True):
        if isinstance(complaint, Exception):
            outcomes[request_id] = (False, complaint)
        else:
            readable.append((request_id, complaint))
    stored = (
        commit_together(
            session_factory,
            [(file_analyzed, (ctx, complaint), {}) for _, complaint in readable],
            optimistic=True,  # it keeps nothing of a session: a refused one costs a second run
        )
        if readable
        else []  # every one refused: no transaction to open
    )
    for (request_id, _), outcome in zip(readable, stored, strict=True):
        outcomes[request_id] = outcome
    return [(request_id, *_answerable(outcomes[request_id])) for request_id, _ in requests]


WARM_UP_TEXT = "小区门口的路灯坏了一个多月，晚上出行很不安全，请尽快修理。"


def warm_up(ctx, session_factory) -> None:
    """Load the models' tables (`ctx.warm_up`), then classify and file a sample complaint
    in a transaction that is rolled back.

    The first complaint otherwise paid ~120 ms of CPU: the models' lazily loaded tables
    and the compilation of every SQL statement of filing. Nothing stays: the citizen, the
    ticket and the day's number are rolled back.
    """
    ctx.warm_up()
    sample = {
        "text": WARM_UP_TEXT,
        "channel": Channel.TELEGRAM,
        "latitude": 30.27,
        "longitude": 120.15,
        "attachments": [("photo", "warm-up")],
        "source_ref": "warm-up",
    }
    session = session_factory()
    try:
        session.begin()
        citizen = get_or_create_citizen(session, channel=Channel.TELEGRAM, external_id=-1)
        [complaint] = analyze_complaints(ctx, [sample | {"citizen": citizen}])
        file_analyzed(session, ctx, complaint)
    finally:
        session.rollback()
        session.close()


def serve(sock: socket.socket) -> None:
    """The child's life: settings, models, then batches until the bot closes the socket."""
    requests = _Requests(sock)
    first = requests.next_batch()
    if not first:
        return
    settings, queued = first[0], first[1:]
    engine = make_engine(settings)
    session_factory = make_session_factory(engine)
    ctx = ServiceContext.from_settings(settings, session_factory=session_factory)
    warm_up(ctx, session_factory)
    gc.collect()
    gc.freeze()  # the models live as long as the process: out of the collector's passes
    sock.sendall(_frame(("ready", os.getpid())))
    try:
        while True:
            for first_of in range(0, len(queued), BATCH_MAX):
                batch = queued[first_of : first_of + BATCH_MAX]
                sock.sendall(_frame(file_batch(ctx, session_factory, batch)))
            queued = requests.next_batch()
            if queued is None:
                return
    except (BrokenPipeError, ConnectionResetError):  # the bot went away mid-answer
        return
    finally:
        engine.dispose()


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING, format="minyi filing: %(levelname)s %(message)s")
    serve(socket.socket(fileno=int(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
