package aws_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	lbaws "github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/testsuite/awsfake"
)

const (
	zoneID    = "Z0123456789LIFEBOAT"
	replicaOf = "arn:aws:rds:us-east-1:123456789012:db:orders-db"
	eastARN   = "arn:aws:rds:us-east-1:123456789012:cluster:orders-east"
	westARN   = "arn:aws:rds:us-west-2:123456789012:cluster:orders-west"
	web1      = "i-0a1b2c3d4e5f60001"
	web2      = "i-0a1b2c3d4e5f60002"
)

// newFailover starts a fake and returns a client for it that does not retry, so injected errors
// surface.
func newFailover(t *testing.T) (*awsfake.Fake, *lbaws.Failover) {
	t.Helper()
	fake := awsfake.New(t)
	return fake, failoverClient(t, fake, awsfake.SecretAccessKey, 1)
}

func failoverClient(t *testing.T, fake *awsfake.Fake, secret string, attempts int) *lbaws.Failover {
	t.Helper()
	// Keep the developer's own AWS configuration out of the test.
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	f, err := lbaws.NewFailover(context.Background(), lbaws.Config{
		Endpoint:        fake.URL,
		AccessKeyID:     awsfake.AccessKeyID,
		SecretAccessKey: secret,
		MaxAttempts:     attempts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// seed registers one of everything the failover actions act on.
func seed(fake *awsfake.Fake) {
	fake.AddHostedZone(zoneID, "example.com")
	fake.AddDBInstance(primary, "orders-db")
	fake.AddDBReplica(dr, "orders-replica", replicaOf)
	fake.AddGlobalCluster("orders-global", eastARN, westARN)
	fake.AddEC2Instance(dr, web1, "stopped")
	fake.AddAutoScalingGroup(dr, "web", 1, 10, 1)
}

func TestRoute53UpsertWaitAndGet(t *testing.T) {
	ctx := context.Background()
	fake, f := newFailover(t)
	fake.AddHostedZone(zoneID, "example.com")

	if _, err := f.GetRecord(ctx, zoneID, "db.example.com", "CNAME"); !errors.Is(err, lbaws.ErrNotFound) {
		t.Fatalf("get before upsert: %v, want ErrNotFound", err)
	}
	rec := lbaws.Record{Name: "db.example.com", Type: "CNAME", TTL: 60, Values: []string{"orders-db.c0ffee123456.us-east-1.rds.amazonaws.com"}}
	id := must[string](t)(f.UpsertRecord(ctx, zoneID, rec))
	if !strings.HasPrefix(id, "/change/C") {
		t.Errorf("change id %q does not look like Route 53's", id)
	}
	before := fake.CountCalls("route53", "GetChange")
	if err := f.WaitChange(ctx, id, poll); err != nil {
		t.Fatal(err)
	}
	// The fake reports PENDING until the DefaultReadyAfter-th GetChange.
	if n := fake.CountCalls("route53", "GetChange") - before; n != awsfake.DefaultReadyAfter {
		t.Errorf("INSYNC after %d GetChange calls, want %d", n, awsfake.DefaultReadyAfter)
	}
	got := must[lbaws.Record](t)(f.GetRecord(ctx, zoneID, "db.example.com", "CNAME"))
	want := rec
	want.Name = "db.example.com."
	if !reflect.DeepEqual(got, want) {
		t.Errorf("record = %+v, want %+v", got, want)
	}

	// Fail over to the replica, as a retried activity would: twice.
	rec.Values = []string{"orders-replica.c0ffee123456.us-west-2.rds.amazonaws.com"}
	for range 2 {
		id := must[string](t)(f.UpsertRecord(ctx, zoneID, rec))
		if err := f.WaitChange(ctx, id, poll); err != nil {
			t.Fatal(err)
		}
	}
	got = must[lbaws.Record](t)(f.GetRecord(ctx, zoneID, "DB.example.com.", "CNAME"))
	if !slices.Equal(got.Values, rec.Values) || got.TTL != 60 {
		t.Errorf("after failover the record is %+v, want values %v", got, rec.Values)
	}
	if held, ok := fake.RecordValues(zoneID, "db.example.com", "CNAME", ""); !ok || !slices.Equal(held, rec.Values) {
		t.Errorf("the zone holds %v (%v), want %v", held, ok, rec.Values)
	}
	for _, c := range fake.Calls() {
		if c.Service != "route53" || c.Region != "us-east-1" {
			t.Errorf("call %+v: Route 53 is called in us-east-1 only", c)
		}
	}
}

func TestGetRecordComparesNameAndType(t *testing.T) {
	ctx := context.Background()
	fake, f := newFailover(t)
	fake.AddHostedZone(zoneID, "example.com")
	for _, rec := range []lbaws.Record{
		{Name: "db.example.com", Type: "CNAME", TTL: 60, Values: []string{"orders.example.net"}},
		{Name: "*.example.com", Type: "A", TTL: 300, Values: []string{"192.0.2.10", "192.0.2.11"}},
		{Name: "v6.example.com", Type: "AAAA", TTL: 300, Values: []string{"2001:db8::1"}},
		{Name: "api.example.com", Type: "A", TTL: 30, Values: []string{"192.0.2.20"}, SetIdentifier: "primary", Weight: 100},
		{Name: "api.example.com", Type: "A", TTL: 30, Values: []string{"198.51.100.20"}, SetIdentifier: "dr", Weight: 0},
	} {
		must[string](t)(f.UpsertRecord(ctx, zoneID, rec))
	}
	tests := []struct {
		name, recName, recType string
		want                   *lbaws.Record // nil: ErrNotFound
	}{
		{"cname", "db.example.com", "CNAME",
			&lbaws.Record{Name: "db.example.com.", Type: "CNAME", TTL: 60, Values: []string{"orders.example.net"}}},
		{"wildcard, escaped by Route 53", "*.example.com", "A",
			&lbaws.Record{Name: "*.example.com.", Type: "A", TTL: 300, Values: []string{"192.0.2.10", "192.0.2.11"}}},
		{"aaaa", "v6.example.com.", "AAAA",
			&lbaws.Record{Name: "v6.example.com.", Type: "AAAA", TTL: 300, Values: []string{"2001:db8::1"}}},
		{"weighted: the first set listed", "api.example.com", "A",
			&lbaws.Record{Name: "api.example.com.", Type: "A", TTL: 30, Values: []string{"198.51.100.20"}, SetIdentifier: "dr", Weight: 0}},
		{"apex NS", "example.com", "NS",
			&lbaws.Record{Name: "example.com.", Type: "NS", TTL: 172800, Values: []string{
				"ns-1.awsdns-01.org.", "ns-2.awsdns-02.co.uk.", "ns-3.awsdns-03.com.", "ns-4.awsdns-04.net."}}},
		{"same name, other type listed next", "db.example.com", "A", nil},
		{"apex without an A record (NS listed next)", "example.com", "A", nil},
		{"other name listed next", "app.example.com", "A", nil},
		{"other name of the same type listed next", "ap.example.com", "A", nil}, // api.example.com A
		{"nothing listed after it", "zz.example.com", "A", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.GetRecord(ctx, zoneID, tt.recName, tt.recType)
			if tt.want == nil {
				if !errors.Is(err, lbaws.ErrNotFound) || !strings.Contains(err.Error(), "no such record") {
					t.Errorf("got %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, *tt.want) {
				t.Errorf("got %+v, want %+v", got, *tt.want)
			}
		})
	}
	if held, ok := fake.RecordValues(zoneID, "api.example.com", "A", "primary"); !ok || !slices.Equal(held, []string{"192.0.2.20"}) {
		t.Errorf("weighted set primary holds %v (%v)", held, ok)
	}
}

func TestPromoteReadReplica(t *testing.T) {
	ctx := context.Background()
	fake, f := newFailover(t)
	seed(fake)

	inst := must[lbaws.Instance](t)(f.WaitInstanceAvailable(ctx, dr, "orders-replica", poll))
	if inst.ReplicaSource != replicaOf {
		t.Fatalf("before promotion the replica's source is %q, want %q", inst.ReplicaSource, replicaOf)
	}
	already := must[bool](t)(f.PromoteReadReplica(ctx, dr, "orders-replica"))
	if already {
		t.Error("the first promotion reported the replica already promoted")
	}

	// A retry while the promotion runs is refused for now, and says so retryably.
	before := len(fake.Calls())
	_, err := f.PromoteReadReplica(ctx, dr, "orders-replica")
	if code := apiCode(err); code != "InvalidDBInstanceState" || lbaws.IsPermanent(err) {
		t.Errorf("promote during promotion: %v (code %q), want a retryable InvalidDBInstanceState", err, code)
	}
	wantCalls := []awsfake.Call{
		{Region: dr, Service: "rds", Action: "PromoteReadReplica"},
		{Region: dr, Service: "rds", Action: "DescribeDBInstances"}, // still a replica?
	}
	if got := fake.Calls()[before:]; !slices.Equal(got, wantCalls) {
		t.Errorf("retry made calls %v, want %v", got, wantCalls)
	}

	inst = must[lbaws.Instance](t)(f.WaitInstanceAvailable(ctx, dr, "orders-replica", poll))
	want := lbaws.Instance{
		ID:      "orders-replica",
		ARN:     "arn:aws:rds:us-west-2:123456789012:db:orders-replica",
		Region:  dr,
		Status:  "available",
		Engine:  "postgres",
		Address: "orders-replica.c0ffee123456.us-west-2.rds.amazonaws.com",
		Port:    5432,
	}
	if inst != want {
		t.Errorf("promoted instance = %+v, want %+v", inst, want)
	}

	for _, tt := range []struct {
		name, region, id, inject string
	}{
		{"promoted replica", dr, "orders-replica", ""},
		{"instance that never was a replica", primary, "orders-db", ""},
		{"state error worded otherwise, describe shows no source", primary, "orders-db", "InvalidDBInstanceState"},
	} {
		if tt.inject != "" {
			fake.FailNext("PromoteReadReplica", tt.inject)
		}
		already, err := f.PromoteReadReplica(ctx, tt.region, tt.id)
		if err != nil || !already {
			t.Errorf("%s: promote = %v, %v; want already promoted", tt.name, already, err)
		}
	}
	if n := fake.CountCalls("rds", "PromoteReadReplica"); n != 5 {
		t.Errorf("%d PromoteReadReplica calls, want 5", n)
	}
}

func TestGlobalClusterFailover(t *testing.T) {
	ctx := context.Background()
	fake, f := newFailover(t)
	fake.AddGlobalCluster("orders-global", eastARN, westARN)

	steps := []struct {
		name      string
		do        func() error
		wantCalls []awsfake.Call
	}{
		{
			name: "fail over to the west",
			do:   func() error { return f.FailoverGlobalCluster(ctx, "orders-global", westARN) },
			wantCalls: []awsfake.Call{
				{Region: dr, Service: "rds", Action: "DescribeGlobalClusters"},
				{Region: dr, Service: "rds", Action: "FailoverGlobalCluster"},
			},
		},
		{
			name:      "again while it runs",
			do:        func() error { return f.FailoverGlobalCluster(ctx, "orders-global", westARN) },
			wantCalls: []awsfake.Call{{Region: dr, Service: "rds", Action: "DescribeGlobalClusters"}},
		},
		{
			name: "wait",
			do: func() error {
				g, err := f.WaitGlobalClusterAvailable(ctx, "orders-global", westARN, poll)
				want := lbaws.GlobalCluster{
					ID: "orders-global", ARN: "arn:aws:rds::123456789012:global-cluster:orders-global",
					Status: "available", Writer: westARN, Members: []string{eastARN, westARN},
				}
				if err == nil && !reflect.DeepEqual(g, want) {
					t.Errorf("after the wait: %+v, want %+v", g, want)
				}
				return err
			},
		},
		{
			name:      "again once done",
			do:        func() error { return f.FailoverGlobalCluster(ctx, "orders-global", westARN) },
			wantCalls: []awsfake.Call{{Region: dr, Service: "rds", Action: "DescribeGlobalClusters"}},
		},
		{
			name: "switch back to the east",
			do:   func() error { return f.SwitchoverGlobalCluster(ctx, "orders-global", eastARN) },
			wantCalls: []awsfake.Call{
				{Region: primary, Service: "rds", Action: "DescribeGlobalClusters"},
				{Region: primary, Service: "rds", Action: "FailoverGlobalCluster"},
			},
		},
		{
			name: "wait for the east",
			do: func() error {
				g, err := f.WaitGlobalClusterAvailable(ctx, "orders-global", eastARN, poll)
				if err == nil && (g.Writer != eastARN || g.FailoverTo != "") {
					t.Errorf("after the switchover: %+v", g)
				}
				return err
			},
		},
	}
	for _, st := range steps {
		before := len(fake.Calls())
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := fake.Calls()[before:]; st.wantCalls != nil && !slices.Equal(got, st.wantCalls) {
			t.Errorf("%s: calls %v, want %v", st.name, got, st.wantCalls)
		}
	}
}

func TestGlobalFailoverAllowsDataLossAndSwitchoverDoesNot(t *testing.T) {
	fake, f := newFailover(t)
	fake.SetTransitionAfter(1_000_000)
	fake.AddGlobalCluster("orders-global", eastARN, westARN)
	fake.AddGlobalCluster("drill-global", eastARN, westARN)
	tests := []struct {
		name, global string
		move         func(context.Context, string, string) error
		wantStatus   string
		wantDataLoss bool
	}{
		{"failover", "orders-global", f.FailoverGlobalCluster, "failing-over", true},
		{"switchover", "drill-global", f.SwitchoverGlobalCluster, "switching-over", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.move(context.Background(), tt.global, westARN); err != nil {
				t.Fatal(err)
			}
			// The wait ends when its context does: once it has seen the cluster twice, in progress.
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			before := len(fake.Calls())
			go func() {
				for ctx.Err() == nil {
					described := 0
					for _, c := range fake.Calls()[before:] {
						if c.Action == "DescribeGlobalClusters" {
							described++
						}
					}
					if described >= 2 {
						cancel(context.DeadlineExceeded)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			g, err := f.WaitGlobalClusterAvailable(ctx, tt.global, westARN, 5*time.Millisecond)
			if ctx.Err() == nil || lbaws.IsPermanent(err) || err == nil {
				t.Errorf("wait: %v, want a retryable error once its context ended", err)
			}
			if g.Status != tt.wantStatus || g.FailoverTo != westARN || g.Writer != eastARN || g.DataLossAllowed != tt.wantDataLoss {
				t.Errorf("in progress: %+v, want status %q to %s with data loss %v", g, tt.wantStatus, westARN, tt.wantDataLoss)
			}
		})
	}
}

func TestEC2StopAndStart(t *testing.T) {
	ctx := context.Background()
	fake, f := newFailover(t)
	fake.AddEC2Instance(dr, web1, "running")
	fake.AddEC2Instance(dr, web2, "running")
	ids := []string{web2, web1, web2}

	steps := []struct {
		name          string
		act           func(context.Context, string, []string) error // nil: only wait
		state         string
		wantDescribes int
	}{
		{"stop", f.StopInstances, lbaws.StateStopped, awsfake.DefaultReadyAfter},
		{"stop again", f.StopInstances, lbaws.StateStopped, 1},
		{"start", f.StartInstances, lbaws.StateRunning, awsfake.DefaultReadyAfter},
		{"start again", f.StartInstances, lbaws.StateRunning, 1},
	}
	for _, st := range steps {
		if err := st.act(ctx, dr, ids); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		before := fake.CountCalls("ec2", "DescribeInstances")
		if err := f.WaitInstancesState(ctx, dr, ids, st.state, poll); err != nil {
			t.Fatalf("%s: wait: %v", st.name, err)
		}
		if n := fake.CountCalls("ec2", "DescribeInstances") - before; n != st.wantDescribes {
			t.Errorf("%s: %s after %d describes, want %d", st.name, st.state, n, st.wantDescribes)
		}
	}
	for _, c := range fake.Calls() {
		if c.Region != dr || c.Service != "ec2" {
			t.Errorf("call %+v, want only EC2 in %s", c, dr)
		}
	}
}

func TestAutoScalingCapacity(t *testing.T) {
	ctx := context.Background()
	fake, f := newFailover(t)
	fake.AddAutoScalingGroup(dr, "web", 0, 10, 0) // pilot light: scaled to zero

	if err := f.SetDesiredCapacity(ctx, dr, "web", 4); err != nil {
		t.Fatal(err)
	}
	// Raised again while instances launch: without HonorCooldown this is not refused.
	if err := f.SetDesiredCapacity(ctx, dr, "web", 6); err != nil {
		t.Fatalf("raising capacity during a scaling activity: %v", err)
	}
	if err := f.WaitGroupCapacity(ctx, dr, "web", 6, poll); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int32{2, 2, 10} { // scale in, the same again, out to the maximum
		if err := f.SetDesiredCapacity(ctx, dr, "web", n); err != nil {
			t.Fatal(err)
		}
		if err := f.WaitGroupCapacity(ctx, dr, "web", n, poll); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.CountCalls("autoscaling", "SetDesiredCapacity"); n != 5 {
		t.Errorf("%d SetDesiredCapacity calls, want 5", n)
	}
}

func TestFailoverErrorsAreClassified(t *testing.T) {
	ctx := context.Background()
	upsert := func(zone, name, typ string, values ...string) func(*lbaws.Failover) error {
		return func(f *lbaws.Failover) error {
			_, err := f.UpsertRecord(ctx, zone, lbaws.Record{Name: name, Type: typ, TTL: 60, Values: values})
			return err
		}
	}
	promote := func(region, id string) func(*lbaws.Failover) error {
		return func(f *lbaws.Failover) error { _, err := f.PromoteReadReplica(ctx, region, id); return err }
	}
	tests := []struct {
		name          string
		setup         func(*awsfake.Fake)
		fail          [2]string // action and error code to inject, if any
		secret        string    // when set, the client signs with it
		call          func(*lbaws.Failover) error
		wantCode      string // AWS error code in the chain, "" for none
		wantIs        error  // a sentinel the error wraps, if any
		wantPermanent bool
		wantPrefix    string
		wantInMessage string
		wantNoCall    string // an action that must not have been sent, "*" for none at all
	}{
		// Route 53
		{
			name: "unknown hosted zone", call: upsert("ZNOPE", "db.example.com", "A", "192.0.2.1"),
			wantCode: "NoSuchHostedZone", wantPermanent: true,
			wantPrefix: `route53: upsert A record "db.example.com" in zone "ZNOPE": `,
		},
		{
			name:     "unknown hosted zone on get",
			call:     func(f *lbaws.Failover) error { _, err := f.GetRecord(ctx, "ZNOPE", "db.example.com", "A"); return err },
			wantCode: "NoSuchHostedZone", wantPermanent: true,
			wantPrefix: `route53: get A record "db.example.com" in zone "ZNOPE": `,
		},
		{
			name: "record outside the zone", call: upsert(zoneID, "db.example.org", "A", "192.0.2.1"),
			wantCode: "InvalidChangeBatch", wantPermanent: true, wantInMessage: "not permitted in zone example.com.",
		},
		{
			name: "A record where a CNAME is",
			call: func(f *lbaws.Failover) error {
				if err := upsert(zoneID, "db.example.com", "CNAME", "orders.example.net")(f); err != nil {
					return err
				}
				return upsert(zoneID, "db.example.com", "A", "192.0.2.1")(f)
			},
			wantCode: "InvalidChangeBatch", wantPermanent: true, wantInMessage: "conflicting RRSet of type CNAME",
		},
		{
			name: "invalid records are refused before sending", call: upsert(zoneID, "db.example.com", "A", "db.internal", "::1"),
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "*",
			wantInMessage: `value "db.internal" is not an IPv4 address`,
		},
		{
			name: "unsupported record type", call: upsert(zoneID, "db.example.com", "MX", "10 mail.example.com"),
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "*",
		},
		{
			name: "unknown change", call: func(f *lbaws.Failover) error { return f.WaitChange(ctx, "/change/CNOPE", poll) },
			wantCode: "NoSuchChange", wantPermanent: true, wantPrefix: `route53: wait for change "/change/CNOPE": `,
		},
		{
			name: "route53 throttled", fail: [2]string{"ChangeResourceRecordSets", "Throttling"},
			call:     upsert(zoneID, "db.example.com", "A", "192.0.2.1"),
			wantCode: "Throttling", wantPermanent: false,
		},
		{
			name: "prior request not complete", fail: [2]string{"ChangeResourceRecordSets", "PriorRequestNotComplete"},
			call:     upsert(zoneID, "db.example.com", "A", "192.0.2.1"),
			wantCode: "PriorRequestNotComplete", wantPermanent: false,
		},
		{
			name: "route53 internal error while waiting", fail: [2]string{"GetChange", "InternalError"},
			call: func(f *lbaws.Failover) error {
				id, err := f.UpsertRecord(ctx, zoneID, lbaws.Record{Name: "db.example.com", Type: "A", TTL: 60, Values: []string{"192.0.2.1"}})
				if err != nil {
					return err
				}
				return f.WaitChange(ctx, id, poll)
			},
			wantCode: "InternalError", wantPermanent: false,
		},
		{
			name: "route53 access denied", fail: [2]string{"ListResourceRecordSets", "AccessDenied"},
			call:     func(f *lbaws.Failover) error { _, err := f.GetRecord(ctx, zoneID, "db.example.com", "A"); return err },
			wantCode: "AccessDenied", wantPermanent: true,
		},
		{
			name: "route53 wrong secret", secret: "not-the-secret",
			call:     upsert(zoneID, "db.example.com", "A", "192.0.2.1"),
			wantCode: "SignatureDoesNotMatch", wantPermanent: true,
		},
		// RDS
		{
			name: "unknown db instance", call: promote(dr, "ghost-db"),
			wantCode: "DBInstanceNotFound", wantPermanent: true,
			wantPrefix: `rds: promote read replica "ghost-db" in us-west-2: `,
		},
		{
			name: "rds throttled", fail: [2]string{"PromoteReadReplica", "Throttling"}, call: promote(dr, "orders-replica"),
			wantCode: "Throttling", wantPermanent: false,
		},
		{
			name: "replica in another state", fail: [2]string{"PromoteReadReplica", "InvalidDBInstanceState"},
			call:     promote(dr, "orders-replica"),
			wantCode: "InvalidDBInstanceState", wantPermanent: false,
		},
		{
			name: "wait for an unknown instance",
			call: func(f *lbaws.Failover) error {
				_, err := f.WaitInstanceAvailable(ctx, dr, "ghost-db", poll)
				return err
			},
			wantCode: "DBInstanceNotFound", wantPermanent: true,
		},
		{
			name: "bad region", call: promote("Oregon", "orders-replica"),
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "*",
		},
		{
			name:     "unknown global cluster",
			call:     func(f *lbaws.Failover) error { return f.FailoverGlobalCluster(ctx, "ghost-global", westARN) },
			wantCode: "GlobalClusterNotFoundFault", wantPermanent: true,
			wantPrefix: `rds: fail over global cluster "ghost-global" to "` + westARN + `": `,
		},
		{
			name: "target not a member",
			call: func(f *lbaws.Failover) error {
				return f.FailoverGlobalCluster(ctx, "orders-global", "arn:aws:rds:eu-west-1:123456789012:cluster:orders-eu")
			},
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "FailoverGlobalCluster",
			wantInMessage: "not a member of the global cluster",
		},
		{
			name:   "target not a cluster ARN",
			call:   func(f *lbaws.Failover) error { return f.FailoverGlobalCluster(ctx, "orders-global", "orders-west") },
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "*",
		},
		{
			name: "global cluster busy", fail: [2]string{"FailoverGlobalCluster", "InvalidGlobalClusterStateFault"},
			call:     func(f *lbaws.Failover) error { return f.FailoverGlobalCluster(ctx, "orders-global", westARN) },
			wantCode: "InvalidGlobalClusterStateFault", wantPermanent: false,
		},
		// EC2
		{
			name: "unknown instance", call: func(f *lbaws.Failover) error { return f.StartInstances(ctx, dr, []string{"i-0000000000000dead"}) },
			wantCode: "InvalidInstanceID.NotFound", wantPermanent: true,
			wantPrefix: `ec2: start instances ["i-0000000000000dead"] in us-west-2: `,
		},
		{
			name: "not an instance id", call: func(f *lbaws.Failover) error { return f.StopInstances(ctx, dr, []string{"web-1"}) },
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "*",
		},
		{
			name: "no instances", call: func(f *lbaws.Failover) error { return f.StopInstances(ctx, dr, nil) },
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "*",
		},
		{
			name: "ec2 throttled", fail: [2]string{"StartInstances", "RequestLimitExceeded"},
			call:     func(f *lbaws.Failover) error { return f.StartInstances(ctx, dr, []string{web1}) },
			wantCode: "RequestLimitExceeded", wantPermanent: false,
		},
		{
			name:     "start while stopping",
			setup:    func(fake *awsfake.Fake) { fake.AddEC2Instance(dr, web2, "stopping") },
			call:     func(f *lbaws.Failover) error { return f.StartInstances(ctx, dr, []string{web1, web2}) },
			wantCode: "IncorrectInstanceState", wantPermanent: false,
		},
		{
			name:   "wait for an unknown state",
			call:   func(f *lbaws.Failover) error { return f.WaitInstancesState(ctx, dr, []string{web1}, "paused", poll) },
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "*",
		},
		{
			name:  "wait for a terminated instance to run",
			setup: func(fake *awsfake.Fake) { fake.AddEC2Instance(dr, web2, "terminated") },
			call: func(f *lbaws.Failover) error {
				return f.WaitInstancesState(ctx, dr, []string{web2}, lbaws.StateRunning, poll)
			},
			wantIs: lbaws.ErrFailed, wantPermanent: true, wantInMessage: "instance " + web2 + " is terminated",
		},
		// Auto Scaling
		{
			name: "capacity above the maximum", call: func(f *lbaws.Failover) error { return f.SetDesiredCapacity(ctx, dr, "web", 11) },
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "SetDesiredCapacity",
			wantPrefix:    `autoscaling: set desired capacity of group "web" in us-west-2 to 11: `,
			wantInMessage: "11 is outside the group's bounds: min 1, max 10",
		},
		{
			name: "capacity below the minimum", call: func(f *lbaws.Failover) error { return f.SetDesiredCapacity(ctx, dr, "web", 0) },
			wantIs: lbaws.ErrInvalid, wantPermanent: true, wantNoCall: "SetDesiredCapacity",
			wantInMessage: "min 1, max 10",
		},
		{
			name: "unknown group", call: func(f *lbaws.Failover) error { return f.SetDesiredCapacity(ctx, dr, "ghost", 1) },
			wantIs: lbaws.ErrNotFound, wantPermanent: true, wantNoCall: "SetDesiredCapacity",
		},
		{
			name: "wait for an unknown group", call: func(f *lbaws.Failover) error { return f.WaitGroupCapacity(ctx, dr, "ghost", 1, poll) },
			wantIs: lbaws.ErrNotFound, wantPermanent: true,
		},
		{
			name: "autoscaling throttled", fail: [2]string{"SetDesiredCapacity", "Throttling"},
			call:     func(f *lbaws.Failover) error { return f.SetDesiredCapacity(ctx, dr, "web", 3) },
			wantCode: "Throttling", wantPermanent: false,
		},
		{
			name: "autoscaling contention", fail: [2]string{"DescribeAutoScalingGroups", "ResourceContention"},
			call:     func(f *lbaws.Failover) error { return f.WaitGroupCapacity(ctx, dr, "web", 1, poll) },
			wantCode: "ResourceContention", wantPermanent: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := awsfake.New(t)
			seed(fake)
			if tt.setup != nil {
				tt.setup(fake)
			}
			secret := awsfake.SecretAccessKey
			if tt.secret != "" {
				secret = tt.secret
			}
			f := failoverClient(t, fake, secret, 1)
			if tt.fail[0] != "" {
				fake.FailNext(tt.fail[0], tt.fail[1])
			}
			err := tt.call(f)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if code := apiCode(err); code != tt.wantCode {
				t.Errorf("error code %q, want %q (%v)", code, tt.wantCode, err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			if got := lbaws.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tt.wantPermanent, err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantPrefix) {
				t.Errorf("error %q does not start with %q", err, tt.wantPrefix)
			}
			if !strings.Contains(err.Error(), tt.wantInMessage) {
				t.Errorf("error %q does not say %q", err, tt.wantInMessage)
			}
			for _, c := range fake.Calls() {
				if tt.wantNoCall == "*" || c.Action == tt.wantNoCall {
					t.Errorf("made call %+v", c)
				}
			}
		})
	}
}

func TestSDKRetriesFailoverThrottling(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		service, action, code string
		call                  func(*lbaws.Failover) error
	}{
		{"route53", "ChangeResourceRecordSets", "Throttling", func(f *lbaws.Failover) error {
			_, err := f.UpsertRecord(ctx, zoneID, lbaws.Record{Name: "db.example.com", Type: "A", TTL: 60, Values: []string{"192.0.2.1"}})
			return err
		}},
		{"rds", "PromoteReadReplica", "Throttling", func(f *lbaws.Failover) error {
			_, err := f.PromoteReadReplica(ctx, dr, "orders-replica")
			return err
		}},
		{"ec2", "StartInstances", "RequestLimitExceeded", func(f *lbaws.Failover) error {
			return f.StartInstances(ctx, dr, []string{web1})
		}},
		{"autoscaling", "DescribeAutoScalingGroups", "Throttling", func(f *lbaws.Failover) error {
			return f.SetDesiredCapacity(ctx, dr, "web", 2)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			fake := awsfake.New(t)
			seed(fake)
			f := failoverClient(t, fake, awsfake.SecretAccessKey, 0)
			fake.FailNext(tt.action, tt.code)
			if err := tt.call(f); err != nil {
				t.Fatal(err)
			}
			if n := fake.CountCalls(tt.service, tt.action); n != 2 {
				t.Errorf("%s sent %d times, want 2", tt.action, n)
			}
		})
	}
}

func TestFailoverWaitsHonourContext(t *testing.T) {
	tests := []struct {
		name            string
		service, action string // the wait's describe call
		start           func(context.Context, *lbaws.Failover) error
		wait            func(context.Context, *lbaws.Failover, time.Duration) error
		wantInMessage   string // the state the wait was left in
	}{
		{
			name: "route53 change", service: "route53", action: "GetChange",
			wait: func(ctx context.Context, f *lbaws.Failover, poll time.Duration) error {
				id, err := f.UpsertRecord(context.Background(), zoneID, lbaws.Record{Name: "db.example.com", Type: "A", TTL: 60, Values: []string{"192.0.2.1"}})
				if err != nil {
					return err
				}
				return f.WaitChange(ctx, id, poll)
			},
			wantInMessage: "(status PENDING)",
		},
		{
			name: "promoted replica", service: "rds", action: "DescribeDBInstances",
			start: func(ctx context.Context, f *lbaws.Failover) error {
				_, err := f.PromoteReadReplica(ctx, dr, "orders-replica")
				return err
			},
			wait: func(ctx context.Context, f *lbaws.Failover, poll time.Duration) error {
				_, err := f.WaitInstanceAvailable(ctx, dr, "orders-replica", poll)
				return err
			},
			wantInMessage: `status "modifying"`,
		},
		{
			name: "global cluster", service: "rds", action: "DescribeGlobalClusters",
			start: func(ctx context.Context, f *lbaws.Failover) error {
				return f.FailoverGlobalCluster(ctx, "orders-global", westARN)
			},
			wait: func(ctx context.Context, f *lbaws.Failover, poll time.Duration) error {
				_, err := f.WaitGlobalClusterAvailable(ctx, "orders-global", westARN, poll)
				return err
			},
			wantInMessage: `status "failing-over"`,
		},
		{
			name: "ec2 instances", service: "ec2", action: "DescribeInstances",
			start: func(ctx context.Context, f *lbaws.Failover) error { return f.StartInstances(ctx, dr, []string{web1}) },
			wait: func(ctx context.Context, f *lbaws.Failover, poll time.Duration) error {
				return f.WaitInstancesState(ctx, dr, []string{web1}, lbaws.StateRunning, poll)
			},
			wantInMessage: "(" + web1 + " is pending)",
		},
		{
			name: "auto scaling group", service: "autoscaling", action: "DescribeAutoScalingGroups",
			start: func(ctx context.Context, f *lbaws.Failover) error { return f.SetDesiredCapacity(ctx, dr, "web", 3) },
			wait: func(ctx context.Context, f *lbaws.Failover, poll time.Duration) error {
				return f.WaitGroupCapacity(ctx, dr, "web", 3, poll)
			},
			wantInMessage: "(1 of 3 instances in service)",
		},
	}
	for _, tt := range tests {
		setup := func(t *testing.T) (*awsfake.Fake, *lbaws.Failover) {
			fake, f := newFailover(t)
			seed(fake)
			fake.SetTransitionAfter(1_000_000)
			if tt.start != nil {
				if err := tt.start(context.Background(), f); err != nil {
					t.Fatal(err)
				}
			}
			return fake, f
		}
		t.Run(tt.name+" deadline", func(t *testing.T) {
			_, f := setup(t)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tt.wait(ctx, f, 5*time.Millisecond)
			if !errors.Is(err, context.DeadlineExceeded) || lbaws.IsPermanent(err) {
				t.Errorf("err = %v, want a retryable context.DeadlineExceeded", err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantInMessage) {
				t.Errorf("error %q does not say %q", err, tt.wantInMessage)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("wait returned %v after it began", d)
			}
		})
		t.Run(tt.name+" cancelled", func(t *testing.T) {
			fake, f := setup(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			before := fake.CountCalls(tt.service, tt.action)
			go func() {
				// Cancel once the wait has polled and gone to sleep for an hour.
				for fake.CountCalls(tt.service, tt.action) == before {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(10 * time.Millisecond)
				cancel()
			}()
			start := time.Now()
			err := tt.wait(ctx, f, time.Hour)
			if !errors.Is(err, context.Canceled) || lbaws.IsPermanent(err) {
				t.Errorf("err = %v, want a retryable context.Canceled", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("wait returned %v after it began", d)
			}
		})
	}
}

// apiCode returns the AWS error code in err's chain, or "".
func apiCode(err error) string {
	if apiErr, ok := errors.AsType[smithy.APIError](err); ok {
		return apiErr.ErrorCode()
	}
	return ""
}
