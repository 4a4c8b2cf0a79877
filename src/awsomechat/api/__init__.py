"""The REST API: a FastAPI app built by :func:`awsomechat.api.app.create_app`."""
