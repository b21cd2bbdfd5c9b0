"""A training run as a Kubernetes `batch/v1` Job.

Jobs are immutable once created, so the Job is replaced (never updated) when its image or
settings change, and each distinct run writes to its own location: `<model root>/runs/<run id>`,
where the run id is a digest of the image and the settings that decide the model. A retried pod
of the same run finds that run's checkpoints and resumes; a changed run starts clean; a Job
replaced only for sizing finds its run's checkpoints (or finished model) and carries on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import labels
from components.config import TrainingConfig
from components.contracts.artifacts import ArtifactAccessMode
from components.contracts.cluster import ClusterContract
from components.workloads import pod, training_pod

COMPONENT = "training"
RUN_ID_LENGTH = 12
# Pulumi waits this long past the Job's own deadline before it calls the update failed.
AWAIT_MARGIN_SECONDS = 300
FINAL_EXIT_CODES = (2, 4)
"""The trainer's exit codes that a retry cannot help (images/README.md, "Exit codes"): 2 bad flags
or a bad topology, 4 an output holding another run. The Job fails at the first, without using up
backoffLimit. Under torchrun the container exits with torchrun's own code (1 for any failed
worker), which is retried like any other failure."""


# What decides the trained model. Sizing and retry limits do not: changing them replaces the Job,
# whose trainer finds the run's checkpoints (or its finished model) and carries on.
# Extra flags are hyperparameters by purpose. Extra environment variables count too: the platform
# cannot tell a variable that steers training (a data path, CUBLAS_WORKSPACE_CONFIG) from one that
# only logs (NCCL_DEBUG), and resuming a run's checkpoints under different settings would give a
# model no single configuration produced. Retraining after a logging change is the cheaper mistake.
RUN_FIELDS = {"epochs", "batch_size", "learning_rate", "seed", "nodes", "processes_per_node", "args", "env"}
# Fields added after runs existed: left out of the digest while empty, so a stack that sets neither
# keeps its run ids (and its trained models) across the upgrade that added them.
LATER_RUN_FIELDS = ("args", "env")


def run_id(image_ref: str, training: TrainingConfig) -> str:
    """Same image and model-deciding settings -> same run (resumable); anything else -> a new run.
    The order of `env` does not matter; the order of `args` does (the trainer sees them in order)."""
    fields = training.model_dump(mode="json", include=RUN_FIELDS)
    for name in LATER_RUN_FIELDS:
        if not fields[name]:
            del fields[name]
    settings = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(f"{image_ref}\n{settings}".encode()).hexdigest()[:RUN_ID_LENGTH]


def pod_failure_policy() -> k8s.batch.v1.PodFailurePolicyArgs:
    """A trainer exit that no retry can change fails the Job at once; a pod the cluster took away
    (a spot reclaim, a drain, a preemption: the DisruptionTarget condition) is replaced without
    counting against backoffLimit, and resumes from the run's checkpoints; activeDeadlineSeconds
    still bounds the run. A pod failure policy needs `restartPolicy: Never`, which the training
    pod has (each failure a new pod, so that the Job controller sees it)."""
    return k8s.batch.v1.PodFailurePolicyArgs(
        rules=[
            k8s.batch.v1.PodFailurePolicyRuleArgs(
                action="FailJob",
                on_exit_codes=k8s.batch.v1.PodFailurePolicyOnExitCodesRequirementArgs(
                    container_name=training_pod.TRAINER_CONTAINER, operator="In", values=list(FINAL_EXIT_CODES)
                ),
            ),
            k8s.batch.v1.PodFailurePolicyRuleArgs(
                action="Ignore",
                on_pod_conditions=[
                    k8s.batch.v1.PodFailurePolicyOnPodConditionsPatternArgs(type="DisruptionTarget", status="True")
                ],
            ),
        ]
    )


@dataclass(frozen=True, kw_only=True)
class TrainingJobArgs:
    model: str
    image: pulumi.Input[str]
    """Digest-pinned image reference."""
    training: TrainingConfig
    cluster: ClusterContract
    await_completion: bool = True
    """True: `pulumi up` waits for the Job to succeed (and fails if it fails). False: Pulumi
    creates it and moves on; servers stay unready until the model appears."""


class TrainingJob(pulumi.ComponentResource):
    job_name: pulumi.Output[str]
    model_uri: pulumi.Output[str]
    """Where this run writes `model.onnx` and `metadata.json`; the server's MODEL_URI."""
    job: k8s.batch.v1.Job

    def __init__(self, name: str, args: TrainingJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:training_job:TrainingJob", name, None, opts)
        cluster = args.cluster
        child = pulumi.ResourceOptions(parent=self, provider=cluster.provider)
        training = args.training

        access = cluster.artifacts.grant(name, args.model, ArtifactAccessMode.READ_WRITE, child)
        placement = pod.place(training.resources, cluster.gpu, f"model {args.model} training")
        if placement.warning:
            pulumi.log.warn(placement.warning, resource=self)

        run = pulumi.Output.from_input(args.image).apply(lambda ref: run_id(ref, training))
        self.model_uri = pulumi.Output.concat(access.model_root_uri, "/runs/", run)
        pod_labels = labels.kubernetes_labels(COMPONENT, args.model)
        selector = labels.selector_labels(COMPONENT, args.model)
        metadata = k8s.meta.v1.ObjectMetaArgs(namespace=cluster.namespace, labels=pod_labels)

        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=metadata,
            # Training pods accept connections only from each other, for torch's rendezvous.
            spec=pod.ingress_policy(selector, [pod.IngressRule(port=training_pod.RENDEZVOUS_PORT, peer_pods=selector)]),
            opts=child,
        )
        # The name carries the run id: a new run is a new Job, a retried pod keeps its run.
        job_name = run.apply(lambda run_value: f"{args.model}-train-{run_value}")
        rendezvous_host = None
        subdomain = None
        if training.nodes > 1:
            subdomain = self._rendezvous_service(name, args, pod_labels, selector, child).metadata.name
            # Indexed Job pods are named `<job>-<index>`; pod 0 is the DDP master.
            rendezvous_host = pulumi.Output.concat(job_name, "-0.", subdomain)
        template = training_pod.training_pod_template(
            model=args.model,
            image=args.image,
            model_uri=self.model_uri,
            training=training,
            access=access,
            placement=placement,
            labels=pod_labels,
            rendezvous_host=rendezvous_host,
            subdomain=subdomain,
            image_pull_secrets=cluster.image_pull_secrets,
        )
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=job_name,
                namespace=cluster.namespace,
                labels=pod_labels,
                annotations=self._await_annotations(args),
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                completions=training.nodes,
                parallelism=training.nodes,
                completion_mode="Indexed" if training.nodes > 1 else "NonIndexed",
                backoff_limit=training.backoff_limit,
                active_deadline_seconds=training.active_deadline_seconds,
                pod_failure_policy=pod_failure_policy(),
                template=template,
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[*access.depends_on, *cluster.ready],
                    # A Job's pod template is immutable: any spec change must replace the Job,
                    # never attempt an update the API server rejects. A spec change that keeps
                    # the run id (e.g. new tolerations) keeps the name too, so delete first.
                    replace_on_changes=["spec"],
                    delete_before_replace=True,
                    custom_timeouts=self._await_timeouts(args),
                ),
            ),
        )
        self.job_name = self.job.metadata.name
        self.register_outputs({"job_name": self.job_name, "model_uri": self.model_uri})

    @staticmethod
    def _await_annotations(args: TrainingJobArgs) -> dict[str, str] | None:
        return None if args.await_completion else {"pulumi.com/skipAwait": "true"}

    @staticmethod
    def _await_timeouts(args: TrainingJobArgs) -> pulumi.CustomTimeouts | None:
        """Pulumi waits 10 minutes for a Job by default; a training run may take its whole deadline."""
        if not args.await_completion:
            return None
        wait = f"{args.training.active_deadline_seconds + AWAIT_MARGIN_SECONDS}s"
        return pulumi.CustomTimeouts(create=wait, update=wait)

    @staticmethod
    def _rendezvous_service(
        name: str,
        args: TrainingJobArgs,
        pod_labels: dict[str, str],
        selector: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Service:
        """Headless Service giving each Indexed Job pod a stable DNS name for torch's rendezvous."""
        return k8s.core.v1.Service(
            f"{name}-rendezvous",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=args.cluster.namespace, labels=pod_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                # Pods must resolve each other before they are ready, while rendezvous is still forming.
                publish_not_ready_addresses=True,
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="rendezvous", port=training_pod.RENDEZVOUS_PORT)],
            ),
            opts=child,
        )
