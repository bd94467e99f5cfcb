"""The payment service (SPEC §6): who is a family admin, with which plan and how many places."""
