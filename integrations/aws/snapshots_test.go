package aws_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	lbaws "github.com/lifeboat-dr/lifeboat/integrations/aws"
	"github.com/lifeboat-dr/lifeboat/testsuite/awsfake"
)

const (
	primary = "us-east-1"
	dr      = "us-west-2"
	poll    = time.Millisecond
)

// fakeStart is the fake's clock when it starts; every snapshot it makes is a second later than
// the one before.
var fakeStart = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// newSnapshots starts a fake and returns a client for it that does not retry, so injected
// errors surface.
func newSnapshots(t *testing.T) (*awsfake.Fake, *lbaws.Snapshots) {
	t.Helper()
	fake := awsfake.New(t)
	return fake, client(t, fake, awsfake.SecretAccessKey, 1)
}

func client(t *testing.T, fake *awsfake.Fake, secret string, attempts int) *lbaws.Snapshots {
	t.Helper()
	// Keep the developer's own AWS configuration out of the test.
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	s, err := lbaws.New(context.Background(), lbaws.Config{
		Endpoint:        fake.URL,
		AccessKeyID:     awsfake.AccessKeyID,
		SecretAccessKey: secret,
		MaxAttempts:     attempts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestRDSSnapshotLifecycle(t *testing.T) {
	ctx := context.Background()
	fake, s := newSnapshots(t)
	fake.AddDBInstance(primary, "orders-db")

	snap := must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(ctx, primary, "orders-db", "orders-20300102", map[string]string{"plan": "orders"}))
	want := lbaws.Snapshot{
		ID:        "orders-20300102",
		ARN:       "arn:aws:rds:us-east-1:123456789012:snapshot:orders-20300102",
		Region:    primary,
		Source:    "orders-db",
		Status:    lbaws.StatusCreating,
		RawStatus: "creating",
		Created:   fakeStart,
		SizeGiB:   awsfake.DBInstanceGiB,
		Tags:      map[string]string{"plan": "orders"},
	}
	assertSnapshot(t, "created", snap, want)

	var seen []string
	snap = must[lbaws.Snapshot](t)(s.WaitRDSSnapshot(ctx, primary, snap.ID, poll, func(p lbaws.Snapshot) {
		seen = append(seen, p.Status+"@"+itoa(p.Progress))
	}))
	if want := []string{"creating@50", "available@100"}; !slices.Equal(seen, want) {
		t.Errorf("progress seen %v, want %v", seen, want)
	}
	want.Status, want.RawStatus, want.Progress = lbaws.StatusAvailable, "available", 100
	assertSnapshot(t, "waited", snap, want)

	before := len(fake.Calls())
	cp := must[lbaws.Snapshot](t)(s.CopyRDSSnapshot(ctx, primary, snap.ID, dr, "orders-20300102-dr", "alias/lifeboat-dr", map[string]string{"plan": "orders", "copy": "dr"}))
	assertSnapshot(t, "copy", cp, lbaws.Snapshot{
		ID:         "orders-20300102-dr",
		ARN:        "arn:aws:rds:us-west-2:123456789012:snapshot:orders-20300102-dr",
		Region:     dr,
		Source:     "orders-db",
		Status:     lbaws.StatusCreating,
		RawStatus:  "copying",
		Created:    fakeStart.Add(time.Second),
		SizeGiB:    awsfake.DBInstanceGiB,
		Tags:       map[string]string{"plan": "orders", "copy": "dr"},
		CopiedFrom: snap.ARN,
	})
	wantCalls := []awsfake.Call{
		{Region: primary, Service: "rds", Action: "DescribeDBSnapshots"}, // the source's ARN
		{Region: dr, Service: "rds", Action: "CopyDBSnapshot"},
	}
	if got := fake.Calls()[before:]; !slices.Equal(got, wantCalls) {
		t.Errorf("copy made calls %v, want %v", got, wantCalls)
	}
	cp = must[lbaws.Snapshot](t)(s.WaitRDSSnapshot(ctx, dr, cp.ID, poll, nil))
	if cp.Status != lbaws.StatusAvailable {
		t.Errorf("copy status after wait = %q", cp.Status)
	}

	list := must[[]lbaws.Snapshot](t)(s.ListRDSSnapshots(ctx, dr, "orders-db", nil))
	if got := ids(list); !slices.Equal(got, []string{"orders-20300102-dr"}) {
		t.Errorf("snapshots in %s = %v, want the copy", dr, got)
	}
	for tag, want := range map[string][]string{"orders": {"orders-20300102"}, "billing": nil} {
		list = must[[]lbaws.Snapshot](t)(s.ListRDSSnapshots(ctx, primary, "orders-db", map[string]string{"plan": tag}))
		if got := ids(list); !slices.Equal(got, want) {
			t.Errorf("snapshots in %s tagged plan=%s = %v, want %v", primary, tag, got, want)
		}
	}

	for _, x := range []lbaws.Snapshot{snap, cp} {
		if err := s.DeleteRDSSnapshot(ctx, x.Region, x.ID); err != nil {
			t.Fatal(err)
		}
		_, err := s.RDSSnapshot(ctx, x.Region, x.ID)
		if !errors.Is(err, lbaws.ErrNotFound) || !lbaws.IsPermanent(err) {
			t.Errorf("describe %s after delete: %v, want a permanent ErrNotFound", x.ID, err)
		}
		if err := s.DeleteRDSSnapshot(ctx, x.Region, x.ID); err != nil {
			t.Errorf("deleting %s again: %v, want nil", x.ID, err)
		}
	}
}

func TestEBSSnapshotLifecycle(t *testing.T) {
	ctx := context.Background()
	fake, s := newSnapshots(t)
	fake.AddVolume(primary, "vol-0a1b2c3d", 100)

	snap := must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(ctx, primary, "vol-0a1b2c3d", "plan-7/step-2", map[string]string{"plan": "orders"}))
	if !regexp.MustCompile(`^snap-[0-9a-f]{17}$`).MatchString(snap.ID) {
		t.Fatalf("snapshot id %q is not an EBS snapshot id", snap.ID)
	}
	want := lbaws.Snapshot{
		ID:        snap.ID,
		ARN:       "arn:aws:ec2:us-east-1::snapshot/" + snap.ID,
		Region:    primary,
		Source:    "vol-0a1b2c3d",
		Status:    lbaws.StatusCreating,
		RawStatus: "pending",
		Created:   fakeStart,
		SizeGiB:   100,
		Tags:      map[string]string{"plan": "orders", lbaws.TagToken: "plan-7/step-2"},
	}
	assertSnapshot(t, "created", snap, want)

	var seen []string
	snap = must[lbaws.Snapshot](t)(s.WaitEBSSnapshot(ctx, primary, snap.ID, poll, func(p lbaws.Snapshot) {
		seen = append(seen, p.RawStatus+"@"+itoa(p.Progress))
	}))
	if want := []string{"pending@50", "completed@100"}; !slices.Equal(seen, want) {
		t.Errorf("progress seen %v, want %v", seen, want)
	}
	want.Status, want.RawStatus, want.Progress = lbaws.StatusAvailable, "completed", 100
	assertSnapshot(t, "waited", snap, want)

	cp := must[lbaws.Snapshot](t)(s.CopyEBSSnapshot(ctx, primary, snap.ID, dr, "plan-7/step-3", map[string]string{"plan": "orders"}))
	if cp.ID == snap.ID || !strings.HasPrefix(cp.ID, "snap-") {
		t.Fatalf("copy id %q", cp.ID)
	}
	wantCopy := lbaws.Snapshot{
		ID:        cp.ID,
		ARN:       "arn:aws:ec2:us-west-2::snapshot/" + cp.ID,
		Region:    dr,
		Source:    "vol-0a1b2c3d",
		Status:    lbaws.StatusCreating,
		RawStatus: "pending",
		SizeGiB:   100,
		Tags: map[string]string{
			"plan":              "orders",
			lbaws.TagToken:      "plan-7/step-3",
			lbaws.TagCopiedFrom: snap.ARN,
			lbaws.TagVolume:     "vol-0a1b2c3d",
		},
		CopiedFrom: snap.ARN,
	}
	assertSnapshot(t, "copy", cp, wantCopy)
	if got := fake.Calls()[len(fake.Calls())-1]; got != (awsfake.Call{Region: dr, Service: "ec2", Action: "CopySnapshot"}) {
		t.Errorf("last call %v, want CopySnapshot in %s", got, dr)
	}

	cp = must[lbaws.Snapshot](t)(s.WaitEBSSnapshot(ctx, dr, cp.ID, poll, nil))
	wantCopy.Status, wantCopy.RawStatus, wantCopy.Progress = lbaws.StatusAvailable, "completed", 100
	wantCopy.Created = fakeStart.Add(time.Second)
	assertSnapshot(t, "copy after wait", cp, wantCopy)

	for region, want := range map[string]string{primary: snap.ID, dr: cp.ID} {
		list := must[[]lbaws.Snapshot](t)(s.ListEBSSnapshots(ctx, region, "vol-0a1b2c3d", map[string]string{"plan": "orders"}))
		if got := ids(list); !slices.Equal(got, []string{want}) {
			t.Errorf("snapshots of the volume in %s = %v, want [%s]", region, got, want)
		}
	}

	for _, x := range []lbaws.Snapshot{snap, cp} {
		if err := s.DeleteEBSSnapshot(ctx, x.Region, x.ID); err != nil {
			t.Fatal(err)
		}
		_, err := s.EBSSnapshot(ctx, x.Region, x.ID)
		if !errors.Is(err, lbaws.ErrNotFound) || !lbaws.IsPermanent(err) {
			t.Errorf("describe %s after delete: %v, want a permanent ErrNotFound", x.ID, err)
		}
		if err := s.DeleteEBSSnapshot(ctx, x.Region, x.ID); err != nil {
			t.Errorf("deleting %s again: %v, want nil", x.ID, err)
		}
	}
}

func TestCreateAndCopyAreIdempotent(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// twice runs the same call twice and returns both results and what a listing then finds.
		twice func(*testing.T, *lbaws.Snapshots) (first, second lbaws.Snapshot, listed []lbaws.Snapshot)
		// service and action are the call that must have been sent wantSent times.
		service, action string
		wantSent        int
	}{
		{
			name: "rds create with the same identifier",
			twice: func(t *testing.T, s *lbaws.Snapshots) (a, b lbaws.Snapshot, l []lbaws.Snapshot) {
				a = must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(ctx, primary, "orders-db", "nightly", nil))
				b = must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(ctx, primary, "orders-db", "nightly", nil))
				return a, b, must[[]lbaws.Snapshot](t)(s.ListRDSSnapshots(ctx, primary, "orders-db", nil))
			},
			service: "rds", action: "CreateDBSnapshot", wantSent: 2, // the second meets DBSnapshotAlreadyExists
		},
		{
			name: "rds copy with the same identifier",
			twice: func(t *testing.T, s *lbaws.Snapshots) (a, b lbaws.Snapshot, l []lbaws.Snapshot) {
				src := available(t, s.WaitRDSSnapshot)(s.CreateRDSSnapshot(ctx, primary, "orders-db", "nightly", nil))
				a = must[lbaws.Snapshot](t)(s.CopyRDSSnapshot(ctx, primary, src.ID, dr, "nightly-dr", "", nil))
				b = must[lbaws.Snapshot](t)(s.CopyRDSSnapshot(ctx, primary, src.ID, dr, "nightly-dr", "", nil))
				return a, b, must[[]lbaws.Snapshot](t)(s.ListRDSSnapshots(ctx, dr, "orders-db", nil))
			},
			service: "rds", action: "CopyDBSnapshot", wantSent: 2,
		},
		{
			name: "ebs create with the same token",
			twice: func(t *testing.T, s *lbaws.Snapshots) (a, b lbaws.Snapshot, l []lbaws.Snapshot) {
				a = must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "run-1", nil))
				b = must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "run-1", nil))
				return a, b, must[[]lbaws.Snapshot](t)(s.ListEBSSnapshots(ctx, primary, "vol-1", nil))
			},
			service: "ec2", action: "CreateSnapshot", wantSent: 1,
		},
		{
			name: "ebs copy with the same token",
			twice: func(t *testing.T, s *lbaws.Snapshots) (a, b lbaws.Snapshot, l []lbaws.Snapshot) {
				src := available(t, s.WaitEBSSnapshot)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "run-1", nil))
				a = must[lbaws.Snapshot](t)(s.CopyEBSSnapshot(ctx, primary, src.ID, dr, "run-1-copy", nil))
				b = must[lbaws.Snapshot](t)(s.CopyEBSSnapshot(ctx, primary, src.ID, dr, "run-1-copy", nil))
				return a, b, must[[]lbaws.Snapshot](t)(s.ListEBSSnapshots(ctx, dr, "vol-1", nil))
			},
			service: "ec2", action: "CopySnapshot", wantSent: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, s := newSnapshots(t)
			fake.AddDBInstance(primary, "orders-db")
			fake.AddVolume(primary, "vol-1", 8)
			first, second, listed := tt.twice(t, s)
			if first.ID == "" || second.ID != first.ID || second.ARN != first.ARN || second.Source != first.Source {
				t.Errorf("second call returned %s (%s of %s), first %s (%s of %s)",
					second.ID, second.ARN, second.Source, first.ID, first.ARN, first.Source)
			}
			if got := ids(listed); !slices.Equal(got, []string{first.ID}) {
				t.Errorf("listed %v, want only %s", got, first.ID)
			}
			if got := fake.CountCalls(tt.service, tt.action); got != tt.wantSent {
				t.Errorf("%s sent %d times, want %d", tt.action, got, tt.wantSent)
			}
		})
	}
}

func TestNewTokenOrIdentifierMakesAnotherSnapshot(t *testing.T) {
	ctx := context.Background()
	fake, s := newSnapshots(t)
	fake.AddVolume(primary, "vol-1", 8)
	a := must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "run-1", nil))
	b := must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "run-2", nil))
	if a.ID == b.ID {
		t.Fatalf("two tokens gave one snapshot %s", a.ID)
	}
	if got := ids(must[[]lbaws.Snapshot](t)(s.ListEBSSnapshots(ctx, primary, "vol-1", nil))); !slices.Equal(got, []string{a.ID, b.ID}) {
		t.Errorf("listed %v, want [%s %s]", got, a.ID, b.ID)
	}
}

func TestConflictsArePermanent(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(*testing.T, *lbaws.Snapshots) error
	}{
		{"rds identifier taken by another instance", func(t *testing.T, s *lbaws.Snapshots) error {
			must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(ctx, primary, "orders-db", "nightly", nil))
			_, err := s.CreateRDSSnapshot(ctx, primary, "billing-db", "nightly", nil)
			return err
		}},
		{"rds copy target taken by a snapshot of another source", func(t *testing.T, s *lbaws.Snapshots) error {
			src := available(t, s.WaitRDSSnapshot)(s.CreateRDSSnapshot(ctx, primary, "orders-db", "nightly", nil))
			must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(ctx, dr, "orders-db", "nightly-dr", nil))
			_, err := s.CopyRDSSnapshot(ctx, primary, src.ID, dr, "nightly-dr", "", nil)
			return err
		}},
		{"ebs copy token used for another source", func(t *testing.T, s *lbaws.Snapshots) error {
			a := available(t, s.WaitEBSSnapshot)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "run-1", nil))
			b := available(t, s.WaitEBSSnapshot)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "run-2", nil))
			must[lbaws.Snapshot](t)(s.CopyEBSSnapshot(ctx, primary, a.ID, dr, "copy", nil))
			_, err := s.CopyEBSSnapshot(ctx, primary, b.ID, dr, "copy", nil)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, s := newSnapshots(t)
			fake.AddDBInstance(primary, "orders-db")
			fake.AddDBInstance(primary, "billing-db")
			fake.AddDBInstance(dr, "orders-db")
			fake.AddVolume(primary, "vol-1", 8)
			err := tt.call(t, s)
			if !errors.Is(err, lbaws.ErrConflict) || !lbaws.IsPermanent(err) {
				t.Errorf("err = %v, want a permanent ErrConflict", err)
			}
		})
	}
}

func TestErrorsAreClassified(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		fail          [2]string // action and error code to inject, if any
		secret        string    // when set, the client signs with it
		call          func(*lbaws.Snapshots) error
		wantCode      string // AWS error code in the chain, "" for none
		wantPermanent bool
		wantPrefix    string
	}{
		{
			name:     "unknown db instance",
			call:     createRDS("ghost-db"),
			wantCode: "DBInstanceNotFound", wantPermanent: true,
			wantPrefix: `rds: create snapshot "s1" of "ghost-db" in us-east-1: `,
		},
		{
			name:     "unknown volume",
			call:     createEBS("vol-ghost"),
			wantCode: "InvalidVolume.NotFound", wantPermanent: true,
			wantPrefix: `ebs: create snapshot of "vol-ghost" in us-east-1 (token "t1"): `,
		},
		{
			name:     "rds throttled",
			fail:     [2]string{"CreateDBSnapshot", "Throttling"},
			call:     createRDS("orders-db"),
			wantCode: "Throttling", wantPermanent: false,
			wantPrefix: `rds: create snapshot "s1" of "orders-db" in us-east-1: `,
		},
		{
			name:     "ec2 throttled while looking for an earlier attempt",
			fail:     [2]string{"DescribeSnapshots", "RequestLimitExceeded"},
			call:     createEBS("vol-1"),
			wantCode: "RequestLimitExceeded", wantPermanent: false,
			wantPrefix: `ebs: create snapshot of "vol-1" in us-east-1 (token "t1"): look for an earlier attempt: `,
		},
		{
			name:     "ec2 throttled on create",
			fail:     [2]string{"CreateSnapshot", "RequestLimitExceeded"},
			call:     createEBS("vol-1"),
			wantCode: "RequestLimitExceeded", wantPermanent: false,
		},
		{
			name:     "rds internal failure",
			fail:     [2]string{"CreateDBSnapshot", "InternalFailure"},
			call:     createRDS("orders-db"),
			wantCode: "InternalFailure", wantPermanent: false,
		},
		{
			name:     "rds access denied",
			fail:     [2]string{"CreateDBSnapshot", "AccessDenied"},
			call:     createRDS("orders-db"),
			wantCode: "AccessDenied", wantPermanent: true,
		},
		{
			name:     "ec2 unauthorized",
			fail:     [2]string{"CreateSnapshot", "UnauthorizedOperation"},
			call:     createEBS("vol-1"),
			wantCode: "UnauthorizedOperation", wantPermanent: true,
		},
		{
			name:     "rds snapshot quota",
			fail:     [2]string{"CreateDBSnapshot", "SnapshotQuotaExceeded"},
			call:     createRDS("orders-db"),
			wantCode: "SnapshotQuotaExceeded", wantPermanent: true,
		},
		{
			name:     "ec2 snapshot limit",
			fail:     [2]string{"CreateSnapshot", "SnapshotLimitExceeded"},
			call:     createEBS("vol-1"),
			wantCode: "SnapshotLimitExceeded", wantPermanent: true,
		},
		{
			name:     "rds wrong secret",
			secret:   "not-the-secret",
			call:     createRDS("orders-db"),
			wantCode: "SignatureDoesNotMatch", wantPermanent: true,
		},
		{
			name:     "ec2 wrong secret",
			secret:   "not-the-secret",
			call:     createEBS("vol-1"),
			wantCode: "AuthFailure", wantPermanent: true,
		},
		{
			name: "rds copy of a missing source",
			call: func(s *lbaws.Snapshots) error {
				_, err := s.CopyRDSSnapshot(ctx, primary, "ghost", dr, "ghost-dr", "", nil)
				return err
			},
			wantCode: "DBSnapshotNotFound", wantPermanent: true,
			wantPrefix: `rds: copy snapshot "ghost" from us-east-1 to "ghost-dr" in us-west-2: source: snapshot not found: `,
		},
		{
			name: "rds copy of a snapshot still being created",
			call: func(s *lbaws.Snapshots) error {
				if _, err := s.CreateRDSSnapshot(ctx, primary, "orders-db", "young", nil); err != nil {
					return err
				}
				_, err := s.CopyRDSSnapshot(ctx, primary, "young", dr, "young-dr", "", nil)
				return err
			},
			wantCode: "InvalidDBSnapshotState", wantPermanent: false,
		},
		{
			name: "ebs copy of a snapshot still pending",
			call: func(s *lbaws.Snapshots) error {
				snap, err := s.CreateEBSSnapshot(ctx, primary, "vol-1", "t1", nil)
				if err != nil {
					return err
				}
				_, err = s.CopyEBSSnapshot(ctx, primary, snap.ID, dr, "t1-copy", nil)
				return err
			},
			wantCode: "IncorrectState", wantPermanent: false,
		},
		{
			name: "rds delete of a snapshot still being created",
			call: func(s *lbaws.Snapshots) error {
				if _, err := s.CreateRDSSnapshot(ctx, primary, "orders-db", "young", nil); err != nil {
					return err
				}
				return s.DeleteRDSSnapshot(ctx, primary, "young")
			},
			wantCode: "InvalidDBSnapshotState", wantPermanent: false,
		},
		{
			name: "ebs malformed snapshot id",
			call: func(s *lbaws.Snapshots) error {
				_, err := s.EBSSnapshot(ctx, primary, "ami-123")
				return err
			},
			wantCode: "InvalidSnapshotID.Malformed", wantPermanent: true,
		},
		{
			name:          "invalid region",
			call:          func(s *lbaws.Snapshots) error { _, err := s.RDSSnapshot(ctx, "", "x"); return err },
			wantPermanent: true,
			wantPrefix:    `rds: describe snapshot "x" in : region "" is not a region name: invalid argument`,
		},
		{
			name: "empty token",
			call: func(s *lbaws.Snapshots) error {
				_, err := s.CreateEBSSnapshot(ctx, primary, "vol-1", "", nil)
				return err
			},
			wantPermanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, s := newSnapshots(t)
			fake.AddDBInstance(primary, "orders-db")
			fake.AddVolume(primary, "vol-1", 8)
			if tt.secret != "" {
				s = client(t, fake, tt.secret, 1)
			}
			if tt.fail[0] != "" {
				fake.FailNext(tt.fail[0], tt.fail[1])
			}
			err := tt.call(s)
			if err == nil {
				t.Fatal("no error")
			}
			var apiErr smithy.APIError
			code := ""
			if errors.As(err, &apiErr) {
				code = apiErr.ErrorCode()
			}
			if code != tt.wantCode {
				t.Errorf("error code %q, want %q (err: %v)", code, tt.wantCode, err)
			}
			if got := lbaws.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v (err: %v)", got, tt.wantPermanent, err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantPrefix) {
				t.Errorf("error %q does not start with %q", err, tt.wantPrefix)
			}
		})
	}
}

func TestSDKRetriesThrottlingByDefault(t *testing.T) {
	ctx := context.Background()
	fake := awsfake.New(t)
	fake.AddDBInstance(primary, "orders-db")
	s := client(t, fake, awsfake.SecretAccessKey, 0)
	fake.FailNext("CreateDBSnapshot", "Throttling")
	snap, err := s.CreateRDSSnapshot(ctx, primary, "orders-db", "nightly", nil)
	if err != nil {
		t.Fatal(err)
	}
	if snap.ID != "nightly" || fake.CountCalls("rds", "CreateDBSnapshot") != 2 {
		t.Errorf("got %s after %d attempts, want nightly after 2", snap.ID, fake.CountCalls("rds", "CreateDBSnapshot"))
	}
}

func TestListIsPaginatedAndOldestFirst(t *testing.T) {
	ctx := context.Background()
	fake, s := newSnapshots(t)
	fake.AddDBInstance(primary, "orders-db")
	fake.AddDBInstance(primary, "billing-db")
	fake.AddVolume(primary, "vol-1", 8)
	fake.AddVolume(primary, "vol-2", 8)

	// Identifiers in reverse order of creation, so that sorting by name would be wrong.
	var wantRDS, wantEBS []string
	for _, name := range []string{"e", "d", "c", "b", "a"} {
		snap := must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(ctx, primary, "orders-db", "nightly-"+name, map[string]string{"kind": "nightly"}))
		wantRDS = append(wantRDS, snap.ID)
		must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(ctx, primary, "billing-db", "billing-"+name, map[string]string{"kind": "nightly"}))
		ebs := must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "nightly-"+name, map[string]string{"kind": "nightly"}))
		wantEBS = append(wantEBS, ebs.ID)
		must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(ctx, primary, "vol-2", "nightly-"+name, map[string]string{"kind": "nightly"}))
	}
	must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(ctx, primary, "orders-db", "weekly", map[string]string{"kind": "weekly"}))

	before := fake.CountCalls("rds", "DescribeDBSnapshots")
	rdsList := must[[]lbaws.Snapshot](t)(s.ListRDSSnapshots(ctx, primary, "orders-db", map[string]string{"kind": "nightly"}))
	if got := ids(rdsList); !slices.Equal(got, wantRDS) {
		t.Errorf("rds list %v, want %v", got, wantRDS)
	}
	// 6 snapshots of orders-db in pages of 2.
	if got := fake.CountCalls("rds", "DescribeDBSnapshots") - before; got != 3 {
		t.Errorf("rds list took %d pages, want 3", got)
	}

	before = fake.CountCalls("ec2", "DescribeSnapshots")
	ebsList := must[[]lbaws.Snapshot](t)(s.ListEBSSnapshots(ctx, primary, "vol-1", map[string]string{"kind": "nightly"}))
	if got := ids(ebsList); !slices.Equal(got, wantEBS) {
		t.Errorf("ebs list %v, want %v", got, wantEBS)
	}
	// 5 snapshots of vol-1 in pages of 2, then one empty page of copies of vol-1.
	if got := fake.CountCalls("ec2", "DescribeSnapshots") - before; got != 4 {
		t.Errorf("ebs list took %d pages, want 4", got)
	}
	for i := 1; i < len(ebsList); i++ {
		if !ebsList[i-1].Created.Before(ebsList[i].Created) {
			t.Errorf("ebs list not oldest first: %v then %v", ebsList[i-1].Created, ebsList[i].Created)
		}
	}
}

func TestWaitReportsFailure(t *testing.T) {
	ctx := context.Background()
	fake, s := newSnapshots(t)
	fake.AddDBInstance(primary, "orders-db")
	fake.AddVolume(primary, "vol-1", 8)
	rdsSnap := must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(ctx, primary, "orders-db", "doomed", nil))
	ebsSnap := must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "doomed", nil))
	for _, id := range []string{rdsSnap.ID, ebsSnap.ID} {
		if !fake.FailSnapshot(primary, id) {
			t.Fatalf("fake has no snapshot %s", id)
		}
	}
	tests := []struct {
		name    string
		wait    func() (lbaws.Snapshot, error)
		wantRaw string
	}{
		{"rds", func() (lbaws.Snapshot, error) { return s.WaitRDSSnapshot(ctx, primary, rdsSnap.ID, poll, nil) }, "failed"},
		{"ebs", func() (lbaws.Snapshot, error) { return s.WaitEBSSnapshot(ctx, primary, ebsSnap.ID, poll, nil) }, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := tt.wait()
			if !errors.Is(err, lbaws.ErrFailed) || !lbaws.IsPermanent(err) {
				t.Errorf("err = %v, want a permanent ErrFailed", err)
			}
			if snap.Status != lbaws.StatusFailed || snap.RawStatus != tt.wantRaw {
				t.Errorf("status %q (%q), want %q (%q)", snap.Status, snap.RawStatus, lbaws.StatusFailed, tt.wantRaw)
			}
		})
	}
}

func TestWaitHonoursContext(t *testing.T) {
	fake, s := newSnapshots(t)
	fake.AddDBInstance(primary, "orders-db")
	fake.AddVolume(primary, "vol-1", 8)
	fake.SetReadyAfter(1_000_000)
	rdsSnap := must[lbaws.Snapshot](t)(s.CreateRDSSnapshot(context.Background(), primary, "orders-db", "slow", nil))
	ebsSnap := must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(context.Background(), primary, "vol-1", "slow", nil))
	tests := []struct {
		name string
		wait waitFunc
		id   string
	}{
		{"rds", s.WaitRDSSnapshot, rdsSnap.ID},
		{"ebs", s.WaitEBSSnapshot, ebsSnap.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name+" cancelled", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			polls := 0
			snap, err := tt.wait(ctx, primary, tt.id, time.Hour, func(lbaws.Snapshot) {
				if polls++; polls == 1 {
					cancel() // the wait is now sleeping an hour until the next poll
				}
			})
			if !errors.Is(err, context.Canceled) || lbaws.IsPermanent(err) {
				t.Errorf("err = %v, want a retryable context.Canceled", err)
			}
			if polls != 1 || snap.ID != tt.id || snap.Status != lbaws.StatusCreating {
				t.Errorf("after %d polls returned %s in status %q", polls, snap.ID, snap.Status)
			}
		})
		t.Run(tt.name+" deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := tt.wait(ctx, primary, tt.id, 5*time.Millisecond, nil)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("wait returned %v after the deadline", d)
			}
		})
	}
}

func TestWaitToleratesSnapshotsNotYetVisible(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		lag        int
		wantErr    error
		wantPolls  int
		wantStatus string
	}{
		{lag: 3, wantPolls: 5, wantStatus: lbaws.StatusAvailable}, // 3 misses, creating, available
		{lag: 50, wantErr: lbaws.ErrNotFound, wantPolls: 6},       // gives up after 5 misses
	}
	for _, tt := range tests {
		t.Run("lag "+itoa(tt.lag), func(t *testing.T) {
			fake, s := newSnapshots(t)
			fake.AddVolume(primary, "vol-1", 8)
			fake.SetVisibilityLag(tt.lag)
			snap := must[lbaws.Snapshot](t)(s.CreateEBSSnapshot(ctx, primary, "vol-1", "t", nil))
			before := fake.CountCalls("ec2", "DescribeSnapshots")
			got, err := s.WaitEBSSnapshot(ctx, primary, snap.ID, poll, nil)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if polls := fake.CountCalls("ec2", "DescribeSnapshots") - before; polls != tt.wantPolls {
				t.Errorf("%d polls, want %d", polls, tt.wantPolls)
			}
			if got.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", got.Status, tt.wantStatus)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  lbaws.Config
		want []string // substrings of the error, none for valid
	}{
		{"defaults", lbaws.Config{}, nil},
		{"static", lbaws.Config{Endpoint: "http://127.0.0.1:4566", AccessKeyID: "a", SecretAccessKey: "b"}, nil},
		{"every problem", lbaws.Config{Endpoint: "127.0.0.1", AccessKeyID: "a", Profile: "prod", MaxAttempts: -1}, []string{
			`endpoint "127.0.0.1"`, "without a secret access key", `profile "prod" given with static credentials`, "max attempts -1",
		}},
		{"secret without key", lbaws.Config{SecretAccessKey: "b"}, []string{"without an access key ID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != (len(tt.want) > 0) {
				t.Fatalf("Validate() = %v, want errors %q", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, missing %q", err, w)
				}
			}
		})
	}
	if _, err := lbaws.New(context.Background(), lbaws.Config{MaxAttempts: -1}); err == nil {
		t.Error("New accepted an invalid configuration")
	}
}

// waitFunc is WaitRDSSnapshot or WaitEBSSnapshot.
type waitFunc func(context.Context, string, string, time.Duration, func(lbaws.Snapshot)) (lbaws.Snapshot, error)

// available returns a function that waits, with wait, for the snapshot a create returned.
func available(t *testing.T, wait waitFunc) func(lbaws.Snapshot, error) lbaws.Snapshot {
	return func(snap lbaws.Snapshot, err error) lbaws.Snapshot {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return must[lbaws.Snapshot](t)(wait(context.Background(), snap.Region, snap.ID, poll, nil))
	}
}

func createRDS(instance string) func(*lbaws.Snapshots) error {
	return func(s *lbaws.Snapshots) error {
		_, err := s.CreateRDSSnapshot(context.Background(), primary, instance, "s1", nil)
		return err
	}
}

func createEBS(volume string) func(*lbaws.Snapshots) error {
	return func(s *lbaws.Snapshots) error {
		_, err := s.CreateEBSSnapshot(context.Background(), primary, volume, "t1", nil)
		return err
	}
}

func assertSnapshot(t *testing.T, what string, got, want lbaws.Snapshot) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s snapshot\n got %+v\nwant %+v", what, got, want)
	}
}

func ids(snaps []lbaws.Snapshot) []string {
	var out []string
	for _, s := range snaps {
		out = append(out, s.ID)
	}
	return out
}

func itoa(n int) string {
	return strconv.Itoa(n)
}
