"""A faithful local emulator of Microsoft Defender for Endpoint (login, entity APIs, hunting)."""
