"""Payments at the provider: the providers (``test``, Stripe), the venues'
payment accounts (sealed at rest), Stripe's webhooks and refunds there.

Below checkout: checkout imports this package, never the reverse.
"""
