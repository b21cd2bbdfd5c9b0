"""Images: what a pod runs is exactly what was built and scanned, from the stack's own registry."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from policy.clouds import IMAGE_BUILDS, IMAGE_PULLS, registry_type
from policy.framework import ADVISORY, MANDATORY, Rule, Setting, violation
from policy.kubernetes import containers, parse_image
from policy.rules.common import EXCLUDED_NAMESPACES, workload, workloads


def image_pinned_by_digest(args: ResourceValidationArgs, report: ReportViolation) -> None:
    template = workload(args)
    if template is None:
        return
    for container in containers(template.spec):
        image = str(container.body.get("image") or "")
        if not parse_image(image).pinned:
            report(
                violation(
                    f"{container.label} runs image {image!r}, which is not pinned by digest",
                    "reference it as repository@sha256:<digest> (ml-platform images do: pass the built "
                    "image's repo digest, never a tag)",
                ),
                None,
            )


def image_not_latest(args: ResourceValidationArgs, report: ReportViolation) -> None:
    references: list[tuple[str, str]] = []
    template = workload(args)
    if template is not None:
        references = [(f"{c.label} runs", str(c.body.get("image") or "")) for c in containers(template.spec)]
    elif args.resource_type in IMAGE_BUILDS:
        references = [("the build pushes", name) for name in IMAGE_BUILDS[args.resource_type](args.props)]
    elif args.resource_type in IMAGE_PULLS:
        references = [("the pull names", name) for name in IMAGE_PULLS[args.resource_type](args.props)]
    for what, image in references:
        if parse_image(image).floating:
            report(
                violation(
                    f"{what} {image!r}, whose :latest tag moves (no tag means :latest)",
                    "tag images with something that never moves (ml-platform tags by build-context digest) "
                    "and run them by digest",
                ),
                None,
            )


ALLOWED_REGISTRIES = Setting(
    name="allowedRegistries",
    schema={"type": "array", "items": {"type": "string"}},
    default=[],
    description=(
        "Registry prefixes (`ghcr.io/acme`, `123456789012.dkr.ecr.us-west-2.amazonaws.com`) that workloads may "
        "pull from besides the repositories the stack itself pushes to. Default: none."
    ),
)


def _docker_hub(repository: str) -> str:
    """`nginx` -> `docker.io/library/nginx`: how Docker reads a repository without a registry host."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return repository
    return f"docker.io/{repository}" if rest else f"docker.io/library/{repository}"


def _allowed(repository: str, prefixes: list[str]) -> bool:
    names = {repository, _docker_hub(repository)}
    return any(name == prefix or name.startswith(prefix + "/") for name in names for prefix in prefixes)


def image_from_stack_registry(args: StackValidationArgs, report: ReportViolation) -> None:
    """The stack's repositories are those its image builds push to and the registries it creates."""
    repositories: set[str] = set()
    for resource in args.resources:
        if resource.resource_type in IMAGE_BUILDS:
            repositories |= {
                parse_image(name).repository for name in IMAGE_BUILDS[resource.resource_type](resource.props)
            }
        row = registry_type(resource.resource_type)
        if row is not None and row.holds_images(resource.props):
            url = row.repository_url(resource.props)
            if url:
                repositories.add(url)
    prefixes = [str(prefix).rstrip("/") for prefix in ALLOWED_REGISTRIES.value(args)]
    known = ", ".join(sorted(repositories)) or "none: the stack builds no images"
    for resource, template in workloads(args.resources, args):
        for container in containers(template.spec):
            image = parse_image(str(container.body.get("image") or ""))
            if image.repository not in repositories and not _allowed(image.repository, prefixes):
                report(
                    violation(
                        f"{container.label} pulls {image.repository!r}, which is not a repository of this stack "
                        f"({known})",
                        "build it through ml-platform:images so it is pushed to the stack's registry, or add its "
                        "registry to this rule's allowedRegistries in the pack's config",
                    ),
                    resource.urn,
                )


RULES = (
    Rule(
        name="image-pinned-by-digest",
        description="Every container image is pinned by digest (repository@sha256:...), so a pod runs what was built.",
        level=MANDATORY,
        production_level=MANDATORY,
        validate_resource=image_pinned_by_digest,
        settings=(EXCLUDED_NAMESPACES,),
    ),
    Rule(
        name="image-not-latest",
        description="No image is referenced, built or pulled by the moving :latest tag.",
        level=MANDATORY,
        production_level=MANDATORY,
        validate_resource=image_not_latest,
        settings=(EXCLUDED_NAMESPACES,),
    ),
    Rule(
        name="image-from-stack-registry",
        description="Workloads pull images only from the stack's own registry, or from registries the config allows.",
        level=ADVISORY,
        production_level=MANDATORY,
        validate_stack=image_from_stack_registry,
        settings=(EXCLUDED_NAMESPACES, ALLOWED_REGISTRIES),
    ),
)
