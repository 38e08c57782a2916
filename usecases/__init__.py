"""Use-cases every door calls: one typed operation each, and the services they are built from
(control, alerting, webhooks)."""
