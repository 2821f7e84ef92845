package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

type keyPair struct {
	priv ed25519.PrivateKey
	pub  string
}

func newKey(t testing.TB) keyPair {
	t.Helper()
	pemKey, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	if PublicOf(priv) != pub {
		t.Fatal("the public key printed is not the signing key's")
	}
	return keyPair{priv, pub}
}

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

func testDirectory(alice, worker keyPair) Directory {
	return Directory{Mode: Verified, Audience: "lifeboat-prod",
		People: []Person{
			{ID: "alice", Name: "Alice", Slack: "U01ALICE", Email: "alice@example.com", Keys: []string{alice.pub}},
			{ID: "bob", Name: "Bob", Slack: "U01BOB", Email: "bob@example.com", OIDCSubject: "sub-bob"},
		},
		Groups:  []Group{{ID: "dba", Members: []string{"alice", "bob"}}},
		Issuers: []Issuer{{ID: "lifeboat-worker", Keys: []string{worker.pub}}},
	}
}

func TestDirectoryValidateReportsEveryProblem(t *testing.T) {
	k := newKey(t)
	d := Directory{Mode: "open",
		People: []Person{
			{ID: "Alice", Name: "A"},
			{ID: "bob", Name: "", Slack: "U1", Keys: []string{"ssh-ed25519 AAAA"}},
			{ID: "carol", Name: "C", Slack: "U1", Keys: []string{k.pub}},
			{ID: "dave", Name: "D", Keys: []string{k.pub}},
			{ID: "bob", Name: "B2"},
		},
		Groups:  []Group{{ID: "ops", Members: []string{"nobody"}}, {ID: "carol", Members: []string{"dave"}}},
		Issuers: []Issuer{{ID: SelfIssuer, Keys: []string{k.pub}}, {ID: "w"}},
	}
	err := d.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`mode: "open" is neither verified nor trust-client`,
		`people[0].id: "Alice": use 1-63 lower-case`,
		`people[1] (bob).name: required`,
		`people[1] (bob).keys[0]: key "ssh-ed25519 AAAA": want "ed25519:"`,
		`people[2].slack: Slack ID "U1" is also bob's`,
		`people[3].keys[0]: key "` + k.pub + `" is also carol's`,
		`people[4].id: "bob" is also a person`,
		`groups[0] (ops).members: "nobody" is not a person`,
		`groups[1].id: "carol" is also a person`,
		`issuers[0].id: required, and not "lifeboat:self"`,
		`issuers[1] (w).keys: required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if err := (Directory{Mode: Verified}).Validate(); err == nil || !strings.Contains(err.Error(), "people: required in verified mode") {
		t.Errorf("an empty verified directory: %v", err)
	}
	if err := (Directory{}).Validate(); err == nil || !strings.Contains(err.Error(), "mode: required") {
		t.Errorf("no mode: %v", err)
	}
}

func TestResolveMapsEveryAliasToOnePerson(t *testing.T) {
	d := testDirectory(newKey(t), newKey(t))
	for _, name := range []string{"alice", "U01ALICE", "Alice@Example.com", " alice "} {
		p, err := d.Resolve(name)
		if err != nil || p.ID != "alice" {
			t.Errorf("Resolve(%q) = %q, %v; want alice", name, p.ID, err)
		}
	}
	if p, err := d.Resolve("sub-bob"); err != nil || p.ID != "bob" {
		t.Errorf("OIDC subject: %q, %v", p.ID, err)
	}
	_, err := d.Resolve("alice@laptop")
	var unknown *UnknownError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "people: alice, bob") {
		t.Errorf("an unknown name: %v", err)
	}
	if p, err := d.BySlack("U01BOB"); err != nil || p.ID != "bob" {
		t.Errorf("BySlack: %q, %v", p.ID, err)
	}
	if _, err := d.BySlack("UOTHER"); err == nil {
		t.Error("an unknown Slack user resolved")
	}
	if p, err := d.ByOIDC("other", "alice@example.com", true); err != nil || p.ID != "alice" {
		t.Errorf("ByOIDC by verified email: %q, %v", p.ID, err)
	}
	if _, err := d.ByOIDC("other", "alice@example.com", false); err == nil {
		t.Error("an unverified email resolved")
	}
	if _, err := d.ByOIDC("other", "bob@example.com", true); err == nil {
		t.Error("bob lists an OIDC subject, yet another subject with his email resolved to him")
	}
	if got := d.Expand([]string{"dba", "alice", "nobody"}); strings.Join(got, ",") != "alice,bob" {
		t.Errorf("Expand = %v", got)
	}
}

func TestVerifyAcceptsOnlyWhatTheAssertionSays(t *testing.T) {
	alice, worker, mallory := newKey(t), newKey(t), newKey(t)
	d := testDirectory(alice, worker)
	decide := Expect{Act: ActDecide, Workflow: "recovery-1", Run: "run-1", Gate: "approve-failover", Approve: true}
	sign := func(a Assertion, key ed25519.PrivateKey, at time.Time, ttl time.Duration, aud string) string {
		t.Helper()
		tok, err := Sign(a, aud, key, at, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := Assertion{Issuer: SelfIssuer, Person: "alice", Channel: "key", Act: ActDecide, Workflow: "recovery-1", Run: "run-1", Gate: "approve-failover", Approve: true}
	tok := sign(good, alice.priv, t0, 5*time.Minute, "lifeboat-prod")
	a, err := d.Verify(tok, t0.Add(time.Minute), decide)
	if err != nil || a.Person != "alice" || a.ID == "" || a.Channel != "key" {
		t.Fatalf("a good assertion: %+v, %v", a, err)
	}
	viaWorker := good
	viaWorker.Issuer, viaWorker.Person, viaWorker.Channel = "lifeboat-worker", "bob", "slack"
	if a, err := d.Verify(sign(viaWorker, worker.priv, t0, time.Minute, "lifeboat-prod"), t0, decide); err != nil || a.Person != "bob" {
		t.Fatalf("the worker vouching for bob: %+v, %v", a, err)
	}

	with := func(f func(a *Assertion)) Assertion { a := good; f(&a); return a }
	cases := []struct {
		name   string
		token  string
		at     time.Time
		want   Expect
		reason string
	}{
		{"expired", tok, t0.Add(5*time.Minute + Leeway + time.Second), decide, ReasonExpired},
		{"not yet valid", tok, t0.Add(-time.Hour), decide, ReasonNotYetValid},
		{"another workflow", tok, t0, Expect{Act: ActDecide, Workflow: "recovery-2", Gate: "approve-failover", Approve: true}, ReasonScope},
		{"another run", tok, t0, Expect{Act: ActDecide, Workflow: "recovery-1", Run: "run-2", Gate: "approve-failover", Approve: true}, ReasonScope},
		{"another gate", tok, t0, Expect{Act: ActDecide, Workflow: "recovery-1", Gate: "restore-in-place", Approve: true}, ReasonScope},
		{"an approval used to reject", tok, t0, Expect{Act: ActDecide, Workflow: "recovery-1", Gate: "approve-failover"}, ReasonScope},
		{"another choice", tok, t0, Expect{Act: ActDecide, Workflow: "recovery-1", Gate: "approve-failover", Approve: true, Choice: "repair"}, ReasonScope},
		{"a decision used to start", tok, t0, Expect{Act: ActStart, Workflow: "recovery-1"}, ReasonScope},
		{"another audience", sign(good, alice.priv, t0, time.Minute, "lifeboat-staging"), t0, decide, ReasonAudience},
		{"signed by another key", sign(good, mallory.priv, t0, time.Minute, "lifeboat-prod"), t0, decide, ReasonSignature},
		{"self-signed for someone else", sign(with(func(a *Assertion) { a.Person = "bob" }), alice.priv, t0, time.Minute, "lifeboat-prod"), t0, decide, ReasonSignature},
		{"an untrusted issuer", sign(with(func(a *Assertion) { a.Issuer = "mallory" }), mallory.priv, t0, time.Minute, "lifeboat-prod"), t0, decide, ReasonIssuer},
		{"a person not in the directory", sign(with(func(a *Assertion) { a.Issuer, a.Person = "lifeboat-worker", "mallory" }), worker.priv, t0, time.Minute, "lifeboat-prod"), t0, decide, ReasonPerson},
		{"valid for too long", sign(good, alice.priv, t0, 2*time.Hour, "lifeboat-prod"), t0, decide, ReasonLifetime},
		{"garbage", "not.a.token", t0, decide, ReasonMalformed},
		{"too long", strings.Repeat("a", MaxAssertionBytes+1), t0, decide, ReasonMalformed},
		{"HS256 with the public key as secret", hmacToken(t, alice.pub), t0, decide, ReasonMalformed},
		{"unsigned (alg none)", "eyJhbGciOiJub25lIn0." + strings.Split(tok, ".")[1] + ".", t0, decide, ReasonMalformed},
	}
	for _, c := range cases {
		_, err := d.Verify(c.token, c.at, c.want)
		var refused *Error
		if !errors.As(err, &refused) || refused.Reason != c.reason {
			t.Errorf("%s: got %v, want a refusal for %s", c.name, err, c.reason)
		}
	}
	// A tampered payload (the gate changed) breaks the signature.
	parts := strings.Split(tok, ".")
	forged := sign(with(func(a *Assertion) { a.Gate = "restore-in-place" }), mallory.priv, t0, time.Minute, "lifeboat-prod")
	spliced := parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
	if _, err := d.Verify(spliced, t0, Expect{Act: ActDecide, Workflow: "recovery-1", Gate: "restore-in-place", Approve: true}); err == nil {
		t.Error("a payload swapped under alice's signature verified")
	}
}

func hmacToken(t *testing.T, secret string) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: SelfIssuer, Subject: "alice"}).Claims(claims{Act: ActDecide, Workflow: "recovery-1"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestParsePrivateKeyTakesASeed(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed)
	want := ed25519.NewKeyFromSeed(seed)
	got, err := ParsePrivateKey([]byte(" " + encodeSeed(seed) + "\n"))
	if err != nil || !got.Equal(want) {
		t.Fatalf("seed: %v", err)
	}
	if _, err := ParsePrivateKey([]byte("nope")); err == nil {
		t.Error("garbage parsed")
	}
}

func encodeSeed(seed []byte) string { return base64.StdEncoding.EncodeToString(seed) }

// FuzzVerify feeds the verifier arbitrary tokens: it must never panic, and must never accept a
// token that is not a signature by a key the directory trusts.
func FuzzVerify(f *testing.F) {
	alice, worker := newKey(f), newKey(f)
	d := testDirectory(alice, worker)
	want := Expect{Act: ActDecide, Workflow: "recovery-1", Gate: "g", Approve: true}
	good, err := Sign(Assertion{Issuer: SelfIssuer, Person: "alice", Act: ActDecide, Workflow: "recovery-1", Gate: "g", Approve: true}, "lifeboat-prod", alice.priv, t0, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		a, err := d.Verify(token, t0, want)
		if err != nil {
			return
		}
		if token != good && strings.TrimSpace(token) != good {
			// Another encoding of the same signed payload would have to verify under alice's key:
			// check the claims are the signed ones.
			if a.Person != "alice" || a.Workflow != "recovery-1" || a.Gate != "g" || !a.Approve {
				t.Fatalf("accepted %q as %+v", token, a)
			}
		}
	})
}
