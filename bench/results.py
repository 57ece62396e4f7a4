"""The end every benchmark shares: print which goals are met, write the JSON results file
with the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def print_goals(goals: dict[str, bool], how: str = "") -> None:
    """One `goal ...: met` / `NOT met` line per goal; `how` names the statistic judged."""
    for goal, met in goals.items():
        print(f"goal {goal}{how}: {'met' if met else 'NOT met'}")


def write_results(out: Path, benchmark: str, **fields: Any) -> dict[str, Any]:
    """Write `{benchmark, cpu, cpus, python, **fields, time}` to `out` as indented JSON."""
    result = {"benchmark": benchmark, "cpu": cpu_model(), "cpus": os.cpu_count(),
              "python": platform.python_version(), **fields,
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result
