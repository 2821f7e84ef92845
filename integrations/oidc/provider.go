package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	coreos "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// DefaultScopes are requested at every login: the ID token, and the email claim for directories
// that list people by email.
var DefaultScopes = []string{coreos.ScopeOpenID, "email"}

// Provider is the organisation's OpenID Connect provider as one client (ClientID) sees it. Its
// discovery document is fetched on first use and kept; a failed fetch (the provider was down) is
// tried again on the next use. It is safe for concurrent use.
type Provider struct {
	// Issuer is the provider's issuer URL, exactly as its discovery document gives it.
	Issuer string
	// ClientID is the OAuth client Lifeboat's CLI is at the provider: ID tokens must be for it.
	ClientID string
	// ClientSecret is the client's secret, for providers that require one of device clients.
	ClientSecret string
	// Scopes are requested besides DefaultScopes (offline_access, for a refresh token).
	Scopes []string
	// HTTPClient reaches the provider (default: a client with a 10s timeout).
	HTTPClient *http.Client

	mu       sync.Mutex
	provider *coreos.Provider
	verifier *coreos.IDTokenVerifier
}

// UnavailableError is a provider that could not be reached or read: try again later.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "oidc: provider unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// InvalidTokenError is an ID token this provider did not issue for this client, or that is no
// longer valid: expired, altered, signed by another key.
type InvalidTokenError struct{ Err error }

func (e *InvalidTokenError) Error() string { return "oidc: ID token refused: " + e.Err.Error() }
func (e *InvalidTokenError) Unwrap() error { return e.Err }

// Claims are what Lifeboat reads of a verified ID token.
type Claims struct {
	Issuer        string    `json:"iss"`
	Subject       string    `json:"sub"`
	Email         string    `json:"email,omitempty"`
	EmailVerified bool      `json:"email_verified,omitempty"`
	Name          string    `json:"name,omitempty"`
	Expiry        time.Time `json:"exp"`
}

func (p *Provider) client() *http.Client {
	if p.HTTPClient != nil {
		return p.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// discover returns the provider and a verifier of its ID tokens for the client, fetching the
// discovery document on the first call and after a failed one.
func (p *Provider) discover(ctx context.Context) (*coreos.Provider, *coreos.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, p.verifier, nil
	}
	// The client travels in the context: the key set fetched later for verifying signatures
	// uses it too.
	provider, err := coreos.NewProvider(coreos.ClientContext(ctx, p.client()), p.Issuer)
	if err != nil {
		return nil, nil, &UnavailableError{fmt.Errorf("discovery at %s: %w", p.Issuer, err)}
	}
	p.provider = provider
	p.verifier = provider.Verifier(&coreos.Config{ClientID: p.ClientID})
	return p.provider, p.verifier, nil
}

// Verify checks an ID token: issued by the provider (issuer and signature, against the keys it
// publishes), for this client (audience), and not expired. It returns UnavailableError when the
// provider cannot be reached, InvalidTokenError when the token is refused.
func (p *Provider) Verify(ctx context.Context, raw string) (Claims, error) {
	_, verifier, err := p.discover(ctx)
	if err != nil {
		return Claims{}, err
	}
	tok, err := verifier.Verify(coreos.ClientContext(ctx, p.client()), strings.TrimSpace(raw))
	if err != nil {
		return Claims{}, &InvalidTokenError{err}
	}
	var c struct {
		Email         string       `json:"email"`
		EmailVerified stringOrBool `json:"email_verified"`
		Name          string       `json:"name"`
	}
	if err := tok.Claims(&c); err != nil {
		return Claims{}, &InvalidTokenError{fmt.Errorf("claims: %w", err)}
	}
	return Claims{Issuer: tok.Issuer, Subject: tok.Subject, Email: c.Email, EmailVerified: bool(c.EmailVerified), Name: c.Name,
		Expiry: tok.Expiry.UTC()}, nil
}

// stringOrBool reads email_verified as a boolean or, as some providers send it, a string.
type stringOrBool bool

func (b *stringOrBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = stringOrBool(v)
	case string:
		*b = stringOrBool(strings.EqualFold(v, "true"))
	}
	return nil
}

// Token is a verified login: the ID token, with its claims and expiry, and a refresh token when
// the provider gave one.
type Token struct {
	IDToken      string
	RefreshToken string
	Expiry       time.Time
	Claims       Claims
}

// DeviceCode is a started device authorization (RFC 8628): the person opens VerificationURI in a
// browser and enters UserCode (or opens VerificationURIComplete, which carries it).
type DeviceCode struct {
	VerificationURI         string
	VerificationURIComplete string
	UserCode                string
	Expiry                  time.Time
	response                *oauth2.DeviceAuthResponse
}

func (p *Provider) oauth2Config(endpoint oauth2.Endpoint) *oauth2.Config {
	scopes := slices.Clone(DefaultScopes)
	for _, s := range p.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, Endpoint: endpoint, Scopes: scopes}
}

// StartDevice asks the provider for a device code, at the device_authorization_endpoint its
// discovery document names.
func (p *Provider) StartDevice(ctx context.Context) (*DeviceCode, error) {
	provider, _, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	var meta struct {
		DeviceEndpoint string `json:"device_authorization_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidc: discovery document of %s: %w", p.Issuer, err)
	}
	if meta.DeviceEndpoint == "" {
		return nil, fmt.Errorf("oidc: %s names no device_authorization_endpoint: it does not offer the device authorization flow lifeboat login uses", p.Issuer)
	}
	endpoint := provider.Endpoint()
	endpoint.DeviceAuthURL = meta.DeviceEndpoint
	resp, err := p.oauth2Config(endpoint).DeviceAuth(coreos.ClientContext(ctx, p.client()))
	if err != nil {
		return nil, fmt.Errorf("oidc: device authorization at %s: %w", meta.DeviceEndpoint, err)
	}
	return &DeviceCode{VerificationURI: resp.VerificationURI, VerificationURIComplete: resp.VerificationURIComplete,
		UserCode: resp.UserCode, Expiry: resp.Expiry, response: resp}, nil
}

// FinishDevice polls the provider, at the interval it asked for, until the person has confirmed
// the device code (or refused it, or it expired, or ctx ends), and returns the verified login.
func (p *Provider) FinishDevice(ctx context.Context, d *DeviceCode) (Token, error) {
	provider, _, err := p.discover(ctx)
	if err != nil {
		return Token{}, err
	}
	tok, err := p.oauth2Config(provider.Endpoint()).DeviceAccessToken(coreos.ClientContext(ctx, p.client()), d.response)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "access_denied" {
			return Token{}, errors.New("oidc: the sign-in was refused at the provider")
		}
		expired := errors.As(err, &re) && re.ErrorCode == "expired_token"
		if expired || (errors.Is(err, context.DeadlineExceeded) && !d.Expiry.IsZero() && !time.Now().Before(d.Expiry)) {
			return Token{}, errors.New("oidc: the code expired before anyone confirmed it: run lifeboat login again")
		}
		return Token{}, fmt.Errorf("oidc: device token: %w", err)
	}
	return p.verified(ctx, tok, "")
}

// Refresh gets a new ID token with a refresh token.
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (Token, error) {
	provider, _, err := p.discover(ctx)
	if err != nil {
		return Token{}, err
	}
	tok, err := p.oauth2Config(provider.Endpoint()).TokenSource(coreos.ClientContext(ctx, p.client()),
		&oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return Token{}, fmt.Errorf("oidc: refresh: %w", err)
	}
	return p.verified(ctx, tok, refreshToken)
}

// verified checks the ID token a token response carries. A provider that gives no new refresh
// token on a refresh lets the old one be used again.
func (p *Provider) verified(ctx context.Context, tok *oauth2.Token, oldRefresh string) (Token, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Token{}, errors.New("oidc: the provider's answer has no ID token (is openid among the client's scopes?)")
	}
	c, err := p.Verify(ctx, raw)
	if err != nil {
		return Token{}, err
	}
	refresh := tok.RefreshToken
	if refresh == "" {
		refresh = oldRefresh
	}
	return Token{IDToken: raw, RefreshToken: refresh, Expiry: c.Expiry, Claims: c}, nil
}
