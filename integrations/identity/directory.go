package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Mode says how identities are established.
type Mode string

// The modes.
const (
	// Verified (the production mode) accepts a start, decision or acknowledgement only with an
	// assertion signed by the person's key or a trusted issuer.
	Verified Mode = "verified"
	// TrustClient takes the identity a client names at its word. It exists for local
	// development: anyone who can reach Temporal can claim to be anyone. The worker warns at
	// start, and records and reports made under it say so.
	TrustClient Mode = "trust-client"
)

// Defaults.
const (
	DefaultAudience    = "lifeboat"
	DefaultMaxTokenAge = 10 * time.Minute
	// MaxTokenAgeLimit bounds MaxTokenAge: an assertion is for one act, soon.
	MaxTokenAgeLimit = 24 * time.Hour
)

// Person is someone who may take part in a recovery. Every identity a channel presents (a Slack
// user ID, an OIDC subject, an email, a signing key) maps to exactly one person.
type Person struct {
	// ID is how plans and the configuration name the person: 1-63 lower-case letters, digits and '-'.
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// Slack is the person's Slack member ID (U012AB3CD): a Slack button press by that member is
	// theirs.
	Slack string `yaml:"slack,omitempty" json:"slack,omitempty"`
	// Email is the person's address; an OIDC ID token with this verified email is theirs when
	// OIDCSubject is not set.
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
	// Phone is an E.164 number for SMS.
	Phone string `yaml:"phone,omitempty" json:"phone,omitempty"`
	// PagerDuty is the person's PagerDuty user ID.
	PagerDuty string `yaml:"pagerduty,omitempty" json:"pagerduty,omitempty"`
	// OIDCSubject is the person's subject (sub) at the organisation's OIDC provider.
	OIDCSubject string `yaml:"oidc_subject,omitempty" json:"oidc_subject,omitempty"`
	// Keys are the person's own ed25519 public keys, as `lifeboat keygen` prints them
	// ("ed25519:" and the base64 key), for teams without an OIDC provider.
	Keys []string `yaml:"keys,omitempty" json:"keys,omitempty"`
}

// Group is a named set of people.
type Group struct {
	ID      string   `yaml:"id" json:"id"`
	Members []string `yaml:"members" json:"members"`
}

// Issuer is a signer the directory trusts to vouch for any of its people: Lifeboat's worker,
// which signs for people it authenticated through Slack or OIDC.
type Issuer struct {
	ID string `yaml:"id" json:"id"`
	// Keys are its ed25519 public keys, "ed25519:" and base64; several while a key is rotated.
	Keys []string `yaml:"keys" json:"keys"`
}

// Directory is the configuration's identity section, and what a workflow verifies against: it
// holds public keys only.
type Directory struct {
	Mode Mode `yaml:"mode" json:"mode"`
	// Audience is the aud every assertion must carry (default "lifeboat"); give each Lifeboat
	// deployment its own, so that a token for one is refused by the other.
	Audience string `yaml:"audience,omitempty" json:"audience,omitempty"`
	// MaxTokenAge bounds an assertion's lifetime, from iat to exp (default 10m).
	MaxTokenAge time.Duration `yaml:"-" json:"max_token_age,omitempty"`
	People      []Person      `yaml:"people,omitempty" json:"people,omitempty"`
	Groups      []Group       `yaml:"groups,omitempty" json:"groups,omitempty"`
	Issuers     []Issuer      `yaml:"issuers,omitempty" json:"issuers,omitempty"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// KeyPrefix starts a public key in the directory.
const KeyPrefix = "ed25519:"

// ParsePublicKey reads a key as the directory writes it.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), KeyPrefix)
	if !ok {
		return nil, fmt.Errorf("key %q: want %q and the base64 public key, as lifeboat keygen prints it", abbreviate(s), KeyPrefix)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key %q: not a base64 ed25519 public key (%d bytes)", abbreviate(s), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// FormatPublicKey writes a key as the directory reads it.
func FormatPublicKey(k ed25519.PublicKey) string {
	return KeyPrefix + base64.StdEncoding.EncodeToString(k)
}

func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// WithDefaults fills in the audience and token age.
func (d Directory) WithDefaults() Directory {
	if d.Audience == "" {
		d.Audience = DefaultAudience
	}
	if d.MaxTokenAge == 0 {
		d.MaxTokenAge = DefaultMaxTokenAge
	}
	return d
}

// Validate returns every problem with the directory, joined, or nil. Each channel identity (Slack
// ID, email, OIDC subject, key) must belong to one person only, or it could not say who acts.
func (d Directory) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch d.Mode {
	case Verified, TrustClient:
	case "":
		bad("mode: required: %s (starts and decisions carry signed assertions) or %s (identities taken as typed, for local development only)", Verified, TrustClient)
	default:
		bad("mode: %q is neither %s nor %s", d.Mode, Verified, TrustClient)
	}
	if d.MaxTokenAge < 0 || d.MaxTokenAge > MaxTokenAgeLimit {
		bad("max_token_age: %s: use up to %s", d.MaxTokenAge, MaxTokenAgeLimit)
	}
	ids := map[string]string{}
	claim := func(path, id, kind string) {
		if !idPattern.MatchString(id) {
			bad("%s: %q: use 1-63 lower-case letters, digits and '-', starting with a letter or digit", path, id)
			return
		}
		if other, dup := ids[id]; dup {
			bad("%s: %q is also %s", path, id, other)
			return
		}
		ids[id] = kind
	}
	owners := map[string]string{} // channel identity → person
	own := func(path, what, value, person string) {
		if value == "" {
			return
		}
		key := what + ":" + strings.ToLower(value)
		if other, dup := owners[key]; dup && other != person {
			bad("%s: %s %q is also %s's: a %s must say who acts", path, what, value, other, what)
			return
		}
		owners[key] = person
	}
	for i, p := range d.People {
		path := fmt.Sprintf("people[%d]", i)
		claim(path+".id", p.ID, "a person")
		if strings.TrimSpace(p.Name) == "" {
			bad("%s (%s).name: required", path, p.ID)
		}
		own(path+".slack", "Slack ID", p.Slack, p.ID)
		own(path+".email", "email", p.Email, p.ID)
		own(path+".oidc_subject", "OIDC subject", p.OIDCSubject, p.ID)
		for j, k := range p.Keys {
			if _, err := ParsePublicKey(k); err != nil {
				bad("%s (%s).keys[%d]: %v", path, p.ID, j, err)
				continue
			}
			own(fmt.Sprintf("%s.keys[%d]", path, j), "key", k, p.ID)
		}
	}
	for i, g := range d.Groups {
		path := fmt.Sprintf("groups[%d]", i)
		claim(path+".id", g.ID, "a group")
		if len(g.Members) == 0 {
			bad("%s (%s).members: required: at least one person", path, g.ID)
		}
		for _, m := range g.Members {
			if _, ok := d.Person(m); !ok {
				bad("%s (%s).members: %q is not a person in the directory", path, g.ID, m)
			}
		}
	}
	issuers := map[string]bool{}
	for i, is := range d.Issuers {
		path := fmt.Sprintf("issuers[%d]", i)
		switch {
		case is.ID == "" || is.ID == SelfIssuer:
			bad("%s.id: required, and not %q (which means a person's own key)", path, SelfIssuer)
		case issuers[is.ID]:
			bad("%s.id: %q is listed twice", path, is.ID)
		}
		issuers[is.ID] = true
		if len(is.Keys) == 0 {
			bad("%s (%s).keys: required: at least one public key", path, is.ID)
		}
		for j, k := range is.Keys {
			if _, err := ParsePublicKey(k); err != nil {
				bad("%s (%s).keys[%d]: %v", path, is.ID, j, err)
			}
		}
	}
	if d.Mode == Verified && len(d.People) == 0 {
		bad("people: required in %s mode: nobody could start a plan or decide a gate", Verified)
	}
	return errors.Join(errs...)
}

// Person returns the person with the ID.
func (d Directory) Person(id string) (Person, bool) {
	for _, p := range d.People {
		if p.ID == id {
			return p, true
		}
	}
	return Person{}, false
}

// Group returns the group with the ID.
func (d Directory) Group(id string) (Group, bool) {
	for _, g := range d.Groups {
		if g.ID == id {
			return g, true
		}
	}
	return Group{}, false
}

// Resolve returns the person a name a client typed stands for: their ID, Slack member ID, email
// or OIDC subject (case-insensitive but for the ID and the Slack ID). A name that matches nobody,
// or more than one person, is an error that says who exists.
func (d Directory) Resolve(name string) (Person, error) {
	name = strings.TrimSpace(name)
	var found []Person
	for _, p := range d.People {
		if p.ID == name || (p.Slack != "" && p.Slack == name) || (p.Email != "" && strings.EqualFold(p.Email, name)) ||
			(p.OIDCSubject != "" && p.OIDCSubject == name) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Person{}, &UnknownError{Name: name, Known: d.ids()}
	default:
		return Person{}, fmt.Errorf("%q names %d people in the identity directory; use a person's ID", name, len(found))
	}
}

// BySlack returns the person whose Slack member ID is id.
func (d Directory) BySlack(id string) (Person, error) {
	for _, p := range d.People {
		if p.Slack != "" && p.Slack == id {
			return p, nil
		}
	}
	return Person{}, &UnknownError{Name: "Slack user " + id, Known: d.ids()}
}

// ByOIDC returns the person an OIDC provider's ID token names: by subject when a person lists
// one, else by a verified email.
func (d Directory) ByOIDC(subject, email string, emailVerified bool) (Person, error) {
	for _, p := range d.People {
		if p.OIDCSubject != "" && p.OIDCSubject == subject {
			return p, nil
		}
	}
	if email != "" && emailVerified {
		for _, p := range d.People {
			if p.OIDCSubject == "" && p.Email != "" && strings.EqualFold(p.Email, email) {
				return p, nil
			}
		}
	}
	return Person{}, &UnknownError{Name: fmt.Sprintf("OIDC subject %q (email %q)", subject, email), Known: d.ids()}
}

// Expand returns the people refs name: person IDs, and group IDs for their members, in order and
// without repeats. Unknown names are skipped.
func (d Directory) Expand(refs []string) []string {
	var out []string
	add := func(id string) {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, r := range refs {
		if g, ok := d.Group(r); ok {
			for _, m := range g.Members {
				add(m)
			}
			continue
		}
		if _, ok := d.Person(r); ok {
			add(r)
		}
	}
	return out
}

func (d Directory) ids() []string {
	ids := make([]string, 0, len(d.People))
	for _, p := range d.People {
		ids = append(ids, p.ID)
	}
	return ids
}

// UnknownError is a name that is no person in the directory.
type UnknownError struct {
	Name  string
	Known []string
}

func (e *UnknownError) Error() string {
	known := strings.Join(e.Known, ", ")
	if known == "" {
		known = "none"
	}
	return fmt.Sprintf("%s is not a person in the identity directory (people: %s)", e.Name, known)
}
