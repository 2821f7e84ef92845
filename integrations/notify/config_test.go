package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
)

func TestValidateRoutesReportsEveryProblem(t *testing.T) {
	routes := []RouteConfig{
		{Name: "ops", Log: true},
		{Name: "Ops!", Log: true},
		{Name: "ops", Webhooks: []WebhookConfig{{URL: "https://hooks.example.com/a"}}},
		{Name: "silent"},
		{Name: "", Log: true},
		{Name: "dba", Webhooks: []WebhookConfig{
			{URL: ""},
			{URL: "ftp://files.example.com/x", Attempts: 11},
			{URL: "https:///no-host", Attempts: -1},
			{URL: "https://hooks.example.com/b", Headers: map[string]string{
				"Bad Header":           "x",
				"x-lifeboat-signature": "forged",
				"Content-Type":         "text/plain",
				"X-Token":              "a\r\nInjected: yes",
			}},
		}},
	}
	err := ValidateRoutes("notify.routes", routes)
	want := []string{
		`notify.routes[1] (Ops!).name: "Ops!": use 1-63 lower-case letters`,
		"notify.routes[2] (ops).name: also the name of notify.routes[0]",
		"notify.routes[3] (silent): no channel: set log or add a webhook",
		`notify.routes[4].name: "": use`,
		"notify.routes[5] (dba).webhooks[0].url: required",
		`notify.routes[5] (dba).webhooks[1].url: "ftp://files.example.com/x" is not an absolute http(s) URL`,
		"notify.routes[5] (dba).webhooks[1].attempts: 11 is not between 1 and 10",
		`notify.routes[5] (dba).webhooks[2].url: "https:///no-host" is not`,
		"notify.routes[5] (dba).webhooks[2].attempts: -1",
		`notify.routes[5] (dba).webhooks[3].headers: "Bad Header" is not a header name`,
		"notify.routes[5] (dba).webhooks[3].headers.x-lifeboat-signature: set by Lifeboat",
		"notify.routes[5] (dba).webhooks[3].headers.Content-Type: set by Lifeboat",
		"notify.routes[5] (dba).webhooks[3].headers.X-Token: the value contains a line break",
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q", w)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != len(want) {
		t.Errorf("%d problems reported, want %d:\n%v", n, len(want), err)
	}

	valid := []RouteConfig{
		{Name: "default", Log: true},
		{Name: "on-call", Webhooks: []WebhookConfig{{URL: "http://10.0.0.5:8080/alerts", SecretRef: "hook-key", Headers: map[string]string{"Authorization": "Bearer t"}, Attempts: 10}}},
	}
	if err := ValidateRoutes("routes", valid); err != nil {
		t.Fatalf("valid routes: %v", err)
	}
}

func TestRouteConfigDecodes(t *testing.T) {
	const doc = `
- name: on-call
  log: true
  webhooks:
    - url: https://hooks.example.com/lifeboat
      secret: hook-key
      headers: {X-Team: dr}
      timeout: 5s
      attempts: 4
`
	var routes []RouteConfig
	if err := yaml.Unmarshal([]byte(doc), &routes); err != nil {
		t.Fatal(err)
	}
	want := RouteConfig{Name: "on-call", Log: true, Webhooks: []WebhookConfig{{
		URL: "https://hooks.example.com/lifeboat", SecretRef: "hook-key", Headers: map[string]string{"X-Team": "dr"},
		Timeout: 5_000_000_000, Attempts: 4,
	}}}
	if len(routes) != 1 || !equalRoutes(routes[0], want) {
		t.Fatalf("yaml decoded %+v, want %+v", routes, want)
	}
	b, err := json.Marshal(routes[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"secret":"hook-key"`) || !strings.Contains(string(b), `"timeout":"5s"`) {
		t.Fatalf("json = %s", b)
	}
	var back RouteConfig
	if err := json.Unmarshal(b, &back); err != nil || !equalRoutes(back, want) {
		t.Fatalf("json round trip = %+v, %v", back, err)
	}
}

func equalRoutes(a, b RouteConfig) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestBuildWithoutRoutesLogs(t *testing.T) {
	var buf bytes.Buffer
	r, err := Build(nil, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Routes(); !slices.Equal(got, []string{DefaultRoute}) {
		t.Fatalf("routes = %v", got)
	}
	ds, err := r.Notify(context.Background(), nil, testMessage())
	if err != nil || len(ds) != 1 || ds[0].Notifier != "log" {
		t.Fatalf("deliveries %+v, error %v", ds, err)
	}
	if !strings.Contains(buf.String(), "Backup of orders-db failed") {
		t.Fatalf("log = %q", buf.String())
	}
}

// rotatingSecrets is a secret store whose values change while the router runs.
type rotatingSecrets struct {
	mu sync.Mutex
	secrets.Static
}

func (s *rotatingSecrets) Secret(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Static.Secret(ctx, name)
}

func (s *rotatingSecrets) set(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == "" {
		delete(s.Static, name)
	} else {
		s.Static[name] = value
	}
}

func TestBuild(t *testing.T) {
	var (
		mu   sync.Mutex
		keys = []string{"first-key"}
	)
	var rcv *receiver
	rcv = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		// The receiver checks requests with the key the secret store holds when they arrive.
		mu.Lock()
		key := keys[len(keys)-1]
		mu.Unlock()
		body := rcv.requests()[n-1].body
		if err := Verify([]byte(key), r.Header.Get(HeaderTimestamp), string(body), r.Header.Get(HeaderSignature), time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})
	store := &rotatingSecrets{Static: secrets.Static{"hook-key": "first-key"}}
	hook := WebhookConfig{URL: rcv.URL + "/alerts", SecretRef: "hook-key", Headers: map[string]string{"X-Team": "dr"}, Timeout: 2_000_000_000}
	var logs bytes.Buffer
	r, err := Build([]RouteConfig{
		{Name: "ops", Log: true, Webhooks: []WebhookConfig{hook}},
		{Name: "dba", Webhooks: []WebhookConfig{hook}},
	}, store.Secret, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Routes(); !slices.Equal(got, []string{"dba", "default", "ops"}) {
		t.Fatalf("routes = %v, want a default route added", got)
	}

	ds, err := r.Notify(context.Background(), []string{"dba", "ops"}, testMessage())
	if err != nil {
		t.Fatal(err)
	}
	if got := notifierNames(ds); !slices.Equal(got, []string{"dba/webhook " + rcv.URL + "/alerts", "ops/log"}) {
		t.Fatalf("deliveries = %v: want the shared webhook once, then the log", got)
	}
	for _, d := range ds {
		if !d.OK() {
			t.Fatalf("%s: %s", d.Notifier, d.Err)
		}
	}
	if n := len(rcv.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if got := rcv.requests()[0].header.Get("X-Team"); got != "dr" {
		t.Fatalf("X-Team = %q", got)
	}

	// A rotated secret signs the next message.
	store.set("hook-key", "second-key")
	mu.Lock()
	keys = append(keys, "second-key")
	mu.Unlock()
	if ds, err := r.Notify(context.Background(), []string{"dba"}, testMessage()); err != nil {
		t.Fatalf("after rotation: %v (%+v)", err, ds)
	}

	// A secret gone from the store is a permanent failure; the log still takes the message.
	store.set("hook-key", "")
	ds, err = r.Notify(context.Background(), []string{"ops"}, testMessage())
	if err != nil || len(ds) != 2 || !ds[0].OK() || ds[1].OK() || !strings.Contains(ds[1].Err, `secret "hook-key": secret not found`) {
		t.Fatalf("deliveries %+v, error %v", ds, err)
	}
	_, err = r.Notify(context.Background(), []string{"dba"}, testMessage())
	if err == nil || !IsPermanent(err) || !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("only the webhook, its secret gone: error = %v, want permanent", err)
	}
}

func TestBuildReportsEveryProblem(t *testing.T) {
	store := secrets.Static{"empty": ""}
	routes := []RouteConfig{
		{Name: "ops", Webhooks: []WebhookConfig{{URL: "https://a.example.com", SecretRef: "missing"}}},
		{Name: "dba", Webhooks: []WebhookConfig{{URL: "https://b.example.com", SecretRef: "empty"}}},
	}
	_, err := Build(routes, store.Secret, nil)
	for _, want := range []string{
		`routes[0] (ops).webhooks[0].secret: secret "missing": secret not found`,
		`routes[1] (dba).webhooks[0].secret: secret "empty" is empty`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := Build(routes[:1], nil, nil); err == nil || !strings.Contains(err.Error(), "no secrets to resolve it from") {
		t.Errorf("without a resolver: error = %v", err)
	}
	if _, err := Build([]RouteConfig{{Name: "ops"}}, nil, nil); err == nil || !strings.Contains(err.Error(), "routes[0] (ops): no channel") {
		t.Errorf("invalid route: error = %v", err)
	}
}
