"""Google Cloud answers for the render mocks: what the APIs return for the resources and invokes of
the GKE backend (self links and resource IDs in their real shapes, service account emails, the
cluster's endpoint and CA, the repository's registry URI, the deploying identity's access token,
the project's number),
computed deterministically from logical names and inputs. No SDK import: every stack loads this.

Every GKE resource is a custom resource, whose state is its inputs plus what the API adds; the
backend has no multi-language component whose outputs would have to be invented.
"""

from __future__ import annotations

import base64
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from tools.mocks import BackendMocks, auto_name, cloud_resource, short_hash

PROJECT = "my-ml-project"
"""The project of a resource whose inputs name none (the backend always names it)."""
PROJECT_NUMBER = "123456789012"
"""The number of every mocked project: what names workload identity pools' parents."""
REGION = "us-central1"
COMPUTE = "https://www.googleapis.com/compute/v1"
ACCESS_TOKEN = "mock-gcp-access-token"  # noqa: S105 - what the mocked client-config invoke answers


def _project(args: pulumi_mocks.MockResourceArgs) -> str:
    return str(args.inputs.get("project") or PROJECT)


def _named(args: pulumi_mocks.MockResourceArgs) -> str:
    return str(args.inputs.get("name") or auto_name(args.name))


def _network(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    name, project = _named(args), _project(args)
    resource_id = f"projects/{project}/global/networks/{name}"
    return resource_id, {
        **args.inputs,
        "id": resource_id,
        "name": name,
        "project": project,
        "selfLink": f"{COMPUTE}/{resource_id}",
        "numericId": str(int(short_hash(name, length=12), 16)),
    }


def _regional(kind: str) -> Any:
    """Subnetworks and routers: `projects/<p>/regions/<r>/<kind>/<name>`."""

    def mock(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name, project = _named(args), _project(args)
        region = str(args.inputs.get("region") or REGION)
        resource_id = f"projects/{project}/regions/{region}/{kind}/{name}"
        return resource_id, {
            **args.inputs,
            "id": resource_id,
            "name": name,
            "project": project,
            "region": region,
            "selfLink": f"{COMPUTE}/{resource_id}",
        }

    return mock


def _router_nat(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    name, project = _named(args), _project(args)
    region = str(args.inputs.get("region") or REGION)
    resource_id = f"{project}/{region}/{args.inputs['router']}/{name}"
    return resource_id, {**args.inputs, "id": resource_id, "name": name, "project": project, "region": region}


def _cluster(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """The cluster as GKE describes it: endpoint (private when the public one is off), CA, version."""
    name, project = _named(args), _project(args)
    location = str(args.inputs.get("location") or REGION)
    resource_id = f"projects/{project}/locations/{location}/clusters/{name}"
    octet = int(short_hash(name, length=2), 16)
    public_endpoint, private_endpoint = f"34.118.{octet}.10", f"10.10.{octet % 16}.2"
    private = (args.inputs.get("privateClusterConfig") or {}).get("enablePrivateEndpoint") is True
    certificate = base64.b64encode(f"mock CA of {name}".encode()).decode()
    return resource_id, {
        **args.inputs,
        "id": resource_id,
        "name": name,
        "project": project,
        "location": location,
        "endpoint": private_endpoint if private else public_endpoint,
        "masterVersion": f"{args.inputs.get('minMasterVersion', '1.33')}.5-gke.1080000",
        "masterAuth": {
            **(args.inputs.get("masterAuth") or {}),
            "clusterCaCertificate": certificate,
            "clientCertificate": "",
            "clientKey": "",
        },
        "privateClusterConfig": {
            **(args.inputs.get("privateClusterConfig") or {}),
            "privateEndpoint": private_endpoint,
            "publicEndpoint": "" if private else public_endpoint,
        },
        "selfLink": f"https://container.googleapis.com/v1/{resource_id}",
        "labelFingerprint": short_hash(name, "labels", length=8),
        "operation": "",
    }


def _node_pool(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """Each pool has a managed instance group per zone."""
    name = _named(args)
    cluster = str(args.inputs["cluster"])
    project = _project(args)
    zones = list(args.inputs.get("nodeLocations") or [f"{REGION}-a", f"{REGION}-b", f"{REGION}-c"])
    groups = [
        f"{COMPUTE}/projects/{project}/zones/{zone}/instanceGroupManagers/gke-{name[:20]}-{short_hash(name, zone)}-grp"
        for zone in zones
    ]
    return f"{cluster}/nodePools/{name}", {
        **args.inputs,
        "id": f"{cluster}/nodePools/{name}",
        "name": name,
        "project": project,
        "instanceGroupUrls": [group.replace("instanceGroupManagers", "instanceGroups") for group in groups],
        "managedInstanceGroupUrls": groups,
        "operation": "",
    }


def _service_account(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    project = _project(args)
    account_id = str(args.inputs.get("accountId") or auto_name(args.name)[:30])
    email = f"{account_id}@{project}.iam.gserviceaccount.com"
    name = f"projects/{project}/serviceAccounts/{email}"
    return name, {
        **args.inputs,
        "id": name,
        "name": name,
        "email": email,
        "member": f"serviceAccount:{email}",
        "uniqueId": str(10**20 + int(short_hash(email, length=15), 16)),  # 21 digits, like the API's
        "project": project,
    }


def _bucket(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    name = _named(args)
    return name, {
        **args.inputs,
        "id": name,
        "name": name,
        "project": _project(args),
        "url": f"gs://{name}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}",
    }


def _repository(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    project = _project(args)
    location = str(args.inputs.get("location") or REGION)
    repository = str(args.inputs["repositoryId"])
    resource_id = f"projects/{project}/locations/{location}/repositories/{repository}"
    return resource_id, {
        **args.inputs,
        "id": resource_id,
        "name": repository,
        "project": project,
        "location": location,
        "registryUri": f"{location}-docker.pkg.dev/{project}/{repository}",
        "createTime": "2030-01-01T00:00:00Z",
    }


def _iam_member(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """IAM member resources: the API answers with the policy's new etag."""
    resource_id = (
        "/".join(
            str(args.inputs.get(key, "")) for key in ("project", "bucket", "repository", "serviceAccountId", "role")
        )
        + f"/{args.inputs['member']}"
    )
    return resource_id, {**args.inputs, "id": resource_id, "etag": f"BwY{short_hash(resource_id, length=9)}="}


def _client_config(args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:
    return {
        "id": f"projects/{PROJECT}/regions/{REGION}/zones/",
        "project": PROJECT,
        "region": REGION,
        "zone": "",
        "accessToken": ACCESS_TOKEN,
        "defaultLabels": {},
    }


def _get_project(args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:
    """The project as Resource Manager describes it; the program reads its number."""
    project = str(args.args.get("projectId") or PROJECT)
    return {
        "id": f"projects/{project}",
        "projectId": project,
        "number": PROJECT_NUMBER,
        "name": project,
        "labels": {},
        "effectiveLabels": {},
        "pulumiLabels": {},
        "autoCreateNetwork": True,
        "deletionPolicy": "PREVENT",
    }


def _workload_identity_pool(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """Named by the project's number, as IAM names pools (what workflows and principal sets quote)."""
    name = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{args.inputs['workloadIdentityPoolId']}"
    return name, {**args.inputs, "id": name, "name": name, "state": "ACTIVE", "project": _project(args)}


def _workload_identity_pool_provider(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    pool = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{args.inputs['workloadIdentityPoolId']}"
    name = f"{pool}/providers/{args.inputs['workloadIdentityPoolProviderId']}"
    return name, {**args.inputs, "id": name, "name": name, "state": "ACTIVE", "project": _project(args)}


def _gcp_resource(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """Any other Google Cloud resource: what `cloud_resource` answers, with the project it is in."""
    resource_id, state = cloud_resource(args)
    state.setdefault("project", _project(args))
    return resource_id, state


MOCKS = BackendMocks(
    resources={
        "gcp:compute/network:Network": _network,
        "gcp:compute/subnetwork:Subnetwork": _regional("subnetworks"),
        "gcp:compute/router:Router": _regional("routers"),
        "gcp:compute/routerNat:RouterNat": _router_nat,
        "gcp:container/cluster:Cluster": _cluster,
        "gcp:container/nodePool:NodePool": _node_pool,
        "gcp:serviceaccount/account:Account": _service_account,
        "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": _workload_identity_pool,
        "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": _workload_identity_pool_provider,
        "gcp:storage/bucket:Bucket": _bucket,
        "gcp:artifactregistry/repository:Repository": _repository,
        "gcp:projects/iAMMember:IAMMember": _iam_member,
        "gcp:serviceaccount/iAMMember:IAMMember": _iam_member,
        "gcp:storage/bucketIAMMember:BucketIAMMember": _iam_member,
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": _iam_member,
    },
    calls={
        "gcp:organizations/getClientConfig:getClientConfig": _client_config,
        "gcp:organizations/getProject:getProject": _get_project,
    },
    packages={"gcp": _gcp_resource},
)
