package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"

	"github.com/lifeboat-dr/lifeboat/integrations/codec"
	"github.com/lifeboat-dr/lifeboat/integrations/oidc"
	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/slack"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/worker/intake"
	"github.com/lifeboat-dr/lifeboat/worker/oidcexchange"
	"github.com/lifeboat-dr/lifeboat/worker/readiness"
	"github.com/lifeboat-dr/lifeboat/worker/statuspage"
)

// server is the worker's one HTTP listener.
type server struct {
	ln     net.Listener
	http   *http.Server
	ready  atomic.Bool
	mu     sync.Mutex
	client client.Client
	// slack answers Slack's interaction POSTs once the worker has connected to Temporal.
	slack lateHandler
	// intake takes alerts; it answers 503 until it has the client.
	intake *intake.Handler
	// readiness serves /readiness when services are configured; its Source.Drills is set once the
	// evidence store is open.
	readiness *readiness.Handler
}

// lateHandler serves with a handler set once the worker is connected, and answers 503 before.
type lateHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lateHandler) set(h http.Handler) { l.h.Store(&h) }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := l.h.Load()
	if h == nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "starting: not connected to Temporal yet", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

func newServer(cfg config.Config, m *metrics, logger *slog.Logger) (*server, error) {
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http listen on %s: %w", cfg.HTTP.Listen, err)
	}
	s := &server{ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry}))
	ih, err := intake.New(intake.Options{Config: cfg.Intake, TaskQueue: cfg.Worker.TaskQueue,
		Secrets: secrets.Static(cfg.Secrets).Secret, Logger: logger,
		Observe: func(endpoint, outcome string) { m.alerts.WithLabelValues(endpoint, outcome).Inc() }})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	ih.Register(mux)
	s.intake = ih
	if cfg.Slack != nil && cfg.Slack.Transport != slack.TransportSocket {
		mux.Handle("POST /slack/interactions", &s.slack)
	}
	if cfg.Identity.OIDC != nil {
		h, err := identityExchange(cfg, m, logger)
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		mux.Handle("POST "+oidcexchange.Path, h)
	}
	if len(cfg.Services) > 0 {
		s.readiness = &readiness.Handler{Source: &readiness.Source{Config: cfg, Client: s.currentClient}, Policy: readinessPolicy(cfg), Logger: logger}
		s.readiness.Register(mux)
	}
	if cfg.StatusPage.Enabled() {
		statuspage.NewHandler(cfg.StatusPage, &statuspage.TemporalSource{Client: s.currentClient}, statuspage.Options{Logger: logger}).Register(mux)
	}

	keys, err := cfg.Keys()
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	if keys != nil {
		h := codec.NewHandler(codec.New(keys), codec.HandlerOptions{
			Tokens:       cfg.HTTP.Codec.Tokens,
			AllowOrigins: cfg.HTTP.Codec.AllowOrigins,
			Observe: func(op, outcome string) {
				m.codecRequests.WithLabelValues(op, outcome).Inc()
				if outcome == "unauthorized" || outcome == "forbidden_origin" {
					logger.Warn("codec request refused", "op", op, "outcome", outcome)
				}
			},
		})
		mux.Handle("/codec/", http.StripPrefix("/codec", h))
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: limits.readHeader, ReadTimeout: limits.read,
		WriteTimeout: limits.write, IdleTimeout: limits.idle, MaxHeaderBytes: limits.maxHeader}
	return s, nil
}

// readinessPolicy is the readiness section as the readiness package takes it.
func readinessPolicy(cfg config.Config) readiness.Policy {
	return readiness.Policy{DrillInterval: cfg.Readiness.DrillInterval.D(), Window: cfg.Readiness.Window.D()}
}

// identityExchange is POST /identity/assert: ID tokens of the configuration's OIDC provider
// exchanged for assertions the worker signs with identity.signing_key.
func identityExchange(cfg config.Config, m *metrics, logger *slog.Logger) (http.Handler, error) {
	sec := secrets.Static(cfg.Secrets)
	key, err := cfg.Identity.Signer(sec)
	if err != nil {
		return nil, err
	}
	dir, err := cfg.Identity.Resolved(sec)
	if err != nil {
		return nil, err
	}
	o := cfg.Identity.OIDC
	logger.Info("OIDC logins exchanged for assertions at POST "+oidcexchange.Path, "issuer", o.Issuer, "client_id", o.ClientID)
	return oidcexchange.New(oidcexchange.Options{
		Verifier:  &oidc.Provider{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes},
		Directory: dir, Issuer: config.WorkerIssuer, Key: key,
		Logger:  logger.With("component", "identity-exchange"),
		Observe: func(outcome string) { m.identityExchanges.WithLabelValues(outcome).Inc() },
	}), nil
}

// serverLimits bound what one client may hold of the worker's HTTP server: a request's headers
// and body must arrive in time, an answer must be written in time, and an idle connection closes.
// Each endpoint limits its own body size too (alerts, Slack interactions, codec payloads,
// identity exchanges).
type serverLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeader                     int
}

var limits = serverLimits{readHeader: 10 * time.Second, read: 30 * time.Second, write: time.Minute, idle: 2 * time.Minute, maxHeader: 64 << 10}

// currentClient is the Temporal client, nil until the worker has connected.
func (s *server) currentClient() client.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) serve() error {
	if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *server) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
}

func (s *server) setReady(v bool) { s.ready.Store(v) }

func (s *server) setClient(c client.Client) {
	s.mu.Lock()
	s.client = c
	s.mu.Unlock()
	s.intake.SetClient(c)
}

// readyz answers 200 once the worker polls its task queue and Temporal answers a health check.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	problems := map[string]string{}
	if !s.ready.Load() {
		problems["worker"] = "not polling yet"
	}
	if c == nil {
		problems["temporal"] = "not connected yet"
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			problems["temporal"] = err.Error()
		}
	}
	if len(problems) == 0 {
		fmt.Fprintln(w, "ready")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	names := make([]string, 0, len(problems))
	for n := range problems {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "%s: %s\n", n, problems[n])
	}
}
