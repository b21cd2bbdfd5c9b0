"""A cluster that already exists (minikube, Docker Desktop, AKS, k3s, on-prem), reached by a
kubeconfig and a context. Nothing is provisioned but namespaced Kubernetes objects; the stack file
declares what the cluster offers (GPU scheduling, artifact storage, Service types)."""
