"""EKS: VPC, control plane, node groups, add-ons, ECR repositories and an S3 artifact store."""
