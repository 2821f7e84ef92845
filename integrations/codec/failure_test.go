package codec

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
)

const testSecret = "s3cr3t-pa55word"

func failureConverter(t *testing.T, encryptMessages bool) *FailureConverter {
	t.Helper()
	return NewFailureConverter(FailureOptions{
		DataConverter:     New(mustKeyring(t, "k1", "k1")).DataConverter(),
		EncodeStackTraces: true,
		EncryptMessages:   encryptMessages,
		Redactor:          secrets.Static{"orders-dsn": "postgres://lifeboat:" + testSecret + "@db.internal/orders"},
	})
}

// leakyError is an error whose message quotes a secret, at two levels of a chain.
func leakyError() error {
	cause := fmt.Errorf("dial postgres://lifeboat:%s@db.internal/orders: connection refused", testSecret)
	return temporal.NewApplicationErrorWithCause("fence orders: password "+testSecret+" refused", "ProbeRefused", cause)
}

func TestFailureMessagesStayReadableAndRedacted(t *testing.T) {
	fc := failureConverter(t, false)
	f := fc.ErrorToFailure(leakyError())
	raw := prototext.Format(f)
	if strings.Contains(raw, testSecret) {
		t.Fatalf("the stored failure holds the secret:\n%s", raw)
	}
	if f.GetMessage() != "fence orders: password [redacted] refused" {
		t.Errorf("message %q: want it readable and redacted", f.GetMessage())
	}
	if c := f.GetCause(); c == nil || c.GetMessage() != "dial [redacted]: connection refused" {
		t.Errorf("cause %v: want it readable and redacted", c)
	}
	if f.GetApplicationFailureInfo().GetType() != "ProbeRefused" {
		t.Errorf("type %q", f.GetApplicationFailureInfo().GetType())
	}
	// Decoding gives the same redacted text, and the error's kind.
	err := fc.FailureToError(f)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != "ProbeRefused" || appErr.Message() != f.GetMessage() {
		t.Fatalf("decoded %#v", err)
	}
}

func TestFailureMessagesCanBeEncrypted(t *testing.T) {
	fc := failureConverter(t, true)
	f := fc.ErrorToFailure(leakyError())
	raw := prototext.Format(f)
	if strings.Contains(raw, testSecret) || strings.Contains(raw, "fence orders") || f.GetMessage() != "Encoded failure" || f.GetEncodedAttributes() == nil {
		t.Fatalf("the message is not encrypted:\n%s", raw)
	}
	var appErr *temporal.ApplicationError
	if err := fc.FailureToError(f); !errors.As(err, &appErr) || appErr.Message() != "fence orders: password [redacted] refused" {
		t.Fatalf("decoded %v", err)
	}
}

// A stack trace is encrypted, and the message beside it stays readable, also on a failure read
// back from a history written without encryption. A failure this converter stored already is
// passed on exactly as it was.
func TestStackTracesAreEncryptedAndStoredFailuresKept(t *testing.T) {
	fc := failureConverter(t, false)
	plain := &failurepb.Failure{Message: "activity panicked: " + testSecret, StackTrace: "goroutine 7 [running]:\nmain.leak(\"" + testSecret + "\")",
		FailureInfo: &failurepb.Failure_ApplicationFailureInfo{ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{Type: "Crashed"}}}
	stored := fc.ErrorToFailure(fc.FailureToError(plain))
	raw := prototext.Format(stored)
	if strings.Contains(raw, testSecret) || strings.Contains(raw, "goroutine") || stored.GetMessage() != "activity panicked: [redacted]" ||
		stored.GetEncodedAttributes() == nil || stored.GetStackTrace() != "" {
		t.Fatalf("stack trace not encrypted, or message not readable:\n%s", raw)
	}
	var appErr *temporal.ApplicationError
	if err := fc.FailureToError(stored); !errors.As(err, &appErr) || appErr.Message() != "activity panicked: [redacted]" {
		t.Fatalf("decoded %v", err)
	}
	if again := fc.ErrorToFailure(fc.FailureToError(stored)); !proto.Equal(again, stored) {
		t.Fatalf("a stored failure was changed:\n%s\nnow:\n%s", raw, prototext.Format(again))
	}
}

// Decoding a failure leaves it as it was: the SDK decodes the failure of a local-activity marker
// before it records the marker, so decoding in place would store the stack trace in plain text.
func TestDecodingLeavesTheStoredFailureEncoded(t *testing.T) {
	fc := failureConverter(t, true)
	f := fc.ErrorToFailure(leakyError())
	before := proto.Clone(f)
	if err := fc.FailureToError(f); err == nil {
		t.Fatal("no error decoded")
	}
	if !proto.Equal(f, before) {
		t.Fatalf("decoding changed the failure:\n%s\nnow:\n%s", prototext.Format(before), prototext.Format(f))
	}
}
