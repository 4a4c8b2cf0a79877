"""The ``awsomechat`` command line (Typer + Rich)."""
