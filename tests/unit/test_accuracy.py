"""Scoring insight probabilities against results: Brier, log loss, calibration, per generator and sport."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insights.accuracy import (
    AccuracyReport,
    CalibrationBin,
    Forecast,
    brier,
    calibration_bins,
    log_loss,
    score,
)

THREE_WAY = {"home": 0.5, "draw": 0.3, "away": 0.2}


# --- Brier and log loss on hand-computed examples ---


def test_three_way_forecast_where_home_won() -> None:
    # Brier = (.5 - 1)^2 + .3^2 + .2^2 = .25 + .09 + .04 = .38
    assert brier(THREE_WAY, "home") == pytest.approx(0.38)
    # log loss = -ln .5 = 0.693147...
    assert log_loss(THREE_WAY, "home") == pytest.approx(math.log(2))


def test_three_way_forecast_where_the_draw_happened() -> None:
    # Brier = .5^2 + (.3 - 1)^2 + .2^2 = .25 + .49 + .04 = .78
    assert brier(THREE_WAY, "draw") == pytest.approx(0.78)
    # log loss = -ln .3 = 1.203973...
    assert log_loss(THREE_WAY, "draw") == pytest.approx(1.2039728043259361)


def test_two_way_forecast_where_the_underdog_won() -> None:
    # Brier = .7^2 + (.3 - 1)^2 = .49 + .49 = .98
    assert brier({"home": 0.7, "away": 0.3}, "away") == pytest.approx(0.98)
    # log loss = -ln .3
    assert log_loss({"home": 0.7, "away": 0.3}, "away") == pytest.approx(-math.log(0.3))


def test_the_worst_possible_forecast_scores_brier_two() -> None:
    # Certain of home, away won: Brier = (1 - 0)^2 + (0 - 1)^2 = 2.
    assert brier({"home": 1.0, "away": 0.0}, "away") == 2.0


def test_log_loss_is_clipped_so_a_confident_miss_stays_finite() -> None:
    # p = 0 is clipped to eps: -ln 1e-15 = 15 ln 10 = 34.538776...
    assert log_loss({"home": 0.0, "away": 1.0}, "home") == pytest.approx(15 * math.log(10))
    # p = 1 is clipped to 1 - eps: -ln(1 - 1e-15) ≈ 1e-15, not exactly 0.
    certain = log_loss({"home": 0.0, "away": 1.0}, "away")
    assert 0.0 < certain < 1e-14
    # A larger eps clips harder: -ln .01 = 4.605170...
    assert log_loss({"home": 0.0, "away": 1.0}, "home", eps=0.01) == pytest.approx(-math.log(0.01))


@pytest.mark.parametrize("scorer", [brier, log_loss])
def test_an_outcome_the_forecast_did_not_cover_is_an_error(scorer: Callable[[Mapping[str, float], str], float]) -> None:
    with pytest.raises(ValueError, match="'draw'"):
        scorer({"home": 0.6, "away": 0.4}, "draw")
    with pytest.raises(ValueError, match="'home'"):
        scorer({}, "home")


def test_a_forecast_is_checked_when_it_is_made() -> None:
    with pytest.raises(ValueError, match="'draw'"):
        Forecast("heuristic", "basketball", {"home": 0.6, "away": 0.4}, "draw")
    with pytest.raises(ValueError, match="outside"):
        Forecast("heuristic", "basketball", {"home": 1.2, "away": -0.2}, "home")
    with pytest.raises(ValueError, match="outside"):
        Forecast("heuristic", "basketball", {"home": math.nan, "away": 0.5}, "home")


# --- calibration ---


def test_calibration_bins_on_a_small_hand_made_set() -> None:
    pairs = [
        (0.05, False),  # bin 0 [0, .1)
        (0.15, True),  # bin 1 [.1, .2)
        (0.12, False),  # bin 1
        (0.18, False),  # bin 1
        (0.3, True),  # exactly on an edge: bin 3 [.3, .4), not bin 2
        (0.9, False),  # bin 9 [.9, 1]
        (0.95, True),  # bin 9
        (1.0, True),  # exactly 1.0: the last bin, not an eleventh one
    ]
    result = calibration_bins(pairs)

    # Empty bins (2, 4..8) are left out.
    assert [(b.lower, b.upper, b.count) for b in result] == [
        (0.0, 0.1, 1),
        (0.1, 0.2, 3),
        (0.3, 0.4, 1),
        (0.9, 1.0, 3),
    ]
    first, second, edge, last = result
    assert first.mean_predicted == pytest.approx(0.05)
    assert first.observed_rate == 0.0
    # (.15 + .12 + .18) / 3 = .45 / 3 = .15; one of three came true.
    assert second.mean_predicted == pytest.approx(0.15)
    assert second.observed_rate == pytest.approx(1 / 3)
    assert edge.mean_predicted == pytest.approx(0.3)
    assert edge.observed_rate == 1.0
    # (.9 + .95 + 1.0) / 3 = 2.85 / 3 = .95; two of three came true.
    assert last.mean_predicted == pytest.approx(0.95)
    assert last.observed_rate == pytest.approx(2 / 3)


def test_certainty_alone_lands_in_the_last_bin() -> None:
    assert calibration_bins([(1.0, True)], bins=4) == [CalibrationBin(0.75, 1.0, 1, 1.0, 1.0)]
    assert calibration_bins([(1.0, False)], bins=1) == [CalibrationBin(0.0, 1.0, 1, 1.0, 0.0)]


def test_calibration_of_nothing_is_empty() -> None:
    assert calibration_bins([]) == []


def test_calibration_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="outside"):
        calibration_bins([(1.5, True)])
    with pytest.raises(ValueError, match="outside"):
        calibration_bins([(-0.1, False)])
    with pytest.raises(ValueError, match="outside"):
        calibration_bins([(math.nan, False)])
    with pytest.raises(ValueError, match="bins"):
        calibration_bins([(0.5, True)], bins=0)


# --- score: grouping, means, calibration, JSON ---


def test_score_groups_by_generator_and_sport_and_averages() -> None:
    forecasts = [
        Forecast("llm:gpt-x", "football", THREE_WAY, "away"),
        Forecast("heuristic", "football", THREE_WAY, "home"),
        Forecast("heuristic", "basketball", {"home": 0.7, "away": 0.3}, "away"),
        Forecast("heuristic", "football", {"home": 0.2, "draw": 0.3, "away": 0.5}, "draw"),
    ]
    reports = score(forecasts)

    # Sorted by generator, then sport.
    assert [(r.generator, r.sport, r.forecasts) for r in reports] == [
        ("heuristic", "basketball", 1),
        ("heuristic", "football", 2),
        ("llm:gpt-x", "football", 1),
    ]
    basketball, football, llm = reports
    # .7^2 + .7^2 = .98; -ln .3
    assert basketball.brier == pytest.approx(0.98)
    assert basketball.log_loss == pytest.approx(-math.log(0.3))
    # Home won the first (Brier .38, log loss -ln .5); the draw the second:
    # .2^2 + (.3 - 1)^2 + .5^2 = .04 + .49 + .25 = .78, log loss -ln .3.
    # Means: (.38 + .78) / 2 = .58; (-ln .5 - ln .3) / 2 = (.693147 + 1.203973) / 2 = .948560
    assert football.brier == pytest.approx(0.58)
    assert football.log_loss == pytest.approx((-math.log(0.5) - math.log(0.3)) / 2)
    # Away won: .5^2 + .3^2 + (.2 - 1)^2 = .25 + .09 + .64 = .98; -ln .2 = 1.609438
    assert llm.brier == pytest.approx(0.98)
    assert llm.log_loss == pytest.approx(-math.log(0.2))


def test_score_calibrates_every_outcome_one_vs_rest() -> None:
    # Pairs: (.5, home won), (.3, draw lost), (.2, away lost), then (.7, home lost), (.3, away won).
    forecasts = [
        Forecast("heuristic", "football", THREE_WAY, "home"),
        Forecast("heuristic", "football", {"home": 0.7, "away": 0.3}, "away"),
    ]
    (report,) = score(forecasts, bins=2)

    lower, upper = report.calibration
    # [0, .5): .3, .2, .3 -> mean .8 / 3, one of three happened (the second forecast's away).
    assert (lower.lower, lower.upper, lower.count) == (0.0, 0.5, 3)
    assert lower.mean_predicted == pytest.approx(0.8 / 3)
    assert lower.observed_rate == pytest.approx(1 / 3)
    # [.5, 1]: .5 (home won), .7 (home lost) -> mean .6, one of two happened.
    assert (upper.lower, upper.upper, upper.count) == (0.5, 1.0, 2)
    assert upper.mean_predicted == pytest.approx(0.6)
    assert upper.observed_rate == 0.5


def test_score_of_nothing_is_empty() -> None:
    assert score([]) == []


def test_score_rejects_bad_bins_even_without_forecasts() -> None:
    with pytest.raises(ValueError, match="bins"):
        score([], bins=0)


def test_report_json_is_plain_and_rounded() -> None:
    (report,) = score([Forecast("heuristic", "football", THREE_WAY, "home")], bins=2)
    body = report.json()

    assert body == {
        "generator": "heuristic",
        "sport": "football",
        "forecasts": 1,
        "brier": 0.38,
        # -ln .5 = 0.69314718... -> 6 places
        "log_loss": 0.693147,
        "calibration": [
            # .3 and .2, neither happened: mean .25
            {"lower": 0.0, "upper": 0.5, "count": 2, "mean_predicted": 0.25, "observed_rate": 0.0},
            {"lower": 0.5, "upper": 1.0, "count": 1, "mean_predicted": 0.5, "observed_rate": 1.0},
        ],
    }
    assert json.loads(json.dumps(body)) == body


def test_report_json_rounds_thirds() -> None:
    report = AccuracyReport("heuristic", "tennis", 3, 1 / 3, 2 / 3, [CalibrationBin(0.0, 1 / 3, 3, 1 / 7, 2 / 3)])
    body = report.json()
    assert body["brier"] == 0.333333
    assert body["log_loss"] == 0.666667
    assert body["calibration"] == [
        {"lower": 0.0, "upper": 0.333333, "count": 3, "mean_predicted": 0.142857, "observed_rate": 0.666667}
    ]


# --- properties ---

OUTCOMES = ("home", "away", "draw", "other")


@st.composite
def distributions(draw: st.DrawFn) -> dict[str, float]:
    """Two to four outcomes whose probabilities sum to one."""
    size = draw(st.integers(min_value=2, max_value=len(OUTCOMES)))
    weights = draw(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=size, max_size=size))
    total = sum(weights)
    if total == 0.0:
        return dict.fromkeys(OUTCOMES[:size], 1.0 / size)
    return {key: min(1.0, w / total) for key, w in zip(OUTCOMES[:size], weights, strict=True)}


@st.composite
def forecasts_st(draw: st.DrawFn) -> Forecast:
    probabilities = draw(distributions())
    return Forecast(
        generator=draw(st.sampled_from(["heuristic", "llm:gpt-x", "llm:other"])),
        sport=draw(st.sampled_from(["football", "basketball", "tennis"])),
        probabilities=probabilities,
        outcome=draw(st.sampled_from(sorted(probabilities))),
    )


@given(st.data())
def test_scores_stay_in_range(data: st.DataObject) -> None:
    probabilities = data.draw(distributions())
    outcome = data.draw(st.sampled_from(sorted(probabilities)))
    # Float normalisation may leave the sum an ulp or two off one.
    assert -1e-12 <= brier(probabilities, outcome) <= 2.0 + 1e-12
    assert log_loss(probabilities, outcome) >= 0.0


@given(st.integers(min_value=2, max_value=len(OUTCOMES)), st.data())
def test_a_certain_correct_forecast_is_perfect(size: int, data: st.DataObject) -> None:
    outcome = data.draw(st.sampled_from(OUTCOMES[:size]))
    probabilities = {key: 1.0 if key == outcome else 0.0 for key in OUTCOMES[:size]}
    assert brier(probabilities, outcome) == 0.0
    assert log_loss(probabilities, outcome) == pytest.approx(0.0, abs=1e-12)


@given(
    st.lists(st.tuples(st.floats(min_value=0.0, max_value=1.0), st.booleans()), max_size=50),
    st.integers(min_value=1, max_value=20),
)
def test_calibration_counts_every_pair_once_in_its_own_bin(pairs: list[tuple[float, bool]], bins: int) -> None:
    result = calibration_bins(pairs, bins)

    assert sum(b.count for b in result) == len(pairs)
    assert sum(round(b.observed_rate * b.count) for b in result) == sum(hit for _, hit in pairs)
    for b in result:
        assert b.count > 0
        assert 0.0 <= b.observed_rate <= 1.0
        members = [p for p, _ in pairs if b.lower <= p < b.upper or (p == 1.0 and b.upper == 1.0)]
        assert len(members) == b.count
        assert b.lower - 1e-12 <= b.mean_predicted <= b.upper + 1e-12
    assert [b.lower for b in result] == sorted({b.lower for b in result})


@given(st.lists(forecasts_st(), max_size=30), st.integers(min_value=1, max_value=12))
def test_score_accounts_for_every_forecast_and_pair(forecasts: list[Forecast], bins: int) -> None:
    reports = score(forecasts, bins)

    assert sum(r.forecasts for r in reports) == len(forecasts)
    assert [(r.generator, r.sport) for r in reports] == sorted({(f.generator, f.sport) for f in forecasts})
    for r in reports:
        group = [f for f in forecasts if (f.generator, f.sport) == (r.generator, r.sport)]
        assert sum(b.count for b in r.calibration) == sum(len(f.probabilities) for f in group)
        # Each forecast has exactly one outcome that happened.
        assert sum(round(b.observed_rate * b.count) for b in r.calibration) == len(group)
        assert -1e-12 <= r.brier <= 2.0 + 1e-12
        assert r.log_loss >= 0.0
