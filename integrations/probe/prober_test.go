package probe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

func TestHTTPCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{"status":"ready"}`))
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/slow":
			time.Sleep(150 * time.Millisecond)
		case "/header":
			if r.Header.Get("X-Probe") != "yes" {
				w.WriteHeader(http.StatusForbidden)
			}
		}
	}))
	defer srv.Close()

	tests := []struct {
		name       string
		check      Check
		wantOK     bool
		wantDetail string
		wantReason string
	}{
		{name: "2xx passes", check: Check{Kind: HTTP, URL: srv.URL + "/ok"}, wantOK: true, wantDetail: "HTTP 200"},
		{name: "503 fails", check: Check{Kind: HTTP, URL: srv.URL + "/down"}, wantReason: "HTTP 503, want 2xx or 3xx"},
		{name: "redirect is not followed", check: Check{Kind: HTTP, URL: srv.URL + "/moved", ExpectStatus: []int{200}}, wantReason: "HTTP 302, want 200"},
		{name: "expected status list", check: Check{Kind: HTTP, URL: srv.URL + "/down", ExpectStatus: []int{503}}, wantOK: true},
		{name: "body contains", check: Check{Kind: HTTP, URL: srv.URL + "/ok", BodyContains: `"ready"`}, wantOK: true},
		{name: "body lacks", check: Check{Kind: HTTP, URL: srv.URL + "/ok", BodyContains: "green"}, wantReason: `body does not contain "green"`},
		{name: "headers sent", check: Check{Kind: HTTP, URL: srv.URL + "/header", Headers: map[string]string{"X-Probe": "yes"}}, wantOK: true},
		{name: "too slow", check: Check{Kind: HTTP, URL: srv.URL + "/slow", MaxLatency: units.Duration(50 * time.Millisecond)}, wantReason: "slower than max_latency 50ms"},
		{name: "timeout", check: Check{Kind: HTTP, URL: srv.URL + "/slow", Timeout: units.Duration(50 * time.Millisecond)}, wantReason: "no answer within 50ms"},
	}
	var p Prober
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := p.Run(context.Background(), tt.check)
			if err != nil {
				t.Fatal(err)
			}
			if out.OK != tt.wantOK || !strings.Contains(out.Detail, tt.wantDetail) || !strings.Contains(out.Reason, tt.wantReason) {
				t.Fatalf("outcome = %+v, want ok=%v detail~%q reason~%q", out, tt.wantOK, tt.wantDetail, tt.wantReason)
			}
			if out.Latency <= 0 {
				t.Fatalf("latency not measured: %+v", out)
			}
		})
	}
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	var p Prober
	out, err := p.Run(context.Background(), Check{Kind: TCP, Address: addr})
	if err != nil || !out.OK {
		t.Fatalf("open port: %+v, %v", out, err)
	}
	_ = ln.Close()
	out, err = p.Run(context.Background(), Check{Kind: TCP, Address: addr})
	if err != nil || out.OK || !strings.Contains(out.Reason, "refused") {
		t.Fatalf("closed port: %+v, %v", out, err)
	}
}

func TestMisconfiguredIsAnError(t *testing.T) {
	p := Prober{Secrets: secrets.Static{"bad": "not a dsn ::: %%"}}
	for name, c := range map[string]Check{
		"invalid check":      {Kind: HTTP},
		"unknown secret":     {Kind: Postgres, DSNSecret: "missing"},
		"no postgres runner": {Kind: Postgres, DSNSecret: "bad"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := p.Run(context.Background(), c)
			if !errors.Is(err, ErrMisconfigured) {
				t.Fatalf("error = %v, want ErrMisconfigured", err)
			}
			if strings.Contains(err.Error(), "%%") {
				t.Fatalf("error leaks the secret value: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		check Check
		want  []string
	}{
		{name: "valid http", check: Check{Kind: HTTP, URL: "https://example.com/healthz"}},
		{name: "valid postgres", check: Check{Kind: Postgres, DSNSecret: "db", ExpectRole: "replica", MaxReplicationLag: units.Duration(time.Second)}},
		{name: "missing kind", check: Check{}, want: []string{"c.kind: required"}},
		{name: "unknown kind", check: Check{Kind: "icmp"}, want: []string{`"icmp" is not one of`}},
		{name: "http without url", check: Check{Kind: HTTP}, want: []string{"c.url: required"}},
		{name: "relative url", check: Check{Kind: HTTP, URL: "/healthz"}, want: []string{"not an absolute http(s) URL"}},
		{name: "bad status", check: Check{Kind: HTTP, URL: "http://x", ExpectStatus: []int{42}}, want: []string{"42 is not an HTTP status"}},
		{name: "tcp without port", check: Check{Kind: TCP, Address: "db.internal"}, want: []string{"not host:port"}},
		{name: "fields of other kinds", check: Check{Kind: TCP, Address: "h:1", URL: "http://x", BodyContains: "a"}, want: []string{"c.url: does not apply", "c.body_contains: does not apply"}},
		{name: "every postgres problem", check: Check{Kind: Postgres, ExpectRole: "leader"}, want: []string{"c.dsn_secret: required", `"leader" is neither`}},
		{name: "lag on primary", check: Check{Kind: Postgres, DSNSecret: "d", ExpectRole: "primary", MaxReplicationLag: 1}, want: []string{"applies to replicas"}},
		{name: "latency over timeout", check: Check{Kind: TCP, Address: "h:1", Timeout: units.Duration(time.Second), MaxLatency: units.Duration(2 * time.Second)}, want: []string{"longer than the attempt timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check.Validate("c")
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
