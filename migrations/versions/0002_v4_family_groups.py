"""v4.0: family groups, members, soft disconnect, new invite types

The seed's change, in its order: two new tables (family_groups, family_group_members
with idx_user_single_group), two new columns on user_emergency_contacts
(permission_revoked, family_group_id) with their partial indexes, and the new
chk_invite_type. SPEC §2 goes one step further than the seed: the legacy values
exist only in the v2 baseline, so legacy rows are converted
(patient_to_caregiver -> add_caregiver, caregiver_to_patient -> add_patient) and the
final constraint allows only the two v4 values. Downgrade converts them back.

Revision ID: 0002_v4_family_groups
Revises: 0001_v2_baseline
Create Date: 2026-11-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_v4_family_groups"
down_revision = "0001_v2_baseline"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")

LEGACY_TYPES = "invite_type IN ('patient_to_caregiver', 'caregiver_to_patient')"
SEED_V4_TYPES = ("invite_type IN ('patient_to_caregiver', 'caregiver_to_patient', "
                 "'add_patient', 'add_caregiver')")
V4_TYPES = "invite_type IN ('add_patient', 'add_caregiver')"
CONVERSION = {"patient_to_caregiver": "add_caregiver", "caregiver_to_patient": "add_patient"}


def _set_invite_type_check(condition: str) -> None:
    with op.batch_alter_table("connection_invites") as batch:
        batch.drop_constraint("chk_invite_type", type_="check")
        batch.create_check_constraint("chk_invite_type", condition)


def _convert_invite_types(mapping: dict[str, str]) -> None:
    invites = sa.table("connection_invites", sa.column("invite_type", sa.String))
    for old, new in mapping.items():
        op.execute(invites.update().where(invites.c.invite_type == old)
                   .values(invite_type=new))


def upgrade():
    op.create_table(
        "family_groups",
        sa.Column("id", BigId, nullable=False),
        sa.Column("admin_user_id", BigId, nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False, server_default=NOW),
        sa.Column("updated_at", Timestamp, nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(["admin_user_id"], ["users.id"],
                                name="fk_family_groups_admin_user_id"),
        sa.PrimaryKeyConstraint("id", name="pk_family_groups"),
    )

    op.create_table(
        "family_group_members",
        sa.Column("id", BigId, nullable=False),
        sa.Column("group_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("joined_at", Timestamp, nullable=False, server_default=NOW),
        sa.CheckConstraint("role IN ('patient', 'caregiver')", name="chk_member_role"),
        sa.ForeignKeyConstraint(["group_id"], ["family_groups.id"], ondelete="CASCADE",
                                name="fk_family_group_members_group_id"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_family_group_members_user_id"),
        sa.UniqueConstraint("group_id", "user_id", "role",
                            name="uq_family_group_members_group_id_user_id_role"),
        sa.PrimaryKeyConstraint("id", name="pk_family_group_members"),
    )
    # BR-057: Exclusive Group (1 user = 1 group per role)
    op.create_index("idx_user_single_group", "family_group_members", ["user_id", "role"],
                    unique=True)

    with op.batch_alter_table("user_emergency_contacts") as batch:
        batch.add_column(sa.Column("permission_revoked", sa.Boolean(), nullable=True,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("family_group_id", BigId, nullable=True))
        batch.create_foreign_key("fk_user_emergency_contacts_family_group_id",
                                 "family_groups", ["family_group_id"], ["id"])
    op.create_index("idx_emergency_contacts_family_group", "user_emergency_contacts",
                    ["family_group_id"],
                    sqlite_where=sa.text("family_group_id IS NOT NULL"),
                    postgresql_where=sa.text("family_group_id IS NOT NULL"))
    op.create_index("idx_emergency_contacts_permission_revoked", "user_emergency_contacts",
                    ["permission_revoked"],
                    sqlite_where=sa.text("permission_revoked = TRUE"),
                    postgresql_where=sa.text("permission_revoked = TRUE"))

    _set_invite_type_check(SEED_V4_TYPES)
    _convert_invite_types(CONVERSION)
    _set_invite_type_check(V4_TYPES)


def downgrade():
    _set_invite_type_check(SEED_V4_TYPES)
    _convert_invite_types({new: old for old, new in CONVERSION.items()})
    _set_invite_type_check(LEGACY_TYPES)

    op.drop_index("idx_emergency_contacts_permission_revoked",
                  table_name="user_emergency_contacts")
    op.drop_index("idx_emergency_contacts_family_group", table_name="user_emergency_contacts")
    with op.batch_alter_table("user_emergency_contacts") as batch:
        batch.drop_constraint("fk_user_emergency_contacts_family_group_id",
                              type_="foreignkey")
        batch.drop_column("family_group_id")
        batch.drop_column("permission_revoked")

    op.drop_index("idx_user_single_group", table_name="family_group_members")
    op.drop_table("family_group_members")
    op.drop_table("family_groups")
