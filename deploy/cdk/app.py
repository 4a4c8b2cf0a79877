#!/usr/bin/env python3
"""The AWSomeChat CDK app: ``cdk synth`` / ``cdk deploy`` from this folder (docs/deployment.md).

pip install -r requirements.txt            # aws-cdk-lib, constructs
cdk deploy -c model=bedrock                # or runner (default), sagemaker, openai
"""

from __future__ import annotations

import os

import aws_cdk as cdk
from awsomechat_stack import AwsomeChatStack, StackOptions


def main() -> cdk.App:
    app = cdk.App()
    options = StackOptions.from_context(app)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = cdk.Environment(account=account, region=region) if account and region else None
    AwsomeChatStack(
        app,
        app.node.try_get_context("stack_name") or "AwsomeChat",
        options,
        env=env,
        description="AWSomeChat: RAG chatbot on ECS Fargate, RDS PostgreSQL with pgvector",
    )
    app.synth()
    return app


if __name__ == "__main__":
    main()
