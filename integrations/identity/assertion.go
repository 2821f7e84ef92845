package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// SelfIssuer is the issuer of an assertion signed with the person's own key.
const SelfIssuer = "lifeboat:self"

// MaxAssertionBytes bounds an assertion, as it travels in workflow inputs and history.
const MaxAssertionBytes = 4096

// Leeway is the clock skew allowed between the signer and the workflow.
const Leeway = 30 * time.Second

// Act is what an assertion is for.
type Act string

// The acts.
const (
	// ActStart starts a workflow: Subject names the plan or asset.
	ActStart Act = "start"
	// ActDecide approves or rejects a gate (Gate), picking Choice on a decision.
	ActDecide Act = "decide"
	// ActAcknowledge acknowledges a step's escalation (Gate names the step) or, with Gate empty,
	// silences every escalation of the run.
	ActAcknowledge Act = "acknowledge"
)

// Assertion is what a signed token says: Person does Act in Workflow.
type Assertion struct {
	// Issuer is SelfIssuer or a trusted issuer's ID; Person the person's ID (sub).
	Issuer string `json:"iss"`
	Person string `json:"sub"`
	// Channel is how the issuer knew the person: key, slack or oidc.
	Channel  string    `json:"channel,omitempty"`
	Act      Act       `json:"act"`
	Workflow string    `json:"workflow"`
	Run      string    `json:"run,omitempty"`
	Subject  string    `json:"subject,omitempty"`
	Gate     string    `json:"gate,omitempty"`
	Approve  bool      `json:"approve,omitempty"`
	Choice   string    `json:"choice,omitempty"`
	ID       string    `json:"jti"`
	IssuedAt time.Time `json:"iat"`
	Expires  time.Time `json:"exp"`
}

// claims are the JWT's own claims, beside the registered ones (jwt.Claims).
type claims struct {
	Channel  string `json:"lb_ch,omitempty"`
	Act      Act    `json:"lb_act"`
	Workflow string `json:"lb_wf"`
	Run      string `json:"lb_run,omitempty"`
	Subject  string `json:"lb_subject,omitempty"`
	Gate     string `json:"lb_gate,omitempty"`
	Approve  bool   `json:"lb_approve,omitempty"`
	Choice   string `json:"lb_choice,omitempty"`
}

// Sign returns the assertion as a JWT signed with key, valid from now for ttl, for audience.
// It fills in a random ID.
func Sign(a Assertion, audience string, key ed25519.PrivateKey, now time.Time, ttl time.Duration) (string, error) {
	if a.Issuer == "" || a.Person == "" || a.Act == "" || a.Workflow == "" {
		return "", errors.New("identity: an assertion needs an issuer, a person, an act and a workflow")
	}
	if ttl <= 0 {
		return "", errors.New("identity: an assertion needs a positive lifetime")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("identity: signer: %w", err)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", err
	}
	std := jwt.Claims{Issuer: a.Issuer, Subject: a.Person, Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(ttl)),
		ID: hex.EncodeToString(nonce[:])}
	c := claims{
		Channel: a.Channel, Act: a.Act, Workflow: a.Workflow, Run: a.Run, Subject: a.Subject, Gate: a.Gate, Approve: a.Approve, Choice: a.Choice,
	}
	tok, err := jwt.Signed(signer).Claims(std).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("identity: sign: %w", err)
	}
	if len(tok) > MaxAssertionBytes {
		return "", fmt.Errorf("identity: the assertion is %d bytes, at most %d", len(tok), MaxAssertionBytes)
	}
	return tok, nil
}

// Expect is what the verifier requires an assertion to say. Run is checked when both the
// assertion and Expect name one. Approve and Choice are checked for ActDecide, Gate for ActDecide
// and ActAcknowledge, Subject for ActStart.
type Expect struct {
	Act      Act
	Workflow string
	Run      string
	Subject  string
	Gate     string
	Approve  bool
	Choice   string
}

// Refusal reasons, for callers that tell them apart.
const (
	ReasonMalformed   = "malformed"
	ReasonSignature   = "signature"
	ReasonIssuer      = "issuer"
	ReasonPerson      = "person"
	ReasonAudience    = "audience"
	ReasonExpired     = "expired"
	ReasonNotYetValid = "not-yet-valid"
	ReasonLifetime    = "lifetime"
	ReasonScope       = "scope"
)

// Error is an assertion the verifier refused, and why.
type Error struct {
	Reason string
	Msg    string
}

func (e *Error) Error() string { return "assertion refused: " + e.Msg }

func refuse(reason, format string, args ...any) error {
	return &Error{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Verify checks token against the directory at now: its signature, by the person's own key or a
// trusted issuer's; its audience, age and expiry; that its person is in the directory; and that
// it says what want says. It only reads the directory and now, so a workflow gets the same answer
// on every replay.
func (d Directory) Verify(token string, now time.Time, want Expect) (Assertion, error) {
	d = d.WithDefaults()
	if len(token) > MaxAssertionBytes {
		return Assertion{}, refuse(ReasonMalformed, "%d bytes, at most %d", len(token), MaxAssertionBytes)
	}
	tok, err := jwt.ParseSigned(strings.TrimSpace(token), []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return Assertion{}, refuse(ReasonMalformed, "not a signed JWT (%v); get one with lifeboat token", err)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return Assertion{}, refuse(ReasonMalformed, "claims: %v", err)
	}
	person, ok := d.Person(unverified.Subject)
	if !ok {
		return Assertion{}, refuse(ReasonPerson, "%q is not a person in the identity directory", unverified.Subject)
	}
	var keys []string
	if unverified.Issuer == SelfIssuer {
		keys = person.Keys
		if len(keys) == 0 {
			return Assertion{}, refuse(ReasonSignature, "%s has no key in the identity directory; add the one lifeboat keygen printed", person.ID)
		}
	} else {
		for _, is := range d.Issuers {
			if is.ID == unverified.Issuer {
				keys = is.Keys
			}
		}
		if keys == nil {
			return Assertion{}, refuse(ReasonIssuer, "issuer %q is not trusted by the identity directory", unverified.Issuer)
		}
	}
	var std jwt.Claims
	var c claims
	verified := false
	for _, k := range keys {
		pub, err := ParsePublicKey(k)
		if err != nil {
			continue
		}
		if tok.Claims(pub, &std, &c) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return Assertion{}, refuse(ReasonSignature, "the signature is not by %s's keys (issuer %s)", person.ID, unverified.Issuer)
	}
	switch err := std.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{d.Audience}, Time: now}, Leeway); {
	case errors.Is(err, jwt.ErrInvalidAudience):
		return Assertion{}, refuse(ReasonAudience, "it is for %v, not %q", []string(std.Audience), d.Audience)
	case errors.Is(err, jwt.ErrExpired):
		return Assertion{}, refuse(ReasonExpired, "it expired at %s; get a new one", std.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Assertion{}, refuse(ReasonNotYetValid, "it is not valid before %s (is the signer's clock right?)", std.NotBefore.Time().UTC().Format(time.RFC3339))
	case err != nil:
		return Assertion{}, refuse(ReasonMalformed, "%v", err)
	}
	if std.Subject != person.ID || std.Issuer != unverified.Issuer {
		return Assertion{}, refuse(ReasonMalformed, "its signed claims differ from its unsigned reading")
	}
	if std.Expiry == nil || std.IssuedAt == nil || std.ID == "" {
		return Assertion{}, refuse(ReasonLifetime, "it needs exp, iat and jti")
	}
	if age := std.Expiry.Time().Sub(std.IssuedAt.Time()); age > d.MaxTokenAge {
		return Assertion{}, refuse(ReasonLifetime, "it is valid for %s, more than the %s this deployment allows", age, d.MaxTokenAge)
	}
	scope := func(what, got, wantV string) error {
		return refuse(ReasonScope, "it is for %s %q, not %q", what, got, wantV)
	}
	switch {
	case c.Act != want.Act:
		return Assertion{}, scope("act", string(c.Act), string(want.Act))
	case c.Workflow != want.Workflow:
		return Assertion{}, scope("workflow", c.Workflow, want.Workflow)
	case c.Run != "" && want.Run != "" && c.Run != want.Run:
		return Assertion{}, scope("run", c.Run, want.Run)
	case want.Act == ActStart && c.Subject != want.Subject:
		return Assertion{}, scope("subject", c.Subject, want.Subject)
	case (want.Act == ActDecide || want.Act == ActAcknowledge) && c.Gate != want.Gate:
		return Assertion{}, scope("gate", c.Gate, want.Gate)
	case want.Act == ActDecide && c.Approve != want.Approve:
		return Assertion{}, scope("decision", decision(c.Approve), decision(want.Approve))
	case want.Act == ActDecide && c.Choice != want.Choice:
		return Assertion{}, scope("choice", c.Choice, want.Choice)
	}
	return Assertion{Issuer: std.Issuer, Person: std.Subject, Channel: c.Channel, Act: c.Act, Workflow: c.Workflow, Run: c.Run,
		Subject: c.Subject, Gate: c.Gate, Approve: c.Approve, Choice: c.Choice, ID: std.ID,
		IssuedAt: std.IssuedAt.Time().UTC(), Expires: std.Expiry.Time().UTC()}, nil
}

func decision(approve bool) string {
	if approve {
		return "approve"
	}
	return "reject"
}

// GenerateKey makes a signing key and returns it PEM-encoded (PKCS #8), with its public key as
// the directory writes it.
func GenerateKey() (pemKey []byte, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, "", err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), FormatPublicKey(pub), nil
}

// ParsePrivateKey reads a signing key: PEM (PKCS #8, as GenerateKey writes) or a base64 32-byte
// seed (as a secret in the configuration holds it).
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	if block, _ := pem.Decode(b); block != nil {
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: signing key: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("identity: signing key: %T is not an ed25519 key", k)
		}
		return priv, nil
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("identity: signing key: neither PEM nor a base64 %d-byte seed", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// PublicOf returns key's public half as the directory writes it.
func PublicOf(key ed25519.PrivateKey) string {
	return FormatPublicKey(key.Public().(ed25519.PublicKey))
}
