package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/oidc"
	"github.com/lifeboat-dr/lifeboat/testsuite/oidcprovider"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/worker/oidcexchange"
)

func TestLoginAndLogoutHelp(t *testing.T) {
	for cmd, want := range map[string][]string{
		"login":  {"authorization flow", "--token-file", "LIFEBOAT_OIDC_TOKEN", "offline_access", "-o json"},
		"logout": {"--token-file", "LIFEBOAT_OIDC_TOKEN", "5 minutes at most"},
	} {
		out := helpOf(t, cmd)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("lifeboat %s --help does not mention %q:\n%s", cmd, w, out)
			}
		}
	}
}

// runWith runs the CLI in-process with env; stderr goes to errw.
func runWith(env map[string]string, errw io.Writer, args ...string) (string, int) {
	var out strings.Builder
	e := map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"}
	for k, v := range env {
		e[k] = v
	}
	code := run(context.Background(), args, config.MapEnv(e), strings.NewReader(""), &out, errw)
	return out.String(), code
}

var userCode = regexp.MustCompile(`enter the code (\S+)`)

// login runs lifeboat login with args and, once it prints the code, confirms it at the provider
// as user, as the person would in a browser.
func login(t *testing.T, p *oidcprovider.Provider, user string, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	pr, pw := io.Pipe()
	type result struct {
		out  string
		code int
	}
	done := make(chan result, 1)
	go func() {
		out, code := runWith(env, pw, append(args, "login")...)
		pw.Close()
		done <- result{out, code}
	}()
	var errb strings.Builder
	sc := bufio.NewScanner(pr)
	approved := make(chan error, 1)
	for sc.Scan() {
		line := sc.Text()
		errb.WriteString(line + "\n")
		if m := userCode.FindStringSubmatch(line); m != nil {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				approved <- p.Approve(ctx, m[1], user)
			}()
		}
	}
	r := <-done
	select {
	case err := <-approved:
		if err != nil {
			t.Errorf("confirming the code as %s: %v", user, err)
		}
	default:
		t.Errorf("lifeboat login printed no code:\n%s", errb.String())
	}
	return r.out, errb.String(), r.code
}

// lifeboat login runs the device flow against a real provider, stores the ID token aside-and-
// renamed with mode 0600, and says who logged in; without a key, lifeboat token then gets an
// assertion from the worker's exchange endpoint for that person, which the workflows' directory
// accepts; an expired login is renewed with its refresh token, or refused with "run lifeboat
// login"; lifeboat logout forgets it.
func TestLoginThenTheWorkerSignsForThePerson(t *testing.T) {
	provider := oidcprovider.Start(t, oidcprovider.Client{ID: "lifeboat-cli", Secret: "device-secret"})
	seed, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	configPath := filepath.Join(dir, "lifeboat.yaml")
	// The worker's exchange endpoint, served from the same configuration as lifeboat reads.
	workerSrv := httptest.NewUnstartedServer(nil)
	workerURL := "http://" + workerSrv.Listener.Addr().String()
	if err := os.WriteFile(configPath, []byte(fmt.Sprintf(`
secrets:
  worker-key: %q
identity:
  mode: verified
  audience: lifeboat-login-test
  signing_key: worker-key
  oidc:
    issuer: %s
    client_id: lifeboat-cli
    client_secret: device-secret
    scopes: [offline_access]
    worker_url: %s
  people:
    - {id: alice, name: Alice Martin, oidc_subject: %s}
    - {id: bob, name: Bob, email: bob@example.com}
`, seed, provider.Issuer, workerURL, oidcprovider.User2)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(configPath, config.MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	key, err := cfg.Identity.Signer(cfg.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := cfg.Identity.Resolved(cfg.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	workerSrv.Config.Handler = oidcexchange.New(oidcexchange.Options{Directory: resolved, Issuer: config.WorkerIssuer, Key: key,
		Verifier: &oidc.Provider{Issuer: provider.Issuer, ClientID: "lifeboat-cli", ClientSecret: "device-secret"}})
	workerSrv.Start()
	t.Cleanup(workerSrv.Close)

	aliceFile := filepath.Join(dir, "logins", "alice.json")
	strangerFile := filepath.Join(dir, "stranger.json")
	noKey := map[string]string{"LIFEBOAT_KEY": ""}
	// Both logins wait for the provider's 5s poll interval: run them together.
	var wg sync.WaitGroup
	var aliceOut, strangerOut, aliceErr string
	var aliceCode, strangerCode int
	wg.Go(func() {
		aliceOut, aliceErr, aliceCode = login(t, provider, oidcprovider.User2, noKey, "--config", configPath, "--token-file", aliceFile, "-o", "json")
	})
	wg.Go(func() {
		env := map[string]string{"LIFEBOAT_KEY": "", "LIFEBOAT_OIDC_TOKEN": strangerFile}
		strangerOut, _, strangerCode = login(t, provider, provider.User1(), env, "--config", configPath)
	})
	wg.Wait()
	if aliceCode != 0 || strangerCode != 0 {
		t.Fatalf("login: exit %d and %d\n%s%s\n%s", aliceCode, strangerCode, aliceOut, aliceErr, strangerOut)
	}
	if !strings.Contains(aliceErr, provider.Issuer+"/device") {
		t.Errorf("the verification URL is not on stderr:\n%s", aliceErr)
	}
	var out loginOutput
	if err := json.Unmarshal([]byte(aliceOut), &out); err != nil {
		t.Fatalf("login -o json: %v\n%s", err, aliceOut)
	}
	if out.Person != "alice" || out.Name != "Alice Martin" || out.Subject != oidcprovider.User2 || !out.Refresh || out.TokenFile != aliceFile || !out.Expiry.After(time.Now()) {
		t.Errorf("login output %+v", out)
	}
	if !strings.Contains(strangerOut, "lists nobody with that subject") || !strings.Contains(strangerOut, fmt.Sprintf("oidc_subject: %q", provider.User1())) {
		t.Errorf("a login the directory does not list:\n%s", strangerOut)
	}
	fi, err := os.Stat(aliceFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("login file: %v, mode %v", err, fi.Mode())
	}
	if entries, _ := os.ReadDir(filepath.Dir(aliceFile)); len(entries) != 1 {
		t.Errorf("files beside the login: %v", entries)
	}
	stored, err := readLogin(aliceFile)
	if err != nil || stored.Issuer != provider.Issuer || stored.ClientID != "lifeboat-cli" || stored.IDToken == "" || stored.RefreshToken == "" {
		t.Fatalf("stored login %+v, %v", stored, err)
	}

	aliceArgs := []string{"--config", configPath, "--token-file", aliceFile}
	token := func(env map[string]string, args ...string) (string, string, int) {
		var errb strings.Builder
		out, code := runWith(env, &errb, append(args, "token", "decide", "recovery-x", "--gate", "approve", "--approve", "--ttl", "20m")...)
		return strings.TrimSpace(out), errb.String(), code
	}
	verifies := func(t *testing.T, tok string) {
		t.Helper()
		a, err := resolved.Verify(tok, time.Now(), identity.Expect{Act: identity.ActDecide, Workflow: "recovery-x", Gate: "approve", Approve: true})
		if err != nil || a.Person != "alice" || a.Channel != "oidc" || a.Issuer != config.WorkerIssuer {
			t.Fatalf("the assertion: %+v, %v", a, err)
		}
		if a.Expires.Sub(a.IssuedAt) != oidcexchange.MaxTTL {
			t.Errorf("asked for 20m, got an assertion for %s", a.Expires.Sub(a.IssuedAt))
		}
	}
	tok, stderr, code := token(noKey, aliceArgs...)
	if code != 0 {
		t.Fatalf("token decide after login: exit %d: %s", code, stderr)
	}
	verifies(t, tok)

	// The stranger's login is refused by the worker, with the reason.
	if _, stderr, code := token(map[string]string{"LIFEBOAT_KEY": "", "LIFEBOAT_OIDC_TOKEN": strangerFile}, "--config", configPath); code != exitUsage ||
		!strings.Contains(stderr, "the worker refused the login (403 Forbidden)") || !strings.Contains(stderr, "is not a person in this deployment's identity directory") {
		t.Errorf("a login for nobody in the directory: exit %d: %s", code, stderr)
	}

	// --as must be the person logged in, under any of their names.
	a := &app{env: config.MapEnv(map[string]string{"LIFEBOAT_KEY": ""}), tokenFile: aliceFile}
	claim := identity.Assertion{Act: identity.ActAcknowledge, Workflow: "recovery-x"}
	if _, err := a.assert(context.Background(), cfg, "bob@example.com", true, claim, time.Minute); err == nil || !strings.Contains(err.Error(), "--as bob@example.com: you are logged in as alice") {
		t.Errorf("--as another person: %v", err)
	}
	if s, err := a.assert(context.Background(), cfg, oidcprovider.User2, true, claim, time.Minute); err != nil || s.person != "alice" || s.channel != "oidc" {
		t.Errorf("--as the person's OIDC subject: %+v, %v", s, err)
	}

	// An expired login is renewed with its refresh token, and stored again.
	expired := *stored
	expired.Expiry = time.Now().Add(-time.Minute)
	if err := writeLogin(aliceFile, expired); err != nil {
		t.Fatal(err)
	}
	tok, stderr, code = token(noKey, aliceArgs...)
	if code != 0 {
		t.Fatalf("token decide with an expired, renewable login: exit %d: %s", code, stderr)
	}
	verifies(t, tok)
	renewed, err := readLogin(aliceFile)
	if err != nil || !renewed.Expiry.After(time.Now()) || renewed.RefreshToken == stored.RefreshToken || renewed.IDToken == stored.IDToken {
		t.Errorf("the renewed login was not stored: %+v, %v", renewed, err)
	}
	// Without a refresh token, or with one the provider no longer takes: log in again.
	expired.RefreshToken = ""
	if err := writeLogin(aliceFile, expired); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := token(noKey, aliceArgs...); code != exitUsage || !strings.Contains(stderr, "expired at") || !strings.Contains(stderr, "run lifeboat login") {
		t.Errorf("an expired login: exit %d: %s", code, stderr)
	}
	expired.RefreshToken = stored.RefreshToken // used already: rotated by the renewal
	if err := writeLogin(aliceFile, expired); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := token(noKey, aliceArgs...); code != exitUsage || !strings.Contains(stderr, "could not be renewed") {
		t.Errorf("a login whose refresh token is spent: exit %d: %s", code, stderr)
	}
	// A login for another provider is not sent to this deployment's worker.
	other := *renewed
	other.Issuer = "https://login.example.com"
	if err := writeLogin(aliceFile, other); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := token(noKey, aliceArgs...); code != exitUsage || !strings.Contains(stderr, "is for https://login.example.com") {
		t.Errorf("a login for another provider: exit %d: %s", code, stderr)
	}

	// logout removes the login, once; then there is nothing to sign with.
	for i, want := range []string{`"removed": true`, `"removed": false`} {
		var errb strings.Builder
		out, code := runWith(noKey, &errb, append(aliceArgs, "logout", "-o", "json")...)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("logout #%d: exit %d, %s%s", i+1, code, out, errb.String())
		}
	}
	if _, err := os.Stat(aliceFile); !os.IsNotExist(err) {
		t.Errorf("the login is still there: %v", err)
	}
	if _, stderr, code := token(noKey, aliceArgs...); code != exitUsage || !strings.Contains(stderr, "you are not logged in") {
		t.Errorf("after logout: exit %d: %s", code, stderr)
	}
	var errb strings.Builder
	if out, code := runWith(map[string]string{"LIFEBOAT_OIDC_TOKEN": strangerFile}, &errb, "--config", configPath, "logout"); code != 0 || !strings.Contains(out, "Logged out: removed "+strangerFile) {
		t.Errorf("logout with LIFEBOAT_OIDC_TOKEN: exit %d: %s%s", code, out, errb.String())
	}
}

// login needs the configuration's OIDC provider; a configuration without one says so.
func TestLoginWithoutOIDCConfigured(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("identity: trust-client\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	if _, code := runWith(nil, &errb, "--config", path, "login"); code != exitUsage || !strings.Contains(errb.String(), "has no identity.oidc") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	// A stored login is ignored where the configuration takes none: names go as typed.
	tokenFile := filepath.Join(dir, "login.json")
	if err := writeLogin(tokenFile, oidcLogin{Issuer: "https://login.example.com", ClientID: "c", IDToken: "x.y.z", Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.MapEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	a := &app{env: config.MapEnv(map[string]string{"LIFEBOAT_KEY": ""}), tokenFile: tokenFile}
	if s, err := a.assert(context.Background(), cfg, "alice", true, identity.Assertion{Act: identity.ActAcknowledge, Workflow: "w"}, time.Minute); err != nil || s.token != "" || s.person != "alice" {
		t.Errorf("trust-client without oidc: %+v, %v", s, err)
	}
}
