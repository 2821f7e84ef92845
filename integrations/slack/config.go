package slack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/lifeboat-dr/lifeboat/integrations/notify"
	"github.com/lifeboat-dr/lifeboat/workflows/approval"
)

// The transports that bring interactions from Slack.
const (
	// TransportHTTP has Slack POST each interaction to the worker's /slack/interactions, signed with
	// the app's signing secret. The worker must be reachable from the internet.
	TransportHTTP = "http"
	// TransportSocket has the worker open a Socket Mode websocket to Slack with an app-level token;
	// nothing needs to reach the worker.
	TransportSocket = "socket"
)

// Config configures the Slack app that takes approval decisions.
type Config struct {
	// Transport is TransportHTTP (the default) or TransportSocket.
	Transport string `yaml:"transport" json:"transport,omitempty"`
	// SigningSecretRef names the worker secret holding the app's signing secret; required with
	// transport http.
	SigningSecretRef string `yaml:"signing_secret" json:"signing_secret,omitempty"`
	// AppTokenRef names the worker secret holding the app-level token (xapp-…, scope
	// connections:write); required with transport socket.
	AppTokenRef string `yaml:"app_token" json:"app_token,omitempty"`
	// BotTokenRef names the worker secret holding the bot token (xoxb-…), which opens the dialog
	// asking for a rejection's reason and updates the message once a decision is recorded.
	BotTokenRef string `yaml:"bot_token" json:"bot_token"`
	// Users maps Slack user IDs (U0123ABC) to the Lifeboat identities gates know them by
	// (alice@example.com). Clicks from anyone else are refused.
	Users map[string]string `yaml:"users" json:"users"`
	// Teams, when set, are the only Slack workspaces (team IDs, T0123ABC) whose clicks are taken.
	Teams []string `yaml:"teams" json:"teams,omitempty"`
	// APIURL replaces https://slack.com/api/ (for a proxy, or a test server).
	APIURL string `yaml:"api_url" json:"api_url,omitempty"`
}

var (
	userIDPattern = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	teamIDPattern = regexp.MustCompile(`^[TE][A-Z0-9]{2,}$`)
)

// Validate returns every problem with the configuration, each prefixed with path ("slack"), joined,
// or nil.
func (c Config) Validate(path string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	switch c.Transport {
	case "", TransportHTTP:
		if c.SigningSecretRef == "" {
			bad("signing_secret", "required with transport http: the name of the secret holding the app's signing secret")
		}
	case TransportSocket:
		if c.AppTokenRef == "" {
			bad("app_token", "required with transport socket: the name of the secret holding the app-level token (xapp-…)")
		}
	default:
		bad("transport", "%q is not %s or %s", c.Transport, TransportHTTP, TransportSocket)
	}
	if c.BotTokenRef == "" {
		bad("bot_token", "required: the name of the secret holding the bot token (xoxb-…)")
	}
	if len(c.Users) == 0 {
		bad("users", "empty: map at least one Slack user ID to a Lifeboat identity, such as U0123ABC: alice@example.com")
	}
	for _, id := range sortedKeys(c.Users) {
		identity := c.Users[id]
		switch {
		case !userIDPattern.MatchString(id):
			bad("users", "%q is not a Slack user ID such as U0123ABC (find it in the user's profile, under More, Copy member ID)", id)
		case strings.TrimSpace(identity) == "":
			bad("users."+id, "empty identity")
		case identity != strings.TrimSpace(identity):
			bad("users."+id, "%q has surrounding spaces", identity)
		case len(identity) > approval.MaxIdentityLen:
			bad("users."+id, "%d bytes, at most %d", len(identity), approval.MaxIdentityLen)
		}
	}
	for i, team := range c.Teams {
		if !teamIDPattern.MatchString(team) {
			bad(fmt.Sprintf("teams[%d]", i), "%q is not a Slack team ID such as T0123ABC", team)
		}
	}
	if c.APIURL != "" {
		if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("api_url", "%q is not an absolute http(s) URL", c.APIURL)
		}
	}
	return errors.Join(errs...)
}

// SecretRefs returns the worker secrets the configuration names, by field.
func (c Config) SecretRefs() map[string]string {
	refs := map[string]string{"bot_token": c.BotTokenRef}
	if c.Transport == TransportSocket {
		refs["app_token"] = c.AppTokenRef
	} else {
		refs["signing_secret"] = c.SigningSecretRef
	}
	return refs
}

// App is the Slack app's interactivity, built from a Config: Interactions, and the one transport
// the configuration chose.
type App struct {
	*Interactions
	// Handler serves Slack's POSTs at /slack/interactions; nil with transport socket.
	Handler *Handler
	// Socket receives interactions over Socket Mode (run it with Run); nil with transport http.
	Socket *Socket
}

// Build checks cfg and the secrets it names, and returns the app it configures. resolve looks
// secrets up by name (integrations/secrets.Resolver's Secret); it is called once per secret here, to
// fail early, and again whenever a secret is used, so that a rotated secret is picked up. s supplies
// what the configuration does not: the Decider, and optionally the logger, the outcome hook, the
// HTTP client and the timeouts; its Users, Teams, BotToken and APIURL are replaced by cfg's.
func Build(cfg Config, resolve func(ctx context.Context, name string) (string, error), s Settings) (*App, error) {
	if err := cfg.Validate("slack"); err != nil {
		return nil, err
	}
	if resolve == nil {
		return nil, errors.New("slack: no secrets to resolve the tokens from")
	}
	var errs []error
	refs := cfg.SecretRefs()
	for _, field := range sortedKeys(refs) {
		if err := notify.CheckSecret(resolve, refs[field]); err != nil {
			errs = append(errs, fmt.Errorf("slack.%s: %w", field, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.Users, s.Teams, s.APIURL = cfg.Users, slices.Clone(cfg.Teams), cfg.APIURL
	s.BotToken = notify.ResolvedSecret(resolve, cfg.BotTokenRef)
	i, err := NewInteractions(s)
	if err != nil {
		return nil, err
	}
	app := &App{Interactions: i}
	if cfg.Transport == TransportSocket {
		app.Socket = NewSocket(i, notify.ResolvedSecret(resolve, cfg.AppTokenRef))
	} else {
		app.Handler = NewHandler(i, notify.ResolvedSecret(resolve, cfg.SigningSecretRef))
	}
	return app, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
