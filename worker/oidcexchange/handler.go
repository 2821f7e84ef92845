package oidcexchange

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/oidc"
)

// Path is where the handler is mounted (POST only).
const Path = oidc.AssertPath

// MaxTTL bounds an assertion the worker signs for an ID token: long enough to reach the workflow,
// short enough that a leaked one is soon worthless.
const MaxTTL = 5 * time.Minute

// DefaultMaxBodyBytes bounds a request's body: a few fields and an assertion's claims.
const DefaultMaxBodyBytes = 4 << 10

// Verifier checks the organisation's ID tokens; *oidc.Provider is one.
type Verifier interface {
	// Verify returns the claims of an ID token the provider issued for Lifeboat's client and that
	// is still valid. It returns *oidc.UnavailableError when the provider cannot be reached and
	// *oidc.InvalidTokenError when the token is refused.
	Verify(ctx context.Context, raw string) (oidc.Claims, error)
}

var _ Verifier = (*oidc.Provider)(nil)

// Outcomes, as Observe is told them.
const (
	OutcomeSigned        = "signed"
	OutcomeNoToken       = "no_token"
	OutcomeBadToken      = "bad_token"
	OutcomeUnknownPerson = "unknown_person"
	OutcomeBadRequest    = "bad_request"
	OutcomeUnavailable   = "provider_unavailable"
	OutcomeFailed        = "failed"
)

// Options configure the handler.
type Options struct {
	Verifier Verifier
	// Directory maps an ID token to a person (identity.Directory.ByOIDC); its audience and
	// max_token_age (defaults filled in when zero) shape the assertions.
	Directory identity.Directory
	// Issuer is the assertions' issuer, which the directory workflows verify against trusts
	// with Key's public key.
	Issuer string
	Key    ed25519.PrivateKey
	// MaxBodyBytes bounds a request's body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Observe, when set, is told each request's outcome.
	Observe func(outcome string)
}

type handler struct{ opts Options }

// New returns the handler of POST /identity/assert. The ID token is checked, and mapped to a
// person, from the request's headers before its body is read: a caller without a valid token
// for someone in the directory cannot make the worker wait for, or read, a body.
func New(opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observe == nil {
		opts.Observe = func(string) {}
	}
	opts.Directory = opts.Directory.WithDefaults()
	return &handler{opts: opts}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := bearer(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lifeboat"`)
		h.refuse(w, r, http.StatusUnauthorized, OutcomeNoToken, err)
		return
	}
	claims, err := h.opts.Verifier.Verify(r.Context(), raw)
	var unavailable *oidc.UnavailableError
	switch {
	case errors.As(err, &unavailable):
		w.Header().Set("Retry-After", "10")
		h.refuse(w, r, http.StatusServiceUnavailable, OutcomeUnavailable, fmt.Errorf("the OIDC provider cannot be reached to check your ID token: try again in a moment (%v)", unavailable.Err))
		return
	case err != nil:
		h.refuse(w, r, http.StatusForbidden, OutcomeBadToken, fmt.Errorf("%v; run lifeboat login", err))
		return
	}
	person, err := h.opts.Directory.ByOIDC(claims.Subject, claims.Email, claims.EmailVerified)
	if err != nil {
		// The directory's people are not told to whoever holds a token of the organisation.
		h.refuse(w, r, http.StatusForbidden, OutcomeUnknownPerson, fmt.Errorf(
			"OIDC subject %q (email %q, verified %v) is not a person in this deployment's identity directory: ask for oidc_subject: %q in your entry of identity.people",
			claims.Subject, claims.Email, claims.EmailVerified, claims.Subject))
		return
	}
	req, code, err := h.readRequest(w, r)
	if err != nil {
		h.refuse(w, r, code, OutcomeBadRequest, err)
		return
	}
	ttl := min(MaxTTL, h.opts.Directory.MaxTokenAge)
	if req.TTL > 0 {
		ttl = min(ttl, req.TTL.D())
	}
	tok, err := identity.Sign(identity.Assertion{Issuer: h.opts.Issuer, Person: person.ID, Channel: "oidc", Act: req.Act,
		Workflow: req.Workflow, Run: req.Run, Subject: req.Subject, Gate: req.Gate, Approve: req.Approve, Choice: req.Choice},
		h.opts.Directory.Audience, h.opts.Key, h.opts.Now(), ttl)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, OutcomeBadRequest, err)
		return
	}
	h.opts.Observe(OutcomeSigned)
	h.opts.Logger.Info("identity asserted for an OIDC login", "person", person.ID, "oidc_subject", claims.Subject,
		"act", req.Act, "workflow", req.Workflow, "gate", req.Gate, "subject", req.Subject, "ttl", ttl)
	reply(w, http.StatusOK, oidc.AssertResponse{Assertion: tok, Person: person.ID})
}

// readRequest reads and checks the body: the act and what it is done to.
func (h *handler) readRequest(w http.ResponseWriter, r *http.Request) (oidc.AssertRequest, int, error) {
	var req oidc.AssertRequest
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return req, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than %d bytes", h.opts.MaxBodyBytes)
	}
	if err != nil {
		return req, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, http.StatusBadRequest, fmt.Errorf("body: %w", err)
	}
	var problems []string
	switch req.Act {
	case identity.ActStart:
		if req.Subject == "" {
			problems = append(problems, "subject: required to start: the plan or asset")
		}
	case identity.ActDecide:
		if req.Gate == "" {
			problems = append(problems, "gate: required to decide")
		}
	case identity.ActAcknowledge:
	default:
		problems = append(problems, fmt.Sprintf("act: %q is none of %s, %s, %s", req.Act, identity.ActStart, identity.ActDecide, identity.ActAcknowledge))
	}
	if strings.TrimSpace(req.Workflow) == "" {
		problems = append(problems, "workflow: required: the workflow ID the assertion is for")
	}
	if len(problems) > 0 {
		return req, http.StatusBadRequest, errors.New(strings.Join(problems, "; "))
	}
	return req, 0, nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, error) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", errors.New("no ID token: send Authorization: Bearer and the ID token lifeboat login got")
	}
	return strings.TrimSpace(tok), nil
}

func (h *handler) refuse(w http.ResponseWriter, r *http.Request, code int, outcome string, err error) {
	h.opts.Observe(outcome)
	h.opts.Logger.Warn("identity assertion refused", "outcome", outcome, "remote", r.RemoteAddr, "error", err)
	reply(w, code, oidc.AssertResponse{Error: err.Error()})
}

func reply(w http.ResponseWriter, code int, resp oidc.AssertResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(resp)
}
