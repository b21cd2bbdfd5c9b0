"""The ml-platform program: read the stack's config, provision its cluster and registry, build the
images, and declare each model's training Job and serving Deployment."""

import pulumi

from components import config, outputs
from components.image import Image, ImageArgs
from components.platform import provision
from components.workloads.model_service import ModelService, ModelServiceArgs
from components.workloads.training_job import TrainingJob, TrainingJobArgs

try:
    stack = config.from_pulumi()
except config.ConfigError as error:
    raise pulumi.RunError(str(error)) from None
for warning in stack.warnings:
    pulumi.log.warn(f"stack configuration: {warning}")

platform = provision(stack)
cluster = platform.cluster

images = {
    name: Image(
        name,
        ImageArgs(
            context=image.context,
            dockerfile=image.dockerfile,
            target=image.target,
            repository=platform.repositories[name],
            platform=stack.settings.image_platform,
            build_on_preview=stack.settings.build_on_preview,
        ),
    )
    for name, image in stack.images.items()
}

# The predict routes' bearer token, read only where a model requires it (a secret, never in clear).
requiring_token = [model for model in stack.models if model.serving is not None and model.serving.require_token]
serving_token = pulumi.Config(config.NAMESPACE).require_secret(config.SERVING_TOKEN_KEY) if requiring_token else None

models = {}
for model in stack.models:
    training = TrainingJob(
        f"{model.name}-training",
        TrainingJobArgs(
            model=model.name,
            image=images[model.training.image].ref,
            training=model.training,
            cluster=cluster,
            await_completion=stack.settings.await_training,
        ),
    )
    summary: dict[str, pulumi.Output[str] | pulumi.Output[str | None]] = {
        outputs.MODEL_TRAINING_JOB: training.job_name,
        outputs.MODEL_URI: training.model_uri,
    }
    if model.serving is not None:
        service = ModelService(
            f"{model.name}-serving",
            ModelServiceArgs(
                model=model.name,
                image=images[model.serving.image].ref,
                model_uri=training.model_uri,
                serving=model.serving,
                cluster=cluster,
                depends_on=[training.job] if stack.settings.await_training else [],
                auth_token=serving_token if model.serving.require_token else None,
            ),
        )
        summary |= {
            outputs.MODEL_SERVICE: service.service_name,
            outputs.MODEL_ENDPOINT: service.endpoint,
            outputs.MODEL_LOCAL_ACCESS: service.local_access,
            outputs.MODEL_EXTERNAL_ADDRESS: service.external_address,
        }
    models[model.name] = summary

pulumi.export(outputs.NAMESPACE, cluster.namespace)
pulumi.export(outputs.IMAGES, {name: image.ref for name, image in images.items()})
pulumi.export(outputs.REGISTRY_URLS, {name: repository.url for name, repository in platform.repositories.items()})
pulumi.export(outputs.MODELS, models)
for key, value in platform.outputs.items():
    pulumi.export(key, value)
