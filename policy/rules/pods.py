"""Pods: the `restricted` Pod Security Standard, sized containers, no API token by default."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy.framework import ADVISORY, MANDATORY, Rule, violation
from policy.kubernetes import Container, PodTemplate, containers, dig, mapping, number, sequence
from policy.rules.common import EXCLUDED_NAMESPACES, workload

# Pod Security Standards, Kubernetes 1.34 (https://kubernetes.io/docs/concepts/security/pod-security-standards/):
# every control of `baseline` and of `restricted`, on the pod and on each of its containers, init
# containers and ephemeral containers. Linux controls apply to Windows pods too (stricter than the standard).
RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_APPARMOR = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
"""The AppArmor annotations of a pod, per container: `runtime/default` or `localhost/<profile>` only."""
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")
Problems = Iterator[tuple[str, str]]


def _pod_problems(template: PodTemplate) -> Problems:
    spec = template.spec
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field) is True:
            yield f"the pod sets {field}: true", f"remove {field} (the pod must not share the node's namespaces)"
    for volume in map(mapping, sequence(spec.get("volumes"))):
        kinds = sorted(key for key in volume if key != "name")
        disallowed = [kind for kind in kinds if kind not in RESTRICTED_VOLUME_TYPES]
        if disallowed:
            yield (
                f"volume {volume.get('name')!r} is of type {', '.join(disallowed)}",
                f"use one of {', '.join(sorted(RESTRICTED_VOLUME_TYPES))}",
            )
    context = mapping(spec.get("securityContext"))
    for sysctl in map(mapping, sequence(context.get("sysctls"))):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"the pod sets sysctl {sysctl.get('name')!r}", "set only the safe sysctls of the baseline standard"
    if context.get("runAsNonRoot") is False:
        yield "the pod sets runAsNonRoot: false", "set securityContext.runAsNonRoot: true (or leave it unset)"
    yield from _context_problems(context, "the pod")
    yield from _apparmor_annotation_problems(template.metadata)


def _context_problems(context: Mapping[str, Any], label: str) -> Problems:
    """Controls that a pod's and a container's securityContext share, each judged where it is set."""
    if number(context.get("runAsUser")) == 0:
        yield f"{label} runs as user 0 (root)", "set securityContext.runAsUser to a non-zero user"
    seccomp = dig(context, "seccompProfile", "type")
    if seccomp is not None and seccomp not in ALLOWED_SECCOMP:
        yield f"{label} has seccomp profile {seccomp}", "set seccompProfile.type: RuntimeDefault (or Localhost)"
    apparmor = dig(context, "appArmorProfile", "type")
    if apparmor is not None and apparmor not in ALLOWED_APPARMOR:
        yield f"{label} has AppArmor profile {apparmor}", "use RuntimeDefault or Localhost, or leave it unset"
    selinux = mapping(context.get("seLinuxOptions"))
    if str(selinux.get("type") or "") not in ALLOWED_SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        yield f"{label} sets custom SELinux options", "leave seLinuxOptions user and role unset, type container_t"
    if dig(context, "windowsOptions", "hostProcess") is True:
        yield f"{label} is a Windows HostProcess", "remove securityContext.windowsOptions.hostProcess"


def _apparmor_annotation_problems(metadata: Mapping[str, Any]) -> Problems:
    for key, value in mapping(metadata.get("annotations")).items():
        if not str(key).startswith(APPARMOR_ANNOTATION_PREFIX):
            continue
        if str(value) != "runtime/default" and not str(value).startswith("localhost/"):
            yield (
                f"the pod template's annotation {key} is {value!r}",
                "use runtime/default or localhost/<profile> (or securityContext.appArmorProfile)",
            )


def _effective(container: Container, pod: Mapping[str, Any], *path: str) -> Any:
    """A security setting from the container, falling back to the pod's securityContext."""
    value = dig(container.body.get("securityContext"), *path)
    return value if value is not None else dig(pod, *path)


def _container_problems(container: Container, pod: Mapping[str, Any]) -> Problems:
    context = mapping(container.body.get("securityContext"))
    label = container.label
    if context.get("privileged") is True:
        yield f"{label} is privileged", "remove securityContext.privileged"
    if context.get("allowPrivilegeEscalation") is not False:
        yield f"{label} may escalate privileges", "set securityContext.allowPrivilegeEscalation: false"
    capabilities = mapping(context.get("capabilities"))
    if "ALL" not in [str(cap) for cap in sequence(capabilities.get("drop"))]:
        yield f"{label} keeps Linux capabilities", "set securityContext.capabilities.drop: [ALL]"
    added = [str(cap) for cap in sequence(capabilities.get("add")) if str(cap) not in ALLOWED_ADDED_CAPABILITIES]
    if added:
        yield f"{label} adds capabilities {', '.join(added)}", "add none but NET_BIND_SERVICE"
    if _effective(container, pod, "runAsNonRoot") is not True:
        yield f"{label} may run as root", "set runAsNonRoot: true on the container or the pod securityContext"
    if _effective(container, pod, "seccompProfile", "type") is None:
        yield (
            f"{label} has seccomp profile unset",
            "set seccompProfile.type: RuntimeDefault on the container or the pod securityContext",
        )
    yield from _context_problems(context, label)
    if context.get("procMount") not in (None, "Default"):
        yield f"{label} sets procMount {context.get('procMount')}", "leave procMount at Default"
    for port in map(mapping, sequence(container.body.get("ports"))):
        if number(port.get("hostPort")):
            yield f"{label} binds host port {port.get('hostPort')}", "remove hostPort; expose it through a Service"
    for where, handler in _handlers(container.body):
        if handler.get("host"):
            yield (
                f"{label}'s {where} calls host {handler.get('host')!r}",
                "remove host (a probe or hook calls the pod's own address)",
            )


def _handlers(body: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The httpGet and tcpSocket handlers of a container's probes and lifecycle hooks."""
    actions = [(probe, mapping(body.get(probe))) for probe in PROBES]
    actions += [(f"lifecycle.{hook}", mapping(dig(body, "lifecycle", hook))) for hook in LIFECYCLE_HOOKS]
    for where, action in actions:
        for kind in ("httpGet", "tcpSocket"):
            if isinstance(action.get(kind), Mapping):
                yield f"{where}.{kind}", action[kind]


def pod_security_restricted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    template = workload(args)
    if template is None:
        return
    pod_context = mapping(template.spec.get("securityContext"))
    problems = list(_pod_problems(template))
    for container in containers(template.spec):
        problems += _container_problems(container, pod_context)
    for problem, fix in problems:
        report(violation(problem, fix), None)


RESOURCE_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")


def container_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    template = workload(args)
    if template is None:
        return
    for container in containers(template.spec):
        if container.section == "ephemeralContainers":
            continue  # the API refuses resources on ephemeral containers
        resources = mapping(container.body.get("resources"))
        missing = [
            key for key in RESOURCE_KEYS if mapping(resources.get(key.split(".")[0])).get(key.split(".")[1]) is None
        ]
        if missing:
            report(
                violation(
                    f"{container.label} has no {', '.join(missing)}",
                    "set cpu and memory in both resources.requests and resources.limits "
                    "(ml-platform: models[].training.resources / serving.resources)",
                ),
                None,
            )


def service_account_token(args: ResourceValidationArgs, report: ReportViolation) -> None:
    template = workload(args)
    if template is None:
        return
    if template.spec.get("automountServiceAccountToken") is None:
        report(
            violation(
                "the pod does not say whether it mounts a Kubernetes API token, so Kubernetes mounts one",
                "set automountServiceAccountToken: false in the pod spec (true only for a workload that calls "
                "the Kubernetes API, which declares it)",
            ),
            None,
        )


RULES = (
    Rule(
        name="pod-security-restricted",
        description=(
            "Every pod template meets the `restricted` Pod Security Standard (which includes `baseline`), on the "
            "pod and on every container, init container and ephemeral container."
        ),
        level=MANDATORY,
        production_level=MANDATORY,
        validate_resource=pod_security_restricted,
        settings=(EXCLUDED_NAMESPACES,),
    ),
    Rule(
        name="container-resources",
        description="Every container requests and limits CPU and memory.",
        level=ADVISORY,
        production_level=MANDATORY,
        validate_resource=container_resources,
        settings=(EXCLUDED_NAMESPACES,),
    ),
    Rule(
        name="service-account-token-not-mounted",
        description="Pods mount no Kubernetes API token unless they declare that they need one.",
        level=MANDATORY,
        production_level=MANDATORY,
        validate_resource=service_account_token,
        settings=(EXCLUDED_NAMESPACES,),
    ),
)
