package kinesis

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// Kind says what a caller can do about an error.
type Kind int

const (
	// KindOther is anything else: transient network trouble, a server error. Retry with backoff.
	KindOther Kind = iota
	// KindNotFound: the stream does not exist.
	KindNotFound
	// KindInUse: the stream is not ACTIVE (creating, updating, deleting) or already exists. Come back later.
	KindInUse
	// KindLimit: an account or stream limit (shard quota, UpdateShardCount calls per day,
	// scaling more than double or below half). Retrying soon does not help.
	KindLimit
	// KindThrottled: too many requests. Back off with jitter.
	KindThrottled
	// KindInvalid: the request itself is wrong (a retention or shard count out of range).
	KindInvalid
	// KindAccessDenied: the credentials were rejected or lack permission. The user must fix them.
	KindAccessDenied
)

func (k Kind) String() string {
	switch k {
	case KindNotFound:
		return "NotFound"
	case KindInUse:
		return "InUse"
	case KindLimit:
		return "LimitExceeded"
	case KindThrottled:
		return "Throttled"
	case KindInvalid:
		return "Invalid"
	case KindAccessDenied:
		return "AccessDenied"
	default:
		return "Other"
	}
}

// Error is a failed stream operation with its kind.
type Error struct {
	Op     string
	Stream string
	Kind   Kind
	// Code is the service's error code, when there is one.
	Code string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("kinesis %s %s: %v", e.Op, e.Stream, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err, KindOther when it is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}

// IsNotFound reports whether err says the stream does not exist.
func IsNotFound(err error) bool { return err != nil && KindOf(err) == KindNotFound }

// IsLimit reports whether err is a Kinesis limit.
func IsLimit(err error) bool { return err != nil && KindOf(err) == KindLimit }

// IsThrottled reports whether err is request throttling.
func IsThrottled(err error) bool { return err != nil && KindOf(err) == KindThrottled }

// IsInUse reports whether err says the stream is busy or already exists.
func IsInUse(err error) bool { return err != nil && KindOf(err) == KindInUse }

// Throttling codes beyond LimitExceededException, as the SDK's retryer knows them.
var throttleCodes = map[string]bool{
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
	"KMSThrottlingException":                 true,
	"SlowDown":                               true,
}

var accessCodes = map[string]bool{
	"AccessDeniedException":       true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"ExpiredTokenException":       true,
	"IncompleteSignature":         true,
	"InvalidClientTokenId":        true,
	"SignatureDoesNotMatch":       true,
	"KMSAccessDeniedException":    true,
}

// classify wraps an SDK error in an *Error of the right kind; nil stays nil.
func classify(op, stream string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Stream: stream, Err: err}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code = api.ErrorCode()
	}
	switch {
	case e.Code == "ResourceNotFoundException":
		e.Kind = KindNotFound
	case e.Code == "ResourceInUseException":
		e.Kind = KindInUse
	case e.Code == "LimitExceededException":
		// Kinesis uses one code for "too many calls per second" on the control
		// plane and for quotas. Only UpdateShardCount and CreateStream hit quotas
		// the user has to act on; elsewhere it is request-rate throttling.
		if op == "UpdateShardCount" || op == "CreateStream" {
			e.Kind = KindLimit
		} else {
			e.Kind = KindThrottled
		}
	case throttleCodes[e.Code]:
		e.Kind = KindThrottled
	case accessCodes[e.Code]:
		e.Kind = KindAccessDenied
	case e.Code == "InvalidArgumentException" || e.Code == "ValidationException":
		// UpdateShardCount answers a step beyond double/half with InvalidArgument:
		// that is a scaling limit, not a malformed request.
		if op == "UpdateShardCount" {
			e.Kind = KindLimit
		} else {
			e.Kind = KindInvalid
		}
	}
	return e
}
