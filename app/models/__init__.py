"""Every model, imported in one place so that Alembic and the tests see the whole schema."""

from app.models.accounts import AccountClaim, ApiToken, EmailProof, PhoneCode, User
from app.models.audit import AuditEvent
from app.models.billing import ActivationCode, Subscription
from app.models.connections import (
    Connection,
    ConnectionPermission,
    PermissionType,
    Relationship,
    RelationshipInverse,
)
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.reports import CaregiverReportView, PatientReport
from app.models.staff import SignalCount, SignalCountItem, StaffReview

__all__ = [
    "AccountClaim",
    "ActivationCode",
    "ApiToken",
    "AuditEvent",
    "CaregiverReportView",
    "Connection",
    "ConnectionInvite",
    "ConnectionPermission",
    "EmailProof",
    "FamilyGroup",
    "FamilyGroupMember",
    "InviteNotification",
    "PatientReport",
    "SignalCount",
    "SignalCountItem",
    "PermissionType",
    "PhoneCode",
    "Relationship",
    "RelationshipInverse",
    "StaffReview",
    "Subscription",
    "User",
]
