"""The outbox also carries membership sync for the http payment service

SPEC §6: membership changes are told to the payment service through the outbox, so
they leave the process after the commit and are retried like any message. Such rows
use the new channel 'payment' (recipient "subscription:ID").

Revision ID: 0004_payment_sync_channel
Revises: 0003_portal_tables
Create Date: 2026-11-21
"""

from alembic import op

revision = "0004_payment_sync_channel"
down_revision = "0003_portal_tables"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_channel", type_="check")
        batch.create_check_constraint(
            "chk_notification_channel", "channel IN ('in_app', 'sms', 'email', 'push', 'payment')")


def downgrade():
    op.execute("DELETE FROM invite_notifications WHERE channel = 'payment'")
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_channel", type_="check")
        batch.create_check_constraint(
            "chk_notification_channel", "channel IN ('in_app', 'sms', 'email', 'push')")
