"""Status, decision, kind and channel columns admit only their vocabulary
(`records.states`): a typo cannot be stored.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 17:30:00

SQLite cannot add a CHECK to a table: batch mode rebuilds each table (copy, drop, rename).
`records.db.Database` runs migrations on SQLite with foreign keys off, so dropping the old
`notices` table does not cascade into its items and deliveries.
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported from records.states: a migration keeps saying what it said when
# it was written, whatever the code's vocabulary becomes later.
CHECKS: dict[str, dict[str, tuple[str, ...]]] = {
    "crawls": {"status": ("queued", "running", "finished", "failed", "stopped")},
    "image_events": {"status": ("hashed", "skipped")},
    "matches": {
        "decision": ("auto", "review"),
        "status": ("new", "in_notice", "reviewed_confirmed", "reviewed_rejected",
                   "suppressed", "removed"),
    },
    "notices": {"status": ("open", "sent", "acknowledged", "removed", "disputed", "closed",
                           "failed")},
    "notice_items": {"status": ("open", "removed", "reappeared")},
    "deliveries": {
        "channel": ("email", "webhook"),
        "kind": ("initial", "reminder", "escalation"),
        "status": ("pending", "sending", "sent", "failed"),
    },
    "owner_responses": {"action": ("acknowledge", "removed", "dispute")},
}


def _condition(column: str, allowed: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in allowed)})"


def upgrade() -> None:
    """Upgrade schema. A row that already holds a value outside its vocabulary stops the
    migration (nothing is changed): fix the row, then upgrade again."""
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column, allowed in columns.items():
                batch.create_check_constraint(op.f(f"ck_{table}_{column}"),
                                              _condition(column, allowed))


def downgrade() -> None:
    """Downgrade schema."""
    for table, columns in reversed(CHECKS.items()):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
