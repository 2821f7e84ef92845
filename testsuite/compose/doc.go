// Package compose checks the deployment files against each other without Docker: docker-compose.yml,
// deploy/Dockerfile and the worker configuration deploy/lifeboat.yaml it mounts. It has only tests.
package compose
