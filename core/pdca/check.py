"""The check step: did the actions move the metric, from the data, with a test?

The baseline window is the ``baseline_days`` before the first action was created; the
check window the ``check_days`` after the last action was done. Volume and share are
compared as a Poisson rate ratio against overall feedback volume (a quiet month is not
mistaken for a fix); shares within the groups with a two-proportion test.

The verdict:

* **effective** — the change is significant (p < ``ALPHA``) and in the good direction;
* **not effective** — significant in the wrong direction, or not significant although
  the data rule out the target (the whole 95 % interval misses it);
* **inconclusive** — too little data, or an interval wide enough to hold both "no
  change" and the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bihuan.core.pdca.metrics import LOWER_IS_BETTER, Window, measure
from bihuan.core.pdca.stats import Comparison, poisson_rate_ratio, two_proportions
from bihuan.storage import pdca_queries as pq
from bihuan.storage.pdca_models import CheckResult, Metric, Verdict

ALPHA = 0.05
#: without a target, the smallest change worth having: a 20 % fall (or a 5 % CSAT rise)
DEFAULT_EFFECT = {True: 0.8, False: 1.05}
#: fewer items than this in the groups (both windows together) cannot carry a verdict
MIN_ITEMS = 10


@dataclass(frozen=True)
class CheckWindows:
    baseline: Window
    check: Window


def windows_for(
    first_action_created: date, last_action_done: date, *, baseline_days: int, check_days: int
) -> CheckWindows:
    baseline = Window(first_action_created - timedelta(days=baseline_days), first_action_created)
    start = last_action_done + timedelta(days=1)
    return CheckWindows(baseline, Window(start, start + timedelta(days=check_days)))


def compare(metric: Metric, base: pq.WindowCounts, check: pq.WindowCounts) -> Comparison:
    if metric in (Metric.VOLUME, Metric.SHARE):
        return poisson_rate_ratio(base.group, base.total, check.group, check.total)
    if metric is Metric.NEGATIVE_SHARE:
        return two_proportions(base.group_negative, base.group, check.group_negative, check.group)
    return two_proportions(base.group_satisfied, base.group_rated, check.group_satisfied, check.group_rated)


def _sample(metric: Metric, counts: pq.WindowCounts) -> int:
    if metric in (Metric.VOLUME, Metric.SHARE):
        return counts.group
    return counts.group if metric is Metric.NEGATIVE_SHARE else counts.group_rated


def verdict_for(
    metric: Metric,
    comparison: Comparison,
    sizes: tuple[int, int],
    *,
    baseline_value: float | None,
    target_value: float | None,
) -> tuple[Verdict, str]:
    """The verdict and one sentence that says why."""
    lower_better = metric in LOWER_IS_BETTER
    if comparison.p_value is None or comparison.ratio is None:
        return Verdict.INCONCLUSIVE, "no data in one of the windows"
    if sum(sizes) < MIN_ITEMS or min(sizes) == 0 and metric not in (Metric.VOLUME, Metric.SHARE):
        return Verdict.INCONCLUSIVE, f"too few items to judge ({sizes[0]} before, {sizes[1]} after)"
    improved = comparison.ratio < 1 if lower_better else comparison.ratio > 1
    if comparison.p_value < ALPHA:
        if improved:
            return Verdict.EFFECTIVE, f"significant change in the good direction (p = {comparison.p_value:.3g})"
        return Verdict.NOT_EFFECTIVE, f"significant change in the wrong direction (p = {comparison.p_value:.3g})"
    wanted = DEFAULT_EFFECT[lower_better]
    if target_value is not None and baseline_value:
        wanted = target_value / baseline_value
    if lower_better and comparison.low is not None and comparison.low > wanted:
        return Verdict.NOT_EFFECTIVE, f"no significant fall, and the data rule out a ratio of {wanted:.2f} or less"
    if not lower_better and comparison.high is not None and comparison.high < wanted:
        return Verdict.NOT_EFFECTIVE, f"no significant rise, and the data rule out a ratio of {wanted:.2f} or more"
    return Verdict.INCONCLUSIVE, f"no significant change (p = {comparison.p_value:.3g}); more data may tell"


def measure_check(
    metric: Metric,
    group_ids: Sequence[int],
    windows: CheckWindows,
    *,
    target_value: float | None,
    zone: ZoneInfo,
    session: Session,
) -> tuple[CheckResult, dict[str, Any]]:
    """Measure both windows and judge; the result is not stored (the caller does)."""
    base_value, base = measure(metric, group_ids, windows.baseline, zone=zone, session=session)
    check_value, check = measure(metric, group_ids, windows.check, zone=zone, session=session)
    comparison = compare(metric, base, check)
    verdict, reason = verdict_for(
        metric,
        comparison,
        (_sample(metric, base), _sample(metric, check)),
        baseline_value=base_value,
        target_value=target_value,
    )
    change = None
    if base_value and check_value is not None:
        change = check_value / base_value - 1
    target_met = None
    if target_value is not None and check_value is not None:
        target_met = check_value <= target_value if metric in LOWER_IS_BETTER else check_value >= target_value
    detail = {"baseline": base.__dict__, "check": check.__dict__, "reason": reason, "groups": list(group_ids)}
    result = CheckResult(
        task_id=0,
        metric=metric.value,
        baseline_start=windows.baseline.start,
        baseline_end=windows.baseline.end,
        check_start=windows.check.start,
        check_end=windows.check.end,
        baseline_value=base_value,
        check_value=check_value,
        change=change,
        ratio=comparison.ratio,
        ratio_low=comparison.low,
        ratio_high=comparison.high,
        p_value=comparison.p_value,
        test=comparison.test,
        verdict=verdict.value,
        target_met=target_met,
        detail=detail,
        checked_by="",
    )
    return result, detail
