"""`analyze`: compose the stages into the session report. No signal processing of its own."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from emg_core import report as r
from emg_core import scores
from emg_core.amplitude import mav, rms
from emg_core.condition import bandpass, bandpass_edges, envelope
from emg_core.contractions import active_segments, measure_contractions, mvc_threshold
from emg_core.parameters import AnalysisParameters, ResolvedChannel, check_for_rate
from emg_core.recording import Channel, Recording
from emg_core.spectrum import Trend, power_spectrum, spectral_features, temporal_stats

FLAT_STD = 1e-10


def _num(value: float | np.floating | None) -> float | None:
    """A finite float, or None (NaN and ±inf never reach the report)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _why_not_analysable(ch: Channel, fs: float, p: AnalysisParameters) -> str | None:
    duration = ch.raw_v.shape[-1] / fs
    if fs < p.min_sampling_rate_hz:
        return f"sampling rate {fs:g} Hz is below {p.min_sampling_rate_hz:g} Hz"
    if duration < p.min_channel_duration_s:
        return f"recording is {duration:.2f} s long, shorter than {p.min_channel_duration_s:g} s"
    if duration > p.max_channel_duration_s:
        return f"recording is {duration:.2f} s long, longer than {p.max_channel_duration_s:g} s"
    if not np.all(np.isfinite(ch.raw_v)):
        return "signal holds NaN or infinite samples"
    if float(np.std(ch.raw_v)) < FLAT_STD:
        return "signal is flat (no muscle activity recorded)"
    return None


def _trend(t: Trend) -> r.Trend:
    return r.Trend(
        mean=_num(t.mean), std=_num(t.std), cv=_num(t.cv), slope_per_min=_num(t.slope_per_min)
    )


def _contraction_summary(
    items: list[r.ContractionItem],
) -> r.Contractions:
    durations = [c.duration_ms for c in items]
    return r.Contractions(
        count=len(items),
        good=sum(c.good for c in items),
        mvc_compliant=sum(c.meets_mvc for c in items),
        duration_compliant=sum(c.meets_duration for c in items),
        mean_duration_ms=float(np.mean(durations)) if items else None,
        min_duration_ms=min(durations, default=None),
        max_duration_ms=max(durations, default=None),
        time_under_tension_ms=float(sum(durations)),
        items=items,
    )


def _analyse_channel(
    ch: Channel, fs: float, p: AnalysisParameters, own: ResolvedChannel
) -> tuple[r.ChannelReport, np.ndarray]:
    warnings: list[str] = []
    conditioned = bandpass(ch.raw_v, fs, p.bandpass_low_hz, p.bandpass_high_hz, p.filter_order)
    env = envelope(
        ch.raw_v,
        fs,
        p.envelope_highpass_hz,
        p.envelope_lowpass_hz,
        p.envelope_smoothing_s,
        p.filter_order,
    )
    freqs, psd = power_spectrum(conditioned, fs, p.welch_nperseg)
    feats = spectral_features(freqs, psd)
    temporal = temporal_stats(
        conditioned, fs, p.window_s, p.window_overlap, p.welch_nperseg, p.min_windows
    )
    if temporal is None:
        warnings.append(
            f"fewer than {p.min_windows} full {p.window_s:g} s windows: no fatigue trend"
        )

    timing, threshold_pct = env, p.envelope_threshold_pct
    if ch.activation is not None:
        if np.all(np.isfinite(ch.activation)):
            timing, threshold_pct = ch.activation, p.activation_threshold_pct
        else:
            warnings.append("activation signal holds NaN or infinite samples: timing from envelope")
    segments = active_segments(
        timing,
        fs,
        threshold_pct,
        p.timing_smoothing_samples,
        p.min_contraction_s,
        p.merge_gap_s,
        p.max_contraction_s,
    )
    mvc = mvc_threshold(
        env,
        own.mvc_pct,
        channel_mvc_v=own.channel_mvc_v,
        session_mvc_v=p.mvc_value_v,
        estimate_percentile=p.mvc_estimate_percentile,
    )
    items = []
    for c in measure_contractions(segments, env, fs):
        meets_mvc = c.max_amplitude_v >= mvc.threshold_v
        meets_duration = c.duration_s * 1000 >= own.min_duration_ms
        items.append(
            r.ContractionItem(
                start_ms=c.start / fs * 1000,
                end_ms=c.end / fs * 1000,
                duration_ms=c.duration_s * 1000,
                mean_amplitude_v=c.mean_amplitude_v,
                max_amplitude_v=c.max_amplitude_v,
                meets_mvc=meets_mvc,
                meets_duration=meets_duration,
                good=meets_mvc and meets_duration,
            )
        )
    if not items:
        warnings.append("no contractions detected")
    report = r.ChannelReport(
        name=ch.name,
        muscle=own.muscle,
        raw_label=ch.raw_label,
        activation_label=ch.activation_label,
        amplitude=r.Amplitude(rms_v=_num(rms(conditioned)), mav_v=_num(mav(conditioned))),
        spectrum=r.Spectrum(
            mpf_hz=_num(feats.mpf_hz), mdf_hz=_num(feats.mdf_hz), fi_nsm5=_num(feats.fi_nsm5)
        ),
        temporal=None
        if temporal is None
        else r.Temporal(
            window_s=temporal.window_s,
            n_windows=temporal.n_windows,
            rms=_trend(temporal.rms),
            mpf=_trend(temporal.mpf),
            mdf=_trend(temporal.mdf),
            fi_nsm5=_trend(temporal.fi_nsm5),
        ),
        mvc=r.Mvc(
            value_v=_num(mvc.value_v),
            threshold_v=_num(mvc.threshold_v),
            threshold_pct=mvc.threshold_pct,
            method=mvc.method,
        ),
        contractions=_contraction_summary(items),
        warnings=warnings,
    )
    return report, env


def _signals(ch: Channel, env: np.ndarray | None, fs: float, max_points: int) -> r.ChannelSignals:
    step = max(1, math.ceil(ch.raw_v.shape[-1] / max_points))

    def thin(x: np.ndarray | None) -> list[float] | None:
        return None if x is None else np.nan_to_num(x[::step]).tolist()

    return r.ChannelSignals(
        step=step,
        time_s=(np.arange(0, ch.raw_v.shape[-1], step) / fs).tolist(),
        raw_v=thin(ch.raw_v),
        envelope_v=thin(env),
        activation=thin(ch.activation),
    )


def _scores(
    channels: list[r.ChannelReport], recording: Recording, p: AnalysisParameters
) -> tuple[r.Scores, list[str]]:
    warnings: list[str] = []
    muscles: dict[str, r.MuscleScore] = {}
    cw = p.compliance_weights
    for ch in channels:
        if ch.contractions is None:
            continue
        c = ch.contractions
        s = scores.muscle_compliance(
            c.count,
            c.mvc_compliant,
            c.duration_compliant,
            p.for_channel(ch.name).expected_contractions,
            (cw.completion, cw.intensity, cw.duration),
        )
        muscles[ch.name] = r.MuscleScore(
            compliance=s.compliance,
            completion_rate=s.completion_rate,
            intensity_rate=s.intensity_rate,
            duration_rate=s.duration_rate,
        )
    skipped = [ch.name for ch in channels if ch.name not in muscles]
    if skipped and muscles:
        warnings.append(
            f"compliance uses {', '.join(muscles)} only: {', '.join(skipped)} not analysed"
        )
    bfr_ok = scores.bfr_compliant(p.bfr_pressure_pct_aop, *p.bfr_range_pct_aop)
    if bfr_ok is False:
        warnings.append(
            f"BFR pressure {p.bfr_pressure_pct_aop:g} % AOP is outside "
            f"{p.bfr_range_pct_aop[0]:g}–{p.bfr_range_pct_aop[1]:g} %: compliance set to 0"
        )
    compliance = scores.session_compliance([m.compliance for m in muscles.values()], bfr_ok)
    if compliance is None:
        warnings.append("no channel could be analysed: no compliance score")
    symmetry = None
    if len(muscles) == 2:
        left, right = (m.compliance for m in muscles.values())
        symmetry = scores.symmetry(left, right)
    else:
        warnings.append(f"symmetry needs exactly two analysed muscles, found {len(muscles)}")
    effort = scores.effort(p.rpe)
    if effort is None:
        warnings.append("no RPE given: no effort score")
    game = scores.game(recording.info.game_score, p.game_score_max)
    if game is None:
        warnings.append("game score maximum or achieved score unknown: no game score")
    elif game > 100:
        warnings.append(
            f"achieved game score {recording.info.game_score:g} exceeds the given maximum "
            f"{p.game_score_max:g}: game score capped at 100"
        )
        game = 100.0
    components = {"compliance": compliance, "symmetry": symmetry, "effort": effort, "game": game}
    overall, used = scores.overall(components, p.score_weights.model_dump())
    return (
        r.Scores(
            compliance=_num(compliance),
            symmetry=_num(symmetry),
            effort=effort,
            game=_num(game),
            overall=_num(overall),
            bfr_compliant=bfr_ok,
            weights_used=used,
            muscles=muscles,
        ),
        warnings,
    )


def _parameters_used(p: AnalysisParameters, fs: float) -> dict:
    edges = None
    if fs >= p.min_sampling_rate_hz:  # below it nothing is filtered (the channels say why)
        edges = list(bandpass_edges(fs, p.bandpass_low_hz, p.bandpass_high_hz))
    return {
        **p.model_dump(mode="json", exclude={"include_signals", "signal_max_points"}),
        "derived": {
            "bandpass_used_hz": edges,
            "envelope_smoothing_samples": max(1, int(p.envelope_smoothing_s * fs)),
            "min_contraction_samples": int(p.min_contraction_s * fs),
            "merge_gap_samples": int(p.merge_gap_s * fs),
            "max_contraction_samples": int(p.max_contraction_s * fs),
            "window_samples": round(p.window_s * fs),
        },
    }


def _channel_result(
    ch: Channel, fs: float, p: AnalysisParameters
) -> tuple[r.ChannelReport, np.ndarray | None]:
    """The channel's report and envelope; a channel that cannot be analysed says why."""
    own = p.for_channel(ch.name)
    problem = _why_not_analysable(ch, fs, p)
    if problem is None:
        return _analyse_channel(ch, fs, p, own)
    report = r.ChannelReport(
        name=ch.name,
        muscle=own.muscle,
        raw_label=ch.raw_label,
        activation_label=ch.activation_label,
        amplitude=None,
        spectrum=None,
        temporal=None,
        mvc=None,
        contractions=None,
        warnings=[f"not analysed: {problem}"],
    )
    return report, None


def analyze(recording: Recording, params: AnalysisParameters | None = None) -> r.SessionReport:
    """The clinical report of one recording.

    Parameters
    ----------
    recording : Recording
        From `emg_core.read.read_c3d` (or built directly from arrays).
    params : AnalysisParameters, optional
        Defaults of EMG_SPEC.md where not given.

    Returns
    -------
    SessionReport
        Every channel is reported; one that cannot be analysed carries a warning saying why.

    Raises
    ------
    ParameterError
        A filter cut-off the recording's sampling rate cannot hold.
    """
    p = params or AnalysisParameters()
    info = recording.info
    fs = info.sampling_rate_hz
    if fs >= p.min_sampling_rate_hz:  # below it no channel is filtered (each says why)
        check_for_rate(p, fs)
    warnings: list[str] = []
    names = {ch.name.upper() for ch in recording.channels}
    unknown = sorted(set(p.channels) - names)
    if unknown:
        warnings.append(f"parameters given for channels not in the file: {', '.join(unknown)}")
    # Channels are independent and numpy/scipy release the GIL: analyse them side by side.
    with ThreadPoolExecutor(
        max_workers=max(1, min(len(recording.channels), os.cpu_count() or 1))
    ) as ex:
        results = list(ex.map(lambda ch: _channel_result(ch, fs, p), recording.channels))
    channels = [report for report, _ in results]
    signals = None
    if p.include_signals:
        signals = {
            ch.name: _signals(ch, env, fs, p.signal_max_points)
            for ch, (_, env) in zip(recording.channels, results, strict=True)
        }
    session_scores, score_warnings = _scores(channels, recording, p)
    warnings += [f"{ch.name}: {w}" for ch in channels for w in ch.warnings] + score_warnings
    return r.SessionReport(
        source=r.Source(
            filename=recording.filename, sha256=recording.sha256, size_bytes=recording.size_bytes
        ),
        recording=r.RecordingReport(
            sampling_rate_hz=fs,
            n_samples=info.n_samples,
            duration_s=info.duration_s,
            recorded_at=info.recorded_at,
            game=r.Game(name=info.game_name, level=info.game_level, score=info.game_score),
            player_name=info.player_name,
            therapist_id=info.therapist_id,
            group_id=info.group_id,
            system=info.system,
            version=info.version,
            reported_duration_s=info.reported_duration_s,
        ),
        parameters=_parameters_used(p, fs),
        channels=channels,
        scores=session_scores,
        signals=signals,
        warnings=warnings,
    )
