"""The recording model (EMG_SPEC.md, "Input"): channel pairing from analog labels and the
recording time."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from emg_core.recording import pair_channels, recorded_at


def _analogs(n_channels: int) -> np.ndarray:
    # row i holds the value i everywhere, so each channel's source row is identifiable
    return np.repeat(np.arange(n_channels, dtype=float)[:, None], 5, axis=1)


# --- pairing ----------------------------------------------------------------------------------


def test_pair_channels_pairs_ghostly_raw_and_activated_labels():
    labels = ["CH1 Raw", "CH1 activated", "CH2 Raw", "CH2 activated"]
    channels = pair_channels(labels, _analogs(4))
    assert [c.name for c in channels] == ["CH1", "CH2"]
    assert [c.raw_label for c in channels] == ["CH1 Raw", "CH2 Raw"]
    assert [c.activation_label for c in channels] == ["CH1 activated", "CH2 activated"]
    assert [c.raw_v[0] for c in channels] == [0.0, 2.0]
    assert [c.activation[0] for c in channels] == [1.0, 3.0]


def test_pair_channels_ignores_padding_spaces_and_case():
    labels = [" CH1 Raw   ", "ch1 ACTIVATED ", "CH2  raw", "  Ch2 Activated"]
    channels = pair_channels(labels, _analogs(4))
    assert [c.name for c in channels] == ["CH1", "CH2"]
    assert [c.raw_label for c in channels] == ["CH1 Raw", "CH2  raw"]  # stripped
    assert [c.activation_label for c in channels] == ["ch1 ACTIVATED", "Ch2 Activated"]
    assert [c.raw_v[0] for c in channels] == [0.0, 2.0]
    assert [c.activation[0] for c in channels] == [1.0, 3.0]


def test_pair_channels_pairs_regardless_of_label_order():
    labels = ["CH2 activated", "CH1 activated", "CH1 Raw", "CH2 Raw"]
    channels = pair_channels(labels, _analogs(4))
    assert [(c.name, c.raw_v[0], c.activation[0]) for c in channels] == [
        ("CH1", 2.0, 1.0),
        ("CH2", 3.0, 0.0),
    ]


def test_pair_channels_keeps_raw_only_channels_without_activation():
    channels = pair_channels(["CH1 Raw", "CH2 Raw"], _analogs(2))
    assert [c.name for c in channels] == ["CH1", "CH2"]
    assert all(c.activation is None and c.activation_label is None for c in channels)
    assert [c.raw_v[0] for c in channels] == [0.0, 1.0]


def test_pair_channels_makes_each_label_of_another_form_its_own_channel():
    labels = ["EMG1", " Voltage.2 ", "CH3Raw", ""]
    channels = pair_channels(labels, _analogs(4))
    assert [c.name for c in channels] == ["EMG1", "Voltage.2", "CH3Raw", "A4"]
    assert [c.raw_label for c in channels] == ["EMG1", "Voltage.2", "CH3Raw", ""]
    assert all(c.activation is None for c in channels)
    assert [c.raw_v[0] for c in channels] == [0.0, 1.0, 2.0, 3.0]


def test_pair_channels_keeps_orphan_activated_label_as_its_own_channel():
    # documented behaviour: never silently dropped; it has no raw partner, so it is reported
    # under its full label, with no activation signal of its own
    labels = ["CH1 Raw", "CH1 activated", "CH2 activated"]
    channels = pair_channels(labels, _analogs(3))
    assert [c.name for c in channels] == ["CH1", "CH2 activated"]
    assert channels[0].activation[0] == 1.0
    orphan = channels[1]
    assert orphan.raw_label == "CH2 activated"
    assert orphan.raw_v[0] == 2.0
    assert orphan.activation is None


def test_pair_channels_leaves_mixed_files_paired_where_possible():
    labels = ["CH1 Raw", "CH1 activated", "Trigger"]
    channels = pair_channels(labels, _analogs(3))
    assert [(c.name, c.activation_label) for c in channels] == [
        ("CH1", "CH1 activated"),
        ("Trigger", None),
    ]


# --- recording time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename",
    [
        "Ghostly_Emg_20230321_17-23-09-0409",
        "Ghostly_Emg_20230321_17-23-09-0409.c3d",
        "/data/p01/Ghostly_Emg_20230321_17-23-09-0409.c3d",
        "ghostly_emg_20230321_17-23-09-0409.C3D",
    ],
)
def test_recorded_at_reads_time_from_ghostly_file_name(filename):
    assert recorded_at(filename, None) == datetime(2023, 3, 21, 17, 23, 9, 40900)


def test_recorded_at_reads_fraction_in_units_of_100_microseconds():
    assert recorded_at("Ghostly_Emg_20240101_00-00-00-9999.c3d", None) == datetime(
        2024, 1, 1, 0, 0, 0, 999_900
    )


def test_recorded_at_prefers_file_name_over_info_time():
    info = ["2020", "1", "2", "3", "4"]
    assert recorded_at("Ghostly_Emg_20230321_17-23-09-0409.c3d", info) == datetime(
        2023, 3, 21, 17, 23, 9, 40900
    )


@pytest.mark.parametrize(
    "info_time",
    [
        ["2023", "3", "21", "17", "23"],
        [2023, 3, 21, 17, 23],
        [2023.0, 3.0, 21.0, 17.0, 23.0],
        [" 2023 ", "03", "21", "17", "23", "41"],  # extra entries are ignored
    ],
)
def test_recorded_at_reads_info_time_when_name_has_no_timestamp(info_time):
    assert recorded_at("session.c3d", info_time) == datetime(2023, 3, 21, 17, 23)


def test_recorded_at_falls_back_to_info_time_when_file_name_date_is_invalid():
    info = ["2023", "3", "21", "17", "23"]
    assert recorded_at("Ghostly_Emg_20231345_17-23-09-0409.c3d", info) == datetime(
        2023, 3, 21, 17, 23
    )


@pytest.mark.parametrize("info_time", [None, [], ["2023"], ["2023", "3", "21", "17"]])
def test_recorded_at_is_none_without_timestamp_and_full_info_time(info_time):
    # never a year-only or otherwise partial date
    assert recorded_at("session.c3d", info_time) is None


@pytest.mark.parametrize(
    "filename",
    [
        "Ghostly_Emg_20231345_17-23-09-0409.c3d",  # month 13
        "Ghostly_Emg_20230230_17-23-09-0409.c3d",  # 30 February
        "Ghostly_Emg_20230321_25-23-09-0409.c3d",  # hour 25
        "Ghostly_Emg_20230321_17-61-09-0409.c3d",  # minute 61
    ],
)
def test_recorded_at_is_none_for_invalid_file_name_date_without_info_time(filename):
    assert recorded_at(filename, None) is None


@pytest.mark.parametrize(
    "info_time",
    [
        ["2023", "2", "30", "10", "0"],  # 30 February
        ["2023", "13", "1", "10", "0"],
        ["2023", "3", "21", "24", "0"],
        ["0", "0", "0", "0", "0"],
        ["abc", "3", "21", "17", "23"],
        ["", "", "", "", ""],
        ["nan", "3", "21", "17", "23"],
        [None, None, None, None, None],
    ],
)
def test_recorded_at_is_none_for_invalid_info_time(info_time):
    assert recorded_at("session.c3d", info_time) is None


@pytest.mark.parametrize(
    "info_time",
    [["inf", "3", "21", "17", "23"], [math.inf, 3, 21, 17, 23], [1e20, 3, 21, 17, 23]],
)
def test_recorded_at_is_none_for_overflowing_info_time(info_time):
    assert recorded_at("session.c3d", info_time) is None
