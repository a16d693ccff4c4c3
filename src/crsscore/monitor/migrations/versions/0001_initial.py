"""The ward monitor's first database schema.

Patients, observations, events, daily grades, risks, alerts, API tokens, page sessions and the
audit log.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mon_patients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.String(100), nullable=False, unique=True),
        sa.Column("infusion_date", sa.String(10), nullable=True),
        sa.Column("baseline", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "mon_observations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_pk", sa.Integer,
                  sa.ForeignKey("mon_patients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Float, nullable=False),
        sa.Column("analyte", sa.String(20), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("orig_value", sa.Float, nullable=False),
        sa.Column("orig_unit", sa.String(40), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("patient_pk", "analyte", "day", name="uq_obs_key"),
    )
    op.create_index("ix_mon_observations_patient_pk", "mon_observations", ["patient_pk"])
    op.create_table(
        "mon_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_pk", sa.Integer,
                  sa.ForeignKey("mon_patients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Float, nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("detail", sa.String(100), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("patient_pk", "event", "day", "detail", name="uq_event_key"),
    )
    op.create_index("ix_mon_events_patient_pk", "mon_events", ["patient_pk"])
    op.create_table(
        "mon_daily_grades",
        sa.Column("patient_pk", sa.Integer,
                  sa.ForeignKey("mon_patients.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("crs_grade", sa.Integer, nullable=True),
        sa.Column("icans_grade", sa.Integer, nullable=True),
        sa.Column("crs_reason", sa.String(200), nullable=False),
        sa.Column("icans_reason", sa.String(200), nullable=False),
        sa.Column("crs_source", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "mon_risks",
        sa.Column("patient_pk", sa.Integer,
                  sa.ForeignKey("mon_patients.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("horizon", sa.Integer, primary_key=True),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("card_id", sa.String(100), nullable=False),
        sa.Column("outside_day_range", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "mon_alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_pk", sa.Integer,
                  sa.ForeignKey("mon_patients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("message", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("acknowledged_at", sa.DateTime, nullable=True),
        sa.Column("acknowledged_by", sa.String(100), nullable=True),
        sa.UniqueConstraint("patient_pk", "kind", "day", name="uq_alert_key"),
    )
    op.create_index("ix_mon_alerts_patient_pk", "mon_alerts", ["patient_pk"])
    op.create_table(
        "mon_api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "mon_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.Integer,
                  sa.ForeignKey("mon_api_tokens.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "mon_audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("n_inserted", sa.Integer, nullable=False),
        sa.Column("n_updated", sa.Integer, nullable=False),
        sa.Column("n_patients", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
    )


def downgrade() -> None:
    for name in ("mon_audit_log", "mon_sessions", "mon_api_tokens", "mon_alerts", "mon_risks",
                 "mon_daily_grades", "mon_events", "mon_observations", "mon_patients"):
        op.drop_table(name)
