"""Model artifacts in Cloud Storage: a hardened bucket, and per workload bucket grants to the
workload's own Kubernetes service account, limited to one model's prefix.

Workload Identity Federation for GKE with direct resource access: the grants name the Kubernetes
service account's principal (`principal://.../<project>.svc.id.goog/subject/ns/<namespace>/sa/<name>`),
so no Google service account stands in for a workload. Adding a model therefore creates no Google
service account and no IAM policy on one, which is what lets the CI deploy account go without
`iam.serviceAccountAdmin` (that role would reach every account of the project).

What each workload is granted, on the bucket only (no project-wide storage role):

- its objects: `roles/storage.objectUser` (training: create, read, overwrite, delete) or
  `roles/storage.objectViewer` (serving: read), with the IAM condition
  `resource.name.startsWith("projects/_/buckets/<bucket>/objects/models/<model>/")`. The trailing
  slash matters: `models/digits/` never matches `models/digits-wide/...`.
- listing: object listing is authorised on the bucket, not on objects, so the object condition
  can never grant it. A second binding, `roles/storage.objectViewer` with the condition
  `api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("models/<model>/")`,
  lets the workload list only requests whose prefix lies under its model (the trainer lists its
  run's checkpoints). For any other request the attribute is empty and the binding grants nothing.
  A listing of the bucket root or of another model's prefix is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.backends.gke.iam import kubernetes_principal, list_prefix_condition, object_prefix_condition
from components.backends.gke.naming import gcp_labels
from components.contracts.artifacts import ArtifactAccess, ArtifactAccessMode
from components.contracts.service_account import workload_service_account

OBJECT_ROLES = {
    ArtifactAccessMode.READ_WRITE: "roles/storage.objectUser",
    ArtifactAccessMode.READ_ONLY: "roles/storage.objectViewer",
}
LIST_ROLE = "roles/storage.objectViewer"
MODELS_PREFIX = "models"
# Old object versions are kept for recovery, then deleted.
NONCURRENT_VERSION_DAYS = 30
INCOMPLETE_UPLOAD_DAYS = 7


def model_prefix(model: str) -> str:
    """`models/<model>/`, with the slash that keeps one model's prefix from matching another's."""
    return f"{MODELS_PREFIX}/{model}/"


def object_condition(bucket: str, model: str) -> str:
    """CEL: the request is for an object under the model's prefix."""
    return object_prefix_condition(bucket, model_prefix(model))


def list_condition(model: str) -> str:
    """CEL: the request lists objects under the model's prefix (the attribute is empty otherwise)."""
    return list_prefix_condition(model_prefix(model))


@dataclass(frozen=True, kw_only=True)
class GcsArtifactsArgs:
    project: str
    location: str
    """Region of the bucket: the cluster's, so reads and writes stay in-region."""
    protect: bool = True
    """Protect the bucket from `pulumi destroy` (it also refuses deletion while it holds objects)."""


class GcsArtifacts(pulumi.ComponentResource):
    """The bucket."""

    bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: GcsArtifactsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:GcsArtifacts", name, None, opts)
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            project=args.project,
            # Location names are upper case in the API; lower case would show as a change on every run.
            location=args.location.upper(),
            storage_class="STANDARD",
            # No ACLs: IAM alone decides access, which IAM conditions need.
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=NONCURRENT_VERSION_DAYS, with_state="ARCHIVED"
                    ),
                ),
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=INCOMPLETE_UPLOAD_DAYS),
                ),
            ],
            # Never delete trained models with the stack; `protect` guards the bucket itself.
            force_destroy=False,
            labels=gcp_labels("artifacts"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.bucket_name = bucket.name
        self.register_outputs({"bucket_name": self.bucket_name})


class GcsArtifactStore:
    """The `ArtifactStore` of GKE: each grant is one Kubernetes service account (fixed name, unique per
    workload) with bucket bindings limited to one model's prefix, made to that account's principal."""

    def __init__(
        self,
        *,
        artifacts: GcsArtifacts,
        project: str,
        project_number: pulumi.Input[str],
        namespace: pulumi.Input[str],
        cluster: pulumi.Resource,
    ):
        """`project_number`: names the Workload Identity pool's parent in principals (the project ID
        names the pool). `cluster`: the pool (`<project>.svc.id.goog`) exists only once a cluster with
        Workload Identity does; grants to its principals wait for the cluster."""
        self._artifacts = artifacts
        self._project = project
        self._project_number = project_number
        self._namespace = namespace
        self._cluster = cluster

    def grant(self, name: str, model: str, mode: ArtifactAccessMode, opts: pulumi.ResourceOptions) -> ArtifactAccess:
        # The caller's opts carry the Kubernetes provider; Google resources only share its parent.
        on_gcp = pulumi.ResourceOptions(parent=opts.parent, depends_on=[self._cluster])
        bucket = self._artifacts.bucket_name
        # The principal names the Kubernetes account, so the account's name is fixed (unique per workload).
        account_name = name
        principal = pulumi.Output.all(self._project_number, self._namespace).apply(
            lambda values: kubernetes_principal(values[0], self._project, values[1], account_name)
        )

        objects = gcp.storage.BucketIAMMember(
            f"{name}-objects",
            bucket=bucket,
            role=OBJECT_ROLES[mode],
            member=principal,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title=f"{name}-{mode.value}",
                description=f"objects under {model_prefix(model)} only",
                expression=bucket.apply(lambda bucket_name: object_condition(bucket_name, model)),
            ),
            opts=on_gcp,
        )
        listing = gcp.storage.BucketIAMMember(
            f"{name}-list",
            bucket=bucket,
            role=LIST_ROLE,
            member=principal,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title=f"{name}-list",
                description=f"object listings under {model_prefix(model)} only",
                expression=list_condition(model),
            ),
            opts=on_gcp,
        )
        service_account = workload_service_account(name, model, self._namespace, opts, account_name=account_name)
        return ArtifactAccess(
            model_root_uri=pulumi.Output.concat("gs://", bucket, "/", model_prefix(model).rstrip("/")),
            service_account_name=service_account.metadata.name,
            depends_on=[objects, listing],
        )
