"""``python -m awsomechat`` runs the CLI."""

from awsomechat.cli.main import run

run()
