"""Draw a report's signals: per channel the raw signal and envelope, contractions shaded (green
when good) and the MVC threshold. Needs the ``plot`` extra (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from emg_core.errors import InputError
from emg_core.report import SessionReport


def plot_report(report: SessionReport, out: Path) -> None:
    """Write a PNG of ``report`` (which must include signals) to ``out``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'emg-analyzer[plot]'") from None
    if not report.signals:
        raise ValueError("the report holds no signals; analyse with include_signals=True")
    channels = report.channels
    fig, axes = plt.subplots(
        len(channels), 1, figsize=(14, 3.2 * len(channels)), sharex=True, squeeze=False
    )
    for ax, ch in zip(axes[:, 0], channels, strict=True):
        sig = report.signals[ch.name]
        ax.plot(sig.time_s, [v * 1e6 for v in sig.raw_v], color="0.7", lw=0.4, label="raw")
        if sig.envelope_v is not None:
            ax.plot(
                sig.time_s, [v * 1e6 for v in sig.envelope_v], color="C0", lw=1.0, label="envelope"
            )
        if ch.contractions is not None:
            for c in ch.contractions.items:
                ax.axvspan(
                    c.start_ms / 1000,
                    c.end_ms / 1000,
                    alpha=0.25,
                    color="tab:green" if c.good else "tab:orange",
                    lw=0,
                )
        if ch.mvc is not None and ch.mvc.threshold_v is not None:
            ax.axhline(
                ch.mvc.threshold_v * 1e6,
                color="tab:red",
                ls="--",
                lw=1,
                label=f"MVC threshold ({ch.mvc.method})",
            )
        count = ch.contractions.count if ch.contractions else 0
        good = ch.contractions.good if ch.contractions else 0
        ax.set_title(
            f"{ch.name} — {ch.muscle or 'muscle not set'}: {count} contractions, {good} good",
            loc="left",
            fontsize=10,
        )
        ax.set_ylabel("µV")
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(report.source.filename, fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
