package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// AssertPath is the worker's endpoint that exchanges an ID token for an assertion.
const AssertPath = "/identity/assert"

// AssertRequest is what the caller asks the worker to sign for it: one act in one workflow, as an
// identity.Assertion says it. The ID token travels as "Authorization: Bearer".
type AssertRequest struct {
	Act      identity.Act `json:"act"`
	Workflow string       `json:"workflow"`
	Run      string       `json:"run,omitempty"`
	Subject  string       `json:"subject,omitempty"`
	Gate     string       `json:"gate,omitempty"`
	Approve  bool         `json:"approve,omitempty"`
	Choice   string       `json:"choice,omitempty"`
	// TTL is how long the assertion should be good for; the worker gives at most 5m, and at most
	// the deployment's max_token_age.
	TTL units.Duration `json:"ttl,omitempty"`
}

// AssertResponse is the worker's answer: the assertion and the person it names, or why not.
type AssertResponse struct {
	Assertion string `json:"assertion,omitempty"`
	Person    string `json:"person,omitempty"`
	Error     string `json:"error,omitempty"`
}

// RefusedError is an exchange the worker refused (the ID token, the person or the request).
type RefusedError struct {
	Status int
	Msg    string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the worker refused the login (%d %s): %s", e.Status, http.StatusText(e.Status), e.Msg)
}

// Exchange asks the worker at workerURL to sign req for the person idToken names.
func Exchange(ctx context.Context, client *http.Client, workerURL, idToken string, req AssertRequest) (AssertResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return AssertResponse{}, err
	}
	url := strings.TrimSuffix(workerURL, "/") + AssertPath
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return AssertResponse{}, fmt.Errorf("identity exchange: %w", err)
	}
	hreq.Header.Set("Authorization", "Bearer "+idToken)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return AssertResponse{}, fmt.Errorf("identity exchange at %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return AssertResponse{}, fmt.Errorf("identity exchange at %s: %w", url, err)
	}
	var out AssertResponse
	jsonErr := json.Unmarshal(b, &out)
	switch {
	case resp.StatusCode == http.StatusOK && jsonErr == nil && out.Assertion != "" && out.Person != "":
		return out, nil
	case resp.StatusCode == http.StatusOK:
		return AssertResponse{}, fmt.Errorf("identity exchange at %s: an answer without an assertion: %.200s", url, b)
	case jsonErr == nil && out.Error != "" && resp.StatusCode >= 400 && resp.StatusCode < 500:
		return AssertResponse{}, &RefusedError{Status: resp.StatusCode, Msg: out.Error}
	case jsonErr == nil && out.Error != "":
		return AssertResponse{}, fmt.Errorf("identity exchange at %s: %s: %s", url, resp.Status, out.Error)
	case resp.StatusCode == http.StatusNotFound:
		return AssertResponse{}, fmt.Errorf("identity exchange at %s: 404: is this Lifeboat's worker, and does its configuration have identity.oidc?", url)
	default:
		return AssertResponse{}, fmt.Errorf("identity exchange at %s: %s: %.200s", url, resp.Status, bytes.TrimSpace(b))
	}
}
