package catalog

import "time"

// Defaults shared by the declarations below.
var (
	retryChecks  = Retry{Attempts: 3, Backoff: 2 * time.Second}
	retryChanges = Retry{Attempts: 3, Backoff: 2 * time.Second}
	shortTimeout = 2 * time.Minute
	longTimeout  = 30 * time.Minute
)

// DSN is the parameter of the PostgreSQL actions.
type DSN struct {
	DSNSecret SecretName `param:"dsn_secret,required,target" doc:"worker secret holding the PostgreSQL DSN"`
}

// The PostgreSQL actions.
var (
	PostgresReplicationStatus = declare[DSN](Spec{
		Name: "postgres.replication_status", Doc: "Report a PostgreSQL server's role and replication lag.",
		Effect: ReadOnly, Class: Local, Timeout: shortTimeout, Retry: retryChecks,
		Outputs: []Output{
			{Name: "role", Type: String, Doc: "primary, standby or unreachable"},
			{Name: "reachable", Type: Bool, Doc: "whether the server answered"},
			{Name: "lag_seconds", Type: Number, Doc: "a standby's replay delay in seconds"},
			{Name: "lag_bytes", Type: Int, Doc: "WAL bytes received but not replayed (standby) or not yet sent to the slowest standby (primary)"},
			{Name: "streaming", Type: Bool, Doc: "whether a standby streams from its primary"},
			{Name: "timeline", Type: Int, Doc: "the server's timeline"},
			{Name: "lsn", Type: String, Doc: "the current (primary) or last replayed (standby) WAL position"},
		},
	})
	PostgresFence = declare[DSN](Spec{
		Name: "postgres.fence", Doc: "Stop a PostgreSQL server from accepting writes (default_transaction_read_only, terminate writers).",
		Effect: Mutating, Class: Local, Timeout: shortTimeout, Retry: retryChanges, Undo: "postgres.unfence",
		Outputs: []Output{
			{Name: "fenced", Type: Bool, Doc: "true: the server takes no writes (also when it cannot be reached)"},
			{Name: "reachable", Type: Bool, Doc: "whether the server answered"},
			{Name: "sessions_terminated", Type: Int, Doc: "writing sessions ended"},
		},
	})
	PostgresUnfence = declare[DSN](Spec{
		Name: "postgres.unfence", Doc: "Let a fenced PostgreSQL server accept writes again (the compensation of postgres.fence).",
		Effect: Mutating, Class: Local, Timeout: shortTimeout, Retry: retryChanges,
		Outputs: []Output{{Name: "fenced", Type: Bool, Doc: "false once the server takes writes again"}},
	})
	PostgresPromote = declare[PromoteParams](Spec{
		Name: "postgres.promote", Doc: "Promote a PostgreSQL standby to primary and wait until it accepts writes.",
		Effect: Mutating, Class: Local, Timeout: shortTimeout, Retry: retryChanges,
		Outputs: []Output{
			{Name: "promoted", Type: Bool, Doc: "true once the server is a primary"},
			{Name: "timeline", Type: Int, Doc: "the new primary's timeline"},
			{Name: "lsn", Type: String, Doc: "its WAL position after the promotion"},
			{Name: "promote_ms", Type: Int, Doc: "how long the promotion took, in milliseconds"},
			{Name: "recovery_point", Type: Time, Doc: "the time of the last transaction it replayed: the recovery's RPO is measured from it"},
		},
	})
	PostgresWriteProbe = declare[DSN](Spec{
		Name: "postgres.write_probe", Doc: "Write and read back a row in a probe table, proving the server takes writes.",
		Effect: Mutating, Class: Local, Timeout: shortTimeout, Retry: retryChecks,
		Outputs: []Output{
			{Name: "ok", Type: Bool, Doc: "whether the row was written and read back"},
			{Name: "latency_ms", Type: Int, Doc: "how long the write and read took, in milliseconds"},
		},
	})
	PostgresSQLCheck = declare[SQLCheckParams](Spec{
		Name: "postgres.sql_check", Doc: "Run a read-only query returning one value and compare it with expect.",
		Effect: ReadOnly, Class: Local, Timeout: shortTimeout, Retry: retryChecks,
		Outputs: []Output{
			{Name: "ok", Type: Bool, Doc: "whether the query succeeded and its value matched expect"},
			{Name: "value", Type: String, Doc: "the value the query returned"},
		},
	})
)

// PromoteParams are postgres.promote's parameters.
type PromoteParams struct {
	DSNSecret SecretName    `param:"dsn_secret,required,target" doc:"worker secret holding the PostgreSQL DSN"`
	Wait      time.Duration `param:"wait" default:"60s" doc:"how long to wait for the promotion"`
}

// SQLCheckParams are postgres.sql_check's parameters.
type SQLCheckParams struct {
	DSNSecret SecretName `param:"dsn_secret,required,target" doc:"worker secret holding the PostgreSQL DSN"`
	Query     string     `param:"query,required" doc:"query returning a single value (run in a read-only transaction)"`
	Expect    string     `param:"expect" doc:"expected value, as text (a boolean as true or false, or t or f); without it the check passes when the query succeeds"`
}

// The AWS actions.
var (
	Route53Upsert = declare[Route53Params](Spec{
		Name: "aws.route53_upsert", Doc: "Create or update a Route 53 record and wait until the change is in sync.",
		Effect: Mutating, Class: Activity, Timeout: longTimeout, Retry: retryChanges, Undo: "aws.route53_upsert",
		Outputs: []Output{{Name: "change_id", Type: String, Doc: "the Route 53 change"}},
	})
	RDSPromoteReadReplica = declare[RDSInstanceParams](Spec{
		Name: "aws.rds_promote_read_replica", Doc: "Promote an RDS read replica to a standalone instance.",
		Effect: Mutating, Class: Activity, Timeout: longTimeout, Retry: retryChanges,
		Outputs: []Output{{Name: "endpoint", Type: String, Doc: "host:port of the promoted instance"}},
	})
	RDSFailoverGlobalCluster = declare[GlobalClusterParams](Spec{
		Name: "aws.rds_failover_global_cluster", Doc: "Fail an Aurora global database over to another region's cluster (the region is the target ARN's).",
		Effect: Mutating, Class: Activity, Timeout: longTimeout, Retry: retryChanges,
		Outputs: []Output{{Name: "writer_cluster_arn", Type: String, Doc: "the cluster that writes once the failover is done"}},
	})
	EC2Start = declare[EC2Params](Spec{
		Name: "aws.ec2_start", Doc: "Start an EC2 instance and wait until it runs.",
		Effect: Mutating, Class: Activity, Timeout: longTimeout, Retry: retryChanges, Undo: "aws.ec2_stop",
		Outputs: []Output{{Name: "state", Type: String, Doc: "running"}},
	})
	EC2Stop = declare[EC2Params](Spec{
		Name: "aws.ec2_stop", Doc: "Stop an EC2 instance and wait until it has stopped.",
		Effect: Mutating, Class: Activity, Timeout: longTimeout, Retry: retryChanges, Undo: "aws.ec2_start",
		Outputs: []Output{{Name: "state", Type: String, Doc: "stopped"}},
	})
	ASGSetCapacity = declare[ASGParams](Spec{
		Name: "aws.asg_set_capacity", Doc: "Set an Auto Scaling group's capacity and wait until the instances are in service.",
		Effect: Mutating, Class: Activity, Timeout: longTimeout, Retry: retryChanges, Undo: "aws.asg_set_capacity",
		Outputs: []Output{{Name: "in_service", Type: Int, Doc: "instances in service"}},
	})
)

// Route53Params are aws.route53_upsert's parameters.
type Route53Params struct {
	ZoneID string `param:"zone_id,required,target" doc:"hosted zone ID"`
	Record string `param:"record,required,target" doc:"record name"`
	Type   string `param:"type" default:"CNAME" enum:"A,AAAA,CNAME,TXT" doc:"record type"`
	Value  string `param:"value,required" doc:"record value"`
	TTL    int64  `param:"ttl" default:"60" min:"1" doc:"TTL in seconds"`
}

// RDSInstanceParams are aws.rds_promote_read_replica's parameters.
type RDSInstanceParams struct {
	Instance string `param:"instance,required,target" doc:"read replica instance identifier"`
	Region   string `param:"region,required,target" doc:"AWS region"`
}

// GlobalClusterParams are aws.rds_failover_global_cluster's parameters.
type GlobalClusterParams struct {
	GlobalCluster    string `param:"global_cluster,required,target" doc:"global cluster identifier"`
	TargetClusterARN string `param:"target_cluster_arn,required,target" doc:"ARN of the secondary cluster to promote"`
	AllowDataLoss    bool   `param:"allow_data_loss" doc:"switch over even if the secondary lags (a failover rather than a switchover)"`
}

// EC2Params are aws.ec2_start's and aws.ec2_stop's parameters.
type EC2Params struct {
	InstanceID string `param:"instance_id,required,target" doc:"instance ID (i-…)"`
	Region     string `param:"region,required,target" doc:"AWS region"`
}

// ASGParams are aws.asg_set_capacity's parameters.
type ASGParams struct {
	Group   string `param:"group,required,target" doc:"Auto Scaling group name"`
	Region  string `param:"region,required,target" doc:"AWS region"`
	Desired int64  `param:"desired,required" min:"0" doc:"desired capacity within the group's minimum and maximum"`
}

// The checks.
var (
	CheckHTTP = declare[HTTPCheckParams](Spec{
		Name: "check.http", Doc: "Request a URL and check the status code.",
		Effect: ReadOnly, Class: Local, Timeout: shortTimeout, Retry: retryChecks, BoundBy: "timeout",
		Outputs: []Output{
			{Name: "ok", Type: Bool, Doc: "whether the status was the expected one"},
			{Name: "status", Type: Int, Doc: "the HTTP status code (absent when no answer came)"},
			{Name: "latency_ms", Type: Int, Doc: "how long the request took, in milliseconds"},
		},
	})
	CheckTCP = declare[TCPCheckParams](Spec{
		Name: "check.tcp", Doc: "Open a TCP connection.",
		Effect: ReadOnly, Class: Local, Timeout: shortTimeout, Retry: retryChecks, BoundBy: "timeout",
		Outputs: []Output{
			{Name: "ok", Type: Bool, Doc: "whether the connection opened"},
			{Name: "latency_ms", Type: Int, Doc: "how long it took, in milliseconds"},
		},
	})
	CheckDNS = declare[DNSCheckParams](Spec{
		Name: "check.dns", Doc: "Resolve a name and optionally compare the answer.",
		Effect: ReadOnly, Class: Local, Timeout: shortTimeout, Retry: retryChecks,
		Outputs: []Output{
			{Name: "ok", Type: Bool, Doc: "whether the name resolved (to expect, when given)"},
			{Name: "answer", Type: String, Doc: "the answers, sorted, joined by commas"},
		},
	})
)

// HTTPCheckParams are check.http's parameters.
type HTTPCheckParams struct {
	URL          string        `param:"url,required,target" doc:"URL to request"`
	ExpectStatus int64         `param:"expect_status" min:"100" doc:"expected status (default any 2xx or 3xx: redirects are not followed)"`
	Timeout      time.Duration `param:"timeout" default:"10s" doc:"request timeout"`
}

// TCPCheckParams are check.tcp's parameters.
type TCPCheckParams struct {
	Address string        `param:"address,required,target" doc:"host:port"`
	Timeout time.Duration `param:"timeout" default:"5s" doc:"connect timeout"`
}

// DNSCheckParams are check.dns's parameters.
type DNSCheckParams struct {
	Name     string `param:"name,required,target" doc:"name to resolve"`
	Type     string `param:"type" default:"A" enum:"A,AAAA,CNAME" doc:"record type"`
	Expect   string `param:"expect" doc:"a value the answer must contain"`
	Resolver string `param:"resolver" doc:"resolver host:port (default the system's)"`
}

// The actions that restore, run commands and notify.
var (
	RestoreAsset = declare[RestoreParams](Spec{
		Name: "restore.asset", Doc: "Restore a snapshot of a protected asset, as a child Restore workflow with its own record.",
		Effect: Mutating, Class: Child, Timeout: 24 * time.Hour, Retry: Retry{Attempts: 1},
		Rehearsal: "the snapshot is restored by a restore drill of the asset (a child Verify workflow) into " +
			"scratch space, checked with the asset's checks and removed, and the step fails when the drill does",
		Outputs: []Output{
			{Name: "snapshot", Type: String, Doc: "the snapshot restored"},
			{Name: "target_dir", Type: String, Doc: "where files were restored"},
			{Name: "database", Type: String, Doc: "the database restored into"},
			{Name: "recovery_point", Type: Time, Doc: "the snapshot's time: the recovery's RPO is measured from it"},
		},
	})
	Exec = declare[ExecParams](Spec{
		Name: "exec", Doc: "Run a command from the worker's allow-list; plans name the command, never its arguments.",
		Effect: Mutating, Class: Activity, Timeout: longTimeout, Retry: Retry{Attempts: 1},
		Outputs: []Output{{Name: "exit_code", Type: Int, Doc: "the command's exit status"}},
	})
	Notify = declare[NotifyParams](Spec{
		Name: "notify", Doc: "Send a message through the worker's notification routes.",
		Effect: ReadOnly, Class: Activity, Timeout: 5 * time.Minute, Retry: Retry{Attempts: 10, Backoff: 5 * time.Second},
		Outputs: []Output{{Name: "delivered", Type: Bool, Doc: "whether at least one channel accepted the message"}},
	})
)

// RestoreParams are restore.asset's parameters.
type RestoreParams struct {
	Asset     string `param:"asset,required" doc:"asset name"`
	Snapshot  string `param:"snapshot" default:"latest" doc:"snapshot ID or latest"`
	TargetDir string `param:"target_dir,target" doc:"directory to restore files into (below the worker's restore_roots)"`
	Database  string `param:"database,target" doc:"database to restore a PostgreSQL asset into"`
	InPlace   bool   `param:"in_place" drill:"false" doc:"restore over the asset's own source (its files, or its database kept renamed)"`
}

// ExecParams are exec's parameters.
type ExecParams struct {
	Command string `param:"command,required,target" doc:"name of a command in the worker's allow-list"`
}

// NotifyParams are notify's parameters.
type NotifyParams struct {
	Message string `param:"message,required" doc:"the message"`
	Route   string `param:"route" doc:"notification route (default all)"`
}
