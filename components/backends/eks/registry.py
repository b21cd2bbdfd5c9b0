"""One ECR repository per image: immutable tags (images are tagged by build-context digest, so a tag
never needs to move), scanned on push, old images expired by a lifecycle policy, and push
credentials from the ECR token invoke, kept secret."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components import labels
from components.backends.eks.settings import EksSettings
from components.contracts.registry import ImageRepository, Registry, RegistryCredentials

if TYPE_CHECKING:
    from components.config import StackConfig

UNTAGGED_EXPIRY_DAYS = 1


def lifecycle_policy(images_kept: int) -> str:
    """Untagged layers (failed or superseded pushes) go after a day; of tagged images the newest
    `images_kept` stay."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"expire untagged images after {UNTAGGED_EXPIRY_DAYS} day(s)",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": UNTAGGED_EXPIRY_DAYS,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the newest {images_kept} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": images_kept},
                    "action": {"type": "expire"},
                },
            ]
        },
        sort_keys=True,
    )


def registry_server(proxy_endpoint: str) -> str:
    """The token's endpoint is a URL; Docker logs in to the bare host."""
    return proxy_endpoint.removeprefix("https://")


@dataclass(frozen=True, kw_only=True)
class EcrRegistryArgs:
    image_names: Sequence[str]
    images_kept: int = 30
    """Tagged images each repository keeps."""
    protect: bool = True
    """Protect the repositories from `pulumi destroy`."""


class EcrRegistry(pulumi.ComponentResource):
    repositories: dict[str, ImageRepository]
    repository_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: EcrRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:registry:EcrRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = labels.cloud_tags("registry")

        repositories: dict[str, aws.ecr.Repository] = {}
        for image_name in sorted(args.image_names):
            repository = aws.ecr.Repository(
                f"{name}-{image_name}",
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
                # A stack destroy must not take images that running pods still pull.
                force_delete=False,
                tags={**tags, "image": image_name},
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{image_name}-lifecycle",
                repository=repository.name,
                policy=lifecycle_policy(args.images_kept),
                opts=child,
            )
            repositories[image_name] = repository

        credentials = None
        if repositories:
            first = next(iter(repositories.values()))
            # All repositories live in the account's one registry; the token is good for 12 hours
            # and is fetched on every run, so it is never stale.
            token = aws.ecr.get_authorization_token_output(
                registry_id=first.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            credentials = RegistryCredentials(
                server=token.proxy_endpoint.apply(registry_server),
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            )
        self.repositories = {
            image_name: ImageRepository(
                url=repository.repository_url, credentials=credentials, depends_on=(repository,)
            )
            for image_name, repository in repositories.items()
        }
        self.repository_urls = pulumi.Output.all(
            **{image_name: repository.repository_url for image_name, repository in repositories.items()}
        )
        self.register_outputs({"repository_urls": self.repository_urls})


def provision(config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> Registry:
    settings = config.backend_settings_as(EksSettings)
    registry = EcrRegistry(
        "registry",
        EcrRegistryArgs(
            image_names=sorted(config.images), images_kept=settings.ecr_images_kept, protect=settings.protect
        ),
        opts,
    )
    return Registry(repositories=registry.repositories)
