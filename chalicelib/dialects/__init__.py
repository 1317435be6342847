"""Other schedulers' APIs, each a thin translation over `service`: no storage or rules."""
