"""A person's own data (issue 19): deleted accounts as tombstones, consent withdrawn by
the patient, codes that confirm a sensitive action, and the notices these send

- users.deleted_at: the account was deleted by its owner. Its personal fields are erased
  and the row stays, so that the audit trail's rows keep pointing somewhere ("deleted
  user #id"); the phone number and e-mail address are free for a new account.
- user_emergency_contacts.consent_withdrawn_at: the patient withdrew consent for this
  connection. Only the patient's own restore undoes it; the admin's restore is refused.
- phone_codes.purpose 'confirm': an SMS code that confirms an export or a deletion, as
  the password does.
- invite_notifications: CONSENT_WITHDRAWN (to a caregiver, when the patient chose to tell
  them) and FAMILY_HANDED_OVER (to the members, when the admin passed the family on).

Revision ID: 0009_own_data
Revises: 0008_phone_proof
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_own_data"
down_revision = "0008_phone_proof"
branch_labels = None
depends_on = None

OLD_TYPES = ("'INVITE_CREATED', 'INVITE_ACCEPTED', 'INVITE_REJECTED', 'INVITE_CANCELLED', "
             "'MEMBER_JOINED', 'MEMBER_REMOVED', 'MEMBER_LEFT', 'PERMISSION_ENABLED', "
             "'ACCOUNT_CLAIM', 'PHONE_CODE', 'ACCOUNT_EXISTS', 'PHONE_TAKEN_OVER'")
NEW_TYPES = OLD_TYPES + ", 'CONSENT_WITHDRAWN', 'FAMILY_HANDED_OVER'"
OLD_PURPOSES = "'register', 'reset', 'prove'"
NEW_PURPOSES = OLD_PURPOSES + ", 'confirm'"


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("user_emergency_contacts") as batch:
        batch.add_column(sa.Column("consent_withdrawn_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("phone_codes") as batch:
        batch.drop_constraint("chk_phone_codes_purpose", type_="check")
        batch.create_check_constraint("chk_phone_codes_purpose",
                                      f"purpose IN ({NEW_PURPOSES})")
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type",
                                      f"notification_type IN ({NEW_TYPES})")


def downgrade():
    bind = op.get_bind()
    deleted = bind.execute(
        sa.text("SELECT count(*) FROM users WHERE deleted_at IS NOT NULL")).scalar()
    if deleted:
        # The previous schema has no way to tell a tombstone from a live account: it would
        # come back as an account named "" that nobody can log in to, and count as a user.
        raise RuntimeError(
            f"{deleted} account(s) were deleted by their owners (issue 19); the previous "
            "schema cannot mark them. Restore a backup taken before this revision instead.")
    op.execute("DELETE FROM invite_notifications WHERE notification_type IN "
               "('CONSENT_WITHDRAWN', 'FAMILY_HANDED_OVER')")
    with op.batch_alter_table("invite_notifications") as batch:
        batch.drop_constraint("chk_notification_type", type_="check")
        batch.create_check_constraint("chk_notification_type",
                                      f"notification_type IN ({OLD_TYPES})")
    op.execute("DELETE FROM phone_codes WHERE purpose = 'confirm'")
    with op.batch_alter_table("phone_codes") as batch:
        batch.drop_constraint("chk_phone_codes_purpose", type_="check")
        batch.create_check_constraint("chk_phone_codes_purpose",
                                      f"purpose IN ({OLD_PURPOSES})")
    with op.batch_alter_table("user_emergency_contacts") as batch:
        batch.drop_column("consent_withdrawn_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deleted_at")
