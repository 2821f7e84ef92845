package statuspage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultFetchTimeout bounds one reading of the Source.
const DefaultFetchTimeout = 10 * time.Second

// errFirstReading marks a page built while the first reading of the Source is still under way.
var errFirstReading = errors.New("statuspage: the first reading of the state is still under way")

//go:embed assets/page.html.tmpl assets/page.css assets/page.js
var assets embed.FS

var (
	pageCSS  = mustRead("assets/page.css")
	pageJS   = mustRead("assets/page.js")
	pageHTML = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
		"style":  func() template.CSS { return template.CSS(pageCSS) },
		"script": func() template.JS { return template.JS(pageJS) },
		"join":   joinNames,
		"iso":    func(m Moment) string { return m.Time.Format(time.RFC3339Nano) },
	}).ParseFS(assets, "assets/page.html.tmpl"))
	// contentSecurityPolicy allows the page's own inline style and script, by hash, and requests to
	// its own origin; nothing else.
	contentSecurityPolicy = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		cspHash(pageCSS), cspHash(pageJS))
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("statuspage: embedded %s: %v", name, err))
	}
	return string(b)
}

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Options tune a Handler.
type Options struct {
	// Logger receives a warning each time the Source fails (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FetchTimeout bounds one reading of the Source (default 10s).
	FetchTimeout time.Duration
}

// Handler serves the status page. It reads its Source at most once per cache period, whatever the
// number of visitors, and keeps the last good reading: when the Source fails, the page shows that
// reading "as of" its time instead of an error.
type Handler struct {
	cfg    Config
	src    Source
	assets []string
	logger *slog.Logger
	now    func() time.Time
	fetch  time.Duration

	mu        sync.Mutex
	last      *Snapshot     // the last reading that succeeded
	lastErr   error         // the error of the last attempt, nil when it succeeded
	attempted time.Time     // when the last attempt ended
	inflight  chan struct{} // closed when the attempt under way ends; nil when none is
	problems  string        // the details last logged as unreadable, to log each change once
}

// NewHandler returns a Handler for the page cfg describes, read from src. It validates nothing:
// call cfg.Validate when loading the configuration.
func NewHandler(cfg Config, src Source, opts Options) *Handler {
	cfg = cfg.WithDefaults()
	h := &Handler{cfg: cfg, src: src, logger: opts.Logger, now: opts.Now, fetch: opts.FetchTimeout}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.fetch <= 0 {
		h.fetch = DefaultFetchTimeout
	}
	for _, c := range cfg.Components {
		for _, a := range c.Assets {
			if !slices.Contains(h.assets, a) {
				h.assets = append(h.assets, a)
			}
		}
	}
	return h
}

// Register serves the page on mux: GET /status (HTML) and GET /status.json.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /status", h.ServeHTML)
	mux.HandleFunc("GET /status.json", h.ServeJSON)
}

// Page builds the page from the latest reading of the Source, reading it first when the cached one
// is older than the configured cache period.
func (h *Handler) Page(ctx context.Context) Page {
	snap, err := h.snapshot(ctx)
	return Build(h.cfg, snap, err, h.now())
}

// ServeHTML serves the page as HTML.
func (h *Handler) ServeHTML(w http.ResponseWriter, r *http.Request) {
	p := h.Page(r.Context())
	var b bytes.Buffer
	if err := pageHTML.Execute(&b, p); err != nil {
		h.logger.Error("status page not rendered", "error", err)
		http.Error(w, "statuspage: render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	headers(w, "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	_, _ = w.Write(b.Bytes())
}

// ServeJSON serves the page's data as JSON: the Page.
func (h *Handler) ServeJSON(w http.ResponseWriter, r *http.Request) {
	b, err := json.MarshalIndent(h.Page(r.Context()), "", "  ")
	if err != nil {
		h.logger.Error("status page not encoded", "error", err)
		http.Error(w, "statuspage: encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	headers(w, "application/json")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	_, _ = w.Write(append(b, '\n'))
}

func headers(w http.ResponseWriter, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// snapshot returns the last good reading and the error of the latest attempt, reading the Source
// when the latest attempt is older than the cache period. One reading runs at a time; visitors
// arriving meanwhile wait for it (or until their request ends, and then get the previous state).
// A failed attempt is cached like a good one, so an outage of Temporal is not hammered either.
func (h *Handler) snapshot(ctx context.Context) (*Snapshot, error) {
	h.mu.Lock()
	if !h.attempted.IsZero() && h.now().Sub(h.attempted) < h.cfg.CacheTTL.D() {
		defer h.mu.Unlock()
		return h.last, h.lastErr
	}
	if wait := h.inflight; wait != nil {
		h.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.attempted.IsZero() {
			return nil, errFirstReading
		}
		return h.last, h.lastErr
	}
	done := make(chan struct{})
	h.inflight = done
	h.mu.Unlock()

	snap, err := h.read(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.last, h.lastErr = &snap, nil
		h.logProblems(snap)
	} else {
		h.lastErr = err
		lastKnown := "none"
		if h.last != nil {
			lastKnown = h.last.At.UTC().Format(time.RFC3339)
		}
		h.logger.Warn("status page: state not read; showing the last known state", "error", err, "last_known", lastKnown)
	}
	h.attempted = h.now()
	h.inflight = nil
	close(done)
	return h.last, h.lastErr
}

// logProblems logs the details a reading could not get — a workflow whose status query failed —
// when they differ from the last reading's, so that a worker that stays down is reported once.
// Called with h.mu held.
func (h *Handler) logProblems(snap Snapshot) {
	var problems []string
	for _, r := range snap.Running {
		if r.Problem != "" {
			problems = append(problems, r.Problem)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(snap.Watchdogs)) {
		if p := snap.Watchdogs[a].Problem; p != "" {
			problems = append(problems, p)
		}
	}
	slices.Sort(problems)
	joined := strings.Join(problems, "\n")
	if joined == h.problems {
		return
	}
	h.problems = joined
	if len(problems) > 0 {
		h.logger.Warn("status page: some details not read; the page shows what visibility says instead", "problems", problems)
	}
}

// read reads the Source once, on a context of its own: the reading outlives the visitor who
// started it, since others may be waiting for it. A panicking Source is an error, not a page that
// waits forever.
func (h *Handler) read(ctx context.Context) (snap Snapshot, err error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.fetch)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("statuspage: source panicked: %v", p)
		}
	}()
	return h.src.Snapshot(fctx, Request{FinishedSince: h.now().Add(-h.cfg.IncidentWindow.D()), Assets: h.assets})
}
