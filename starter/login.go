package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/integrations/oidc"
	"github.com/lifeboat-dr/lifeboat/integrations/units"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// oidcLogin is what lifeboat login stores: the provider's ID token, and its refresh token when it
// gave one. The file is the person's credential, like a signing key: mode 0600.
type oidcLogin struct {
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	IDToken      string    `json:"id_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry"`
}

// loginMargin is how long before its expiry a login counts as expired: the ID token must still be
// valid when the worker checks it.
const loginMargin = 30 * time.Second

// tokenFilePath is the login file: --token-file, else $LIFEBOAT_OIDC_TOKEN, else
// ~/.config/lifeboat/oidc-token.json.
func (a *app) tokenFilePath() string {
	return a.userFile(a.tokenFile, "LIFEBOAT_OIDC_TOKEN", "oidc-token.json")
}

// readLogin returns the stored login, or nil when there is none.
func readLogin(path string) (*oidcLogin, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, exitError{exitUsage, fmt.Errorf("login: %w", err)}
	}
	var l oidcLogin
	if err := json.Unmarshal(b, &l); err != nil || l.IDToken == "" {
		return nil, exitError{exitUsage, fmt.Errorf("login %s: not a file lifeboat login wrote; remove it with lifeboat logout", path)}
	}
	return &l, nil
}

// writeLogin writes the login beside path and renames it over, so that a reader never sees half
// a file and a failed write leaves the old login whole.
func writeLogin(path string, l oidcLogin) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, there is nothing left to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// oidcProvider is the configuration's OIDC provider.
func oidcProvider(cfg config.Config) (*oidc.Provider, error) {
	o := cfg.Identity.OIDC
	if o == nil {
		return nil, usageErr("the configuration has no identity.oidc: this deployment takes no OIDC logins (see docs/identity.md)")
	}
	return &oidc.Provider{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes}, nil
}

// loginOutput is what login prints with -o json.
type loginOutput struct {
	Issuer    string    `json:"issuer"`
	ClientID  string    `json:"client_id"`
	Subject   string    `json:"subject"`
	Email     string    `json:"email,omitempty"`
	Person    string    `json:"person,omitempty"`
	Name      string    `json:"name,omitempty"`
	Expiry    time.Time `json:"expiry"`
	Refresh   bool      `json:"refreshable"`
	TokenFile string    `json:"token_file"`
}

func (a *app) loginCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "login",
		Short: "Log in with your organisation's OIDC provider, for deployments that verify identities",
		Long: `Log in with the OpenID Connect provider the configuration names (identity.oidc), by the device
authorization flow: lifeboat prints a URL and a code, you open the URL in any browser, sign in and
confirm the code, and lifeboat receives your ID token. It is stored in --token-file (default
$LIFEBOAT_OIDC_TOKEN, else ~/.config/lifeboat/oidc-token.json) with mode 0600.

From then on, where you have no signing key, lifeboat failover|failback|drill|restore, approve,
reject, decide, ack and token send the ID token to the worker (POST /identity/assert at
identity.oidc.worker_url), which checks it with the provider, finds you in the identity directory
(by oidc_subject, else by verified email) and signs an assertion for that one act. When the login
expires, lifeboat renews it with the refresh token if the provider gave one (ask for the
offline_access scope in identity.oidc.scopes), else asks you to log in again.

The URL and code are printed on stderr; with -o json, stdout gets a JSON object once you are in.`,
		Example: `  lifeboat login
  lifeboat login --token-file /tmp/alice-login.json -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			provider, err := oidcProvider(cfg)
			if err != nil {
				return err
			}
			path := a.tokenFilePath()
			if path == "" {
				return usageErr("--token-file: say where to keep the login (no home directory to default to)")
			}
			ctx := cmd.Context()
			code, err := provider.StartDevice(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "To log in, open %s and enter the code %s\n", code.VerificationURI, code.UserCode)
			if code.VerificationURIComplete != "" {
				fmt.Fprintf(a.stderr, "  (or open %s)\n", code.VerificationURIComplete)
			}
			until := ""
			if !code.Expiry.IsZero() {
				until = "; the code expires at " + code.Expiry.UTC().Format("15:04:05 UTC")
			}
			fmt.Fprintf(a.stderr, "Waiting for you to confirm it%s…\n", until)
			tok, err := provider.FinishDevice(ctx, code)
			if err != nil {
				return err
			}
			l := oidcLogin{Issuer: provider.Issuer, ClientID: provider.ClientID, IDToken: tok.IDToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
			if err := writeLogin(path, l); err != nil {
				return fmt.Errorf("store the login: %w", err)
			}
			out := loginOutput{Issuer: l.Issuer, ClientID: l.ClientID, Subject: tok.Claims.Subject, Email: tok.Claims.Email,
				Expiry: l.Expiry, Refresh: l.RefreshToken != "", TokenFile: path}
			p, perr := cfg.Identity.ByOIDC(tok.Claims.Subject, tok.Claims.Email, tok.Claims.EmailVerified)
			if perr == nil {
				out.Person, out.Name = p.ID, p.Name
			}
			return a.print(out, func(w io.Writer) {
				who := fmt.Sprintf("OIDC subject %s", out.Subject)
				if out.Email != "" {
					who += " (" + out.Email + ")"
				}
				if out.Person != "" {
					fmt.Fprintf(w, "Logged in as %s (%s; %s) until %s.\n", out.Person, out.Name, who, out.Expiry.UTC().Format(time.RFC3339))
				} else {
					fmt.Fprintf(w, "Logged in as %s until %s, but this configuration's identity directory lists nobody with that subject or a verified email: the worker will not sign for you until your entry in identity.people has oidc_subject: %q.\n",
						who, out.Expiry.UTC().Format(time.RFC3339), out.Subject)
				}
			})
		},
	}
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget your OIDC login",
		Long: `Remove the login lifeboat login stored (--token-file, default $LIFEBOAT_OIDC_TOKEN, else
~/.config/lifeboat/oidc-token.json). Assertions the worker already signed stay good until they
expire (5 minutes at most); the provider's own session is not ended.`,
		Example: `  lifeboat logout`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := a.tokenFilePath()
			if path == "" {
				return usageErr("--token-file: say which login to remove (no home directory to default to)")
			}
			err := os.Remove(path)
			removed := err == nil
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("logout: %w", err)
			}
			return a.print(map[string]any{"token_file": path, "removed": removed}, func(w io.Writer) {
				if removed {
					fmt.Fprintf(w, "Logged out: removed %s.\n", path)
				} else {
					fmt.Fprintf(w, "Not logged in: there is no %s.\n", path)
				}
			})
		},
	}
}

// currentLogin returns the stored login for the configuration's provider, renewed with its
// refresh token when it expired; nil when the configuration takes no OIDC logins or there is no
// login for its provider. An expired login that cannot be renewed is an error that says to log in.
func (a *app) currentLogin(ctx context.Context, cfg config.Config) (*oidcLogin, error) {
	if cfg.Identity.OIDC == nil {
		return nil, nil
	}
	path := a.tokenFilePath()
	l, err := readLogin(path)
	if err != nil || l == nil {
		return nil, err
	}
	o := cfg.Identity.OIDC
	if l.Issuer != o.Issuer || l.ClientID != o.ClientID {
		return nil, usageErr("the login in %s is for %s (client %s), not this configuration's %s (client %s): run lifeboat login",
			path, l.Issuer, l.ClientID, o.Issuer, o.ClientID)
	}
	if time.Now().Add(loginMargin).Before(l.Expiry) {
		return l, nil
	}
	if l.RefreshToken == "" {
		return nil, usageErr("your login to %s expired at %s: run lifeboat login", l.Issuer, l.Expiry.UTC().Format(time.RFC3339))
	}
	provider, err := oidcProvider(cfg)
	if err != nil {
		return nil, err
	}
	tok, err := provider.Refresh(ctx, l.RefreshToken)
	if err != nil {
		return nil, usageErr("your login to %s expired at %s and could not be renewed (%v): run lifeboat login", l.Issuer, l.Expiry.UTC().Format(time.RFC3339), err)
	}
	l.IDToken, l.RefreshToken, l.Expiry = tok.IDToken, tok.RefreshToken, tok.Expiry
	if err := writeLogin(path, *l); err != nil {
		return nil, fmt.Errorf("store the renewed login: %w", err)
	}
	return l, nil
}

// exchangeClient reaches the worker's exchange endpoint.
var exchangeClient = &http.Client{Timeout: 30 * time.Second}

// oidcAssert has the worker sign claim for the person the login names.
func (a *app) oidcAssert(ctx context.Context, cfg config.Config, l *oidcLogin, claim identity.Assertion, ttl time.Duration) (signed, error) {
	resp, err := oidc.Exchange(ctx, exchangeClient, cfg.WorkerURL(), l.IDToken, oidc.AssertRequest{Act: claim.Act, Workflow: claim.Workflow,
		Run: claim.Run, Subject: claim.Subject, Gate: claim.Gate, Approve: claim.Approve, Choice: claim.Choice, TTL: units.Duration(ttl)})
	var refused *oidc.RefusedError
	if errors.As(err, &refused) {
		return signed{}, exitError{exitUsage, err}
	}
	if err != nil {
		return signed{}, err
	}
	return signed{token: resp.Assertion, person: resp.Person, channel: "oidc"}, nil
}

// sameName reports whether the name someone typed is person, by ID or, through the directory, by
// another of their names.
func sameName(cfg config.Config, typed, person string) bool {
	typed = strings.TrimSpace(typed)
	if typed == person {
		return true
	}
	p, err := cfg.Identity.Resolve(typed)
	return err == nil && p.ID == person
}
