"""The error family the command line reports as one line (exit code 2) instead of a traceback.

Library code raises these for problems a user can fix: a file that is not what it claims to be,
a path, a config, a flag, a workdir that belongs to another run. Each message names the culprit and
what was expected. Anything else is a bug and keeps its traceback. ``Interrupted`` is not an error:
a run stopped cleanly by SIGINT/SIGTERM, reported with how to resume.
"""

from __future__ import annotations

import signal


class UserError(Exception):
    """Bad user input (file, path, config, flag, workdir); the message names it and what was expected."""


class CheckpointError(UserError, ValueError):
    """A checkpoint or weights file that cannot be read (corrupt, truncated, wrong format, unsafe)."""


class ConfigError(UserError, ValueError):
    """A config file or setting that cannot be used (unparsable YAML, wrong types, a mesh too big)."""


class ManifestError(UserError, ValueError):
    """A manifest (CSV/Parquet table of videos) that is missing, unreadable or lacks required columns:
    the training manifests of :mod:`hummingbird_jax.data` and the curation tables alike."""


class WorkdirError(UserError, ValueError):
    """A workdir made by another experiment or other settings, or a path that cannot be a workdir."""


class CommandError(UserError):
    """Bad user input found at the edge (a flag, a combination of flags): printed as one line, exit code 2."""


class Interrupted(Exception):
    """A run stopped at a safe point after SIGINT/SIGTERM; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name
