"""Contraction detection and the MVC threshold (EMG_SPEC.md, "Contractions").

Expected indices follow from the definition. A rectangular timing burst of height A over samples
[a, b) (at least 100 samples long, so the smoothed peak is A) is smoothed by the 100-sample
moving average, whose window for sample i is [i - 50, i + 49]. The smoothed value is A·k/100,
where k is the number of burst samples in the window; "active" means strictly above
threshold_pct % of A, i.e. k > threshold_pct, so k >= k_min = threshold_pct + 1 for integer
percentages. Hence:

    start = a + k_min - 50        (first i with i + 50 - a >= k_min)
    end   = b + 50 - k_min + 1    (first i with b + 50 - i < k_min)

Activation (5 %): start = a - 44, end = b + 45. Envelope (10 %): start = a - 39, end = b + 40.
Heights are powers of two so the cumulative sums behind the moving average are exact.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from emg_core.contractions import active_segments, measure_contractions, mvc_threshold

FS = 1000.0
A = 2.0**-13  # ≈ 1.2e-4, an activation level like GHOSTLY's, exactly representable


def _timing(n: int, spans: list[tuple[int, int]], height: float = A) -> np.ndarray:
    x = np.zeros(n)
    for a, b in spans:
        x[a:b] = height
    return x


def _expected(spans: list[tuple[int, int]], threshold_pct: int) -> list[list[int]]:
    k_min = threshold_pct + 1
    return [[a + k_min - 50, b + 50 - k_min + 1] for a, b in spans]


# --- segments from the smoothed timing signal -------------------------------------------------


def test_active_segments_finds_activation_bursts_at_indices_from_definition():
    spans = [(1000, 2000), (4000, 6500), (8000, 8500)]
    segments = active_segments(_timing(12_000, spans), FS, 5.0)
    assert segments.tolist() == [[956, 2045], [3956, 6545], [7956, 8545]]
    assert segments.tolist() == _expected(spans, 5)


def test_active_segments_with_envelope_threshold_uses_10_percent_of_peak():
    spans = [(1000, 2000), (5000, 7000)]
    segments = active_segments(_timing(10_000, spans), FS, 10.0)
    assert segments.tolist() == [[961, 2040], [4961, 7040]]


def test_active_segments_rectifies_negative_timing_signal():
    spans = [(1000, 2000), (4000, 6500)]
    segments = active_segments(-_timing(10_000, spans), FS, 5.0)
    assert segments.tolist() == _expected(spans, 5)


def test_active_segments_threshold_is_relative_to_peak_so_weaker_burst_can_vanish():
    # burst 2 at 4 % of burst 1's height never exceeds 5 % of the peak
    x = _timing(10_000, [(1000, 3000)]) + _timing(10_000, [(5000, 7000)], height=A / 25)
    assert active_segments(x, FS, 5.0).tolist() == [[956, 3045]]


def test_active_segments_returns_int_array_of_shape_n_by_2():
    segments = active_segments(_timing(5000, [(1000, 2000)]), FS, 5.0)
    assert segments.shape == (1, 2)
    assert segments.dtype == np.int64


def test_active_segments_ends_at_last_index_when_active_until_the_end():
    segments = active_segments(_timing(5000, [(3000, 5000)]), FS, 5.0, smoothing_samples=1)
    assert segments.tolist() == [[3000, 4999]]


def test_active_segments_starts_at_zero_when_active_from_the_start():
    segments = active_segments(_timing(5000, [(0, 1000)]), FS, 5.0, smoothing_samples=1)
    assert segments.tolist() == [[0, 1000]]


# --- minimum duration -------------------------------------------------------------------------


def test_active_segments_drops_segments_shorter_than_100ms():
    # without smoothing the segment is the burst: 99 samples < int(0.1·1000) = 100 → dropped
    x = _timing(5000, [(1000, 1099), (3000, 3100)])
    segments = active_segments(x, FS, 5.0, smoothing_samples=1)
    assert segments.tolist() == [[3000, 3100]]


def test_active_segments_minimum_length_is_int_of_100ms_in_samples():
    # at 995 Hz int(0.1·995) = int(99.5) = 99: 99 samples are kept, 98 are not
    x = _timing(5000, [(1000, 1098), (3000, 3099)])
    segments = active_segments(x, 995.0, 5.0, smoothing_samples=1)
    assert segments.tolist() == [[3000, 3099]]


def test_active_segments_drops_short_bursts_after_default_smoothing():
    # smoothing widens a burst of L samples to L + 89: L = 10 → 99 (dropped), L = 11 → 100 (kept)
    x = _timing(8000, [(1000, 3000), (4000, 4010), (6000, 6011)])
    segments = active_segments(x, FS, 5.0)
    assert segments.tolist() == [[956, 3045], [5956, 6056]]


def test_active_segments_drops_short_segments_before_merging():
    # two 50-sample segments 20 samples apart: each is dropped, so they never merge into 120
    x = _timing(5000, [(1000, 1050), (1070, 1120)])
    assert active_segments(x, FS, 5.0, smoothing_samples=1).tolist() == []


# --- merging ----------------------------------------------------------------------------------


def test_active_segments_merges_gaps_up_to_200ms():
    # gap = start - previous end = 1700 - 1500 = 200 = int(0.2·1000) → merged
    x = _timing(6000, [(1000, 1500), (1700, 2500)])
    assert active_segments(x, FS, 5.0, smoothing_samples=1).tolist() == [[1000, 2500]]


def test_active_segments_keeps_segments_apart_when_gap_exceeds_200ms():
    x = _timing(6000, [(1000, 1500), (1701, 2500)])
    segments = active_segments(x, FS, 5.0, smoothing_samples=1)
    assert segments.tolist() == [[1000, 1500], [1701, 2500]]


def test_active_segments_merges_chain_of_close_segments_into_one():
    x = _timing(8000, [(1000, 1500), (1600, 2000), (2150, 3000), (3500, 4000)])
    segments = active_segments(x, FS, 5.0, smoothing_samples=1)
    assert segments.tolist() == [[1000, 3000], [3500, 4000]]


@pytest.mark.parametrize(("burst_gap", "expected"), [(289, 1), (290, 2)])
def test_active_segments_merges_gaps_up_to_200ms_after_default_smoothing(burst_gap, expected):
    # smoothing narrows a gap g between bursts to g - 89, merged when g - 89 <= 200
    spans = [(1000, 2000), (2000 + burst_gap, 3500)]
    segments = active_segments(_timing(6000, spans), FS, 5.0)
    assert len(segments) == expected
    assert segments[0, 0] == 956
    assert segments[-1, 1] == 3545


# --- splitting --------------------------------------------------------------------------------


def test_active_segments_splits_25s_burst_into_10s_pieces():
    x = _timing(30_000, [(1000, 26_000)])
    segments = active_segments(x, FS, 5.0)
    # smoothed segment [956, 26045]: pieces of int(10·1000) samples, the remainder last
    assert segments.tolist() == [[956, 10_956], [10_956, 20_956], [20_956, 26_045]]


def test_active_segments_keeps_segment_of_exactly_10s_whole():
    x = _timing(15_000, [(1000, 11_000)])
    segments = active_segments(x, FS, 5.0, smoothing_samples=1)
    assert segments.tolist() == [[1000, 11_000]]


# --- no activity ------------------------------------------------------------------------------


@pytest.mark.parametrize("height", [0.0, 5e-10, 9.9e-10])
def test_active_segments_finds_no_contractions_when_peak_below_1e_9(height):
    segments = active_segments(_timing(5000, [(1000, 3000)], height=height), FS, 5.0)
    assert segments.shape == (0, 2)


def test_active_segments_finds_contractions_when_peak_just_above_1e_9():
    segments = active_segments(_timing(5000, [(1000, 3000)], height=2e-9), FS, 5.0)
    assert len(segments) == 1


def test_active_segments_rejects_bad_fs_naming_the_value():
    with pytest.raises(ValueError, match=re.escape("fs=0.0 must be")):
        active_segments(np.ones(100), 0.0, 5.0)


# --- measuring --------------------------------------------------------------------------------


def test_measure_contractions_uses_envelope_over_start_to_end_inclusive():
    env = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 9.0, 0.0, 4.0, 2.0, 0.0])
    (first, second) = measure_contractions(np.array([[2, 5], [7, 8]]), env, 1000.0)
    assert (first.start, first.end) == (2, 5)
    assert first.mean_amplitude_v == pytest.approx((1 + 1 + 1 + 9) / 4, abs=1e-12)
    assert first.max_amplitude_v == 9.0  # the end sample counts
    assert first.duration_s == pytest.approx(3 / 1000, abs=1e-15)
    assert second.mean_amplitude_v == pytest.approx(3.0, abs=1e-12)
    assert second.max_amplitude_v == 4.0
    assert second.duration_s == pytest.approx(1 / 1000, abs=1e-15)


def test_measure_contractions_duration_is_samples_over_fs():
    (c,) = measure_contractions(np.array([[990, 2970]]), np.ones(4000), 990.0)
    assert c.duration_s == pytest.approx(2.0, abs=1e-12)


def test_measure_contractions_returns_empty_list_without_segments():
    assert measure_contractions(np.empty((0, 2), dtype=np.int64), np.ones(10), 1000.0) == []


# --- MVC threshold ----------------------------------------------------------------------------


def test_mvc_threshold_uses_channel_value_before_session_value():
    mvc = mvc_threshold(np.ones(10), 75.0, channel_mvc_v=2e-4, session_mvc_v=3e-4)
    assert mvc.method == "channel"
    assert mvc.value_v == 2e-4
    assert mvc.threshold_v == pytest.approx(1.5e-4, rel=1e-12)
    assert mvc.threshold_pct == 75.0


def test_mvc_threshold_uses_session_value_without_channel_value():
    mvc = mvc_threshold(np.ones(10), 60.0, session_mvc_v=3e-4)
    assert mvc.method == "session"
    assert mvc.value_v == 3e-4
    assert mvc.threshold_v == pytest.approx(1.8e-4, rel=1e-12)


def test_mvc_threshold_estimates_95th_percentile_of_envelope_times_pct():
    env = np.arange(101, dtype=float) * 1e-6  # 95th percentile = 95e-6
    mvc = mvc_threshold(env, 75.0)
    assert mvc.method == "estimated"
    assert mvc.value_v == pytest.approx(95e-6, rel=1e-12)
    assert mvc.threshold_v == pytest.approx(0.75 * 95e-6, rel=1e-12)
    assert mvc.threshold_pct == 75.0


def test_mvc_threshold_estimate_uses_configured_percentile():
    env = np.arange(101, dtype=float)
    assert mvc_threshold(env, 50.0, estimate_percentile=90.0).threshold_v == pytest.approx(45.0)
