"""Tier 3: every rule of the policy pack on the real renders of the shipped stacks. Each rule has a
case it meets and a case it reports, made by editing a deep copy of a real resources.json, so the
cases cannot drift from what the program emits. The shipped stacks pass every mandatory rule."""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

import pytest

from policy.clouds import covers_every_address
from policy.kubernetes import POD_TEMPLATE_PATHS
from policy.rules import ALL_RULES
from tests.policy_helpers import KNOWN_FINDINGS, RULES, Case, Render, add_policy_statement, known, messages, run_rule
from tools.check import check_document
from tools.render import known_stacks

STACKS = known_stacks()
# Every IPv4 address but one, as the 32 ranges that leave 203.0.113.7 out.
ALL_BUT_ONE_ADDRESS = [
    str(network)
    for network in ipaddress.IPv4Network("0.0.0.0/0").address_exclude(ipaddress.IPv4Network("203.0.113.7/32"))
]
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EKS = "eks:index:Cluster"
BUCKET = "aws:s3/bucket:Bucket"
ECR = "aws:ecr/repository:Repository"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"
ROLE = "aws:iam/role:Role"
ROLE_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
AWS_MANAGED = "arn:aws:iam::aws:policy/"
# AWS managed policies the EKS backend attaches (nodes, CI roles) and two more read-only ones: none is admin.
EKS_MANAGED_POLICIES = [
    AWS_MANAGED + name
    for name in (
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryPullOnly",
        "AmazonEC2ContainerRegistryReadOnly",
        "ReadOnlyAccess",
        "job-function/ViewOnlyAccess",
    )
]


def _set(target: str, path: list[str], value: Any) -> Any:
    """A mutation that sets `value` (or deletes, with DELETE) at `path` in the inputs of `TYPE[#name]`."""

    def mutate(render: Render) -> None:
        type_token, _, name = target.partition("#")
        node = render.inputs(type_token, name or None)
        *parents, last = path
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


DELETE = object()


def _pod(edit: Any, workload: str = JOB) -> Any:
    return lambda render: edit(render.pod(workload))


def _container(edit: Any, workload: str = JOB) -> Any:
    return lambda render: edit(render.container(workload))


def _both(*edits: Any) -> Any:
    def mutate(render: Render) -> None:
        for edit in edits:
            edit(render)

    return mutate


def _image(render: Render, workload: str, image: str) -> None:
    render.container(workload)["image"] = image


def _add_gpu(render: Render) -> None:
    render.container(JOB)["resources"]["limits"]["nvidia.com/gpu"] = "1"
    render.container(JOB)["resources"]["requests"]["nvidia.com/gpu"] = "1"


def _affinity_instead_of_selector(pod: dict[str, Any]) -> None:
    """The same placement as the nodeSelector, said as a required node affinity."""
    selector = pod.pop("nodeSelector")
    expressions = [{"key": key, "operator": "In", "values": [value]} for key, value in selector.items()]
    pod["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}
        }
    }


def _contract_placement(render: Render) -> None:
    _add_gpu(render)
    render.pod(JOB)["nodeSelector"] = {"ml-platform/accelerator": "nvidia"}
    render.pod(JOB)["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def _unlink_public_access_block(render: Render) -> None:
    render.one(PUBLIC_ACCESS_BLOCK)["dependencies"] = []


def _account_public_access_block(render: Render) -> None:
    block = render.remove(PUBLIC_ACCESS_BLOCK)
    block["type"] = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
    block["dependencies"] = []
    del block["inputs"]["bucket"]
    render.add(block)


def _registry_scanning(render: Render) -> None:
    render.inputs(ECR, "registry-server")["imageScanningConfiguration"]["scanOnPush"] = False
    repository = render.one(ECR, "registry-server")
    render.add(
        {
            **repository,
            "urn": repository["urn"].replace("registry-server", "registry-scanning"),
            "type": "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration",
            "name": "registry-scanning",
            "inputs": {"scanType": "BASIC", "rules": [{"scanFrequency": "SCAN_ON_PUSH"}]},
        }
    )


def _beside_node_role(type_token: str, inputs: dict[str, Any]) -> Any:
    """A mutation: one more IAM resource in prod-eks, beside the node role."""
    return lambda render: render.add_beside(render.one(ROLE, "cluster-node-role"), type_token, "extra", inputs)


def _gcp_grant(type_token: str, inputs: dict[str, Any]) -> Any:
    """A mutation: one more IAM grant in prod-gke, beside the CI deploy identity's grants."""
    return lambda render: render.add_beside(
        render.one("gcp:projects/iAMMember:IAMMember", "ci-deploy-viewer"), type_token, "extra", inputs
    )


def _gcp_policy_data(*bindings: tuple[str, str]) -> str:
    """An IAM policy (`policyData`, as `organizations.get_iam_policy` returns it) of (role, member) bindings."""
    return json.dumps({"bindings": [{"role": role, "members": [member]} for role, member in bindings]})


OPERATOR = "user:ops@example.com"
S3_ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
DIGEST = "@sha256:" + "0" * 64
PUBLIC_PRINCIPAL_RULE = "iam-no-public-principals"


def _template_annotations(annotations: dict[str, str], workload: str = JOB) -> Any:
    return lambda render: render.inputs(workload)["spec"]["template"]["metadata"].update(annotations=annotations)


def _init_container(edit: Any, workload: str = JOB) -> Any:
    """A mutation: an init container made from the workload's container, then edited."""

    def mutate(render: Render) -> None:
        init = copy.deepcopy(render.container(workload))
        init["name"] = "setup"
        edit(init)
        render.pod(workload).setdefault("initContainers", []).append(init)

    return mutate


def _ephemeral_container(body: dict[str, Any]) -> Any:
    return _pod(lambda pod: pod.setdefault("ephemeralContainers", []).append(body))


def _trust_policy(statement: dict[str, Any], role: str = "ci-preview-role") -> Any:
    """A mutation: prod-eks's CI preview role trusts by this statement only."""
    document = {"Version": "2012-10-17", "Statement": [statement]}
    return _set(f"{ROLE}#{role}", ["assumeRolePolicy"], json.dumps(document))


def _assume(principal: Any, **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal, **more}


def _repository_policy(principal: Any, **more: Any) -> Any:
    """A mutation: an ECR repository policy beside prod-eks's server repository."""
    statement = {"Sid": "Pull", "Effect": "Allow", "Principal": principal, "Action": "ecr:BatchGetImage", **more}
    return lambda render: render.add_beside(
        render.one(ECR, "registry-server"),
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "extra",
        {"repository": "registry-server", "policy": json.dumps({"Statement": [statement]})},
    )


def _bucket_policy(statement: dict[str, Any]) -> Any:
    document = {"Version": "2012-10-17", "Statement": [statement]}
    return _set("aws:s3/bucketPolicy:BucketPolicy", ["policy"], json.dumps(document))


PROJECT_IAM_ADMIN = "gcp:projects/iAMMember:IAMMember#ci-deploy-resourcemanager-projectiamadmin"
GRANTABLE = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"

CASES = [
    # images
    Case("image-pinned-by-digest", "prod-eks", None, None),
    Case("image-pinned-by-digest", "dev-kind", None, None),
    Case(
        "image-pinned-by-digest",
        "prod-eks",
        lambda r: _image(r, DEPLOYMENT, r.container(DEPLOYMENT)["image"].split("@")[0] + ":3566540cb036c317"),
        "not pinned by digest",
    ),
    Case("image-not-latest", "dev-kind", None, None),
    Case(
        "image-not-latest",
        "dev-kind",
        _set("docker:index/image:Image#trainer-build", ["imageName"], "localhost:5001/trainer:latest"),
        "the build pushes 'localhost:5001/trainer:latest'",
        id="build",
    ),
    Case(
        "image-not-latest",
        "prod-eks",
        lambda r: _image(r, JOB, r.container(JOB)["image"].split("@")[0]),
        "no tag means :latest",
        id="untagged",
    ),
    Case("image-from-stack-registry", "dev-kind", None, None),
    Case("image-from-stack-registry", "prod-eks", None, None),
    Case(
        "image-from-stack-registry",
        "prod-eks",
        lambda r: _image(r, DEPLOYMENT, "ghcr.io/acme/server@sha256:" + "0" * 64),
        "pulls 'ghcr.io/acme/server', which is not a repository of this stack",
    ),
    Case(
        "image-from-stack-registry",
        "prod-eks",
        lambda r: _image(r, DEPLOYMENT, "ghcr.io/acme/server@sha256:" + "0" * 64),
        None,
        settings={"allowedRegistries": ["ghcr.io/acme"]},
        id="allowed",
    ),
    Case(
        "image-from-stack-registry",
        "prod-eks",
        lambda r: _image(r, DEPLOYMENT, "ghcr.io/acme-evil/server@sha256:" + "0" * 64),
        "ghcr.io/acme-evil/server",
        settings={"allowedRegistries": ["ghcr.io/acme"]},
        id="prefix-is-a-path",
    ),
    # GPUs
    Case("gpu-pod-placement", "prod-eks", None, None),
    Case("gpu-pod-placement", "prod-eks", _pod(lambda pod: pod.pop("tolerations")), "admit no GPU node pool"),
    Case("gpu-pod-placement", "prod-eks", _pod(lambda pod: pod.pop("nodeSelector")), "selects no nodes", id="selector"),
    Case("gpu-pod-placement", "prod-eks", _pod(lambda pod: _affinity_instead_of_selector(pod)), None, id="affinity"),
    Case(
        "gpu-pod-placement",
        "prod-eks",
        _pod(lambda pod: pod.update(nodeSelector={"ml-platform/node-pool": "system"})),
        "admit no GPU node pool",
        id="cpu-pool",
    ),
    Case("gpu-pod-placement", "dev-kind", _contract_placement, None, id="contract"),
    Case("gpu-pod-placement", "dev-kind", _add_gpu, "does not select and tolerate the cluster's GPU nodes"),
    Case("gpu-pool-tainted", "prod-eks", None, None),
    Case("gpu-pool-tainted", "prod-eks", lambda r: r.gpu_pool().pop("taints"), "has no NoSchedule or NoExecute taint"),
    Case(
        "gpu-pool-tainted",
        "prod-eks",
        lambda r: r.gpu_pool()["taints"][0].update(effect="PREFER_NO_SCHEDULE"),
        "has no NoSchedule or NoExecute taint",
        id="prefer",
    ),
    Case("gpu-pool-scales-from-zero", "prod-eks", None, None),
    Case(
        "gpu-pool-scales-from-zero",
        "prod-eks",
        lambda r: r.gpu_pool()["scalingConfig"].update(minSize=1),
        "keeps 1 node(s) running",
    ),
    Case("training-on-spot", "prod-eks", lambda r: r.gpu_pool().update(capacityType="SPOT"), None),
    Case("training-on-spot", "prod-eks", None, "runs training (digits-training-job) on on-demand capacity"),
    # pods
    Case("pod-security-restricted", "prod-eks", None, None),
    Case("pod-security-restricted", "dev-kind", None, None),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"].pop("runAsNonRoot")),
        None,
        id="pod-level-non-root",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"].update(privileged=True)),
        'container "trainer" is privileged',
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"].pop("allowPrivilegeEscalation")),
        "may escalate privileges",
        id="escalation",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"].pop("capabilities")),
        "keeps Linux capabilities",
        id="capabilities",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"]["capabilities"].update(add=["NET_ADMIN"])),
        "adds capabilities NET_ADMIN",
        id="added-capability",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _both(
            _container(lambda c: c["securityContext"].pop("runAsNonRoot")),
            _pod(lambda pod: pod["securityContext"].pop("runAsNonRoot")),
        ),
        "may run as root",
        id="root",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _both(
            _container(lambda c: c["securityContext"].pop("seccompProfile")),
            _pod(lambda pod: pod["securityContext"].pop("seccompProfile")),
        ),
        "seccomp profile unset",
        id="seccomp",
    ),
    Case(
        "pod-security-restricted",
        "dev-kind",
        _pod(lambda pod: pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})),
        "volume 'host' is of type hostPath",
        id="host-path",
    ),
    Case(
        "pod-security-restricted",
        "dev-kind",
        _pod(lambda pod: pod.update(hostNetwork=True), DEPLOYMENT),
        "hostNetwork: true",
        id="host-network",
    ),
    Case(
        "pod-security-restricted",
        "dev-kind",
        _container(lambda c: c["ports"][0].update(hostPort=8080), DEPLOYMENT),
        "binds host port 8080",
        id="host-port",
    ),
    Case(
        "pod-security-restricted",
        "dev-kind",
        _pod(lambda pod: pod["securityContext"].update(runAsUser=0), DEPLOYMENT),
        "the pod runs as user 0",
        id="uid-0",
    ),
    # every control of baseline and restricted, at the pod and at each kind of container
    Case(
        "pod-security-restricted",
        "prod-eks",
        _pod(lambda pod: pod["securityContext"]["seccompProfile"].update(type="Unconfined")),
        "the pod has seccomp profile Unconfined",
        id="pod-seccomp-unconfined",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"]["seccompProfile"].update(type="Unconfined")),
        'container "trainer" has seccomp profile Unconfined',
        id="container-seccomp-unconfined",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _pod(lambda pod: pod["securityContext"].update(appArmorProfile={"type": "Unconfined"})),
        "the pod has AppArmor profile Unconfined",
        id="pod-apparmor",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"].update(appArmorProfile={"type": "Unconfined"})),
        'container "trainer" has AppArmor profile Unconfined',
        id="container-apparmor",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _both(
            _pod(lambda pod: pod["securityContext"].update(appArmorProfile={"type": "RuntimeDefault"})),
            _template_annotations({"container.apparmor.security.beta.kubernetes.io/trainer": "localhost/ml"}),
        ),
        None,
        id="apparmor-allowed",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _template_annotations({"container.apparmor.security.beta.kubernetes.io/trainer": "unconfined"}),
        "annotation container.apparmor.security.beta.kubernetes.io/trainer is 'unconfined'",
        id="apparmor-annotation",
    ),
    Case(
        "pod-security-restricted",
        "dev-kind",
        _template_annotations({"container.apparmor.security.beta.kubernetes.io/server": "unconfined"}, DEPLOYMENT),
        "annotation container.apparmor.security.beta.kubernetes.io/server is 'unconfined'",
        id="apparmor-annotation-deployment",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"].update(windowsOptions={"hostProcess": True})),
        'container "trainer" is a Windows HostProcess',
        id="container-host-process",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _pod(lambda pod: pod["securityContext"].update(windowsOptions={"hostProcess": True})),
        "the pod is a Windows HostProcess",
        id="pod-host-process",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _pod(lambda pod: pod["securityContext"].update(seLinuxOptions={"type": "spc_t"})),
        "the pod sets custom SELinux options",
        id="pod-selinux",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"].update(seLinuxOptions={"user": "system_u"})),
        'container "trainer" sets custom SELinux options',
        id="container-selinux",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _pod(lambda pod: pod["securityContext"].update(seLinuxOptions={"type": "container_t", "level": "s0:c1"})),
        None,
        id="selinux-allowed",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _pod(lambda pod: pod["securityContext"].update(runAsNonRoot=False)),
        "the pod sets runAsNonRoot: false",
        id="pod-run-as-non-root-false",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"].update(runAsUser=0)),
        'container "trainer" runs as user 0',
        id="container-uid-0",
    ),
    Case("pod-security-restricted", "prod-eks", _pod(lambda pod: pod.update(hostPID=True)), "hostPID", id="host-pid"),
    Case("pod-security-restricted", "prod-eks", _pod(lambda pod: pod.update(hostIPC=True)), "hostIPC", id="host-ipc"),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"].update(procMount="Unmasked")),
        "sets procMount Unmasked",
        id="proc-mount",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _pod(lambda pod: pod["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}])),
        "sets sysctl 'kernel.msgmax'",
        id="sysctl",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _pod(lambda pod: pod["securityContext"].update(sysctls=[{"name": "net.ipv4.tcp_syncookies", "value": "1"}])),
        None,
        id="safe-sysctl",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c["securityContext"]["capabilities"].update(add=["NET_BIND_SERVICE"])),
        None,
        id="net-bind-service",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _pod(lambda pod: pod["volumes"].append({"name": "share", "nfs": {"server": "nfs", "path": "/"}})),
        "volume 'share' is of type nfs",
        id="nfs",
    ),
    Case(
        "pod-security-restricted",
        "dev-kind",
        _container(lambda c: c.update(livenessProbe={"httpGet": {"host": "169.254.169.254", "port": 80}}), DEPLOYMENT),
        "livenessProbe.httpGet calls host '169.254.169.254'",
        id="probe-host",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _container(lambda c: c.update(lifecycle={"preStop": {"tcpSocket": {"host": "10.0.0.1", "port": 22}}})),
        "lifecycle.preStop.tcpSocket calls host '10.0.0.1'",
        id="hook-host",
    ),
    Case("pod-security-restricted", "prod-eks", _init_container(lambda c: None), None, id="init-container"),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _init_container(lambda c: c["securityContext"].update(privileged=True)),
        'init container "setup" is privileged',
        id="init-container-privileged",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _init_container(lambda c: c.update(ports=[{"containerPort": 80, "hostPort": 80}])),
        'init container "setup" binds host port 80',
        id="init-container-host-port",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _ephemeral_container({"name": "debug", "image": "busybox" + DIGEST}),
        'ephemeral container "debug" may escalate privileges',
        id="ephemeral-container",
    ),
    Case(
        "pod-security-restricted",
        "prod-eks",
        _ephemeral_container(
            {
                "name": "debug",
                "image": "busybox" + DIGEST,
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": ["SYS_PTRACE"]},
                },
            }
        ),
        'ephemeral container "debug" adds capabilities SYS_PTRACE',
        id="ephemeral-container-capability",
    ),
    Case("container-resources", "prod-eks", None, None),
    Case("container-resources", "dev-kind", None, None),
    Case(
        "container-resources",
        "dev-kind",
        _container(lambda c: c["resources"]["limits"].pop("cpu"), DEPLOYMENT),
        'container "server" has no limits.cpu',
    ),
    Case(
        "container-resources",
        "prod-eks",
        _container(lambda c: c.pop("resources")),
        "requests.cpu, requests.memory, limits.cpu, limits.memory",
        id="none",
    ),
    Case("service-account-token-not-mounted", "dev-kind", None, None),
    Case(
        "service-account-token-not-mounted",
        "dev-kind",
        _pod(lambda pod: pod.update(automountServiceAccountToken=True)),
        None,
        id="declared",
    ),
    Case(
        "service-account-token-not-mounted",
        "dev-kind",
        _pod(lambda pod: pod.pop("automountServiceAccountToken")),
        "so Kubernetes mounts one",
    ),
    # network
    Case("load-balancer-restricted", "prod-eks", None, None),
    Case("load-balancer-restricted", "dev-kind", None, None),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["metadata", "annotations", SOURCE_RANGES], "10.0.0.0/8, 0.0.0.0/0"),
        "admits 0.0.0.0/0",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["metadata", "annotations", SOURCE_RANGES], DELETE),
        "admits any source address",
        id="no-ranges",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _both(
            _set(SERVICE, ["metadata", "annotations", SOURCE_RANGES], DELETE),
            _set(SERVICE, ["metadata", "annotations", "service.beta.kubernetes.io/aws-load-balancer-internal"], "true"),
        ),
        None,
        id="internal",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["metadata", "annotations", SOURCE_RANGES], "0.0.0.0/1, 128.0.0.0/1"),
        "admits 0.0.0.0/1, 128.0.0.0/1 (together at least half of all IPv4 addresses)",
        id="halves",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["spec", "loadBalancerSourceRanges"], ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1", "10.0.0.0/8"]),
        "admits 0.0.0.0/2, 64.0.0.0/2, 128.0.0.0/1, 10.0.0.0/8 (together at least half of all IPv4 addresses)",
        id="spec-union",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["spec", "loadBalancerSourceRanges"], [" 0.0.0.0/0"]),
        "admits 0.0.0.0/0",
        id="spaces",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["spec", "loadBalancerSourceRanges"], ["::/1", "8000::/1"]),
        "(together at least half of all IPv6 addresses)",
        id="ipv6-halves",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["metadata", "annotations", SOURCE_RANGES], "203.0.113.0/24,203.0.113.0/33"),
        "entry '203.0.113.0/33' is not an address range",
        id="not-a-range",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        # Half the addresses is the internet as far as a client list goes: the config warning draws the same line.
        _set(SERVICE, ["metadata", "annotations", SOURCE_RANGES], "0.0.0.0/1"),
        "admits 0.0.0.0/1 (at least half of all IPv4 addresses)",
        id="half",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["spec", "loadBalancerSourceRanges"], ALL_BUT_ONE_ADDRESS),
        "(together at least half of all IPv4 addresses)",
        id="all-but-one-address",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["spec", "loadBalancerSourceRanges"], ["0.0.0.0/2", "203.0.113.0/24"]),
        None,
        id="quarter",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        # Go's net.ParseCIDR, which Kubernetes and the clouds use, reads this as 0.0.0.0/0.
        _set(SERVICE, ["spec", "loadBalancerSourceRanges"], ["::ffff:0.0.0.0/96"]),
        "admits ::ffff:0.0.0.0/96 (every IPv4 address)",
        id="ipv4-mapped",
    ),
    Case(
        "load-balancer-restricted",
        "prod-eks",
        _set(SERVICE, ["spec", "loadBalancerSourceRanges"], ["::ffff:203.0.113.0/120"]),
        None,
        id="ipv4-mapped-narrow",
    ),
    Case("api-endpoint-restricted", "prod-eks", None, None),
    Case(
        "api-endpoint-restricted",
        "prod-eks",
        _set(EKS, ["publicAccessCidrs"], ["::ffff:0:0/97", "::ffff:128.0.0.0/97"]),
        "the public API endpoint admits ::ffff:0:0/97, ::ffff:128.0.0.0/97 (together at least half",
        id="ipv4-mapped-halves",
    ),
    Case(
        "api-endpoint-restricted",
        "prod-eks",
        _set(EKS, ["publicAccessCidrs"], ["128.0.0.0/1"]),
        "the public API endpoint admits 128.0.0.0/1 (at least half of all IPv4 addresses)",
        id="half",
    ),
    Case("api-endpoint-restricted", "prod-eks", _set(EKS, ["publicAccessCidrs"], ["0.0.0.0/0"]), "admits 0.0.0.0/0"),
    Case(
        "api-endpoint-restricted",
        "prod-eks",
        _set(EKS, ["publicAccessCidrs"], DELETE),
        "admits 0.0.0.0/0",
        id="aws-default",
    ),
    Case(
        "api-endpoint-restricted",
        "prod-eks",
        _both(_set(EKS, ["publicAccessCidrs"], DELETE), _set(EKS, ["endpointPublicAccess"], False)),
        None,
        id="private",
    ),
    Case(
        "api-endpoint-restricted",
        "prod-eks",
        _set(EKS, ["publicAccessCidrs"], ["0.0.0.0/1", "128.0.0.0/1"]),
        "the public API endpoint admits 0.0.0.0/1, 128.0.0.0/1 (together at least half of all IPv4 addresses)",
        id="halves",
    ),
    Case(
        "api-endpoint-restricted",
        "prod-eks",
        _set(EKS, ["publicAccessCidrs"], ["0.0.0.0/0 "]),
        "admits 0.0.0.0/0",
        id="spaces",
    ),
    Case(
        "api-endpoint-restricted",
        "prod-eks",
        _set(EKS, ["publicAccessCidrs"], ["203.0.113.0/24", "office"]),
        "publicAccessCidrs entry 'office' is not an address range",
        id="not-a-range",
    ),
    # object stores and registries
    Case("object-store-public-access-blocked", "prod-eks", None, None),
    Case(
        "object-store-public-access-blocked",
        "prod-eks",
        lambda r: r.remove(PUBLIC_ACCESS_BLOCK),
        "no BucketPublicAccessBlock",
    ),
    Case(
        "object-store-public-access-blocked",
        "prod-eks",
        _unlink_public_access_block,
        "no BucketPublicAccessBlock",
        id="another-bucket",
    ),
    Case(
        "object-store-public-access-blocked",
        "prod-eks",
        _set(PUBLIC_ACCESS_BLOCK, ["restrictPublicBuckets"], False),
        "leaves restrictPublicBuckets off",
        id="flag",
    ),
    Case("object-store-public-access-blocked", "prod-eks", _account_public_access_block, None, id="account-wide"),
    Case("object-store-versioned", "prod-eks", None, None),
    Case(
        "object-store-versioned",
        "prod-eks",
        _set("aws:s3/bucketVersioning:BucketVersioning", ["versioningConfiguration", "status"], "Suspended"),
        "versioning is Suspended",
    ),
    Case(
        "object-store-versioned",
        "prod-eks",
        lambda r: r.remove("aws:s3/bucketVersioning:BucketVersioning"),
        "no BucketVersioning",
        id="missing",
    ),
    Case("object-store-encrypted", "prod-eks", None, None),
    Case(
        "object-store-encrypted",
        "prod-eks",
        lambda r: r.remove("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"),
        "no default server-side encryption",
    ),
    Case("registry-immutable-tags", "prod-eks", None, None),
    Case(
        "registry-immutable-tags",
        "prod-eks",
        _set(f"{ECR}#registry-server", ["imageTagMutability"], "MUTABLE"),
        "lets a pushed tag be moved",
    ),
    Case(
        "registry-immutable-tags",
        "prod-eks",
        _set(f"{ECR}#registry-trainer", ["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION"),
        "lets a pushed tag be moved",
        id="exclusions",
    ),
    Case("registry-scan-on-push", "prod-eks", None, None),
    Case(
        "registry-scan-on-push",
        "prod-eks",
        _set(f"{ECR}#registry-server", ["imageScanningConfiguration", "scanOnPush"], False),
        "not scanned for vulnerabilities",
    ),
    Case("registry-scan-on-push", "prod-eks", _registry_scanning, None, id="registry-wide"),
    # production
    Case("production-resources-protected", "prod-eks", None, None),
    Case(
        "production-resources-protected",
        "prod-eks",
        lambda r: r.one(EKS)["options"].update(protect=False),
        "the cluster is not protected",
    ),
    Case(
        "production-resources-protected",
        "prod-eks",
        lambda r: r.one(BUCKET)["options"].update(protect=False),
        "the artifact store is not protected",
        id="bucket",
    ),
    Case(
        "production-resources-protected",
        "prod-eks",
        _set(f"{ECR}#registry-server", ["forceDelete"], True),
        "forceDelete deletes the registry's contents",
        id="force-delete",
    ),
    Case(
        "production-resources-protected",
        "prod-eks",
        _set(EKS, ["deletionProtection"], False),
        "own deletion protection (deletionProtection) is off",
        id="deletion-protection",
    ),
    Case("iam-no-write-on-all-resources", "prod-eks", None, None),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "Action": ["s3:PutObject", "ec2:Describe*"], "Resource": "*"}),
        "allows s3:PutObject on every resource",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "Action": "*", "Resource": ["*"]}),
        "allows * on every resource",
        id="star",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        "NotAction",
        id="not-action",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*"}),
        None,
        settings={"allowedActions": ["ec2:CreateTags"]},
        id="allowed",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "Action": "iam:CreateRole", "Resource": "arn:aws:iam::*:*"}),
        'allows iam:CreateRole on every resource ("Resource": "arn:aws:iam::*:*")',
        id="arn-wildcards",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "Action": "s3:PutObject", "Resource": ["arn:*:*:*:*:*"]}),
        "allows s3:PutObject on every resource",
        id="arn-every-service",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::*/*"}),
        "allows s3:DeleteObject on every resource",
        id="arn-every-object",
    ),
    *(
        Case(
            "iam-no-write-on-all-resources",
            "prod-eks",
            add_policy_statement({"Effect": "Allow", "Action": "iam:*", "Resource": resource}),
            f'allows iam:* on every resource ("Resource": "{resource}")',
            id=f"arn-{name}",
        )
        for name, resource in (
            # An identity policy reaches its own account only: naming it (or a region) narrows nothing.
            ("own-account", "arn:aws:iam::123456789012:*"),
            ("every-service-own-account", "arn:aws:*:*:123456789012:*"),
            ("region", "arn:aws:ec2:us-west-2:*:*"),
            # A leading wildcard reaches every resource type whose path ends in role/.
            ("leading-wildcard-type", "arn:aws:iam::*:*role/*"),
            ("every-type-and-name", "arn:aws:iam::123456789012:*/*"),
        )
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        # A name between wildcards narrows (the EKS deploy role's own `*/<cluster>/*` pattern).
        add_policy_statement(
            {"Effect": "Allow", "Action": "eks:*", "Resource": "arn:aws:eks:us-west-2:123456789012:*/my-cluster/*"}
        ),
        None,
        id="arn-name-between-wildcards",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        # A resource type in the stack's account names resources (the CI deploy role's own pattern).
        add_policy_statement(
            {"Effect": "Allow", "Action": "iam:TagRole", "Resource": "arn:aws:iam::123456789012:role/*"}
        ),
        None,
        id="arn-resource-type",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "Action": "ec2:describeinstances", "Resource": "*"}),
        None,
        id="read-only-any-case",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "Action": "IAM:*", "Resource": "*"}),
        "allows IAM:* on every resource",
        id="upper-case-service",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        add_policy_statement({"Effect": "Allow", "Action": "EC2:createtags", "Resource": "*"}),
        None,
        settings={"allowedActions": ["ec2:CreateTags"]},
        id="allowed-any-case",
    ),
    # Managed policies: AWS's own admin-equivalent ones, attached by any resource that attaches policies.
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _set(f"{ROLE_ATTACHMENT}#cluster-node-worker", ["policyArn"], AWS_MANAGED + "AdministratorAccess"),
        "attaches the AWS managed policy AdministratorAccess",
        id="managed-admin",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _set(
            f"{ROLE}#cluster-node-role", ["managedPolicyArns"], [*EKS_MANAGED_POLICIES, AWS_MANAGED + "PowerUserAccess"]
        ),
        "attaches the AWS managed policy PowerUserAccess",
        id="role-managed-policy-arns",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _beside_node_role(
            "aws:iam/policyAttachment:PolicyAttachment",
            {"policyArn": AWS_MANAGED + "IAMFullAccess", "roles": ["cluster-node-role-43ab49e"]},
        ),
        "attaches the AWS managed policy IAMFullAccess",
        id="policy-attachment",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _beside_node_role(
            "aws:iam/userPolicyAttachment:UserPolicyAttachment",
            {"policyArn": AWS_MANAGED + "AmazonS3FullAccess", "user": "ops"},
        ),
        "attaches the AWS managed policy AmazonS3FullAccess",
        id="user-full-access",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _beside_node_role(
            "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
            {"policyArn": AWS_MANAGED + "AWSLambda_FullAccess", "group": "ops"},
        ),
        "attaches the AWS managed policy AWSLambda_FullAccess",
        id="group-full-access",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _beside_node_role(
            "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
            {
                "roleName": "ops",
                "policyArns": [*EKS_MANAGED_POLICIES, AWS_MANAGED + "AmazonEC2ContainerRegistryPowerUser"],
            },
        ),
        "attaches the AWS managed policy AmazonEC2ContainerRegistryPowerUser",
        id="exclusive-power-user",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _beside_node_role(
            "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
            {"userName": "ops", "policyArns": ["arn:aws-us-gov:iam::aws:policy/job-function/SystemAdministrator"]},
        ),
        "attaches the AWS managed policy job-function/SystemAdministrator",
        id="exclusive-job-function-other-partition",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _beside_node_role(
            "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive",
            {"groupName": "ops", "policyArns": [AWS_MANAGED + "AdministratorAccess-Amplify"]},
        ),
        "attaches the AWS managed policy AdministratorAccess-Amplify",
        id="group-exclusive",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _beside_node_role(
            "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment",
            {
                "managedPolicyArn": AWS_MANAGED + "AdministratorAccess",
                "permissionSetArn": "arn:x",
                "instanceArn": "arn:y",
            },
        ),
        "attaches the AWS managed policy AdministratorAccess",
        id="identity-center",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _beside_node_role(
            "aws:ssoadmin/managedPolicyAttachmentsExclusive:ManagedPolicyAttachmentsExclusive",
            {
                "managedPolicyArns": [AWS_MANAGED + "PowerUserAccess"],
                "permissionSetArn": "arn:x",
                "instanceArn": "arn:y",
            },
        ),
        "attaches the AWS managed policy PowerUserAccess",
        id="identity-center-exclusive",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _beside_node_role(
            "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy",
            {
                "inlinePolicy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
                "permissionSetArn": "arn:x",
                "instanceArn": "arn:y",
            },
        ),
        "allows s3:* on every resource",
        id="identity-center-inline",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _set(f"{ROLE}#cluster-node-role", ["managedPolicyArns"], EKS_MANAGED_POLICIES),
        None,
        id="eks-managed-policies",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        # A customer-managed policy is judged by its own document (an aws.iam.Policy), not by its name.
        _set(f"{ROLE_ATTACHMENT}#cluster-node-worker", ["policyArn"], "arn:aws:iam::123456789012:policy/S3FullAccess"),
        None,
        id="customer-managed",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _set(f"{ROLE_ATTACHMENT}#cluster-node-worker", ["policyArn"], AWS_MANAGED + "AmazonS3FullAccess"),
        None,
        settings={"allowedManagedPolicies": ["AmazonS3FullAccess"]},
        id="allowed-managed",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-eks",
        _set(f"{ROLE_ATTACHMENT}#cluster-node-worker", ["policyArn"], AWS_MANAGED + "AdministratorAccess"),
        None,
        settings={"allowedManagedPolicies": [AWS_MANAGED + "AdministratorAccess"]},
        id="allowed-managed-arn",
    ),
    # GCP: a basic role is quiet only where nothing grants it.
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant("gcp:projects/iamMemberRemove:IamMemberRemove", {"role": "roles/owner", "member": OPERATOR}),
        None,
        id="gcp-member-remove",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant("gcp:projects/iAMPolicy:IAMPolicy", {"policyData": _gcp_policy_data(("roles/viewer", OPERATOR))}),
        None,
        id="gcp-policy-viewer",
    ),
    # GCP roles that let the member grant itself owner, on a project (folder, organization)
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant("gcp:projects/iAMMember:IAMMember", {"role": "roles/iam.securityAdmin", "member": OPERATOR}),
        "grants roles/iam.securityAdmin on everything in the project: it sets IAM policies",
        id="gcp-security-admin",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant(
            "gcp:projects/iAMBinding:IAMBinding",
            {"role": "roles/iam.serviceAccountTokenCreator", "members": [OPERATOR]},
        ),
        "grants roles/iam.serviceAccountTokenCreator on everything in the project: the member can act as",
        id="gcp-token-creator",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant(
            "gcp:projects/iAMPolicy:IAMPolicy",
            {"policyData": _gcp_policy_data(("roles/iam.serviceAccountUser", OPERATOR))},
        ),
        "grants roles/iam.serviceAccountUser",
        id="gcp-policy-service-account-user",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant("gcp:projects/iAMMember:IAMMember", {"role": "roles/iam.roleAdmin", "member": OPERATOR}),
        "grants roles/iam.roleAdmin",
        id="gcp-role-admin",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant(
            "gcp:organizations/iAMMember:IAMMember",
            {"orgId": "1", "role": "roles/resourcemanager.organizationAdmin", "member": OPERATOR},
        ),
        "grants roles/resourcemanager.organizationAdmin on everything in every project of the organization",
        id="gcp-organization-admin",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _set(PROJECT_IAM_ADMIN, ["condition"], DELETE),
        "grants roles/resourcemanager.projectIamAdmin",
        id="gcp-project-iam-admin-unconditional",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _set(PROJECT_IAM_ADMIN, ["condition", "expression"], GRANTABLE + '.hasOnly(["roles/owner"])'),
        "grants roles/resourcemanager.projectIamAdmin",
        id="gcp-project-iam-admin-may-grant-owner",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _set(
            PROJECT_IAM_ADMIN,
            ["condition", "expression"],
            GRANTABLE + '.hasOnly(["roles/container.defaultNodeServiceAccount"]) || true',
        ),
        "grants roles/resourcemanager.projectIamAdmin",
        id="gcp-project-iam-admin-widened",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _set(
            PROJECT_IAM_ADMIN,
            ["condition", "expression"],
            GRANTABLE + ".hasOnly(['roles/container.defaultNodeServiceAccount']) && request.time < "
            'timestamp("2030-01-01T00:00:00Z")',
        ),
        None,
        id="gcp-project-iam-admin-bounded",
    ),
    *(
        Case(
            "iam-no-write-on-all-resources",
            "prod-gke",
            _set(PROJECT_IAM_ADMIN, ["condition", "expression"], expression),
            "grants roles/resourcemanager.projectIamAdmin",
            id=f"gcp-project-iam-admin-{name}",
        )
        for name, expression in (
            # CEL reads the escape as roles/owner; concatenation builds it.
            ("escaped-owner", GRANTABLE + '.hasOnly(["roles/\\u006fwner"])'),
            ("concatenated-owner", GRANTABLE + '.hasOnly(["roles/" + "owner"])'),
            ("raw-string", GRANTABLE + ".hasOnly([r'roles/owner'])"),
            ("negated", "!(" + GRANTABLE + ".hasOnly(['roles/container.defaultNodeServiceAccount']))"),
            ("conditional", "true ? true : " + GRANTABLE + ".hasOnly(['roles/container.defaultNodeServiceAccount'])"),
            ("comment", GRANTABLE + ".hasOnly(['roles/container.defaultNodeServiceAccount']) // note"),
            ("no-list", GRANTABLE + ".hasOnly(['roles/container.defaultNodeServiceAccount'] + ['roles/owner'])"),
        )
    ),
    *(
        Case(
            "iam-no-write-on-all-resources",
            "prod-gke",
            _set(PROJECT_IAM_ADMIN, ["condition", "expression"], expression),
            None,
            id=f"gcp-project-iam-admin-bounded-{name}",
        )
        for name, expression in (
            ("parenthesized", "(" + GRANTABLE + ".hasOnly(['roles/container.defaultNodeServiceAccount']))"),
            (
                "not-equal-elsewhere",
                GRANTABLE + '.hasOnly(["roles/container.defaultNodeServiceAccount"]) && resource.type != "x"',
            ),
            (
                "nested-conjunction",
                '(resource.type != "x" && (' + GRANTABLE + ".hasOnly(['roles/container.defaultNodeServiceAccount'])))",
            ),
        )
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        # On one service account it reaches that account only (the deploy account acts as the nodes this way).
        _set(
            "gcp:serviceaccount/iAMMember:IAMMember#ci-deploy-acts-as-nodes",
            ["role"],
            "roles/iam.serviceAccountTokenCreator",
        ),
        None,
        id="gcp-token-creator-on-one-account",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant("gcp:projects/iAMMember:IAMMember", {"role": "roles/iam.securityAdmin", "member": OPERATOR}),
        None,
        settings={"allowedRoles": ["roles/iam.securityAdmin"]},
        id="gcp-allowed-role",
    ),
    # public principals: AWS trust and resource policies
    Case(PUBLIC_PRINCIPAL_RULE, "prod-eks", None, None),
    Case(PUBLIC_PRINCIPAL_RULE, "prod-gke", None, None),
    Case(PUBLIC_PRINCIPAL_RULE, "dev-kind", None, None),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _trust_policy(_assume("*")),
        "the trust policy (assumeRolePolicy) admits anyone (statement 1",
        id="trust-star",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _trust_policy(_assume({"AWS": "*"}, Sid="Anyone")),
        "admits anyone (Anyone:",
        id="trust-aws-star",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _trust_policy(_assume({"AWS": ["arn:aws:iam::123456789012:root", "*"]})),
        "anyone with an AWS account can assume the role",
        id="trust-star-in-list",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _trust_policy({"Effect": "Allow", "Action": "sts:AssumeRole", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}}),
        "the trust policy (assumeRolePolicy) admits anyone",
        id="trust-not-principal",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _trust_policy(_assume({"AWS": "*"}, Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}})),
        None,
        id="trust-star-with-condition",
    ),
    *(
        Case(
            PUBLIC_PRINCIPAL_RULE,
            "prod-eks",
            _trust_policy(_assume({"AWS": "*"}, Condition=condition)),
            None,
            id=f"trust-star-narrowed-{name}",
        )
        for name, condition in (
            ("key-any-case", {"StringEquals": {"AWS:PrincipalOrgId": "o-abc123"}}),
            ("org-paths", {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-abc123/r-ab12/*"]}}),
            (
                "account-among-others",
                {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:PrincipalAccount": "1"}},
            ),
            ("external-id", {"StringEquals": {"sts:ExternalId": "a-secret-id"}}),
            ("web-identity-subject", {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/ml:*"}}),
            ("source-arn", {"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-west-2:123456789012:topic"}}),
        )
    ),
    *(
        Case(
            PUBLIC_PRINCIPAL_RULE,
            "prod-eks",
            _trust_policy(_assume({"AWS": "*"}, Condition=condition)),
            "the trust policy (assumeRolePolicy) admits anyone",
            id=f"trust-star-not-narrowed-{name}",
        )
        for name, condition in (
            # Anyone can meet these: they say how the request comes, not who sends it.
            ("tls-only", {"Bool": {"aws:SecureTransport": "true"}}),
            ("user-agent", {"StringLike": {"aws:UserAgent": "*"}}),
            ("source-ip", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
            ("wildcard-value", {"StringLike": {"aws:PrincipalOrgID": "*"}}),
            ("wildcard-among-values", {"StringLike": {"aws:PrincipalOrgID": ["o-abc123", "*"]}}),
            ("negated-operator", {"StringNotEquals": {"aws:PrincipalAccount": "999999999999"}}),
            ("if-exists", {"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}}),
            ("for-all-values", {"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": ["o-abc123/*"]}}),
            ("shared-audience", {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}),
        )
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _repository_policy("*"),
        "the repository policy admits anyone (Pull:",
        id="ecr-repository-policy",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _repository_policy({"AWS": "arn:aws:iam::123456789012:root"}),
        None,
        id="ecr-repository-policy-account",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _bucket_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
        "the bucket policy admits anyone",
        id="bucket-policy",
    ),
    # public principals: GCP grants and Cloud Storage ACLs
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-gke",
        _set(
            "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember#cluster-registry-reader",
            ["member"],
            "allUsers",
        ),
        "grants roles/artifactregistry.reader to allUsers",
        id="registry-all-users",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-gke",
        _gcp_grant(
            "gcp:storage/bucketIAMBinding:BucketIAMBinding",
            {"bucket": "b", "role": "roles/storage.objectViewer", "members": [OPERATOR, "allAuthenticatedUsers"]},
        ),
        "grants roles/storage.objectViewer to allAuthenticatedUsers",
        id="bucket-all-authenticated-users",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-gke",
        _gcp_grant("gcp:projects/iAMPolicy:IAMPolicy", {"policyData": _gcp_policy_data(("roles/viewer", "allUsers"))}),
        "grants roles/viewer to allUsers",
        id="project-policy-all-users",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-gke",
        _gcp_grant("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "roleEntities": ["READER:allUsers"]}),
        "the ACL grants access to allUsers",
        id="bucket-acl",
    ),
    *(
        Case(
            PUBLIC_PRINCIPAL_RULE,
            "prod-gke",
            _gcp_grant(type_token, inputs),
            f"the ACL grants access to {expect}",
            id=f"acl-{name}",
        )
        for name, type_token, inputs, expect in (
            (
                "gcs-bucket-predefined",
                "gcp:storage/bucketACL:BucketACL",
                {"bucket": "b", "predefinedAcl": "publicRead"},
                "predefinedAcl publicRead",
            ),
            (
                "gcs-object-predefined",
                "gcp:storage/objectACL:ObjectACL",
                {"bucket": "b", "object": "o", "predefinedAcl": "authenticatedRead"},
                "predefinedAcl authenticatedRead",
            ),
            (
                "gcs-default-object",
                "gcp:storage/defaultObjectACL:DefaultObjectACL",
                {"bucket": "b", "roleEntities": ["READER:allAuthenticatedUsers"]},
                "allAuthenticatedUsers",
            ),
        )
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-gke",
        _gcp_grant("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "predefinedAcl": "projectPrivate"}),
        None,
        id="acl-gcs-bucket-private",
    ),
    *(
        Case(
            PUBLIC_PRINCIPAL_RULE,
            "prod-eks",
            _beside_node_role(type_token, inputs),
            f"the ACL grants access to {expect}",
            id=f"acl-{name}",
        )
        for name, type_token, inputs, expect in (
            ("s3-bucket-acl", "aws:s3/bucketAcl:BucketAcl", {"bucket": "b", "acl": "public-read"}, "acl public-read"),
            (
                "s3-bucket-acl-v2",
                "aws:s3/bucketAclV2:BucketAclV2",
                {"bucket": "b", "acl": "authenticated-read"},
                "acl authenticated-read",
            ),
            (
                "s3-grantee",
                "aws:s3/bucketAcl:BucketAcl",
                {
                    "bucket": "b",
                    "accessControlPolicy": {
                        "grants": [{"permission": "READ", "grantee": {"type": "Group", "uri": S3_ALL_USERS}}],
                        "owner": {"id": "x"},
                    },
                },
                f"grantee {S3_ALL_USERS}",
            ),
            (
                "s3-object",
                "aws:s3/bucketObjectv2:BucketObjectv2",
                {"bucket": "b", "key": "k", "acl": "public-read-write"},
                "acl public-read-write",
            ),
        )
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _beside_node_role("aws:s3/bucketAcl:BucketAcl", {"bucket": "b", "acl": "private"}),
        None,
        id="acl-s3-private",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _beside_node_role(
            "aws:lambda/permission:Permission", {"function": "f", "action": "lambda:InvokeFunction", "principal": "*"}
        ),
        "anyone may invoke the function",
        id="lambda-permission-star",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _beside_node_role(
            "aws:lambda/permission:Permission",
            {
                "function": "f",
                "action": "lambda:InvokeFunctionUrl",
                "principal": "*",
                "functionUrlAuthType": "NONE",
            },
        ),
        "its function URL admits anyone on the internet",
        id="lambda-permission-public-url",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _beside_node_role(
            "aws:lambda/permission:Permission",
            {
                "function": "f",
                "action": "lambda:InvokeFunction",
                "principal": "*",
                "sourceArn": "arn:aws:s3:::artifacts",
                "sourceAccount": "123456789012",
            },
        ),
        None,
        id="lambda-permission-narrowed",
    ),
    Case(
        PUBLIC_PRINCIPAL_RULE,
        "prod-eks",
        _beside_node_role(
            "aws:secretsmanager/secret:Secret",
            {
                "policy": json.dumps(
                    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
                )
            },
        ),
        "the secret's policy admits anyone",
        id="secret-inline-policy",
    ),
]

# prod-gke (issue 7) renders later; its cases run once stacks/Pulumi.prod-gke.yaml exists. Field names
# are pulumi-gcp 10.2.0's, as the GKE rows of policy/clouds.py read them.
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
ARTIFACT_REGISTRY = "gcp:artifactregistry/repository:Repository"
GKE_CASES = [
    Case("gpu-pool-tainted", "prod-gke", lambda r: r.gpu_pool()["nodeConfig"].pop("taints"), "has no NoSchedule"),
    Case(
        "gpu-pool-scales-from-zero",
        "prod-gke",
        lambda r: r.gpu_pool()["autoscaling"].update(totalMinNodeCount=1),
        "keeps 1 node(s) running",
    ),
    Case("gpu-pod-placement", "prod-gke", _pod(lambda pod: pod.pop("tolerations")), "admit no GPU node pool"),
    Case(
        "api-endpoint-restricted",
        "prod-gke",
        _both(
            _set(GKE_CLUSTER, ["masterAuthorizedNetworksConfig"], DELETE),
            _set(GKE_CLUSTER, ["privateClusterConfig", "enablePrivateEndpoint"], False),
        ),
        "admits any address",
    ),
    Case(
        "api-endpoint-restricted",
        "prod-gke",
        _set(
            GKE_CLUSTER,
            ["masterAuthorizedNetworksConfig", "cidrBlocks"],
            [{"cidrBlock": "0.0.0.0/1", "displayName": "a"}, {"cidrBlock": " 128.0.0.0/1", "displayName": "b"}],
        ),
        "masterAuthorizedNetworksConfig admits 0.0.0.0/1, 128.0.0.0/1 (together at least half of all IPv4 addresses)",
    ),
    Case(
        "object-store-public-access-blocked",
        "prod-gke",
        _set(GCS_BUCKET, ["publicAccessPrevention"], "inherited"),
        "publicAccessPrevention is inherited",
    ),
    Case(
        "object-store-versioned", "prod-gke", _set(GCS_BUCKET, ["versioning", "enabled"], False), "versioning.enabled"
    ),
    Case(
        "registry-immutable-tags",
        "prod-gke",
        _set(ARTIFACT_REGISTRY, ["dockerConfig", "immutableTags"], False),
        "lets a pushed tag be moved",
    ),
    Case(
        "production-resources-protected",
        "prod-gke",
        _set(GKE_CLUSTER, ["deletionProtection"], False),
        "deletion protection (deletionProtection) is off",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _set("gcp:projects/iAMMember:IAMMember#ci-deploy-viewer", ["role"], "roles/editor"),
        "grants roles/editor",
        id="project-member",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant("gcp:projects/iAMBinding:IAMBinding", {"role": "roles/owner", "members": [OPERATOR]}),
        "grants roles/owner",
        id="project-binding",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant(
            "gcp:projects/iAMPolicy:IAMPolicy",
            {"policyData": _gcp_policy_data(("roles/viewer", OPERATOR), ("roles/owner", OPERATOR))},
        ),
        "grants roles/owner",
        id="project-policy",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant(
            "gcp:folder/iAMMember:IAMMember", {"folder": "folders/1", "role": "roles/editor", "member": OPERATOR}
        ),
        "grants roles/editor",
        id="folder-member",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant(
            "gcp:organizations/iAMBinding:IAMBinding", {"orgId": "1", "role": "roles/owner", "members": [OPERATOR]}
        ),
        "grants roles/owner",
        id="organization-binding",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _set("gcp:serviceaccount/iAMMember:IAMMember#ci-deploy-acts-as-nodes", ["role"], "roles/editor"),
        "grants roles/editor",
        id="service-account-member",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _set(
            "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember#cluster-registry-reader",
            ["role"],
            "roles/owner",
        ),
        "grants roles/owner",
        id="repository-member",
    ),
    Case(
        "iam-no-write-on-all-resources",
        "prod-gke",
        _gcp_grant(
            "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
            {"bucket": "artifacts-bucket-34823e7", "policyData": _gcp_policy_data(("roles/editor", OPERATOR))},
        ),
        "grants roles/editor",
        id="bucket-policy",
    ),
]


def _run(rendered_stack: Any, case: Case) -> list[str]:
    render = Render(rendered_stack(case.stack))
    if case.mutate is not None:
        case.mutate(render)
    found = run_rule(render, RULES[case.rule], case.settings)
    return messages([violation for violation in found if not known(case.stack, violation)])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_rule_on_a_real_render(rendered_stack, case):
    found = _run(rendered_stack, case)
    if case.expect is None:
        assert found == [], f"{case.rule} should hold here"
    else:
        assert any(case.expect in message for message in found), f"{case.rule}: expected {case.expect!r} in {found}"


@pytest.mark.parametrize("case", GKE_CASES, ids=lambda case: case.name)
def test_rule_on_the_gke_render(rendered_stack, case):
    assert _run(rendered_stack, Case(case.rule, case.stack, None, None)) == [], f"prod-gke should meet {case.rule}"
    found = _run(rendered_stack, case)
    assert any(case.expect and case.expect in message for message in found), f"expected {case.expect!r} in {found}"


def test_every_rule_has_a_compliant_and_a_violating_case():
    for rule in ALL_RULES:
        cases = [case for case in CASES if case.rule == rule.name]
        assert any(case.expect is None for case in cases), f"{rule.name} has no case it meets"
        assert any(case.expect is not None for case in cases), f"{rule.name} has no case it reports"


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_pass_every_mandatory_rule(rendered_stack, stack):
    """Every mandatory rule holds, but for the known findings that wait on a fix outside the pack."""
    render = Render(rendered_stack(stack))
    mandatory = [(v.rule, v.resource) for v in check_document(render.document) if v.level == "mandatory"]
    assert mandatory == KNOWN_FINDINGS.get(stack, [])


def test_prod_eks_advisories_are_the_known_ones(rendered_stack):
    """The one advisory of prod-eks is a cost finding (its GPU pool is on-demand); a new advisory
    here is news to whoever changed the stack."""
    found = check_document(Render(rendered_stack("prod-eks")).document)
    advisories = [(v.rule, v.resource) for v in found if not known("prod-eks", v)]
    assert advisories == [("training-on-spot", "cluster-gpu-gpu (aws:eks/nodeGroup:NodeGroup)")]


def test_default_gpu_contract_is_what_the_eks_backend_renders(rendered_stack):
    """For stacks without a GPU pool the rule falls back to its config defaults: the platform's own
    GPU label and taint, as the EKS backend really sets them."""
    from policy.rules.gpu import GPU_NODE_SELECTOR, GPU_TAINT

    pool = Render(rendered_stack("prod-eks")).gpu_pool()
    assert GPU_NODE_SELECTOR.default.items() <= pool["labels"].items()
    taint = pool["taints"][0]
    assert (taint["key"], taint["value"], taint["effect"]) == (*GPU_TAINT.default.values(), "NO_SCHEDULE")


@pytest.mark.parametrize(
    ("cidrs", "open_to_the_internet"),
    [
        (["0.0.0.0/0"], True),
        (["0.0.0.1/0"], True),  # host bits, as Go reads it
        (["0.0.0.0/1", "128.0.0.0/1"], True),
        (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1", "10.0.0.0/8"], True),
        (["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"], True),
        (["0.0.0.0/1"], True),  # half of all IPv4 addresses
        (["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3"], True),
        (["10.0.0.0/8", "203.0.113.7"], False),
        ([], False),
        (ALL_BUT_ONE_ADDRESS, True),
        (["0.0.0.0/2", "64.0.0.0/3", "96.0.0.0/3"], True),
        (["0.0.0.0/2", "64.0.0.0/3", "96.0.0.0/4"], False),  # just under half
        (["::ffff:0.0.0.0/96"], True),  # IPv4-mapped: 0.0.0.0/0
        (["::ffff:0:0/97", "::ffff:128.0.0.0/97"], True),
        (["::ffff:203.0.113.0/120", "10.0.0.0/8"], False),
        (["::/1"], True),
        (["::/2", "4000::/2"], True),
        (["::/2", "2001:db8::/32"], False),
    ],
)
def test_ranges_are_open_when_together_they_cover_half_of_all_addresses(cidrs, open_to_the_internet):
    """The line the rules and the program's exposure warning (which calls the same function) draw."""
    assert covers_every_address(cidrs) is open_to_the_internet


def _as_workload(render: Render, type_token: str) -> dict[str, Any]:
    """prod-eks's training Job becomes a workload of another kind with the same pod template, in the
    same namespace; returns the template ({metadata, spec}) inside it."""
    job = render.one(JOB)
    metadata, template = job["inputs"]["metadata"], job["inputs"]["spec"]["template"]
    path = POD_TEMPLATE_PATHS[type_token]
    if not path:  # a Pod is its own template
        template["metadata"]["namespace"] = metadata["namespace"]
        job.update(type=type_token, inputs=template)
        return template
    inputs: dict[str, Any] = template
    for key in reversed(path):
        inputs = {key: inputs}
    job.update(type=type_token, inputs={**inputs, "metadata": metadata})
    return template


@pytest.mark.parametrize("type_token", sorted(POD_TEMPLATE_PATHS))
def test_pod_security_covers_every_workload_kind(rendered_stack, type_token):
    """The same template passes as every kind of workload, and the same defects fail in each."""
    render = Render(rendered_stack("prod-eks"))
    template = _as_workload(render, type_token)
    rule = RULES["pod-security-restricted"]
    assert run_rule(render, rule) == []
    template["spec"]["securityContext"]["seccompProfile"]["type"] = "Unconfined"
    template["spec"]["containers"][0]["securityContext"]["windowsOptions"] = {"hostProcess": True}
    found = messages(run_rule(render, rule))
    assert any("the pod has seccomp profile Unconfined" in message for message in found), found
    assert any('container "trainer" is a Windows HostProcess' in message for message in found), found
