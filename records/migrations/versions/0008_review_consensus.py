"""Entry feedback: list entries analysts rejected as false positives, per list, to send back
to the list's authority. (Consensus review itself needs no new column: it counts the
`reviews` rows of an image's pending matches.)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "entry_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_name", sa.String(length=255), nullable=False),
        sa.Column("algorithm", sa.String(length=50), nullable=False),
        sa.Column("entry_hash", sa.String(length=255), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("match_id", sa.Integer(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=False),
        sa.Column("by", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["match_id"], ["matches.id"],
            name=op.f("fk_entry_feedback_match_id_matches"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_feedback")),
    )
    op.create_index("ix_entry_feedback_list_name_at", "entry_feedback", ["list_name", "at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_entry_feedback_list_name_at", table_name="entry_feedback")
    op.drop_table("entry_feedback")
