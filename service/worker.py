"""Background processing of webhook sessions: claim, fetch, analyse, store.

Every outcome lands on the session row: completed with its report, or failed with a reason a
therapist can read. A session whose content another session already holds is discarded (one file,
one session). Rows survive restarts: an instance that dies leaves a lease that expires, and any
instance then picks the row up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable

from emg_core.errors import InputError
from emg_core.parameters import AnalysisParameters
from emg_core.parser_pool import ParserPool
from service.db.models import TherapySession
from service.metrics import Metrics
from service.processing import analyse_upload
from service.settings import Settings
from service.storage import ObjectStorage, StorageError
from service.store import SessionStore

log = logging.getLogger("service.worker")


class SessionWorker:
    def __init__(
        self,
        store: SessionStore,
        storage: ObjectStorage,
        parser_pool: Awaitable[ParserPool],
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.store = store
        self.storage = storage
        self.parser_pool = parser_pool
        self.settings = settings
        self.metrics = metrics
        self._wake = asyncio.Event()
        self.lease_s = settings.processing_timeout + settings.parser_timeout + 60

    def notify(self) -> None:
        """A session was created: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """One claim-and-process loop; start ``worker_concurrency`` of them. It never stops on an
        error: a session it could not finish keeps its lease, which expires, and is retried."""
        while True:
            self._wake.clear()  # before claiming, so a notify() during the claim is not lost
            try:
                session = await asyncio.to_thread(
                    self.store.claim_next, self.lease_s, self.settings.max_attempts
                )
                if session is not None:
                    await self.process(session)
                    continue
            except Exception:
                log.exception("session loop error; carrying on")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.worker_poll_interval)

    async def process(self, session: TherapySession) -> None:
        started = time.perf_counter()
        outcome = "failed"
        try:
            outcome = await self._process(session, started)
        except Exception:
            log.exception("session processing failed", extra={"session_id": str(session.id)})
            await asyncio.to_thread(
                self.store.fail, session.id, "internal error while processing; it was logged"
            )
        finally:
            self.metrics.processing_seconds.labels("webhook", outcome).observe(
                time.perf_counter() - started
            )

    async def _process(self, session: TherapySession, started: float) -> str:
        settings = self.settings
        try:
            data = await asyncio.to_thread(
                self.storage.fetch, session.bucket, session.object_name, settings.max_file_size
            )
        except StorageError as exc:
            await asyncio.to_thread(
                self.store.fail, session.id, f"cannot fetch the recording: {exc}"
            )
            return "failed"
        file_hash = hashlib.sha256(data).hexdigest()
        original = await asyncio.to_thread(self.store.find_by_hash, file_hash)
        if original is not None and original.id != session.id:
            await asyncio.to_thread(self.store.discard, session.id)
            log.info("duplicate recording", extra={"session_id": str(original.id)})
            return "duplicate"
        pool = await self.parser_pool
        try:
            report = await asyncio.wait_for(
                asyncio.to_thread(
                    analyse_upload, data, session.file_name, file_hash, AnalysisParameters(), pool
                ),
                settings.processing_timeout,
            )
        except InputError as exc:
            await asyncio.to_thread(
                self.store.fail, session.id, f"the recording cannot be analysed: {exc}"
            )
            return "rejected"
        except TimeoutError:
            await asyncio.to_thread(
                self.store.fail,
                session.id,
                f"analysis took longer than {settings.processing_timeout:g} s",
            )
            return "timeout"
        document = report.model_dump(mode="json")
        stored = await asyncio.to_thread(
            lambda: self.store.complete(
                session.id,
                file_hash=file_hash,
                file_size=len(data),
                recording=document["recording"],
                report=document,
                processing_ms=(time.perf_counter() - started) * 1000,
            )
        )
        return "completed" if stored is not None else "duplicate"
