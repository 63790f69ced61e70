"""Turn an uploaded file into a report: parse in the supervised pool, analyse in this process.

The science stack (scipy.signal alone takes about a second to import) is imported on first use,
or ahead of it by `warm_up`, so the server answers health checks right after it starts.
"""

from __future__ import annotations

from emg_core.parameters import AnalysisParameters
from emg_core.parser_pool import ParserPool
from emg_core.report import SessionReport


def warm_up() -> None:
    """Import the analysis stack; run in a background thread at startup."""
    import emg_core.analysis  # noqa: F401


def analyse_upload(
    data: bytes, filename: str, sha256: str, params: AnalysisParameters, pool: ParserPool
) -> SessionReport:
    """Blocking: call from a worker thread. Raises `emg_core.errors.InputError` for bad files."""
    from emg_core.analysis import analyze
    from emg_core.read import read_c3d

    return analyze(read_c3d(data, pool, filename=filename, sha256=sha256), params)
