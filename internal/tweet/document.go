// Package tweet defines the canonical tweet document that every producer
// source writes to Kinesis (a subset of a Twitter API v1.1 status, see
// docs/architecture.md), the converters from the source wire formats, and a
// seeded synthetic generator.
package tweet

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// CreatedAtLayout is the v1.1 created_at format, e.g. "Wed Oct 10 20:19:24 +0000 2018".
const CreatedAtLayout = time.RubyDate

// MaxMessageBytes bounds one input message (a stream line, a WebSocket frame,
// a replay line). Real posts with expansions are a few KiB; anything near a
// Kinesis record (1 MiB) is not a post.
const MaxMessageBytes = 512 << 10

// Source names written into Document.Source.
const (
	SourceX       = "x"
	SourceBluesky = "bluesky"
	SourceReplay  = "replay"
)

// Document is the canonical tweet document. Its JSON names are a contract
// with the analytics queries (t.user.screen_name, unnest(t.entities.hashtags),
// timestamp_ms): do not rename them.
type Document struct {
	IDStr       string   `json:"id_str"`
	CreatedAt   string   `json:"created_at"`
	TimestampMS string   `json:"timestamp_ms"`
	Text        string   `json:"text"`
	Lang        string   `json:"lang"`
	User        User     `json:"user"`
	Entities    Entities `json:"entities"`
	Source      string   `json:"source"`
}

// User is the author of a Document.
type User struct {
	IDStr          string `json:"id_str"`
	ScreenName     string `json:"screen_name"`
	Name           string `json:"name"`
	FollowersCount int64  `json:"followers_count"`
}

// Entities holds the hashtags and links of a Document.
type Entities struct {
	Hashtags []Hashtag `json:"hashtags"`
	URLs     []URL     `json:"urls"`
}

// Hashtag is one hashtag without its '#'. Indices are [start, end) in Unicode
// code points of Text, as in v1.1; empty when the tag has no position in the
// text (Bluesky record.tags).
type Hashtag struct {
	Text    string `json:"text"`
	Indices []int  `json:"indices"`
}

// URL is one link.
type URL struct {
	ExpandedURL string `json:"expanded_url"`
}

// ErrNotPost marks a well-formed message that carries no post (a delete, an
// identity event, a stream notice): skipped, not counted as malformed.
var ErrNotPost = errors.New("message carries no post")

// MalformedError is returned for input that cannot be turned into a
// document. Reason is a short, fixed label for metrics; the message never
// quotes the input, so logging it leaks nothing.
type MalformedError struct {
	Reason string
	Err    error
}

func (e *MalformedError) Error() string { return "malformed " + e.Reason + ": " + e.Err.Error() }
func (e *MalformedError) Unwrap() error { return e.Err }

// Malformed reasons.
const (
	ReasonTooLarge     = "too_large"
	ReasonInvalidUTF8  = "invalid_utf8"
	ReasonInvalidJSON  = "invalid_json"
	ReasonMissingField = "missing_field"
	ReasonBadValue     = "bad_value"
)

func malformed(reason, format string, args ...any) error {
	return &MalformedError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// MalformedReason returns the reason label of a MalformedError in err's chain, or "".
func MalformedReason(err error) string {
	var m *MalformedError
	if errors.As(err, &m) {
		return m.Reason
	}
	return ""
}

// checkRaw rejects input before decoding: encoding/json would silently
// replace invalid UTF-8 with U+FFFD and accept any size.
func checkRaw(raw []byte) error {
	if len(raw) > MaxMessageBytes {
		return malformed(ReasonTooLarge, "%d bytes exceeds %d", len(raw), MaxMessageBytes)
	}
	if !utf8.Valid(raw) {
		return malformed(ReasonInvalidUTF8, "input is not valid UTF-8")
	}
	return nil
}

func decodeJSON(raw []byte, v any) error {
	if err := checkRaw(raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return malformed(ReasonInvalidJSON, "%s", jsonErrorSummary(err))
	}
	return nil
}

// jsonErrorSummary describes a decode error without quoting input bytes.
func jsonErrorSummary(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at offset " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "wrong type for field " + te.Field
	}
	return "cannot decode"
}

// SetTime sets created_at and timestamp_ms from t.
func (d *Document) SetTime(t time.Time) {
	d.CreatedAt = t.UTC().Format(CreatedAtLayout)
	d.TimestampMS = strconv.FormatInt(t.UnixMilli(), 10)
}

// Time returns the instant of timestamp_ms.
func (d *Document) Time() (time.Time, error) {
	ms, err := strconv.ParseInt(d.TimestampMS, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

// normalize makes empty lists encode as [] rather than null, so queries that
// unnest them see the same shape from every source.
func (d *Document) normalize() {
	if d.Entities.Hashtags == nil {
		d.Entities.Hashtags = []Hashtag{}
	}
	for i := range d.Entities.Hashtags {
		if d.Entities.Hashtags[i].Indices == nil {
			d.Entities.Hashtags[i].Indices = []int{}
		}
	}
	if d.Entities.URLs == nil {
		d.Entities.URLs = []URL{}
	}
}

// Validate checks the invariants every written document keeps: an id, a
// parseable timestamp_ms and created_at, valid UTF-8 strings.
func (d *Document) Validate() error {
	if d.IDStr == "" {
		return malformed(ReasonMissingField, "id_str is empty")
	}
	if _, err := d.Time(); err != nil {
		return malformed(ReasonBadValue, "timestamp_ms is not epoch milliseconds")
	}
	if _, err := time.Parse(CreatedAtLayout, d.CreatedAt); err != nil {
		return malformed(ReasonBadValue, "created_at is not in the v1.1 format")
	}
	for _, h := range d.Entities.Hashtags {
		if h.Text == "" || (len(h.Indices) != 0 && len(h.Indices) != 2) {
			return malformed(ReasonBadValue, "hashtag without text or with indices that are not [start, end]")
		}
	}
	for _, s := range []string{d.IDStr, d.Text, d.Lang, d.User.IDStr, d.User.ScreenName, d.User.Name, d.Source} {
		if !utf8.ValidString(s) {
			return malformed(ReasonInvalidUTF8, "string field is not valid UTF-8")
		}
	}
	return nil
}

// DecodeCanonical parses one canonical document (as written by this
// producer) and validates it. An empty source becomes "replay".
func DecodeCanonical(raw []byte) (Document, error) {
	var d Document
	if err := decodeJSON(raw, &d); err != nil {
		return Document{}, err
	}
	if d.Source == "" {
		d.Source = SourceReplay
	}
	d.normalize()
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	return d, nil
}

// Marshal encodes d as one compact JSON document.
func (d *Document) Marshal() ([]byte, error) {
	d.normalize()
	return json.Marshal(d)
}

// runeIndex converts a byte offset into text to a code-point offset. ok is
// false when off is out of range or inside a UTF-8 sequence.
func runeIndex(text string, off int) (int, bool) {
	if off < 0 || off > len(text) {
		return 0, false
	}
	if off < len(text) && !utf8.RuneStart(text[off]) {
		return 0, false
	}
	return utf8.RuneCountInString(text[:off]), true
}
