package slackdecider

import (
	"errors"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// TestClassifyUpdateError checks that a refusal is read from the error's details, whatever its
// message says, and that the other failures map to the kinds slack.Decider documents.
func TestClassifyUpdateError(t *testing.T) {
	refused := func(msg string, details ...any) error {
		return temporal.NewApplicationErrorWithOptions(msg, approval.ErrTypeDecisionRefused,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: details})
	}
	tests := []struct {
		name        string
		err         error
		wantRefusal *slack.RefusedError
		wantIs      error
	}{
		{"kind and reason from the details", refused("approval refused: wording that changed",
			approval.RefusalDetails{Kind: approval.RefusedSelfApproval, Reason: `gate "promote": "bob" requested it`}),
			&slack.RefusedError{Kind: slack.RefusedSelfApproval, Reason: `gate "promote": "bob" requested it`}, nil},
		{"no details: other, with the message", refused(`approval refused: gate "promote" is closed`),
			&slack.RefusedError{Kind: slack.RefusedOther, Reason: `gate "promote" is closed`}, nil},
		{"workflow not found", serviceerror.NewNotFound("workflow execution already completed"), nil, slack.ErrNotRunning},
		{"anything else may be repeated", errors.New("context deadline exceeded"), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classifyUpdateError(slack.Run{WorkflowID: "recover-orders"}, tt.err)
			var got *slack.RefusedError
			if errors.As(err, &got) != (tt.wantRefusal != nil) || got != nil && *got != *tt.wantRefusal {
				t.Fatalf("%v (%+v), want refusal %+v", err, got, tt.wantRefusal)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("%v, want %v", err, tt.wantIs)
			}
			if tt.wantRefusal == nil && tt.wantIs == nil && (errors.Is(err, slack.ErrNotRunning) || !errors.Is(err, tt.err)) {
				t.Fatalf("%v, want %v wrapped, neither a refusal nor ErrNotRunning", err, tt.err)
			}
		})
	}
}
