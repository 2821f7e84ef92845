package aws

import (
	"errors"

	"github.com/aws/smithy-go"
)

var (
	// ErrNotFound is returned (wrapped) when a snapshot does not exist.
	ErrNotFound = errors.New("snapshot not found")
	// ErrFailed is returned (wrapped) by the Wait methods when the snapshot failed.
	ErrFailed = errors.New("snapshot failed")
	// ErrConflict is returned (wrapped) when a create or copy finds its identifier or token
	// already used by a snapshot of something else.
	ErrConflict = errors.New("snapshot identifier or token already used for another source")
	// ErrInvalid is returned (wrapped) for arguments rejected before any request is sent.
	ErrInvalid = errors.New("invalid argument")
)

// permanentCodes are the AWS error codes that the same request will meet again however often it
// is retried: refused credentials or permissions, invalid parameters, missing sources and quotas.
var permanentCodes = map[string]bool{
	// Credentials and permissions.
	"AccessDenied":                true,
	"AccessDeniedException":       true,
	"AuthFailure":                 true,
	"UnauthorizedOperation":       true,
	"InvalidClientTokenId":        true,
	"UnrecognizedClientException": true,
	"SignatureDoesNotMatch":       true,
	"IncompleteSignature":         true,
	"MissingAuthenticationToken":  true,
	"OptInRequired":               true,
	"KMSKeyNotAccessibleFault":    true,
	// Invalid requests.
	"InvalidAction":               true,
	"InvalidParameter":            true,
	"InvalidParameterValue":       true,
	"InvalidParameterCombination": true,
	"MissingParameter":            true,
	"UnknownParameter":            true,
	"ValidationError":             true,
	"InvalidSnapshotID.Malformed": true,
	"InvalidVolumeID.Malformed":   true,
	"InvalidKMSKey.NotFound":      true,
	// Sources that do not exist.
	"DBInstanceNotFound":       true,
	"DBSnapshotNotFound":       true,
	"InvalidVolume.NotFound":   true,
	"InvalidSnapshot.NotFound": true,
	// Quotas.
	"SnapshotQuotaExceeded": true,
	"StorageQuotaExceeded":  true,
	"SnapshotLimitExceeded": true,
	"ResourceLimitExceeded": true,
}

// IsPermanent reports whether retrying the call that returned err cannot help: AWS refused the
// credentials or permissions, rejected a parameter, could not find the instance, volume or
// snapshot, or a quota is exhausted; or the snapshot failed, or its identifier or token is taken
// by another source. Throttling, server errors, timeouts, snapshots in the wrong state for the
// moment and cancelled contexts are not permanent.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrFailed) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && (permanentCodes[apiErr.ErrorCode()] || failoverPermanentCodes[apiErr.ErrorCode()])
}

// errorCode returns the AWS error code in err's chain, or "".
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
