"""v2 baseline: the tables that existed before the v4.0 family groups change

The seed (kolia-1517 database mapping) lists these as "existing" and "unchanged":
users, the three lookups with their data, user_emergency_contacts,
connection_invites (legacy invite types only), connection_permissions,
invite_notifications, caregiver_report_views, and patient_reports, the stand-in
for the app's periodic health reports that caregiver_report_views points to.

Revision ID: 0001_v2_baseline
Revises:
Create Date: 2026-11-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_v2_baseline"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")

RELATIONSHIPS = [
    # code, name_vi, name_en, category
    ("con_trai", "Con trai", "Son", "child"),
    ("con_gai", "Con gái", "Daughter", "child"),
    ("vo", "Vợ", "Wife", "spouse"),
    ("chong", "Chồng", "Husband", "spouse"),
    ("bo", "Bố", "Father", "parent"),
    ("me", "Mẹ", "Mother", "parent"),
    ("anh_trai", "Anh trai", "Older brother", "sibling"),
    ("chi_gai", "Chị gái", "Older sister", "sibling"),
    ("em_trai", "Em trai", "Younger brother", "sibling"),
    ("em_gai", "Em gái", "Younger sister", "sibling"),
    ("ong", "Ông", "Grandfather", "grandparent"),
    ("ba", "Bà", "Grandmother", "grandparent"),
    ("chau", "Cháu", "Grandchild", "grandchild"),
    ("khac", "Khác", "Other", "other"),
]

# (relationship_code, target_gender) -> inverse_code. "If A says B is my X, and A's
# gender is g, then B says A is my inverse(X, g)"; 0 = male, 1 = female.
INVERSES = {
    ("con_trai", 0): "bo", ("con_trai", 1): "me",
    ("con_gai", 0): "bo", ("con_gai", 1): "me",
    ("bo", 0): "con_trai", ("bo", 1): "con_gai",
    ("me", 0): "con_trai", ("me", 1): "con_gai",
    ("anh_trai", 0): "em_trai", ("anh_trai", 1): "em_gai",
    ("chi_gai", 0): "em_trai", ("chi_gai", 1): "em_gai",
    ("em_trai", 0): "anh_trai", ("em_trai", 1): "chi_gai",
    ("em_gai", 0): "anh_trai", ("em_gai", 1): "chi_gai",
    ("vo", 0): "chong", ("vo", 1): "khac",
    ("chong", 0): "khac", ("chong", 1): "vo",
    ("ong", 0): "chau", ("ong", 1): "chau",
    ("ba", 0): "chau", ("ba", 1): "chau",
    ("chau", 0): "ong", ("chau", 1): "ba",
    ("khac", 0): "khac", ("khac", 1): "khac",
}

PERMISSION_TYPES = [
    # code, name_vi, name_en, description, icon
    ("health_overview", "Xem tổng quan sức khỏe", "View health overview",
     "See the patient's health reports and overview.", "heart-pulse"),
    ("emergency_alert", "Nhận cảnh báo khẩn cấp", "Receive emergency alerts",
     "Be alerted when the patient raises an SOS or a reading is dangerous.", "siren"),
    ("task_config", "Cấu hình nhiệm vụ", "Configure tasks",
     "Set up the patient's care tasks and reminders.", "list-check"),
    ("compliance_tracking", "Theo dõi tuân thủ", "Track compliance",
     "See whether the patient follows treatment and tasks.", "chart"),
    ("proxy_execution", "Thực hiện thay mặt", "Act on the patient's behalf",
     "Record readings and complete tasks for the patient.", "hand"),
    ("encouragement", "Gọi động viên", "Call to encourage",
     "Send encouragement and call the patient.", "phone"),
]


def _timestamps():
    return [
        sa.Column("created_at", Timestamp, nullable=False, server_default=NOW),
        sa.Column("updated_at", Timestamp, nullable=False, server_default=NOW),
    ]


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", BigId, nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("gender", sa.SmallInteger(), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("gender IN (0, 1)", name="chk_users_gender"),
        sa.UniqueConstraint("phone", name="uq_users_phone"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )

    relationships = op.create_table(
        "relationships",
        sa.Column("code", sa.String(30), nullable=False),
        sa.Column("name_vi", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.PrimaryKeyConstraint("code", name="pk_relationships"),
    )
    op.bulk_insert(relationships, [
        {"code": code, "name_vi": vi, "name_en": en, "category": category,
         "display_order": order, "is_active": True}
        for order, (code, vi, en, category) in enumerate(RELATIONSHIPS, start=1)
    ])

    inverse = op.create_table(
        "relationship_inverse_mapping",
        sa.Column("relationship_code", sa.String(30), nullable=False),
        sa.Column("target_gender", sa.SmallInteger(), nullable=False),
        sa.Column("inverse_code", sa.String(30), nullable=False),
        sa.CheckConstraint("target_gender IN (0, 1)", name="chk_inverse_target_gender"),
        sa.ForeignKeyConstraint(["relationship_code"], ["relationships.code"],
                                name="fk_relationship_inverse_mapping_relationship_code"),
        sa.ForeignKeyConstraint(["inverse_code"], ["relationships.code"],
                                name="fk_relationship_inverse_mapping_inverse_code"),
        sa.PrimaryKeyConstraint("relationship_code", "target_gender",
                                name="pk_relationship_inverse_mapping"),
    )
    op.bulk_insert(inverse, [
        {"relationship_code": code, "target_gender": gender, "inverse_code": target}
        for (code, gender), target in INVERSES.items()
    ])

    permission_types = op.create_table(
        "connection_permission_types",
        sa.Column("code", sa.String(30), nullable=False),
        sa.Column("name_vi", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("icon", sa.String(50), nullable=True),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.PrimaryKeyConstraint("code", name="pk_connection_permission_types"),
    )
    op.bulk_insert(permission_types, [
        {"code": code, "name_vi": vi, "name_en": en, "description": description, "icon": icon,
         "display_order": order, "is_active": True}
        for order, (code, vi, en, description, icon) in enumerate(PERMISSION_TYPES, start=1)
    ])

    op.create_table(
        "patient_reports",
        sa.Column("id", BigId, nullable=False),
        sa.Column("patient_id", BigId, nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(["patient_id"], ["users.id"],
                                name="fk_patient_reports_patient_id"),
        sa.PrimaryKeyConstraint("id", name="pk_patient_reports"),
    )
    op.create_index("idx_patient_reports_patient", "patient_reports", ["patient_id", "created_at"])

    op.create_table(
        "connection_invites",
        sa.Column("id", BigId, nullable=False),
        sa.Column("sender_id", BigId, nullable=False),
        sa.Column("receiver_phone", sa.String(16), nullable=False),
        sa.Column("receiver_id", BigId, nullable=True),
        sa.Column("invite_type", sa.String(30), nullable=False),
        sa.Column("relationship_code", sa.String(30), nullable=True),
        sa.Column("initial_permissions", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("expires_at", Timestamp, nullable=True),
        *_timestamps(),
        sa.CheckConstraint("receiver_id IS NULL OR sender_id <> receiver_id",
                           name="chk_no_self_invite"),
        sa.CheckConstraint("invite_type IN ('patient_to_caregiver', 'caregiver_to_patient')",
                           name="chk_invite_type"),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'cancelled', 'expired')",
            name="chk_invite_status"),
        sa.ForeignKeyConstraint(["sender_id"], ["users.id"],
                                name="fk_connection_invites_sender_id"),
        sa.ForeignKeyConstraint(["receiver_id"], ["users.id"],
                                name="fk_connection_invites_receiver_id"),
        sa.ForeignKeyConstraint(["relationship_code"], ["relationships.code"],
                                name="fk_connection_invites_relationship_code"),
        sa.PrimaryKeyConstraint("id", name="pk_connection_invites"),
    )
    # v2: one pending invite per sender and phone.
    op.create_index("idx_unique_pending", "connection_invites", ["sender_id", "receiver_phone"],
                    unique=True, sqlite_where=sa.text("status = 'pending'"),
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("idx_invites_receiver_phone", "connection_invites", ["receiver_phone"])
    op.create_index("idx_invites_receiver_id", "connection_invites", ["receiver_id"])
    op.create_index("idx_invites_sender_id", "connection_invites", ["sender_id"])

    op.create_table(
        "user_emergency_contacts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("linked_user_id", BigId, nullable=True),
        sa.Column("contact_name", sa.String(100), nullable=True),
        sa.Column("contact_phone", sa.String(16), nullable=True),
        sa.Column("contact_type", sa.String(20), nullable=False,
                  server_default=sa.text("'emergency'")),
        sa.Column("relationship_code", sa.String(30), nullable=True),
        sa.Column("inverse_relationship_code", sa.String(30), nullable=True),
        sa.Column("invite_id", BigId, nullable=True),
        *_timestamps(),
        sa.CheckConstraint("contact_type IN ('emergency', 'caregiver')", name="chk_contact_type"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_user_emergency_contacts_user_id"),
        sa.ForeignKeyConstraint(["linked_user_id"], ["users.id"],
                                name="fk_user_emergency_contacts_linked_user_id"),
        sa.ForeignKeyConstraint(["relationship_code"], ["relationships.code"],
                                name="fk_user_emergency_contacts_relationship_code"),
        sa.ForeignKeyConstraint(
            ["inverse_relationship_code"], ["relationships.code"],
            name="fk_user_emergency_contacts_inverse_relationship_code"),
        sa.ForeignKeyConstraint(["invite_id"], ["connection_invites.id"],
                                name="fk_user_emergency_contacts_invite_id"),
        sa.PrimaryKeyConstraint("id", name="pk_user_emergency_contacts"),
    )
    op.create_index("idx_emergency_contacts_linked_user", "user_emergency_contacts",
                    ["linked_user_id"])

    op.create_table(
        "connection_permissions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("permission_code", sa.String(30), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("updated_at", Timestamp, nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(["contact_id"], ["user_emergency_contacts.id"], ondelete="CASCADE",
                                name="fk_connection_permissions_contact_id"),
        sa.ForeignKeyConstraint(
            ["permission_code"], ["connection_permission_types.code"],
            name="fk_connection_permissions_permission_code"),
        sa.UniqueConstraint("contact_id", "permission_code",
                            name="uq_connection_permissions_contact_id_permission_code"),
        sa.PrimaryKeyConstraint("id", name="pk_connection_permissions"),
    )

    op.create_table(
        "invite_notifications",
        sa.Column("id", BigId, nullable=False),
        sa.Column("invite_id", BigId, nullable=True),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("notification_type", sa.String(30), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("retry_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("sent_at", Timestamp, nullable=True),
        sa.Column("delivered_at", Timestamp, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("external_message_id", sa.String(100), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "notification_type IN ('INVITE_CREATED', 'INVITE_ACCEPTED', 'INVITE_REJECTED', "
            "'INVITE_CANCELLED', 'MEMBER_JOINED', 'MEMBER_REMOVED', 'MEMBER_LEFT')",
            name="chk_notification_type"),
        sa.CheckConstraint("channel IN ('in_app', 'sms', 'email', 'push')",
                           name="chk_notification_channel"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'delivered', 'failed', 'cancelled')",
                           name="chk_notification_status"),
        sa.CheckConstraint("retry_count >= 0", name="chk_notification_retry_count"),
        sa.ForeignKeyConstraint(["invite_id"], ["connection_invites.id"],
                                name="fk_invite_notifications_invite_id"),
        sa.PrimaryKeyConstraint("id", name="pk_invite_notifications"),
    )
    op.create_index("idx_notifications_invite", "invite_notifications", ["invite_id"])

    op.create_table(
        "caregiver_report_views",
        sa.Column("id", BigId, nullable=False),
        sa.Column("caregiver_id", BigId, nullable=False),
        sa.Column("report_id", BigId, nullable=False),
        sa.Column("viewed_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["caregiver_id"], ["users.id"],
                                name="fk_caregiver_report_views_caregiver_id"),
        sa.ForeignKeyConstraint(["report_id"], ["patient_reports.id"], ondelete="CASCADE",
                                name="fk_caregiver_report_views_report_id"),
        sa.UniqueConstraint("caregiver_id", "report_id",
                            name="uq_caregiver_report_views_caregiver_id_report_id"),
        sa.PrimaryKeyConstraint("id", name="pk_caregiver_report_views"),
    )
    op.create_index("idx_report_views_report", "caregiver_report_views", ["report_id"])


def downgrade():
    for table in ("caregiver_report_views", "invite_notifications", "connection_permissions",
                  "user_emergency_contacts", "connection_invites", "patient_reports",
                  "connection_permission_types", "relationship_inverse_mapping",
                  "relationships", "users"):
        op.drop_table(table)
