"""The MCP surface of rigorlab: app, registration, CLI, config, workspace jail.

Adapts and validates; never computes. Nothing below `server/` imports it.
"""
__version__ = "0.1.0"
