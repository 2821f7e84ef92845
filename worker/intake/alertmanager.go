package intake

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// AlertmanagerPayloadVersion is the version of Alertmanager's webhook body the endpoint reads.
const AlertmanagerPayloadVersion = "4"

// AlertmanagerPayload is the body of Alertmanager's webhook notification, version 4: a group of
// alerts. Fields Lifeboat does not use are listed for the record and ignored.
type AlertmanagerPayload struct {
	Version  string `json:"version"`
	GroupKey string `json:"groupKey"`
	// TruncatedAlerts counts the alerts Alertmanager left out because of the receiver's max_alerts.
	TruncatedAlerts   int                 `json:"truncatedAlerts"`
	Status            string              `json:"status"`
	Receiver          string              `json:"receiver"`
	GroupLabels       map[string]string   `json:"groupLabels"`
	CommonLabels      map[string]string   `json:"commonLabels"`
	CommonAnnotations map[string]string   `json:"commonAnnotations"`
	ExternalURL       string              `json:"externalURL"`
	Alerts            []AlertmanagerAlert `json:"alerts"`
}

// AlertmanagerAlert is one alert of an AlertmanagerPayload.
type AlertmanagerAlert struct {
	// Status is firing or resolved.
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	// Fingerprint identifies the alert by its labels; the same for every notification of it.
	Fingerprint string `json:"fingerprint"`
}

// errBadCredentials is a request whose credentials are missing or wrong.
var errBadCredentials = errors.New("credentials missing or wrong")

// serveAlertmanager handles POST /alerts/alertmanager: each alert of the group on its own.
func (h *Handler) serveAlertmanager(w http.ResponseWriter, r *http.Request) {
	const endpoint = "alertmanager"
	if err := h.authorizeAlertmanager(r); err != nil {
		if errors.Is(err, errBadCredentials) {
			w.Header().Add("WWW-Authenticate", `Bearer realm="lifeboat"`)
			if h.opts.Config.Alertmanager.PasswordSecret != "" {
				w.Header().Add("WWW-Authenticate", `Basic realm="lifeboat"`)
			}
			h.refuse(w, r, endpoint, http.StatusUnauthorized, "unauthorized", err)
			return
		}
		h.refuse(w, r, endpoint, http.StatusServiceUnavailable, "credentials unavailable", errors.New("the worker cannot check credentials now: see its log"))
		h.opts.Logger.Error("alertmanager credentials cannot be checked", "error", err)
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
	var p AlertmanagerPayload
	if err := json.Unmarshal(body, &p); err != nil {
		h.refuse(w, r, endpoint, http.StatusBadRequest, "bad request", fmt.Errorf("body is not an Alertmanager webhook payload: %w", err))
		return
	}
	if p.Version != AlertmanagerPayloadVersion {
		h.refuse(w, r, endpoint, http.StatusBadRequest, "bad request", fmt.Errorf("payload version %q: only version %s is understood", p.Version, AlertmanagerPayloadVersion))
		return
	}
	alerts := make([]alert, len(p.Alerts))
	var problems []string
	for i, a := range p.Alerts {
		alerts[i] = alert{
			Status: a.Status, Fingerprint: fingerprint(a.Fingerprint, a.Labels), Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, GeneratorURL: a.GeneratorURL, Source: "alertmanager/" + p.Receiver,
		}
		// Alertmanager sends a firing alert's expected end; only a resolved alert's is its end.
		if a.Status == "resolved" {
			alerts[i].EndsAt = a.EndsAt
		}
		for _, problem := range alerts[i].validate() {
			problems = append(problems, fmt.Sprintf("alerts[%d]: %s", i, problem))
		}
	}
	if len(problems) > 0 {
		h.refuse(w, r, endpoint, http.StatusBadRequest, "bad request", errors.New(strings.Join(problems, "; ")))
		return
	}
	var warnings []string
	if p.TruncatedAlerts > 0 {
		warnings = append(warnings, fmt.Sprintf("Alertmanager left out %d alerts of the group (the receiver's max_alerts): they were not received", p.TruncatedAlerts))
		h.opts.Logger.Warn("alertmanager truncated the group: alerts lost; remove max_alerts from the receiver", "truncated", p.TruncatedAlerts, "group_key", p.GroupKey)
	}
	results, failed := h.deliver(r.Context(), endpoint, alerts)
	answer(w, results, failed, warnings)
}

// authorizeAlertmanager checks the request's bearer token or basic-auth credentials. It returns
// an error wrapping errBadCredentials when they are missing or wrong, and another error when a
// secret cannot be resolved.
func (h *Handler) authorizeAlertmanager(r *http.Request) error {
	am := h.opts.Config.Alertmanager
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return fmt.Errorf("%w: no Authorization header (set the receiver's http_config authorization or basic_auth)", errBadCredentials)
	}
	scheme, value, _ := strings.Cut(authz, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer") && am.TokenSecret != "":
		want, err := h.secret(r.Context(), am.TokenSecret)
		if err != nil {
			return err
		}
		if equal(strings.TrimSpace(value), want) {
			return nil
		}
	case strings.EqualFold(scheme, "Basic") && am.PasswordSecret != "":
		user, pass, ok := r.BasicAuth()
		if !ok {
			break
		}
		want, err := h.secret(r.Context(), am.PasswordSecret)
		if err != nil {
			return err
		}
		// Both compared, so the time taken does not tell which was wrong.
		userOK, passOK := equal(user, am.Username), equal(pass, want)
		if userOK && passOK {
			return nil
		}
	}
	return fmt.Errorf("%w: the %s credentials do not match", errBadCredentials, scheme)
}

// secret resolves a secret the configuration names.
func (h *Handler) secret(ctx context.Context, name string) (string, error) {
	v, err := h.opts.Secrets(ctx, name)
	if err != nil {
		return "", fmt.Errorf("intake: %w", err)
	}
	if v == "" {
		return "", fmt.Errorf("intake: secret %q is empty", name)
	}
	return v, nil
}

// equal compares two secrets in constant time, whatever their lengths.
func equal(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
