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
	"slices"
	"strings"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
)

// RouteConfig configures one route: the channels that messages sent to it reach, which messages
// each channel wants, and whether the channels get a message all at once or one after another.
type RouteConfig struct {
	// Name is what messages are routed by, such as "dba" or "on-call". The route named "default"
	// receives messages sent to no route in particular.
	Name string `yaml:"name" json:"name"`
	// Log writes messages to the worker's log.
	Log bool `yaml:"log" json:"log,omitempty"`
	// Webhooks receive messages as signed JSON.
	Webhooks []WebhookConfig `yaml:"webhooks" json:"webhooks,omitempty"`
	// Slack posts messages to Slack channels.
	Slack []SlackRoute `yaml:"slack" json:"slack,omitempty"`
	// SMS texts messages to phones through Twilio.
	SMS []SMSConfig `yaml:"sms" json:"sms,omitempty"`
	// Voice calls phones through Twilio; by default only for critical messages of escalation level 1
	// or more.
	Voice []VoiceConfig `yaml:"voice" json:"voice,omitempty"`
	// Email sends messages over SMTP.
	Email []EmailConfig `yaml:"email" json:"email,omitempty"`
	// PagerDuty triggers, acknowledges and resolves PagerDuty alerts.
	PagerDuty []PagerDutyConfig `yaml:"pagerduty" json:"pagerduty,omitempty"`
	// Plans, when set, limits the route to messages about these recovery plans; messages about no
	// plan (a failed backup) then pass it by.
	Plans []string `yaml:"plans" json:"plans,omitempty"`
	// Delivery is all (the default: every channel at once) or fallback (one after another, in Order,
	// until one accepts).
	Delivery DeliveryMode `yaml:"delivery" json:"delivery,omitempty"`
	// Order is the order in which a fallback route tries its kinds of channel, such as [slack, sms,
	// email]; it must name every kind the route has. Empty means DefaultFallbackOrder.
	Order []string `yaml:"order" json:"order,omitempty"`
}

// SlackRoute is a Slack channel of a route, with the messages it wants.
type SlackRoute struct {
	SlackConfig `yaml:",inline"`
	Filter      `yaml:",inline"`
}

// Validate returns every problem with the Slack channel, prefixed with path, joined, or nil.
func (c SlackRoute) Validate(path string) error {
	return errors.Join(c.SlackConfig.Validate(path), c.Filter.Validate(path))
}

// The kinds of channel, as RouteConfig's keys name them and Order lists them.
const (
	KindLog       = "log"
	KindWebhooks  = "webhooks"
	KindSlack     = "slack"
	KindPagerDuty = "pagerduty"
	KindEmail     = "email"
	KindSMS       = "sms"
	KindVoice     = "voice"
)

// DefaultFallbackOrder is the order of a fallback route without Order: the channels people read at
// their desk first, then those that wake them up, and the log, which always accepts, last.
var DefaultFallbackOrder = []string{KindSlack, KindWebhooks, KindPagerDuty, KindEmail, KindSMS, KindVoice, KindLog}

// allOrder is the order of the deliveries of a route that delivers to all its channels.
var allOrder = []string{KindLog, KindWebhooks, KindSlack, KindPagerDuty, KindEmail, KindSMS, KindVoice}

// kinds returns the kinds of channel the route has, in the order of allOrder.
func (r RouteConfig) kinds() []string {
	var ks []string
	for _, k := range allOrder {
		if r.count(k) > 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

// count returns how many channels of a kind the route has.
func (r RouteConfig) count(kind string) int {
	switch kind {
	case KindLog:
		if r.Log {
			return 1
		}
	case KindWebhooks:
		return len(r.Webhooks)
	case KindSlack:
		return len(r.Slack)
	case KindPagerDuty:
		return len(r.PagerDuty)
	case KindEmail:
		return len(r.Email)
	case KindSMS:
		return len(r.SMS)
	case KindVoice:
		return len(r.Voice)
	}
	return 0
}

// order returns the kinds of channel in the order the route delivers to them.
func (r RouteConfig) order() []string {
	order := allOrder
	if r.Delivery == DeliverFallback {
		order = DefaultFallbackOrder
		if len(r.Order) > 0 {
			order = r.Order
		}
	}
	var ks []string
	for _, k := range order {
		if r.count(k) > 0 && !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
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
	Filter   `yaml:",inline"`
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
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if !routeNamePattern.MatchString(r.Name) {
		bad(".name", "%q: use 1-63 lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", r.Name)
	}
	if len(r.kinds()) == 0 {
		bad("", "no channel: set log, or add a webhooks, slack, sms, voice, email or pagerduty channel")
	}
	for i, p := range r.Plans {
		switch {
		case p == "":
			bad(fmt.Sprintf(".plans[%d]", i), "empty; name a recovery plan")
		case slices.Index(r.Plans, p) < i:
			bad(fmt.Sprintf(".plans[%d]", i), "%q is listed twice", p)
		}
	}
	if !r.Delivery.Valid() {
		bad(".delivery", "%q is not %s or %s", r.Delivery, DeliverAll, DeliverFallback)
	}
	if len(r.Order) > 0 && r.Delivery != DeliverFallback {
		bad(".order", "only a route with delivery: fallback tries its channels in an order; set delivery: fallback or remove order")
	}
	for i, k := range r.Order {
		switch {
		case !slices.Contains(allOrder, k):
			bad(fmt.Sprintf(".order[%d]", i), "%q is not a kind of channel (%s)", k, strings.Join(DefaultFallbackOrder, ", "))
		case slices.Index(r.Order, k) < i:
			bad(fmt.Sprintf(".order[%d]", i), "%q is listed twice", k)
		}
	}
	if len(r.Order) > 0 {
		for _, k := range r.kinds() {
			if !slices.Contains(r.Order, k) {
				bad(".order", "leaves out %s, which the route has: add it where it should be tried, or remove the channel", k)
			}
		}
	}
	validate := func(kind string, i int, v interface{ Validate(string) error }) {
		if err := v.Validate(fmt.Sprintf("%s.%s[%d]", path, kind, i)); err != nil {
			errs = append(errs, err)
		}
	}
	for i, c := range r.Webhooks {
		validate(KindWebhooks, i, c)
	}
	for i, c := range r.Slack {
		validate(KindSlack, i, c)
	}
	for i, c := range r.SMS {
		validate(KindSMS, i, c)
	}
	for i, c := range r.Voice {
		validate(KindVoice, i, c)
	}
	for i, c := range r.Email {
		validate(KindEmail, i, c)
	}
	for i, c := range r.PagerDuty {
		validate(KindPagerDuty, i, c)
	}
	return errors.Join(errs...)
}

// SecretRefs returns the worker secrets the route names, by field ("webhooks[0].secret",
// "sms[1].auth_token").
func (r RouteConfig) SecretRefs() map[string]string {
	refs := map[string]string{}
	add := func(kind string, i int, field, name string) {
		if name != "" {
			refs[fmt.Sprintf("%s[%d].%s", kind, i, field)] = name
		}
	}
	for i, c := range r.Webhooks {
		add(KindWebhooks, i, "secret", c.SecretRef)
	}
	for i, c := range r.Slack {
		add(KindSlack, i, "token", c.TokenRef)
	}
	for i, c := range r.SMS {
		add(KindSMS, i, "auth_token", c.AuthTokenRef)
	}
	for i, c := range r.Voice {
		add(KindVoice, i, "auth_token", c.AuthTokenRef)
	}
	for i, c := range r.Email {
		add(KindEmail, i, "password", c.PasswordRef)
	}
	for i, c := range r.PagerDuty {
		add(KindPagerDuty, i, "routing_key", c.RoutingKeyRef)
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
	if err := validateAttempts(path, w.Attempts); err != nil {
		errs = append(errs, err)
	}
	if w.Timeout < 0 {
		bad("timeout", "negative")
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
	if err := w.Filter.Validate(path); err != nil {
		errs = append(errs, err)
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
// routes, every secret that resolve cannot find and every CA file that cannot be read is reported at
// once). resolve looks secrets up by name (integrations/secrets.Resolver's Secret); it is called once
// per secret here, to fail early, and again for every message, so that a rotated secret is picked up.
// A secret that resolve reports as secrets.ErrNotFound at that point is a permanent error. Log
// channels write to logger (nil means slog.Default()).
//
// Channels configured the same way in several routes (same kind and settings, filters aside) share
// one notifier, so a message sent to several of those routes reaches the channel once. A
// configuration without a "default" route gets one that logs, so no message is ever sent nowhere.
func Build(routes []RouteConfig, resolve func(ctx context.Context, name string) (string, error), logger *slog.Logger) (*Router, error) {
	if err := ValidateRoutes("routes", routes); err != nil {
		return nil, err
	}
	b := &builder{resolve: resolve, log: &Log{Logger: logger}, shared: map[string]Notifier{}}
	var built []Route
	for i, rc := range routes {
		path := fmt.Sprintf("routes[%d] (%s)", i, rc.Name)
		route := Route{Name: rc.Name, Delivery: rc.Delivery, Plans: slices.Clone(rc.Plans)}
		for _, kind := range rc.order() {
			route.Channels = append(route.Channels, b.channels(path, rc, kind)...)
		}
		built = append(built, route)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	if !slices.ContainsFunc(built, func(r Route) bool { return r.Name == DefaultRoute }) {
		built = append(built, Route{Name: DefaultRoute, Channels: []RouteChannel{{Notifier: b.log}}})
	}
	return NewRouterFrom(built)
}

// builder makes the notifiers of Build, sharing those configured the same way, and collects every
// problem with secrets and files.
type builder struct {
	resolve func(context.Context, string) (string, error)
	log     *Log
	shared  map[string]Notifier
	errs    []error
}

// channels returns the route's channels of one kind.
func (b *builder) channels(path string, rc RouteConfig, kind string) []RouteChannel {
	var out []RouteChannel
	add := func(i int, settings any, filter Filter, secretField, secretRef string, build func(secret SecretFunc) Notifier) {
		field := fmt.Sprintf("%s.%s[%d]", path, kind, i)
		key, err := json.Marshal(settings) // map keys sorted: equal settings, equal keys
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s: %w", field, err))
			return
		}
		n, ok := b.shared[kind+" "+string(key)]
		if !ok {
			var secret SecretFunc
			if secretRef != "" {
				if err := CheckSecret(b.resolve, secretRef); err != nil {
					b.errs = append(b.errs, fmt.Errorf("%s.%s: %w", field, secretField, err))
				}
				secret = ResolvedSecret(b.resolve, secretRef)
			}
			n = build(secret)
			b.shared[kind+" "+string(key)] = n
		}
		out = append(out, RouteChannel{Notifier: n, Filter: filter})
	}
	switch kind {
	case KindLog:
		out = append(out, RouteChannel{Notifier: b.log})
	case KindWebhooks:
		for i, c := range rc.Webhooks {
			filter := c.Filter
			c.Filter = Filter{}
			add(i, c, filter, "secret", c.SecretRef, func(secret SecretFunc) Notifier {
				return &Webhook{URL: c.URL, Secret: secret, Headers: maps.Clone(c.Headers), Timeout: c.Timeout.D(), Attempts: c.Attempts}
			})
		}
	case KindSlack:
		for i, c := range rc.Slack {
			add(i, c.SlackConfig, c.Filter, "token", c.TokenRef, func(secret SecretFunc) Notifier { return NewSlack(c.SlackConfig, secret) })
		}
	case KindSMS:
		for i, c := range rc.SMS {
			add(i, c.TwilioConfig, c.Filter, "auth_token", c.AuthTokenRef, func(secret SecretFunc) Notifier { return NewSMS(c.TwilioConfig, secret) })
		}
	case KindVoice:
		for i, c := range rc.Voice {
			filter := c.Filter.orDefaults(Critical, DefaultVoiceMinLevel)
			c.Filter = Filter{}
			add(i, c, filter, "auth_token", c.AuthTokenRef, func(secret SecretFunc) Notifier { return NewVoice(c, secret) })
		}
	case KindEmail:
		for i, c := range rc.Email {
			if c.CAFile != "" {
				if _, err := loadCAFile(c.CAFile); err != nil {
					b.errs = append(b.errs, fmt.Errorf("%s.%s[%d].%w", path, kind, i, err))
				}
			}
			filter := c.Filter
			c.Filter = Filter{}
			add(i, c, filter, "password", c.PasswordRef, func(secret SecretFunc) Notifier { return NewEmail(c, secret) })
		}
	case KindPagerDuty:
		for i, c := range rc.PagerDuty {
			filter := c.Filter
			c.Filter = Filter{}
			add(i, c, filter, "routing_key", c.RoutingKeyRef, func(secret SecretFunc) Notifier { return NewPagerDuty(c, secret) })
		}
	}
	return out
}

// CheckSecret looks the secret name up once, to fail early: it reports a missing resolver, an error
// from resolve, or an empty value.
func CheckSecret(resolve func(context.Context, string) (string, error), name string) error {
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

// ResolvedSecret returns a SecretFunc that looks name up on every call, so that a rotated secret is
// picked up; a secret that is not found or empty is a permanent error.
func ResolvedSecret(resolve func(context.Context, string) (string, error), name string) SecretFunc {
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
