"""The test registry and result reporting.

A *group* is one function that boots what it needs once and runs several named *checks* against
it; each check prints exactly one line: `PASS group.check (details)`, `FAIL group.check: reason`
or `SKIP group.check: reason`. Groups declare their checks up front so that a group that cannot
start (an image failed to build, QEMU died during boot) still reports every check it owns.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness import TestFailure, TestSkipped


@dataclass
class Context:
    """What every group may use: paths, built images, and the run's options."""

    repository_root: Path
    target_directory: Path
    log_directory: Path
    images: dict[str, Path]
    image_errors: dict[str, str]
    quick: bool
    ci: bool

    def image(self, name: str) -> Path:
        """The built image `name` ("virt", "rpi4", "e2e"); raises if its build failed."""
        if name in self.images:
            return self.images[name]
        raise TestFailure(f"image {name!r} was not built: {self.image_errors.get(name, 'not requested')}")

    def log_path(self, name: str) -> Path:
        """Where a QEMU run's console log goes."""
        return self.log_directory / f"{name}.log"


@dataclass
class Results:
    """Counts and the printed lines."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    def record(self, name: str, outcome: str, text: str, seconds: float | None = None) -> None:
        """Prints one line for a check and counts it."""
        timing = f" [{seconds:.1f} s]" if seconds is not None and seconds >= 0.05 else ""
        if outcome == "PASS":
            self.passed += 1
            line = f"PASS {name}" + (f" ({text})" if text else "") + timing
        elif outcome == "SKIP":
            self.skipped += 1
            line = f"SKIP {name}: {text}"
        else:
            self.failed += 1
            self.failures.append(name)
            line = f"FAIL {name}: {text}" + timing
        print(line, flush=True)

    def summary(self) -> str:
        """The closing line: `N passed, M failed` plus `, K skipped` when some were skipped."""
        line = f"{self.passed} passed, {self.failed} failed"
        if self.skipped:
            line += f", {self.skipped} skipped"
        return line


class GroupAborted(Exception):
    """A check the rest of the group depends on failed; the others are reported as not run."""


@dataclass
class GroupRun:
    """The handle a group function receives: runs its checks and reports them."""

    name: str
    declared_checks: tuple[str, ...]
    selected: Callable[[str], bool]
    results: Results
    context: Context
    reported: set[str] = field(default_factory=set)

    def wants(self, check: str) -> bool:
        """Whether `check` is selected in this run (`--only`, `--quick`)."""
        return self.selected(f"{self.name}.{check}")

    def check(self, check: str, function: Callable[[], str | None]) -> bool:
        """Runs one check if selected; prints its line. Returns True if it passed (or was not
        selected), False if it failed or was skipped."""
        if check not in self.declared_checks:
            raise RuntimeError(f"{self.name}: check {check!r} is not declared")
        if not self.wants(check):
            return True
        full_name = f"{self.name}.{check}"
        started = time.monotonic()
        try:
            details = function()
        except TestSkipped as skip:
            self.results.record(full_name, "SKIP", str(skip))
            self.reported.add(check)
            return False
        except TestFailure as failure:
            self.results.record(full_name, "FAIL", str(failure), time.monotonic() - started)
            self.reported.add(check)
            return False
        except Exception as error:  # a bug in the test or an unexpected protocol error
            reason = f"{type(error).__name__}: {error}\n" + indent(traceback.format_exc())
            self.results.record(full_name, "FAIL", reason, time.monotonic() - started)
            self.reported.add(check)
            return False
        self.results.record(full_name, "PASS", details or "", time.monotonic() - started)
        self.reported.add(check)
        return True

    def require(self, check: str, function: Callable[[], str | None]) -> None:
        """Like `check`, but the rest of the group is not run if it fails."""
        if not self.check(check, function):
            raise GroupAborted(f"{self.name}.{check} failed")

    def skip_all(self, reason: str) -> None:
        """Reports every selected, unreported check as skipped."""
        for check in self.declared_checks:
            if check not in self.reported and self.wants(check):
                self.results.record(f"{self.name}.{check}", "SKIP", reason)
                self.reported.add(check)

    def fail_remaining(self, reason: str) -> None:
        """Reports every selected, unreported check as failed with `reason`."""
        for check in self.declared_checks:
            if check not in self.reported and self.wants(check):
                self.results.record(f"{self.name}.{check}", "FAIL", reason)
                self.reported.add(check)


def indent(text: str) -> str:
    """Indents a multi-line text under a result line."""
    return "\n".join("    " + line for line in text.rstrip().split("\n"))


@dataclass
class Group:
    """A registered group: its function, checks, the images it boots, and which of its checks
    `--quick` leaves out."""

    name: str
    function: Callable[[GroupRun], None]
    checks: tuple[str, ...]
    images: tuple[str, ...]
    slow_checks: tuple[str, ...] = ()
    slow: bool = False


REGISTRY: list[Group] = []


def group(name: str, checks: tuple[str, ...], images: tuple[str, ...], slow: bool = False,
          slow_checks: tuple[str, ...] = ()):
    """Registers a group function. `slow` groups and `slow_checks` are left out by `--quick`."""

    def register(function: Callable[[GroupRun], None]) -> Callable[[GroupRun], None]:
        REGISTRY.append(Group(name, function, checks, images, slow_checks, slow))
        return function

    return register


def run_group(definition: Group, context: Context, results: Results, selected: Callable[[str], bool]) -> None:
    """Runs one group; whatever escapes it becomes FAIL lines for its unreported checks."""
    handle = GroupRun(definition.name, definition.checks, selected, results, context)
    try:
        definition.function(handle)
    except GroupAborted as aborted:
        handle.fail_remaining(f"not run: {aborted}")
    except TestSkipped as skip:
        handle.skip_all(str(skip))
    except TestFailure as failure:
        handle.fail_remaining(str(failure))
    except Exception as error:
        handle.fail_remaining(f"{type(error).__name__}: {error}\n" + indent(traceback.format_exc()))
    # A check the group never reached (a bug in the group) must not vanish silently.
    handle.fail_remaining("the group ended without running this check")
    sys.stdout.flush()
