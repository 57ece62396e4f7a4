"""Notice items record why a recheck closed them (HTTP 404/410, the host gone, the image no
longer matching under the crawl's rules).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 14:15:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema. Items closed before say nothing: NULL."""
    with op.batch_alter_table("notice_items") as batch:
        batch.add_column(sa.Column("closed_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("notice_items") as batch:
        batch.drop_column("closed_reason")
