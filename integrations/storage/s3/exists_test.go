package s3

import (
	"errors"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// MinIO answers a refused conditional write with 412; AWS also answers 409
// ConditionalRequestConflict while another conditional write of the key is under way. Both mean the
// key is taken.
func TestIsExists(t *testing.T) {
	status := func(code int) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
			Err:      errors.New("refused"),
		}}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"PreconditionFailed", &smithy.GenericAPIError{Code: "PreconditionFailed"}, true},
		{"ConditionalRequestConflict", &smithy.GenericAPIError{Code: "ConditionalRequestConflict"}, true},
		{"bare 412", status(http.StatusPreconditionFailed), true},
		{"other 409", &smithy.GenericAPIError{Code: "OperationAborted"}, false},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDenied"}, false},
		{"500", status(http.StatusInternalServerError), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isExists(tt.err); got != tt.want {
				t.Errorf("isExists(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
