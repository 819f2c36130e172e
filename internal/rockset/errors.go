package rockset

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"

	rockerr "github.com/rockset/rockset-go-client/errors"
)

// Kind says what a caller can do about an error.
type Kind int

const (
	// KindOther: a server error or anything unexpected. Retry with backoff.
	KindOther Kind = iota
	// KindNotFound: the integration, workspace or collection does not exist.
	KindNotFound
	// KindConflict: it already exists, or another resource depends on it.
	KindConflict
	// KindThrottled: 429, 502, 503, 504. Back off with jitter.
	KindThrottled
	// KindUnreachable: no HTTP answer at all (refused, DNS, timeout).
	KindUnreachable
	// KindAuth: the API key was rejected. The user must fix the key.
	KindAuth
	// KindRejected: the request was refused as invalid. The spec must change.
	KindRejected
)

func (k Kind) String() string {
	switch k {
	case KindNotFound:
		return "NotFound"
	case KindConflict:
		return "Conflict"
	case KindThrottled:
		return "Throttled"
	case KindUnreachable:
		return "Unreachable"
	case KindAuth:
		return "AuthFailed"
	case KindRejected:
		return "Rejected"
	default:
		return "Other"
	}
}

// Error is a failed Rockset-API call with its kind. Its message is the
// server's (redacted), never a request header.
type Error struct {
	Op   string
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Op, Message(e.Err)) }

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err: from an *Error, or by classifying a
// rockset-go-client error; KindOther otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return classify(err)
}

// IsNotFound reports whether err says the thing does not exist.
func IsNotFound(err error) bool { return err != nil && KindOf(err) == KindNotFound }

// IsConflict reports whether err says it exists already or is still in use.
func IsConflict(err error) bool { return err != nil && KindOf(err) == KindConflict }

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Kind: classify(err), Err: err}
}

func classify(err error) Kind {
	var re rockerr.Error
	if !errors.As(err, &re) {
		return KindOther
	}
	switch code := re.StatusCode; code {
	case 0:
		return KindUnreachable
	case http.StatusNotFound:
		return KindNotFound
	case http.StatusConflict:
		return KindConflict
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusBadGateway:
		return KindThrottled
	case http.StatusUnauthorized, http.StatusForbidden:
		return KindAuth
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return KindRejected
	default:
		return KindOther
	}
}

// apiKeyish matches long opaque tokens, so a server that echoes a header or
// a credential in a message cannot put it into status or events.
var apiKeyish = regexp.MustCompile(`[A-Za-z0-9+/=]{32,}`)

// maxMessage bounds a server message carried into a condition.
const maxMessage = 300

// Message is err's text fit for a condition or an event: the server's own
// message when it gave one, at most 300 bytes, with anything that looks like
// a key replaced by [redacted].
func Message(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	var e *Error
	if errors.As(err, &e) {
		err = e.Err
		msg = err.Error()
	}
	var re rockerr.Error
	if errors.As(err, &re) && re.ErrorModel != nil && re.GetMessage() != "" {
		msg = re.GetMessage()
	}
	return Redact(msg)
}

// Redact shortens a server-provided text and hides key-like tokens in it.
func Redact(msg string) string {
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "..."
	}
	return apiKeyish.ReplaceAllString(msg, "[redacted]")
}
