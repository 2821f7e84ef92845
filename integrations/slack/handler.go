package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
)

// DefaultMaxBody is the largest request body Handler reads. Slack's interaction payloads carry the
// whole message clicked; Lifeboat's stay well under this.
const DefaultMaxBody = 256 << 10

// HandlerOption changes a Handler.
type HandlerOption func(*Handler)

// WithMaxBody sets the largest body the handler reads (DefaultMaxBody); larger ones are refused
// with 413.
func WithMaxBody(n int64) HandlerOption { return func(h *Handler) { h.maxBody = n } }

// WithClock replaces time.Now, against which request timestamps are checked.
func WithClock(now func() time.Time) HandlerOption { return func(h *Handler) { h.now = now } }

// WithReplayMemory sets how many signatures the handler remembers to refuse a replayed request
// (DefaultReplayMemory). Past that, it forgets the ones closest to expiring first.
func WithReplayMemory(n int) HandlerOption { return func(h *Handler) { h.memory = n } }

// Handler serves Slack's interactivity requests (POST /slack/interactions, the Request URL of the
// app's Interactivity settings). It checks each request as Slack documents — the X-Slack-Signature
// HMAC of the body with the signing secret, a timestamp within 5 minutes — refuses one it received
// before, and hands the interaction to Interactions, answering within Slack's 3 seconds.
//
// Refused requests get 401 (unsigned, forged, stale or replayed), 413 (too large) or 400
// (malformed), and are logged and counted; interactions that Lifeboat refuses after that (an
// unknown user, a refusal by the gate) get 200, since Slack shows an error for anything else, and
// the person is told why in a message only they see.
type Handler struct {
	i       *Interactions
	secret  notify.SecretFunc
	maxBody int64
	now     func() time.Time
	memory  int
	v       *verifier
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns the HTTP transport of i; secret returns the app's signing secret, and is
// called for each request, so that a rotated secret is picked up.
func NewHandler(i *Interactions, secret notify.SecretFunc, opts ...HandlerOption) *Handler {
	h := &Handler{i: i, secret: secret, maxBody: DefaultMaxBody, now: time.Now}
	for _, opt := range opts {
		opt(h)
	}
	h.v = newVerifier(DefaultTolerance, h.memory, h.now)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST Slack's interaction payloads here", http.StatusMethodNotAllowed)
		return
	}
	attrs := []any{"remote", r.RemoteAddr}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.i.refuse(OutcomeTooLarge, "slack request refused: body too large", append(attrs, "limit", h.maxBody)...)
			http.Error(w, fmt.Sprintf("body over %d bytes", h.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		h.i.refuse(OutcomeMalformed, "slack request refused: body unreadable", append(attrs, "error", err.Error())...)
		http.Error(w, "body unreadable", http.StatusBadRequest)
		return
	}
	var secret []byte
	if h.secret != nil {
		if secret, err = h.secret(r.Context()); err != nil {
			h.i.count(OutcomeError)
			h.i.log.Error("slack: signing secret unavailable", append(attrs, "error", err.Error())...)
			http.Error(w, "signing secret unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	if err := h.v.verify(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body); err != nil {
		outcome := OutcomeForged
		switch {
		case errors.Is(err, ErrUnsigned):
			outcome = OutcomeUnsigned
		case errors.Is(err, ErrStale):
			outcome = OutcomeStale
		case errors.Is(err, ErrReplayed):
			outcome = OutcomeReplayed
		}
		h.i.refuse(outcome, "slack request refused: "+err.Error(), attrs...)
		http.Error(w, "signature refused", http.StatusUnauthorized)
		return
	}
	cb, err := parsePayload(r.Header.Get("Content-Type"), body)
	if err != nil {
		h.i.refuse(OutcomeMalformed, "slack request refused: "+err.Error(), attrs...)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer := h.i.handle(r.Context(), cb)
	if answer == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

// parsePayload reads the interaction from a form body's payload field.
func parsePayload(contentType string, body []byte) (*goslack.InteractionCallback, error) {
	if ct, _, _ := strings.Cut(contentType, ";"); strings.TrimSpace(ct) != "application/x-www-form-urlencoded" {
		return nil, fmt.Errorf("content type %q is not application/x-www-form-urlencoded", contentType)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("body is not a form: %w", err)
	}
	payload := form.Get("payload")
	if payload == "" {
		return nil, errors.New("no payload field")
	}
	var cb goslack.InteractionCallback
	if err := json.Unmarshal([]byte(payload), &cb); err != nil {
		return nil, fmt.Errorf("payload is not an interaction: %w", err)
	}
	if cb.Type == "" {
		return nil, errors.New("payload has no type")
	}
	return &cb, nil
}
