"""Clinical scores: per-muscle compliance, session compliance, symmetry, effort, game, overall.

All scores are on a 0–100 scale; a score that cannot be computed is ``None``, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass

# Perceived exertion (Borg CR-10) to effort score: moderate effort (4–5) is the training target.
RPE_EFFORT = {0: 10, 1: 25, 2: 50, 3: 85, 4: 100, 5: 100, 6: 75, 7: 50, 8: 25, 9: 15, 10: 10}


@dataclass(frozen=True)
class MuscleScore:
    compliance: float
    completion_rate: float
    intensity_rate: float
    duration_rate: float


def muscle_compliance(
    n: int,
    mvc_compliant: int,
    duration_compliant: int,
    expected: int,
    weights: tuple[float, float, float] = (0.333, 0.333, 0.334),
) -> MuscleScore:
    """Completion = min(n/E, 1), intensity and duration = compliant share of n (0 when n = 0).

    Examples
    --------
    >>> round(muscle_compliance(12, 6, 12, 12).compliance, 2)
    83.35
    """
    if expected < 1:
        raise ValueError(f"{expected=} must be >= 1")
    completion = min(n / expected, 1.0)
    intensity = mvc_compliant / n if n else 0.0
    duration = duration_compliant / n if n else 0.0
    w_completion, w_intensity, w_duration = weights
    score = (w_completion * completion + w_intensity * intensity + w_duration * duration) * 100
    return MuscleScore(score, completion, intensity, duration)


def bfr_compliant(
    pressure_pct_aop: float | None, low: float = 45.0, high: float = 55.0
) -> bool | None:
    """Whether blood-flow-restriction pressure was in the therapeutic range; None when unknown."""
    return None if pressure_pct_aop is None else low <= pressure_pct_aop <= high


def session_compliance(muscle_scores: list[float], bfr_ok: bool | None) -> float | None:
    """Mean muscle compliance, gated to 0 when the BFR pressure was known to be out of range."""
    if not muscle_scores:
        return None
    gate = 0.0 if bfr_ok is False else 1.0
    return sum(muscle_scores) / len(muscle_scores) * gate


def symmetry(left: float, right: float) -> float:
    """(1 − |L − R| / (L + R))·100, and 0 when both are 0.

    Examples
    --------
    >>> symmetry(60.0, 40.0)
    80.0
    """
    total = left + right
    return 0.0 if total == 0 else (1 - abs(left - right) / total) * 100


def effort(rpe: int | None) -> float | None:
    """Effort score from post-session RPE; None without an RPE (never a silent default)."""
    if rpe is None:
        return None
    if rpe not in RPE_EFFORT:
        raise ValueError(f"{rpe=} must be an integer 0..10 (Borg CR-10)")
    return float(RPE_EFFORT[rpe])


def game(achieved: float | None, maximum: float | None) -> float | None:
    """Achieved share of the game's maximum score, when both are known."""
    if achieved is None or maximum is None or maximum <= 0:
        return None
    return achieved / maximum * 100


def overall(
    components: dict[str, float | None], weights: dict[str, float]
) -> tuple[float | None, dict[str, float]]:
    """Weighted mean over the components that exist, weights renormalised over those.

    Returns the score and the weights actually used (zero for missing components).

    Examples
    --------
    >>> overall({"compliance": 80.0, "effort": None}, {"compliance": 0.5, "effort": 0.5})
    (80.0, {'compliance': 1.0, 'effort': 0.0})
    """
    present = {k: w for k, w in weights.items() if components.get(k) is not None and w > 0}
    total = sum(present.values())
    used = {k: (present.get(k, 0.0) / total if total else 0.0) for k in weights}
    if not total:
        return None, used
    return sum(components[k] * w for k, w in used.items() if w), used
