package codec

import (
	"crypto/rand"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata written on every encrypted payload.
const (
	// MetadataEncoding is the payload metadata key Temporal reads the encoding from.
	MetadataEncoding = converter.MetadataEncoding
	// EncodingEncrypted marks a payload this codec encrypted.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher.
	MetadataCipher = "encryption-cipher"
	// CipherAESGCM is the only cipher this codec writes.
	CipherAESGCM = "AES256-GCM"
)

// Codec is a converter.PayloadCodec that encrypts every payload with the keyring's active key and
// decrypts with whichever key a payload names. Payloads that are not encrypted pass through Decode
// unchanged, so plain JSON sent by tools that do not encrypt (the temporal CLI) is still accepted.
type Codec struct {
	keys *Keyring
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec over keys.
func New(keys *Keyring) *Codec { return &Codec{keys: keys} }

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.keys.aeads[c.keys.active]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("codec: marshal payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, fmt.Errorf("codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:    []byte(c.keys.active),
				MetadataCipher:   []byte(CipherAESGCM),
			},
			// The key id is authenticated too, so a payload cannot be relabelled to another key.
			Data: aead.Seal(nonce, nonce, plain, []byte(c.keys.active)),
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec. It returns an error naming the key when a payload was
// encrypted with a key this keyring does not hold, or when its content fails authentication.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.Metadata[MetadataKeyID])
		if cph := string(p.Metadata[MetadataCipher]); cph != "" && cph != CipherAESGCM {
			return payloads, fmt.Errorf("codec: payload uses cipher %q, this codec reads only %q", cph, CipherAESGCM)
		}
		aead, ok := c.keys.aeads[id]
		if !ok {
			return payloads, fmt.Errorf("codec: payload is encrypted with key %q, which this process does not have (configure it under encryption.keys)", id)
		}
		if len(p.Data) < aead.NonceSize()+aead.Overhead() {
			return payloads, fmt.Errorf("codec: payload encrypted with key %q is truncated (%d bytes)", id, len(p.Data))
		}
		nonce, sealed := p.Data[:aead.NonceSize()], p.Data[aead.NonceSize():]
		plain, err := aead.Open(nil, nonce, sealed, []byte(id))
		if err != nil {
			return payloads, fmt.Errorf("codec: payload encrypted with key %q failed authentication: it was altered, or the key with that id is not the one that encrypted it", id)
		}
		var decoded commonpb.Payload
		if err := proto.Unmarshal(plain, &decoded); err != nil {
			return payloads, fmt.Errorf("codec: decrypted payload: %w", err)
		}
		out[i] = &decoded
	}
	return out, nil
}

// DataConverter returns Temporal's default data converter wrapped with this codec.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}
