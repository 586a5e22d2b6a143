"""Import and export a long subscriber list: seconds and peak memory of `digest subscribers import` and `export`,
each in its own process, against the same process doing nothing but load the config and open the state file
(`subscribers list --status bounced` on the imported list: no row to print). Memory is the process's peak
resident set (VmHWM), so the baseline shows what Python, the libraries and SQLite take before any row.

    .venv/bin/python bench/subscribers.py [--lines 200000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def write_list(path: Path, lines: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,language,themes\n")
        for n in range(lines):
            out.write(f"reader{n}@example{n % 97}.org,Reader Number {n},{'es' if n % 3 else 'en'},labor;palestine\n")


# Runs `digest` and prints its peak resident memory (VmHWM, in kB) as the last line of stderr. The peak of the
# process itself: a fork's ru_maxrss would also count the pages it shared with this one before exec.
PEAK = """
import atexit, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print(line.split()[1], file=sys.stderr)
atexit.register(peak)
from digest.cli import main
sys.argv[0] = "digest"
main()
"""


def measure(args: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak resident MB) of one `digest` command in a process of its own."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *args], cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)  # fmt: skip
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    return elapsed, int(done.stderr.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-bench-subscribers-") as name:
        folder = Path(name)
        shipped = yaml.safe_load((REPO / "config.yaml").read_text())
        config = {"newsletter": shipped["newsletter"], "feeds": [{"name": "none", "url": "none.xml"}]}
        (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
        listing = folder / "list.csv"
        write_list(listing, args.lines)
        size = listing.stat().st_size / 1e6
        rows = [
            ("import", measure(["subscribers", "import", str(listing)], folder)),
            ("export", measure(["subscribers", "export", "--out", str(folder / "out.csv")], folder)),
            ("baseline (open, no rows)", measure(["subscribers", "list", "--status", "bounced"], folder)),
        ]
        print(f"{args.lines:,} lines, {size:.1f} MB of CSV\n")
        print(f"{'':26} {'seconds':>8} {'peak MB':>8}")
        for label, (seconds, peak) in rows:
            print(f"{label:26} {seconds:8.2f} {peak:8.1f}")


if __name__ == "__main__":
    main()
