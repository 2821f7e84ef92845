package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeboat-dr/lifeboat/activities/contract"
	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// versionVerifiedIdentities marks runs that establish who starts, decides and acknowledges through
// the worker's identity directory, and refuse decisions before their gate opens. Earlier runs took
// identities as typed and held early decisions.
const versionVerifiedIdentities = "verified-identities"

// ErrTypeIdentityRefused is the application error type of a start whose identity could not be
// established, or who may not start what they asked.
const ErrTypeIdentityRefused = "IdentityRefused"

// IdentityRecord says how a run established who took part, for its record and report.
type IdentityRecord struct {
	// Mode is verified or trust-client; empty when the worker had no identity directory.
	Mode string `json:"mode,omitempty"`
	// StartVerified is true when the start carried an assertion the run verified.
	StartVerified bool `json:"start_verified,omitempty"`
	// StartChannel is how the starter was authenticated: key, slack, oidc; or parent when a workflow
	// of this deployment started the run.
	StartChannel string `json:"start_channel,omitempty"`
	// Warning is set when identities were taken as typed.
	Warning string `json:"warning,omitempty"`
}

// trustClientWarning is what records and reports made in trust-client mode say.
const trustClientWarning = "identities were taken as typed (identity mode trust-client): anyone who can reach Temporal could have acted under any name"

// identities is a run's identity directory and what it established with it. The zero value (no
// directory loaded yet) refuses everything.
type identities struct {
	loaded bool
	dir    identity.Directory
	// configured is false when the worker had no directory: names are taken as typed.
	configured bool
	// used are the IDs of assertions this run accepted for acknowledgements, which are not
	// bound to one gate decision: each may be used once.
	used map[string]bool
}

// requireAssertions reports whether decisions must carry a signed assertion: the worker's
// directory verifies identities. False for a nil ids (a run from before identities).
func (ids *identities) requireAssertions() bool {
	return ids != nil && ids.configured && ids.dir.Mode == identity.Verified
}

// loadIdentities reads the worker's identity directory into the run's history, so that every
// verification replays the same way.
func loadIdentities(ctx workflow.Context, ids *identities) error {
	var res contract.LoadIdentityResult
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, shortStepOptions("load the identity directory")),
		contract.LoadIdentity, contract.LoadIdentityInput{}).Get(ctx, &res); err != nil {
		return err
	}
	ids.set(res)
	return nil
}

// set takes the directory the worker gave.
func (ids *identities) set(res contract.LoadIdentityResult) {
	ids.loaded, ids.dir, ids.configured, ids.used = true, res.Directory, res.Configured, map[string]bool{}
}

// record says how identities are established in this run.
func (ids *identities) record() *IdentityRecord {
	if !ids.configured {
		return &IdentityRecord{Warning: trustClientWarning}
	}
	rec := &IdentityRecord{Mode: string(ids.dir.Mode)}
	if ids.dir.Mode == identity.TrustClient {
		rec.Warning = trustClientWarning
	}
	return rec
}

// established is who an act is from.
type established struct {
	Person   string
	Verified bool
	Channel  string
	// AssertionID is the verified assertion's jti.
	AssertionID string
}

// establish works out who acts: the person a verified assertion names or, in trust-client mode,
// the person the typed name resolves to. A typed name that contradicts the assertion is refused.
func (ids *identities) establish(ctx workflow.Context, typed, assertion string, want identity.Expect) (established, error) {
	typed = strings.TrimSpace(typed)
	switch {
	case !ids.loaded:
		return established{}, fmt.Errorf("the run is still starting: try again in a moment")
	case !ids.configured:
		if typed == "" {
			return established{}, fmt.Errorf("identity: required: say who you are")
		}
		return established{Person: typed}, nil
	case assertion != "":
		// Verify is a pure function of the token, the directory and the workflow's clock: the
		// JSON decoding and signature check it calls only look non-deterministic to the linter.
		//workflowcheck:ignore
		a, err := ids.dir.Verify(assertion, workflow.Now(ctx), want)
		if err != nil {
			return established{}, err
		}
		if typed != "" {
			if p, err := ids.dir.Resolve(typed); err != nil || p.ID != a.Person {
				return established{}, fmt.Errorf("identity %q is not the person the assertion names (%s)", typed, a.Person)
			}
		}
		return established{Person: a.Person, Verified: true, Channel: a.Channel, AssertionID: a.ID}, nil
	case ids.dir.Mode == identity.Verified:
		return established{}, fmt.Errorf("this deployment verifies identities: send an assertion (lifeboat %s signs one; for the temporal CLI, lifeboat token prints one to pass as \"assertion\")", verbOf(want.Act))
	case typed == "":
		return established{}, fmt.Errorf("identity: required: say who you are (a person's ID in the identity directory)")
	case len(ids.dir.People) == 0:
		// `identity: trust-client` with no directory: names are taken as typed.
		return established{Person: typed}, nil
	default:
		p, err := ids.dir.Resolve(typed)
		if err != nil {
			return established{}, err
		}
		return established{Person: p.ID}, nil
	}
}

func verbOf(a identity.Act) string {
	switch a {
	case identity.ActDecide:
		return "approve, reject and decide"
	case identity.ActAcknowledge:
		return "ack"
	default:
		return "recover and drill"
	}
}

// gateAuthenticator establishes who decides a gate of this run.
func (ids *identities) gateAuthenticator() approval.Authenticator {
	return func(ctx workflow.Context, gate string, d approval.Decision) (approval.Decision, error) {
		info := workflow.GetInfo(ctx).WorkflowExecution
		who, err := ids.establish(ctx, d.Identity, d.Assertion, identity.Expect{Act: identity.ActDecide, Workflow: info.ID, Run: info.RunID,
			Gate: gate, Approve: d.Approve, Choice: d.Choice})
		if err != nil {
			return d, &approval.RefusalError{Kind: approval.RefusedIdentity, Msg: err.Error()}
		}
		d.Identity, d.Verified, d.Assertion = who.Person, who.Verified, ""
		if who.Channel != "" && d.Channel == "" {
			d.Channel = approval.Channel(who.Channel)
		}
		return d, nil
	}
}

// establishStarter establishes who started the run: a workflow of this deployment (the parent,
// which established its own starter and passes it on), or the person the start's assertion, or in
// trust-client mode its typed requester, names.
func (ids *identities) establishStarter(ctx workflow.Context, requester, assertion, subject string) (established, *IdentityRecord, error) {
	rec := ids.record()
	if parent := workflow.GetInfo(ctx).ParentWorkflowExecution; parent != nil {
		rec.StartChannel = "parent"
		return established{Person: requester}, rec, nil
	}
	who, err := ids.establish(ctx, requester, assertion, identity.Expect{Act: identity.ActStart,
		Workflow: workflow.GetInfo(ctx).WorkflowExecution.ID, Subject: subject})
	if err != nil {
		return who, rec, temporal.NewNonRetryableApplicationError("start refused: "+err.Error(), ErrTypeIdentityRefused, nil)
	}
	rec.StartVerified, rec.StartChannel = who.Verified, who.Channel
	return who, rec, nil
}
