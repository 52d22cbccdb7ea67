"""One writer per run: a lease object created with an exclusive write, renewed while the run works.

Two processes on the same run id (a ``synthesize`` still running and a ``retry``, or two
scheduled runs overlapping) would both rewrite the manifest and lose each other's commits.
Before its first write, a run takes ``{store}/runs/{run_id}/lease.json``:

* ``file://``: ``open(..., "x")`` — the operating system's exclusive create;
* S3: ``PUT`` with ``If-None-Match: *`` — a conditional write (AWS S3, SeaweedFS).

The holder renews it every ``ttl_s / 3`` seconds and deletes it when done. A second process
gets :class:`LeaseHeld` naming the holder (host, pid, command, since when, last renewal).

A lease whose holder is gone is taken over: at once when the holder was a process on this
host that no longer exists (``kill -9``), otherwise once it has not been renewed for ``ttl_s``
(a lost machine). ``synthembed unlock --run-id ID`` breaks a lease by hand (a holder on
another host you know is gone; a holder alive on this host only with ``--force``). A take-over
deletes the stale lease, then creates its own exclusively, so of two processes taking over at once
one wins.

>>> import tempfile
>>> from tasks.storage.store import open_store
>>> store = open_store(tempfile.mkdtemp())
>>> lease = RunLease(store, "r1").acquire()
>>> RunLease(store, "r1").acquire()
Traceback (most recent call last):
...
tasks.storage.lease.LeaseHeld: run 'r1' is being written by ...
>>> lease.release()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import sys
import time

from fsspec.implementations.local import LocalFileSystem

from tasks.storage.store import Store

log = logging.getLogger(__name__)
LEASE_TTL_S = 60.0


class LeaseHeld(RuntimeError):
    """Another process holds the run's lease; the message names it and how to break a stale one."""


class LeaseLost(RuntimeError):
    """The lease was broken or taken over while this process worked: it must not write any more."""


class RunLease:
    """The lease on one run; ``acquire`` then ``renew_forever`` in the background, ``release`` at the end."""

    def __init__(self, store: Store, run_id: str, ttl_s: float = LEASE_TTL_S):
        self.store, self.run_id, self.ttl_s = store, run_id, ttl_s
        self.path = store.path("runs", run_id, "lease.json")
        self.token = secrets.token_hex(8)
        self._acquired_at = 0.0

    def _record(self) -> bytes:
        now = time.time()
        return json.dumps({
            "holder": f"{socket.gethostname()}:{os.getpid()}", "token": self.token,
            "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:3])),
            "acquired_at": self._acquired_at or now, "renewed_at": now, "ttl_s": self.ttl_s,
        }).encode()

    def holder(self) -> dict | None:
        """The lease as stored, or None when nobody holds it."""
        try:
            return self.store.read_json(self.path)
        except (ValueError, OSError):
            return {"holder": "unknown (unreadable lease)", "renewed_at": 0}

    def acquire(self, _again: bool = True) -> RunLease:
        """Take the lease or raise LeaseHeld (any other error of the store is raised as it is)."""
        self._acquired_at = time.time()
        try:
            if isinstance(self.store.fs, LocalFileSystem):
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                with open(self.path, "xb") as f:  # exclusive create: exactly one process wins
                    f.write(self._record())
            else:
                self.store.fs.pipe_file(self.path, self._record(), mode="create")  # If-None-Match: *
        except OSError:  # FileExistsError on file://; PreconditionFailed on S3
            held = self.holder()
            if held is not None and _again and self._holder_gone(held):
                log.warning("taking over the lease on run %s from %s (gone)", self.run_id, held.get("holder"))
                with contextlib.suppress(FileNotFoundError):
                    if self.holder() == held:  # still that stale lease
                        self.store.fs.rm_file(self.path)
                return self.acquire(_again=False)
            if held is None and _again:  # released between our attempt and the read: once more
                return self.acquire(_again=False)
            if held is None:
                raise
            raise LeaseHeld(self._describe(held)) from None
        return self

    def _holder_gone(self, held: dict) -> bool:
        """The holder died on this host, or stopped renewing for longer than its ttl."""
        if time.time() - float(held.get("renewed_at", 0)) > float(held.get("ttl_s", self.ttl_s)):
            return True
        return holder_alive_here(held) is False

    def _describe(self, held: dict) -> str:
        age = time.time() - float(held.get("renewed_at", 0))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(held.get("acquired_at", 0))))
        message = (f"run {self.run_id!r} is being written by {held.get('holder')} "
                   f"({held.get('command', '?')}, since {since} UTC, last renewed {age:.0f}s ago)")
        return (message + "; wait for it to finish or stop it. If that process is gone (its lease expires "
                f"{held.get('ttl_s', self.ttl_s):.0f}s after its last renewal), `synthembed unlock --run-id "
                f"{self.run_id}` breaks the lease now")

    def renew(self) -> None:
        """Rewrite the lease with a fresh ``renewed_at``, if it is still ours."""
        held = self.holder()
        if not held or held.get("token") != self.token:
            raise LeaseHeld(f"the lease on run {self.run_id!r} was broken or taken over: " + (self._describe(held) if held else "none"))
        self.store.write_bytes(self.path, self._record())

    async def renew_forever(self) -> None:
        """Background task: renew every ttl/3 (a failed renewal is logged and retried)."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await asyncio.to_thread(self.renew)
            except LeaseHeld:
                raise
            except Exception as exc:
                log.warning("renewing the lease on run %s failed (%s); retrying", self.run_id, exc)

    def release(self) -> None:
        """Delete the lease if it is still ours."""
        held = self.holder()
        if held and held.get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                self.store.fs.rm_file(self.path)


def holder_alive_here(held: dict) -> bool | None:
    """Whether a lease's holder (``host:pid``) is a live process: True or False on this host; None when
    it ran on another host (or the lease is unreadable): nothing here can tell."""
    host, _, pid = str(held.get("holder", "")).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def check_lease_free(store: Store, run_id: str) -> None:
    """LeaseHeld naming the holder if a live writer holds the run's lease (one that is gone would be taken
    over): what the CLI checks before Prefect starts, so that the refusal is one line."""
    lease = RunLease(store, run_id)
    held = lease.holder()
    if held is not None and not lease._holder_gone(held):
        raise LeaseHeld(lease._describe(held))


def break_lease(store: Store, run_id: str) -> dict | None:
    """Remove a run's lease whoever holds it; return what it said (None: there was none)."""
    lease = RunLease(store, run_id)
    held = lease.holder()
    if held is not None:
        with contextlib.suppress(FileNotFoundError):
            store.fs.rm_file(lease.path)
    return held


def unlock(store: Store, run_id: str, force: bool = False) -> dict | None:
    """``synthembed unlock``: :func:`break_lease`, unless its holder is a process alive on this host (not a
    writer that is gone): then LeaseHeld naming it, unless ``force``. A holder on another host cannot be
    checked from here: its lease is broken."""
    held = RunLease(store, run_id).holder()
    if held is not None and not force and holder_alive_here(held):
        raise LeaseHeld(f"run {run_id!r} is being written by {held.get('holder')} ({held.get('command', '?')}), a "
                        "process alive on this host: stop it (Ctrl-C) and its lease is released; breaking it would "
                        "let a second writer run beside it (--force does so anyway)")
    return break_lease(store, run_id)


@contextlib.asynccontextmanager
async def holding_lease(store: Store, run_id: str, ttl_s: float = LEASE_TTL_S):
    """Hold the run's lease for the block, renewing it; ``lease.lost`` is set if it is taken from us.

    Raises LeaseHeld at entry when another process holds it.
    """
    lease = await asyncio.to_thread(RunLease(store, run_id, ttl_s).acquire)
    lease.lost = asyncio.Event()
    renewer = asyncio.create_task(lease.renew_forever())
    renewer.add_done_callback(lambda t: t.cancelled() or t.exception() is None or lease.lost.set())
    try:
        yield lease
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError, LeaseHeld):
            await renewer
        await asyncio.to_thread(lease.release)
