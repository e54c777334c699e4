"""The ingest lease on the Chroma server: one ingest at a time from any machine, expiring if it dies."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from newsrag.manifest import IngestLockedError
from newsrag.store import VectorStore

__all__ = ["LEASE_ID", "IngestLease", "LeaseHolder"]

LEASE_ID = "lease"
# Chroma has no compare-and-set: a taker writes its lease, waits this long, and reads it back.
# Two machines racing both write within one round trip of each other; the later write wins and
# the earlier one sees the other owner on its read-back and gives up.
SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds the lease and until when (seconds since the epoch, the machines' clocks)."""

    owner: str
    token: str
    expires: float

    def until(self) -> str:
        """The expiry as a UTC time for messages."""
        return dt.datetime.fromtimestamp(self.expires, dt.UTC).strftime("%H:%M:%S UTC")


def default_owner() -> str:
    """This process, as other machines see it in messages: host and pid."""
    return f"{socket.gethostname()} pid {os.getpid()}"


class IngestLease:
    """A lease record in the server's manifest collection, renewed in a thread while held."""

    def __init__(
        self,
        store: VectorStore,
        *,
        seconds: float,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self.store = store
        self.seconds = seconds
        self.owner = owner or default_owner()
        self.token = secrets.token_hex(8)
        self.clock = clock
        self.settle = settle
        self.lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def holder(self) -> LeaseHolder | None:
        """The lease as the server holds it now (None: nobody)."""
        found = self.store.get_records([LEASE_ID])
        if LEASE_ID not in found:
            return None
        metadata = found[LEASE_ID][1]
        return LeaseHolder(
            owner=str(metadata.get("owner", "?")),
            token=str(metadata.get("token", "")),
            expires=float(metadata.get("expires", 0.0)),
        )

    def _refused(self, holder: LeaseHolder) -> IngestLockedError:
        return IngestLockedError(
            f"another ingest ({holder.owner}) holds the ingest lease on {self.store.describe()} "
            f"until {holder.until()} (renewed while it runs): wait for it to finish, then retry"
        )

    def _write(self) -> None:
        self.store.put_records(
            [
                (
                    LEASE_ID,
                    "",
                    {
                        "kind": "lease",
                        "owner": self.owner,
                        "token": self.token,
                        "expires": self.clock() + self.seconds,
                    },
                )
            ]
        )

    def acquire(self, *, renew: bool = True) -> list[str]:
        """Take the lease or raise IngestLockedError naming its holder; returns notes to show."""
        notes: list[str] = []
        holder = self.holder()
        if holder is not None and holder.token != self.token:
            if holder.expires > self.clock():
                raise self._refused(holder)
            notes.append(
                f"the ingest lease of {holder.owner} expired at {holder.until()} (that ingest "
                "stopped without releasing it): took it over; this run resumes its work"
            )
        self._write()
        time.sleep(self.settle)
        again = self.holder()
        if again is None or again.token != self.token:
            raise self._refused(again or LeaseHolder("another process", "", self.clock()))
        if renew:
            self._renewer = threading.Thread(target=self._renew_loop, daemon=True, name="lease")
            self._renewer.start()
        return notes

    def renew(self) -> bool:
        """Push the expiry out again; False (and `lost` set) when another owner has the lease."""
        holder = self.holder()
        if holder is None or holder.token != self.token:
            self.lost = True
            return False
        self._write()
        return True

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                if not self.renew():
                    return
            except Exception:  # a server hiccup: the next round tries again before expiry
                continue

    def check(self) -> None:
        """Raise IngestLockedError unless this process still holds the lease (before publishing)."""
        holder = self.holder()
        if self.lost or holder is None or holder.token != self.token:
            taker = holder.owner if holder is not None else "nobody"
            raise IngestLockedError(
                f"this ingest lost its lease on {self.store.describe()} (it now names {taker}): "
                "it was paused longer than NEWSRAG_INGEST_LEASE_SECONDS; nothing was published, "
                "run the ingest again"
            )

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still this process's."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        try:
            holder = self.holder()
            if holder is not None and holder.token == self.token:
                self.store.delete_records([LEASE_ID])
        except Exception:  # unreachable server: the lease expires by itself
            pass
