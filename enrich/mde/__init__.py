"""Microsoft Defender for Endpoint client: auth, HTTP, quotas, entity statistics."""
