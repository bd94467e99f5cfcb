"""The outbox also carries PERMISSION_ENABLED (in-app only)

Issue 4: a patient is told, in the portal, when the family's admin turns one of their
followers' permissions ON (dual control: their data, their say). The seed's list of
notification types has no such event, so the check constraint gains one value.

Revision ID: 0005_permission_enabled_notice
Revises: 0004_payment_sync_channel
Create Date: 2026-11-21
"""

from alembic import op

revision = "0005_permission_enabled_notice"
down_revision = "0004_payment_sync_channel"
branch_labels = None
depends_on = None

OLD = ("'INVITE_CREATED', 'INVITE_ACCEPTED', 'INVITE_REJECTED', 'INVITE_CANCELLED', "
       "'MEMBER_JOINED', 'MEMBER_REMOVED', 'MEMBER_LEFT'")
NEW = OLD + ", 'PERMISSION_ENABLED'"


def upgrade():
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type", f"notification_type IN ({NEW})")


def downgrade():
    op.execute("DELETE FROM invite_notifications WHERE notification_type = 'PERMISSION_ENABLED'")
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type", f"notification_type IN ({OLD})")
