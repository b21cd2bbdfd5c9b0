"""One Artifact Registry Docker repository for the stack's images: immutable tags (images are
tagged by build-context digest, so a tag never needs to move), cleanup policies (untagged versions
go after a few days, of the rest the newest N stay), vulnerability scanning where the project has
it, and push credentials from the deploying identity's OAuth access token, kept secret.

Nodes are granted read access to this repository only, by the cluster (`GkeCluster`), which owns
the node service account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_gcp as gcp

from components.backends.gke.naming import gcp_labels, repository_id
from components.backends.gke.settings import GcpProvider, GkeSettings, RegistrySettings
from components.contracts.registry import ImageRepository, Registry, RegistryCredentials

if TYPE_CHECKING:
    from components.config import StackConfig

ACCESS_TOKEN_USERNAME = "oauth2accesstoken"  # noqa: S105 - the fixed user name Artifact Registry takes with an access token
READER_ROLE = "roles/artifactregistry.reader"


def registry_host(location: str) -> str:
    """Docker logs in to the location's host, e.g. `us-central1-docker.pkg.dev`."""
    return f"{location}-docker.pkg.dev"


def cleanup_policies(settings: RegistrySettings) -> list[gcp.artifactregistry.RepositoryCleanupPolicyArgs]:
    """A version is deleted when a DELETE policy matches it and no KEEP policy does: untagged versions
    after `untagged_expiry_days`, tagged ones once they are not among the newest `images_kept`."""
    return [
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-untagged",
            action="DELETE",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                tag_state="UNTAGGED", older_than=f"{settings.untagged_expiry_days}d"
            ),
        ),
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-tagged-beyond-newest",
            action="DELETE",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(tag_state="TAGGED"),
        ),
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="keep-newest",
            action="KEEP",
            most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                keep_count=settings.images_kept
            ),
        ),
    ]


@dataclass(frozen=True, kw_only=True)
class ArtifactRegistryArgs:
    project: str
    location: str
    """Region of the repository; the cluster's region, so pulls stay in-region (no egress charge)."""
    image_names: Sequence[str]
    settings: RegistrySettings
    protect: bool = True
    """Protect the repository from `pulumi destroy`."""


class ArtifactRegistry(pulumi.ComponentResource):
    repositories: dict[str, ImageRepository]
    repository_name: pulumi.Output[str]
    registry_uri: pulumi.Output[str]
    """`<location>-docker.pkg.dev/<project>/<repository>`; images live under it."""

    def __init__(self, name: str, args: ArtifactRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:registry:ArtifactRegistry", name, None, opts)
        repository = gcp.artifactregistry.Repository(
            f"{name}-repository",
            project=args.project,
            location=args.location,
            repository_id=repository_id(pulumi.get_stack()),
            format="DOCKER",
            description=f"ml-platform {pulumi.get_stack()}: images of the training Jobs and model servers",
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            cleanup_policies=cleanup_policies(args.settings),
            # False: the policies delete for real (true only reports what they would delete).
            cleanup_policy_dry_run=False,
            vulnerability_scanning_config=gcp.artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                # INHERITED: scanned when the project has the Container Scanning API enabled.
                enablement_config="INHERITED" if args.settings.vulnerability_scanning else "DISABLED"
            ),
            labels=gcp_labels("registry"),
            # A stack destroy must not take images that running pods still pull.
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )

        # The deploying identity's access token (an hour's validity), fetched on every run, so
        # never stale; secret, since it is a credential.
        client = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        credentials = RegistryCredentials(
            server=registry_host(args.location),
            username=ACCESS_TOKEN_USERNAME,
            password=pulumi.Output.secret(client.access_token),
        )
        self.repository_name = repository.name
        self.registry_uri = repository.registry_uri
        self.repositories = {
            image_name: ImageRepository(
                url=pulumi.Output.concat(repository.registry_uri, "/", image_name),
                credentials=credentials,
                depends_on=(repository,),
            )
            for image_name in sorted(args.image_names)
        }
        self.register_outputs({"repository_name": self.repository_name, "registry_uri": self.registry_uri})


@dataclass(frozen=True, kw_only=True)
class ArtifactRegistryEndpoint(Registry):
    """The repository as the GKE cluster needs it: to let its nodes (only) read from it."""

    project: str
    location: str
    repository_name: pulumi.Output[str]


def provision(config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> ArtifactRegistryEndpoint:
    settings = config.backend_settings_as(GkeSettings)
    provider = config.provider_settings_as(GcpProvider)
    registry = ArtifactRegistry(
        "registry",
        ArtifactRegistryArgs(
            project=provider.project,
            location=provider.region,
            image_names=sorted(config.images),
            settings=settings.registry,
            protect=settings.protect,
        ),
        opts,
    )
    return ArtifactRegistryEndpoint(
        repositories=registry.repositories,
        project=provider.project,
        location=provider.region,
        repository_name=registry.repository_name,
    )
