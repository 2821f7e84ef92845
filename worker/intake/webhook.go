package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dr/lifeboat/integrations/notify/webhook"
)

// WebhookAlert is the JSON body of the generic webhook: one alert. Unknown fields are refused, so
// that a misspelt one is not silently ignored.
type WebhookAlert struct {
	// Fingerprint identifies the alert: the same for every notification of it. Up to 128 letters,
	// digits, '.', '_' and ':' are used as they are; anything else (such as a '-') is replaced by
	// its hash. ID is accepted in its place. Without either, the alert is known by its labels.
	Fingerprint string `json:"fingerprint,omitempty"`
	ID          string `json:"id,omitempty"`
	// Status is firing or resolved.
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"starts_at,omitzero"`
	EndsAt      time.Time         `json:"ends_at,omitzero"`
	// URL links to the alert at its source.
	URL string `json:"url,omitempty"`
	// Source names the sender, such as "grafana" or "pagerduty".
	Source string `json:"source,omitempty"`
}

// serveWebhook handles POST /alerts/webhook: one signed alert.
func (h *Handler) serveWebhook(w http.ResponseWriter, r *http.Request) {
	const endpoint = "webhook"
	// Everything that can be checked without the body is checked before it is read: an unsigned or
	// stale request costs the worker no more than its headers.
	key, err := h.secret(r.Context(), h.opts.Config.Webhook.Secret)
	if err != nil {
		h.opts.Logger.Error("webhook signatures cannot be checked", "error", err)
		h.refuse(w, r, endpoint, http.StatusServiceUnavailable, "credentials unavailable", errors.New("the worker cannot check signatures now: see its log"))
		return
	}
	ts, sig := r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature)
	if ts == "" || sig == "" {
		h.refuse(w, r, endpoint, http.StatusUnauthorized, "unauthorized", fmt.Errorf("%w: %s and %s headers required", webhook.ErrBadSignature, webhook.HeaderTimestamp, webhook.HeaderSignature))
		return
	}
	now := h.opts.Now()
	tolerance := h.opts.Config.Webhook.Tolerance.Or(webhook.DefaultTolerance)
	if _, err := webhook.CheckHeaders(ts, sig, now, tolerance); err != nil {
		h.refuse(w, r, endpoint, http.StatusUnauthorized, "unauthorized", err)
		return
	}
	body, tooLarge, err := h.readBody(w, r)
	if tooLarge {
		h.refuse(w, r, endpoint, http.StatusRequestEntityTooLarge, "too large", err)
		return
	}
	if err != nil {
		h.refuse(w, r, endpoint, http.StatusBadRequest, "bad request", err)
		return
	}
	if err := webhook.Verify([]byte(key), ts, string(body), sig, now, tolerance); err != nil {
		h.refuse(w, r, endpoint, http.StatusUnauthorized, "unauthorized", err)
		return
	}
	secs, _ := strconv.ParseInt(ts, 10, 64) // Verify parsed it
	// A signature seen before is a replay: refused for as long as Verify would accept it. Verify
	// reads the hex in either case and ignores surrounding space, so the key does too.
	replayKey := strings.ToLower(strings.TrimSpace(sig))
	seen, full := h.replays.reserve(replayKey, time.Unix(secs, 0).Add(tolerance), now)
	switch {
	case seen:
		h.refuse(w, r, endpoint, http.StatusConflict, "replayed", errors.New("request already received (same timestamp and signature): not processed again; sign each request anew"))
		return
	case full:
		h.refuse(w, r, endpoint, http.StatusServiceUnavailable, "replay cache full", errors.New("too many signed requests within the tolerance: retry later"))
		return
	}
	processed := false
	defer func() {
		if !processed {
			h.replays.release(replayKey) // the sender may retry it
		}
	}()

	var in WebhookAlert
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		h.refuse(w, r, endpoint, http.StatusBadRequest, "bad request", fmt.Errorf("body is not a webhook alert: %w", err))
		return
	}
	given := in.Fingerprint
	if given == "" {
		given = in.ID
	}
	source := strings.TrimSpace(in.Source)
	if source == "" {
		source = "unnamed"
	}
	a := alert{
		Status: in.Status, Fingerprint: fingerprint(given, in.Labels), Labels: in.Labels, Annotations: in.Annotations,
		StartsAt: in.StartsAt, EndsAt: in.EndsAt, GeneratorURL: in.URL, Source: "webhook/" + cut(source, 100),
	}
	if problems := a.validate(); len(problems) > 0 {
		h.refuse(w, r, endpoint, http.StatusBadRequest, "bad request", errors.New(strings.Join(problems, "; ")))
		return
	}
	results, failed := h.deliver(r.Context(), endpoint, []alert{a})
	processed = !failed
	answer(w, results, failed, nil)
}

// maxReplayEntries bounds the signatures remembered against replays.
const maxReplayEntries = 100_000

// replayGuard remembers the signatures of accepted requests until their timestamps leave the
// tolerance, after which Verify refuses them anyway.
type replayGuard struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time // signature → when it may be forgotten
}

func newReplayGuard(max int) *replayGuard {
	return &replayGuard{max: max, seen: map[string]time.Time{}}
}

// reserve records sig until expires. It reports seen when sig is already recorded, and full when
// no room is left even after forgetting expired signatures; it records nothing then.
func (g *replayGuard) reserve(sig string, expires, now time.Time) (seen, full bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if exp, ok := g.seen[sig]; ok && now.Before(exp) {
		return true, false
	}
	if len(g.seen) >= g.max {
		for s, exp := range g.seen {
			if !now.Before(exp) {
				delete(g.seen, s)
			}
		}
		if len(g.seen) >= g.max {
			return false, true
		}
	}
	g.seen[sig] = expires
	return false, false
}

// release forgets sig, so that the same request can be tried again.
func (g *replayGuard) release(sig string) {
	g.mu.Lock()
	delete(g.seen, sig)
	g.mu.Unlock()
}
