package aws

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// route53Region is where Route 53, a global service, is called and signed for.
const route53Region = "us-east-1"

// route53API is the part of the Route 53 client Failover uses.
type route53API interface {
	ChangeResourceRecordSets(context.Context, *route53.ChangeResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	GetChange(context.Context, *route53.GetChangeInput, ...func(*route53.Options)) (*route53.GetChangeOutput, error)
	ListResourceRecordSets(context.Context, *route53.ListResourceRecordSetsInput, ...func(*route53.Options)) (*route53.ListResourceRecordSetsOutput, error)
}

// failoverRDSAPI is the part of the RDS client Failover uses.
type failoverRDSAPI interface {
	PromoteReadReplica(context.Context, *rds.PromoteReadReplicaInput, ...func(*rds.Options)) (*rds.PromoteReadReplicaOutput, error)
	FailoverGlobalCluster(context.Context, *rds.FailoverGlobalClusterInput, ...func(*rds.Options)) (*rds.FailoverGlobalClusterOutput, error)
	rds.DescribeDBInstancesAPIClient
	rds.DescribeGlobalClustersAPIClient
}

// failoverEC2API is the part of the EC2 client Failover uses.
type failoverEC2API interface {
	StartInstances(context.Context, *ec2.StartInstancesInput, ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error)
	StopInstances(context.Context, *ec2.StopInstancesInput, ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	ec2.DescribeInstancesAPIClient
}

// autoScalingAPI is the part of the Auto Scaling client Failover uses.
type autoScalingAPI interface {
	SetDesiredCapacity(context.Context, *autoscaling.SetDesiredCapacityInput, ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	autoscaling.DescribeAutoScalingGroupsAPIClient
}

var (
	_ route53API     = (*route53.Client)(nil)
	_ failoverRDSAPI = (*rds.Client)(nil)
	_ failoverEC2API = (*ec2.Client)(nil)
	_ autoScalingAPI = (*autoscaling.Client)(nil)
)

// failoverPermanentCodes are the error codes of the failover APIs that retrying cannot get past;
// IsPermanent consults them next to permanentCodes.
var failoverPermanentCodes = map[string]bool{
	"NoSuchHostedZone":            true,
	"NoSuchChange":                true,
	"InvalidChangeBatch":          true,
	"InvalidInput":                true,
	"GlobalClusterNotFoundFault":  true,
	"DBClusterNotFoundFault":      true,
	"InvalidInstanceID.NotFound":  true,
	"InvalidInstanceID.Malformed": true,
}

// Failover moves workloads to a recovery region: it points DNS records at new targets, promotes
// RDS read replicas, fails Aurora global databases over to a secondary cluster, starts and stops
// EC2 instances and resizes Auto Scaling groups. Every action is idempotent, so that a retried
// activity can call it again, and has a Wait method that polls until AWS reports it done. The
// Wait methods return ctx.Err() (wrapped, not permanent) when ctx ends. Failover keeps one client
// per service and region and is safe for concurrent use.
type Failover struct {
	c *Snapshots // the per-region client cache
}

// NewFailover checks cfg and loads the AWS configuration, as New does. It does not contact AWS.
func NewFailover(ctx context.Context, cfg Config) (*Failover, error) {
	s, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Failover{c: s}, nil
}

// cachedClient returns the client for region kept in *m, making it with mk the first time.
func cachedClient[C any](s *Snapshots, m *map[string]C, region string, mk func(string) C) (C, error) {
	var zero C
	if err := checkRegion(region); err != nil {
		return zero, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := (*m)[region]
	if !ok {
		if *m == nil {
			*m = map[string]C{}
		}
		c = mk(region)
		(*m)[region] = c
	}
	return c, nil
}

func (f *Failover) route53() route53API {
	c, _ := cachedClient(f.c, &f.c.route53Clients, route53Region, f.c.newRoute53) // a valid region
	return c
}

func (f *Failover) rds(region string) (failoverRDSAPI, error) {
	return cachedClient(f.c, &f.c.failoverRDSClients, region, f.c.newFailoverRDS)
}

func (f *Failover) ec2(region string) (failoverEC2API, error) {
	return cachedClient(f.c, &f.c.failoverEC2Clients, region, f.c.newFailoverEC2)
}

func (f *Failover) autoScaling(region string) (autoScalingAPI, error) {
	return cachedClient(f.c, &f.c.autoScalingClients, region, f.c.newAutoScaling)
}

// kindError is an error with a message of its own that matches one of the package's sentinel
// errors (ErrNotFound, ErrFailed, ErrInvalid), so that IsPermanent and errors.Is see its kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func kindf(kind error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}

// pollUntil calls check every interval (DefaultPoll when zero) until it reports done or fails, or
// ctx ends.
func pollUntil(ctx context.Context, interval time.Duration, check func(context.Context) (bool, error)) error {
	if interval <= 0 {
		interval = DefaultPoll
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done, err := check(ctx)
		if err != nil || done {
			return err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// lastSeen is the suffix of a Wait method's error that says what it saw last, if anything.
func lastSeen(state string) string {
	if state == "" {
		return ""
	}
	return " (" + state + ")"
}

// Route 53

// Record types UpsertRecord writes.
const (
	RecordA     = "A"
	RecordAAAA  = "AAAA"
	RecordCNAME = "CNAME"
)

// Record is a DNS record set in a Route 53 hosted zone.
type Record struct {
	// Name is the record's domain name. Route 53 reports names fully qualified and in lower case
	// ("db.example.com."), and so does GetRecord; UpsertRecord takes either form.
	Name string
	// Type is RecordA, RecordAAAA or RecordCNAME.
	Type string
	// TTL is how long resolvers may cache the record, in seconds.
	TTL int64
	// Values are the IPv4 (A) or IPv6 (AAAA) addresses, or the one canonical name (CNAME).
	Values []string
	// SetIdentifier names the record within a weighted set; empty for a simple record.
	SetIdentifier string
	// Weight is the record's share of its weighted set's answers, 0-255. It is sent only with a
	// SetIdentifier, and must be zero without one.
	Weight int64
}

// UpsertRecord creates the record set or replaces the one with the same name, type (and
// SetIdentifier), and returns the id of the change ("/change/C…") for WaitChange. Replacing a
// record with the same values is harmless, so the call can be retried. Records are checked
// before any request is sent (the error wraps ErrInvalid); an unknown zone or a record Route 53
// refuses, such as one outside the zone, gives a permanent error.
func (f *Failover) UpsertRecord(ctx context.Context, zoneID string, rec Record) (changeID string, err error) {
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("route53: upsert %s record %q in zone %q: %w", rec.Type, rec.Name, zoneID, err)
	}
	if err := checkRecord(zoneID, rec); err != nil {
		return fail(err)
	}
	set := &r53types.ResourceRecordSet{
		Name: aws.String(rec.Name),
		Type: r53types.RRType(rec.Type),
		TTL:  aws.Int64(rec.TTL),
	}
	for _, v := range rec.Values {
		set.ResourceRecords = append(set.ResourceRecords, r53types.ResourceRecord{Value: aws.String(v)})
	}
	if rec.SetIdentifier != "" {
		set.SetIdentifier, set.Weight = aws.String(rec.SetIdentifier), aws.Int64(rec.Weight)
	}
	out, err := f.route53().ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{
			Comment: aws.String("Lifeboat failover"),
			Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: set}},
		},
	})
	if batch, ok := errors.AsType[*r53types.InvalidChangeBatch](err); ok && len(batch.Messages) > 0 {
		// The SDK keeps Route 53's reasons out of the error's text.
		return fail(fmt.Errorf("%w: %s", err, strings.Join(batch.Messages, "; ")))
	}
	if err != nil {
		return fail(err)
	}
	if out.ChangeInfo == nil || aws.ToString(out.ChangeInfo.Id) == "" {
		return fail(errors.New("the response has no change id"))
	}
	return aws.ToString(out.ChangeInfo.Id), nil
}

// checkRecord reports every problem with a record UpsertRecord is asked to write.
func checkRecord(zoneID string, rec Record) error {
	var errs []error
	if zoneID == "" {
		errs = append(errs, errors.New("hosted zone id is required"))
	}
	if strings.Trim(rec.Name, ".") == "" {
		errs = append(errs, errors.New("name is required"))
	}
	switch rec.Type {
	case RecordA, RecordAAAA, RecordCNAME:
	default:
		errs = append(errs, fmt.Errorf("type %q is not A, AAAA or CNAME", rec.Type))
	}
	if rec.TTL < 0 || rec.TTL > 2147483647 {
		errs = append(errs, fmt.Errorf("TTL %d is not between 0 and 2147483647 seconds", rec.TTL))
	}
	if len(rec.Values) == 0 {
		errs = append(errs, errors.New("at least one value is required"))
	}
	if rec.Type == RecordCNAME && len(rec.Values) > 1 {
		errs = append(errs, fmt.Errorf("a CNAME record has one value, not %d", len(rec.Values)))
	}
	for _, v := range rec.Values {
		switch addr, err := netip.ParseAddr(v); {
		case rec.Type == RecordA && (err != nil || !addr.Is4()):
			errs = append(errs, fmt.Errorf("value %q is not an IPv4 address", v))
		case rec.Type == RecordAAAA && (err != nil || !addr.Is6() || addr.Is4In6()):
			errs = append(errs, fmt.Errorf("value %q is not an IPv6 address", v))
		case rec.Type == RecordCNAME && strings.Trim(v, ".") == "":
			errs = append(errs, fmt.Errorf("value %q is not a domain name", v))
		}
	}
	if rec.SetIdentifier != "" && (rec.Weight < 0 || rec.Weight > 255) {
		errs = append(errs, fmt.Errorf("weight %d is not between 0 and 255", rec.Weight))
	}
	if rec.SetIdentifier == "" && rec.Weight != 0 {
		errs = append(errs, errors.New("weight given without a set identifier"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// WaitChange polls a Route 53 change every poll (DefaultPoll when zero) until its status is
// INSYNC, that is until every Route 53 name server answers with it. An unknown change id gives a
// permanent error.
func (f *Failover) WaitChange(ctx context.Context, changeID string, poll time.Duration) error {
	if changeID == "" {
		return fmt.Errorf("route53: wait for change: change id is required: %w", ErrInvalid)
	}
	c := f.route53()
	state := ""
	err := pollUntil(ctx, poll, func(ctx context.Context) (bool, error) {
		out, err := c.GetChange(ctx, &route53.GetChangeInput{Id: aws.String(changeID)})
		if err != nil {
			return false, err
		}
		if out.ChangeInfo == nil {
			return false, errors.New("the response has no change info")
		}
		state = "status " + string(out.ChangeInfo.Status)
		return out.ChangeInfo.Status == r53types.ChangeStatusInsync, nil
	})
	if err != nil {
		return fmt.Errorf("route53: wait for change %q%s: %w", changeID, lastSeen(state), err)
	}
	return nil
}

// GetRecord returns the record set with the given name and type, with its name as Route 53
// reports it (fully qualified, lower case). Of a weighted set it returns the record Route 53
// lists first. The error wraps ErrNotFound when the zone has no such record, and is permanent
// when the zone does not exist.
func (f *Failover) GetRecord(ctx context.Context, zoneID, name, recordType string) (Record, error) {
	fail := func(err error) (Record, error) {
		return Record{}, fmt.Errorf("route53: get %s record %q in zone %q: %w", recordType, name, zoneID, err)
	}
	if zoneID == "" || strings.Trim(name, ".") == "" || recordType == "" {
		return fail(fmt.Errorf("zone id, name and type are required: %w", ErrInvalid))
	}
	// Route 53 lists record sets in order from the given name and type; the first one listed is
	// the next one along when there is no such record.
	out, err := f.route53().ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId:    aws.String(zoneID),
		StartRecordName: aws.String(name),
		StartRecordType: r53types.RRType(recordType),
		MaxItems:        aws.Int32(1),
	})
	if err != nil {
		return fail(err)
	}
	if len(out.ResourceRecordSets) == 0 {
		return fail(kindf(ErrNotFound, "no such record"))
	}
	set := out.ResourceRecordSets[0]
	if got := dnsName(aws.ToString(set.Name)); got != dnsName(name) || string(set.Type) != recordType {
		return fail(kindf(ErrNotFound, "no such record"))
	}
	rec := Record{
		Name:          dnsName(aws.ToString(set.Name)),
		Type:          string(set.Type),
		TTL:           aws.ToInt64(set.TTL),
		SetIdentifier: aws.ToString(set.SetIdentifier),
		Weight:        aws.ToInt64(set.Weight),
	}
	for _, r := range set.ResourceRecords {
		rec.Values = append(rec.Values, aws.ToString(r.Value))
	}
	return rec, nil
}

// dnsName puts a domain name in the form Route 53 reports it: lower case, with a trailing dot, but
// with the octal escapes Route 53 uses for characters such as "*" ("\052") decoded.
func dnsName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '\\' && i+3 < len(name) {
			if n, err := strconv.ParseUint(name[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(name[i])
	}
	s := strings.ToLower(b.String())
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// RDS

// Instance is an RDS DB instance.
type Instance struct {
	// ID is the DB instance identifier.
	ID string
	// ARN is the instance's Amazon Resource Name.
	ARN string
	// Region is the region the instance is in.
	Region string
	// Status is RDS's status for the instance: "available", "modifying", "backing-up" ….
	Status string
	// Engine is the database engine ("postgres", "mysql" …).
	Engine string
	// Address and Port are the instance's endpoint; empty while it is being created.
	Address string
	Port    int32
	// ReplicaSource is the identifier or ARN of the instance this one is a read replica of;
	// empty for an instance that is not a replica.
	ReplicaSource string
}

// PromoteReadReplica makes a read replica a standalone instance, which takes minutes: use
// WaitInstanceAvailable. It is idempotent: an instance that is not (or no longer) a replica is
// left alone, and alreadyPromoted reports it. While a promotion is still under way, calling again
// gives a retryable error; an unknown instance gives a permanent one.
func (f *Failover) PromoteReadReplica(ctx context.Context, region, instanceID string) (alreadyPromoted bool, err error) {
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("rds: promote read replica %q in %s: %w", instanceID, region, err)
	}
	c, err := f.rds(region)
	if err != nil {
		return fail(err)
	}
	if instanceID == "" {
		return fail(fmt.Errorf("instance identifier is required: %w", ErrInvalid))
	}
	_, err = c.PromoteReadReplica(ctx, &rds.PromoteReadReplicaInput{DBInstanceIdentifier: aws.String(instanceID)})
	if err == nil {
		return false, nil
	}
	state, ok := errors.AsType[*rdstypes.InvalidDBInstanceStateFault](err)
	if !ok {
		return fail(err)
	}
	if strings.Contains(strings.ToLower(state.ErrorMessage()), "not a read replica") {
		return true, nil
	}
	// Another state problem: being promoted already, or a message worded otherwise.
	inst, derr := describeInstance(ctx, c, region, instanceID)
	if derr == nil && inst.ReplicaSource == "" {
		return true, nil
	}
	return fail(err)
}

// WaitInstanceAvailable polls a DB instance every poll (DefaultPoll when zero) until its status is
// "available", and returns it. It fails, returning the last state seen, when the instance is in a
// state it will not leave by itself (failed, stopped, incompatible-…, storage-full: ErrFailed),
// is being deleted (ErrNotFound), does not exist (permanent), or ctx ends.
func (f *Failover) WaitInstanceAvailable(ctx context.Context, region, id string, poll time.Duration) (Instance, error) {
	c, err := f.rds(region)
	if err != nil {
		return Instance{}, fmt.Errorf("rds: wait for instance %q in %s: %w", id, region, err)
	}
	var last Instance
	err = pollUntil(ctx, poll, func(ctx context.Context) (bool, error) {
		inst, err := describeInstance(ctx, c, region, id)
		if err != nil {
			return false, err
		}
		last = inst
		switch s := inst.Status; {
		case s == "available":
			return true, nil
		case s == "deleting" || s == "deleted":
			return false, kindf(ErrNotFound, "status %q", s)
		case s == "failed" || s == "stopped" || s == "stopping" || s == "storage-full" || s == "restore-error" ||
			s == "inaccessible-encryption-credentials" || strings.HasPrefix(s, "incompatible-"):
			return false, kindf(ErrFailed, "status %q", s)
		}
		return false, nil
	})
	if err != nil {
		state := ""
		if last.Status != "" {
			state = fmt.Sprintf("status %q", last.Status)
		}
		return last, fmt.Errorf("rds: wait for instance %q in %s to be available%s: %w", id, region, lastSeen(state), err)
	}
	return last, nil
}

func describeInstance(ctx context.Context, c failoverRDSAPI, region, id string) (Instance, error) {
	out, err := c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil {
		return Instance{}, err
	}
	if len(out.DBInstances) == 0 {
		return Instance{}, kindf(ErrNotFound, "no such instance")
	}
	d := out.DBInstances[0]
	inst := Instance{
		ID:            aws.ToString(d.DBInstanceIdentifier),
		ARN:           aws.ToString(d.DBInstanceArn),
		Region:        region,
		Status:        aws.ToString(d.DBInstanceStatus),
		Engine:        aws.ToString(d.Engine),
		ReplicaSource: aws.ToString(d.ReadReplicaSourceDBInstanceIdentifier),
	}
	if d.Endpoint != nil {
		inst.Address, inst.Port = aws.ToString(d.Endpoint.Address), aws.ToInt32(d.Endpoint.Port)
	}
	return inst, nil
}

// GlobalCluster is an Aurora global database.
type GlobalCluster struct {
	// ID is the global cluster identifier.
	ID string
	// ARN is the global cluster's Amazon Resource Name.
	ARN string
	// Status is RDS's status for it: "available", "failing-over", "switching-over" ….
	Status string
	// Writer is the ARN of the primary member cluster, the one that takes writes.
	Writer string
	// Members are the ARNs of all member clusters, the writer included, in RDS's order.
	Members []string
	// FailoverTo is the ARN of the cluster a failover or switchover in progress is making the
	// writer; empty when none is in progress.
	FailoverTo string
	// DataLossAllowed reports whether the failover in progress is a failover (true) rather than a
	// switchover.
	DataLossAllowed bool
}

// FailoverGlobalCluster makes targetDBClusterARN, a secondary cluster of the global database, its
// writer, without waiting for the old primary to catch up: writes it had not replicated yet are
// lost (the recovery point is the replication lag). It is the action for a primary region that is
// down. The request is sent to the target's region. It is idempotent: when the target is already
// the writer, or a failover to it is under way, nothing is sent. A failover to another cluster in
// progress gives a retryable error; a target that is not a member, or an unknown global cluster,
// a permanent one. Use WaitGlobalClusterAvailable to wait for it.
func (f *Failover) FailoverGlobalCluster(ctx context.Context, globalClusterID, targetDBClusterARN string) error {
	return f.moveGlobalWriter(ctx, "fail over", globalClusterID, targetDBClusterARN, true)
}

// SwitchoverGlobalCluster is FailoverGlobalCluster without data loss: Aurora waits until the
// target has caught up with the primary before switching, so the primary must be reachable. It is
// the action for drills and for returning to the original region.
func (f *Failover) SwitchoverGlobalCluster(ctx context.Context, globalClusterID, targetDBClusterARN string) error {
	return f.moveGlobalWriter(ctx, "switch over", globalClusterID, targetDBClusterARN, false)
}

func (f *Failover) moveGlobalWriter(ctx context.Context, verb, globalClusterID, target string, dataLoss bool) error {
	fail := func(err error) error {
		return fmt.Errorf("rds: %s global cluster %q to %q: %w", verb, globalClusterID, target, err)
	}
	region, err := clusterRegion(target)
	if err != nil {
		return fail(err)
	}
	if globalClusterID == "" {
		return fail(fmt.Errorf("global cluster identifier is required: %w", ErrInvalid))
	}
	c, err := f.rds(region)
	if err != nil {
		return fail(err)
	}
	g, err := describeGlobalCluster(ctx, c, globalClusterID)
	if err != nil {
		return fail(err)
	}
	if done, err := g.movingTo(target); done || err != nil {
		if err != nil {
			return fail(err)
		}
		return nil
	}
	in := &rds.FailoverGlobalClusterInput{
		GlobalClusterIdentifier:   aws.String(globalClusterID),
		TargetDbClusterIdentifier: aws.String(target),
	}
	if dataLoss {
		in.AllowDataLoss = aws.Bool(true)
	} else {
		in.Switchover = aws.Bool(true)
	}
	_, err = c.FailoverGlobalCluster(ctx, in)
	if _, ok := errors.AsType[*rdstypes.InvalidGlobalClusterStateFault](err); ok {
		// Perhaps an earlier attempt that went unanswered started it.
		if g, derr := describeGlobalCluster(ctx, c, globalClusterID); derr == nil {
			if done, _ := g.movingTo(target); done {
				return nil
			}
		}
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// movingTo reports whether target is the writer with no failover in progress, or the target of
// the one in progress. The error says why a failover to target cannot start now.
func (g GlobalCluster) movingTo(target string) (bool, error) {
	switch {
	case g.FailoverTo == target:
		return true, nil
	case g.FailoverTo != "":
		return false, fmt.Errorf("a failover to %q is in progress", g.FailoverTo)
	case !slices.Contains(g.Members, target):
		return false, kindf(ErrInvalid, "the cluster is not a member of the global cluster (members %q)", g.Members)
	}
	return g.Writer == target, nil
}

// WaitGlobalClusterAvailable polls a global cluster every poll (DefaultPoll when zero), in
// writerARN's region, until it is available with no failover in progress and writerARN as its
// writer, and returns it. It fails, returning the last state seen, when another cluster stays the
// writer for several polls with no failover in progress (ErrFailed), when the global cluster does
// not exist (permanent), or when ctx ends.
func (f *Failover) WaitGlobalClusterAvailable(ctx context.Context, globalClusterID, writerARN string, poll time.Duration) (GlobalCluster, error) {
	fail := func(last GlobalCluster, err error) (GlobalCluster, error) {
		state := ""
		if last.Status != "" {
			state = fmt.Sprintf("status %q, writer %q", last.Status, last.Writer)
		}
		return last, fmt.Errorf("rds: wait for global cluster %q to be available with writer %q%s: %w",
			globalClusterID, writerARN, lastSeen(state), err)
	}
	region, err := clusterRegion(writerARN)
	if err != nil {
		return fail(GlobalCluster{}, err)
	}
	c, err := f.rds(region)
	if err != nil {
		return fail(GlobalCluster{}, err)
	}
	var last GlobalCluster
	otherWriter := 0 // polls in a row that saw another writer and no failover
	err = pollUntil(ctx, poll, func(ctx context.Context) (bool, error) {
		g, err := describeGlobalCluster(ctx, c, globalClusterID)
		if err != nil {
			return false, err
		}
		last = g
		if g.FailoverTo == "" && g.Writer != writerARN {
			// Right after a failover starts, RDS may not show it yet.
			if otherWriter++; otherWriter > notFoundGrace {
				return false, kindf(ErrFailed, "no failover to %q is in progress", writerARN)
			}
			return false, nil
		}
		otherWriter = 0
		return g.Status == "available" && g.FailoverTo == "" && g.Writer == writerARN, nil
	})
	if err != nil {
		return fail(last, err)
	}
	return last, nil
}

func describeGlobalCluster(ctx context.Context, c failoverRDSAPI, id string) (GlobalCluster, error) {
	out, err := c.DescribeGlobalClusters(ctx, &rds.DescribeGlobalClustersInput{GlobalClusterIdentifier: aws.String(id)})
	if err != nil {
		return GlobalCluster{}, err
	}
	if len(out.GlobalClusters) == 0 {
		return GlobalCluster{}, kindf(ErrNotFound, "no such global cluster")
	}
	d := out.GlobalClusters[0]
	g := GlobalCluster{
		ID:     aws.ToString(d.GlobalClusterIdentifier),
		ARN:    aws.ToString(d.GlobalClusterArn),
		Status: aws.ToString(d.Status),
	}
	for _, m := range d.GlobalClusterMembers {
		g.Members = append(g.Members, aws.ToString(m.DBClusterArn))
		if aws.ToBool(m.IsWriter) {
			g.Writer = aws.ToString(m.DBClusterArn)
		}
	}
	if s := d.FailoverState; s != nil && s.Status != "" && s.Status != rdstypes.FailoverStatusCancelling {
		g.FailoverTo, g.DataLossAllowed = aws.ToString(s.ToDbClusterArn), aws.ToBool(s.IsDataLossAllowed)
	}
	return g, nil
}

// clusterRegion returns the region of a DB cluster's ARN ("arn:aws:rds:us-west-2:123456789012:cluster:orders").
func clusterRegion(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "rds" || parts[5] != "cluster" || parts[6] == "" {
		return "", fmt.Errorf("%q is not the ARN of a DB cluster: %w", arn, ErrInvalid)
	}
	return parts[3], checkRegion(parts[3])
}

// EC2

// Instance states WaitInstancesState waits for.
const (
	StateRunning = "running"
	StateStopped = "stopped"
)

// StartInstances starts EC2 instances; instances already running or starting are left alone.
// An instance still stopping cannot be started yet (a retryable error); an unknown instance gives
// a permanent error. Use WaitInstancesState to wait for them.
func (f *Failover) StartInstances(ctx context.Context, region string, ids []string) error {
	c, err := f.ec2(region)
	if err == nil {
		err = checkInstanceIDs(ids)
	}
	if err == nil {
		_, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: slices.Compact(slices.Sorted(slices.Values(ids)))})
	}
	if err != nil {
		return fmt.Errorf("ec2: start instances %q in %s: %w", ids, region, err)
	}
	return nil
}

// StopInstances stops EC2 instances; instances already stopped or stopping are left alone. An
// unknown instance gives a permanent error.
func (f *Failover) StopInstances(ctx context.Context, region string, ids []string) error {
	c, err := f.ec2(region)
	if err == nil {
		err = checkInstanceIDs(ids)
	}
	if err == nil {
		_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: slices.Compact(slices.Sorted(slices.Values(ids)))})
	}
	if err != nil {
		return fmt.Errorf("ec2: stop instances %q in %s: %w", ids, region, err)
	}
	return nil
}

func checkInstanceIDs(ids []string) error {
	if len(ids) == 0 {
		return fmt.Errorf("no instance ids: %w", ErrInvalid)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") || len(id) < 3 {
			return fmt.Errorf("%q is not an instance id: %w", id, ErrInvalid)
		}
	}
	return nil
}

// WaitInstancesState polls EC2 instances every poll (DefaultPoll when zero) until all of them are
// in state, StateRunning or StateStopped. Like AWS's own waiters it gives up (ErrFailed) when an
// instance is terminated or shutting down, is stopping while it should run, or pending while it
// should stop. Instances EC2 does not show yet are waited for over a few polls; after that the
// error is permanent.
func (f *Failover) WaitInstancesState(ctx context.Context, region string, ids []string, state string, poll time.Duration) error {
	fail := func(err error) error {
		return fmt.Errorf("ec2: wait for instances %q in %s to be %s: %w", ids, region, state, err)
	}
	c, err := f.ec2(region)
	if err == nil {
		err = checkInstanceIDs(ids)
	}
	if err == nil && state != StateRunning && state != StateStopped {
		err = fmt.Errorf("state %q is not %s or %s: %w", state, StateRunning, StateStopped, ErrInvalid)
	}
	if err != nil {
		return fail(err)
	}
	want := slices.Compact(slices.Sorted(slices.Values(ids)))
	pending := ""
	misses := 0
	err = pollUntil(ctx, poll, func(ctx context.Context) (bool, error) {
		states, err := instanceStates(ctx, c, want)
		if errorCode(err) == "InvalidInstanceID.NotFound" && misses < notFoundGrace {
			misses++
			return false, nil
		}
		if err != nil {
			return false, err
		}
		misses = 0
		var notYet []string
		for _, id := range want {
			s, ok := states[id]
			switch {
			case !ok:
				return false, kindf(ErrNotFound, "instance %s is missing from the response", id)
			case s == "terminated" || s == "shutting-down" ||
				(state == StateRunning && s == "stopping") || (state == StateStopped && s == "pending"):
				return false, kindf(ErrFailed, "instance %s is %s", id, s)
			case s != state:
				notYet = append(notYet, id+" is "+s)
			}
		}
		pending = strings.Join(notYet, ", ")
		return len(notYet) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("ec2: wait for instances %q in %s to be %s%s: %w", ids, region, state, lastSeen(pending), err)
	}
	return nil
}

// instanceStates returns the state of each instance by id.
func instanceStates(ctx context.Context, c failoverEC2API, ids []string) (map[string]string, error) {
	states := map[string]string{}
	for p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{InstanceIds: ids}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range out.Reservations {
			for _, inst := range r.Instances {
				if inst.State != nil {
					states[aws.ToString(inst.InstanceId)] = string(inst.State.Name)
				} else {
					states[aws.ToString(inst.InstanceId)] = string(ec2types.InstanceStateNamePending)
				}
			}
		}
	}
	return states, nil
}

// Auto Scaling

// SetDesiredCapacity sets an Auto Scaling group's desired capacity to n at once, without honouring
// its cooldown. Setting the capacity it already has is harmless. n must be within the group's
// minimum and maximum: otherwise, as for an unknown group, the error is permanent.
func (f *Failover) SetDesiredCapacity(ctx context.Context, region, group string, n int32) error {
	fail := func(err error) error {
		return fmt.Errorf("autoscaling: set desired capacity of group %q in %s to %d: %w", group, region, n, err)
	}
	c, err := f.autoScaling(region)
	if err != nil {
		return fail(err)
	}
	if group == "" {
		return fail(fmt.Errorf("group name is required: %w", ErrInvalid))
	}
	g, err := describeGroup(ctx, c, group)
	if err != nil {
		return fail(err)
	}
	if minSize, maxSize := aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize); n < minSize || n > maxSize {
		return fail(kindf(ErrInvalid, "%d is outside the group's bounds: min %d, max %d", n, minSize, maxSize))
	}
	_, err = c.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(group),
		DesiredCapacity:      aws.Int32(n),
		HonorCooldown:        aws.Bool(false),
	})
	if err != nil {
		return fail(err)
	}
	return nil
}

// WaitGroupCapacity polls an Auto Scaling group every poll (DefaultPoll when zero) until exactly n
// of its instances are InService. It fails when the group does not exist (permanent) or ctx ends.
func (f *Failover) WaitGroupCapacity(ctx context.Context, region, group string, n int32, poll time.Duration) error {
	c, err := f.autoScaling(region)
	if err == nil && (group == "" || n < 0) {
		err = fmt.Errorf("a group name and a capacity of 0 or more are required: %w", ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("autoscaling: wait for group %q in %s: %w", group, region, err)
	}
	state := ""
	err = pollUntil(ctx, poll, func(ctx context.Context) (bool, error) {
		g, err := describeGroup(ctx, c, group)
		if err != nil {
			return false, err
		}
		inService := 0
		for _, inst := range g.Instances {
			if inst.LifecycleState == astypes.LifecycleStateInService {
				inService++
			}
		}
		state = fmt.Sprintf("%d of %d instances in service", inService, len(g.Instances))
		return int32(inService) == n, nil
	})
	if err != nil {
		return fmt.Errorf("autoscaling: wait for group %q in %s to have %d instances in service%s: %w",
			group, region, n, lastSeen(state), err)
	}
	return nil
}

func describeGroup(ctx context.Context, c autoScalingAPI, name string) (astypes.AutoScalingGroup, error) {
	out, err := c.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return astypes.AutoScalingGroup{}, err
	}
	for _, g := range out.AutoScalingGroups {
		if aws.ToString(g.AutoScalingGroupName) == name {
			return g, nil
		}
	}
	return astypes.AutoScalingGroup{}, kindf(ErrNotFound, "no such group")
}
