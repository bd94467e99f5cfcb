"""Every model, imported in one place so that Alembic and the tests see the whole schema."""

from app.accounts.models import AccountClaim, ApiToken, PhoneCode, User
from app.audit.models import AuditEvent
from app.billing.models import ActivationCode, Subscription
from app.connections.models import (
    Connection,
    ConnectionPermission,
    PermissionType,
    Relationship,
    RelationshipInverse,
)
from app.groups.models import FamilyGroup, FamilyGroupMember
from app.invites.models import ConnectionInvite
from app.notifications.models import InviteNotification
from app.reports.models import CaregiverReportView, PatientReport
from app.staff.models import StaffReview

__all__ = [
    "AccountClaim",
    "ActivationCode",
    "ApiToken",
    "AuditEvent",
    "CaregiverReportView",
    "Connection",
    "ConnectionInvite",
    "ConnectionPermission",
    "FamilyGroup",
    "FamilyGroupMember",
    "InviteNotification",
    "PatientReport",
    "PermissionType",
    "PhoneCode",
    "Relationship",
    "RelationshipInverse",
    "StaffReview",
    "Subscription",
    "User",
]
