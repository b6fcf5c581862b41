"""Webhook delivery: signing, the SSRF guard, the outbound HTTP seam, attempts and sweeps."""
