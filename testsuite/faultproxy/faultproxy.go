package faultproxy

// The proxy injects the faults object storage shows on a bad day — 500 and 503 answers,
// connections reset before or in the middle of a response, and slow responses — between a client
// and a real server such as MinIO. The fault harness puts it in front of the repository's S3
// backend.

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Faults says how often each fault happens; every rate is a share of requests, from 0 to 1.
type Faults struct {
	// ErrorRate of requests are answered 500 or 503 (half each) without reaching the upstream.
	ErrorRate float64
	// ResetRate of requests have their connection reset: half before the request reaches the
	// upstream, half after the upstream answered, in the middle of the response body (for the
	// client, the request may or may not have taken effect).
	ResetRate float64
	// SlowRate of responses are held back SlowDelay before the first byte.
	SlowRate  float64
	SlowDelay time.Duration
	// Seed makes the sequence of faults repeatable.
	Seed uint64
}

// Default is the harness's mix: 5% errors, 2% resets, 5% responses slowed by 300ms.
var Default = Faults{ErrorRate: 0.05, ResetRate: 0.02, SlowRate: 0.05, SlowDelay: 300 * time.Millisecond}

// Stats count what the proxy did.
type Stats struct {
	Requests, Errors, ResetsBefore, ResetsDuring, Slowed int64
}

func (s Stats) String() string {
	return fmt.Sprintf("%d requests: %d answered 5xx, %d reset before and %d during the response, %d slowed",
		s.Requests, s.Errors, s.ResetsBefore, s.ResetsDuring, s.Slowed)
}

// Proxy is a running fault proxy.
type Proxy struct {
	// URL is the proxy's base URL, to use in place of the upstream's.
	URL string

	faults                                               Faults
	upstream                                             *url.URL
	rp                                                   *httputil.ReverseProxy
	srv                                                  *http.Server
	ln                                                   net.Listener
	mu                                                   sync.Mutex
	rng                                                  *rand.Rand
	enabled                                              atomic.Bool
	requests, errors, resetsBefore, resetsDuring, slowed atomic.Int64
}

// Start listens on a free loopback port and proxies to upstream ("http://127.0.0.1:9000") with
// faults on. Close stops it.
func Start(upstream string, f Faults) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream %q: %w", upstream, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), faults: f, upstream: u, ln: ln, rng: rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))}
	p.enabled.Store(true)
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // S3 signatures cover the Host header the client signed
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "faultproxy: upstream: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// SetEnabled turns faults on or off; off, the proxy passes everything through.
func (p *Proxy) SetEnabled(on bool) { p.enabled.Store(on) }

// Close stops the proxy.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.srv.Shutdown(ctx)
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	return Stats{Requests: p.requests.Load(), Errors: p.errors.Load(), ResetsBefore: p.resetsBefore.Load(),
		ResetsDuring: p.resetsDuring.Load(), Slowed: p.slowed.Load()}
}

type fault int

const (
	none fault = iota
	err500
	err503
	resetBefore
	resetDuring
	slow
)

func (p *Proxy) pick() fault {
	if !p.enabled.Load() {
		return none
	}
	p.mu.Lock()
	x := p.rng.Float64()
	half := p.rng.IntN(2) == 0
	p.mu.Unlock()
	f := p.faults
	switch {
	case x < f.ErrorRate:
		if half {
			return err500
		}
		return err503
	case x < f.ErrorRate+f.ResetRate:
		if half {
			return resetBefore
		}
		return resetDuring
	case x < f.ErrorRate+f.ResetRate+f.SlowRate:
		return slow
	}
	return none
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	switch f := p.pick(); f {
	case err500, err503:
		p.errors.Add(1)
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		code, name := http.StatusInternalServerError, "InternalError"
		if f == err503 {
			code, name = http.StatusServiceUnavailable, "SlowDown"
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(code)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by the fault proxy</Message></Error>`, name)
		return
	case resetBefore:
		p.resetsBefore.Add(1)
		reset(w)
		return
	case resetDuring:
		p.resetsDuring.Add(1)
		p.rp.ServeHTTP(&cutWriter{ResponseWriter: w, after: 1}, r)
		return
	case slow:
		p.slowed.Add(1)
		time.Sleep(p.faults.SlowDelay)
	}
	p.rp.ServeHTTP(w, r)
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// cutWriter passes the status and headers through, then resets the connection once a body write
// comes: the client sees a response that breaks off. A response without a body arrives whole.
type cutWriter struct {
	http.ResponseWriter
	after int
	n     int
}

func (c *cutWriter) Write(b []byte) (int, error) {
	c.n++
	if c.n > c.after {
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		reset(c.ResponseWriter)
		return 0, io.ErrClosedPipe
	}
	if len(b) > 1 {
		// Half of the first chunk, so the client has started on a body it will not finish.
		n, err := c.ResponseWriter.Write(b[:len(b)/2])
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		reset(c.ResponseWriter)
		if err == nil {
			err = io.ErrClosedPipe
		}
		return n, err
	}
	return c.ResponseWriter.Write(b)
}

func (c *cutWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
