"""Crawls record why pages/links were not followed (urls_skipped) and why a crawl failed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema. Crawls recorded before have no page skip reasons: `{}`."""
    with op.batch_alter_table("crawls") as batch:
        batch.add_column(sa.Column("urls_skipped", sa.JSON(), nullable=False,
                                   server_default=sa.text("'{}'")))
        batch.add_column(sa.Column("failure_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("crawls") as batch:
        batch.drop_column("failure_reason")
        batch.drop_column("urls_skipped")
