"""What workloads depend on and every backend provides: the cluster contract, artifact access, image
repositories, and the namespace and service accounts every backend creates the same way. Nothing
here imports a backend or a cloud SDK."""
