"""cronhook's domain: plain Python that the Chalice app, the tick and the tools call."""

__version__ = "0.1.0"
