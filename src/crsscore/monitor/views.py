"""What the ward and patient pages (and the read API) show, read from the database."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from crsscore.monitor.db import Alert, DailyGrade, Event, Observation, Patient, Risk
from crsscore.monitor.ingest import Monitor

SPARK_DAYS = 7
PATIENT_ANALYTES = (("temp", "Temperature", False), ("crp", "CRP", True),
                    ("il6", "IL-6", True), ("ferritin", "Ferritin", True),
                    ("anc", "ANC", False))


def _alert_dict(a: Alert, pid: str) -> dict[str, Any]:
    return {"id": a.id, "patient_id": pid, "kind": a.kind, "day": a.day,
            "value": a.value, "threshold": a.threshold, "message": a.message,
            "created_at": a.created_at.isoformat(timespec="seconds"),
            "acknowledged_at": None if a.acknowledged_at is None
            else a.acknowledged_at.isoformat(timespec="seconds"),
            "acknowledged_by": a.acknowledged_by}


def list_alerts(monitor: Monitor, *, open_only: bool = True,
                patient_pk: int | None = None, limit: int = 500) -> list[dict[str, Any]]:
    with monitor.db.read() as s:
        q = select(Alert, Patient.patient_id).join(Patient, Patient.id == Alert.patient_pk)
        if open_only:
            q = q.where(Alert.acknowledged_at.is_(None))
        if patient_pk is not None:
            q = q.where(Alert.patient_pk == patient_pk)
        q = q.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)
        return [_alert_dict(a, pid) for a, pid in s.execute(q)]


def main_horizon(monitor: Monitor) -> int | None:
    if monitor.risk is None or not monitor.risk.horizons:
        return None
    return max(monitor.risk.horizons)


def ward_rows(monitor: Monitor, sort: str = "risk") -> list[dict[str, Any]]:
    """One row per active patient (see the ward page)."""
    h = main_horizon(monitor)
    with monitor.db.read() as s:
        pats = s.execute(select(Patient.id, Patient.patient_id, Patient.infusion_date)
                         .where(Patient.active.is_(True))).all()
        last_obs = dict(s.execute(select(Observation.patient_pk, func.max(Observation.day))
                                  .group_by(Observation.patient_pk)).all())
        last_ev = dict(s.execute(select(Event.patient_pk, func.max(Event.day))
                                 .group_by(Event.patient_pk)).all())
        grades: dict[int, list[tuple[int, int | None, int | None]]] = {}
        for pk, gday, gcrs, gicans in s.execute(select(
                DailyGrade.patient_pk, DailyGrade.day, DailyGrade.crs_grade,
                DailyGrade.icans_grade).order_by(DailyGrade.patient_pk, DailyGrade.day)):
            grades.setdefault(pk, []).append((gday, gcrs, gicans))
        risks: dict[int, list[tuple[int, float]]] = {}
        if h is not None:
            for pk, rday, r in s.execute(select(Risk.patient_pk, Risk.day, Risk.risk)
                                        .where(Risk.horizon == h)
                                        .order_by(Risk.patient_pk, Risk.day)):
                risks.setdefault(pk, []).append((rday, r))
        open_alerts: dict[int, int] = dict(s.execute(
            select(Alert.patient_pk, func.count(Alert.id))
            .where(Alert.acknowledged_at.is_(None)).group_by(Alert.patient_pk)).all())
    rows = []
    for pk, pid, inf in pats:
        days = [d for d in (last_obs.get(pk), last_ev.get(pk)) if d is not None]
        day: int | None = math.floor(max(days)) if days else None
        g = grades.get(pk, [])
        crs: tuple[int, int] | None = next(((d, c) for d, c, _ in reversed(g) if c is not None), None)
        icans: tuple[int, int] | None = next(((d, i) for d, _, i in reversed(g) if i is not None), None)
        crs_max = max((c for _, c, _ in g if c is not None), default=None)
        rk = risks.get(pk, [])
        now = rk[-1] if rk else None
        spark: list[float | None] = []
        if rk:
            by_day = dict(rk)
            last = rk[-1][0]
            spark = [by_day.get(d) for d in range(last - SPARK_DAYS + 1, last + 1)]
        rows.append({"pk": pk, "patient_id": pid, "infusion_date": inf, "day": day,
                     "crs": crs, "icans": icans, "crs_max": crs_max,
                     "severe": crs_max is not None and crs_max >= 3,
                     "risk": None if now is None else now[1],
                     "risk_day": None if now is None else now[0], "spark": spark,
                     "open_alerts": open_alerts.get(pk, 0)})

    def key(r: dict[str, Any]) -> Any:
        if sort == "id":
            return (0, r["patient_id"])
        if sort == "day":
            return (0, -(r["day"] if r["day"] is not None else -1e9), r["patient_id"])
        if sort == "alerts":
            return (0, -r["open_alerts"], r["patient_id"])
        # risk (default): severe CRS first, then the highest risk, unscored last
        return (0 if r["severe"] else 1, -(r["risk"] if r["risk"] is not None else -1.0),
                r["patient_id"])

    return sorted(rows, key=key)


def patient_detail(monitor: Monitor, patient_id: str) -> dict[str, Any] | None:
    with monitor.db.read() as s:
        pat = s.scalar(select(Patient).where(Patient.patient_id == patient_id))
        if pat is None:
            return None
        obs = s.execute(select(Observation.day, Observation.analyte, Observation.value,
                               Observation.unit, Observation.orig_value, Observation.orig_unit)
                        .where(Observation.patient_pk == pat.id)
                        .order_by(Observation.day)).all()
        evs = s.execute(select(Event.day, Event.event, Event.value, Event.unit, Event.detail)
                        .where(Event.patient_pk == pat.id).order_by(Event.day)).all()
        grades = s.execute(select(DailyGrade.day, DailyGrade.crs_grade, DailyGrade.icans_grade,
                                  DailyGrade.crs_reason, DailyGrade.icans_reason)
                           .where(DailyGrade.patient_pk == pat.id)
                           .order_by(DailyGrade.day)).all()
        risks = s.execute(select(Risk.day, Risk.horizon, Risk.risk, Risk.outside_day_range)
                          .where(Risk.patient_pk == pat.id)
                          .order_by(Risk.horizon, Risk.day)).all()
        pk = pat.id
        baseline = dict(pat.baseline or {})
        inf = pat.infusion_date
    return {"pk": pk, "patient_id": patient_id, "infusion_date": inf, "baseline": baseline,
            "observations": [dict(r._mapping) for r in obs],
            "events": [dict(r._mapping) for r in evs],
            "grades": [dict(r._mapping) for r in grades],
            "risks": [dict(r._mapping) for r in risks],
            "alerts": list_alerts(monitor, open_only=False, patient_pk=pk)}


def patient_charts(detail: dict[str, Any], monitor: Monitor) -> list[str]:
    """The patient page's SVG charts."""
    from crsscore.data.schema import ANALYTES
    from crsscore.monitor.charts import series_chart

    obs = detail["observations"]
    all_days = [r["day"] for r in obs] + [r["day"] for r in detail["events"]]
    days = (min(0.0, min(all_days, default=0.0)), max(7.0, max(all_days, default=7.0) + 1))
    marks = [(float(e["day"]), "toci" if e["event"] == "tocilizumab" else "steroid")
             for e in detail["events"] if e["event"] in ("tocilizumab", "corticosteroid")]
    charts = []
    for code, label, log in PATIENT_ANALYTES:
        pts = [(float(r["day"]), float(r["value"])) for r in obs if r["analyte"] == code]
        if not pts:
            continue
        charts.append(series_chart(label, {label: pts}, unit=ANALYTES[code].unit, days=days,
                                   marks=marks, log=log))
    g = detail["grades"]
    if g:
        crs = [(float(r["day"]), float(r["crs_grade"])) for r in g if r["crs_grade"] is not None]
        icans = [(float(r["day"]), float(r["icans_grade"])) for r in g
                 if r["icans_grade"] is not None]
        charts.append(series_chart("Daily ASTCT grade", {"CRS": crs, "ICANS": icans},
                                   days=days, marks=marks, y_range=(0, 5), step=True,
                                   ticks=5))
    if detail["risks"] and monitor.risk is not None:
        series: dict[str, Sequence[tuple[float, float]]] = {}
        for r in detail["risks"]:
            key = f"within {r['horizon']} d"
            series[key] = [*series.get(key, []), (float(r["day"]), float(r["risk"]))]
        thr = sorted({monitor.risk.threshold(h) for h in monitor.risk.horizons})
        charts.append(series_chart("Risk of severe CRS", series, days=days, marks=marks,
                                   y_range=(0, 1), percent=True, thresholds=thr))
    return charts


__all__ = ["list_alerts", "main_horizon", "patient_charts", "patient_detail", "ward_rows"]
