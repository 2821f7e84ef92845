package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/lifeboat-dr/lifeboat/integrations/audit"
)

// PayloadType is the DSSE payload type of an evidence record.
const PayloadType = "application/vnd.lifeboat.evidence+json"

// Envelope is a DSSE envelope (github.com/secure-systems-lab/dsse, envelope.md): the payload in
// base64, its type, and signatures over PAE(payloadType, payload).
type Envelope struct {
	Payload     string      `json:"payload"`
	PayloadType string      `json:"payloadType"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one signature of an envelope.
type Signature struct {
	// KeyID names the key (audit.KeyID of its public key); it is not signed, only a hint.
	KeyID string `json:"keyid"`
	// Sig is the base64 Ed25519 signature of PAE(payloadType, payload).
	Sig string `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding of a payload and its type:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal bytes.
func PAE(payloadType string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteByte(' ')
	b.Write(body)
	return b.Bytes()
}

// ErrUnverified is returned (wrapped) by Open when a record does not verify: it is not an
// envelope of an evidence record, no known key signed it, or its payload or signature was changed.
var ErrUnverified = errors.New("evidence record does not verify")

// Seal serializes rec and signs it, returning the envelope's JSON.
func Seal(rec Record, s *audit.Signer) ([]byte, error) {
	if s == nil {
		return nil, errors.New("evidence: no signing key: configure evidence.signing_key")
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("evidence: encode record: %w", err)
	}
	env := Envelope{
		Payload:     base64.StdEncoding.EncodeToString(body),
		PayloadType: PayloadType,
		Signatures:  []Signature{{KeyID: s.KeyID(), Sig: base64.StdEncoding.EncodeToString(s.Sign(PAE(PayloadType, body)))}},
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Open checks the envelope's signatures with keys (by key ID) and returns its record and the ID of
// the key that verified it. A record verifies when one of its signatures is a valid signature by
// one of keys of PAE(payloadType, payload), and the payload type is PayloadType. Every other case
// is an error wrapping ErrUnverified that says what is wrong.
func Open(data []byte, keys map[string]ed25519.PublicKey) (Record, string, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Record{}, "", fmt.Errorf("%w: not a DSSE envelope: %v", ErrUnverified, err)
	}
	if env.PayloadType != PayloadType {
		return Record{}, "", fmt.Errorf("%w: payload type %q, want %q", ErrUnverified, env.PayloadType, PayloadType)
	}
	body, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return Record{}, "", fmt.Errorf("%w: payload is not base64", ErrUnverified)
	}
	if len(env.Signatures) == 0 {
		return Record{}, "", fmt.Errorf("%w: no signature", ErrUnverified)
	}
	msg := PAE(env.PayloadType, body)
	var unknown []string
	for _, s := range env.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			continue
		}
		// The key ID is only a hint: try its key first, then every other.
		if pub, ok := keys[s.KeyID]; ok && ed25519.Verify(pub, msg, sig) {
			return decode(body, s.KeyID)
		}
		for id, pub := range keys {
			if ed25519.Verify(pub, msg, sig) {
				return decode(body, id)
			}
		}
		if _, ok := keys[s.KeyID]; !ok {
			unknown = append(unknown, s.KeyID)
		}
	}
	if len(unknown) == len(env.Signatures) {
		return Record{}, "", fmt.Errorf("%w: signed by key %v, which is not among the verify keys (add its public key to evidence.verify_keys)", ErrUnverified, unknown)
	}
	return Record{}, "", fmt.Errorf("%w: signature does not match the payload: the record or its signature was changed", ErrUnverified)
}

func decode(body []byte, keyID string) (Record, string, error) {
	var rec Record
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return Record{}, "", fmt.Errorf("%w: signed payload is not an evidence record: %v", ErrUnverified, err)
	}
	return rec, keyID, nil
}
