"""enrich: enrich threat indicators with what Microsoft Defender for Endpoint has seen of them."""

__version__ = "0.1.0"
