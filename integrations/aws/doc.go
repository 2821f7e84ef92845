// Package aws drives the AWS calls of backup and recovery: it takes, copies across regions, lists and
// deletes RDS and EBS snapshots, and fails over — Route 53 record changes, RDS read-replica promotion
// and global-cluster failover, EC2 start and stop, Auto Scaling capacity — idempotently, so that
// retried calls neither duplicate nor undo work.
package aws
