"""An SMTP sink for benchmarks: aiosmtpd on 127.0.0.1 in its own process, counting what it accepts.

    python bench/sink.py PORT [--share]   # prints "ready" when listening; SIGTERM stops it
--share binds with SO_REUSEPORT, so that several sinks on one port split the connections between them.
A line "count" on stdin makes it print how many messages (and bytes) it has accepted so far.
"""

from __future__ import annotations

import sys
import time

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages += 1
        self.bytes += len(envelope.original_content or b"")  # type: ignore[attr-defined]
        return "250 OK"


class Shared(Controller):  # type: ignore[misc]
    """Binds with SO_REUSEPORT; its own test connection might reach another sink, so it makes none."""

    def _create_server(self) -> object:
        return self.loop.create_server(self._factory_invoker, host=self.hostname, port=self.port, reuse_port=True)

    def _trigger_server(self) -> None:
        self.smtpd = self.factory()
        self._factory_invoked.set()


def main() -> None:
    counter = Counter()
    kind = Shared if "--share" in sys.argv[2:] else Controller
    controller = kind(counter, hostname="127.0.0.1", port=int(sys.argv[1]), decode_data=False)
    controller.start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "count":
                print(counter.messages, counter.bytes, flush=True)
    finally:
        controller.stop()
        time.sleep(0.05)


if __name__ == "__main__":
    main()
