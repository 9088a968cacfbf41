"""Run every ``benchmarks/bench_*.py`` script in turn, in the running Python.

``make benchmark`` calls this. Each script prints its own results; this runner
adds a header per script and stops with a non-zero status if one fails.
"""

import subprocess
import sys
from pathlib import Path


def main():
    folder = Path(__file__).resolve().parent
    scripts = sorted(folder.glob("bench_*.py"))
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        result = subprocess.run([sys.executable, str(script)], cwd=folder.parent)
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
