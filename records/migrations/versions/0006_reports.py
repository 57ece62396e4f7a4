"""Reported URLs (`reports`) and where a site came from (`sites.origin`: registered, or made
for a reported URL whose host no registered site covers).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema. Sites added before were all registered.

    A plain ADD COLUMN, not a batch (table copy): on SQLite, with foreign keys on, dropping
    the old `sites` table of a batch would cascade-delete every crawl, match and notice."""
    op.add_column("sites", sa.Column("origin", sa.String(length=20), nullable=False,
                                     server_default=sa.text("'registered'")))
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reporter", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("crawl_id", sa.Integer(), nullable=True),
        sa.Column("pages_fetched", sa.Integer(), nullable=False),
        sa.Column("images_found", sa.Integer(), nullable=False),
        sa.Column("images_hashed", sa.Integer(), nullable=False),
        sa.Column("images_skipped", sa.Integer(), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_reports_site_id_sites"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["crawl_id"], ["crawls.id"],
                                name=op.f("fk_reports_crawl_id_crawls"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_index("ix_reports_created_at", "reports", ["created_at"])
    op.create_index("ix_reports_status", "reports", ["status"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_reports_status", table_name="reports")
    op.drop_index("ix_reports_created_at", table_name="reports")
    op.drop_table("reports")
    # SQLite >= 3.35 drops a column in place (no table copy, so no cascade; see upgrade).
    op.drop_column("sites", "origin")
