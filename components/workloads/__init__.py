"""The workloads: a training run (`TrainingJob`) and a model server (`ModelService`), each with its
pod template beside it. They see a cluster only through `components.contracts`."""
