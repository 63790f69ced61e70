"""Turn an uploaded file into a report: parse in the supervised pool, analyse in this process."""

from __future__ import annotations

from emg_core.analysis import analyze
from emg_core.parameters import AnalysisParameters
from emg_core.parser_pool import ParserPool
from emg_core.read import read_c3d
from emg_core.report import SessionReport


def analyse_upload(
    data: bytes, filename: str, params: AnalysisParameters, pool: ParserPool
) -> SessionReport:
    """Blocking: call from a worker thread. Raises `emg_core.errors.InputError` for bad files."""
    return analyze(read_c3d(data, pool, filename=filename), params)
