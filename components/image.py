"""Builds one image from this repository, pushes it, and hands workloads a digest-pinned reference."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.build_context import context_digest
from components.config import PROJECT_ROOT
from components.contracts.registry import ImageRepository


class MissingDigestError(RuntimeError):
    pass


@dataclass(frozen=True, kw_only=True)
class ImageArgs:
    context: str
    """Build context, relative to the project root."""
    repository: ImageRepository
    platform: str
    """e.g. `linux/amd64`; explicit so an arm64 laptop still builds what amd64 nodes run."""
    dockerfile: str = "Dockerfile"
    """Path inside the context."""
    target: str | None = None
    """Multi-stage target; default: the last stage."""
    build_on_preview: bool = False


def require_digest(name: str, repo_digest: str | None) -> str:
    """Workloads run images by digest; a push that returned no digest is an error, never a tag fallback."""
    if not repo_digest or "@sha256:" not in repo_digest:
        raise MissingDigestError(
            f"image {name}: the registry returned no digest ({repo_digest!r}); refusing to deploy by mutable tag"
        )
    return repo_digest


class Image(pulumi.ComponentResource):
    ref: pulumi.Output[str]
    """`repository@sha256:...`: what pods run."""
    tag: pulumi.Output[str]

    def __init__(self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None):
        # Before anything is registered: a missing Dockerfile fails here, not half-way.
        content_tag = context_digest(PROJECT_ROOT / args.context, args.dockerfile)
        super().__init__("ml-platform:image:Image", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.repository.depends_on))

        image_name = pulumi.Output.concat(args.repository.url, ":", content_tag)
        credentials = args.repository.credentials
        built = docker.Image(
            f"{name}-build",
            image_name=image_name,
            build=docker.DockerBuildArgs(
                # Relative to the project directory, where Pulumi runs the program (pulumi-docker
                # resolves both against it), so state and previews match on every checkout.
                context=args.context,
                dockerfile=f"{args.context}/{args.dockerfile}",
                platform=args.platform,
                target=args.target,
                # The same content tag, when pushed before (another laptop, a CI runner, lost
                # state), supplies every layer instead of a rebuild.
                cache_from=docker.CacheFromArgs(images=[image_name]),
            ),
            build_on_preview=args.build_on_preview,
            registry=docker.RegistryArgs(
                server=credentials.server, username=credentials.username, password=credentials.password
            )
            if credentials
            else None,
            opts=child,
        )
        self.tag = pulumi.Output.from_input(content_tag)
        self.ref = built.repo_digest.apply(lambda digest: require_digest(name, digest))
        self.register_outputs({"ref": self.ref, "tag": self.tag})
