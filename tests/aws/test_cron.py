"""5-field cron -> EventBridge cron(): the translation fires at exactly the instants croniter
fires over a whole year, judged by an EventBridge evaluator written from AWS's documentation
(tests/emulators/aws/cron_engine.py), not by the translator."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from nbctl_cloud.errors import UserError
from nbctl_cloud.providers.aws.cron import to_eventbridge

from tests.emulators.aws.cron_engine import EventBridgeCron

EXPRESSIONS = [
    "0 19 * * 1-5", "0 8 * * MON-FRI", "30 7 * * 0", "30 7 * * 7", "0 0 * * 6,0",
    "15 12 * * 5-7", "0 9 * * 1,3,5", "0 22 * * */2", "0 6 * * 1/2", "5 4 * * SUN",
    "0 18 * * SAT", "0 0 1 * *", "0 12 15 * *", "0 3 1,15 * *", "0 0 */10 * *",
    "*/15 9-17 * * 1-5", "0 */6 * * *", "0 0 * 1-3 *", "45 23 L * *", "0 12 * JAN,JUL *",
    "0 2 * * 0-6", "0 0 * * 3-7",
]
TZS = ["America/New_York", "UTC", "Europe/Berlin"]


def croniter_fires(expr: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    it = croniter(expr, start.astimezone(ZoneInfo(tz)) - timedelta(seconds=1))
    out = []
    while True:
        t = it.get_next(datetime)
        if t >= end:
            return out
        # A wall time repeated when clocks go back fires once on EventBridge (AWS docs,
        # "Daylight saving time"); croniter fires it twice.
        if t >= start and not (out and out[-1].replace(tzinfo=None) == t.replace(tzinfo=None)):
            out.append(t)


def spring_forward(t: datetime) -> bool:
    """A day whose clocks jump forward: wall times in the gap do not exist. EventBridge skips
    a schedule that falls into the gap (AWS docs, "Daylight saving time"); croniter fires it
    an hour later; so such days are compared separately."""
    day = t.replace(hour=0, minute=0)
    return (day + timedelta(days=1)).utcoffset() != day.utcoffset() and \
        (day + timedelta(hours=23, minutes=59)).utcoffset() > day.utcoffset()


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_translation_fires_with_croniter_over_a_year(expr):
    tz = TZS[EXPRESSIONS.index(expr) % len(TZS)]
    start = datetime(2025, 1, 1, tzinfo=ZoneInfo(tz))
    end = datetime(2026, 1, 1, tzinfo=ZoneInfo(tz))
    eb = EventBridgeCron(to_eventbridge(expr), tz).fires(start, end)
    expected = croniter_fires(expr, tz, start, end)
    assert [t for t in eb if not spring_forward(t)] == \
        [t for t in expected if not spring_forward(t)]
    assert len(eb) >= len(expected) - 96  # at most the gap hour of one day is skipped
    assert eb, "an expression that never fires proves nothing"


def test_a_wall_time_skipped_by_daylight_saving_does_not_fire():
    tz = ZoneInfo("Europe/Berlin")
    fires = EventBridgeCron(to_eventbridge("30 2 * * *"), "Europe/Berlin").fires(
        datetime(2025, 3, 29, tzinfo=tz), datetime(2025, 4, 1, tzinfo=tz))
    assert [t.day for t in fires] == [29, 31]


def test_weekdays_shift_by_one_and_use_question_mark_for_day_of_month():
    assert to_eventbridge("0 19 * * 1-5") == "cron(0 19 ? * 2-6 *)"


def test_sunday_as_zero_and_as_seven_is_the_same_day():
    assert to_eventbridge("0 7 * * 0") == to_eventbridge("0 7 * * 7") == "cron(0 7 ? * 1 *)"


def test_day_of_month_only_puts_question_mark_in_day_of_week():
    assert to_eventbridge("0 0 1 * *") == "cron(0 0 1 * ? *)"


def test_both_day_fields_restricted_is_refused_naming_the_limitation():
    with pytest.raises(UserError, match="either-or"):
        to_eventbridge("0 0 1 * 1")


def test_unknown_syntax_is_refused():
    with pytest.raises(UserError):
        to_eventbridge("0 0 * * 1#2")
