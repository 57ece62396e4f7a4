"""Who to notify when a site has no registered contact: looked-up contacts cached per host
(security.txt, RDAP abuse mailbox), manual overrides per host, and each delivery's
recipient source.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema. Deliveries queued before went to the site's registered contacts."""
    op.create_table(
        "contact_cache",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_cache")),
        sa.UniqueConstraint("host", name=op.f("uq_contact_cache_host")),
    )
    op.create_table(
        "contact_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_overrides")),
        sa.UniqueConstraint("host", name=op.f("uq_contact_overrides_host")),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("recipient_source", sa.String(length=20), nullable=False,
                                   server_default=sa.text("'registered'")))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("recipient_source")
    op.drop_table("contact_overrides")
    op.drop_table("contact_cache")
