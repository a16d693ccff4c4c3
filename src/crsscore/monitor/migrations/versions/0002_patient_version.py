"""A version counter per patient: a request graded from a snapshot is stored only if current.

The monitor grades and scores a request from a read snapshot of the patient's stored rows
outside the write transaction, and stores the result only if the patient's version is still
the one it read (else it does the work again).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("mon_patients", sa.Column("version", sa.Integer, nullable=False,
                                            server_default="0"))


def downgrade() -> None:
    # a plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of the table would
    # drop the old one, and with foreign keys on that cascades to every patient's rows
    op.execute("ALTER TABLE mon_patients DROP COLUMN version")
