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


def main() -> None:
    counter = Counter()
    shared = {"server_kwargs": {"reuse_port": True}} if "--share" in sys.argv[2:] else {}
    controller = Controller(counter, hostname="127.0.0.1", port=int(sys.argv[1]), decode_data=False, **shared)
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
