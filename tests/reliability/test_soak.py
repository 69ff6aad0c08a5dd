"""Model-checked soak: random I/O with 64 operations in flight, every read compared with a model.

Engine level (every backend's ``AsyncioContext``): reads, readintos, writes,
writevs, fsyncs, fdatasyncs and truncates at random offsets and sizes over
several files. Concurrent operations that overlap have no defined order, so
the driver only issues an operation that conflicts with none in flight: a
write conflicts with any operation on bytes it covers, a read with writes
only, a truncate with everything on its file. A write past the end of the
file also covers the gap it opens (a read there sees a hole or a short read
depending on whether the write landed). The model applies an operation
when it is issued; each read must return exactly the model's bytes of that
moment, and every file must equal its model at the end.

File objects (``aiofile.async_open``): concurrent sessions, one per file,
in binary (random seek/write/read/readline/truncate/flush, buffered and
unbuffered) and text (appends, reads and truncates at ``tell()`` cookies)
modes, checked against a byte or character model.

Seeded: a failure prints its seed; the bounded version runs in every suite
run, ``--long`` multiplies the work by 50.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aiofile import async_open

IN_FLIGHT = 64
FILES = 4
SPAN = 1 << 20  # offsets fall in [0, SPAN)
OPS = 20000  # per backend, bounded version


def random_size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.randint(1, 512)
    if r < 0.9:
        return rng.randint(513, 16384)
    return rng.randint(16385, 131072)


@dataclass
class FileModel:
    fd: int
    data: bytearray = field(default_factory=bytearray)
    busy: list[tuple[int, int, bool]] = field(default_factory=list)  # (start, end, is_write) in flight
    truncating: bool = False

    def conflicts(self, start: int, end: int, write: bool) -> bool:
        if self.truncating:
            return True
        return any((w or write) and s < end and start < e for s, e, w in self.busy)

    def apply_write(self, offset: int, payload: bytes) -> None:
        if len(self.data) < offset:
            self.data.extend(bytes(offset - len(self.data)))
        self.data[offset : offset + len(payload)] = payload

    def apply_truncate(self, length: int) -> None:
        if length <= len(self.data):
            del self.data[length:]
        else:
            self.data.extend(bytes(length - len(self.data)))


@dataclass
class Stats:
    ops: int = 0
    bytes_checked: int = 0
    most_in_flight: int = 0


async def engine_soak(actx: Any, models: list[FileModel], rng: random.Random, ops: int) -> Stats:
    stats = Stats()
    tasks: set[asyncio.Task[None]] = set()

    async def settle(first: bool) -> None:
        nonlocal tasks
        done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED if first else asyncio.ALL_COMPLETED)
        for task in done:
            task.result()  # a mismatch or an unexpected error fails the test here

    async def read(m: FileModel, offset: int, size: int, entry: tuple[int, int, bool]) -> None:
        expected = bytes(m.data[offset : offset + size])
        try:
            if rng.random() < 0.5:
                got = await actx.read(size, m.fd, offset)
            else:
                buffer = bytearray(size)
                got = bytes(buffer[: await actx.readinto(buffer, m.fd, offset)])
        finally:
            m.busy.remove(entry)
        assert got == expected, f"read of {size} at {offset}: {len(got)} bytes differ from the model's {len(expected)}"
        stats.bytes_checked += len(got)

    async def write(m: FileModel, offset: int, payload: bytes, entry: tuple[int, int, bool]) -> None:
        try:
            if rng.random() < 0.25 and len(payload) > 1:
                cut = rng.randrange(1, len(payload))
                written = await actx.writev([payload[:cut], bytearray(payload[cut:])], m.fd, offset)
            else:
                written = await actx.write(rng.choice((bytes, bytearray, memoryview))(payload), m.fd, offset)
        finally:
            m.busy.remove(entry)
        assert written == len(payload)

    async def truncate(m: FileModel, length: int) -> None:
        try:
            ftruncate = getattr(actx, "ftruncate", None)
            if ftruncate is not None:
                await ftruncate(m.fd, length)
            else:
                os.ftruncate(m.fd, length)  # nothing in flight on this file: instant, no ordering question
        finally:
            m.truncating = False

    async def sync(m: FileModel) -> None:
        await (actx.fsync(m.fd) if rng.random() < 0.5 else actx.fdsync(m.fd))

    issued = 0
    while issued < ops:
        if len(tasks) >= IN_FLIGHT:
            await settle(first=True)
        m = rng.choice(models)
        kind = rng.random()
        if kind < 0.45:  # read
            offset = rng.randrange(SPAN + 4096)
            size = random_size(rng)
            if m.conflicts(offset, offset + size, write=False):
                if tasks:
                    await settle(first=True)
                continue
            entry = (offset, offset + size, False)
            m.busy.append(entry)
            coro = read(m, offset, size, entry)
        elif kind < 0.93:  # write
            offset = rng.randrange(SPAN)
            payload = rng.randbytes(random_size(rng))
            start = min(offset, len(m.data))  # a write past the end also covers the gap it opens
            if m.conflicts(start, offset + len(payload), write=True):
                if tasks:
                    await settle(first=True)
                continue
            entry = (start, offset + len(payload), True)
            m.busy.append(entry)
            m.apply_write(offset, payload)
            coro = write(m, offset, payload, entry)
        elif kind < 0.95:  # truncate: alone on its file
            if m.busy or m.truncating:
                if tasks:
                    await settle(first=True)
                continue
            length = rng.randrange(SPAN)
            m.truncating = True
            m.apply_truncate(length)
            coro = truncate(m, length)
        else:
            coro = sync(m)
        tasks.add(asyncio.ensure_future(coro))
        issued += 1
        stats.most_in_flight = max(stats.most_in_flight, len(tasks))
    if tasks:
        await settle(first=False)
    stats.ops = issued
    return stats


@pytest.mark.parametrize("seed", [20261206])
async def test_engine_soak_matches_the_model(backend: Any, tmp_path: Path, seed: int, scale: int) -> None:
    rng = random.Random(seed)
    fds = [os.open(tmp_path / f"soak{i}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600) for i in range(FILES)]
    models = [FileModel(fd) for fd in fds]
    try:
        async with backend.AsyncioContext(max_requests=IN_FLIGHT) as actx:
            stats = await engine_soak(actx, models, rng, OPS * scale)
            assert actx.in_flight == 0
        assert stats.ops == OPS * scale
        assert stats.bytes_checked > 0
        for m in models:
            assert os.fstat(m.fd).st_size == len(m.data)
            assert os.pread(m.fd, len(m.data) + 1, 0) == m.data
    finally:
        for fd in fds:
            os.close(fd)


# -- file objects ----------------------------------------------------------------------------


async def binary_session(path: Path, actx: Any, rng: random.Random, steps: int) -> None:
    model = bytearray()
    pos = 0
    buffering = rng.choice((0, 4096, -1))
    async with async_open(path, "w+b", buffering=buffering, context=actx) as f:
        for _ in range(steps):
            kind = rng.random()
            if kind < 0.35:
                payload = rng.randbytes(random_size(rng) // 4 + 1)
                if rng.random() < 0.2:
                    payload = payload.replace(b"\n", b"") + b"\n"
                assert await f.write(payload) == len(payload)
                if len(model) < pos:
                    model.extend(bytes(pos - len(model)))
                model[pos : pos + len(payload)] = payload
                pos += len(payload)
            elif kind < 0.6:
                size = rng.choice((-1, rng.randint(0, 40000)))
                got = await f.read(size)
                expected = bytes(model[pos:] if size < 0 else model[pos : pos + size])
                assert got == expected, f"read({size}) at {pos} differs from the model"
                pos += len(got)
            elif kind < 0.7:
                got = await f.readline()
                end = model.find(b"\n", pos)
                expected = bytes(model[pos:] if end < 0 else model[pos : end + 1])
                assert got == expected, f"readline() at {pos} differs from the model"
                pos += len(got)
            elif kind < 0.88:
                target = rng.randint(0, len(model) + 100)
                assert f.seek(target) == target
                pos = target
            elif kind < 0.94:
                length = rng.randint(0, len(model) + 100)
                assert await f.truncate(length) == length
                if length <= len(model):
                    del model[length:]
                else:
                    model.extend(bytes(length - len(model)))
            else:
                await f.flush()
            assert f.tell() == pos
    assert path.read_bytes() == model


ALPHABET = "abcdefgh \n\t0123456789éß€漢😀"


async def text_session(path: Path, actx: Any, rng: random.Random, steps: int) -> None:
    model = ""
    cookies: dict[int, int] = {0: 0}  # character index -> tell() cookie
    async with async_open(path, "w+", encoding="utf-8", newline="", context=actx) as f:
        for _ in range(steps):
            kind = rng.random()
            if kind < 0.4:  # append
                f.seek(0, os.SEEK_END)
                text = "".join(rng.choices(ALPHABET, k=rng.randint(1, 3000)))
                assert await f.write(text) == len(text)
                model += text
                cookies[len(model)] = f.tell()
            elif kind < 0.8:  # read from a known place
                index = rng.choice(sorted(cookies))
                f.seek(cookies[index])
                size = rng.choice((-1, rng.randint(0, 5000)))
                got = await f.read(size)
                expected = model[index:] if size < 0 else model[index : index + size]
                assert got == expected, f"text read({size}) at character {index} differs from the model"
                cookies[index + len(got)] = f.tell()
            elif kind < 0.88:  # a line from a known place
                index = rng.choice(sorted(cookies))
                f.seek(cookies[index])
                got = await f.readline()
                end = model.find("\n", index)
                assert got == (model[index:] if end < 0 else model[index : end + 1])
                cookies[index + len(got)] = f.tell()
            elif kind < 0.93:  # truncate at a known place
                index = rng.choice(sorted(cookies))
                f.seek(cookies[index])
                await f.truncate()
                model = model[:index]
                cookies = {i: c for i, c in cookies.items() if i <= index}
            else:
                await f.flush()
    assert path.read_bytes().decode("utf-8") == model


SESSIONS = 8
STEPS = 400  # per session, bounded version


@pytest.mark.parametrize("mode", ["binary", "text"])
async def test_async_open_sessions_match_the_model(
    backend: Any, tmp_path: Path, mode: str, scale: int, request: pytest.FixtureRequest
) -> None:
    session = binary_session if mode == "binary" else text_session
    seed = 1206 + (mode == "text")
    async with backend.AsyncioContext(max_requests=IN_FLIGHT) as actx:
        await asyncio.gather(
            *(
                session(tmp_path / f"{mode}{i}", actx, random.Random(seed * 100 + i), STEPS * scale)
                for i in range(SESSIONS)
            )
        )
        assert actx.in_flight == 0
