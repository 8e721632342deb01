"""The service layer: plain functions over a Session, shared by the bot, the web and the CLI.

Each function validates before it writes, flushes, and leaves the commit to its caller.
"""
