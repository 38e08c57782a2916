"""The peer benchmark (run.py): oddsgate against a Node reference and a raw ASGI ceiling; see README.md."""
