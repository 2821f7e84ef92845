package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeyID names a public key: the first 16 hex digits of its SHA-256. Entries and the head carry the
// ID of the key that signed them, so that Verify can pick the key out of several (a rotated key's
// entries keep verifying with its public key).
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Signer signs entries and the head with an Ed25519 key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a signer for the 32-byte Ed25519 seed.
func NewSigner(seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		hint := ""
		if len(seed) == ed25519.PrivateKeySize {
			hint = " (that is an expanded private key: give its first 32 bytes, the seed)"
		}
		return nil, fmt.Errorf("audit: signing key is %d bytes: an Ed25519 seed is %d%s", len(seed), ed25519.SeedSize, hint)
	}
	key := ed25519.NewKeyFromSeed(seed)
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}, nil
}

// ParseSigningKey returns a signer for a seed given in base64 (standard or URL alphabet, padded or
// not; surrounding white space is ignored), as `lifeboat audit key generate` prints it. Its errors
// never repeat the value.
func ParseSigningKey(s string) (*Signer, error) {
	seed, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: not base64: give the 32-byte Ed25519 seed in base64, as `lifeboat audit key generate` prints it")
	}
	return NewSigner(seed)
}

// ReadSigningKey returns a signer for the base64 seed in the file at path.
func ReadSigningKey(path string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	s, err := ParseSigningKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return s, nil
}

// GenerateSigningKey returns a new random seed in base64, for ParseSigningKey.
func GenerateSigningKey() string {
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed) // never fails (crypto/rand)
	return base64.StdEncoding.EncodeToString(seed)
}

// KeyID returns the ID of the signer's public key.
func (s *Signer) KeyID() string { return s.id }

// PublicKey returns the signer's public key, which verifies what it signs.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign returns the Ed25519 signature of msg, for other signed records kept with the same key (the
// evidence of drills).
func (s *Signer) Sign(msg []byte) []byte { return ed25519.Sign(s.key, msg) }

// sign returns the base64 signature of the bytes the hex hash encodes.
func (s *Signer) sign(hexHash string) (string, error) {
	sum, err := hex.DecodeString(hexHash)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, sum)), nil
}

// ParsePublicKey reads a base64 Ed25519 public key, as `lifeboat audit key show` prints it.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeBase64(s)
	if err != nil {
		return nil, errors.New("audit: public key: not base64: give the 32-byte Ed25519 public key in base64, as `lifeboat audit key show` prints it")
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit: public key is %d bytes: an Ed25519 public key is %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// EncodePublicKey returns the public key in base64, for ParsePublicKey.
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// Keys returns the keys by their key IDs, for Verify.
func Keys(pubs ...ed25519.PublicKey) map[string]ed25519.PublicKey {
	m := make(map[string]ed25519.PublicKey, len(pubs))
	for _, p := range pubs {
		m[KeyID(p)] = p
	}
	return m
}

// verify checks a base64 signature of the bytes a hex hash encodes. It never panics, whatever the
// inputs.
func verify(pub ed25519.PublicKey, hexHash, sig string) bool {
	sum, err := hex.DecodeString(hexHash)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	return ed25519.Verify(pub, sum, raw)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}
