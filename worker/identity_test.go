package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/testsuite/oidcprovider"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// Slack members become people through the identity directory; a member mapped to someone else in
// slack.users is refused; with the worker's key, a click's decision is signed for its person and
// verifies against the directory as the workflow resolves it.
func TestSlackDeciderMapsMembersThroughTheDirectory(t *testing.T) {
	seed, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Slack = &slack.Config{Users: map[string]string{"U0LEGACY": "legacy"}}
	cfg.Secrets = map[string]string{"identity-key": string(seed)}
	cfg.Identity = config.Identity{SigningKey: "identity-key", Directory: identity.Directory{Mode: identity.Verified,
		People: []identity.Person{{ID: "alice", Name: "Alice", Slack: "U0ALICE"}}}}

	d, scfg, err := slackDecider(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if scfg.Users["U0ALICE"] != "alice" || scfg.Users["U0LEGACY"] != "legacy" {
		t.Errorf("users %v", scfg.Users)
	}
	if d.Sign == nil {
		t.Fatal("no signer with identity.signing_key set")
	}
	run := slack.Run{WorkflowID: "recovery-x", RunID: "r1"}
	tok, err := d.Sign(run, approval.Decision{Gate: "approve", Approve: true, Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := cfg.Identity.Resolved(cfg.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	a, err := dir.Verify(tok, time.Now(), identity.Expect{Act: identity.ActDecide, Workflow: "recovery-x", Run: "r1", Gate: "approve", Approve: true})
	if err != nil || a.Person != "alice" || a.Channel != "slack" || a.Issuer != config.WorkerIssuer {
		t.Fatalf("the worker's assertion: %+v, %v", a, err)
	}
	if _, err := dir.Verify(tok, time.Now(), identity.Expect{Act: identity.ActDecide, Workflow: "recovery-x", Run: "r1", Gate: "approve", Approve: false}); err == nil {
		t.Error("an approval's assertion verified as a rejection")
	}

	cfg.Slack.Users["U0ALICE"] = "mallory"
	if _, _, err := slackDecider(cfg, nil); err == nil || !strings.Contains(err.Error(), `U0ALICE is "mallory" there but "alice" in the identity directory`) {
		t.Errorf("a member mapped to two people: %v", err)
	}

	cfg.Identity = config.Identity{}
	if d, scfg, err := slackDecider(cfg, nil); err != nil || d.Sign != nil || scfg.Users["U0ALICE"] != "mallory" {
		t.Errorf("without a directory: signer %v, users %v, %v", d.Sign != nil, scfg.Users, err)
	}
}

// With identity.oidc, the worker's HTTP server serves POST /identity/assert: it answers a request
// with a bad ID token from its headers, without waiting for the body it announced, and counts the
// outcome; without identity.oidc there is no such endpoint.
func TestServerMountsTheIdentityExchange(t *testing.T) {
	provider := oidcprovider.Start(t, oidcprovider.Client{ID: "lifeboat-cli", Secret: "secret"})
	seed, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	start := func(t *testing.T, cfg config.Config) string {
		t.Helper()
		cfg.HTTP.Listen = "127.0.0.1:0"
		m, err := newMetrics("test", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		s, err := newServer(cfg, m, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = s.serve() }()
		t.Cleanup(func() { _ = s.http.Close() })
		return s.addr()
	}
	cfg := config.Default()
	cfg.Secrets = map[string]string{"identity-key": string(seed)}
	cfg.Identity = config.Identity{SigningKey: "identity-key", OIDC: &config.OIDC{Issuer: provider.Issuer, ClientID: "lifeboat-cli"},
		Directory: identity.Directory{Mode: identity.Verified, People: []identity.Person{{ID: "alice", Name: "Alice", OIDCSubject: oidcprovider.User2}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	addr := start(t, cfg)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A body of 1 MiB is announced and never sent.
	fmt.Fprintf(conn, "POST /identity/assert HTTP/1.1\r\nHost: w\r\nAuthorization: Bearer not.an.idtoken\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 1<<20)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "ID token refused") {
		t.Fatalf("a bad ID token: %s %s", resp.Status, b)
	}
	resp, err = http.Post("http://"+addr+"/identity/assert", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no bearer: %s", resp.Status)
	}
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`lifeboat_identity_exchanges_total{outcome="bad_token"} 1`, `lifeboat_identity_exchanges_total{outcome="no_token"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	cfg.Identity.OIDC = nil
	resp, err = http.Post("http://"+start(t, cfg)+"/identity/assert", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("without identity.oidc: %s, want 404", resp.Status)
	}
}
