"""AWSomeChat on AWS: ECS Fargate behind an Application Load Balancer, RDS for PostgreSQL with
pgvector, Secrets Manager, and the model on Fargate (the model runner), Amazon Bedrock, a
SageMaker endpoint or any OpenAI-compatible server. docs/deployment.md, "AWS", explains it.

Options are CDK context values (``cdk deploy -c model=bedrock``); ``StackOptions.from_context``
lists them with their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS = ("runner", "bedrock", "sagemaker", "openai")
DB_NAME = "awsomechat"
DB_USER = "awsomechat"
HEALTHCHECK = ["CMD", "python", "-m", "awsomechat.healthcheck"]


@dataclass(frozen=True)
class StackOptions:
    """What the stack builds; every field is a context key of the same name."""

    model: str = "runner"  # runner | bedrock | sagemaker | openai
    bedrock_model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    sagemaker_endpoint: str = ""
    sagemaker_payload: str = "tgi"  # tgi | jumpstart-t5
    openai_base_url: str = ""
    openai_model: str = "default"
    openai_api_key_secret_arn: str = ""  # a Secrets Manager secret holding the bearer token
    image_uri: str = ""  # a pushed image; empty: built from the repository's Dockerfile at deploy
    certificate_arn: str = ""  # ACM certificate: HTTPS on 443 (else HTTP on 80)
    api_desired_count: int = 2
    api_max_count: int = 6
    db_instance_type: str = "t4g.medium"
    db_multi_az: bool = False
    db_deletion_protection: bool = True
    nat_gateways: int = 1
    run_migrations_on_deploy: bool = True

    @classmethod
    def from_context(cls, scope: Construct) -> StackOptions:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = scope.node.try_get_context(f.name)
            if raw is None:
                continue
            default = getattr(cls, f.name)
            if isinstance(default, bool):
                values[f.name] = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                values[f.name] = int(raw)
            else:
                values[f.name] = str(raw)
        options = cls(**values)
        options.check()
        return options

    def check(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"context model={self.model!r}: choose one of {', '.join(MODELS)}")
        if self.model == "sagemaker" and not self.sagemaker_endpoint:
            raise ValueError("context model=sagemaker needs sagemaker_endpoint=<endpoint name>")
        if self.model == "openai" and not self.openai_base_url:
            raise ValueError("context model=openai needs openai_base_url=https://.../v1")


class AwsomeChatStack(Stack):
    """VPC, RDS PostgreSQL, the API on Fargate behind an ALB, the model, the migrations task."""

    def __init__(self, scope: Construct, construct_id: str, options: StackOptions, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.options = options

        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=options.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
        )

        # PostgreSQL with pgvector: RDS for PostgreSQL 17.5 ships pgvector 0.8 (AWSomeChat needs
        # >= 0.8 for iterative index scans). The master user (rds_superuser) may CREATE EXTENSION
        # vector, which the first migration does. Its password lives in Secrets Manager only.
        self.db = rds.DatabaseInstance(
            self,
            "Database",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_5),
            instance_type=ec2.InstanceType(options.db_instance_type),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            credentials=rds.Credentials.from_generated_secret(
                DB_USER, secret_name=f"{construct_id}/database"
            ),
            database_name=DB_NAME,
            allocated_storage=20,
            max_allocated_storage=200,
            storage_encrypted=True,
            multi_az=options.db_multi_az,
            backup_retention=Duration.days(7),
            deletion_protection=options.db_deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT,
            cloudwatch_logs_exports=["postgresql"],
        )
        assert self.db.secret is not None

        cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        cluster.add_default_cloud_map_namespace(name="awsomechat.local")
        image = self._image()
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )

        # The API connects with a URL without password; libpq takes it from PGPASSWORD, injected
        # by ECS from the database secret (so a rotated password needs only a task restart).
        db_url = (
            f"postgresql://{DB_USER}@{self.db.db_instance_endpoint_address}:"
            f"{self.db.db_instance_endpoint_port}/{DB_NAME}?sslmode=require"
        )
        db_env = {"AWSOMECHAT_DATABASE__URL": db_url, "AWSOMECHAT_LOG_LEVEL": "INFO"}
        db_secrets = {"PGPASSWORD": ecs.Secret.from_secrets_manager(self.db.secret, "password")}
        llm_env, llm_secrets = self._model(cluster, image, log_group)

        api_task = self._task("ApiTask", cpu=1024, memory_mib=2048)
        api_task.add_container(
            "api",
            image=image,
            command=["serve"],
            port_mappings=[ecs.PortMapping(container_port=8080, name="http")],
            environment={**db_env, **llm_env, "AWSOMECHAT_EMBEDDER__THREADS": "1"},
            secrets={**db_secrets, **llm_secrets},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="api", log_group=log_group),
            health_check=ecs.HealthCheck(
                command=HEALTHCHECK,
                interval=Duration.seconds(30),
                timeout=Duration.seconds(5),
                retries=3,
                start_period=Duration.seconds(120),
            ),
            stop_timeout=Duration.seconds(30),
        )
        self._grant_model(api_task.task_role)

        https = bool(options.certificate_arn)
        self.api = ecs_patterns.ApplicationLoadBalancedFargateService(
            self,
            "Api",
            cluster=cluster,
            task_definition=api_task,
            desired_count=options.api_desired_count,
            task_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            public_load_balancer=True,
            idle_timeout=Duration.seconds(300),  # streamed answers; the default 60 s would cut them
            protocol=elbv2.ApplicationProtocol.HTTPS if https else elbv2.ApplicationProtocol.HTTP,
            certificate=(_certificate(self, options.certificate_arn) if https else None),
            redirect_http=https,
            health_check_grace_period=Duration.seconds(180),
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=100,
            # `aws ecs execute-command` (the AdminKeyCommand output): keys are shown, never logged.
            enable_execute_command=True,
        )
        # /healthz, not /readyz: ECS replaces tasks the load balancer finds unhealthy, and a
        # model-runner restart makes /readyz 503 on every API task at once.
        self.api.target_group.configure_health_check(
            path="/healthz",
            healthy_http_codes="200",
            interval=Duration.seconds(15),
            healthy_threshold_count=2,
            unhealthy_threshold_count=3,
        )
        self.api.target_group.set_attribute("deregistration_delay.timeout_seconds", "30")
        scaling = self.api.service.auto_scale_task_count(
            min_capacity=options.api_desired_count,
            max_capacity=max(options.api_desired_count, options.api_max_count),
        )
        scaling.scale_on_cpu_utilization(
            "Cpu", target_utilization_percent=70, scale_in_cooldown=Duration.seconds(300)
        )
        self.db.connections.allow_default_port_from(self.api.service, "API tasks")
        if self.runner_service is not None:
            self.runner_service.connections.allow_from(self.api.service, ec2.Port.tcp(9000), "API -> runner")

        self._migrations(cluster, image, log_group, db_env, db_secrets)

        CfnOutput(
            self,
            "Url",
            value=f"{'https' if https else 'http'}://{self.api.load_balancer.load_balancer_dns_name}",
        )
        CfnOutput(self, "DatabaseSecretArn", value=self.db.secret.secret_arn)
        CfnOutput(
            self,
            "AdminKeyCommand",
            value=(
                f"aws ecs execute-command --cluster {cluster.cluster_name} --task <api task id> "
                "--container api --interactive --command 'awsomechat users add admin --admin'"
            ),
        )

    # ------------------------------------------------------------------------------------ parts
    def _task(self, construct_id: str, *, cpu: int, memory_mib: int) -> ecs.FargateTaskDefinition:
        task = ecs.FargateTaskDefinition(
            self, construct_id, cpu=cpu, memory_limit_mib=memory_mib, runtime_platform=_x86()
        )
        if ".dkr.ecr." in self.options.image_uri:  # a pushed ECR image: the task must be allowed to pull
            task.obtain_execution_role().add_managed_policy(
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonECSTaskExecutionRolePolicy"
                )
            )
        return task

    def _image(self) -> ecs.ContainerImage:
        if self.options.image_uri:
            return ecs.ContainerImage.from_registry(self.options.image_uri)
        return ecs.ContainerImage.from_asset(
            str(REPO_ROOT),
            target="server",
            platform=ecr_assets.Platform.LINUX_AMD64,
            build_args={"BAKE_MODEL": "1" if self.options.model == "runner" else "0"},
        )

    def _model(
        self, cluster: ecs.Cluster, image: ecs.ContainerImage, log_group: logs.ILogGroup
    ) -> tuple[dict[str, str], dict[str, ecs.Secret]]:
        """The API's model settings (and, for the runner, the runner service itself)."""
        o = self.options
        self.runner_service: ecs.FargateService | None = None
        if o.model == "bedrock":
            return {"AWSOMECHAT_LLM__KIND": "bedrock", "AWSOMECHAT_LLM__MODEL_ID": o.bedrock_model_id}, {}
        if o.model == "sagemaker":
            return {
                "AWSOMECHAT_LLM__KIND": "sagemaker",
                "AWSOMECHAT_LLM__ENDPOINT_NAME": o.sagemaker_endpoint,
                "AWSOMECHAT_LLM__PAYLOAD": o.sagemaker_payload,
            }, {}
        if o.model == "openai":
            env = {
                "AWSOMECHAT_LLM__KIND": "openai",
                "AWSOMECHAT_LLM__BASE_URL": o.openai_base_url,
                "AWSOMECHAT_LLM__REMOTE_MODEL": o.openai_model,
                "AWSOMECHAT_API__GENERATION_CONCURRENCY": "8",
            }
            secrets = {}
            if o.openai_api_key_secret_arn:
                key = secretsmanager.Secret.from_secret_complete_arn(
                    self, "OpenAIKey", o.openai_api_key_secret_arn
                )
                secrets["AWSOMECHAT_LLM__API_KEY"] = ecs.Secret.from_secrets_manager(key)
            return env, secrets

        # The model runner: the GGUF baked into the image, one generation at a time, shared by
        # every API task; ~1.9 GB resident with the default model. Reached through Cloud Map DNS
        # and only from the API's security group, with a bearer token from Secrets Manager.
        token = secretsmanager.Secret(
            self,
            "RunnerToken",
            description="bearer token between the AWSomeChat API and its model runner",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=40
            ),
        )
        token_secret = {"AWSOMECHAT_LLM__API_KEY": ecs.Secret.from_secrets_manager(token)}
        task = self._task("RunnerTask", cpu=2048, memory_mib=4096)
        task.add_container(
            "model-runner",
            image=image,
            command=["model-runner", "--listen", "http://0.0.0.0:9000"],
            port_mappings=[ecs.PortMapping(container_port=9000, name="runner")],
            environment={
                "AWSOMECHAT_LLM__KIND": "llamacpp",
                "AWSOMECHAT_LLM__N_THREADS": "2",
                "AWSOMECHAT_LOG_LEVEL": "INFO",
            },
            secrets=token_secret,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="model-runner", log_group=log_group),
            health_check=ecs.HealthCheck(
                command=[*HEALTHCHECK, "--runner", "http://127.0.0.1:9000"],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                retries=3,
                start_period=Duration.seconds(300),
            ),
            stop_timeout=Duration.seconds(20),
        )
        self.runner_service = ecs.FargateService(
            self,
            "Runner",
            cluster=cluster,
            task_definition=task,
            desired_count=1,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            cloud_map_options=ecs.CloudMapOptions(name="model-runner", dns_ttl=Duration.seconds(10)),
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            min_healthy_percent=0,  # one runner: replaced, not doubled, on deploy
        )
        env = {
            "AWSOMECHAT_LLM__KIND": "llamacpp",
            "AWSOMECHAT_LLM__RUNNER_URL": "http://model-runner.awsomechat.local:9000",
        }
        return env, token_secret

    def _grant_model(self, role: iam.IRole) -> None:
        """Least privilege for the model the API calls: one Bedrock model or one endpoint."""
        o = self.options
        if o.model == "bedrock":
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="InvokeBedrockModel",
                    actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                    resources=[
                        f"arn:{self.partition}:bedrock:{self.region}::foundation-model/{o.bedrock_model_id}"
                    ],
                )
            )
        elif o.model == "sagemaker":
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="InvokeSageMakerEndpoint",
                    actions=["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
                    resources=[
                        f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:endpoint/"
                        f"{o.sagemaker_endpoint.lower()}"
                    ],
                )
            )

    def _migrations(
        self,
        cluster: ecs.Cluster,
        image: ecs.ContainerImage,
        log_group: logs.ILogGroup,
        env: dict[str, str],
        secrets: dict[str, ecs.Secret],
    ) -> None:
        """``awsomechat db migrate`` as a task: run on every deploy that changes it, and by hand."""
        task = self._task("MigrateTask", cpu=512, memory_mib=1024)
        task.add_container(
            "migrate",
            image=image,
            command=["db", "migrate"],
            environment=env,
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="migrate", log_group=log_group),
        )
        subnets = cluster.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids
        groups = [sg.security_group_id for sg in self.api.service.connections.security_groups]
        network = {
            "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": groups,
                "assignPublicIp": "DISABLED",
            }
        }
        CfnOutput(
            self,
            "MigrateCommand",
            value=(
                f"aws ecs run-task --cluster {cluster.cluster_name} --launch-type FARGATE "
                f"--task-definition {task.task_definition_arn} --network-configuration "
                f"'awsvpcConfiguration={{subnets=[{subnets[0]}],securityGroups=[{groups[0]}]}}'"
            ),
        )
        if not self.options.run_migrations_on_deploy:
            return
        call = cr.AwsSdkCall(
            service="ECS",
            action="runTask",
            parameters={
                "cluster": cluster.cluster_name,
                "taskDefinition": task.task_definition_arn,
                "launchType": "FARGATE",
                "count": 1,
                "networkConfiguration": network,
            },
            physical_resource_id=cr.PhysicalResourceId.of(task.task_definition_arn),
        )
        run = cr.AwsCustomResource(
            self,
            "RunMigrations",
            on_create=call,
            on_update=call,
            install_latest_aws_sdk=False,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(actions=["ecs:RunTask"], resources=[task.task_definition_arn]),
                    iam.PolicyStatement(
                        actions=["iam:PassRole"],
                        resources=[task.task_role.role_arn, task.obtain_execution_role().role_arn],
                    ),
                ]
            ),
        )
        run.node.add_dependency(self.db)


def _x86() -> ecs.RuntimePlatform:
    # llama.cpp's CPU variants in the image are x86-64 ones.
    return ecs.RuntimePlatform(
        cpu_architecture=ecs.CpuArchitecture.X86_64, operating_system_family=ecs.OperatingSystemFamily.LINUX
    )


def _certificate(scope: Construct, arn: str) -> Any:
    from aws_cdk import aws_certificatemanager as acm

    return acm.Certificate.from_certificate_arn(scope, "Certificate", arn)
