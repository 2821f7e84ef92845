package readiness

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Paths the handler serves.
const (
	PagePath = "/readiness"
	JSONPath = "/readiness.json"
)

// Handler serves the readiness page and its JSON. One computation serves every request for
// CacheTTL.
type Handler struct {
	Source *Source
	Policy Policy
	// CacheTTL is how long one computation serves (default 10s); Refresh how often an open page
	// reloads (default 60s).
	CacheTTL time.Duration
	Refresh  time.Duration
	Logger   *slog.Logger

	mu     sync.Mutex
	at     time.Time
	cached Report
}

// Register adds the handler's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PagePath, h.page)
	mux.HandleFunc("GET "+JSONPath, h.json)
}

// SetDrills sets where drills are read from, once the evidence store is open.
func (h *Handler) SetDrills(d DrillSource) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Source.Drills, h.at = d, time.Time{}
}

// Report returns the current report, computed at most once per CacheTTL.
func (h *Handler) Report(ctx context.Context) Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	ttl := h.CacheTTL
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	if !h.at.IsZero() && time.Since(h.at) < ttl {
		return h.cached
	}
	h.cached = Compute(h.Source.Inputs(ctx), h.Policy)
	h.at = time.Now()
	return h.cached
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	refresh := h.Refresh
	if refresh == 0 {
		refresh = time.Minute
	}
	var buf bytes.Buffer
	if err := HTML(&buf, h.Report(r.Context()), refresh); err != nil {
		h.logger().Error("readiness page", "error", err)
		http.Error(w, "the readiness page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) json(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(h.Report(r.Context()))
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
