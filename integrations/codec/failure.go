package codec

import (
	"context"

	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/lifeboat-dr/lifeboat/integrations/secrets"
)

// FailureOptions configure NewFailureConverter.
type FailureOptions struct {
	// DataConverter encodes what is encrypted: stack traces, and messages with EncryptMessages.
	// Failure details (an application error's details, heartbeat details) always go through it.
	DataConverter converter.DataConverter
	// EncodeStackTraces moves stack traces into the failure's encoded attributes, which
	// DataConverter encrypts: they quote code and values, and only people with the key read them.
	EncodeStackTraces bool
	// EncryptMessages moves messages there too: the Web UI then shows "Encoded failure" until its
	// codec endpoint decodes it. Off, messages stay readable in history, redacted.
	EncryptMessages bool
	// Redactor hides secret values in messages and stack traces before they are stored anywhere,
	// in plain text or encrypted. Nil redacts nothing.
	Redactor secrets.Redactor
}

// FailureConverter turns errors into the failures Temporal stores, for activities, local
// activities (whose markers carry the failure) and workflows alike: messages are redacted and,
// unless EncryptMessages, readable, so that the Web UI's event rows and failure panel say what
// went wrong; stack traces are redacted and encrypted.
type FailureConverter struct {
	opts  FailureOptions
	plain converter.FailureConverter
}

var _ converter.FailureConverter = (*FailureConverter)(nil)

// NewFailureConverter returns a failure converter with opts. A nil DataConverter is Temporal's
// default (nothing is then encrypted).
func NewFailureConverter(opts FailureOptions) *FailureConverter {
	if opts.DataConverter == nil {
		opts.DataConverter = converter.GetDefaultDataConverter()
	}
	return &FailureConverter{
		opts:  opts,
		plain: temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: opts.DataConverter}),
	}
}

// ErrorToFailure implements converter.FailureConverter. A failure read from history (an
// activity's, a child's) is kept as it was stored.
func (fc *FailureConverter) ErrorToFailure(err error) *failurepb.Failure {
	f := fc.plain.ErrorToFailure(err)
	if f == nil {
		return nil
	}
	// The default converter returns failures read from history as they are: never change those
	// in place, they are shared with the error that holds them.
	f = proto.Clone(f).(*failurepb.Failure)
	for cur := f; cur != nil; cur = cur.GetCause() {
		encodeOne(fc, cur)
	}
	return f
}

// encodeOne redacts one failure of a chain and encodes what is to be encrypted.
func encodeOne(fc *FailureConverter, f *failurepb.Failure) {
	if f.GetEncodedAttributes() != nil {
		return // stored by a converter already, encoded: decoding would need the key
	}
	f.Message = fc.redact(f.GetMessage())
	f.StackTrace = fc.redact(f.GetStackTrace())
	switch {
	case fc.opts.EncryptMessages:
		if err := converter.EncodeCommonFailureAttributes(fc.opts.DataConverter, f); err != nil {
			f.Message, f.StackTrace = "failure could not be encoded: "+err.Error(), ""
		}
	case fc.opts.EncodeStackTraces && f.StackTrace != "":
		msg := f.Message
		if err := converter.EncodeCommonFailureAttributes(fc.opts.DataConverter, f); err != nil {
			f.StackTrace = ""
		}
		f.Message = msg
	}
}

// FailureToError implements converter.FailureConverter: encoded attributes, from this converter
// or an earlier one, are decoded with the data converter — into a copy. Temporal's converter
// decodes them into the failure it is given, and the SDK hands it the failure of the local-activity
// marker it is about to record: the decrypted message and stack trace would then be stored in
// plain text beside their encrypted copy.
func (fc *FailureConverter) FailureToError(f *failurepb.Failure) error {
	if f == nil {
		return nil
	}
	return fc.plain.FailureToError(proto.Clone(f).(*failurepb.Failure))
}

func (fc *FailureConverter) redact(s string) string {
	if fc.opts.Redactor == nil || s == "" {
		return s
	}
	return fc.opts.Redactor.Redact(context.Background(), s)
}
