package main

import (
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/integrations/identity"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// personHeader is the PEM header of a key file that names whose key it is.
const personHeader = "Lifeboat-Person"

// signingKey is the person's own key, as lifeboat keygen wrote it.
type signingKey struct {
	person string
	key    ed25519.PrivateKey
	path   string
}

// keyPath is the signing key file: --key, else $LIFEBOAT_KEY, else ~/.config/lifeboat/key.
func (a *app) keyPath() string { return a.userFile(a.keyFile, "LIFEBOAT_KEY", "key") }

// userFile is a file of the person's own: the flag's value, else the environment variable's, else
// name in ~/.config/lifeboat ("" when there is no home directory).
func (a *app) userFile(flag, envVar, name string) string {
	if flag != "" {
		return flag
	}
	if p, ok := a.env(envVar); ok && p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".config", "lifeboat", name)
}

// signer returns the person's signing key, or nil when there is none: without one, the CLI sends
// identities as typed, which only a worker in trust-client mode accepts. A key named by --key or
// $LIFEBOAT_KEY must exist.
func (a *app) signer() (*signingKey, error) {
	path := a.keyPath()
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && a.keyFile == "" {
		if v, _ := a.env("LIFEBOAT_KEY"); v == "" {
			return nil, nil
		}
	}
	if err != nil {
		return nil, exitError{exitUsage, fmt.Errorf("signing key: %w", err)}
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Headers[personHeader] == "" {
		return nil, exitError{exitUsage, fmt.Errorf("signing key %s: not a key lifeboat keygen wrote (a PEM key with a %s header)", path, personHeader)}
	}
	key, err := identity.ParsePrivateKey(b)
	if err != nil {
		return nil, exitError{exitUsage, fmt.Errorf("signing key %s: %w", path, err)}
	}
	return &signingKey{person: block.Headers[personHeader], key: key, path: path}, nil
}

// signed is an assertion and the person it names, with how they were known (key or oidc); with
// no token, person is the identity the user typed.
type signed struct{ token, person, channel string }

// signs reports whether assert will sign, or fail trying: with the person's key, with an OIDC
// login, or, where the configuration verifies identities through OIDC, to say that the person
// must log in. Without, the CLI sends identities as typed.
func (a *app) signs(cfg config.Config) (bool, error) {
	k, err := a.signer()
	if err != nil || k != nil {
		return k != nil, err
	}
	if cfg.Identity.OIDC == nil {
		return false, nil
	}
	l, err := readLogin(a.tokenFilePath())
	return l != nil || cfg.Identity.Mode == identity.Verified, err
}

// assert signs what the person does, for the deployment cfg describes: with their own key, else
// through the worker for their OIDC login. as is the identity the user typed, which must be the
// signer's person when given explicitly. Without a key or a login, it returns no token, except
// where the configuration verifies identities through OIDC: there it says to log in.
func (a *app) assert(ctx context.Context, cfg config.Config, as string, asSet bool, claim identity.Assertion, ttl time.Duration) (signed, error) {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	k, err := a.signer()
	if err != nil {
		return signed{person: as}, err
	}
	if k == nil {
		return a.assertByLogin(ctx, cfg, as, asSet, claim, ttl)
	}
	if asSet && strings.TrimSpace(as) != k.person {
		return signed{person: as}, usageErr("--as %s: your signing key (%s) is %s's; leave --as out, or use their key", as, k.path, k.person)
	}
	audience := cfg.Identity.Audience
	if audience == "" {
		audience = identity.DefaultAudience
	}
	claim.Issuer, claim.Person, claim.Channel = identity.SelfIssuer, k.person, "key"
	tok, err := identity.Sign(claim, audience, k.key, time.Now(), ttl)
	if err != nil {
		return signed{person: as}, err
	}
	return signed{token: tok, person: k.person, channel: "key"}, nil
}

// assertByLogin has the worker sign for the person's OIDC login.
func (a *app) assertByLogin(ctx context.Context, cfg config.Config, as string, asSet bool, claim identity.Assertion, ttl time.Duration) (signed, error) {
	l, err := a.currentLogin(ctx, cfg)
	if err != nil {
		return signed{person: as}, err
	}
	if l == nil {
		if cfg.Identity.OIDC != nil && cfg.Identity.Mode == identity.Verified {
			return signed{person: as}, usageErr("you are not logged in (no %s): run lifeboat login, or sign with your key (--key)", a.tokenFilePath())
		}
		return signed{person: as}, nil
	}
	s, err := a.oidcAssert(ctx, cfg, l, claim, ttl)
	if err != nil {
		return signed{person: as}, err
	}
	if asSet && !sameName(cfg, as, s.person) {
		return signed{person: as}, usageErr("--as %s: you are logged in as %s (%s); leave --as out, or log in as them", as, s.person, a.tokenFilePath())
	}
	return s, nil
}

func (a *app) keygenCommand() *cobra.Command {
	var as, out string
	cmd := &cobra.Command{
		Use:   "keygen --as PERSON",
		Short: "Make your personal signing key, for deployments that verify identities",
		Long: `Make an ed25519 signing key for PERSON (your ID in the configuration's identity.people), write it
to --out (default $LIFEBOAT_KEY, else ~/.config/lifeboat/key; an existing file is never replaced),
and print its public key. Add that line to your entry's keys in the worker's configuration:

  identity:
    people:
      - {id: alice, name: Alice Martin, keys: ["ed25519:…"]}

From then on lifeboat signs what you do (starts, decisions, acknowledgements) with it, and the
workflows verify the signature; lifeboat token prints a signed assertion for the temporal CLI.`,
		Example: `  lifeboat keygen --as alice --out /tmp/alice.key`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if as = strings.TrimSpace(as); as == "" {
				return usageErr("--as: name the person whose key this is (their ID in identity.people)")
			}
			if out == "" {
				out = a.keyPath()
			}
			if out == "" {
				return usageErr("--out: say where to write the key (no home directory to default to)")
			}
			pemKey, public, err := identity.GenerateKey()
			if err != nil {
				return err
			}
			block, _ := pem.Decode(pemKey)
			block.Headers = map[string]string{personHeader: as}
			if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(err, os.ErrExist) {
				return usageErr("%s exists: lifeboat keygen never replaces a key; choose another --out, or remove it yourself", out)
			}
			if err != nil {
				return err
			}
			if err := pem.Encode(f, block); err != nil {
				f.Close()
				os.Remove(out)
				return err
			}
			if err := f.Close(); err != nil {
				os.Remove(out)
				return err
			}
			return a.print(map[string]string{"person": as, "key_file": out, "public_key": public}, func(w io.Writer) {
				fmt.Fprintf(w, "Wrote %s's signing key to %s. Add its public key to %s's keys in identity.people:\n%s\n", as, out, as, public)
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "whose key it is: their ID in the configuration's identity.people (required)")
	cmd.Flags().StringVar(&out, "out", "", "where to write the key (default $LIFEBOAT_KEY, else ~/.config/lifeboat/key)")
	return cmd
}

func (a *app) tokenCommand() *cobra.Command {
	var (
		gate, choice, subject, run string
		approve, reject            bool
		ttl                        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "token start|decide|ack WORKFLOW-ID",
		Short: "Print a signed assertion, for the temporal CLI",
		Long: `Print an assertion signed with your key (see lifeboat keygen) that says you start, decide or
acknowledge in workflow WORKFLOW-ID, for deployments that verify identities. lifeboat's own commands
sign for you; this is for the temporal CLI, which passes it as "assertion" in the input:

  temporal workflow update execute --workflow-id ID --name decide \
    --input '{"gate":"approve-failover","approve":true,"assertion":"<token>"}'

The assertion is good for --ttl (at most what the deployment allows, 10m by default), for that
workflow only (and --run, when given), and says exactly what you do: decide names the gate, the
approval or rejection and the choice; start names the plan or asset (--subject); ack names the step
(--step; none silences the whole run).`,
		Example: `  lifeboat token decide recovery-primary-db-lost --gate approve-failover --approve
  lifeboat token start recovery-primary-db-lost --subject primary-db-lost
  lifeboat token ack recovery-primary-db-lost --step approve-failover`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			claim := identity.Assertion{Workflow: args[1], Run: run}
			switch args[0] {
			case "start":
				if subject == "" {
					return usageErr("token start needs --subject: the plan or asset the workflow runs")
				}
				claim.Act, claim.Subject = identity.ActStart, subject
			case "decide":
				if gate == "" || approve == reject {
					return usageErr("token decide needs --gate and one of --approve or --reject")
				}
				claim.Act, claim.Gate, claim.Approve, claim.Choice = identity.ActDecide, gate, approve, choice
			case "ack":
				claim.Act, claim.Gate = identity.ActAcknowledge, gate
			default:
				return usageErr("%q: say start, decide or ack", args[0])
			}
			if ttl <= 0 || ttl > identity.MaxTokenAgeLimit {
				return usageErr("--ttl %s: use more than 0 and at most %s", ttl, identity.MaxTokenAgeLimit)
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			s, err := a.assert(cmd.Context(), cfg, "", false, claim, ttl)
			if err != nil {
				return err
			}
			if s.token == "" {
				return usageErr("no signing key at %s and no login: make a key with lifeboat keygen (or name it with --key or LIFEBOAT_KEY), or, where the configuration has identity.oidc, run lifeboat login", a.keyPath())
			}
			return a.print(map[string]string{"person": s.person, "assertion": s.token}, func(w io.Writer) { fmt.Fprintln(w, s.token) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&gate, "gate", "", "decide: the gate; ack: the step (none: the whole run)")
	f.StringVar(&gate, "step", "", "ack: the step whose escalation you acknowledge (same as --gate)")
	f.BoolVar(&approve, "approve", false, "decide: approve")
	f.BoolVar(&reject, "reject", false, "decide: reject")
	f.StringVar(&choice, "choice", "", "decide: the option picked, on a decision")
	f.StringVar(&subject, "subject", "", "start: the plan or asset the workflow runs")
	f.StringVar(&run, "run", "", "the workflow's run ID, to bind the assertion to that run only")
	f.DurationVar(&ttl, "ttl", 5*time.Minute, "how long the assertion is good for")
	return cmd
}
