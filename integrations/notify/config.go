package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"strings"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// RouteConfig configures one route: the channels that messages sent to it reach.
type RouteConfig struct {
	// Name is what messages are routed by, such as "dba" or "on-call". The route named "default"
	// receives messages sent to no route in particular.
	Name string `yaml:"name" json:"name"`
	// Log writes messages to the worker's log.
	Log bool `yaml:"log" json:"log,omitempty"`
	// Webhooks receive messages as signed JSON.
	Webhooks []WebhookConfig `yaml:"webhooks" json:"webhooks,omitempty"`
}

// WebhookConfig configures a Webhook.
type WebhookConfig struct {
	// URL receives the POST requests: http or https. Leave credentials out of its path; its user info
	// and query are hidden in logs and workflow histories, its path is not.
	URL string `yaml:"url" json:"url"`
	// SecretRef names the worker secret holding the key that signs requests (X-Lifeboat-Signature).
	// Without it, requests are not signed.
	SecretRef string `yaml:"secret" json:"secret,omitempty"`
	// Headers are added to every request, such as an Authorization header written as ${ENV_VAR}.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// Timeout bounds each try (default 10s).
	Timeout units.Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Attempts is the most tries per message, 1 to 10 (default 3).
	Attempts int `yaml:"attempts" json:"attempts,omitempty"`
}

var routeNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateRoutes returns every problem with the routes, each prefixed with its route's path
// ("notify.routes[1] (dba).webhooks[0].url: …" for path "notify.routes"), joined, or nil.
func ValidateRoutes(path string, routes []RouteConfig) error {
	var errs []error
	seen := map[string]int{}
	for i, r := range routes {
		p := fmt.Sprintf("%s[%d]", path, i)
		if r.Name != "" {
			p += " (" + r.Name + ")"
		}
		if j, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: also the name of %s[%d]", p, path, j))
		}
		seen[r.Name] = i
		if err := r.Validate(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Validate returns every problem with the route, prefixed with path, joined, or nil.
func (r RouteConfig) Validate(path string) error {
	var errs []error
	if !routeNamePattern.MatchString(r.Name) {
		errs = append(errs, fmt.Errorf("%s.name: %q: use 1-63 lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", path, r.Name))
	}
	if !r.Log && len(r.Webhooks) == 0 {
		errs = append(errs, fmt.Errorf("%s: no channel: set log or add a webhook", path))
	}
	for i, w := range r.Webhooks {
		if err := w.Validate(fmt.Sprintf("%s.webhooks[%d]", path, i)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SecretRefs returns the worker secrets the route names, by field ("webhooks[0].secret").
func (r RouteConfig) SecretRefs() map[string]string {
	refs := map[string]string{}
	for i, w := range r.Webhooks {
		if w.SecretRef != "" {
			refs[fmt.Sprintf("webhooks[%d].secret", i)] = w.SecretRef
		}
	}
	return refs
}

// Validate returns every problem with the webhook, prefixed with path, joined, or nil.
func (w WebhookConfig) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if w.URL == "" {
		bad("url", "required")
	} else if _, err := parseHTTPURL(w.URL); err != nil {
		bad("url", "%v", err)
	}
	if w.Attempts < 0 || w.Attempts > MaxWebhookAttempts {
		bad("attempts", "%d is not between 1 and %d (0 means %d)", w.Attempts, MaxWebhookAttempts, DefaultWebhookAttempts)
	}
	for _, name := range sortedKeys(w.Headers) {
		switch {
		case !isToken(name):
			bad("headers", "%q is not a header name", name)
		case isReservedHeader(name):
			bad("headers."+name, "set by Lifeboat; it cannot be replaced")
		case strings.ContainsAny(w.Headers[name], "\r\n\x00"):
			bad("headers."+name, "the value contains a line break or NUL")
		}
	}
	return errors.Join(errs...)
}

func isReservedHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Type", "Content-Length", "Host", "User-Agent", "Transfer-Encoding":
		return true
	}
	return strings.HasPrefix(http.CanonicalHeaderKey(name), "X-Lifeboat-")
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2), as header names are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// Build returns a router with the configured routes, after checking them (every problem with the
// routes, and every secret that resolve cannot find, is reported at once). resolve looks secrets up
// by name (integrations/secrets.Resolver's Secret); it is called once per secret here, to fail early,
// and again for every message, so that a rotated secret is picked up. A secret that resolve reports
// as secrets.ErrNotFound at that point is a permanent error. Log channels write to logger (nil means
// slog.Default()).
//
// Routes that name the same webhook (same URL, secret, headers, timeout and attempts) share one
// notifier, so a message sent to both routes is posted once. A configuration without a "default" route
// gets one that logs, so no message is ever sent nowhere.
func Build(routes []RouteConfig, resolve func(ctx context.Context, name string) (string, error), logger *slog.Logger) (*Router, error) {
	if err := ValidateRoutes("routes", routes); err != nil {
		return nil, err
	}
	log := &Log{Logger: logger}
	built := map[string][]Notifier{}
	webhooks := map[string]*Webhook{}
	var errs []error
	for i, rc := range routes {
		var ns []Notifier
		if rc.Log {
			ns = append(ns, log)
		}
		for j, wc := range rc.Webhooks {
			key, err := json.Marshal(wc) // map keys sorted: equal configurations, equal keys
			if err != nil {
				return nil, fmt.Errorf("routes[%d] (%s).webhooks[%d]: %w", i, rc.Name, j, err)
			}
			w, ok := webhooks[string(key)]
			if !ok {
				w = &Webhook{URL: wc.URL, Headers: maps.Clone(wc.Headers), Timeout: wc.Timeout.D(), Attempts: wc.Attempts}
				if wc.SecretRef != "" {
					if err := checkSecret(resolve, wc.SecretRef); err != nil {
						errs = append(errs, fmt.Errorf("routes[%d] (%s).webhooks[%d].secret: %w", i, rc.Name, j, err))
					}
					w.Secret = resolvedSecret(resolve, wc.SecretRef)
				}
				webhooks[string(key)] = w
			}
			ns = append(ns, w)
		}
		built[rc.Name] = ns
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if _, ok := built[DefaultRoute]; !ok {
		built[DefaultRoute] = []Notifier{log}
	}
	return NewRouter(built)
}

func checkSecret(resolve func(context.Context, string) (string, error), name string) error {
	if resolve == nil {
		return fmt.Errorf("secret %q: no secrets to resolve it from", name)
	}
	v, err := resolve(context.Background(), name)
	if err != nil {
		return err
	}
	if v == "" {
		return fmt.Errorf("secret %q is empty", name)
	}
	return nil
}

func resolvedSecret(resolve func(context.Context, string) (string, error), name string) SecretFunc {
	return func(ctx context.Context) ([]byte, error) {
		v, err := resolve(ctx, name)
		switch {
		case errors.Is(err, secrets.ErrNotFound):
			return nil, Permanent(err)
		case err != nil:
			return nil, err
		case v == "":
			return nil, Permanent(fmt.Errorf("secret %q is empty", name))
		}
		return []byte(v), nil
	}
}
