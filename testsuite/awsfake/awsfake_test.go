package awsfake_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/lifeboat-dr/lifeboat/testsuite/awsfake"
)

// post sends a form to the fake, signed for service and region with secret unless auth is set,
// in which case auth is sent as the Authorization header as is.
func post(t *testing.T, fake *awsfake.Fake, service, region, secret, auth string, form url.Values) (int, string) {
	t.Helper()
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, fake.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if auth == "" {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: awsfake.AccessKeyID, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
			t.Fatal(err)
		}
	} else if auth != "-" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

func rdsForm(action string, kv ...string) url.Values {
	form := url.Values{"Action": {action}, "Version": {"2014-10-31"}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	return form
}

func ec2Form(action string, kv ...string) url.Values {
	form := rdsForm(action, kv...)
	form.Set("Version", "2016-11-15")
	return form
}

func TestAuthorizationIsChecked(t *testing.T) {
	fake := awsfake.New(t)
	tests := []struct {
		name, service, secret, auth string
		wantStatus                  int
		wantInBody                  []string
	}{
		{"missing", "rds", "", "-", http.StatusForbidden,
			[]string{"<ErrorResponse", "<Code>MissingAuthenticationToken</Code>"}},
		{"not sigv4", "rds", "", "Bearer abc", http.StatusForbidden,
			[]string{"<Code>IncompleteSignature</Code>"}},
		{"no credential scope", "rds", "", "AWS4-HMAC-SHA256 Credential=AKID, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64),
			http.StatusForbidden, []string{"<Code>IncompleteSignature</Code>"}},
		{"host not signed", "rds", "", "AWS4-HMAC-SHA256 Credential=" + awsfake.AccessKeyID + "/20300102/us-east-1/rds/aws4_request, SignedHeaders=x-amz-date, Signature=" + strings.Repeat("0", 64),
			http.StatusForbidden, []string{"<Code>IncompleteSignature</Code>", "host"}},
		{"unknown access key", "rds", "", "AWS4-HMAC-SHA256 Credential=AKIDOTHER/20300102/us-east-1/rds/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64),
			http.StatusForbidden, []string{"<Code>InvalidClientTokenId</Code>"}},
		{"wrong secret rds", "rds", "wrong", "", http.StatusForbidden,
			[]string{"<Code>SignatureDoesNotMatch</Code>"}},
		{"wrong secret ec2", "ec2", "wrong", "", http.StatusForbidden,
			[]string{"<Response><Errors><Error><Code>AuthFailure</Code>"}},
		{"right secret", "rds", awsfake.SecretAccessKey, "", http.StatusOK,
			[]string{`<DescribeDBSnapshotsResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := rdsForm("DescribeDBSnapshots")
			if tt.service == "ec2" {
				form = ec2Form("DescribeSnapshots")
			}
			status, body := post(t, fake, tt.service, "us-east-1", tt.secret, tt.auth, form)
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d (%s)", status, tt.wantStatus, body)
			}
			for _, w := range tt.wantInBody {
				if !strings.Contains(body, w) {
					t.Errorf("body %s lacks %q", body, w)
				}
			}
		})
	}
	// Only the signed request got through.
	want := []awsfake.Call{{Region: "us-east-1", Service: "rds", Action: "DescribeDBSnapshots"}}
	if got := fake.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

func TestResponsesUseTheServicesDocuments(t *testing.T) {
	fake := awsfake.New(t)
	fake.AddDBInstance("eu-west-1", "orders-db")
	fake.AddVolume("eu-west-1", "vol-1", 8)
	secret := awsfake.SecretAccessKey

	status, body := post(t, fake, "rds", "eu-west-1", secret, "", rdsForm("CreateDBSnapshot",
		"DBInstanceIdentifier", "orders-db", "DBSnapshotIdentifier", "Nightly-1", "Tags.Tag.1.Key", "plan", "Tags.Tag.1.Value", "orders"))
	var created struct {
		XMLName xml.Name
		Result  struct {
			Snapshot struct {
				ID, Instance, ARN, Status string
				Tags                      []struct{ Key, Value string } `xml:"TagList>Tag"`
			} `xml:"DBSnapshot"`
		} `xml:"CreateDBSnapshotResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	if status != http.StatusOK {
		t.Fatalf("CreateDBSnapshot: %d %s", status, body)
	}
	if err := xml.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if created.XMLName.Space != "http://rds.amazonaws.com/doc/2014-10-31/" || created.XMLName.Local != "CreateDBSnapshotResponse" || created.RequestID == "" {
		t.Errorf("root %v, request id %q", created.XMLName, created.RequestID)
	}
	for _, want := range []string{
		"<DBSnapshotIdentifier>nightly-1</DBSnapshotIdentifier>", // RDS lower-cases identifiers
		"<DBSnapshotArn>arn:aws:rds:eu-west-1:123456789012:snapshot:nightly-1</DBSnapshotArn>",
		"<Status>creating</Status>", "<PercentProgress>0</PercentProgress>",
		"<TagList><Tag><Key>plan</Key><Value>orders</Value></Tag></TagList>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("CreateDBSnapshot response lacks %s: %s", want, body)
		}
	}

	status, body = post(t, fake, "rds", "eu-west-1", secret, "", rdsForm("CreateDBSnapshot",
		"DBInstanceIdentifier", "orders-db", "DBSnapshotIdentifier", "nightly-1"))
	if status != http.StatusBadRequest || !strings.Contains(body,
		"<Error><Type>Sender</Type><Code>DBSnapshotAlreadyExists</Code>") {
		t.Errorf("second CreateDBSnapshot: %d %s", status, body)
	}

	status, body = post(t, fake, "ec2", "eu-west-1", secret, "", ec2Form("CreateSnapshot",
		"VolumeId", "vol-1", "TagSpecification.1.ResourceType", "snapshot",
		"TagSpecification.1.Tag.1.Key", "plan", "TagSpecification.1.Tag.1.Value", "orders"))
	if status != http.StatusOK {
		t.Fatalf("CreateSnapshot: %d %s", status, body)
	}
	for _, want := range []string{
		`<CreateSnapshotResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`,
		"<volumeId>vol-1</volumeId>", "<status>pending</status>", "<progress>0%</progress>", "<volumeSize>8</volumeSize>",
		"<tagSet><item><key>plan</key><value>orders</value></item></tagSet>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("CreateSnapshot response lacks %s: %s", want, body)
		}
	}

	status, body = post(t, fake, "ec2", "eu-west-1", secret, "", ec2Form("DeleteSnapshot", "SnapshotId", "snap-00000000000000000"))
	if status != http.StatusBadRequest || !strings.Contains(body,
		"<Response><Errors><Error><Code>InvalidSnapshot.NotFound</Code>") || !strings.Contains(body, "<RequestID>") {
		t.Errorf("DeleteSnapshot of a missing snapshot: %d %s", status, body)
	}
}

func TestRequestsAreValidated(t *testing.T) {
	fake := awsfake.New(t)
	fake.AddDBInstance("us-east-1", "orders-db")
	fake.AddVolume("us-east-1", "vol-1", 8)
	secret := awsfake.SecretAccessKey
	if _, body := post(t, fake, "rds", "us-east-1", secret, "", rdsForm("CreateDBSnapshot",
		"DBInstanceIdentifier", "orders-db", "DBSnapshotIdentifier", "src")); !strings.Contains(body, "<Status>creating") {
		t.Fatal(body)
	}
	fake.SetReadyAfter(1)
	post(t, fake, "rds", "us-east-1", secret, "", rdsForm("DescribeDBSnapshots"))

	tests := []struct {
		name, service, region string
		form                  url.Values
		wantCode              string
	}{
		{"MaxRecords below RDS's minimum", "rds", "us-east-1", rdsForm("DescribeDBSnapshots", "MaxRecords", "5"), "InvalidParameterValue"},
		{"MaxResults below EC2's minimum", "ec2", "us-east-1", ec2Form("DescribeSnapshots", "MaxResults", "2"), "InvalidParameterValue"},
		{"MaxResults with snapshot ids", "ec2", "us-east-1", ec2Form("DescribeSnapshots", "MaxResults", "5", "SnapshotId.1", "snap-1"), "InvalidParameterCombination"},
		{"unknown EC2 filter", "ec2", "us-east-1", ec2Form("DescribeSnapshots", "Filter.1.Name", "colour", "Filter.1.Value.1", "red"), "InvalidParameterValue"},
		{"bad identifier", "rds", "us-east-1", rdsForm("CreateDBSnapshot", "DBInstanceIdentifier", "orders-db", "DBSnapshotIdentifier", "1--x"), "InvalidParameterValue"},
		{"unknown instance", "rds", "us-east-1", rdsForm("CreateDBSnapshot", "DBInstanceIdentifier", "ghost", "DBSnapshotIdentifier", "x"), "DBInstanceNotFound"},
		{"cross-region copy without a presigned URL", "rds", "us-west-2", rdsForm("CopyDBSnapshot",
			"SourceDBSnapshotIdentifier", "arn:aws:rds:us-east-1:123456789012:snapshot:src", "TargetDBSnapshotIdentifier", "dst"), "InvalidParameterValue"},
		{"unknown action", "rds", "us-east-1", rdsForm("DeleteDBInstance"), "InvalidAction"},
		{"wrong API version", "ec2", "us-east-1", rdsForm("DescribeSnapshots"), "InvalidParameterValue"},
		{"tags for another resource type", "ec2", "us-east-1", ec2Form("CreateSnapshot", "VolumeId", "vol-1", "TagSpecification.1.ResourceType", "volume"), "InvalidParameterValue"},
		{"unknown volume", "ec2", "us-east-1", ec2Form("CreateSnapshot", "VolumeId", "vol-2"), "InvalidVolume.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, fake, tt.service, tt.region, secret, "", tt.form)
			if status < 400 || !strings.Contains(body, "<Code>"+tt.wantCode+"</Code>") {
				t.Errorf("got %d %s, want %s", status, body, tt.wantCode)
			}
		})
	}
}

func TestFailNextAndPagination(t *testing.T) {
	fake := awsfake.New(t)
	fake.AddVolume("us-east-1", "vol-1", 8)
	secret := awsfake.SecretAccessKey
	for range 3 {
		post(t, fake, "ec2", "us-east-1", secret, "", ec2Form("CreateSnapshot", "VolumeId", "vol-1"))
	}
	fake.FailNext("DescribeSnapshots", "RequestLimitExceeded")
	status, body := post(t, fake, "ec2", "us-east-1", secret, "", ec2Form("DescribeSnapshots", "MaxResults", "5"))
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "<Code>RequestLimitExceeded</Code>") {
		t.Errorf("injected failure: %d %s", status, body)
	}
	var pages []int
	token := ""
	for {
		form := ec2Form("DescribeSnapshots", "MaxResults", "5")
		if token != "" {
			form.Set("NextToken", token)
		}
		_, body := post(t, fake, "ec2", "us-east-1", secret, "", form)
		var page struct {
			Items     []string `xml:"snapshotSet>item>snapshotId"`
			NextToken string   `xml:"nextToken"`
		}
		if err := xml.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(page.Items))
		if token = page.NextToken; token == "" {
			break
		}
	}
	if want := []int{2, 1}; !slices.Equal(pages, want) {
		t.Errorf("page sizes %v, want %v", pages, want)
	}
	// Without MaxResults EC2 returns everything at once.
	_, body = post(t, fake, "ec2", "us-east-1", secret, "", ec2Form("DescribeSnapshots"))
	if n := strings.Count(body, "<snapshotId>"); n != 3 || strings.Contains(body, "<nextToken>") {
		t.Errorf("unpaginated describe returned %d snapshots: %s", n, body)
	}
}
