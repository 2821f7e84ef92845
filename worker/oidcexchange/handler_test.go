package oidcexchange

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/oidc"
	"github.com/lifeboat-dr/lifeboat/testsuite/oidcprovider"
)

const (
	clientID     = "lifeboat-cli"
	clientSecret = "secret"
	workerIssuer = "lifeboat-worker"
)

// login runs the device flow as user for client at the provider and returns the ID token, the
// way lifeboat login does, with the user's browser steps done by the test.
func login(p *oidcprovider.Provider, client, user string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prov := &oidc.Provider{Issuer: p.Issuer, ClientID: client, ClientSecret: clientSecret}
	code, err := prov.StartDevice(ctx)
	if err != nil {
		return "", err
	}
	approved := make(chan error, 1)
	go func() { approved <- p.Approve(ctx, code.UserCode, user) }()
	tok, err := prov.FinishDevice(ctx, code)
	if err != nil {
		return "", fmt.Errorf("device flow for %s as %s: %w", client, user, err)
	}
	return tok.IDToken, <-approved
}

// fixture is a provider with Lifeboat's client and another application's, a directory, and ID
// tokens got through the device flow.
type fixture struct {
	provider                     *oidcprovider.Provider
	dir                          identity.Directory
	key                          []byte
	alice, stranger, otherClient string // ID tokens
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := oidcprovider.Start(t, oidcprovider.Client{ID: clientID, Secret: clientSecret}, oidcprovider.Client{ID: "other-app", Secret: clientSecret})
	seed, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{provider: p, key: seed, dir: identity.Directory{Mode: identity.Verified, Audience: "lifeboat-test", People: []identity.Person{
		{ID: "alice", Name: "Alice", OIDCSubject: oidcprovider.User2},
		{ID: "bob", Name: "Bob", Email: "bob@example.com"},
		{ID: "carol", Name: "Carol", Email: "carol@example.com"},
	}}}
	// The three device flows each wait for the provider's 5s poll interval: run them together.
	var wg sync.WaitGroup
	for dst, who := range map[*string][2]string{&f.alice: {clientID, oidcprovider.User2}, &f.stranger: {clientID, p.User1()}, &f.otherClient: {"other-app", oidcprovider.User2}} {
		wg.Go(func() {
			var err error
			if *dst, err = login(p, who[0], who[1]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return f
}

func (f *fixture) handler(t *testing.T, dir identity.Directory, observe func(string)) http.Handler {
	t.Helper()
	key, err := identity.ParsePrivateKey(f.key)
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Verifier: &oidc.Provider{Issuer: f.provider.Issuer, ClientID: clientID, ClientSecret: clientSecret},
		Directory: dir, Issuer: workerIssuer, Key: key, Observe: observe})
}

// resolved is the directory as workflows verify against it: the worker's key trusted.
func (f *fixture) resolved(t *testing.T) identity.Directory {
	key, err := identity.ParsePrivateKey(f.key)
	if err != nil {
		t.Fatal(err)
	}
	d := f.dir.WithDefaults()
	d.Issuers = append(d.Issuers, identity.Issuer{ID: workerIssuer, Keys: []string{identity.PublicOf(key)}})
	return d
}

// body is a request body that records whether anyone read it.
type body struct {
	io.Reader
	read bool
}

func (b *body) Read(p []byte) (int, error) { b.read = true; return b.Reader.Read(p) }

func post(h http.Handler, token string, payload string) (*httptest.ResponseRecorder, oidc.AssertResponse, *body) {
	b := &body{Reader: strings.NewReader(payload)}
	req := httptest.NewRequest(http.MethodPost, Path, b)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp oidc.AssertResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	return rec, resp, b
}

const decideApprove = `{"act":"decide","workflow":"recovery-x","run":"r1","gate":"approve","approve":true,"ttl":"1h"}`

func TestExchangeSignsForThePersonTheIDTokenNames(t *testing.T) {
	f := newFixture(t)
	var outcomes []string
	h := f.handler(t, f.dir, func(o string) { outcomes = append(outcomes, o) })
	dir := f.resolved(t)
	want := identity.Expect{Act: identity.ActDecide, Workflow: "recovery-x", Run: "r1", Gate: "approve", Approve: true}

	t.Run("a valid ID token", func(t *testing.T) {
		rec, resp, _ := post(h, f.alice, decideApprove)
		if rec.Code != http.StatusOK || resp.Person != "alice" {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		a, err := dir.Verify(resp.Assertion, time.Now(), want)
		if err != nil {
			t.Fatalf("the workflow would refuse the assertion: %v", err)
		}
		if a.Person != "alice" || a.Channel != "oidc" || a.Issuer != workerIssuer {
			t.Errorf("assertion %+v", a)
		}
		// Asked for 1h: the worker gives at most 5m.
		if life := a.Expires.Sub(a.IssuedAt); life != MaxTTL {
			t.Errorf("lifetime %s, want %s", life, MaxTTL)
		}
		if _, err := dir.Verify(resp.Assertion, time.Now(), identity.Expect{Act: identity.ActDecide, Workflow: "recovery-x", Run: "r1", Gate: "approve"}); err == nil {
			t.Error("an approval's assertion verified as a rejection")
		}
	})

	t.Run("a shorter lifetime asked, or a shorter max_token_age", func(t *testing.T) {
		_, resp, _ := post(h, f.alice, strings.Replace(decideApprove, `"1h"`, `"30s"`, 1))
		a, err := dir.Verify(resp.Assertion, time.Now(), want)
		if err != nil || a.Expires.Sub(a.IssuedAt) != 30*time.Second {
			t.Errorf("ttl 30s: %v, %+v", err, a)
		}
		short := f.dir
		short.MaxTokenAge = 2 * time.Minute
		_, resp, _ = post(f.handler(t, short, nil), f.alice, decideApprove)
		shortDir := dir
		shortDir.MaxTokenAge = 2 * time.Minute
		a, err = shortDir.Verify(resp.Assertion, time.Now(), want)
		if err != nil || a.Expires.Sub(a.IssuedAt) != 2*time.Minute {
			t.Errorf("max_token_age 2m: %v, %+v", err, a)
		}
	})

	t.Run("a start and an acknowledgement", func(t *testing.T) {
		_, resp, _ := post(h, f.alice, `{"act":"start","workflow":"recovery-db","subject":"db"}`)
		if _, err := dir.Verify(resp.Assertion, time.Now(), identity.Expect{Act: identity.ActStart, Workflow: "recovery-db", Subject: "db"}); err != nil {
			t.Errorf("start: %v (%+v)", err, resp)
		}
		_, resp, _ = post(h, f.alice, `{"act":"acknowledge","workflow":"recovery-db"}`)
		if _, err := dir.Verify(resp.Assertion, time.Now(), identity.Expect{Act: identity.ActAcknowledge, Workflow: "recovery-db"}); err != nil {
			t.Errorf("acknowledge: %v (%+v)", err, resp)
		}
	})

	// Tokens the provider's flows do not give here, signed with its own key.
	now := time.Now()
	signed := func(claims map[string]any) string {
		t.Helper()
		c := map[string]any{"iss": f.provider.Issuer, "aud": []string{clientID}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range claims {
			c[k] = v
		}
		tok, err := f.provider.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	t.Run("a verified email, for a person without an OIDC subject", func(t *testing.T) {
		rec, resp, _ := post(h, signed(map[string]any{"sub": "bob-at-idp", "email": "Bob@Example.com", "email_verified": true}), decideApprove)
		if rec.Code != http.StatusOK || resp.Person != "bob" {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		rec, resp, _ = post(h, signed(map[string]any{"sub": "carol-at-idp", "email": "carol@example.com", "email_verified": "true"}), decideApprove)
		if rec.Code != http.StatusOK || resp.Person != "carol" {
			t.Fatalf("email_verified as a string: %d %s", rec.Code, rec.Body)
		}
	})

	tampered := func(tok string) string {
		parts := strings.Split(tok, ".")
		var claims map[string]any
		b, _ := jsonSegment(parts[1])
		_ = json.Unmarshal(b, &claims)
		claims["sub"] = oidcprovider.User2
		parts[1] = segment(claims)
		return strings.Join(parts, ".")
	}
	refusals := []struct {
		name, token, authz string
		code               int
		want               string
	}{
		{"no bearer", "", "", http.StatusUnauthorized, "no ID token"},
		{"another scheme", "", "Basic YWxpY2U6eA==", http.StatusUnauthorized, "no ID token"},
		{"a subject the directory does not list", f.stranger, "", http.StatusForbidden, `OIDC subject "` + f.provider.User1() + `"`},
		{"a token for another client", f.otherClient, "", http.StatusForbidden, `expected audience "lifeboat-cli"`},
		{"a tampered token", tampered(f.stranger), "", http.StatusForbidden, "signature"},
		{"an expired token", signed(map[string]any{"sub": oidcprovider.User2, "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}), "", http.StatusForbidden, "expired"},
		{"another issuer", signed(map[string]any{"sub": oidcprovider.User2, "iss": "https://idp.example.com"}), "", http.StatusForbidden, "different provider"},
		{"an email not verified", signed(map[string]any{"sub": "bob-at-idp", "email": "bob@example.com", "email_verified": false}), "", http.StatusForbidden, "is not a person"},
		{"not a JWT", "not-a-token", "", http.StatusForbidden, "malformed"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			b := &body{Reader: strings.NewReader(decideApprove)}
			req := httptest.NewRequest(http.MethodPost, Path, b)
			switch {
			case tc.authz != "":
				req.Header.Set("Authorization", tc.authz)
			case tc.token != "":
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var resp oidc.AssertResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("not JSON: %s", rec.Body)
			}
			if rec.Code != tc.code || !strings.Contains(resp.Error, tc.want) || resp.Assertion != "" {
				t.Errorf("%d %+v; want %d and %q", rec.Code, resp, tc.code, tc.want)
			}
			if b.read {
				t.Error("the body was read before the ID token was checked")
			}
		})
	}

	badBodies := []struct {
		name, body string
		code       int
		want       string
	}{
		{"an unknown act", `{"act":"impersonate","workflow":"w"}`, http.StatusBadRequest, `act: "impersonate"`},
		{"no workflow", `{"act":"acknowledge"}`, http.StatusBadRequest, "workflow: required"},
		{"a decision without a gate", `{"act":"decide","workflow":"w","approve":true}`, http.StatusBadRequest, "gate: required"},
		{"a start without a subject", `{"act":"start","workflow":"w"}`, http.StatusBadRequest, "subject: required"},
		{"an unknown field", `{"act":"acknowledge","workflow":"w","person":"bob"}`, http.StatusBadRequest, `unknown field "person"`},
		{"a negative lifetime", `{"act":"acknowledge","workflow":"w","ttl":"-1m"}`, http.StatusBadRequest, "must not be negative"},
		{"a body too large", `{"act":"acknowledge","workflow":"` + strings.Repeat("w", DefaultMaxBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, "larger than"},
	}
	for _, tc := range badBodies {
		t.Run(tc.name, func(t *testing.T) {
			rec, resp, _ := post(h, f.alice, tc.body)
			if rec.Code != tc.code || !strings.Contains(resp.Error, tc.want) {
				t.Errorf("%d %+v; want %d and %q", rec.Code, resp, tc.code, tc.want)
			}
		})
	}
	for _, want := range []string{OutcomeSigned, OutcomeNoToken, OutcomeBadToken, OutcomeUnknownPerson, OutcomeBadRequest} {
		found := false
		for _, o := range outcomes {
			found = found || o == want
		}
		if !found {
			t.Errorf("outcome %q never observed (%v)", want, outcomes)
		}
	}

	// A provider that is down when the worker first needs it: 503, and the discovery is tried
	// again on the next request.
	t.Run("the provider down, then up", func(t *testing.T) {
		f.provider.SetDown(true)
		fresh := f.handler(t, f.dir, nil)
		rec, resp, b := post(fresh, f.alice, decideApprove)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(resp.Error, "cannot be reached") || rec.Header().Get("Retry-After") == "" || b.read {
			t.Fatalf("provider down: %d %+v, body read %v", rec.Code, resp, b.read)
		}
		f.provider.SetDown(false)
		if rec, resp, _ := post(fresh, f.alice, decideApprove); rec.Code != http.StatusOK || resp.Person != "alice" {
			t.Fatalf("provider up again: %d %s", rec.Code, rec.Body)
		}
	})
}
