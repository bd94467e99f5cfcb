"""The JSON API, /api/v1 (SPEC §7): parse JSON → the same services → serialise.

Every route but /auth/register and /auth/token needs a user (app/api/auth.py). A route
never commits: the request's boundary does, once (app/transaction.py); a DomainError
rolls the request back and answers {"error": {"code", "message", "fields"?}} with the
exception's status (app/api/blueprint.py). Each route
declares its input and answers with @operation (app/api/contract.py), from which
GET /api/v1/openapi.json is built (app/api/openapi.py).
"""
