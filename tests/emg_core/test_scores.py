"""Clinical scores (EMG_SPEC.md, "Scores"), hand-computed."""

from __future__ import annotations

import re

import pytest

from emg_core import scores

DEFAULT_WEIGHTS = {"compliance": 0.50, "symmetry": 0.25, "effort": 0.25, "game": 0.00}


# --- effort -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rpe", "expected"),
    [(0, 10), (1, 25), (2, 50), (3, 85), (4, 100), (5, 100), (6, 75), (7, 50), (8, 25), (9, 15),
     (10, 10)],
)  # fmt: skip
def test_effort_maps_every_borg_cr10_value(rpe, expected):
    assert scores.effort(rpe) == float(expected)


def test_effort_is_none_without_rpe():
    assert scores.effort(None) is None


@pytest.mark.parametrize("rpe", [-1, 11, 4.5])
def test_effort_rejects_rpe_outside_borg_cr10_naming_the_value(rpe):
    with pytest.raises(ValueError, match=re.escape(f"rpe={rpe!r} must be an integer 0..10")):
        scores.effort(rpe)


# --- symmetry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (60.0, 40.0, 80.0),  # 1 - 20/100
        (40.0, 60.0, 80.0),
        (50.0, 50.0, 100.0),
        (75.0, 25.0, 50.0),  # 1 - 50/100
        (100.0, 0.0, 0.0),
        (0.0, 0.0, 0.0),  # both zero: 0, not a division by zero
    ],
)
def test_symmetry_matches_formula(left, right, expected):
    assert scores.symmetry(left, right) == pytest.approx(expected, abs=1e-12)


# --- muscle compliance ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "mvc_ok", "dur_ok", "expected_n", "rates", "compliance"),
    [
        # 0.333·1 + 0.333·0.5 + 0.334·1 = 0.8335
        (12, 6, 12, 12, (1.0, 0.5, 1.0), 83.35),
        # 0.333·0.5 + 0.333·0.5 + 0.334·1 = 0.667
        (6, 3, 6, 12, (0.5, 0.5, 1.0), 66.7),
        # no contractions: every rate is 0, not a division by zero
        (0, 0, 0, 12, (0.0, 0.0, 0.0), 0.0),
        # more than expected: completion capped at 1; 0.333 + 0.333·10/15 + 0.334·5/15
        (15, 10, 5, 12, (1.0, 10 / 15, 5 / 15), 100 * (0.333 + 0.333 * 2 / 3 + 0.334 / 3)),
        (12, 12, 12, 12, (1.0, 1.0, 1.0), 100.0),
        (3, 0, 0, 12, (0.25, 0.0, 0.0), 8.325),
    ],
)
def test_muscle_compliance_matches_hand_computed_cases(
    n, mvc_ok, dur_ok, expected_n, rates, compliance
):
    s = scores.muscle_compliance(n, mvc_ok, dur_ok, expected_n)
    assert (s.completion_rate, s.intensity_rate, s.duration_rate) == pytest.approx(rates, abs=1e-12)
    assert s.compliance == pytest.approx(compliance, abs=1e-9)


def test_muscle_compliance_uses_given_weights():
    s = scores.muscle_compliance(6, 6, 0, 12, weights=(0.5, 0.5, 0.0))
    assert s.compliance == pytest.approx(75.0, abs=1e-12)  # (0.5·0.5 + 0.5·1 + 0)·100


def test_muscle_compliance_rejects_expected_below_one():
    with pytest.raises(ValueError, match=re.escape("expected=0 must be >= 1")):
        scores.muscle_compliance(3, 3, 3, 0)


# --- BFR gate and session compliance ----------------------------------------------------------


@pytest.mark.parametrize(
    ("pressure", "expected"),
    [(None, None), (45.0, True), (50.0, True), (55.0, True), (44.9, False), (55.1, False),
     (0.0, False), (100.0, False)],
)  # fmt: skip
def test_bfr_compliant_checks_45_to_55_percent_aop_inclusive(pressure, expected):
    assert scores.bfr_compliant(pressure) is expected


def test_bfr_compliant_uses_configured_range():
    assert scores.bfr_compliant(60.0, 50.0, 70.0) is True
    assert scores.bfr_compliant(45.0, 50.0, 70.0) is False


@pytest.mark.parametrize(("bfr_ok", "expected"), [(None, 70.0), (True, 70.0), (False, 0.0)])
def test_session_compliance_is_mean_of_muscles_gated_by_bfr(bfr_ok, expected):
    assert scores.session_compliance([60.0, 80.0], bfr_ok) == pytest.approx(expected, abs=1e-12)


def test_session_compliance_gate_follows_bfr_pressure_end_to_end():
    for pressure, expected in [(None, 70.0), (50.0, 70.0), (60.0, 0.0), (30.0, 0.0)]:
        ok = scores.bfr_compliant(pressure)
        assert scores.session_compliance([60.0, 80.0], ok) == pytest.approx(expected, abs=1e-12)


def test_session_compliance_is_none_without_muscles():
    assert scores.session_compliance([], None) is None


# --- game -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("achieved", "maximum", "expected"),
    [(50.0, 200.0, 25.0), (200.0, 200.0, 100.0), (0.0, 80.0, 0.0), (None, 100.0, None),
     (50.0, None, None), (None, None, None), (50.0, 0.0, None)],
)  # fmt: skip
def test_game_is_achieved_share_of_maximum_when_both_known(achieved, maximum, expected):
    result = scores.game(achieved, maximum)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-12)


# --- overall ----------------------------------------------------------------------------------


def test_overall_uses_default_weights_when_all_components_exist():
    components = {"compliance": 80.0, "symmetry": 60.0, "effort": 100.0, "game": 10.0}
    score, used = scores.overall(components, DEFAULT_WEIGHTS)
    assert score == pytest.approx(0.5 * 80 + 0.25 * 60 + 0.25 * 100, abs=1e-12)
    assert used == pytest.approx(DEFAULT_WEIGHTS, abs=1e-12)


def test_overall_renormalises_weights_over_existing_components():
    components = {"compliance": 80.0, "symmetry": 60.0, "effort": None, "game": None}
    score, used = scores.overall(components, DEFAULT_WEIGHTS)
    # 0.5 and 0.25 renormalised over 0.75: 2/3 and 1/3
    assert score == pytest.approx(80 * 2 / 3 + 60 / 3, abs=1e-12)
    assert used == pytest.approx(
        {"compliance": 2 / 3, "symmetry": 1 / 3, "effort": 0.0, "game": 0.0}, abs=1e-12
    )


def test_overall_reports_zero_weight_for_missing_and_zero_weighted_components():
    components = {"compliance": None, "symmetry": 90.0, "effort": 50.0, "game": 100.0}
    score, used = scores.overall(components, DEFAULT_WEIGHTS)
    assert score == pytest.approx(70.0, abs=1e-12)  # symmetry and effort, 0.5 each
    assert used == pytest.approx(
        {"compliance": 0.0, "symmetry": 0.5, "effort": 0.5, "game": 0.0}, abs=1e-12
    )


def test_overall_with_only_compliance_equals_compliance():
    score, used = scores.overall({"compliance": 65.21}, DEFAULT_WEIGHTS)
    assert score == pytest.approx(65.21, abs=1e-12)
    assert used["compliance"] == 1.0


def test_overall_is_none_when_no_component_exists():
    components = dict.fromkeys(DEFAULT_WEIGHTS)
    score, used = scores.overall(components, DEFAULT_WEIGHTS)
    assert score is None
    assert used == dict.fromkeys(DEFAULT_WEIGHTS, 0.0)


def test_overall_counts_game_when_its_weight_is_configured():
    weights = {"compliance": 0.4, "symmetry": 0.2, "effort": 0.2, "game": 0.2}
    components = {"compliance": 50.0, "symmetry": 100.0, "effort": 100.0, "game": 0.0}
    score, _ = scores.overall(components, weights)
    assert score == pytest.approx(60.0, abs=1e-12)
