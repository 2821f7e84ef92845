package oidcprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Password is every user's password.
const Password = "verysecure"

// User2 is the second user's name; the device flow makes a user's name their subject (sub).
const User2 = "test-user2"

// Client is an OAuth client the provider knows: a device client (the device authorization grant,
// with client_secret_basic), also allowed to refresh its tokens.
type Client struct{ ID, Secret string }

// Provider is a running OpenID Connect provider.
type Provider struct {
	// Issuer is its issuer URL, http://127.0.0.1:port, as its discovery document says it.
	Issuer string
	store  *storage.Storage
	down   atomic.Bool
}

// Start runs a provider for the clients until the test ends.
func Start(t testing.TB, clients ...Client) *Provider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	p := &Provider{Issuer: "http://" + srv.Listener.Addr().String()}
	registered := map[string]*storage.Client{}
	for _, c := range clients {
		registered[c.ID] = storage.DeviceClient(c.ID, c.Secret)
	}
	p.store = storage.NewStorageWithClients(byUsername{storage.NewUserStore(p.Issuer)}, registered)
	// The example provider logs each request at info: keep warnings and errors only.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	op := exampleop.SetupServer(p.Issuer, refreshingStore{p.store}, logger, false)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "provider down", http.StatusServiceUnavailable)
			return
		}
		op.ServeHTTP(w, r)
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// User1 is the first user's name, "test-user@" and the issuer's host.
func (p *Provider) User1() string {
	u, _ := url.Parse(p.Issuer)
	return "test-user@" + u.Hostname()
}

// SetDown makes every endpoint answer 503 while down is true, as a provider that is down.
func (p *Provider) SetDown(down bool) { p.down.Store(down) }

// Approve does in a browser what user does to let a device in: signs in at the device page with
// the user code, then allows the request.
func (p *Provider) Approve(ctx context.Context, userCode, user string) error {
	return p.answer(ctx, userCode, user, "allowed")
}

// Deny signs in as user and refuses the device's request.
func (p *Provider) Deny(ctx context.Context, userCode, user string) error {
	return p.answer(ctx, userCode, user, "denied")
}

func (p *Provider) answer(ctx context.Context, userCode, user, action string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	post := func(path string, form url.Values) (*http.Response, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+path, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := browser.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	// A refused sign-in redirects back to the code form with the reason in the prompt.
	resp, _, err := post("/device/login", url.Values{"user_code": {userCode}, "username": {user}, "password": {Password}})
	if err != nil {
		return fmt.Errorf("device login: %w", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/device/login" {
		return fmt.Errorf("device login as %s with code %s refused: %s %s", user, userCode, resp.Request.URL, resp.Status)
	}
	resp, body, err := post("/device/confirm", url.Values{"action": {action}})
	if err != nil {
		return fmt.Errorf("device confirm: %w", err)
	}
	if want := "Device authorization " + action; !strings.Contains(body, want) {
		return fmt.Errorf("device confirm: %s %s: %s", resp.Request.URL, resp.Status, body)
	}
	return nil
}

// Sign returns a JWT with claims signed by the provider's own key, as its ID tokens are: for
// tokens its flows do not give, such as an expired one or one with a verified email.
func (p *Provider) Sign(claims map[string]any) (string, error) {
	key, err := p.store.SigningKey(context.Background())
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: key.SignatureAlgorithm(), Key: key.Key()},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.ID()))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return sig.CompactSerialize()
}

// byUsername finds users by name as well as by ID: the example provider's device flow records the
// name a person signed in with as the subject, and looks the subject up as an ID when it writes
// the ID token. The user found by name carries the name as its ID, so sub is the name throughout.
type byUsername struct{ storage.UserStore }

func (u byUsername) GetUserByID(id string) *storage.User {
	if user := u.UserStore.GetUserByID(id); user != nil {
		return user
	}
	user := u.UserStore.GetUserByUsername(id)
	if user == nil {
		return nil
	}
	named := *user
	named.ID = user.Username
	return &named
}

// refreshingStore lets device clients refresh their tokens too (with the offline_access scope).
type refreshingStore struct{ *storage.Storage }

// CreateAccessAndRefreshTokens records the client of a device flow's refresh token, which the
// example storage leaves empty (it knows the client of code flows only), so that the client may
// use it.
func (s refreshingStore) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	access, refresh, exp, err := s.Storage.CreateAccessAndRefreshTokens(ctx, req, current)
	if err != nil || refresh == "" || current != "" {
		return access, refresh, exp, err
	}
	if device, ok := req.(*op.DeviceAuthorizationState); ok {
		r, err := s.Storage.TokenRequestByRefreshToken(ctx, refresh)
		if err != nil {
			return "", "", time.Time{}, err
		}
		if stored, ok := r.(*storage.RefreshTokenRequest); ok && stored.ApplicationID == "" {
			stored.ApplicationID = device.ClientID
		}
	}
	return access, refresh, exp, nil
}

func (s refreshingStore) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return refreshingClient{c}, nil
}

type refreshingClient struct{ op.Client }

func (c refreshingClient) GrantTypes() []oidc.GrantType {
	g := c.Client.GrantTypes()
	if !slices.Contains(g, oidc.GrantTypeRefreshToken) {
		g = append(slices.Clone(g), oidc.GrantTypeRefreshToken)
	}
	return g
}
