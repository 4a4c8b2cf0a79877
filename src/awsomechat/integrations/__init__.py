"""Adapters that let other frameworks use an AWSomeChat service through :mod:`awsomechat.client`.

Each module imports its framework; nothing here imports the server.
"""
