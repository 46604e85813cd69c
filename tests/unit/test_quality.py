"""Run measures, their trailing baseline and the population-stability index the quality gate compares on."""

from labeling.quality import psi, recent_runs, record_run, run_measures, trailing_baseline
from stores.objects import LocalObjectStore


def report(run_id: str, at: str, *, needs_review: float, labeled: int = 100, model: str = "m1", bins=None) -> dict:
    return {
        "run_id": run_id, "finished_at": at, "curricula": ["kr-2022"], "model_versions": [model],
        "labeled": labeled, "skipped": 0, "quarantined": 0, "needs_review_rate": needs_review,
        "auto_accept_rate": round(1 - needs_review, 4), "label_seconds": 2.0,
        "histogram": [{"from": i / 10, "to": (i + 1) / 10, "count": c} for i, c in enumerate(bins or [10] * 10)],
    }  # fmt: skip


def test_the_baseline_pools_earlier_runs_of_the_same_curricula_and_model_only():
    runs = [run_measures(report(f"r{i}", f"2026-12-0{i}T00:00:00", needs_review=0.2)) for i in range(1, 5)]
    runs.append(run_measures(report("other-model", "2026-12-05T00:00:00", needs_review=0.9, model="m2")))
    now = run_measures(report("now", "2026-12-06T00:00:00", needs_review=0.6))
    base = trailing_baseline([*runs, now], now)
    assert base["runs"] == ["r1", "r2", "r3", "r4"] and base["needs_review_rate"] == 0.2
    assert base["histogram"] == [40] * 10
    assert trailing_baseline([*runs[:2], now], now) is None  # two earlier runs are too few to compare with


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shifted_one():
    assert psi([10] * 10, [20] * 10) == 0.0
    assert psi([10] * 10, [0] * 9 + [100]) > 0.25
    assert psi([1, 2], [1, 2, 3]) is None and psi([0, 0], [1, 1]) is None


def test_the_history_reads_the_latest_runs_oldest_first_once_each_and_skips_damaged_entries(tmp_path):
    objects = LocalObjectStore(tmp_path)
    for run_id, at, rate in (
        ("a", "2026-12-01T00:00:00+00:00", 0.1),
        ("b", "2026-12-02T00:00:00+00:00", 0.3),
        ("c", "2026-12-03T00:00:00+00:00", 0.5),
        ("b", "2026-12-04T00:00:00+00:00", 0.4),
    ):
        record_run(objects, report(run_id, at, needs_review=rate))  # b's report was written again by a retry
    objects.write_bytes("history/runs/20261205T000000__broken.json", b"{not json")
    runs = recent_runs(objects)
    assert [(r["run_id"], r["needs_review_rate"]) for r in runs] == [("a", 0.1), ("c", 0.5), ("b", 0.4)]
    assert runs[0]["problems_per_second"] == 50.0 and runs[1]["quarantine_rate"] == 0.0
    assert [r["run_id"] for r in recent_runs(objects, limit=2)] == ["c", "b"]
