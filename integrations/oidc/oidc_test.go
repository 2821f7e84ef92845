package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
)

// Exchange sends the ID token as a bearer and the request as JSON, and tells a refusal (with the
// worker's reason) from a worker that is not there or answers nonsense.
func TestExchangeAnswers(t *testing.T) {
	var got AssertRequest
	var bearer string
	tests := []struct {
		name    string
		status  int
		body    string
		want    string
		refused bool
	}{
		{"signed", http.StatusOK, `{"assertion":"a.b.c","person":"alice"}`, "", false},
		{"refused", http.StatusForbidden, `{"error":"OIDC subject \"x\" is not a person"}`, `the worker refused the login (403 Forbidden): OIDC subject "x" is not a person`, true},
		{"provider down", http.StatusServiceUnavailable, `{"error":"the OIDC provider cannot be reached"}`, "503 Service Unavailable: the OIDC provider cannot be reached", false},
		{"no endpoint", http.StatusNotFound, `404 page not found`, "does its configuration have identity.oidc?", false},
		{"no assertion", http.StatusOK, `{}`, "an answer without an assertion", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				bearer = r.Header.Get("Authorization")
				_ = json.NewDecoder(r.Body).Decode(&got)
				if r.URL.Path != AssertPath || r.Method != http.MethodPost {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			resp, err := Exchange(context.Background(), srv.Client(), srv.URL+"/", "id.token.x",
				AssertRequest{Act: identity.ActDecide, Workflow: "w", Gate: "g", Approve: true})
			if tc.want == "" {
				if err != nil || resp.Assertion != "a.b.c" || resp.Person != "alice" {
					t.Fatalf("%+v, %v", resp, err)
				}
				if bearer != "Bearer id.token.x" || got.Gate != "g" || !got.Approve || got.Act != identity.ActDecide {
					t.Errorf("sent %q, %+v", bearer, got)
				}
				return
			}
			var refused *RefusedError
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.As(err, &refused) != tc.refused {
				t.Errorf("err %v; want %q (refused %v)", err, tc.want, tc.refused)
			}
		})
	}
}

// A provider whose discovery document names no device endpoint cannot serve lifeboat login, and
// says so; one that cannot be reached is UnavailableError, and is asked again next time.
func TestStartDeviceNeedsTheDeviceEndpoint(t *testing.T) {
	var up atomic.Bool
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "token_endpoint": srv.URL + "/token",
			"authorization_endpoint": srv.URL + "/auth", "jwks_uri": srv.URL + "/keys"})
	}))
	defer srv.Close()
	p := &Provider{Issuer: srv.URL, ClientID: "c", HTTPClient: &http.Client{Timeout: 5 * time.Second}}
	var unavailable *UnavailableError
	if _, err := p.StartDevice(context.Background()); !errors.As(err, &unavailable) {
		t.Fatalf("provider down: %v", err)
	}
	up.Store(true)
	if _, err := p.StartDevice(context.Background()); err == nil || !strings.Contains(err.Error(), "names no device_authorization_endpoint") {
		t.Fatalf("no device endpoint: %v", err)
	}
}

func TestEmailVerifiedAsBoolOrString(t *testing.T) {
	for in, want := range map[string]bool{`true`: true, `false`: false, `"true"`: true, `"TRUE"`: true, `"false"`: false, `"yes"`: false} {
		var b stringOrBool
		if err := json.Unmarshal([]byte(in), &b); err != nil || bool(b) != want {
			t.Errorf("%s: %v, %v", in, b, err)
		}
	}
}
