"""Every seen image's hashes (MD5 and the perceptual ones), kept per content SHA-256, so a list
imported later can be matched against what was already crawled (retro-match) without a
re-crawl. Hashes only, never image bytes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "image_hashes",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=50), nullable=False),
        sa.Column("hash", sa.String(length=255), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("sha256", "algorithm", "hash", name=op.f("pk_image_hashes")),
    )
    op.create_index("ix_image_hashes_algorithm", "image_hashes", ["algorithm"])
    # Retro-match records matches with no crawl: the crawl-keyed UNIQUE does not hold for
    # NULL, so this one makes two concurrent runs of a version record each match once.
    op.create_index(
        "uq_matches_retro_image_entry", "matches",
        ["image_url_key", "sha256", "list_name", "algorithm", "entry_hash"], unique=True,
        sqlite_where=sa.text("crawl_id IS NULL"), postgresql_where=sa.text("crawl_id IS NULL"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("uq_matches_retro_image_entry", table_name="matches")
    op.drop_index("ix_image_hashes_algorithm", table_name="image_hashes")
    op.drop_table("image_hashes")
