"""Registry backends. Each gives every image a repository to push to and the cluster to pull from."""
