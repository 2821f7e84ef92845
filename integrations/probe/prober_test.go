package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"syscall"
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
		{name: "body lacks", check: Check{Kind: HTTP, URL: srv.URL + "/ok", BodyContains: "green"}, wantReason: "HTTP 200, unexpected body"},
		{name: "headers sent", check: Check{Kind: HTTP, URL: srv.URL + "/header", Headers: map[string]string{"X-Probe": "yes"}}, wantOK: true},
		{name: "too slow", check: Check{Kind: HTTP, URL: srv.URL + "/slow", MaxLatency: units.Duration(50 * time.Millisecond)}, wantReason: "slower than max_latency 50ms"},
		{name: "timeout", check: Check{Kind: HTTP, URL: srv.URL + "/slow", Timeout: units.Duration(50 * time.Millisecond)}, wantReason: "timeout: no answer within 50ms"},
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
	if err != nil || out.OK || out.Reason != ReasonRefused || strings.Contains(out.Reason, addr) {
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

// What a target says — a body, a malformed answer, an address, a password in the URL — never
// reaches the reason, which is stored in history; the full error stays in Cause for the log.
func TestReasonsQuoteNothingTheTargetSaid(t *testing.T) {
	const secret = "hunter2-s3cret"
	leaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":"db password ` + secret + ` rejected","dsn":"postgres://app:` + secret + `@10.0.0.7/orders"}`))
	}))
	defer leaky.Close()
	// A server that answers with a status line the client cannot parse, which the client's error quotes.
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	go func() {
		for {
			c, err := raw.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 " + secret + " OK\r\nContent-Length: 0\r\n\r\n"))
			_ = c.Close()
		}
	}()
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()

	tests := []struct {
		name       string
		check      Check
		wantReason string
		wantCause  string
	}{
		{"error body", Check{Kind: HTTP, URL: leaky.URL}, "HTTP 500, want 2xx or 3xx", ""},
		{"body lacks the expected text", Check{Kind: HTTP, URL: leaky.URL, ExpectStatus: []int{500}, BodyContains: "ready"}, "HTTP 500, unexpected body: it does not contain body_contains", ""},
		{"malformed answer", Check{Kind: HTTP, URL: "http://" + raw.Addr().String() + "/"}, ReasonUnknown, secret},
		{"password in the URL", Check{Kind: HTTP, URL: "http://probe:" + secret + "@" + closed + "/"}, ReasonRefused, closed},
		{"unknown host", Check{Kind: TCP, Address: "no-such-host.invalid:5432"}, ReasonDNS + ": no such host", "no-such-host.invalid"},
	}
	var p Prober
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := p.Run(context.Background(), tt.check)
			if err != nil {
				t.Fatal(err)
			}
			if out.OK || out.Reason != tt.wantReason {
				t.Fatalf("outcome %+v, want reason %q", out, tt.wantReason)
			}
			for _, leak := range []string{secret, "10.0.0.7", "127.0.0.1", "no-such-host"} {
				if strings.Contains(out.Reason, leak) || strings.Contains(out.Detail, leak) {
					t.Errorf("report %+v quotes %q", out, leak)
				}
			}
			if tt.wantCause != "" && (out.Cause == nil || !strings.Contains(out.Cause.Error(), tt.wantCause)) {
				t.Errorf("cause %v, want the full error (mentioning %q) for the log", out.Cause, tt.wantCause)
			}
			if b, _ := json.Marshal(out); strings.Contains(string(b), secret) || strings.Contains(string(b), "127.0.0.1") {
				t.Errorf("serialized outcome %s carries the cause", b)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, ReasonRefused},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, ReasonReset},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, ReasonUnreachable},
		{&net.DNSError{Name: "db.internal", IsNotFound: true}, ReasonDNS + ": no such host"},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), ReasonTimeout},
		{fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), ReasonTLS + ": certificate not trusted"},
		{fmt.Errorf("tls: %w", x509.HostnameError{Host: "db.internal", Certificate: &x509.Certificate{}}), ReasonTLS + ": certificate does not match the host"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ReasonTLS},
		{io.ErrUnexpectedEOF, ReasonClosed},
		{errors.New("password hunter2 rejected by 10.0.0.7"), ReasonUnknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestReferenceAndSame(t *testing.T) {
	configured := Check{Name: "api", Kind: HTTP, URL: "https://orders.internal/healthz", Headers: map[string]string{"A": "1", "B": "2"}}
	if !(Check{Name: "api"}).IsReference() || (Check{}).IsReference() || (Check{Name: "api", Optional: true}).IsReference() || configured.IsReference() {
		t.Fatal("IsReference: only a check that gives nothing but its name is a reference")
	}
	same := Check{Name: "api", Kind: HTTP, URL: "https://orders.internal/healthz", Headers: map[string]string{"B": "2", "A": "1"}, ExpectStatus: []int{}}
	if !configured.Same(same) {
		t.Fatal("the same definition, maps in another order and an empty list for none, is not Same")
	}
	for name, other := range map[string]Check{
		"other URL":     {Name: "api", Kind: HTTP, URL: "https://evil.example/healthz", Headers: configured.Headers},
		"other header":  {Name: "api", Kind: HTTP, URL: configured.URL, Headers: map[string]string{"A": "1", "B": "3"}},
		"optional too":  {Name: "api", Kind: HTTP, URL: configured.URL, Headers: configured.Headers, Optional: true},
		"just the name": {Name: "api"},
	} {
		if configured.Same(other) {
			t.Errorf("%s: Same", name)
		}
	}
}

// IsReference and Same look at every field of Check: a field added later without them fails here.
func TestReferenceAndSameCoverEveryField(t *testing.T) {
	base := Check{Name: "api"}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Name" {
			continue
		}
		c := base
		v := reflect.ValueOf(&c).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString("x")
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int64:
			v.SetInt(1)
		case reflect.Map:
			v.Set(reflect.ValueOf(map[string]string{"k": "v"}))
		case reflect.Slice:
			v.Set(reflect.ValueOf([]int{200}))
		default:
			t.Fatalf("field %s: kind %s not covered by this test", f.Name, v.Kind())
		}
		if c.IsReference() {
			t.Errorf("IsReference ignores %s", f.Name)
		}
		if c.Same(base) || base.Same(c) {
			t.Errorf("Same ignores %s", f.Name)
		}
	}
}

// What a report and the Web UI show of a check carries none of the secrets a URL may hold.
func TestTargetShowsNoSecret(t *testing.T) {
	tests := []struct {
		check Check
		want  string
	}{
		{Check{Kind: HTTP, URL: "https://probe:s3cret@api.example.com:8443/healthz?token=s3cret#s3cret"}, "https://probe:xxxxx@api.example.com:8443/healthz"},
		{Check{Kind: HTTP, URL: "http://api.example.com/healthz?"}, "http://api.example.com/healthz"},
		{Check{Kind: HTTP, URL: "http://s3cret@[::1/%zz"}, "(an invalid URL)"},
		{Check{Kind: TCP, Address: "db.example.com:5432"}, "db.example.com:5432"},
		{Check{Kind: Postgres, DSNSecret: "orders-primary"}, "secret orders-primary"},
	}
	for _, tt := range tests {
		if got := tt.check.Target(); got != tt.want || strings.Contains(got, "s3cret") {
			t.Errorf("Target of %q = %q, want %q", tt.check.URL+tt.check.Address, got, tt.want)
		}
	}
}
