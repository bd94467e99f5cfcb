"""The outbox worker: sends what the features wrote to the outbox (email, SMS, the payment
service's member sync) after their transaction committed, and retries what failed."""
