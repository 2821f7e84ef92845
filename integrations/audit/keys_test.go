package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
)

func TestSigningKeys(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	want := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	for name, s := range map[string]string{
		"standard":           base64.StdEncoding.EncodeToString(seed),
		"unpadded":           base64.RawStdEncoding.EncodeToString(seed),
		"URL alphabet":       base64.URLEncoding.EncodeToString(seed),
		"with a line ending": base64.StdEncoding.EncodeToString(seed) + "\n",
	} {
		signer, err := audit.ParseSigningKey(s)
		if err != nil || !signer.PublicKey().Equal(want) {
			t.Errorf("%s: ParseSigningKey = %v", name, err)
		}
	}
	s, _ := audit.NewSigner(seed)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(s.KeyID()) || s.KeyID() != audit.KeyID(want) {
		t.Errorf("KeyID = %q", s.KeyID())
	}

	secret := "c2VjcmV0LXNlZWQtbm90LTMyLWJ5dGVzLWxvbmc=" // base64, 29 bytes
	for _, tt := range []struct{ in, want string }{
		{"not base64 at all!", "not base64: give the 32-byte Ed25519 seed in base64"},
		{secret, "signing key is 29 bytes: an Ed25519 seed is 32"},
		{base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(seed)), "that is an expanded private key"},
		{"", "signing key is 0 bytes"},
	} {
		_, err := audit.ParseSigningKey(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSigningKey(%q) = %v, want %q", tt.in, err, tt.want)
		}
		if err != nil && tt.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "audit.key")
	generated := audit.GenerateSigningKey()
	if err := os.WriteFile(file, []byte(generated+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile, err := audit.ReadSigningKey(file)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := audit.ParseSigningKey(generated)
	if fromFile.KeyID() != parsed.KeyID() || audit.GenerateSigningKey() == generated {
		t.Error("ReadSigningKey and ParseSigningKey disagree, or GenerateSigningKey repeats itself")
	}
	if _, err := audit.ReadSigningKey(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("ReadSigningKey of a missing file: %v", err)
	}
	if err := os.WriteFile(file, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.ReadSigningKey(file); err == nil || !strings.Contains(err.Error(), "(in "+file+")") {
		t.Errorf("ReadSigningKey of a bad file: %v", err)
	}
}

func TestPublicKeys(t *testing.T) {
	s := signer(t, "worker")
	enc := audit.EncodePublicKey(s.PublicKey())
	pub, err := audit.ParsePublicKey(enc)
	if err != nil || !pub.Equal(s.PublicKey()) {
		t.Fatalf("ParsePublicKey(EncodePublicKey) = %v", err)
	}
	if keys := audit.Keys(pub); len(keys) != 1 || !keys[s.KeyID()].Equal(pub) {
		t.Errorf("Keys = %v", keys)
	}
	for _, tt := range []struct{ in, want string }{
		{"%%%", "not base64: give the 32-byte Ed25519 public key"},
		{base64.StdEncoding.EncodeToString([]byte("short")), "public key is 5 bytes"},
	} {
		if _, err := audit.ParsePublicKey(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePublicKey(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}
