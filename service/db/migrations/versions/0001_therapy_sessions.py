"""therapy sessions

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

json_document = sa.JSON()


def upgrade() -> None:
    op.create_table(
        "therapy_sessions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.Text()),
        sa.Column("patient_id", sa.String(128)),
        sa.Column("owner_id", sa.String(64)),
        sa.Column("bucket", sa.String(128), nullable=False),
        sa.Column("object_name", sa.String(1024), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_size", sa.BigInteger()),
        sa.Column("file_hash", sa.String(64), unique=True),
        sa.Column("recording", json_document),
        sa.Column("report", json_document),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("processing_ms", sa.Float()),
    )
    op.create_index("ix_therapy_sessions_patient_id", "therapy_sessions", ["patient_id"])
    op.create_index("ix_therapy_sessions_owner_id", "therapy_sessions", ["owner_id"])
    op.create_index("ix_therapy_sessions_claim", "therapy_sessions", ["status", "lease_expires_at"])
    op.create_index(
        "uq_therapy_sessions_object", "therapy_sessions", ["bucket", "object_name"], unique=True
    )


def downgrade() -> None:
    op.drop_table("therapy_sessions")
