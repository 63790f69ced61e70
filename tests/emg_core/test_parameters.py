"""Analysis parameters: typed options (CLI flags, API form fields), validation messages and
per-channel precedence."""

from __future__ import annotations

import pydantic
import pytest

from emg_core.errors import ParameterError
from emg_core.parameters import AnalysisParameters, parameters_from_options


def test_parameters_default_to_spec_values():
    p = AnalysisParameters()
    assert (p.bandpass_low_hz, p.bandpass_high_hz, p.filter_order) == (20.0, 450.0, 4)
    assert (p.envelope_highpass_hz, p.envelope_lowpass_hz, p.envelope_smoothing_s) == (
        20.0,
        10.0,
        0.050,
    )
    assert (p.welch_nperseg, p.window_s, p.window_overlap, p.min_windows) == (256, 1.0, 0.5, 3)
    assert (p.activation_threshold_pct, p.envelope_threshold_pct) == (5.0, 10.0)
    assert (p.min_contraction_s, p.merge_gap_s, p.max_contraction_s) == (0.1, 0.2, 10.0)
    assert (p.mvc_pct, p.mvc_estimate_percentile, p.min_duration_ms) == (75.0, 95.0, 2000.0)
    assert p.expected_contractions == 12
    assert p.bfr_range_pct_aop == (45.0, 55.0)
    assert p.score_weights.model_dump() == {
        "compliance": 0.50,
        "symmetry": 0.25,
        "effort": 0.25,
        "game": 0.00,
    }
    assert p.compliance_weights.model_dump() == {
        "completion": 0.333,
        "intensity": 0.333,
        "duration": 0.334,
    }


# --- parsing ----------------------------------------------------------------------------------


def test_parameters_from_options_sets_session_value_without_channel():
    p = parameters_from_options({"mvc": ["0.0003"], "mvc_pct": ["60"], "min_duration_ms": ["1500"]})
    assert p.mvc_value_v == 0.0003
    assert p.mvc_pct == 60.0
    assert p.min_duration_ms == 1500.0
    assert p.channels == {}


def test_parameters_from_options_sets_channel_value_with_channel_prefix():
    p = parameters_from_options(
        {
            "mvc": ["CH1=0.0002", "0.0003"],
            "expected_contractions": ["CH2=10"],
            "muscle": ["CH3=left biceps"],
        }
    )
    assert p.channels["CH1"].mvc_value_v == 0.0002
    assert p.mvc_value_v == 0.0003
    assert p.channels["CH2"].expected_contractions == 10
    assert p.expected_contractions == 12
    assert p.channels["CH3"].muscle == "left biceps"


def test_parameters_from_options_upper_cases_and_strips_channel_names():
    p = parameters_from_options({"mvc_pct": ["ch1=60", " Ch2 =70"]})
    assert set(p.channels) == {"CH1", "CH2"}
    assert p.channels["CH1"].mvc_pct == 60.0
    assert p.channels["CH2"].mvc_pct == 70.0


def test_parameters_from_options_merges_several_values_for_one_channel():
    p = parameters_from_options({"mvc": ["CH1=0.0002"], "mvc_pct": ["ch1=80"]})
    assert p.channels["CH1"].mvc_value_v == 0.0002
    assert p.channels["CH1"].mvc_pct == 80.0


def test_parameters_from_options_parses_session_options():
    p = parameters_from_options(
        {"rpe": ["5"], "bfr_pressure": ["50.5"], "game_max": ["400"], "include_signals": ["yes"]}
    )
    assert p.rpe == 5
    assert p.bfr_pressure_pct_aop == 50.5
    assert p.game_score_max == 400.0
    assert p.include_signals is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("true", True), ("ON", True), (" yes ", True), ("0", False), ("False", False),
     ("off", False), ("no", False)],
)  # fmt: skip
def test_parameters_from_options_parses_true_false_flags(text, expected):
    assert parameters_from_options({"include_signals": [text]}).include_signals is expected


def test_parameters_from_options_set_parses_json_values():
    p = parameters_from_options(
        {
            "set": [
                "window_s=2.5",
                "min_windows=4",
                "bfr_range_pct_aop=[40, 60]",
                'score_weights={"compliance": 0.4, "symmetry": 0.2, "effort": 0.2, "game": 0.2}',
                "include_signals=true",
                "mvc_value_v=null",
            ]
        }
    )
    assert p.window_s == 2.5
    assert p.min_windows == 4
    assert p.bfr_range_pct_aop == (40.0, 60.0)
    assert p.score_weights.game == 0.2
    assert p.include_signals is True
    assert p.mvc_value_v is None


def test_parameters_from_options_later_value_overrides_earlier_and_base():
    p = parameters_from_options({"rpe": ["3", "7"]}, base={"rpe": 1, "window_s": 2.0})
    assert p.rpe == 7
    assert p.window_s == 2.0


def test_parameters_from_options_merges_base_channels_with_channel_options():
    p = parameters_from_options(
        {"mvc": ["CH1=0.0002"]}, base={"channels": {"ch1": {"mvc_pct": 60.0}}}
    )
    assert p.channels["CH1"].mvc_value_v == 0.0002
    assert p.channels["CH1"].mvc_pct == 60.0


def test_parameters_from_options_set_accepts_channels_json():
    p = parameters_from_options({"set": ['channels={"ch1": {"mvc_pct": 60}}']})
    assert p.channels["CH1"].mvc_pct == 60.0


# --- invalid input: exact messages ------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mvc": ["abc"]}, "mvc: 'abc' is not a number"),
        ({"mvc": ["CH1=abc"]}, "mvc: 'abc' is not a number"),
        ({"rpe": ["five"]}, "rpe: 'five' is not a whole number"),
        ({"rpe": ["5.5"]}, "rpe: '5.5' is not a whole number"),
        ({"include_signals": ["maybe"]}, "include_signals: 'maybe' is not a true/false"),
        ({"muscle": ["quadriceps"]}, "muscle: 'quadriceps' must be CHANNEL=NAME"),
        ({"set": ["window_s"]}, "set: 'window_s' must be FIELD=VALUE"),
        ({"set": ["=3"]}, "set: '=3' must be FIELD=VALUE"),
        ({"bogus": ["1"]}, "unknown option 'bogus'"),
        ({"rpe": ["11"]}, "rpe: Input should be less than or equal to 10 (got 11)"),
        ({"mvc": ["2"]}, "mvc_value_v: Input should be less than 1 (got 2.0)"),
        (
            {"mvc": ["CH1=-1"]},
            "channels.CH1.mvc_value_v: Input should be greater than 0 (got -1.0)",
        ),
        ({"mvc_pct": ["ch2=0"]}, "channels.CH2.mvc_pct: Input should be greater than 0 (got 0.0)"),
        (
            {"expected_contractions": ["0"]},
            "expected_contractions: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"set": ["window_s=abc"]},
            "window_s: Input should be a valid number, unable to parse string as a number "
            "(got 'abc')",
        ),
        (
            {"set": ["bandpass_low_hz=500"]},
            "parameters: bandpass_low_hz (500) must be below bandpass_high_hz (450)",
        ),
        (
            {"set": ["min_channel_duration_s=700"]},
            "parameters: min_channel_duration_s must be below max_channel_duration_s",
        ),
        (
            {"set": ["bfr_range_pct_aop=[60, 40]"]},
            "parameters: bfr_range_pct_aop (60, 40) must be an ordered range",
        ),
        (
            {"rpe": ["11"], "mvc": ["2"]},
            "mvc_value_v: Input should be less than 1 (got 2.0); "
            "rpe: Input should be less than or equal to 10 (got 11)",
        ),
    ],
)
def test_parameters_from_options_rejects_invalid_input_with_exact_message(options, message):
    with pytest.raises(ParameterError) as exc:
        parameters_from_options(options)
    assert str(exc.value) == message


def test_parameters_from_options_rejects_score_weights_not_summing_to_one():
    weights = '{"compliance": 0.5, "symmetry": 0.5, "effort": 0.5, "game": 0}'
    with pytest.raises(ParameterError) as exc:
        parameters_from_options({"set": [f"score_weights={weights}"]})
    assert str(exc.value) == (
        "score_weights: overall score weights must sum to 1 (they sum to 1.5) "
        "(got {'compliance': 0.5, 'symmetry': 0.5, 'effort': 0.5, 'game': 0})"
    )


def test_parameters_from_options_rejects_compliance_weights_not_summing_to_one():
    weights = '{"completion": 0.3, "intensity": 0.3, "duration": 0.3}'
    with pytest.raises(ParameterError) as exc:
        parameters_from_options({"set": [f"compliance_weights={weights}"]})
    assert str(exc.value) == (
        "compliance_weights: compliance weights must sum to 1 (they sum to 0.9) "
        "(got {'completion': 0.3, 'intensity': 0.3, 'duration': 0.3})"
    )


def test_parameters_accept_weights_summing_to_one_within_rounding():
    p = AnalysisParameters(
        compliance_weights={"completion": 0.1, "intensity": 0.2, "duration": 0.7}
    )
    assert p.compliance_weights.duration == 0.7


def test_parameters_from_options_rejects_unknown_field():
    with pytest.raises(ParameterError) as exc:
        parameters_from_options({"set": ["colour=1"]})
    assert str(exc.value) == "colour: Extra inputs are not permitted (got 1)"


def test_parameters_from_options_rejects_unknown_channel_field():
    with pytest.raises(ParameterError) as exc:
        parameters_from_options({}, base={"channels": {"ch1": {"colour": 1}}})
    assert str(exc.value) == "channels.CH1.colour: Extra inputs are not permitted (got 1)"


def test_analysis_parameters_rejects_unknown_field():
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        AnalysisParameters(colour=1)


def test_parameter_error_is_a_value_error():
    with pytest.raises(ValueError, match="unknown option 'bogus'"):
        parameters_from_options({"bogus": ["1"]})


# --- per-channel precedence -------------------------------------------------------------------


def test_for_channel_override_beats_session_value():
    p = parameters_from_options(
        {
            "mvc": ["CH1=0.0002", "0.0003"],
            "mvc_pct": ["ch1=60", "80"],
            "min_duration_ms": ["CH1=0", "1500"],
            "expected_contractions": ["CH1=8", "10"],
            "muscle": ["CH1=left biceps"],
        }
    )
    ch1 = p.for_channel("CH1")
    assert ch1.channel_mvc_v == 0.0002
    assert ch1.mvc_pct == 60.0
    assert ch1.min_duration_ms == 0.0  # a zero override still wins over the session value
    assert ch1.expected_contractions == 8
    assert ch1.muscle == "left biceps"


def test_for_channel_falls_back_to_session_values_and_default_muscle():
    p = parameters_from_options({"mvc_pct": ["ch1=60", "80"], "min_duration_ms": ["1500"]})
    ch2 = p.for_channel("CH2")
    assert ch2.channel_mvc_v is None  # the session MVC is applied by mvc_threshold, not here
    assert ch2.mvc_pct == 80.0
    assert ch2.min_duration_ms == 1500.0
    assert ch2.expected_contractions == 12
    assert ch2.muscle == "right quadriceps"


def test_for_channel_matches_channel_name_case_insensitively():
    p = parameters_from_options({"mvc_pct": ["CH1=60"]})
    assert p.for_channel("ch1").mvc_pct == 60.0
    assert p.for_channel("ch1").muscle == "left quadriceps"


def test_for_channel_has_no_muscle_for_unknown_channel_without_override():
    assert AnalysisParameters().for_channel("EMG7").muscle is None


@pytest.mark.parametrize(
    ("options", "base", "message"),
    [
        ({"rpe": ["٥"]}, None, "rpe: '٥' is not a whole number"),
        ({"rpe": ["1_0"]}, None, "rpe: '1_0' is not a whole number"),
        ({"game_max": ["inf"]}, None, "game_max: 'inf' is not a number"),
        ({}, {"rpe": True}, "rpe: Input should be a valid integer (got True)"),
        ({}, {"game_score_max": float("inf")}, "game_score_max: Input should be a finite number"),
        (
            {},
            {"max_contraction_s": 0.6, "min_contraction_s": 1},
            "min_contraction_s (1) must be below max_contraction_s (0.6)",
        ),
        (
            {"muscle": ["CH1=left\u202equad"]},
            None,
            "channels.CH1.muscle: must not contain control or text-direction characters",
        ),
    ],
)
def test_parameters_refuse_lax_or_inconsistent_values(options, base, message) -> None:
    with pytest.raises(ParameterError) as caught:
        parameters_from_options(options, base=base)
    assert message in str(caught.value)
