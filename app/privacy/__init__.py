"""A person's own data (issue 19): what the portal holds about them, its export, and
deleting the account. Above invites and membership (a deletion ends both), below staff
(whose audited export with a reason calls this package's)."""
