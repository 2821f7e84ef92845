package faultproxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func upstream(t *testing.T) *httptest.Server {
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "1048576")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(p *Proxy) (int, int, error) {
	resp, err := http.Get(p.URL + "/bucket/object")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, len(b), err
}

func TestEachFaultReachesTheClient(t *testing.T) {
	up := upstream(t)
	for _, tc := range []struct {
		name   string
		faults Faults
		check  func(t *testing.T, code, n int, err error, st Stats)
	}{
		{"pass through", Faults{}, func(t *testing.T, code, n int, err error, st Stats) {
			if err != nil || code != 200 || n != 1<<20 || st.Requests != 1 {
				t.Fatalf("code %d, %d bytes, %v, %v", code, n, err, st)
			}
		}},
		{"5xx", Faults{ErrorRate: 1}, func(t *testing.T, code, n int, err error, st Stats) {
			if err != nil || (code != 500 && code != 503) || st.Errors != 1 {
				t.Fatalf("code %d, %v, %v", code, err, st)
			}
		}},
		{"reset", Faults{ResetRate: 1, Seed: 1}, func(t *testing.T, code, n int, err error, st Stats) {
			if err == nil || st.ResetsBefore+st.ResetsDuring != 1 {
				t.Fatalf("a reset connection gave code %d, %d bytes, no error; %v", code, n, st)
			}
			if st.ResetsDuring == 1 && (code != 200 || n >= 1<<20) {
				t.Fatalf("a response cut short gave code %d and %d bytes", code, n)
			}
		}},
		{"slow", Faults{SlowRate: 1}, func(t *testing.T, code, n int, err error, st Stats) {
			if err != nil || code != 200 || n != 1<<20 || st.Slowed != 1 {
				t.Fatalf("code %d, %d bytes, %v, %v", code, n, err, st)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Start(up.URL, tc.faults)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			code, n, err := get(p)
			tc.check(t, code, n, err, p.Stats())
		})
	}
}

func TestRatesAndOffSwitch(t *testing.T) {
	up := upstream(t)
	p, err := Start(up.URL, Faults{ErrorRate: 0.3, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	failed := 0
	for range 200 {
		if code, _, _ := get(p); code != 200 {
			failed++
		}
	}
	if failed < 30 || failed > 90 {
		t.Fatalf("%d of 200 requests failed at a 30%% error rate", failed)
	}
	p.SetEnabled(false)
	for range 50 {
		if code, n, err := get(p); code != 200 || n != 1<<20 || err != nil {
			t.Fatalf("with faults off: code %d, %d bytes, %v", code, n, err)
		}
	}
	if s := p.Stats().String(); !strings.Contains(s, "250 requests") {
		t.Fatalf("stats: %s", s)
	}
}
